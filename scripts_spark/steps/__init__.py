"""The numbered steps, in run order. Each entry is 'number': 'module:Class' (imported on demand,
so `--help` and `dryrun` stay fast and a step's heavy imports load only when it runs)."""
from __future__ import annotations

import importlib

STEP_CLASSES: dict[str, str] = {
    "01": "scripts_spark.steps.s01_extract_tmdb:ExtractTmdb",
    "02": "scripts_spark.steps.s02_extract_discogs:ExtractReleases",
    "03": "scripts_spark.steps.s03_candidates:NormaliseAndBlock",
    "04": "scripts_spark.steps.s04_validate:Validate",
    "05": "scripts_spark.steps.s05_match_enrich:MatchAndEnrich",
    "06": "scripts_spark.steps.s06_marts:BuildMarts",
    "07": "scripts_spark.steps.s07_recommend:Recommend",
}


def load_step(number: str):
    module_name, class_name = STEP_CLASSES[number].split(":")
    return getattr(importlib.import_module(module_name), class_name)()


def parse_step_range(spec: str | None) -> list[str]:
    """'01-05' -> ['01'..'05']; '03' -> ['03']; '01,03-04' -> ['01','03','04']; None/'all' -> every step."""
    known = list(STEP_CLASSES)
    if not spec or spec == "all":
        return known
    chosen: list[str] = []
    for part in spec.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = (p.strip().zfill(2) for p in part.split("-", 1))
            if lo not in STEP_CLASSES or hi not in STEP_CLASSES or lo > hi:
                raise ValueError(f"step range {part!r} is not within {known[0]}-{known[-1]}")
            chosen += [n for n in known if lo <= n <= hi]
        else:
            n = part.zfill(2)
            if n not in STEP_CLASSES:
                raise ValueError(f"unknown step {part!r}; steps are {', '.join(known)}")
            chosen.append(n)
    return sorted(set(chosen))
