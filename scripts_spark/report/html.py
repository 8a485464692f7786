"""The report page: one self-contained HTML document (inline CSS and SVG, no scripts, no network).

Five sections, each with a stable id the tests look for: `summary`, `quality`, `review`, `analytics`, `history`.
A section whose data is missing (a step that did not run, a run with no matches) says so in words rather than
showing an empty chart. Every value that comes from data is HTML-escaped.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Sequence

from ..metrics import headline_figures
from . import charts
from .changes import changes_section
from .markup import callout, e, figure, fmt_bytes, fmt_int, fmt_num, fmt_ratio, fmt_seconds, table, tiles
from .review import review_section
from .gather import REVIEW_ROWS_SHOWN, SCORE_BINS, UBIQUITOUS_LABEL_SHARE, ReportData, rejected_split

SECTIONS = (("summary", "Run summary"), ("changes", "What changed in this run"), ("quality", "Match quality"),
            ("review", "Review progress"), ("analytics", "Analytics"), ("history", "History"))
STEP_NAMES = {"01": "extract TMDB", "02": "extract releases", "03": "normalise + block", "04": "validate",
              "05": "match + enrich", "06": "marts", "07": "recommend"}
# Headline figures where a fall is bad news (the others are bad news when they rise).
HIGHER_IS_BETTER = {"films_extracted", "releases_extracted", "candidate_pairs", "matches", "matched_films",
                    "musicbrainz_precision", "musicbrainz_recall"}
HISTORY_FIGURES = {"matches": "matches", "matched_films": "films matched", "reviews": "reviews",
                   "quarantined": "quarantined", "rejected": "rejected", "seconds": "seconds",
                   "films_extracted": "films in", "releases_extracted": "releases in",
                   "musicbrainz_precision": "MB precision", "musicbrainz_recall": "MB recall"}
REASON_CONTRIBUTIONS_SHOWN = 4   # the largest effects explain a score; the full list is in gold/review_queue

CSS = """
:root { --ink:#1f2933; --muted:#616e7c; --line:#e4e7eb; --bg:#f5f7fa; --ok:#2f855a; --warn:#b7791f; --bad:#c53030; }
* { box-sizing:border-box; }
body { margin:0; font:15px/1.5 -apple-system, "Segoe UI", Roboto, "DejaVu Sans", "Helvetica Neue", Arial, sans-serif;
       color:var(--ink); background:var(--bg); }
header { background:#102a43; color:#fff; padding:28px 40px 18px; }
header h1 { margin:0 0 6px; font-size:26px; }
header .meta { color:#bcccdc; font-size:13px; }
header .meta span { margin-right:18px; white-space:nowrap; }
nav { margin-top:14px; }
nav a { color:#fff; margin-right:22px; text-decoration:none; font-weight:600; border-bottom:2px solid #486581; }
main { max-width:1180px; margin:0 auto; padding:8px 24px 48px; }
section { background:#fff; border:1px solid var(--line); border-radius:10px; padding:22px 28px; margin:24px 0; }
h2 { margin:0 0 14px; font-size:22px; border-bottom:2px solid var(--line); padding-bottom:8px; }
h3 { margin:26px 0 10px; font-size:17px; }
p.lead { color:var(--muted); margin-top:0; }
.badge { display:inline-block; padding:2px 12px; border-radius:12px; font-size:14px; font-weight:700;
         vertical-align:middle; margin-left:10px; color:#fff; }
.badge.succeeded { background:var(--ok); } .badge.failed { background:var(--bad); }
.badge.running, .badge.skipped, .badge.unknown, .badge.missing { background:var(--warn); }
.tiles { display:grid; grid-template-columns:repeat(auto-fill, minmax(160px, 1fr)); gap:12px; margin:8px 0 6px; }
.tile { border:1px solid var(--line); border-radius:8px; padding:10px 14px; background:#fbfcfd; }
.tile .v { font-size:24px; font-weight:700; font-variant-numeric:tabular-nums; }
.tile .k { color:var(--muted); font-size:12.5px; }
.callout { border-left:5px solid var(--warn); background:#fffaf0; padding:10px 16px; margin:12px 0; border-radius:4px; }
.callout.bad { border-color:var(--bad); background:#fff5f5; }
.callout.info { border-color:#3182ce; background:#ebf8ff; }
table { border-collapse:collapse; width:100%; font-size:13.5px; margin:6px 0 10px; }
th, td { text-align:left; padding:6px 9px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#f0f4f8; font-weight:600; }
table.compact { font-size:12.5px; } table.compact th, table.compact td { padding:5px 6px; }
td.n, th.n { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
tr.total td { font-weight:700; border-top:2px solid var(--muted); }
.scroll { overflow-x:auto; }
.ok { color:var(--ok); font-weight:600; } .bad { color:var(--bad); font-weight:600; }
.muted { color:var(--muted); } .small { font-size:12.5px; }
.up-bad, .down-bad { color:var(--bad); font-weight:700; } .up-good, .down-good { color:var(--ok); }
tr.flag td { background:#fff5f5; }
figure { margin:10px 0 18px; } figure svg { width:100%; height:auto; display:block; }
figcaption { color:var(--muted); font-size:13px; margin-top:4px; }
details { margin:8px 0; } summary { cursor:pointer; color:#2b6cb0; font-weight:600; }
code { background:#f0f4f8; padding:1px 5px; border-radius:4px; font-size:12.5px; }
.reason { display:inline-block; margin:1px 6px 1px 0; white-space:nowrap; }
.pos { color:var(--ok); } .neg { color:var(--bad); }
footer { text-align:center; color:var(--muted); font-size:12px; padding:20px; }
"""


# --- formatting ---------------------------------------------------------------------------------------
def _decade(value: Any) -> str:
    return "no year" if value is None else f"{value}s"


def _accounting(step: dict) -> str:
    if step.get("status") != "succeeded":
        return '<span class="muted">–</span>'
    read, kept = step.get("rows_in") or 0, step.get("rows_out") or 0
    quarantined, rejected = step.get("quarantined") or 0, step.get("rejected") or 0
    if read == kept + quarantined + rejected + (step.get("filtered") or 0):
        return '<span class="ok">✓ balances</span>'
    return '<span class="muted">n/a: fans out or aggregates</span>'


def _status(status: str | None) -> str:
    css = {"succeeded": "ok", "failed": "bad"}.get(status or "", "muted")
    return f'<span class="{css}">{e(status or "missing")}</span>'


def summary_section(data: ReportData) -> str:
    m = data.manifest
    steps = m.get("steps") or {}
    requested = m.get("steps_requested") or sorted(steps)
    head = headline_figures(m)
    rejected = rejected_split(m)
    out = [tiles([
        ("films extracted (TMDB)", fmt_int(head["films_extracted"])),
        ("releases extracted", fmt_int(head["releases_extracted"])),
        ("candidate pairs", fmt_int(head["candidate_pairs"])),
        ("soundtrack links (match)", fmt_int(head["matches"])),
        ("links for review", fmt_int(head["reviews"])),
        ("films with a soundtrack", fmt_int(head["matched_films"])),
        ("quarantined rows", fmt_int(head["quarantined"])),
        ("candidate pairs not chosen", fmt_int(rejected["not_chosen"])),
        ("records filtered by design", fmt_int(rejected["filtered"])),
        ("malformed records rejected", fmt_int(rejected["malformed"])),
        ("total step time", fmt_seconds(head["seconds"])),
    ])]
    problems = []
    for number in requested:
        step = steps.get(number)
        label = f"step {number} ({STEP_NAMES.get(number, step.get('name') if step else '?')})"
        if step is None:
            problems.append(callout(f"<b>{e(label)} did not run</b> in this run (requested, no record): "
                                    "the figures it makes are missing below.", "bad"))
        elif step.get("status") == "failed":
            problems.append(callout(f"<b>{e(label)} failed</b>: {e(step.get('error'))}", "bad"))
        elif step.get("status") == "skipped":
            problems.append(callout(f"<b>{e(label)} was skipped</b>: {e('; '.join(step.get('notes') or []))}"))
        elif step.get("status") == "running":
            problems.append(callout(f"<b>{e(label)} never finished</b> (the run stopped while it was running).", "bad"))
    not_requested = [n for n in STEP_NAMES if n not in requested and n not in steps]
    if not_requested:
        problems.append(callout(f"Steps not part of this run: {e(', '.join(not_requested))}.", "info"))
    out += problems

    rows, totals = [], {"seconds": 0.0, "quarantined": 0, "filtered": 0, "rejected": 0}
    for number in sorted(set(requested) | set(steps)):
        step = steps.get(number) or {}
        notes = "; ".join(step.get("notes") or [])
        rows.append([f"<b>{e(number)}</b> {e(step.get('name') or STEP_NAMES.get(number, ''))}", _status(step.get("status")),
                     fmt_seconds(step.get("seconds")), fmt_int(step.get("rows_in")), fmt_int(step.get("rows_out")),
                     fmt_int(step.get("quarantined")), fmt_int(step.get("filtered") or 0),
                     fmt_int(step.get("rejected")), _accounting(step),
                     f'<span class="small muted">{e(notes)}</span>'])
        for key in totals:
            totals[key] += step.get(key) or 0
    rows.append(["total", "", fmt_seconds(totals["seconds"]), "", "", fmt_int(totals["quarantined"]),
                 fmt_int(totals["filtered"]), fmt_int(totals["rejected"]), "", ""])
    out.append("<h3>Steps and row accounting</h3>")
    out.append('<p class="lead">Each step reads rows and every row leaves as kept, quarantined (broke a data contract, '
               'kept with its reason in <code>silver/quarantine/</code>), filtered (out of scope by design, such as '
               'dump records that are not soundtracks: counted) or rejected. Step 05 filters the candidate pairs '
               f'that were not chosen ({fmt_int(rejected["not_chosen"])}: another film was its release\'s best, or the '
               'score stayed under the review threshold); the rejects are malformed records '
               f'({fmt_int(rejected["malformed"])}), kept with their reason in the Bronze reject tables. '
               '"✓ balances" means read = kept + quarantined + filtered + rejected.</p>')
    out.append(table(["step", "status", "time", "read", "kept", "quarantined", "filtered", "rejected", "accounting",
                      "notes"], rows, numeric=(2, 3, 4, 5, 6, 7), row_classes=[""] * (len(rows) - 1) + ["total"]))
    timed = [(f"{n} {steps[n].get('name', '')}", float(steps[n].get("seconds") or 0), steps[n].get("status"))
             for n in sorted(steps)]
    if timed:
        out.append(figure(charts.step_timings(timed), "Wall time of each step (grey: skipped, red: failed)."))

    written = [(table_name.split("/", 1)[0], table_name, rows_, number)
               for number, step in sorted(steps.items()) for table_name, rows_ in (step.get("tables") or {}).items()]
    out.append("<h3>Tables written, Bronze to Gold</h3>")
    if written:
        layer_order = {"bronze": 0, "silver": 1, "gold": 2}
        written.sort(key=lambda w: (layer_order.get(w[0], 3), w[3], w[1]))
        out.append(table(["layer", "table", "rows", "step"],
                         [[e(layer), f"<code>{e(name)}</code>", fmt_int(n), e(number)] for layer, name, n, number in written],
                         numeric=(2,)))
    else:
        out.append(callout("No step of this run recorded a table."))

    details = [f"<details><summary>step {e(n)} metrics</summary><pre class='small'>"
               f"{e(json.dumps(s.get('metrics'), indent=1, sort_keys=True))}</pre></details>"
               for n, s in sorted(steps.items()) if s.get("metrics")]
    out += details

    inputs = m.get("inputs") or {}
    out.append("<h3>Data sources</h3>")
    source_rows = [[e(name), fmt_int(v.get("files")), fmt_bytes(v.get("bytes"))]
                   for name, v in inputs.items() if isinstance(v, dict)]
    if source_rows:
        out.append(f'<p class="lead">Input folder <code>{e(inputs.get("input_dir"))}</code>; a source with no files '
                   "is skipped by its step.</p>")
        out.append(table(["source", "files", "size"], source_rows, numeric=(1, 2)))
    else:
        out.append(callout("The manifest lists no inputs."))

    settings = m.get("settings") or {}
    out.append("<h3>Configuration</h3>")
    out.append(f"<p>Config fingerprint <code>{e(m.get('config_fingerprint'))}</code>: a hash of every setting that "
               "shapes the output, so two runs with the same fingerprint ran the same configuration.</p>")
    if settings:
        out.append("<details><summary>all settings (secrets shown only as ***)</summary>"
                   + table(["setting", "value"], [[f"<code>{e(k)}</code>", e(v)] for k, v in sorted(settings.items())])
                   + "</details>")
    return "".join(out)


# --- section 2: match quality -----------------------------------------------------------------------------
REQUIREMENT_TEXT = {"clear_best_film": "no clear best film"}


def _why_in_review(r: dict) -> str:
    """The unmet requirements of a review link, or its score under the match threshold when it meets them all."""
    parts = []
    for name in r.get("unmet") or []:
        text = REQUIREMENT_TEXT.get(name, f"{name} not met")
        if name == "clear_best_film" and r.get("rank_share") is not None:
            text += f" (holds {float(r['rank_share']):.0%} of the release's odds)"
        parts.append(text)
    if not parts and r.get("match_threshold") is not None:
        parts.append(f"score {fmt_ratio(r.get('match_score'))} < match threshold {fmt_ratio(r['match_threshold'])}")
    return "<br>".join(e(p) for p in parts) or "–"


def _runner_up(r: dict) -> str:
    runner = r.get("runner_up")
    if not runner:
        return '<span class="muted">none (one candidate film)</span>'
    title = e(runner.get("title") or f"tmdb {runner.get('tmdb_id')}")
    return (f"<b>{title}</b> ({e(runner.get('year') or 'no year')})<br><span class='small muted'>tmdb "
            f"{e(runner.get('tmdb_id'))} · score {fmt_ratio(runner.get('score'))}</span>")


def _reasons(text: str | None) -> str:
    try:
        reasons = json.loads(text) if text else None
    except json.JSONDecodeError:
        return f'<span class="small">{e(text)}</span>'
    if not isinstance(reasons, dict):
        return f'<span class="small">{e(text)}</span>'
    parts = []
    for c in (reasons.get("contributions") or [])[:REASON_CONTRIBUTIONS_SHOWN]:
        value, contribution = c.get("value"), c.get("contribution") or 0
        shown = "–" if value is None else f"{value:.3g}" if isinstance(value, (int, float)) else e(value)
        parts.append(f'<span class="reason">{e(c.get("feature"))}={shown} '
                     f'<span class="{"pos" if contribution >= 0 else "neg"}">({contribution:+.2f})</span></span>')
    extra = []   # the runner-up film has its own column (_runner_up)
    if reasons.get("year_diff") is not None:
        extra.append(f"year gap {reasons['year_diff']}")
    if not parts and not extra:  # a reasons shape this renderer does not know: show it as it is
        return f'<span class="small">{e(text)}</span>'
    return " ".join(parts) + (f'<br><span class="small muted">{e("; ".join(extra))}</span>' if extra else "")


def _names(values: Sequence[str] | None) -> str:
    return e(", ".join(values or []))


def _quality_table(per_source: dict) -> str:
    rows = [[e(src), fmt_ratio(v.get("precision")), fmt_ratio(v.get("recall")), fmt_ratio(v.get("f1")),
             fmt_int(v.get("tp")), fmt_int(v.get("judged")), fmt_int(v.get("positives")),
             fmt_int(v.get("predicted_matches"))] for src, v in sorted(per_source.items())]
    return table(["source", "precision", "recall", "F1", "true positives", "judged links", "labelled positives",
                  "links predicted"], rows, numeric=(1, 2, 3, 4, 5, 6, 7))


def quality_section(data: ReportData) -> str:
    m, q = data.manifest, data.quality
    step = (m.get("steps") or {}).get("05")
    out = []
    if step is None or step.get("status") != "succeeded":
        state = "did not run" if step is None else step.get("status")
        out.append(callout(f"<b>Step 05 (match + enrich) {e(state)} in this run</b>, so there are no Gold links "
                           "to describe.", "bad"))
    links = sum(q.decisions.values())
    out.append(tiles([("links decided match", fmt_int(q.decisions.get("match", 0))),
                      ("links in the review band", fmt_int(q.decisions.get("review", 0))),
                      ("candidate pairs scored", fmt_int((step or {}).get("rows_in")))]))
    if links == 0:
        out.append(callout("<b>No matches in this run.</b> Gold holds no soundtrack links"
                           + (f" (step 05 scored {fmt_int(step.get('rows_in'))} candidate pairs and kept none above "
                              "the review threshold)" if step and step.get("status") == "succeeded" else "")
                           + ": the score histogram, the review queue and the analytics below are empty.", "bad"))
    else:
        thresholds = ((step or {}).get("metrics") or {}).get("thresholds")
        out.append(figure(charts.score_histogram(SCORE_BINS, q.histogram, thresholds),
                          f"Links per {1 / SCORE_BINS:.2f}-wide score bin. Each release links to at most one film; "
                          "pairs below the review threshold are not in Gold (counted as filtered by step 05)."))

    out.append("<h3>Precision and recall against labelled pairs</h3>")
    ev = data.evaluation
    if ev:
        out.append(f'<p class="lead">{e(data.evaluation_note)}. Precision counts only links whose release is '
                   "labelled; recall is the share of labelled true soundtracks found with decision = match.</p>")
        out.append(_quality_table(ev.get("sources") or {}))
        blocking = ev.get("blocking") or {}
        if blocking:
            out.append("<h3>Blocking: were the true pairs proposed at all?</h3>")
            out.append(table(["source", "pair completeness", "true pairs proposed", "labelled positives",
                              "candidate pairs", "reduction ratio"],
                             [[e(s), fmt_ratio(b.get("pair_completeness")), fmt_int(b.get("found")),
                               fmt_int(b.get("positives")), fmt_int(b.get("candidates")),
                               fmt_ratio(b.get("reduction_ratio"))] for s, b in sorted(blocking.items())],
                             numeric=(1, 2, 3, 4, 5)))
        if ev.get("original_rule"):
            out.append("<h3>The original project's rule on the same run</h3>")
            out.append(_quality_table(ev["original_rule"]))
    else:
        out.append(callout(e(data.evaluation_note), "info"))

    out.append("<h3>Review queue</h3>")
    if q.review_total == 0:
        out.append(callout("The review queue is empty: no link scored inside the review band."
                           if links else "The review queue is empty.", "info"))
    else:
        out.append(f'<p class="lead">{fmt_int(q.review_total)} links wait for a human decision; the '
                   f"{min(REVIEW_ROWS_SHOWN, q.review_total)} highest-scoring are shown (all are in "
                   "<code>gold/review_queue</code>). Why in review: the requirement the link does not meet, or "
                   "its score under the match threshold; runner-up: the second-best film for the release; reasons: "
                   "the largest feature effects on the log-odds.</p>")
        rows = [[fmt_ratio(r.get("match_score")),
                 f"<b>{e(r.get('film_title'))}</b> ({e(r.get('film_year') or 'no year')})<br>"
                 f"<span class='small muted'>tmdb {e(r.get('tmdb_id'))} · {_names(r.get('composers'))}</span>",
                 f"<b>{e(r.get('release_title'))}</b> ({e(r.get('release_year') or 'no year')})<br>"
                 f"<span class='small muted'>{e(r.get('source'))} {e(r.get('release_kind'))} {e(r.get('release_id'))}"
                 f" · {_names(r.get('release_artists'))}</span>",
                 _why_in_review(r), _runner_up(r), _reasons(r.get("reasons"))] for r in q.review_rows]
        out.append(table(["score", "film", "release", "why in review", "runner-up film", "reasons"], rows,
                         numeric=(0,)))
    return "".join(out)


# --- section 3: analytics -------------------------------------------------------------------------------
def analytics_section(data: ReportData) -> str:
    a, steps = data.analytics, data.manifest.get("steps") or {}
    out = []
    marts = steps.get("06")
    if marts is None or marts.get("status") != "succeeded":
        state = "did not run" if marts is None else marts.get("status")
        out.append(callout(f"<b>Step 06 (marts) {e(state)} in this run</b>: the analytics marts were not built "
                           "for it.", "bad"))
    if a.matched_films == 0:
        out.append(callout("<b>No matched films in this run</b>, so the marts are empty and there is nothing to "
                           "chart: no genre by decade, no popularity by genre, no composers.", "bad"))
        return "".join(out)

    hidden = ", ".join(f"<b>{e(label)}</b> ({films / a.matched_films:.0%} of films)" for label, films in a.hidden_labels)
    uncharted = a.matched_films - a.charted_films
    out.append(f'<p class="lead">{fmt_int(a.matched_films)} films have at least one matched soundtrack; counts are '
               f"films (a film with two soundtracks counts once per genre). {fmt_int(a.untagged_films)} of them have "
               "no soundtrack genre at all."
               + (f" Left out of the genre charts because at least {UBIQUITOUS_LABEL_SHARE:.0%} of films carry them "
                  f"(they say 'this is a soundtrack', not which music): {hidden}. {fmt_int(uncharted)} films "
                  f"({uncharted / a.matched_films:.0%}) carry no other genre (their releases have no tags, genres "
                  f"or styles beyond that), so the genre charts describe the other {fmt_int(a.charted_films)}."
                  if hidden else "") + "</p>")
    if not a.chart_genres:
        out.append(callout("No soundtrack genre beyond those is carried by the matched films: the genre charts "
                           "would be empty.", "info"))
    else:
        genres = [r["soundtrack_genre"] for r in a.chart_genres]
        by_key = {(r["decade"], r["soundtrack_genre"]): r["films"] for r in a.decade_genre_films}
        decades = a.decades
        counts = {g: [by_key.get((d["decade"], g), 0) for d in decades] for g in genres}
        other = [max(0, (d["labels"] or 0) - sum(counts[g][i] for g in genres)) for i, d in enumerate(decades)]
        out.append("<h3>Soundtrack genres by decade</h3>")
        out.append(figure(charts.genre_by_decade([_decade(d["decade"]) for d in decades], genres, counts, other,
                                                 [d["decade_films"] for d in decades]),
                          f"Per film decade, how many films' soundtracks carry each of the {len(genres)} most common "
                          "genres (a film counts once per genre it carries; the rest are 'other genres'); matched "
                          "films per decade above the bars. Counts, not shares: a decade with few films stays "
                          "small. Source: <code>gold/genre_by_decade</code>."))

        out.append("<h3>Popularity by soundtrack genre</h3>")
        out.append(figure(charts.popularity_boxes(a.chart_genres),
                          "TMDB popularity of the films whose soundtracks carry each genre. Box: middle half of the "
                          "films; orange line: median; diamond: mean; whiskers: 5th to 95th percentile. Boxes that "
                          "overlap widely mean the genre says little about popularity. Source: "
                          "<code>gold/popularity_by_soundtrack_genre</code>."))
        out.append("<details><summary>the numbers</summary>" + table(
            ["soundtrack genre", "films", "popularity median", "quartiles", "mean", "vote average median",
             "vote quartiles"],
            [[e(r["soundtrack_genre"]), fmt_int(r["films"]), fmt_num(r["popularity_median"], 2),
              f"{fmt_num(r['popularity_q1'], 2)} – {fmt_num(r['popularity_q3'], 2)}", fmt_num(r["popularity_mean"], 2),
              fmt_num(r["vote_average_median"], 2),
              f"{fmt_num(r['vote_average_q1'], 2)} – {fmt_num(r['vote_average_q3'], 2)}"] for r in a.chart_genres],
            numeric=(1, 2, 3, 4, 5, 6)) + "</details>")

        out.append("<h3>Film genre × soundtrack genre</h3>")
        film_genres = [r["film_genre"] for r in a.film_genres]
        cells = {(c["film_genre"], c["soundtrack_genre"]): c for c in a.heat_cells}
        share_grid = [[(cells.get((f, g)) or {}).get("share") or 0.0 for g in genres] for f in film_genres]
        count_grid = [[(cells.get((f, g)) or {}).get("films") or 0 for g in genres] for f in film_genres]
        labels = [f"{r['film_genre']} ({r['film_genre_films']:,})" for r in a.film_genres]
        out.append(figure(charts.heat_map(labels, genres, share_grid, count_grid),
                          "Rows: TMDB genres of the matched films (films in brackets); columns: the "
                          f"{len(genres)} most common soundtrack genres. Colour: share of the row's films whose "
                          "soundtracks carry the column's genre; numbers: films. Source: "
                          "<code>gold/film_genre_x_soundtrack_genre</code>."))

    out.append(links_and_coverage(a))
    out.append("<h3>Top composers</h3>")
    if not a.composers:
        out.append(callout("No matched film credits a composer.", "info"))
    else:
        out.append(figure(charts.composer_bars(a.composers),
                          f"The {len(a.composers)} composers (of {fmt_int(a.composers_total)}) credited on the most "
                          "matched films. Source: <code>gold/composer_stats</code>."))
        out.append(table(["composer", "films scored", "decades active", "years", "median popularity",
                          "mean vote average"],
                         [[e(r["composer"]), fmt_int(r["films"]),
                           e(", ".join(_decade(d) for d in r["decades"] or [])),
                           f"{e(r['first_year'] or '?')}–{e(r['last_year'] or '?')}",
                           fmt_num(r["popularity_median"]), fmt_num(r["vote_average_mean"])]
                          for r in a.composers], numeric=(1, 4, 5)))
    return "".join(out)


def links_and_coverage(a) -> str:
    """Soundtrack links by source and film decade; films with a link by band of TMDB popularity rank."""
    out = ["<h3>Soundtrack links by source and decade</h3>"]
    if a.links_by_source_decade:
        decade_keys = sorted({r["decade"] for r in a.links_by_source_decade}, key=lambda d: (d is None, d or 0))
        sources = sorted({r["source"] for r in a.links_by_source_decade})
        by_key = {(r["decade"], r["source"]): r["links"] for r in a.links_by_source_decade}
        counts = {src: [by_key.get((d, src), 0) for d in decade_keys] for src in sources}
        out.append(figure(charts.links_by_decade([_decade(d) for d in decade_keys], counts),
                          "Matched soundtrack links (gold/film_soundtracks) per film decade, by the catalogue they "
                          "come from. Source: <code>gold/film_soundtracks</code>."))
    else:
        out.append(callout("No matched soundtrack links in this run.", "info"))
    out.append("<h3>Coverage by film popularity</h3>")
    if a.coverage:
        out.append('<p class="lead">Films ranked by TMDB popularity, in bands: how many of each band have at least '
                   "one matched soundtrack. The most popular films are the ones people look up first.</p>")
        out.append(figure(charts.coverage_bars([r["band"] for r in a.coverage], [r["films"] for r in a.coverage],
                                               [r["linked"] for r in a.coverage]),
                          "Share of the band's films with a matched soundtrack (films with one / films in the band "
                          "above each bar). Sources: <code>silver/films</code>, <code>gold/film_soundtracks</code>."))
        out.append(table(["popularity rank", "films", "with a soundtrack", "share"],
                         [[e(r["band"]), fmt_int(r["films"]), fmt_int(r["linked"]),
                           f"{r['linked'] / r['films']:.1%}" if r["films"] else "–"] for r in a.coverage],
                         numeric=(1, 2, 3)))
    else:
        out.append(callout("No films in this run's <code>silver/films</code>: no coverage to show.", "info"))
    return "".join(out)


# --- section 4: history ---------------------------------------------------------------------------------
def _change(name: str, value: float | None, previous: float | None) -> tuple[str, bool]:
    """The cell for a figure next to its previous run's value, and whether the change is bad news."""
    digits = 3 if name.startswith("musicbrainz_") else 1 if name == "seconds" else 0
    shown = "–" if value is None else f"{value:,.{digits}f}"
    if value is None or previous is None or value == previous or name == "seconds":
        return shown, False
    rising = value > previous
    bad = rising != (name in HIGHER_IS_BETTER)
    arrow = "▲" if rising else "▼"
    css = ("up" if rising else "down") + ("-bad" if bad else "-good")
    return f'{shown} <span class="{css}">{arrow}</span>', bad


def history_section(data: ReportData) -> str:
    runs = data.history
    out = []
    if len(runs) <= 1:
        out.append(callout("This is the only run in the lake: the history starts here. Later runs will be "
                           "compared with it.", "info"))
    figures = [f for f in HISTORY_FIGURES if any(r.get(f) is not None for r in runs)]
    if len(runs) > 1 and figures:
        out.append(figure(charts.history_lines([r["run_id"] for r in runs], {f: [r.get(f) for r in runs] for f in figures},
                                               data.run_id),
                          f"One point per run, oldest first (the last {len(runs)} runs of the lake); the orange "
                          "point is this report's run."))
    rows, classes = [], []
    previous: dict | None = None
    for r in runs:
        cells, flagged = [], False
        for f in HISTORY_FIGURES:
            cell, bad = _change(f, r.get(f), previous.get(f) if previous else None)
            cells.append(cell)
            flagged |= bad
        fingerprint = r.get("config_fingerprint") or ""
        changed = previous is not None and fingerprint != previous.get("config_fingerprint")
        name = f"<b>{e(r['run_id'])}</b>" if r["run_id"] == data.run_id else e(r["run_id"])
        rows.append([name, _status(r.get("status")),
                     f"<code>{e(fingerprint[:8])}</code>" + (' <span class="small muted">changed</span>' if changed else ""),
                     *cells])
        classes.append("flag" if flagged else "")
        previous = r
    out.append('<p class="lead">▲▼ mark changes from the run before; red marks bad news (fewer matches, lower '
               "precision or recall, more quarantined or rejected rows).</p>")
    out.append(table(["run", "status", "config", *HISTORY_FIGURES.values()], rows,
                     numeric=tuple(range(3, 3 + len(HISTORY_FIGURES))), row_classes=classes, css="compact"))
    return "".join(out)


def render(data: ReportData) -> str:
    m = data.manifest
    status = m.get("status") or "unknown"
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    bodies = {"summary": summary_section, "quality": quality_section, "analytics": analytics_section,
              "history": history_section,
              "review": lambda d: review_section(d.lake_root, d.run_id, d.manifest),   # report/review.py
              "changes": lambda d: changes_section(d.lake_root, d.run_id, d.manifest)}   # report/changes.py
    sections = "".join(f'<section id="{sid}"><h2>{i}. {e(title)}</h2>{bodies[sid](data)}</section>'
                       for i, (sid, title) in enumerate(SECTIONS, 1))
    nav = "".join(f'<a href="#{sid}">{e(title)}</a>' for sid, title in SECTIONS)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>soundtrack-lake run {e(data.run_id)}: {e(status)}</title><style>{CSS}</style></head>
<body><header><div class="meta">soundtrack-lake · run report</div>
<h1>Run {e(data.run_id)}<span class="badge {e(status)}">{e(status)}</span></h1>
<div class="meta"><span>started {e(m.get('started_at'))}</span><span>finished {e(m.get('finished_at') or '–')}</span>
<span>config {e(m.get('config_fingerprint'))}</span><span>lake {e(data.lake_root)}</span></div>
<nav>{nav}</nav></header>
<main>{sections}</main>
<footer>Generated {e(generated)} by <code>python -m scripts_spark report</code>. Charts: matplotlib, inline SVG;
this file needs no network.</footer></body></html>
"""
