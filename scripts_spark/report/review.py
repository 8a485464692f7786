"""The report's "Review progress" section: verdicts, agreement with the matcher and the audited precision of
automatic matches, as review/progress.py measures them."""
from __future__ import annotations

from typing import Any

from ..review.progress import review_progress, wilson
from ..review.store import DecisionError
from .markup import callout, e, fmt_int, fmt_ratio, table, tiles


def review_section(lake_root: str, run_id: str, manifest: dict[str, Any]) -> str:
    """The report's review section."""
    try:
        p = review_progress(lake_root, run_id, manifest)
    except DecisionError as exc:
        return callout(e(str(exc)), "info")
    out = [tiles([("verdicts recorded", fmt_int(p.verdicts)), ("links decided", fmt_int(p.pairs_decided)),
                  ("open in this run's queue", fmt_int(p.queue_open)),
                  ("links made by a verdict", fmt_int(p.human_links) if p.human_links is not None else "–")])]
    if not p.verdicts:
        out.append(callout("No verdicts yet: <code>make review</code> opens this run's queue in a web page "
                           "(docs/review.md).", "info"))
        return "".join(out)
    out.append(f'<p class="lead">{fmt_int(p.verdicts)} verdicts by {fmt_int(p.reviewers)} reviewer(s) in '
               "<code>review/decisions</code>; every later run applies the latest verdict of each link. "
               f"{fmt_int(p.queue_decided)} of this run's {fmt_int(p.queue_total)} queued links were decided after "
               "the run was made (the next run applies them).</p>")
    names = {"queue": "review queue", "audit": "audit draws (automatic matches)"}
    out.append(table(["verdicts on", "decided", "kept the matcher's film", "agreement"],
                     [[e(names.get(s, s)), fmt_int(n), fmt_int(a), fmt_ratio(a / n if n else None)]
                      for s, (a, n) in sorted(p.agreement.items())], numeric=(1, 2, 3)))
    accepted, decided = p.audit
    if decided:
        low, high = wilson(accepted, decided)
        out.append(f"<p>Precision of automatic matches (matcher {e(p.matcher_version)}), estimated from "
                   f"{fmt_int(decided)} randomly drawn matches a person checked: <b>{fmt_ratio(accepted / decided)}"
                   f"</b> (95% interval {fmt_ratio(low)} to {fmt_ratio(high)}, Wilson).</p>")
    else:
        out.append(callout(f"No audit verdicts for matcher {e(p.matcher_version)} yet: the page's <b>Draw audit "
                           "sample</b> button draws automatic matches at random; their verdicts estimate precision.",
                           "info"))
    return "".join(out)
