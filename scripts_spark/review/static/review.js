// The review page: the queue on the left, one link in full on the right, verdicts by button or keyboard.
// Every text from the lake goes into the page as text (textContent), never as markup.
"use strict";

const config = JSON.parse(document.body.dataset.config);
const state = { items: [], current: null, detail: null, busy: false, search: { hits: [], at: 0, seq: 0 } };
const FILTERS = ["source", "reason", "decade", "band", "sample", "status"];
const FACET = { source: "source", reason: "reasons", decade: "decade", band: "band", sample: "sample" };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function say(text, error) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.classList.toggle("error", Boolean(error));
}

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", body: JSON.stringify(body),
    headers: { "Content-Type": "application/json", "X-Review-Token": config.token },
  };
  const response = await fetch(path, init);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function filterValues() {
  const form = document.getElementById("filters");
  return Object.fromEntries(FILTERS.map((name) => [name, form.elements[name].value]));
}

function fillFacets(facets) {
  const form = document.getElementById("filters");
  for (const [name, facet] of Object.entries(FACET)) {
    const select = form.elements[name];
    const chosen = select.value;
    select.replaceChildren(el("option", { value: "" }, "all"),
      ...facets[facet].map((v) => el("option", { value: v }, v.replaceAll("_", " "))));
    select.value = facets[facet].includes(chosen) ? chosen : "";
  }
}

const fmtScore = (s) => (s === null || s === undefined ? "–" : Number(s).toFixed(3));
const names = (xs) => (xs && xs.length ? xs.join(", ") : "–");
const titleYear = (t, y) => `${t || "(untitled)"}${y ? ` (${y})` : ""}`;

async function load(preferKey) {
  const params = new URLSearchParams(filterValues());
  const data = await api(`/api/queue?${params}`);
  state.items = data.items;
  fillFacets(data.facets);
  const p = data.progress;
  document.getElementById("progress").textContent = `${p.decided} decided · ${p.open} open · ${p.items} items`;
  const keys = state.items.map((i) => i.key);
  const key = [preferKey, state.current].find((k) => k && keys.includes(k)) || keys[0] || null;
  renderList();
  await show(key);
}

function renderList() {
  const list = document.getElementById("list");
  list.replaceChildren(...state.items.map((item) => {
    const li = el("li", { "data-key": item.key, onclick: () => show(item.key) },
      el("span", { class: "t" }, titleYear(item.film_title, item.film_year)),
      el("span", { class: "s" }, fmtScore(item.match_score),
        item.verdict ? el("span", { class: `tag ${item.verdict}` }, item.verdict) : null,
        item.sample === "audit" ? el("span", { class: "tag audit" }, "audit") : null),
      el("span", { class: "r" }, `${item.source}: ${titleYear(item.release_title, item.release_year)}`));
    if (item.key === state.current) li.classList.add("current");
    return li;
  }));
}

async function show(key) {
  state.current = key;
  document.body.dataset.current = key || "";
  for (const li of document.querySelectorAll("#list li")) li.classList.toggle("current", li.dataset.key === key);
  const current = document.querySelector("#list li.current");
  if (current) current.scrollIntoView({ block: "nearest" });
  const main = document.getElementById("main");
  if (!key) {
    state.detail = null;
    main.replaceChildren(el("p", { class: "empty" }, "Nothing to review with these filters."));
    document.body.dataset.shown = "";
    return;
  }
  const detail = await api(`/api/item?key=${encodeURIComponent(key)}`);
  if (state.current !== key) return;
  state.detail = detail;
  main.replaceChildren(card(detail));
  document.body.dataset.shown = key;
}

function facts(rows) {
  return el("dl", {}, rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v === null || v === undefined || v === "" ? "–" : v)]));
}

