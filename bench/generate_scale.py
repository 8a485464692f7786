"""Generate pipeline inputs at any size, in the real formats, with planted film-soundtrack truth.

    .venv/bin/python bench/generate_scale.py --films 10000 --releases 180000 --masters 24000 \\
        --mb-groups 35000 --out /tmp/scale/in_1pct [--seed 7] [--workers 2] [--shards N] [--compresslevel 6] \\
        [--title-law work|pool]

Writes, under --out:
- `tmdb/tmdb_movies[.partNNN].jsonl.gz`: TMDB `/movie/{id}?append_to_response=credits` lines, shaped exactly like
  `data/sample/tmdb/tmdb_movies.jsonl.gz` (composer credits only, `original_language` last when null);
- `discogs/discogs_<date>_{masters,releases}[.partNNN].xml.gz`: the monthly dump's XML (`<releases><release id
  status>` ... `</releases>`, `<masters><master id>` ... `</masters>`), release ids and master ids ascending, every
  master's `main_release` present with `is_main_release="true"`, non-ASCII as character references like the dump;
- `musicbrainz/musicbrainz_release_groups[.partNNN].jsonl.gz`: release-group JSON-dump lines;
- `truth.csv`: planted pairs in the columns of `data/eval/dev_labels.csv` (source,tmdb_id,release_id,label,note)
  and then `release_kind`; Discogs pairs name the master id, or the release id for a release without master (a
  planted twin's release id is also a master's id: `TWIN_KINDS`); 0 = planted hard negative;
- `generation.json`: arguments, files, record counts, the shares actually generated and the Discogs id collisions
  (byte-deterministic too).

Everything is recombined from the real data in `data/sample` (see `bench/scale_vocab.py`): real title words with
their real frequency and minted ones past the sample's vocabulary, film titles shared as often as real ones
(`bench/title_collisions.py`), planted films as popular as films with a labelled soundtrack, real boilerplate and
edition qualifiers, real composers and artists, real genre/style sets (so most records are not soundtracks), real
date shapes (about 43% of MusicBrainz dates missing, Discogs '1999-03-00'), and verbatim real XML fragments
(tracklists, identifiers, companies) for the dump's size.

Determinism: the output depends only on the arguments (not on --workers): every shard draws from its own seeded
generator, planted cases from theirs, and gzip headers carry mtime 0 and no file name. Memory: records are
generated and written one by one (`iter_*` functions are generators); only the vocabulary is held.
Speed: one process per shard (`--workers`, default all cores); a .gz file is one Spark partition, so shards also
let the pipeline read in parallel. Measured on the 2-core project machine: the 1% input (10,000 films, 180,000
releases, 24,000 masters, 35,000 groups; 111 MB) takes 26 CPU seconds, 85% of them in zlib compressing the
releases; the cost per record is constant, so the full size takes about 2,600 CPU seconds (about 22 minutes on two
free cores) and writes about 11 GB (releases 10.3 GB, as the real dump). `--compresslevel 1` is about 40% faster
for 25% more bytes.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import json
import math
import multiprocessing
import os
import re
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Iterator
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.scale_vocab import (SAMPLE_DIR, STAGE_AND_SCREEN, TITLE_LAWS, VIDEO_GAME_STYLE, Qualifier,  # noqa: E402
                               Vocabulary, load_vocabulary, render_template)

# A fixed dump date in the file names: the generated dump is "one monthly dump", independent of today.
DUMP_DATE = "20250101"
# The latest year a generated release may carry (reissue years are drawn up to it).
LAST_YEAR = 2024

# Planted cases: one per this share of films (2% -> 200 cases at 1% scale, 20,000 at full scale; enough pairs for
# precision/recall to move by less than a point between seeds at 1%), at least MIN_PLANTED_CASES so a tiny input
# still holds every kind of hard case.
PLANTED_FILM_SHARE = 0.02
MIN_PLANTED_CASES = 20
# Each case owns this many consecutive film slots, master slots and MusicBrainz slots (a sequel case uses three).
SLOTS_PER_CASE = 3
# Planted Discogs releases may take at most this share of all releases, and planted MusicBrainz groups this share
# of all groups: two thirds of the real soundtrack share, so planting never pushes the soundtrack share above life.
PLANTED_MAX_SHARE_OF_SOUNDTRACKS = 2 / 3

# MusicBrainz as a whole (the bundled sample holds soundtrack release groups only). Approximate shares read off
# MusicBrainz's public statistics page (release groups by primary and secondary type); about 2.5% of release groups
# carry the Soundtrack secondary type.
MB_SOUNDTRACK_SHARE = 0.025
MB_PRIMARY_TYPES = (("Album", 50), ("Single", 33), ("EP", 9), ("Other", 3), ("Broadcast", 1), (None, 4))
MB_SECONDARY_TYPES = (((), 800), (("Compilation",), 80), (("Live",), 60), (("Remix",), 15), (("DJ-mix",), 5),
                      (("Demo",), 7), (("Mixtape/Street",), 5), (("Spokenword",), 5), (("Audiobook",), 3),
                      (("Compilation", "Live"), 5))
# Share of Discogs dump releases that belong to a master: 615 of the 1,000 releases in the dump sample.
DISCOGS_MASTER_MEMBER_SHARE = 0.615
# A master's further releases: released in the master's year with this probability, else a reissue up to
# REISSUE_MAX_YEARS later (reissues decades after the film are common in the search samples).
REISSUE_SAME_YEAR_SHARE = 0.5
REISSUE_MAX_YEARS = 40
# The 1,000-release dump sample averages 4.5 KB of XML a release; the whole dump averages about 3.1 KB (56 GB for
# about 18 million). Leaving the sampled releases' <videos> out brings a generated release to about 3.7 KB.
KEEP_RELEASE_VIDEOS = False
# Year offsets of a soundtrack from its film (same year mostly; festival premieres and late-December films one off).
SOUNDTRACK_YEAR_OFFSETS = (0, 0, 0, 0, 0, 0, 0, 1, 1, -1)
# How a generated Discogs title is capitalised: the dump capitalises Each Word in most titles.
DISCOGS_TITLE_CASE_SHARE = 0.7
# Discogs disambiguates artist names with a number ('John Williams (4)').
DISCOGS_NAME_NUMBER_SHARE = 0.15

# Rows per .gz shard. A gzip file is one Spark partition: at full size this gives 18 Discogs shards of about 570 MB
# (the real 10 GB dump in 18 pieces), 7 MusicBrainz and 4 TMDB shards, enough to keep two cores busy to the end;
# inputs from MIN_ROWS_FOR_TWO_SHARDS rows up get at least two shards so two cores read in parallel.
ROWS_PER_SHARD = {"tmdb": 250_000, "discogs": 1_000_000, "musicbrainz": 500_000}
MIN_ROWS_FOR_TWO_SHARDS = 20_000
# Write buffer before each gzip write (bytes of text): large enough that zlib sees long runs, small and constant.
WRITE_BUFFER_CHARS = 1 << 20

VARIOUS_DISCOGS = "Various"

# Kinds of planted cases and their weights (a case = films + their soundtracks + hard negatives). The weights put
# about half of the cases on plain and date-only difficulties and half on the hard negatives listed in the issue.
CASE_KINDS = (
    ("plain", 20), ("reissue", 8), ("late_release", 4), ("undated", 8), ("remake", 8), ("sequel", 6),
    ("same_title_album", 10), ("stage_cast", 6), ("video_game", 5), ("story_record", 4), ("film_hint_single", 6),
    ("original_title", 5), ("franchise_prefix", 4), ("unrelated_single", 2), ("typography", 6), ("untagged", 2),
)


def weighted_cycle(weights: tuple[tuple[str, int], ...]) -> list[str]:
    """Smooth weighted round robin: any prefix of the cycle mixes the kinds in proportion to their weights."""
    current = {name: 0 for name, _ in weights}
    total = sum(w for _, w in weights)
    out = []
    for _ in range(total):
        for name, w in weights:
            current[name] += w
        best = max(current, key=lambda n: current[n])
        current[best] -= total
        out.append(best)
    return out


KIND_CYCLE = weighted_cycle(CASE_KINDS)

# Discogs numbers masters and releases separately, so a master and a master-less release can carry the same number
# (in the 2020-08 dump about 1 in 9 master-less releases has a master's number: releases numbered up to the highest
# master id are 11% of all, master ids fill that range at 97%). The background layout has the same rate (1 + m + m//5
# against 1 + r + r//4: 10.6%; generation.json counts them); on top, cases of these kinds whose first master's
# number is a multiple of 5 (about one in six cases) get a labelled twin (`Plan.twin_host`), so that the product's
# handling of the collision is scored on planted truth even at 0.1%. Left out: a single from the film (its first
# Discogs work is a release, not a master) and a sequel (its three film slots are taken).
TWIN_KINDS = frozenset(kind for kind, _ in CASE_KINDS) - {"film_hint_single", "sequel"}
# truth.csv: the columns of data/eval/dev_labels.csv, then release_kind (master | release | release_group), the only
# way to tell a master from a master-less release that has the same number.
TRUTH_COLUMNS = ["source", "tmdb_id", "release_id", "label", "note", "release_kind"]


def expand(weights) -> list:
    return [item for item, w in weights for _ in range(w)]


MB_PRIMARY_POOL = expand(MB_PRIMARY_TYPES)
MB_SECONDARY_POOL = expand(MB_SECONDARY_TYPES)


def pick(rng: Random, items):
    return items[int(rng.random() * len(items))]


# --- layout: which index is which id, which slot belongs to which planted case ---------------------------------------
@dataclass(frozen=True)
class Plan:
    """Sizes, seed and the id layout. Ids have gaps like the real catalogues; every mapping is O(1)."""
    films: int
    releases: int
    masters: int
    mb_groups: int
    seed: int = 7
    cases: int = 0
    shards: dict = field(default_factory=dict)
    compresslevel: int = 6
    title_law: str = "work"

    def tmdb_id(self, i: int) -> int:
        return 2 + i + i // 3

    def imdb_id(self, i: int) -> str:
        return f"tt{100000 + 7 * i:07d}"

    def master_id(self, m: int) -> int:
        return 1 + m + m // 5

    def release_id(self, r: int) -> int:
        return 1 + r + r // 4

    def slot_start(self, m: int) -> int:
        """First release index of master slot m (its main release); the slot runs to slot_start(m + 1)."""
        return m * self.releases // self.masters

    @property
    def member_share(self) -> float:
        """Chance that a non-main release of a slot belongs to the master, so that DISCOGS_MASTER_MEMBER_SHARE of
        all releases have a master."""
        per_slot = self.releases / self.masters
        if per_slot <= 1:
            return 1.0
        return min(1.0, max(0.0, (DISCOGS_MASTER_MEMBER_SHARE * per_slot - 1) / (per_slot - 1)))

    def case_of(self, index: int, total: int) -> tuple[int, int] | None:
        """(case, slot k) when index is one of a planted case's slots in a stream of `total` records."""
        if not self.cases:
            return None
        stride = total // self.cases
        c, k = divmod(index, stride)
        if c < self.cases and k < SLOTS_PER_CASE:
            return c, k
        return None

    def case_slot_index(self, c: int, k: int, total: int) -> int:
        return c * (total // self.cases) + k

    def master_index(self, master_id: int) -> int | None:
        """The master slot numbered master_id, None when no master has that number."""
        q, j = divmod(master_id - 1, 6)
        m = 5 * q + j
        return m if master_id > 0 and j < 5 and m < self.masters else None

    def slot_of_release(self, r: int) -> int:
        m = r * self.masters // self.releases
        while m + 1 < self.masters and self.slot_start(m + 1) <= r:
            m += 1
        return m

    def twin_host(self, c: int) -> int | None:
        """Release index that carries case c's twin, None when the case has none (see TWIN_KINDS).

        A twin is a planted master-less soundtrack release numbered like case c's first master. Regular release ids
        skip the multiples of 5 (release_id), so when that master's number M is one, release index 4 M / 5 (id
        M + 1) takes id M instead: ids stay unique and ascending. The host must be a non-main release of a
        background slot.
        """
        if KIND_CYCLE[c % len(KIND_CYCLE)] not in TWIN_KINDS:
            return None
        number = self.master_id(self.case_slot_index(c, 0, self.masters))
        if number % 5:
            return None
        r = number // 5 * 4
        if r >= self.releases:
            return None
        m = self.slot_of_release(r)
        if r == self.slot_start(m) or self.case_of(m, self.masters) is not None:
            return None
        return r

    def twin_at(self, r: int) -> int | None:
        """The case whose twin release index r carries, if any."""
        if r % 4:
            return None
        m = self.master_index(r // 4 * 5)
        slot = self.case_of(m, self.masters) if m is not None else None
        if slot is None or slot[1] != 0:
            return None
        return slot[0] if self.twin_host(slot[0]) == r else None

    def shard_range(self, source: str, s: int) -> tuple[int, int]:
        total = {"tmdb": self.films, "discogs": self.masters, "musicbrainz": self.mb_groups}[source]
        n = self.shards[source]
        return s * total // n, (s + 1) * total // n


def default_shards(films: int, releases: int, mb_groups: int) -> dict[str, int]:
    def n(rows: int, per: int) -> int:
        return max(math.ceil(rows / per), 2 if rows >= MIN_ROWS_FOR_TWO_SHARDS else 1)
    return {"tmdb": n(films, ROWS_PER_SHARD["tmdb"]), "discogs": n(releases, ROWS_PER_SHARD["discogs"]),
            "musicbrainz": n(mb_groups, ROWS_PER_SHARD["musicbrainz"])}


# Planted Stage & Screen releases (masters with their reissues, master-less singles) and planted MusicBrainz
# soundtrack groups a case adds on average, measured over the first 2,000 cases (`planted_counts`); they keep the
# default number of cases below PLANTED_MAX_SHARE_OF_SOUNDTRACKS of the real soundtrack shares.
PLANTED_DISCOGS_RELEASES_PER_CASE = 2.6
PLANTED_MB_GROUPS_PER_CASE = 1.3


def default_cases(films: int, releases: int, masters: int, mb_groups: int, discogs_soundtrack_share: float) -> int:
    capacity = min(films, masters, mb_groups) // SLOTS_PER_CASE
    by_share = max(MIN_PLANTED_CASES, round(films * PLANTED_FILM_SHARE))
    discogs_cap = (releases * discogs_soundtrack_share * PLANTED_MAX_SHARE_OF_SOUNDTRACKS
                   / PLANTED_DISCOGS_RELEASES_PER_CASE)
    mb_cap = mb_groups * MB_SOUNDTRACK_SHARE * PLANTED_MAX_SHARE_OF_SOUNDTRACKS / PLANTED_MB_GROUPS_PER_CASE
    return max(1, min(capacity, by_share, max(MIN_PLANTED_CASES, int(min(discogs_cap, mb_cap)))))


def make_plan(films: int, releases: int, masters: int, mb_groups: int, seed: int, vocab: Vocabulary,
              cases: int | None = None, shards: int | None = None, compresslevel: int = 6,
              title_law: str = "work") -> Plan:
    if min(films, releases, masters, mb_groups) < SLOTS_PER_CASE:
        raise ValueError("every count must be at least 3")
    if releases < 2 * masters:
        raise ValueError("need at least two releases per master (the real dump has about 7.5)")
    n_cases = cases if cases is not None else default_cases(films, releases, masters, mb_groups,
                                                            vocab.stats["discogs_soundtrack_share"])
    if n_cases * SLOTS_PER_CASE > min(films, masters, mb_groups):
        raise ValueError(f"{n_cases} planted cases need {n_cases * SLOTS_PER_CASE} films, masters and groups")
    shard_counts = ({k: shards for k in ROWS_PER_SHARD} if shards else default_shards(films, releases, mb_groups))
    shard_counts["discogs"] = min(shard_counts["discogs"], masters)
    if title_law not in TITLE_LAWS:
        raise ValueError(f"title law {title_law!r}: one of {', '.join(TITLE_LAWS)}")
    vocab.film_works.law = title_law
    return Plan(films, releases, masters, mb_groups, seed, n_cases, shard_counts, compresslevel, title_law)


# --- planted cases ---------------------------------------------------------------------------------------------------
@dataclass
class PlantedFilm:
    title: str
    original_title: str
    language: str | None
    year: int
    composers: list[str]
    genres: list[dict] | None = None


@dataclass
class PlantedWork:
    """A planted Discogs master/release or MusicBrainz release group."""
    title: str
    artists: list[str]
    year: int | None                      # None: no date at all
    genres: tuple = ()
    styles: tuple = ()
    credit: str | None = None             # composer credited in Discogs extraartists
    reissue_years: tuple = ()             # Discogs: further releases of the master
    main_release_year: int | None = None  # Discogs: None -> the master year
    single: bool = False
    standalone: bool = False              # Discogs: a release without master
    twin: bool = False                    # Discogs: a master-less release numbered like the case's first master
    primary_type: str | None = "Album"
    secondary_types: tuple = ("Soundtrack",)
    mbid: str = ""
    date_shape: str | None = None         # MusicBrainz date shape; None -> drawn


@dataclass
class Case:
    index: int
    kind: str
    films: list[PlantedFilm]
    discogs: list[PlantedWork]
    mb: list[PlantedWork]
    truth: list[tuple[str, int, int, int, str]]   # (source, film k, work k, label, note); work k -1 = the twin
    twin: PlantedWork | None = None


def mbid(rng: Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"


def film_title(rng: Random, v: Vocabulary) -> str:
    """A film title: the title of a work drawn with the real title-sharing law (`scale_vocab.FilmWorks`)."""
    return v.film_works.title(v.film_works.index(rng))


def album_title(rng: Random, v: Vocabulary) -> str:
    return render_template(v.album_templates.draw(rng), v.album_words, rng)


def discogs_case(title: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in title.split(" "))


def soundtrack_title(rng: Random, v: Vocabulary, base: str, source: str) -> str:
    """A soundtrack's title as each source writes it: the film title, often with real boilerplate."""
    if source == "discogs":
        if rng.random() < DISCOGS_TITLE_CASE_SHARE:
            base = discogs_case(base)
        if rng.random() < v.discogs_unqualified_share:
            return base
        return v.discogs_soundtrack_qualifiers.draw(rng).attach(base)
    if rng.random() < v.mb_unqualified_share:
        return base
    return v.mb_soundtrack_qualifiers.draw(rng).attach(base)


def discogs_name(rng: Random, name: str) -> str:
    return f"{name} ({2 + int(rng.random() * 8)})" if rng.random() < DISCOGS_NAME_NUMBER_SHARE else name


def new_film(rng: Random, v: Vocabulary, title: str | None = None, year: int | None = None,
             composer: str | None = None, foreign: bool = False, genres: list | None = None) -> PlantedFilm:
    title = title or film_title(rng, v)
    original, language = title, v.languages.draw(rng)
    if foreign:
        original = render_template(v.original_title_templates.draw(rng), v.film_words, rng)
        language = v.foreign_languages.draw(rng)
    return PlantedFilm(title, original, language, year or v.film_years.draw(rng), [composer or v.composers.draw(rng)],
                       genres)


def soundtrack_works(rng: Random, v: Vocabulary, film: PlantedFilm, base: str | None = None,
                     year_offset: int | None = None) -> tuple[PlantedWork, PlantedWork]:
    """The film's soundtrack on Discogs (a master) and on MusicBrainz (a release group)."""
    base = base or film.title
    offset = pick(rng, SOUNDTRACK_YEAR_OFFSETS) if year_offset is None else year_offset
    year = min(LAST_YEAR, film.year + offset)
    composer = film.composers[0]
    various = rng.random() < v.discogs_various_share
    genres, styles = v.discogs_soundtrack_sets.draw(rng)
    reissues = tuple(sorted(min(LAST_YEAR, year + 1 + int(rng.random() * REISSUE_MAX_YEARS))
                            for _ in range(int(rng.random() * 3))))
    discogs = PlantedWork(soundtrack_title(rng, v, base, "discogs"),
                          [VARIOUS_DISCOGS] if various else [discogs_name(rng, composer)], year, genres, styles,
                          credit=composer, reissue_years=reissues)
    mb_various = rng.random() < v.mb_various_share
    mb = PlantedWork(soundtrack_title(rng, v, base, "musicbrainz"),
                     ["Various Artists"] if mb_various else [composer], year,
                     primary_type=v.mb_primary_types.draw(rng) or "Album",
                     secondary_types=tuple(v.mb_secondary_types.draw(rng)) or ("Soundtrack",), mbid=mbid(rng))
    if mb.primary_type in ("Single", "EP"):
        mb.primary_type = "Album"
    return discogs, mb


def _sequel_title(rng: Random, base: str, n: int) -> str:
    roman = {2: "II", 3: "III"}
    style = int(rng.random() * 3)
    return [f"{base} {roman[n]}", f"{base} {n}", f"{base}: Part {roman[n]}"][style]


TYPOGRAPHIC = (("'", "’"), ("-", "‐"), ("...", "…"), (" ", "_"))


def plan_case(plan: Plan, v: Vocabulary, c: int) -> Case:
    """Case c: its films, releases and truth, drawn from its own seeded generator (any process gets the same)."""
    rng = Random(f"{plan.seed}:case:{c}")
    kind = KIND_CYCLE[c % len(KIND_CYCLE)]
    f0 = new_film(rng, v, foreign=(kind == "original_title"))
    films, discogs, mb, truth = [f0], [], [], []

    def pos(source: str, fk: int, wk: int, note: str):
        truth.append((source, fk, wk, 1, f"planted {kind}: {note}"))

    def neg(source: str, fk: int, wk: int, note: str):
        truth.append((source, fk, wk, 0, f"planted {kind} negative: {note}"))

    def with_soundtrack(film: PlantedFilm, fk: int, note: str = "the film's soundtrack", **kw):
        d, m = soundtrack_works(rng, v, film, **kw)
        discogs.append(d)
        mb.append(m)
        pos("discogs", fk, len(discogs) - 1, note)
        pos("musicbrainz", fk, len(mb) - 1, note)
        return d, m

    if kind in ("plain", "untagged"):
        d, _ = with_soundtrack(f0, 0, "soundtrack without Stage & Screen tags" if kind == "untagged" else
                               "the film's soundtrack")
        if kind == "untagged":
            d.genres, d.styles = v.discogs_other_sets.draw(rng)
    elif kind == "reissue":
        d, _ = with_soundtrack(f0, 0, "master from the film's year, only reissues decades later in the dump")
        d.main_release_year = min(LAST_YEAR, d.year + 15 + int(rng.random() * 25))
        d.reissue_years = tuple(sorted(min(LAST_YEAR, d.main_release_year + int(rng.random() * 10))
                                       for _ in range(1 + int(rng.random() * 2))))
        deluxe = PlantedWork(v.edition_qualifiers.draw(rng).attach(d.title), list(d.artists),
                             min(LAST_YEAR, d.year + 20 + int(rng.random() * 25)), d.genres, d.styles,
                             credit=d.credit)
        discogs.append(deluxe)
        pos("discogs", 0, 1, "second master: an expanded edition decades later")
    elif kind == "late_release":
        with_soundtrack(f0, 0, "album first released years after the film", year_offset=8 + int(rng.random() * 25))
    elif kind == "undated":
        d, m = with_soundtrack(f0, 0, "soundtrack without any date")
        d.year = None
        m.year, m.date_shape = None, "empty"
    elif kind == "remake":
        f1 = new_film(rng, v, title=f0.title, year=min(LAST_YEAR, f0.year + 15 + int(rng.random() * 25)))
        films.append(f1)
        with_soundtrack(f0, 0, "the original film's soundtrack")
        with_soundtrack(f1, 1, "the remake's soundtrack")
        for source in ("discogs", "musicbrainz"):
            neg(source, 1, 0, f"the {f0.year} original's album for the {f1.year} remake")
            neg(source, 0, 1, f"the {f1.year} remake's album for the {f0.year} original")
    elif kind == "sequel":
        same_composer = rng.random() < 0.6
        for n in (2, 3):
            films.append(new_film(rng, v, title=_sequel_title(rng, f0.title, n),
                                  year=min(LAST_YEAR, f0.year + 3 * (n - 1)),
                                  composer=f0.composers[0] if same_composer else None))
        for fk, film in enumerate(films):
            with_soundtrack(film, fk, "the film's own instalment")
        for source in ("discogs", "musicbrainz"):
            neg(source, 1, 2, "the next sequel's album (II vs III)")
            neg(source, 2, 1, "the previous sequel's album (III vs II)")
            neg(source, 0, 1, "the sequel's album for the first film")
            neg(source, 1, 0, "the first film's album for the sequel")
    elif kind == "same_title_album":
        with_soundtrack(f0, 0)
        genres, styles = v.discogs_other_sets.draw(rng)
        year = min(LAST_YEAR, f0.year + pick(rng, (0, 0, 1, -1, 5, -12)))
        band = v.artists.draw(rng)
        discogs.append(PlantedWork(discogs_case(f0.title), [band], year, genres, styles, secondary_types=()))
        mb.append(PlantedWork(f0.title, [band], year, primary_type="Album", secondary_types=(), mbid=mbid(rng)))
        neg("discogs", 0, 1, "same-titled album that is not a soundtrack")
        neg("musicbrainz", 0, 1, "same-titled album that is not a soundtrack")
    elif kind == "stage_cast":
        f0.genres = [{"id": 10402, "name": "Music"}] + [g for g in v.tmdb_genres.draw(rng) if g.get("id") != 10402][:2]
        with_soundtrack(f0, 0)
        cast_year = min(LAST_YEAR, max(1900, f0.year + pick(rng, (-12, -8, -5, -3, 2, 6, 10))))
        qualifier = v.cast_qualifiers.draw(rng)
        qualifier = Qualifier(qualifier.open, _replace_year(qualifier.text, cast_year), qualifier.close)
        artist = f0.composers[0] if rng.random() < 0.5 else "Original Broadway Cast"
        genres, styles = v.discogs_musical_sets.draw(rng)
        discogs.append(PlantedWork(qualifier.attach(discogs_case(f0.title)), [discogs_name(rng, artist)], cast_year,
                                   genres, styles, credit=f0.composers[0]))
        mb.append(PlantedWork(qualifier.attach(f0.title), [artist], cast_year, mbid=mbid(rng)))
        neg("discogs", 0, 1, "stage cast recording of the same title")
        neg("musicbrainz", 0, 1, "stage cast recording of the same title")
    elif kind == "video_game":
        with_soundtrack(f0, 0)
        year = min(LAST_YEAR, f0.year + pick(rng, (1, 1, 0, 2, -1)))
        qualifier = v.game_qualifiers.draw(rng)
        composer = v.composers.draw(rng)
        title = qualifier.attach(f0.title) if rng.random() < 0.5 else f0.title
        discogs.append(PlantedWork(discogs_case(title), [discogs_name(rng, composer)], year,
                                   ("Electronic", STAGE_AND_SCREEN), ("Soundtrack", VIDEO_GAME_STYLE), credit=composer))
        mb.append(PlantedWork(title, [composer], year, mbid=mbid(rng)))
        neg("discogs", 0, 1, "video-game soundtrack with the film's title")
        neg("musicbrainz", 0, 1, "video-game soundtrack with the film's title")
    elif kind == "story_record":
        with_soundtrack(f0, 0)
        genres, styles = v.discogs_story_sets.draw(rng)
        title = f"The Story Of {discogs_case(f0.title)}" if rng.random() < 0.5 else discogs_case(f0.title)
        discogs.append(PlantedWork(title, [VARIOUS_DISCOGS], f0.year, genres, styles))
        neg("discogs", 0, 1, "storybook record of the film")
    elif kind == "film_hint_single":
        song = album_title(rng, v)
        artist = v.artists.draw(rng)
        year = min(LAST_YEAR, f0.year + pick(rng, SOUNDTRACK_YEAR_OFFSETS))
        genres, styles = v.discogs_soundtrack_sets.draw(rng)
        discogs.append(PlantedWork(f'{discogs_case(song)} (From "{discogs_case(f0.title)}")', [artist], year, genres,
                                   styles, single=True, standalone=True))
        mb.append(PlantedWork(f'{song} (From "{f0.title}")', [artist], year, primary_type="Single", mbid=mbid(rng)))
        pos("discogs", 0, 0, "single from the film, film named in the title, release without master")
        pos("musicbrainz", 0, 0, "single from the film, film named in the title")
    elif kind == "original_title":
        with_soundtrack(f0, 0, "album under the film's original title", base=f0.original_title)
    elif kind == "franchise_prefix":
        franchise = " ".join(film_title(rng, v).split()[:2])
        with_soundtrack(f0, 0, "album title carries a franchise prefix", base=f"{franchise}: {f0.title}")
    elif kind == "unrelated_single":
        d, _ = with_soundtrack(f0, 0)
        song = PlantedWork(album_title(rng, v), [f0.composers[0]], f0.year, primary_type="Single", mbid=mbid(rng))
        mb.append(song)
        pos("musicbrainz", 0, 1, "single by the film's composer whose title shares nothing with the film")
    elif kind == "typography":
        base = f0.title
        for plain, fancy in TYPOGRAPHIC:
            if plain in base and rng.random() < 0.7:
                base = base.replace(plain, fancy)
        if base == f0.title:
            base = base.upper() if rng.random() < 0.5 else base.replace(" ", "_")
        with_soundtrack(f0, 0, "typographic punctuation, case or underscores differ", base=base)
    else:  # pragma: no cover - CASE_KINDS and this function are edited together
        raise ValueError(kind)
    twin = None
    if plan.twin_host(c) is not None:
        films.append(new_film(rng, v))
        twin, _ = soundtrack_works(rng, v, films[-1])
        twin.standalone, twin.twin, twin.reissue_years = True, True, ()
        truth.append(("discogs", len(films) - 1, -1, 1,
                      f"planted {kind}: twin: master-less release numbered like the case's master, another film's"))
    return Case(c, kind, films, discogs, mb, truth, twin)


def _replace_year(text: str, year: int) -> str:
    """'(1995 original Broadway cast)' with the cast recording's own year."""
    return re.sub(r"\b(19|20)\d\d\b", str(year), text, count=1)


class CaseCache:
    """The last planned case: streams reach a case's slots one after another, so one entry is enough."""

    def __init__(self, plan: Plan, vocab: Vocabulary):
        self.plan, self.vocab, self.case = plan, vocab, None

    def get(self, c: int) -> Case:
        if self.case is None or self.case.index != c:
            self.case = plan_case(self.plan, self.vocab, c)
        return self.case

    def get_other(self, c: int) -> Case:
        """Case c without evicting the cached one (a twin sits far from its case's slots)."""
        return self.case if self.case is not None and self.case.index == c else plan_case(self.plan, self.vocab, c)


# --- TMDB ------------------------------------------------------------------------------------------------------------
def tmdb_record(plan: Plan, v: Vocabulary, rng: Random, i: int, film: PlantedFilm | None) -> dict:
    if film is None:
        film = new_film(rng, v, foreign=rng.random() < v.original_title_differs_share)
        composers = [("Unknown" if rng.random() < v.unknown_composer_share else v.composers.draw(rng))
                     for _ in range(v.tmdb_composer_counts.draw(rng))]
        date = "" if rng.random() < v.release_date_missing_share else _date(rng, film.year)
        numbers = v.tmdb_numbers
    else:
        composers, date = film.composers, _date(rng, film.year)
        numbers = v.tmdb_numbers_labelled   # a planted film has a soundtrack: popularity as such films have it
    popularity, vote_count, vote_average, runtime, budget, revenue = numbers.draw(rng)
    record = {"id": plan.tmdb_id(i), "imdb_id": None if rng.random() < v.imdb_missing_share else plan.imdb_id(i),
              "title": film.title, "original_title": film.original_title}
    if film.language is not None:
        record["original_language"] = film.language
    record.update({"release_date": date, "genres": film.genres or v.tmdb_genres.draw(rng), "popularity": popularity,
                   "vote_count": vote_count, "vote_average": vote_average, "runtime": runtime, "budget": budget,
                   "revenue": revenue,
                   "credits": {"crew": [{"job": "Original Music Composer", "department": "Sound", "name": n}
                                        for n in composers]}})
    if film.language is None:  # the sample's quirk: a null original_language comes last
        record["original_language"] = None
    return record


def _date(rng: Random, year: int) -> str:
    return f"{year}-{1 + int(rng.random() * 12):02d}-{1 + int(rng.random() * 28):02d}"


def iter_tmdb(plan: Plan, v: Vocabulary, shard: int) -> Iterator[dict]:
    """TMDB films of one shard, one at a time (planted films at their case slots)."""
    rng = Random(f"{plan.seed}:tmdb:{shard}")
    cases = CaseCache(plan, v)
    lo, hi = plan.shard_range("tmdb", shard)
    for i in range(lo, hi):
        slot = plan.case_of(i, plan.films)
        film = None
        if slot:
            case = cases.get(slot[0])
            film = case.films[slot[1]] if slot[1] < len(case.films) else None
        yield tmdb_record(plan, v, rng, i, film)


# --- MusicBrainz -----------------------------------------------------------------------------------------------------
def mb_date(rng: Random, v: Vocabulary, year: int | None, shape: str | None) -> str:
    shape = shape or v.mb_date_shapes.draw(rng)
    if year is None or shape == "empty":
        return ""
    if shape == "year":
        return str(year)
    if shape == "year_month":
        return f"{year}-{1 + int(rng.random() * 12):02d}"
    if shape == "jan1":
        return f"{year}-01-01"
    return _date(rng, year)


def mb_credits(rng: Random, v: Vocabulary, names: list[str]) -> list[dict]:
    out = []
    for n, name in enumerate(names):
        if name == "Various Artists":
            out.append(dict(v.mb_various_credit))
            continue
        artist = {"id": mbid(rng), "name": name} if rng.random() < v.mb_artist_id_share else {"name": name}
        out.append({"name": name, "joinphrase": v.mb_joinphrases.draw(rng) if n < len(names) - 1 else "",
                    "artist": artist})
    return out


def mb_record(rng: Random, v: Vocabulary, soundtrack_share: float, work: PlantedWork | None) -> dict:
    if work is None:
        year = v.release_years.draw(rng)
        if rng.random() < soundtrack_share:
            title = soundtrack_title(rng, v, film_title(rng, v), "musicbrainz")
            primary, secondary = v.mb_primary_types.draw(rng), list(v.mb_secondary_types.draw(rng))
            names = (["Various Artists"] if rng.random() < v.mb_various_share
                     else [v.composers.draw(rng) for _ in range(v.mb_credit_counts.draw(rng))])
        else:
            title = album_title(rng, v)
            primary, secondary = pick(rng, MB_PRIMARY_POOL), list(pick(rng, MB_SECONDARY_POOL))
            names = [v.artists.draw(rng) for _ in range(v.mb_credit_counts.draw(rng))]
        return {"id": mbid(rng), "title": title, "primary-type": primary, "secondary-types": secondary,
                "first-release-date": mb_date(rng, v, year, None), "artist-credit": mb_credits(rng, v, names),
                "tags": (v.mb_tags if secondary and "Soundtrack" in secondary[-1] else v.mb_plain_tags).draw(rng)}
    return {"id": work.mbid, "title": work.title, "primary-type": work.primary_type,
            "secondary-types": list(work.secondary_types),
            "first-release-date": mb_date(rng, v, work.year, work.date_shape),
            "artist-credit": mb_credits(rng, v, work.artists),
            "tags": (v.mb_tags if work.secondary_types else v.mb_plain_tags).draw(rng)}


def iter_musicbrainz(plan: Plan, v: Vocabulary, shard: int) -> Iterator[dict]:
    rng = Random(f"{plan.seed}:musicbrainz:{shard}")
    cases = CaseCache(plan, v)
    planted_share = planted_counts(plan, v)["musicbrainz_groups"] / plan.mb_groups
    background_share = max(0.0, MB_SOUNDTRACK_SHARE - planted_share) / max(1e-9, 1 - planted_share)
    lo, hi = plan.shard_range("musicbrainz", shard)
    for j in range(lo, hi):
        slot = plan.case_of(j, plan.mb_groups)
        work = None
        if slot:
            case = cases.get(slot[0])
            work = case.mb[slot[1]] if slot[1] < len(case.mb) else None
        yield mb_record(rng, v, background_share, work)


# --- Discogs dump ----------------------------------------------------------------------------------------------------
def artist_id(name: str) -> int:
    return 1 + zlib.crc32(name.encode("utf-8")) % 9_000_000


def artists_xml(rng: Random, v: Vocabulary, names: list[str]) -> str:
    parts = ["<artists>"]
    for n, name in enumerate(names):
        join = escape(v.discogs_joins.draw(rng)) if n < len(names) - 1 else ""
        parts.append(f"<artist><id>{artist_id(name)}</id><name>{escape(name)}</name><anv/>"
                     f"{f'<join>{join}</join>' if join else '<join/>'}<role/><tracks/></artist>")
    parts.append("</artists>")
    return "".join(parts)


def genres_xml(genres, styles) -> str:
    out = "<genres>" + "".join(f"<genre>{escape(g)}</genre>" for g in genres) + "</genres>" if genres else "<genres/>"
    if styles:
        out += "<styles>" + "".join(f"<style>{escape(s)}</style>" for s in styles) + "</styles>"
    return out


def released_value(rng: Random, v: Vocabulary, year: int | None) -> str:
    if year is None:
        return ""
    shape = v.released_shapes.draw(rng)
    if shape == "none":
        return ""
    if shape == "year":
        return str(year)
    if shape == "year_only_date":
        return f"{year}-00-00"
    if shape == "month":
        return f"{year}-{1 + int(rng.random() * 12):02d}-00"
    return _date(rng, year)


@dataclass
class DiscogsWork:
    """What a master and its releases share."""
    title: str
    artists_xml: str
    genres_xml: str
    year: int | None
    credit: str | None = None
    soundtrack: bool = False


def background_work(rng: Random, v: Vocabulary, stage_share: float) -> DiscogsWork:
    year = v.release_years.draw(rng)
    if rng.random() < stage_share:
        genres, styles = v.discogs_soundtrack_sets.draw(rng)
        composer = v.composers.draw(rng)
        title = soundtrack_title(rng, v, film_title(rng, v), "discogs")
        names = [VARIOUS_DISCOGS] if rng.random() < v.discogs_various_share else [discogs_name(rng, composer)]
        return DiscogsWork(title, artists_xml(rng, v, names), genres_xml(genres, styles), year, composer, True)
    genres, styles = v.discogs_other_sets.draw(rng)
    names = [v.artists.draw(rng) for _ in range(v.discogs_artist_counts.draw(rng))]
    return DiscogsWork(album_title(rng, v), artists_xml(rng, v, names), genres_xml(genres, styles), year)


def planted_work(rng: Random, v: Vocabulary, work: PlantedWork) -> DiscogsWork:
    return DiscogsWork(work.title, artists_xml(rng, v, work.artists), genres_xml(work.genres, work.styles),
                       work.year, work.credit, STAGE_AND_SCREEN in work.genres)


def release_xml(rng: Random, v: Vocabulary, release_id: int, work: DiscogsWork, released_year: int | None,
                master: tuple[int, bool] | None, single: bool = False) -> str:
    real = (v.single_releases if single else v.dump_releases).draw(rng)
    extra = real.extraartists
    if work.credit:
        credit = (f"<artist><id>{artist_id(work.credit)}</id><name>{escape(work.credit)}</name><anv/><join/>"
                  f"<role>{escape(v.composer_roles.draw(rng))}</role><tracks/></artist>")
        extra = (f"<extraartists>{credit}</extraartists>" if extra == "<extraartists/>"
                 else extra.replace("<extraartists>", "<extraartists>" + credit, 1))
    country = v.countries.draw(rng)
    released = released_value(rng, v, released_year)
    master_xml = (f'<master_id is_main_release="{"true" if master[1] else "false"}">{master[0]}</master_id>'
                  if master else "")
    return "".join((
        f'<release id="{release_id}" status="Accepted">', real.images, work.artists_xml,
        f"<title>{escape(work.title)}</title>", real.labels, extra, real.formats, work.genres_xml,
        f"<country>{escape(country)}</country>" if country else "",
        f"<released>{released}</released>" if released else "", real.notes,
        f"<data_quality>{v.data_quality.draw(rng)}</data_quality>", master_xml,
        real.tail if KEEP_RELEASE_VIDEOS else real.tail_no_videos, "</release>\n"))


def master_xml(rng: Random, v: Vocabulary, master_id: int, main_release: int, work: DiscogsWork) -> str:
    videos = v.master_videos.draw(rng) if rng.random() < v.master_video_share else ""
    year = work.year if work.year is not None else 0
    return (f'<master id="{master_id}"><main_release>{main_release}</main_release>{v.master_images.draw(rng)}'
            f"{work.artists_xml}{work.genres_xml}<year>{year}</year><title>{escape(work.title)}</title>"
            f"<data_quality>{v.data_quality.draw(rng)}</data_quality>{videos}</master>\n")


def reissue_year(rng: Random, year: int | None) -> int | None:
    if year is None or rng.random() < REISSUE_SAME_YEAR_SHARE:
        return year
    return min(LAST_YEAR, year + 1 + int(rng.random() * REISSUE_MAX_YEARS))


def iter_discogs(plan: Plan, v: Vocabulary, shard: int) -> Iterator[tuple[str, str]]:
    """('master' | 'release', xml) for one shard's master slots: each master, then the releases of its slot.

    Slot m holds releases slot_start(m) .. slot_start(m + 1) - 1: the first is the master's main release, the
    others belong to the master (member_share) or stand alone without master, like 38% of the real dump.
    """
    rng = Random(f"{plan.seed}:discogs:{shard}")
    cases = CaseCache(plan, v)
    counts = planted_counts(plan, v)
    planted_share = counts["discogs_stage_releases"] / plan.releases
    stage_share = max(0.0, v.stats["discogs_soundtrack_share"] - planted_share) / max(1e-9, 1 - planted_share)
    member_share = plan.member_share
    lo, hi = plan.shard_range("discogs", shard)
    for m in range(lo, hi):
        slot = plan.case_of(m, plan.masters)
        planted = None
        if slot:
            case = cases.get(slot[0])
            planted = case.discogs[slot[1]] if slot[1] < len(case.discogs) else None
        r0, r1 = plan.slot_start(m), plan.slot_start(m + 1)
        if planted is not None and not planted.standalone:
            work = planted_work(rng, v, planted)
            main_year = planted.main_release_year or planted.year
            reissues = list(planted.reissue_years)
        else:
            work = background_work(rng, v, stage_share)
            main_year, reissues = work.year, None
        yield "master", master_xml(rng, v, plan.master_id(m), plan.release_id(r0), work)
        yield "release", release_xml(rng, v, plan.release_id(r0), work, main_year, (plan.master_id(m), True))
        for r in range(r0 + 1, r1):
            twin_case = plan.twin_at(r) if r % 4 == 0 else None
            if twin_case is not None:
                twin = cases.get_other(twin_case).twin
                yield "release", release_xml(rng, v, plan.release_id(r) - 1, planted_work(rng, v, twin), twin.year,
                                             None)
            elif planted is not None and planted.standalone and r == r0 + 1:
                yield "release", release_xml(rng, v, plan.release_id(r), planted_work(rng, v, planted), planted.year,
                                             None, single=planted.single)
            elif reissues is not None and reissues:
                yield "release", release_xml(rng, v, plan.release_id(r), work, reissues.pop(0),
                                             (plan.master_id(m), False))
            elif reissues is None and rng.random() < member_share:
                yield "release", release_xml(rng, v, plan.release_id(r), work, reissue_year(rng, work.year),
                                             (plan.master_id(m), False))
            else:
                alone = background_work(rng, v, stage_share)
                yield "release", release_xml(rng, v, plan.release_id(r), alone, alone.year, None)


# Planted counts are estimated from the first this many cases (every kind comes up many times in them), so that
# starting a stream costs the same at any size.
PLANTED_COUNT_SAMPLE = 2000
_PLANTED_COUNTS: dict = {}


def planted_counts(plan: Plan, v: Vocabulary) -> dict[str, float]:
    """Expected planted Stage & Screen Discogs releases and planted MusicBrainz soundtrack groups, so that background
    records are drawn as soundtracks just often enough to keep the real shares."""
    key = (plan.seed, plan.cases)
    if key not in _PLANTED_COUNTS:
        sampled = min(plan.cases, PLANTED_COUNT_SAMPLE)
        stage, groups = 0, 0
        for c in range(sampled):
            case = plan_case(plan, v, c)
            stage += sum(1 + len(w.reissue_years) for w in case.discogs + [case.twin] * bool(case.twin)
                         if STAGE_AND_SCREEN in w.genres)
            groups += sum(1 for w in case.mb if any("Soundtrack" in t for t in w.secondary_types))
        scale = plan.cases / sampled if sampled else 0.0
        _PLANTED_COUNTS[key] = {"discogs_stage_releases": stage * scale, "musicbrainz_groups": groups * scale}
    return _PLANTED_COUNTS[key]


# --- truth -----------------------------------------------------------------------------------------------------------
def iter_truth(plan: Plan, v: Vocabulary) -> Iterator[dict]:
    """Truth rows of every planted case, in case order (same columns as data/eval/dev_labels.csv)."""
    for c in range(plan.cases):
        case = plan_case(plan, v, c)
        for source, fk, wk, label, note in case.truth:
            tmdb_id = plan.tmdb_id(plan.case_slot_index(c, fk, plan.films))
            if source == "musicbrainz":
                release_id, kind = case.mb[wk].mbid, "release_group"
            elif wk < 0:
                release_id, kind = plan.master_id(plan.case_slot_index(c, 0, plan.masters)), "release"
            else:
                m = plan.case_slot_index(c, wk, plan.masters)
                work = case.discogs[wk]
                release_id, kind = ((plan.release_id(plan.slot_start(m) + 1), "release") if work.standalone
                                    else (plan.master_id(m), "master"))
            yield {"source": source, "tmdb_id": tmdb_id, "release_id": release_id, "label": label, "note": note,
                   "release_kind": kind}


# --- writing ---------------------------------------------------------------------------------------------------------
class GzipTextWriter:
    """Deterministic gzip (mtime 0, no name in the header) written in buffered chunks, renamed into place at close."""

    def __init__(self, path: Path, compresslevel: int, xml: bool):
        self.path, self.tmp = path, path.with_name(path.name + ".tmp")
        self.raw = open(self.tmp, "wb")
        self.gz = gzip.GzipFile(filename="", mode="wb", fileobj=self.raw, mtime=0, compresslevel=compresslevel)
        self.buffer: list[str] = []
        self.size = 0
        self.xml = xml
        self.text_bytes = 0

    def write(self, text: str) -> None:
        self.buffer.append(text)
        self.size += len(text)
        if self.size >= WRITE_BUFFER_CHARS:
            self.flush()

    def flush(self) -> None:
        text = "".join(self.buffer)
        data = text.encode("ascii", "xmlcharrefreplace") if self.xml else text.encode("utf-8")
        self.text_bytes += len(data)
        self.gz.write(data)
        self.buffer, self.size = [], 0

    def close(self) -> int:
        self.flush()
        self.gz.close()
        self.raw.close()
        os.replace(self.tmp, self.path)
        return self.path.stat().st_size


def shard_name(stem: str, ext: str, s: int, n: int) -> str:
    return f"{stem}{'' if n == 1 else f'.part{s:03d}'}.{ext}"


_VOCAB: Vocabulary | None = None


def vocabulary(sample_dir=SAMPLE_DIR) -> Vocabulary:
    global _VOCAB
    if _VOCAB is None:
        _VOCAB = load_vocabulary(sample_dir)
    return _VOCAB


def write_shard(task: tuple) -> dict:
    """Write one shard of one source; returns its counts (run in a worker process)."""
    source, s, plan, out = task
    v = vocabulary()
    v.film_works.law = plan.title_law
    out = Path(out)
    start = time.perf_counter()
    ids: dict[str, list[int]] = {}
    if source == "tmdb":
        path = out / "tmdb" / shard_name("tmdb_movies", "jsonl.gz", s, plan.shards["tmdb"])
        w = GzipTextWriter(path, plan.compresslevel, xml=False)
        n = 0
        for record in iter_tmdb(plan, v, s):
            w.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
        files = [{"path": str(path.relative_to(out)), "records": n, "bytes": w.close(), "text_bytes": w.text_bytes}]
        stats = {"films": n}
    elif source == "musicbrainz":
        path = out / "musicbrainz" / shard_name("musicbrainz_release_groups", "jsonl.gz", s, plan.shards[source])
        w = GzipTextWriter(path, plan.compresslevel, xml=False)
        n = soundtracks = 0
        for record in iter_musicbrainz(plan, v, s):
            w.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
            soundtracks += any("Soundtrack" in t for t in record["secondary-types"])
        files = [{"path": str(path.relative_to(out)), "records": n, "bytes": w.close(), "text_bytes": w.text_bytes}]
        stats = {"mb_groups": n, "mb_soundtrack_groups": soundtracks}
    else:
        n_shards = plan.shards["discogs"]
        paths = {kind: out / "discogs" / shard_name(f"discogs_{DUMP_DATE}_{kind}s", "xml.gz", s, n_shards)
                 for kind in ("master", "release")}
        writers = {kind: GzipTextWriter(p, plan.compresslevel, xml=True) for kind, p in paths.items()}
        writers["master"].write("<masters>\n")
        writers["release"].write("<releases>\n")
        counts = {"master": 0, "release": 0}
        stage = {"master": 0, "release": 0}
        stage_masters, stage_masterless, masterless, numbered_like_a_master = [], [], 0, 0
        highest_master = plan.master_id(plan.masters - 1)
        for kind, text in iter_discogs(plan, v, s):
            writers[kind].write(text)
            counts[kind] += 1
            is_stage = "<genre>Stage &amp; Screen</genre>" in text
            stage[kind] += is_stage
            if kind == "master":
                if is_stage:
                    stage_masters.append(_record_id(text))
            elif "<master_id" not in text:
                masterless += 1
                number = _record_id(text)
                if number <= highest_master and plan.master_index(number) is not None:
                    numbered_like_a_master += 1
                    if is_stage:
                        stage_masterless.append(number)
        writers["master"].write("</masters>\n")
        writers["release"].write("</releases>\n")
        files = [{"path": str(paths[k].relative_to(out)), "records": counts[k], "bytes": writers[k].close(),
                  "text_bytes": writers[k].text_bytes} for k in ("master", "release")]
        stats = {"masters": counts["master"], "releases": counts["release"],
                 "stage_masters": stage["master"], "stage_releases": stage["release"],
                 "masterless_releases": masterless, "masterless_numbered_like_a_master": numbered_like_a_master}
        ids = {"stage_masters": stage_masters, "stage_masterless": stage_masterless}
    return {"source": source, "shard": s, "files": files, "stats": stats, "seconds": time.perf_counter() - start,
            "ids": ids}


def _record_id(text: str) -> int:
    """The id attribute of a generated `<release id="..."` / `<master id="..."` record."""
    start = text.index('id="') + 4
    return int(text[start:text.index('"', start)])


GENERATED_GLOBS = ("tmdb/*.jsonl.gz", "discogs/*.xml.gz", "musicbrainz/*.jsonl.gz", "truth.csv", "generation.json")


def prepare_out_dir(out: Path, overwrite: bool) -> None:
    existing = sorted(p for pattern in GENERATED_GLOBS for p in out.glob(pattern))
    if existing and not overwrite:
        raise SystemExit(f"{out} already holds generated inputs ({existing[0].name} ...); pass --overwrite")
    for p in existing:
        p.unlink()
    for sub in ("tmdb", "discogs", "musicbrainz"):
        (out / sub).mkdir(parents=True, exist_ok=True)


def write_truth(plan: Plan, v: Vocabulary, out: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    with open(out / "truth.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=TRUTH_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in iter_truth(plan, v):
            writer.writerow(row)
            key = f"{row['source']}_{'positives' if row['label'] else 'negatives'}"
            counts[key] = counts.get(key, 0) + 1
    return counts


def generate(films: int, releases: int, masters: int, mb_groups: int, out: str | Path, seed: int = 7,
             workers: int | None = None, shards: int | None = None, cases: int | None = None,
             compresslevel: int = 6, overwrite: bool = False, sample_dir=SAMPLE_DIR, title_law: str = "work") -> dict:
    """Generate every input file and truth.csv under `out`; returns the generation summary."""
    start = time.perf_counter()
    v = vocabulary(sample_dir)
    plan = make_plan(films, releases, masters, mb_groups, seed, v, cases=cases, shards=shards,
                     compresslevel=compresslevel, title_law=title_law)
    out = Path(out)
    prepare_out_dir(out, overwrite)
    truth = write_truth(plan, v, out)
    planted_counts(plan, v)  # once in the parent; forked workers inherit it
    tasks = [(source, s, plan, str(out)) for source in ("discogs", "musicbrainz", "tmdb")
             for s in range(plan.shards[source])]
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    if workers == 1:
        results = [write_shard(t) for t in tasks]
    else:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            results = list(pool.imap_unordered(write_shard, tasks))
    results.sort(key=lambda r: (r["source"], r["shard"]))
    totals: dict[str, int] = {}
    for r in results:
        for k, n in r["stats"].items():
            totals[k] = totals.get(k, 0) + n
    files = [f for r in results for f in r["files"]]
    stage_masters = {i for r in results for i in r["ids"].get("stage_masters", ())}
    stage_twins = sum(1 for r in results for i in r["ids"].get("stage_masterless", ()) if i in stage_masters)
    summary = {
        "generator": "bench/generate_scale.py",
        "arguments": {"films": films, "releases": releases, "masters": masters, "mb_groups": mb_groups, "seed": seed,
                      "cases": plan.cases, "shards": plan.shards, "compresslevel": compresslevel,
                      "title_law": title_law},
        "counts": totals,
        "shares": {
            "discogs_stage_and_screen_releases": round(totals["stage_releases"] / releases, 4),
            "discogs_stage_and_screen_masters": round(totals["stage_masters"] / masters, 4),
            "musicbrainz_soundtrack_groups": round(totals["mb_soundtrack_groups"] / mb_groups, 4),
        },
        "discogs_id_collisions": {
            "masterless_releases": totals["masterless_releases"],
            "masterless_numbered_like_a_master": totals["masterless_numbered_like_a_master"],
            "share": round(totals["masterless_numbered_like_a_master"] / max(1, totals["masterless_releases"]), 4),
            "stage_and_screen_both": stage_twins,
            "planted_twins": sum(1 for c in range(plan.cases) if plan.twin_host(c) is not None),
        },
        "truth": truth,
        "files": files,
        "bytes": sum(f["bytes"] for f in files),
        "vocabulary": v.stats,
    }
    (out / "generation.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    summary["seconds"] = round(time.perf_counter() - start, 2)
    summary["cpu_seconds_in_shards"] = round(sum(r["seconds"] for r in results), 2)
    summary["workers"] = workers
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--films", type=int, required=True, help="TMDB films")
    parser.add_argument("--releases", type=int, required=True, help="Discogs dump releases")
    parser.add_argument("--masters", type=int, required=True, help="Discogs dump masters (at most releases/2)")
    parser.add_argument("--mb-groups", type=int, default=None,
                        help="MusicBrainz release groups (default: films x 3.5, the real ratio)")
    parser.add_argument("--out", required=True, help="output folder (the pipeline's --input-dir)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores); output is the same")
    parser.add_argument("--shards", type=int, default=None, help="files per source (default: by size)")
    parser.add_argument("--cases", type=int, default=None, help="planted cases (default: 2%% of films, capped)")
    parser.add_argument("--compresslevel", type=int, default=6, help="gzip level (6 = gzip's default)")
    parser.add_argument("--overwrite", action="store_true", help="replace generated files already in --out")
    parser.add_argument("--title-law", choices=TITLE_LAWS, default="work",
                        help="how film titles are shared past the real list (scale_vocab.WORK_SHAPE, POOL_SHARE)")
    args = parser.parse_args(argv)
    summary = generate(args.films, args.releases, args.masters, args.mb_groups or round(args.films * 3.5), args.out,
                       seed=args.seed, workers=args.workers, shards=args.shards, cases=args.cases,
                       compresslevel=args.compresslevel, overwrite=args.overwrite, title_law=args.title_law)
    records = summary["counts"]
    total = records["films"] + records["releases"] + records["masters"] + records["mb_groups"]
    print(json.dumps({"out": str(args.out), "seconds": summary["seconds"], "workers": summary["workers"],
                      "records": total, "records_per_s": round(total / summary["seconds"]),
                      "bytes": summary["bytes"], "shares": summary["shares"], "truth": summary["truth"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
