"""Vocabulary for the scale generator, learnt from the real data in `data/sample`; only title words past the
sample's are minted (issue 25: a real catalogue's vocabulary keeps growing with its size, the sample's cannot).

`load_vocabulary(sample_dir)` reads the bundled sample once (a few seconds, a few tens of MB) and keeps what
the generator recombines:

- title templates: real film titles (TMDB + MovieLens) and album/track titles (Discogs dump), tokenised so that
  each content word can be swapped for another real word while articles, numbers, sequel numerals and
  punctuation stay where they were;
- word pools per script, weighted by the words' real frequency in the sample's titles (Zipf-like: 'love', 'man',
  'night' come up as often as in life), plus, for the Good-Turing share of unseen words, a power-law draw from an
  unbounded lexicon (the sample's words, then minted ones) so the vocabulary grows like real titles' (`WordPools`);
- film titles as works (`FilmWorks`): films share a title when they draw the same work, with the law fitted on
  MovieLens' shared-title curve; planted films' TMDB numbers from films with a labelled soundtrack, on one
  popularity scale (`POPULARITY_2017_TO_RECENT`);
- real qualifiers: soundtrack boilerplate ('Original Motion Picture Soundtrack'), edition words ('Deluxe
  Edition'), stage-cast and game qualifiers, each with its observed frequency and separator;
- real person names (composers, artists, MusicBrainz artist credits), genre/style sets, formats, labels,
  countries, data-quality values, date shapes, and verbatim XML fragments (tracklists, identifiers, companies,
  videos, images, notes) that give generated dump records the real dump's size and compressibility.

Everything is ordered deterministically (file order or sorted), never by set or dict-of-set iteration, so the
generator's output depends only on its arguments.
"""
from __future__ import annotations

import csv
import glob
import gzip
import html
import json
import math
import os
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Sequence

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DIR = REPO / "data" / "sample"
LABELS = REPO / "data" / "eval" / "dev_labels.csv"

# Function words kept in place when a title is recombined (English, French, Spanish, Italian, German articles,
# prepositions and pronouns: the words that open most real titles and must not be swapped for content words).
STOPWORDS = frozenset("""
a an the of and or in on at to for from with by into over under as is it its i you he she we they my your his her
our their me him us them this that these those be are was not no all one
le la les l de des du d et en un une au aux el los las del y con por para lo il gli di da e der die das den dem des
ein eine und von zu im mit
""".split())
ROMAN_NUMERAL = re.compile(r"^(?:II|III|IV|V|VI|VII|VIII|IX|X|XI|XII|XIII)$")
# A word: letters of any script with inner apostrophes ("Don't", "L'amour"); everything else is literal text.
TOKEN_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*|\d+|[^\w]+|_", re.UNICODE)
WORD_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*", re.UNICODE)

SOUNDTRACK_WORDS = re.compile(r"soundtrack|score|motion picture|music from|from the .*film|\bost\b|original music",
                              re.I)
CAST_WORDS = re.compile(r"\bcast\b", re.I)
GAME_WORDS = re.compile(r"\bgame\b", re.I)
EDITION_WORDS = re.compile(r"\b(?:edition|remaster(?:ed)?|expanded|anniversary)\b", re.I)
# Edition qualifiers longer than this are track or video descriptions, not a title's edition note.
EDITION_MAX_CHARS = 40

# Stage cast and game qualifiers when the sample holds none of that kind (it holds several of each today; the
# fallbacks keep the generator working on a smaller sample).
FALLBACK_CAST_QUALIFIERS = (("(", "Original Broadway Cast Recording", ")"),)
FALLBACK_GAME_QUALIFIERS = (("(", "Original Game Soundtrack", ")"),)
COMPOSER_ROLE = re.compile(r"^(?:Composed By|Music By|Score)")
# Discogs has a 'Video Game Music' style (Stage & Screen); the 1,000-release dump sample holds no game album.
VIDEO_GAME_STYLE = "Video Game Music"
STAGE_AND_SCREEN = "Stage & Screen"
# Discogs styles that make a Stage & Screen record a film soundtrack (as the pipeline's dump filter reads them).
SOUNDTRACK_STYLES = ("Soundtrack", "Score")


def script_of(word: str) -> str:
    """Unicode script of a word's first letter ('LATIN', 'CJK', 'HANGUL', 'CYRILLIC', ...)."""
    try:
        return unicodedata.name(word[0]).split()[0]
    except (ValueError, IndexError):
        return "OTHER"


def case_style(word: str) -> str:
    if len(word) > 1 and word.isupper():
        return "upper"
    if word[:1].isupper():
        return "title"
    return "lower"


def apply_case(word: str, style: str) -> str:
    if style == "upper":
        return word.upper()
    if style == "title":
        return word[:1].upper() + word[1:]
    return word


class Pool:
    """Draw items with their observed frequency in O(1): the items are expanded by count once at load."""

    def __init__(self, counts: Counter | Sequence, name: str = "pool"):
        if isinstance(counts, Counter):
            self.items = [item for item, n in counts.items() for _ in range(n)]
        else:
            self.items = list(counts)
        if not self.items:
            raise ValueError(f"empty vocabulary pool {name!r}: the sample lacks the data it is learnt from")
        self.distinct = len(set(map(repr, self.items)))

    def draw(self, rng: Random):
        return self.items[int(rng.random() * len(self.items))]

    def __len__(self) -> int:
        return len(self.items)


