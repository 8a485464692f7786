"""Review progress for the run report: what people decided, how often they agreed with the matcher, and the
precision of automatic matches estimated from random audit draws.

Agreement: the share of verdicts that kept the film the matcher proposed (accept), per sample. Precision: among
the automatic matches of this run's matcher version drawn at random in the page (sample = audit), the share a person
accepted, with a Wilson 95% interval; verdicts on the review queue never enter it (that queue is not a random
sample of matches).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .store import DecisionStore, Pair, effective_verdicts, latest_records

WILSON_Z = 1.96


def wilson(successes: int, n: int, z: float = WILSON_Z) -> tuple[float, float]:
    """Wilson score interval of a proportion (sound at the small counts an audit gives)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class ReviewProgress:
    verdicts: int = 0                       # every verdict in the store
    reviewers: int = 0
    pairs_decided: int = 0                  # links shown that have a verdict
    queue_total: int = 0                    # this run's review queue
    queue_decided: int = 0                  # of which a verdict is in force (decided after the run was made)
    human_links: int | None = None          # links of this run that a verdict made (step 05's metrics)
    agreement: dict[str, tuple[int, int]] = field(default_factory=dict)   # sample -> (accepted, decided)
    matcher_version: str | None = None
    audit: tuple[int, int] = (0, 0)         # (accepted, decided) on this matcher's audit draws

    @property
    def queue_open(self) -> int:
        return self.queue_total - self.queue_decided


def _queue_pairs(root, run_id: str) -> list[Pair]:
    import pyarrow.dataset as ds

    path = root.joinpath("gold", "review_queue", f"run_id={run_id}")
    if not path.exists():
        return []
    rows = ds.dataset(str(path), format="parquet").to_table(
        columns=["source", "release_kind", "release_id", "tmdb_id"]).to_pylist()
    return [Pair(r["source"], r["release_kind"], str(r["release_id"]), int(r["tmdb_id"])) for r in rows]


def review_progress(lake_root: str, run_id: str, manifest: dict[str, Any]) -> ReviewProgress:
    store = DecisionStore(lake_root)
    records = store.read_all()
    metrics = (((manifest.get("steps") or {}).get("05") or {}).get("metrics") or {})
    out = ReviewProgress(verdicts=len(records), reviewers=len({r["reviewer"] for r in records}),
                         matcher_version=metrics.get("matcher_version"),
                         human_links=(metrics.get("review_decisions") or {}).get("human_links"))
    in_force = effective_verdicts(records)
    queue = _queue_pairs(store.root, run_id)
    out.queue_total, out.queue_decided = len(queue), sum(1 for p in queue if p in in_force)
    latest = latest_records(records)
    out.pairs_decided = len(latest)
    for record in latest.values():
        accepted, decided = out.agreement.get(record["sample"], (0, 0))
        out.agreement[record["sample"]] = (accepted + (record["verdict"] == "accept"), decided + 1)
    audited = [r for r in latest.values() if r["sample"] == "audit" and r["matcher_version"] == out.matcher_version]
    out.audit = (sum(r["verdict"] == "accept" for r in audited), len(audited))
    return out