function card(d) {
  const f = d.film || {}, r = d.release || {};
  const unmet = (d.explanation.unmet_requirements || []).map((x) => x.replaceAll("_", " "));
  const runner = d.runner_up;
  return el("div", { class: "card" },
    el("h2", {}, `${titleYear(r.title, r.year)} → ${titleYear(f.title, f.year)}`),
    el("div", { class: "sub" },
      `${d.sample === "audit" ? "automatic match (audit)" : "review"} · score ${fmtScore(d.match_score)} · `,
      unmet.length ? `missing for a match: ${unmet.join(", ")}` : `below the match threshold ${fmtScore(config.thresholds.match)}`,
      d.verdict ? el("span", { class: `tag ${d.verdict}` }, `decided: ${d.verdict}`) : null),
    el("div", { class: "sides" },
      el("section", { class: "side", id: "film" }, el("h3", {}, "Film (TMDB)"),
        el("div", { class: "title" }, titleYear(f.title, f.year)),
        facts([["original title", f.original_title], ["release date", f.release_date], ["composers", names(f.composers)],
               ["genres", names(f.genres)], ["popularity", f.popularity === undefined ? null : Number(f.popularity).toFixed(1)],
               ["tmdb id", d.tmdb_id], ["imdb id", f.imdb_id]])),
      el("section", { class: "side", id: "release" }, el("h3", {}, `Release (${d.source} ${d.release_kind.replace("_", " ")})`),
        el("div", { class: "title" }, r.title || "(untitled)"),
        facts([["date", r.release_date || r.year], ["artists", names(r.artists)],
               ["type", [r.primary_type, ...(r.secondary_types || [])].filter(Boolean).join(" + ")],
               ["tags / genres", names(r.genres)], ["styles", names(r.styles)], ["label", names(r.labels)],
               ["format", names(r.formats)], ["country", r.country], ["credits", names(r.credits)],
               ["release id", d.release_id]]))),
    el("div", { class: "panel", id: "runner-up" }, el("h3", {}, "Runner-up film"),
      runner ? `${titleYear(runner.title, runner.year)} · score ${fmtScore(runner.score)} · tmdb ${runner.tmdb_id}`
             : "no other candidate film",
      d.explanation.rank_share !== null && d.explanation.rank_share !== undefined
        ? el("div", { class: "sub" }, `the proposed film holds ${Math.round(100 * d.explanation.rank_share)}% of the ranker's odds among the release's candidate films`)
        : null),
    el("div", { class: "panel" }, el("h3", {}, "Why: each feature's push on the log-odds (green towards a match, red away)"),
      chart(d.explanation)),
    el("div", { class: "verdicts" },
      el("button", { class: "accept", type: "button", onclick: () => decide("accept") }, "Accept (A)"),
      el("button", { class: "reject", type: "button", onclick: () => decide("reject") }, "Reject (R)"),
      el("button", { type: "button", onclick: openSearch }, "Another film… (F)"),
      el("button", { type: "button", onclick: skip }, "Skip (S)")));
}

function chart(x) {
  const rows = (x.contributions || []).map((c) => [c.feature.replaceAll("_", " "), c.contribution,
    `${config.features[c.feature] || c.feature} (value ${Number(c.value).toFixed(2)})`]);
  rows.push(["baseline (intercept)", x.intercept, "log-odds of a match before any feature"]);
  const scale = Math.max(...rows.map((r) => Math.abs(r[1])), 1e-9);
  // Widths through the CSSOM: the page's CSP allows no inline style attributes.
  const bar = (v) => { const b = el("div", { class: "bar" }); b.style.width = `${(100 * Math.abs(v)) / scale}%`; return b; };
  const cells = rows.flatMap(([name, v, doc]) => [
    el("div", { class: "name", title: doc }, name),
    el("div", { class: "neg" }, v < 0 ? bar(v) : null),
    el("div", { class: "pos" }, v > 0 ? bar(v) : null),
    el("div", { class: "val" }, (v > 0 ? "+" : "") + Number(v).toFixed(2))]);
  cells.push(el("div", { class: "name total" }, "total log-odds → score"), el("div", { class: "total" }),
    el("div", { class: "total" }), el("div", { class: "val total" }, `${Number(x.logit).toFixed(2)} → ${fmtScore(x.score)}`));
  return el("div", { class: "chart", role: "img", "aria-label": "signed contributions of each feature" }, cells);
}

function nextKey(from) {
  const keys = state.items.map((i) => i.key);
  const at = keys.indexOf(from);
  return keys.slice(at + 1).find((k) => !state.items.find((i) => i.key === k).verdict) || keys[at + 1] || null;
}