# --- words the sample never saw ---------------------------------------------------------------------------------------
# Issue 25's decision: the generator may mint title words. A real catalogue's title vocabulary keeps growing with its
# size (Heaps' law: about 200,000 distinct words at a million titles by the fit on MovieLens' titles), while the
# sample holds about 21,000 words. Minted words are letters only, consonant-vowel syllables closed by a consonant
# ('bozalen'), so the parse of a minted word back into syllables is unique and two indices below MINT_DIRECT_INDICES
# never mint the same word.
MINT_CONSONANTS = "bdfgklmnprstvz"
MINT_VOWELS = "aeiou"
MINT_FINALS = "nrslt"
MINT_SYLLABLES = tuple(c + v for c in MINT_CONSONANTS for v in MINT_VOWELS)
# Indices beyond this (a power-law draw can be astronomically large) are hashed into the four-syllable range, so a
# minted word has at most nine letters; two hashed indices share a word with odds of about 1 in 100 million.
MINT_DIRECT_INDICES = len(MINT_FINALS) * len(MINT_SYLLABLES) ** 3
MINT_HASHED_INDICES = len(MINT_FINALS) * len(MINT_SYLLABLES) ** 4 - MINT_DIRECT_INDICES
_MINT_HASH = 0x9E3779B97F4A7C15

# An unseen title word (the Good-Turing share, see WordPools) is the word of rank r in an unbounded lexicon: the
# sample's own words by frequency, then minted ones, with P(r >= x) = (1 + x / WORD_TAIL_SCALE) ** -WORD_TAIL_SHAPE
# (a Lomax law: its power-law tail makes the number of distinct ranks drawn grow like draws ** shape, Heaps' law).
# Chosen among (shape, scale) = (0.7, 4000), (1, 2000), (2, 5000), (2, 3000), (3, 2000) by the generated film
# titles' vocabulary against the real one (`bench/title_collisions.py`): (2, 3000) is within 7% of the real curve at
# 1,000 to 9,742 titles, at the low end of the extrapolation's band at 100,000 and within 1% of the Heaps fit at
# 1,000,000 (figures in docs/scale.md).
WORD_TAIL_SHAPE = 2.0
WORD_TAIL_SCALE = 3000.0


def minted_word(index: int) -> str:
    """The index-th minted word: 'babalen' ...; distinct indices give distinct words (up to the hashed range)."""
    if index >= MINT_DIRECT_INDICES:
        index = MINT_DIRECT_INDICES + (index * _MINT_HASH >> 7) % MINT_HASHED_INDICES
    final, k = MINT_FINALS[index % len(MINT_FINALS)], index // len(MINT_FINALS)
    syllables = []
    while k or len(syllables) < 2:
        k, digit = divmod(k, len(MINT_SYLLABLES))
        syllables.append(MINT_SYLLABLES[digit])
    return "".join(reversed(syllables)) + final


def lomax_index(rng: Random, shape: float, scale: float) -> int:
    """floor of a Lomax (Pareto II) draw: P(index >= x) = (1 + x / scale) ** -shape."""
    return int(scale * ((1.0 - rng.random()) ** (-1.0 / shape) - 1.0))


@dataclass
class WordPools:
    """Content words per script: frequency-weighted head plus a tail of words the sample never saw.

    The Good-Turing estimate of the chance that the next word is one not seen before is the share of tokens that
    are words seen once (N1/N); with that probability a Latin word is drawn from the unbounded lexicon (the sample's
    words by frequency, then minted words; `WORD_TAIL_SHAPE`), so the vocabulary grows with the number of titles
    as real titles' does, while common words stay exactly as common as in life. Other scripts (a few percent of
    titles) draw uniformly from the sample's words of that script.

    The one content word of a short title in another script is drawn from the words that real short titles are made
    of; Latin one-word film titles are handled per work (`FilmWorks`), so that two works rarely share one by chance.
    """
    head: dict[str, Pool]
    tail: dict[str, list[str]]
    unseen_share: dict[str, float]
    whole_titles: dict[str, list[str]]
    lexicon: list[str] = field(default_factory=list)   # Latin words of the whole sample, most frequent first

    def lexicon_word(self, rank: int) -> str:
        return self.lexicon[rank] if rank < len(self.lexicon) else minted_word(rank - len(self.lexicon))

    def draw(self, rng: Random, script: str) -> str | None:
        if script not in self.head:
            return None
        if rng.random() < self.unseen_share[script]:
            if script == "LATIN" and self.lexicon:
                return self.lexicon_word(lomax_index(rng, WORD_TAIL_SHAPE, WORD_TAIL_SCALE))
            words = self.tail[script]
            return words[int(rng.random() * len(words))]
        return self.head[script].draw(rng)

    def draw_whole_title(self, rng: Random, script: str) -> str | None:
        titles = self.whole_titles.get(script)
        if not titles or rng.random() < self.unseen_share[script]:
            return self.draw(rng, script)
        return titles[int(rng.random() * len(titles))]

    @classmethod
    def from_titles(cls, titles: Sequence[str], lexicon: Counter) -> "WordPools":
        """Pools from real titles; the tail (unseen words) is every word of `lexicon`, the whole sample's."""
        counts = Counter(w.lower() for t in titles for w in content_words(t))
        one_word = Counter(ws[0].lower() for t in titles for ws in [content_words(t)] if len(ws) == 1)
        head, tail, unseen, whole = {}, {}, {}, {}
        for script, words in _by_script(counts).items():
            head[script] = Pool(words, script)
            singles = sum(1 for n in words.values() if n == 1)
            unseen[script] = singles / sum(words.values())
        by_script = _by_script(lexicon)
        for script, words in by_script.items():
            tail[script] = sorted(words)
        for script, words in _by_script(one_word).items():
            whole[script] = sorted(words)
        latin = by_script.get("LATIN", Counter())
        return cls(head, {s: tail.get(s) or sorted(head[s].items) for s in head}, unseen, whole,
                   sorted(latin, key=lambda w: (-latin[w], w)))


