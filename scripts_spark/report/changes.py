"""The report's "What changed in this run" section: the run's mode, what each source added, edited and deleted, and
the links that changed (incremental/report.py reads them from gold/link_history and the manifest)."""
from __future__ import annotations

from collections import Counter
from typing import Any

from ..incremental.report import EVENT_ORDER, what_changed
from .markup import callout, e, fmt_int, table, tiles


def changes_section(lake_root: str, run_id: str, manifest: dict[str, Any]) -> str:
    """The report's "What changed in this run" section."""
    c = what_changed(lake_root, run_id, manifest)
    if not c.mode:
        return callout("This run did not cover steps 01-05, or was made before incremental runs: no change record.",
                       "info")
    article = "An" if c.mode[0] in "aeiou" else "A"
    out = [f'<p class="lead">{article} <b>{e(c.mode)}</b> run: {e(c.reason or "")}.</p>']
    carried = (manifest.get("incremental") or {}).get("carried")
    if carried:   # incremental/carry.py
        out.append(callout(f"Steps {e(', '.join(carried['steps']))} carried run {e(carried['from_run'])}'s tables "
                           "over by file copy: no input changed since it" + (
                               "." if "05" in carried["steps"] else
                               ", but review verdicts did, so step 05 decided those releases again."), "info"))
    by_event = Counter()
    for (event, _), n in c.events.items():
        by_event[event] += n
    out.append(tiles([(event.replace("_", " "), fmt_int(by_event.get(event, 0))) for event in EVENT_ORDER]))
    if c.feeds:
        rows = [[e(feed), e(f.get("mode")), *(fmt_int(f.get(k)) if f.get(k) is not None else "–"
                                              for k in ("added", "edited", "deleted", "unchanged"))]
                for feed, f in sorted(c.feeds.items())]
        out.append(table(["source", "mode", "added", "edited", "deleted", "unchanged"], rows, numeric=(2, 3, 4, 5)))
    if c.rescored:
        out.append("<p>" + ", ".join(f"{e(k.replace('_', ' '))}: {fmt_int(v)}" for k, v in sorted(c.rescored.items()))
                   + ".</p>")
    if c.reasons:
        out.append(table(["why links changed", "links"], [[e(r), fmt_int(n)] for r, n in c.reasons.most_common()],
                         numeric=(1,)))
    if c.top:
        def score(value: Any) -> str:
            return "–" if value is None else f"{value:.3f}"

        out.append(table(["event", "source", "release", "film (before)", "decision (before)", "score (before)"],
                         [[e(r["event"]), e(r["source"]), e(f"{r.get('release_kind')} {r['release_id']}"),
                           f"{e(r.get('tmdb_id') or '–')} ({e(r.get('previous_tmdb_id') or '–')})",
                           f"{e(r.get('decision') or '–')} ({e(r.get('previous_decision') or '–')})",
                           f"{score(r.get('match_score'))} ({score(r.get('previous_match_score'))})"]
                          for r in c.top]))
    elif c.mode == "incremental":
        out.append(callout("No link changed in this run.", "info"))
    return "".join(out)