async function decide(verdict, chosen) {
  if (state.busy || !state.current) return;
  state.busy = true;
  document.body.dataset.busy = "1";
  const key = state.current;
  try {
    const body = { key, verdict };
    if (chosen !== undefined) body.chosen_tmdb_id = chosen;
    const result = await api("/api/decisions", body);
    say(`${verdict.replace("_", " ")} recorded (${result.decision.decision_id})`);
    await load(nextKey(key));
  } catch (err) {
    say(`not recorded: ${err.message}`, true);
  } finally {
    state.busy = false;
    document.body.dataset.busy = "";
  }
}

function skip() {
  const keys = state.items.map((i) => i.key);
  const next = keys[keys.indexOf(state.current) + 1];
  if (next) show(next);
}

function step(delta) {
  const keys = state.items.map((i) => i.key);
  const at = keys.indexOf(state.current) + delta;
  if (at >= 0 && at < keys.length) show(keys[at]);
}

// --- another film -----------------------------------------------------------------------------------------
function openSearch() {
  if (!state.detail) return;
  const box = document.getElementById("search");
  const input = document.getElementById("search-input");
  box.hidden = false;
  input.value = "";
  state.search.hits = [];
  renderHits();
  input.focus();
}

function closeSearch() {
  document.getElementById("search").hidden = true;
}

function renderHits() {
  const list = document.getElementById("search-results");
  list.replaceChildren(...state.search.hits.map((f, i) => el("li",
    { class: i === state.search.at ? "current" : "", "data-tmdb-id": f.tmdb_id, onclick: () => choose(i) },
    titleYear(f.title, f.year), " ",
    el("span", { class: "c" }, `${names(f.composers)} · tmdb ${f.tmdb_id}`))));
}

let searchTimer = null;
function onSearchInput() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(async () => {
    const seq = ++state.search.seq;
    const q = document.getElementById("search-input").value;
    const data = await api(`/api/films?q=${encodeURIComponent(q)}`);
    if (seq !== state.search.seq) return;
    state.search.hits = data.films.filter((f) => f.tmdb_id !== state.detail.tmdb_id);
    state.search.at = 0;
    renderHits();
    document.getElementById("search").dataset.ready = String(seq);
  }, 120);
}

function choose(i) {
  const film = state.search.hits[i];
  if (!film) return;
  closeSearch();
  decide("another_film", film.tmdb_id);
}

function onSearchKey(event) {
  if (event.key === "Escape") { closeSearch(); event.preventDefault(); }
  else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    const n = state.search.hits.length;
    if (n) state.search.at = (state.search.at + (event.key === "ArrowDown" ? 1 : n - 1)) % n;
    renderHits();
    event.preventDefault();
  } else if (event.key === "Enter") { choose(state.search.at); event.preventDefault(); }
}

// --- keyboard ---------------------------------------------------------------------------------------------
function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (!document.getElementById("search").hidden) return;
  if (["INPUT", "SELECT", "TEXTAREA"].includes(event.target.tagName)) return;
  const actions = { a: () => decide("accept"), r: () => decide("reject"), f: openSearch, s: skip,
                    j: () => step(1), k: () => step(-1), ArrowDown: () => step(1), ArrowUp: () => step(-1) };
  const action = actions[event.key.length === 1 ? event.key.toLowerCase() : event.key];
  if (action) { action(); event.preventDefault(); }
}

async function drawAudit() {
  try {
    const data = await api("/api/audit", { size: config.audit_size });
    say(`drew ${data.drawn} automatic matches at random: check them to estimate the matcher's precision`);
    document.getElementById("filters").elements.sample.value = "audit";
    await load(data.keys[0]);
  } catch (err) {
    say(`no audit sample: ${err.message}`, true);
  }
}

document.getElementById("run").textContent =
  `run ${config.run_id} · matcher ${config.matcher_version || "?"} · reviewer ${config.reviewer}`;
document.getElementById("filters").addEventListener("change", () => load());
document.getElementById("audit").addEventListener("click", drawAudit);
document.getElementById("search-input").addEventListener("input", onSearchInput);
document.getElementById("search-input").addEventListener("keydown", onSearchKey);
document.getElementById("search").addEventListener("click", (e) => { if (e.target.id === "search") closeSearch(); });
document.addEventListener("keydown", onKey);
load().then(() => { document.body.dataset.ready = "1"; }).catch((err) => say(`cannot load the queue: ${err.message}`, true));