# --- film titles as works --------------------------------------------------------------------------------------------
# Real films share titles because they are the same work (remakes, adaptations: 'Hamlet', 'Jane Eyre', 'A Christmas
# Carol'), not because words coincide: in MovieLens two-word titles are shared about as often as one-word ones. So a
# film's title is the title of a work j drawn with P(j >= x) = (1 + x / WORK_SCALE) ** -WORK_SHAPE, and work j's
# title is composed once from its own seeded generator. Fitted by `bench/title_collisions.py` (least squares on the
# log of the exact expected shared-title share of MovieLens subsamples of 250 to 9,742 titles); the fit, its
# extrapolation to a million films and its uncertainty are in docs/scale.md.
WORK_SHAPE = 0.153
WORK_SCALE = 2125.0
# The same real curve read as a pool of classic titles (a share POOL_SHARE of films take one of POOL_TITLES titles at
# random, the others a title of their own) fits it as closely but saturates: 22.9% of films sharing a title at a
# million films, where the work law says 46.8%. `generate_scale.py --title-law pool` draws with it, to measure how
# much the pipeline's recall at full size depends on which reading is right.
POOL_SHARE = 0.229
POOL_TITLES = 6185
TITLE_LAWS = ("work", "pool")


@dataclass
class FilmWorks:
    """Film titles by work index: `title(index(rng))`. A Latin one-word work takes a word of its own (the real
    one-word titles' words first, most frequent first, then the lexicon's by frequency, then minted words), so
    one-word titles are shared when the work is, not by chance."""
    templates: Pool
    words: WordPools
    one_word: list[str]   # the Latin words of real one-word film titles, most frequent first
    law: str = "work"

    def index(self, rng: Random) -> int:
        if self.law == "pool":
            # a title of its own: a work index past every Lomax draw that could plausibly repeat
            return int(rng.random() * POOL_TITLES) if rng.random() < POOL_SHARE else (1 << 62) + rng.getrandbits(60)
        return lomax_index(rng, WORK_SHAPE, WORK_SCALE)

    def title(self, work: int) -> str:
        rng = Random(f"work:{work}")
        template = self.templates.draw(rng)
        slots = [p for p in template if not isinstance(p, str)]
        if len(slots) == 1 and slots[0][0] == "LATIN":
            word = (self.one_word[work] if work < len(self.one_word)
                    else self.words.lexicon_word(work - len(self.one_word)))
            return "".join(p if isinstance(p, str) else apply_case(word, p[1]) for p in template)
        return render_template(template, self.words, rng)



def content_words(title: str) -> list[str]:
    return [w for w in WORD_RE.findall(title) if w.lower() not in STOPWORDS and not ROMAN_NUMERAL.match(w.upper())]


def _by_script(counts: Counter) -> dict[str, Counter]:
    out: dict[str, Counter] = {}
    for word, n in counts.items():
        out.setdefault(script_of(word), Counter())[word] += n
    return out


Template = tuple  # tuple of (literal text) or (script, case style) slots


def tokenise_title(title: str) -> Template:
    """A title as literal pieces and word slots: ('The ', ('LATIN','title'), ' of ', ...)."""
    parts: list = []
    for tok in TOKEN_RE.findall(title):
        if WORD_RE.fullmatch(tok) and tok.lower() not in STOPWORDS and not ROMAN_NUMERAL.match(tok):
            parts.append((script_of(tok), case_style(tok)))
        else:
            parts.append(tok)
    return tuple(parts)


def render_template(template: Template, words: WordPools, rng: Random) -> str:
    draw = words.draw_whole_title if sum(1 for p in template if not isinstance(p, str)) == 1 else words.draw
    out = []
    for part in template:
        if isinstance(part, str):
            out.append(part)
        else:
            script, style = part
            word = draw(rng, script) or words.draw(rng, "LATIN")
            out.append(apply_case(word, style))
    return "".join(out)


def has_slot(template: Template) -> bool:
    """A title made only of function words and numbers ('It', '1917') would be copied verbatim, over and over."""
    return any(not isinstance(p, str) for p in template)


@dataclass(frozen=True)
class Qualifier:
    """Soundtrack/edition/cast boilerplate as it appears after a title: `open + text + close`."""
    open: str
    text: str
    close: str

    def attach(self, title: str) -> str:
        return f"{title}{self.open}{self.text}{self.close}"


