"""The matcher as one settings object, the way a Splink model is one settings dictionary.

`scripts_spark/match_settings.json` holds, in one versioned file: the blocking rules with their caps (`blocking`),
the guards of the decision (`guards`), and the fitted matcher (`matcher`: features and their version, both
regressions' weights, thresholds, the features an automatic match requires). `python -m scripts_spark.fit_matcher`
rewrites the `matcher` section and keeps the others; steps 03 and 05 read the file through `load`; `make dryrun`
prints `describe`. Changing a threshold or a cap is an edit of the file, never of the code.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .transforms.blocking import FILM_KEYS, RELEASE_KEYS, STOPWORDS, BlockingRule, BlockingSettings
from .transforms.decide import MatchSettings
from .transforms.features import FEATURE_VERSION, GUARD_FEATURES, MODEL_FEATURES


class MatchSettingsError(ValueError):
    """match_settings.json is missing, unreadable, or does not fit the features and key builders of this code."""


@dataclass(frozen=True)
class MatcherConfig:
    path: str
    fingerprint: str          # sha256 of the file, first 12 hex digits: changes with any setting
    blocking: BlockingSettings
    matcher: MatchSettings


def _read(path: str | Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MatchSettingsError(f"{path}: matcher settings not found; fit them with "
                                 "`python -m scripts_spark.fit_matcher`") from None
    except ValueError as exc:
        raise MatchSettingsError(f"{path}: not valid JSON ({exc})") from None


def blocking_settings(doc: dict, path: str | Path = "match_settings.json") -> BlockingSettings:
    """The `blocking` section; every rule must name key builders this code has and a positive cap."""
    try:
        section = doc["blocking"]
        rules = tuple(BlockingRule(name=str(r["name"]), film_keys=str(r["film_keys"]),
                                   release_keys=str(r["release_keys"]), max_pairs_per_key=int(r["max_pairs_per_key"]),
                                   doc=str(r.get("doc", "")), pair_undated=bool(r.get("pair_undated", False)))
                      for r in section["rules"])
        settings = BlockingSettings(rules=rules, stopwords=STOPWORDS, skew_examples=int(section["skew_examples"]),
                                    year_band=int(section["year_band"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise MatchSettingsError(f"{path}: section blocking is not valid ({type(exc).__name__}: {exc})") from None
    for rule in settings.rules:
        if rule.film_keys not in FILM_KEYS or rule.release_keys not in RELEASE_KEYS:
            raise MatchSettingsError(f"{path}: blocking rule {rule.name!r} names an unknown key builder "
                                     f"(film keys: {sorted(FILM_KEYS)}; release keys: {sorted(RELEASE_KEYS)})")
        if rule.max_pairs_per_key < 1:
            raise MatchSettingsError(f"{path}: blocking rule {rule.name!r}: max_pairs_per_key must be >= 1")
    if not settings.rules or len({r.name for r in settings.rules}) != len(settings.rules):
        raise MatchSettingsError(f"{path}: blocking rules must be present and uniquely named")
    if settings.year_band < 0:
        raise MatchSettingsError(f"{path}: blocking.year_band must be >= 0")
    return settings


def match_settings(doc: dict, path: str | Path = "match_settings.json",
                   expected_features: tuple[str, ...] | None = MODEL_FEATURES,
                   expected_feature_version: str | None = FEATURE_VERSION) -> MatchSettings:
    """The `matcher` and `guards` sections; fails with the file named when they do not fit the computed features."""
    try:
        matcher = doc["matcher"]
        settings = MatchSettings(
            version=str(matcher["version"]),
            feature_version=str(matcher["feature_version"]),
            weights={name: float(w) for name, w in matcher["weights"].items()},
            intercept=float(matcher["intercept"]),
            ranker_weights={name: float(w) for name, w in matcher["ranker"]["weights"].items()},
            ranker_intercept=float(matcher["ranker"]["intercept"]),
            match_threshold=float(matcher["thresholds"]["match"]),
            review_threshold=float(matcher["thresholds"]["review"]),
            min_rank_share=float(doc["guards"]["min_rank_share"]),
            match_requires=tuple(matcher.get("match_requires", ())),
            match_forbids=tuple(matcher.get("match_forbids", ())),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise MatchSettingsError(f"{path}: not a valid matcher settings file ({type(exc).__name__}: {exc})") from None
    if not 0.0 <= settings.min_rank_share <= 1.0:
        raise MatchSettingsError(f"{path}: guards.min_rank_share must be within 0..1")
    if set(settings.ranker_weights) != set(settings.weights):
        raise MatchSettingsError(f"{path}: the ranker and the decision weights cover different features")
    for section, names in (("match_requires", settings.match_requires), ("match_forbids", settings.match_forbids)):
        unknown = sorted(set(names) - set(settings.features) - set(GUARD_FEATURES))
        if unknown:
            raise MatchSettingsError(f"{path}: {section} names features that are neither weighted nor film guards: "
                                     f"{unknown}")
    if expected_features is not None and tuple(sorted(settings.features)) != tuple(sorted(expected_features)):
        missing = sorted(set(expected_features) - set(settings.features))
        extra = sorted(set(settings.features) - set(expected_features))
        raise MatchSettingsError(f"{path}: weights do not fit the computed features (missing {missing}, unknown {extra});"
                                 " refit with `python -m scripts_spark.fit_matcher`")
    if expected_feature_version is not None and settings.feature_version != expected_feature_version:
        raise MatchSettingsError(f"{path}: fitted for feature version {settings.feature_version}, code computes "
                                 f"{expected_feature_version}; refit with `python -m scripts_spark.fit_matcher`")
    return settings


def load_match_settings(path: str | Path, expected_features: tuple[str, ...] | None = None,
                        expected_feature_version: str | None = None) -> MatchSettings:
    """The decision part of the file alone: what fit_matcher checks after writing the `matcher` section."""
    return match_settings(_read(path), path, expected_features, expected_feature_version)


def load(path: str | Path) -> MatcherConfig:
    """The whole settings object, checked against this code's features, feature version and key builders."""
    raw = Path(path).read_bytes() if Path(path).exists() else None
    doc = _read(path)
    return MatcherConfig(path=str(path), fingerprint=hashlib.sha256(raw or b"").hexdigest()[:12],
                         blocking=blocking_settings(doc, path), matcher=match_settings(doc, path))


def describe(config: MatcherConfig) -> list[str]:
    """Dry-run lines: what a run would block and decide with."""
    m, b = config.matcher, config.blocking
    lines = [f"matcher settings {config.path} (sha256 {config.fingerprint}): matcher {m.version}, feature version "
             f"{m.feature_version}, {len(m.features)} features",
             f"  decide: match >= {m.match_threshold}, review >= {m.review_threshold}, requires "
             f"{', '.join(m.match_requires) or 'nothing'}, forbids {', '.join(m.match_forbids) or 'nothing'}, "
             f"ranked-first film's odds share >= {m.min_rank_share}; a pair bridged by an IMDb id is a match "
             "whatever its score (decide.py)",
             f"  blocking: year band +/- {b.year_band} for keys over their cap"]
    lines += [f"  rule {r.name}: {r.film_keys} x {r.release_keys}, cap {r.max_pairs_per_key} pairs/key"
              + (", undated paired" if r.pair_undated else "") for r in b.rules]
    strongest = sorted(m.weights.items(), key=lambda kv: -abs(kv[1]))[:5]
    lines.append("  strongest decision weights: " + ", ".join(f"{k} {v:+.2f}" for k, v in strongest))
    return lines