def split_qualifier(title: str, pattern: re.Pattern) -> tuple[str, Qualifier] | None:
    """('Glass', Qualifier(': ', 'Original Motion Picture Soundtrack', '')) when the title ends in one."""
    m = re.match(r"^(.*?\S)\s*([\(\[])([^\(\)\[\]]+)([\)\]])\s*$", title)
    if m and pattern.search(m.group(3)):
        return m.group(1), Qualifier(" " + m.group(2), m.group(3).strip(), m.group(4))
    for sep in (": ", " - ", " – "):
        if sep in title:
            head, tail = title.split(sep, 1)
            if pattern.search(tail) and head.strip():
                return head, Qualifier(sep, tail.strip(), "")
    return None


@dataclass(frozen=True)
class DumpRelease:
    """Verbatim XML pieces of one real Discogs dump release (already escaped as in the dump)."""
    images: str
    labels: str
    extraartists: str
    formats: str
    notes: str
    tail: str          # tracklist + identifiers + videos + companies
    tail_no_videos: str
    is_single: bool


@dataclass
class Vocabulary:
    film_templates: Pool
    original_title_templates: Pool        # real original titles that differ from the English title
    album_templates: Pool
    film_words: WordPools
    album_words: WordPools
    composers: Pool
    artists: Pool
    mb_joinphrases: Pool
    discogs_joins: Pool
    film_years: Pool
    release_years: Pool
    tmdb_genres: Pool                     # real genre lists [{'id', 'name'}, ...]
    tmdb_numbers: Pool                    # (popularity, vote_count, vote_average, runtime, budget, revenue)
    tmdb_numbers_labelled: Pool           # the same, of films with a labelled soundtrack (dev-label positives)
    tmdb_composer_counts: Pool
    languages: Pool                       # original_language of films whose original title is the title
    foreign_languages: Pool               # original_language of films whose original title differs
    original_title_differs_share: float
    imdb_missing_share: float
    release_date_missing_share: float
    unknown_composer_share: float
    mb_soundtrack_qualifiers: Pool
    mb_unqualified_share: float
    discogs_soundtrack_qualifiers: Pool
    discogs_unqualified_share: float
    cast_qualifiers: Pool
    game_qualifiers: Pool
    edition_qualifiers: Pool
    mb_date_shapes: Pool                  # 'empty' | 'year' | 'year_month' | 'jan1' | 'full'
    mb_tags: Pool                         # real tag lists [{'name', 'count'}, ...] (mostly empty)
    mb_plain_tags: Pool                   # the same, without tags that say soundtrack/score/film (for other albums)
    mb_primary_types: Pool                # of real soundtrack release groups
    mb_secondary_types: Pool              # as received, including the comma-joined quirk
    mb_various_share: float               # soundtrack groups credited to 'Various Artists'
    mb_various_credit: dict               # the real 'Various Artists' credit object
    discogs_various_share: float          # Discogs soundtrack records whose artist is 'Various'
    composer_roles: Pool                  # Discogs extra-artist roles that name a composer
    mb_artist_id_share: float
    mb_credit_counts: Pool
    discogs_soundtrack_sets: Pool         # (genres, styles) of real Stage & Screen soundtrack records
    discogs_other_sets: Pool              # (genres, styles) of every other real dump record
    discogs_musical_sets: Pool
    discogs_story_sets: Pool
    discogs_artist_counts: Pool
    countries: Pool
    released_shapes: Pool                 # 'year' | 'month' (YYYY-MM-00) | 'full' | 'none' | 'year_only_date'
    data_quality: Pool
    dump_releases: Pool                   # DumpRelease
    single_releases: Pool                 # DumpRelease whose formats say Single / 7"
    master_images: Pool
    master_videos: Pool
    master_video_share: float
    master_year_zero_share: float
    film_works: FilmWorks | None = None
    stats: dict = field(default_factory=dict)


def _read_jsonl(path: str) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _element(record: str, tag: str) -> str:
    """The verbatim `<tag>...</tag>` or `<tag/>` element of a dump record ('' when absent)."""
    m = re.search(rf"<{tag}(?:\s[^>]*)?(?:/>|>.*?</{tag}>)", record, re.S)
    return m.group(0) if m else ""


def _texts(fragment: str, tag: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(rf"<{tag}>([^<]*)</{tag}>", fragment)]


def _movielens_title(raw: str) -> str:
    """'Usual Suspects, The (1995)' -> 'The Usual Suspects'; alternative titles in brackets are dropped."""
    title = re.sub(r"\s*\(\d{4}(?:-\d{4})?\)\s*$", "", raw).strip()
    while re.search(r"\S\s*\([^()]*\)$", title):
        title = re.sub(r"\s*\([^()]*\)$", "", title).strip()
    m = re.match(r"^(.*), (The|A|An|Les|Le|La|L'|Il|El|Die|Der|Das)$", title)
    return f"{m.group(2)} {m.group(1)}".replace("L' ", "L'") if m else title


def _genre_style_set(record: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return tuple(_texts(_element(record, "genres"), "genre")), tuple(_texts(_element(record, "styles"), "style"))


def _is_soundtrack_set(genres: Sequence[str], styles: Sequence[str]) -> bool:
    return STAGE_AND_SCREEN in genres and any(s in SOUNDTRACK_STYLES for s in styles)


# --- TMDB popularity: two vintages in one sample ---------------------------------------------------------------------
# data/sample/tmdb holds films of two vintages (checked against shared/data/sources/tmdb_5000, the Kaggle 2017 export):
# 4,642 carry that export's 2017 popularity unchanged, 1,551 were fetched recently (the 1,390 films without
# original_language and 161 refetched ones), after TMDB changed how popularity is computed. The scales differ: on the
# 161 films seen in both vintages, log(recent) = -0.999 + 0.622 log(2017) (correlation 0.72). 591 of the 600 films
# with a labelled soundtrack are of the recent vintage, so mixing vintages would make them look three times less
# popular than the catalogue (median 3.5 against 8.3) where, on one scale, they are more popular (2017 scale: the 60
# labelled films in tmdb_5000 have median 53 against 12.9 for the 4,803). Every popularity is therefore put on the
# recent scale: 2017 values through the fit. `bench/popularity_vintage.csv` lists the recent-vintage ids;
# `python bench/scale_vocab.py --popularity-vintage PATH/tmdb_5000_movies.csv` recomputes the list and the fit.
POPULARITY_2017_TO_RECENT = (-0.999, 0.622)   # (intercept, slope) of log(recent popularity) on log(2017 popularity)
POPULARITY_VINTAGE = Path(__file__).resolve().parent / "popularity_vintage.csv"


def recent_popularity_ids(path: str | os.PathLike = POPULARITY_VINTAGE) -> set[int]:
    with open(path, encoding="utf-8") as fh:
        return {int(row["tmdb_id"]) for row in csv.DictReader(fh) if row["vintage"] == "recent"}


def recent_scale_popularity(popularity: float | None, recent: bool) -> float | None:
    if popularity is None or recent or popularity <= 0:
        return popularity
    intercept, slope = POPULARITY_2017_TO_RECENT
    return round(math.exp(intercept + slope * math.log(popularity)), 4)


def tmdb_numbers(film: dict, recent_ids: set[int]) -> tuple:
    """(popularity on the recent scale, vote_count, vote_average, runtime, budget, revenue) of a sample film."""
    return (recent_scale_popularity(film.get("popularity"), film["id"] in recent_ids), film.get("vote_count"),
            film.get("vote_average"), film.get("runtime"), film.get("budget"), film.get("revenue"))


def labelled_films(path: str | os.PathLike = LABELS) -> set[int]:
    """TMDB ids of the films with a labelled soundtrack (a positive dev label in either source)."""
    if not Path(path).exists():
        return set()
    with open(path, encoding="utf-8") as fh:
        return {int(r["tmdb_id"]) for r in csv.DictReader(fh) if r.get("label") == "1" and r.get("tmdb_id")}


def popularity_vintage(tmdb_5000_csv: str | os.PathLike, sample_dir: str | os.PathLike = SAMPLE_DIR) -> dict:
    """Which sample films carry the 2017 export's popularity, and the log-log fit of the recent on the 2017 scale."""
    with open(tmdb_5000_csv, encoding="utf-8") as fh:
        old = {int(r["id"]): float(r["popularity"]) for r in csv.DictReader(fh)}
    films = [r for f in sorted(glob.glob(str(Path(sample_dir) / "tmdb" / "*.jsonl.gz"))) for r in _read_jsonl(f)]
    vintage = {f["id"]: ("2017" if f["id"] in old and abs(f["popularity"] - old[f["id"]]) < 1e-6 else "recent")
               for f in films}
    both = [(math.log(old[i]), math.log(f["popularity"])) for i, f in ((f["id"], f) for f in films)
            if i in old and vintage[i] == "recent" and old[i] > 0 and f["popularity"] > 0]
    n = len(both)
    mx, my = sum(x for x, _ in both) / n, sum(y for _, y in both) / n
    sxx = sum((x - mx) ** 2 for x, _ in both)
    sxy = sum((x - mx) * (y - my) for x, y in both)
    syy = sum((y - my) ** 2 for _, y in both)
    slope = sxy / sxx
    return {"vintage": vintage, "pairs": n, "intercept": round(my - slope * mx, 3), "slope": round(slope, 3),
            "correlation": round(sxy / math.sqrt(sxx * syy), 3)}


def _median(values) -> float:
    xs = sorted(v for v in values if v is not None)
    return round(xs[len(xs) // 2], 3) if xs else 0.0


def load_vocabulary(sample_dir: str | os.PathLike = SAMPLE_DIR, labels_path: str | os.PathLike = LABELS) -> Vocabulary:
    sample = Path(sample_dir)
    films = [r for f in sorted(glob.glob(str(sample / "tmdb" / "*.jsonl.gz"))) for r in _read_jsonl(f)]
    groups = [r for f in sorted(glob.glob(str(sample / "musicbrainz" / "*.jsonl.gz"))) for r in _read_jsonl(f)]
    releases_xml = "".join(gzip.open(f, "rt", encoding="ascii").read()
                           for f in sorted(glob.glob(str(sample / "discogs" / "*releases*.xml.gz"))))
    masters_xml = "".join(gzip.open(f, "rt", encoding="ascii").read()
                          for f in sorted(glob.glob(str(sample / "discogs" / "*masters*.xml.gz"))))
    releases = re.findall(r"<release id=.*?</release>", releases_xml, re.S)
    masters = re.findall(r"<master id=.*?</master>", masters_xml, re.S)
    search = []
    for f in sorted(glob.glob(str(sample / "discogs" / "search" / "**" / "*.json"), recursive=True)):
        with open(f, encoding="utf-8") as fh:
            search += json.load(fh).get("results", [])
    movielens_titles = []
    ml_path = sample / "movielens" / "movies.csv"
    if ml_path.exists():
        with open(ml_path, encoding="utf-8") as fh:
            movielens_titles = [_movielens_title(r["title"]) for r in csv.DictReader(fh)]
    if not films or not groups or not releases or not masters:
        raise FileNotFoundError(f"{sample} lacks tmdb/, musicbrainz/ or discogs/ dump samples")
    labelled = labelled_films(labels_path)
    recent = recent_popularity_ids()

    # --- titles and words ---------------------------------------------------------------------------------
    film_titles = [r["title"] for r in films if r.get("title")] + [t for t in movielens_titles if t]
    # A dump record's own title is its first <title> (after the artists); tracks are titled inside <tracklist>;
    # video titles ('Artist - Track (HD)') are left out.
    release_titles = [t for rec in releases for t in _texts(rec, "title")[:1]]
    track_titles = [t for rec in releases for t in _texts(_element(rec, "tracklist"), "title")]
    master_titles = [t for rec in masters for t in _texts(re.sub(r"<videos>.*?</videos>", "", rec, flags=re.S),
                                                          "title")[:1]]
    # Titles whose boilerplate we re-attach ourselves are not templates (it would come twice).
    clean = lambda ts: [t.strip() for t in ts if t.strip() and not SOUNDTRACK_WORDS.search(t)]  # noqa: E731
    film_templates = Pool([tp for t in clean(film_titles) for tp in [tokenise_title(t)] if has_slot(tp)],
                          "film titles")
    original_titles = [r["original_title"] for r in films
                       if r.get("original_title") and r["original_title"] != r["title"]]
    album_templates = Pool([tp for t in clean(release_titles + master_titles + track_titles)
                            for tp in [tokenise_title(t)] if has_slot(tp)], "album titles")
    # Soundtrack titles count with their boilerplate removed: 'Original Motion Picture Soundtrack' words are
    # qualifiers, attached on purpose, never title words.
    mb_bases = [(split_qualifier(g["title"], SOUNDTRACK_WORDS) or (g["title"],))[0] for g in groups]
    film_like = clean(film_titles + mb_bases + original_titles)
    album_like = clean(release_titles + master_titles + track_titles)
    lexicon = Counter(w.lower() for t in film_like + album_like for w in content_words(t))
    film_words = WordPools.from_titles(film_like, lexicon)
    album_words = WordPools.from_titles(album_like, lexicon)
    one_word = Counter(ws[0].lower() for t in film_like for ws in [content_words(t)]
                       if len(ws) == 1 and script_of(ws[0]) == "LATIN")

    # --- qualifiers ------------------------------------------------------------------------------------------
    mb_titles = [g["title"] for g in groups]
    mb_split = [split_qualifier(t, SOUNDTRACK_WORDS) for t in mb_titles]
    mb_soundtrack_q = Counter(q for s in mb_split if s for q in [s[1]] if not CAST_WORDS.search(q.text)
                              and not GAME_WORDS.search(q.text))
    search_titles = [r["title"].split(" - ", 1)[1] if " - " in r["title"] else r["title"] for r in search]
    discogs_st_titles = search_titles + [t for rec in releases + masters
                                         if _is_soundtrack_set(*_genre_style_set(rec))
                                         for t in _texts(rec, "title")[:1]]
    discogs_split = [split_qualifier(t, SOUNDTRACK_WORDS) for t in discogs_st_titles]
    discogs_q = Counter(s[1] for s in discogs_split if s)
    every_title = mb_titles + search_titles + release_titles + master_titles
    cast_q = Counter(s[1] for t in mb_titles + search_titles for s in [split_qualifier(t, CAST_WORDS)] if s)
    game_q = Counter(s[1] for t in mb_titles + search_titles for s in [split_qualifier(t, GAME_WORDS)] if s)
    edition_q = Counter(s[1] for t in every_title for s in [split_qualifier(t, EDITION_WORDS)] if s
                        and not CAST_WORDS.search(s[1].text) and len(s[1].text) <= EDITION_MAX_CHARS)
    for d in re.findall(r"<description>([^<]*(?:Edition|Remastered))</description>", releases_xml):
        edition_q[Qualifier(" (", html.unescape(d), ")")] += 1

    # --- people -----------------------------------------------------------------------------------------------
    composers = Counter(c["name"] for r in films for c in r.get("credits", {}).get("crew", [])
                        if c.get("name") and c["name"] != "Unknown")
    for rec in releases:
        for a in re.findall(r"<artist>.*?</artist>", _element(rec, "extraartists"), re.S):
            role = (_texts(a, "role") or [""])[0]
            if COMPOSER_ROLE.search(role):
                composers[re.sub(r" \(\d+\)$", "", _texts(a, "name")[0])] += 1
    artists = Counter()
    for rec in releases + masters:
        for name in _texts(_element(rec, "artists"), "name"):
            artists[name] += 1
    for g in groups:
        for credit in g.get("artist-credit") or []:
            if credit.get("name"):
                artists[credit["name"]] += 1
    discogs_artist_counts = Counter(len(_texts(_element(rec, "artists"), "name")) or 1 for rec in releases)

    # --- TMDB shapes --------------------------------------------------------------------------------------
    credit_counts = Counter(len(r.get("credits", {}).get("crew", [])) for r in films)
    n_unknown = sum(1 for r in films for c in r.get("credits", {}).get("crew", []) if c.get("name") == "Unknown")
    n_credits = sum(n * k for n, k in credit_counts.items()) or 1

    # --- MusicBrainz shapes ---------------------------------------------------------------------------------
    def date_shape(d: str | None) -> str:
        if not d:
            return "empty"
        if len(d) == 4:
            return "year"
        if len(d) == 7:
            return "year_month"
        return "jan1" if d[4:] == "-01-01" else "full"
    credits = [c for g in groups for c in g.get("artist-credit") or []]

    # --- Discogs shapes --------------------------------------------------------------------------------------
    sets = [_genre_style_set(rec) for rec in releases + masters]
    sets += [(tuple(r.get("genre") or ()), tuple(r.get("style") or ())) for r in search]
    soundtrack_sets = Counter(s for s in sets if _is_soundtrack_set(*s) and not {"Musical", "Story"} & set(s[1]))
    other_dump_sets = Counter(s for s in sets[:len(releases) + len(masters)] if STAGE_AND_SCREEN not in s[0])
    musical_sets = Counter(s for s in sets if "Musical" in s[1]) or Counter({((STAGE_AND_SCREEN,), ("Musical",)): 1})
    story_sets = Counter(s for s in sets if "Story" in s[1]) or Counter({((STAGE_AND_SCREEN,), ("Story",)): 1})

    def released_shape(rec: str) -> str:
        value = (_texts(rec, "released") or [""])[0]
        if not value:
            return "none"
        if len(value) == 4:
            return "year"
        if value.endswith("-00-00"):
            return "year_only_date"
        return "month" if value.endswith("-00") else "full"
    dump_releases = []
    for rec in releases:
        body = rec[rec.index(">") + 1:]
        formats = _element(body, "formats")
        videos = _element(body, "videos")
        tail = "".join(_element(body, t) for t in ("tracklist", "identifiers", "videos", "companies"))
        dump_releases.append(DumpRelease(
            images=_element(body, "images"), labels=_element(body, "labels") or "<labels/>",
            extraartists=_element(body, "extraartists") or "<extraartists/>", formats=formats or "<formats/>",
            notes=_element(body, "notes"), tail=tail, tail_no_videos=tail.replace(videos, "") if videos else tail,
            is_single=bool(re.search(r"<description>(?:Single|7&quot;|7\"|Maxi-Single)</description>", formats))))
    release_years = Counter(int(v[:4]) for rec in releases for v in _texts(rec, "released") if v[:4].isdigit()
                            and int(v[:4]) > 1800)
    release_years += Counter(int(v) for rec in masters for v in _texts(rec, "year") if v.isdigit() and int(v) > 1800)
    master_videos = [_element(rec, "videos") for rec in masters]

    vocab = Vocabulary(
        film_templates=film_templates,
        original_title_templates=Pool([tokenise_title(t) for t in original_titles] or [("Title",)], "original"),
        album_templates=album_templates,
        film_words=film_words,
        album_words=album_words,
        composers=Pool(composers, "composers"),
        artists=Pool(artists, "artists"),
        mb_joinphrases=Pool(Counter(c.get("joinphrase", "") for c in credits[:-1] if c.get("joinphrase")), "joins"),
        discogs_joins=Pool(Counter(_texts(releases_xml, "join")), "discogs joins"),
        film_years=Pool(Counter(int(r["release_date"][:4]) for r in films
                                if (r.get("release_date") or "")[:4].isdigit()), "film years"),
        release_years=Pool(release_years, "release years"),
        tmdb_genres=Pool([r.get("genres") or [] for r in films], "tmdb genres"),
        tmdb_numbers=Pool([tmdb_numbers(r, recent) for r in films], "tmdb numbers"),
        tmdb_numbers_labelled=Pool([tmdb_numbers(r, recent) for r in films if r["id"] in labelled]
                                   or [tmdb_numbers(r, recent) for r in films], "labelled tmdb numbers"),
        tmdb_composer_counts=Pool(credit_counts, "composer counts"),
        languages=Pool(Counter(r.get("original_language") for r in films
                               if r.get("original_title") == r.get("title")), "languages"),
        foreign_languages=Pool(Counter(r.get("original_language") for r in films
                                       if r.get("original_title") != r.get("title") and r.get("original_language")
                                       and r.get("original_language") != "en") or Counter({"fr": 1}), "foreign"),
        original_title_differs_share=len(original_titles) / len(films),
        imdb_missing_share=sum(1 for r in films if not r.get("imdb_id")) / len(films),
        release_date_missing_share=sum(1 for r in films if not r.get("release_date")) / len(films),
        unknown_composer_share=n_unknown / n_credits,
        mb_soundtrack_qualifiers=Pool(mb_soundtrack_q, "mb qualifiers"),
        mb_unqualified_share=sum(1 for s in mb_split if not s) / len(mb_split),
        discogs_soundtrack_qualifiers=Pool(discogs_q, "discogs qualifiers"),
        discogs_unqualified_share=sum(1 for s in discogs_split if not s) / max(1, len(discogs_split)),
        cast_qualifiers=Pool(cast_q or Counter({Qualifier(*q): 1 for q in FALLBACK_CAST_QUALIFIERS}), "cast"),
        game_qualifiers=Pool(game_q or Counter({Qualifier(*q): 1 for q in FALLBACK_GAME_QUALIFIERS}), "game"),
        edition_qualifiers=Pool(edition_q, "edition qualifiers"),
        mb_date_shapes=Pool(Counter(date_shape(g.get("first-release-date")) for g in groups), "mb dates"),
        mb_tags=Pool([g.get("tags") or [] for g in groups], "mb tags"),
        mb_plain_tags=Pool([g.get("tags") or [] for g in groups
                            if not any(re.search(r"soundtrack|score|film|movie|musical|game", t.get("name", ""), re.I)
                                       for t in g.get("tags") or [])], "mb plain tags"),
        mb_primary_types=Pool(Counter(g.get("primary-type") for g in groups), "mb primary types"),
        mb_secondary_types=Pool([g.get("secondary-types") or [] for g in groups], "mb secondary types"),
        mb_various_share=sum(1 for g in groups if (g.get("artist-credit") or [{}])[0].get("name") == "Various Artists")
        / len(groups),
        mb_various_credit=next((c for c in credits if c.get("name") == "Various Artists"),
                               {"name": "Various Artists", "joinphrase": "", "artist": {"name": "Various Artists"}}),
        discogs_various_share=(sum(1 for r in search if r.get("title", "").startswith("Various - "))
                               / max(1, len(search))),
        composer_roles=Pool(Counter(r for r in _texts(releases_xml, "role") if COMPOSER_ROLE.search(r))
                            or Counter({"Composed By": 1}), "composer roles"),
        mb_artist_id_share=sum(1 for c in credits if (c.get("artist") or {}).get("id")) / max(1, len(credits)),
        mb_credit_counts=Pool(Counter(len(g.get("artist-credit") or []) or 1 for g in groups), "mb credits"),
        discogs_soundtrack_sets=Pool(soundtrack_sets, "soundtrack sets"),
        discogs_other_sets=Pool(other_dump_sets, "other sets"),
        discogs_musical_sets=Pool(musical_sets, "musical sets"),
        discogs_story_sets=Pool(story_sets, "story sets"),
        discogs_artist_counts=Pool(discogs_artist_counts, "artist counts"),
        countries=Pool(Counter((_texts(rec, "country") or [""])[0] for rec in releases), "countries"),
        released_shapes=Pool(Counter(released_shape(rec) for rec in releases), "released shapes"),
        data_quality=Pool(Counter(_texts(releases_xml + masters_xml, "data_quality")), "data quality"),
        dump_releases=Pool(dump_releases, "dump releases"),
        single_releases=Pool([d for d in dump_releases if d.is_single] or dump_releases, "singles"),
        master_images=Pool([_element(rec, "images") for rec in masters], "master images"),
        master_videos=Pool([v for v in master_videos if v] or [""], "master videos"),
        master_video_share=sum(1 for v in master_videos if v) / len(masters),
        master_year_zero_share=sum(1 for rec in masters if _texts(rec, "year") == ["0"]) / len(masters),
    )
    vocab.film_works = FilmWorks(film_templates, film_words, sorted(one_word, key=lambda w: (-one_word[w], w)))
    vocab.stats = {
        "film_templates": len(film_templates), "album_templates": len(album_templates),
        "lexicon_words": {s: len(w) for s, w in film_words.tail.items() if len(w) >= 50},
        "film_unseen_word_share_latin": round(film_words.unseen_share.get("LATIN", 0.0), 4),
        "album_unseen_word_share_latin": round(album_words.unseen_share.get("LATIN", 0.0), 4),
        "one_word_film_title_words": len(one_word),
        "popularity_median": {"catalogue": _median(p[0] for p in vocab.tmdb_numbers.items),
                              "labelled": _median(p[0] for p in vocab.tmdb_numbers_labelled.items)},
        "composers": vocab.composers.distinct, "artists": vocab.artists.distinct,
        "mb_qualifiers": vocab.mb_soundtrack_qualifiers.distinct,
        "discogs_qualifiers": vocab.discogs_soundtrack_qualifiers.distinct,
        "edition_qualifiers": vocab.edition_qualifiers.distinct, "cast_qualifiers": vocab.cast_qualifiers.distinct,
        "discogs_soundtrack_share": round(sum(1 for s in sets[:len(releases) + len(masters)]
                                              if STAGE_AND_SCREEN in s[0]) / (len(releases) + len(masters)), 4),
    }
    return vocab


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Vocabulary of the scale generator; --popularity-vintage rewrites "
                                                 "bench/popularity_vintage.csv and prints the popularity scale fit.")
    parser.add_argument("--popularity-vintage", metavar="TMDB_5000_MOVIES_CSV", required=True)
    args = parser.parse_args(argv)
    result = popularity_vintage(args.popularity_vintage)
    with open(POPULARITY_VINTAGE, "w", encoding="utf-8", newline="") as fh:
        fh.write("tmdb_id,vintage\n")
        fh.writelines(f"{i},{v}\n" for i, v in sorted(result["vintage"].items()))
    print(json.dumps({k: v for k, v in result.items() if k != "vintage"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
