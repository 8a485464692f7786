"""Title and name normalisation: small pure functions, and their vectorised Spark wrappers.

The pure functions (`fold_text`, `normalise_title`, `film_hint`, `normalise_name`, ...) hold every
rule and are tested on the hard cases of the labelled pairs. Spark calls them through `pandas_udf`s that work on
whole Arrow batches (`normalised_title`, `normalised_names`), never a Python loop on the driver.

Why the rules look the way they do (data/eval labels, shared/docs/data-quirks.md):
- accents are removed for comparison only on Latin letters: decomposing Japanese and dropping the marks turns
  ジ into シ, and Korean/Japanese/Cyrillic titles must keep a usable key;
- the boilerplate patterns are folded with the same `fold_text` as the titles, so a Japanese pattern
  (オリジナル・サウンドトラック) matches a title however it was composed;
- brackets are removed, but a film named inside one ('Louder Than Words (From "tick, tick... BOOM!")') is kept
  as the film hint;
- a title is never normalised to empty: a boilerplate-only title falls back to its folded text and is flagged.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Sequence

import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F

# --- folding ---------------------------------------------------------------------------------------------------
# Typographic punctuation folded to ASCII before anything else; NFKC already maps the fullwidth forms and '…'.
_PUNCT_FOLD = str.maketrans({
    **{c: "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2e3a\u2e3b\ufe58\ufe63\uff0d"},
    **{c: "'" for c in "\u2018\u2019\u201a\u201b\u2032\u02bc\u0060\u00b4"},
    **{c: '"' for c in "\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb\u300c\u300d\u300e\u300f"},
    # '_' as in 'Ex_Machina'; middle dots as in 'The Godfather · Part II'.
    "\u2026": "...", "_": " ", "\u00b7": " ", "\u30fb": " ", "\u3000": " ",
    "\u3010": "[", "\u3011": "]", "\u3014": "[", "\u3015": "]", "\u3016": "[", "\u3017": "]",
})

# Latin letters that Unicode does not decompose into base + mark.
_LATIN_EXTRA = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i",
                              "ħ": "h", "ŧ": "t"})


@lru_cache(maxsize=4096)
def _is_latin(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("LATIN")


def strip_latin_accents(text: str) -> str:
    """Drop combining marks that sit on Latin letters only ('Göransson' -> 'goransson'); ジ, й, 한 are untouched."""
    if text.isascii():
        return text
    out: list[str] = []
    base_is_latin = False
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.combining(ch):
            if not base_is_latin:
                out.append(ch)
            continue
        base_is_latin = _is_latin(ch)
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out)).translate(_LATIN_EXTRA)


def fold_text(text: str) -> str:
    """NFKC, typographic punctuation to ASCII, case folding, Latin accents removed. Nothing else is dropped."""
    folded = unicodedata.normalize("NFKC", text).translate(_PUNCT_FOLD).casefold()
    return re.sub(r"\s+", " ", strip_latin_accents(folded)).strip()


# --- patterns (written readable, folded like the titles before use) --------------------------------------------
# Whole phrases removed wherever they appear (multi-word, so they cannot be a film's own title words).
_MEDIA = (r"(?:(?:netflix|amazon|apple|hbo|disney\+?|max|prime video|paramount\+?)\s+)?(?:original\s+)?"
          r"(?:motion picture|feature film|short film|animated film|film|movie|series|television|tv|documentary|special)")
BOILERPLATE_PHRASES: tuple[str, ...] = (
    r"(?:original )?soundtrack zum film", r"(?:die )?musik (?:aus|zum) (?:dem )?film",
    rf"music (?:from|for|inspired by) (?:and inspired by )?(?:the )?(?:original )?{_MEDIA}(?: soundtrack| score)?",
    rf"(?:original )?(?:songs|music) from (?:and inspired by )?the (?:original )?{_MEDIA}",
    r"music from and inspired by",
    rf"(?:the )?(?:original |complete |official )?{_MEDIA} (?:original )?(?:soundtrack|sountrack|score|music)"
    r"(?: recording| album)?",
    rf"(?:the )?(?:soundtrack|score|music) from the (?:original )?{_MEDIA}",
    r"(?:the )?original (?:musical )?(?:soundtrack|sountrack|score|music)(?: recording| album)?",
    r"(?:deluxe|expanded|anniversary|special|collector's|limited|extended|complete) (?:edition|version)",
    r"\d+(?:th|st|nd|rd)? anniversary(?: edition)?",
    r"(?:\d{4} )?remaster(?:ed)?(?: edition| version)?",
    r"bande originale(?: du film)?", r"b\.?o\.?f\.?", r"colonna sonora originale", r"banda sonora original",
    r"オリジナル サウンドトラック", r"オリジナルサウンドトラック", r"サウンドトラック", r"サントラ",
    r"오리지널 사운드트랙", r"사운드트랙", r"电影原声带", r"原声带", r"原声大碟", r"電影原聲帶", r"原聲帶",
)
# Words a trailing boilerplate segment ('...: Orchestral Score', ', Music From the Motion Picture') is made of;
# the segment is dropped only when every word is here and one of them is a core word.
BOILERPLATE_WORDS = frozenset("""original motion picture pictures soundtrack soundtracks sountrack score scores music
    from and inspired by the film films movie feature netflix apple amazon hbo disney series songs song album ost
    official orchestral complete expanded deluxe edition anniversary remastered version collection selections
    highlights recording original's of a an to for in special""".split())
BOILERPLATE_CORE = frozenset("soundtrack soundtracks sountrack score scores ost music songs".split())
# A later segment that only says what the record is ('Pixels: The Movie', 'Back To The Future - The Album').
_KIND_WORDS = BOILERPLATE_CORE | frozenset("movie film picture album".split())
# Whole-word only: 'Ghost' and 'Lost' are titles.
_OST = re.compile(r"\b(?:o\.s\.t\.?|ost)(?=\W|$)")
# A record-kind word at the very end: 'Boruto ... Soundtrack Selection', 'F1 The Album', 'The Predator EP'.
_TRAILING_KIND = re.compile(r"\s+(?:(?:(?:original|official)\s+)?(?:soundtrack|sountrack|score|ost)"
                            r"(?:\s+(?:selections?|album|collection|highlights))?|(?:the\s+)?album|ep)\s*$")

_BRACKETS = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|\{[^{}]*\}")
_UNCLOSED_BRACKET = re.compile(r"\s[(\[{][^)\]}]*$")
_SEGMENT_SPLIT = re.compile(r"\s*(?::|\s-\s|\s/\s|\||,\s)\s*")
_PRESENTS = re.compile(r"^.{1,40}?\s+presents?\s*:?\s+(?=\S)")
# An author's or studio's possessive before a title that starts with 'the' ("Roald Dahl's The Witches", "Dr. Seuss'
# The Grinch", "Marvel's The Avengers"): the rest is the title. Only before 'the': "Schindler's List", "Ferris
# Bueller's Day Off" and "Bill & Ted's Excellent Adventure" are titles as they stand.
_POSSESSIVE_PREFIX = re.compile(r"^[\w.&' -]{1,40}?(?:'s|s')\s+(?=the\s+\S)")
# Japanese releases wrap a subtitle in hyphens: 'CHAINSAW MAN THE MOVIE: REZE ARC original soundtrack -summer's end-'.
_HYPHEN_SUBTITLE = re.compile(r"\s-[^\s-][^-]*-\s*$")
_ACRONYM = re.compile(r"\b(?:\w\.){2,}(?:\w\b)?")
# Articles dropped from the front of a title key ("l'" separately: it is written onto its word). The pair features
# read the same list from the raw titles (`features.add_article_agreement`).
LEADING_ARTICLES = ("the", "a", "an", "le", "la", "les", "el", "los", "las", "il")
_LEADING_ARTICLE = re.compile(rf"^(?:(?:{'|'.join(LEADING_ARTICLES)})\s+|l'\s*)(?=\S)")
_ROMAN = {"ii": "2", "iii": "3", "iv": "4", "vi": "6", "vii": "7", "viii": "8", "ix": "9", "xi": "11", "xii": "12",
          "xiii": "13", "xiv": "14", "xv": "15", "xvi": "16", "xvii": "17", "xviii": "18", "xix": "19", "xx": "20"}
# A single-letter numeral is only a number after a word that introduces one ('Part I'), never 'I, Robot'.
_SINGLE_ROMAN = {"i": "1", "v": "5", "x": "10"}
_NUMBER_WORDS = frozenset("part chapter episode vol volume book act no".split())
# Number words as digits, so 'Ocean's Eight' meets 'Ocean’s 8' (consistently on both sides: 'One Day' -> '1 day').
_CARDINALS = {w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve "
                                              "thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty"
                                              .split()) if i}
# Film named inside a qualifier: '(From "Film")', '(Music from the Motion Picture Film)', '- From "Film"'.
_HINT_INTRO = re.compile(
    r"^(?:(?:music|theme|song|songs|soundtrack|score|love theme|end title|title song|original song)\s+)?"
    r"(?:from(?: and inspired by)?|inspired by|aus|dal film|du film)\s+(?P<rest>.+)$")
_QUOTED = re.compile(r'"([^"]+)"')
_HINT_LEAD_WORDS = re.compile(
    r"^(?:(?:the|original|motion|picture|soundtrack|score|music|film|movie|netflix|apple|amazon|disney|feature"
    r"|series|animated|documentary|hbo|max|limited|tv|television|show|special)\s+)+")


@lru_cache(maxsize=None)
def _folded_pattern(parts: tuple[str, ...]) -> re.Pattern:
    """One word-bounded alternation of the patterns, each folded exactly like a title is."""
    return re.compile(r"(?<!\w)(?:" + "|".join(fold_text(p) for p in parts) + r")(?!\w)")


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _remove_boilerplate(text: str) -> str:
    text = _folded_pattern(BOILERPLATE_PHRASES).sub(" ", text)
    return _collapse(_OST.sub(" ", text))


def _drop_boilerplate_segments(text: str) -> str:
    """Drop separator-delimited segments made only of soundtrack words ('...: Orchestral Score'); never the first."""
    segments = [s for s in _SEGMENT_SPLIT.split(text)]
    kept = [segments[0]] + [s for s in segments[1:] if not _is_boilerplate_segment(s)]
    return " : ".join(s for s in kept if s.strip())


def _is_boilerplate_segment(segment: str) -> bool:
    words = re.findall(r"[\w']+", segment)
    return not words or (_only_boilerplate_words(words) and any(w in _KIND_WORDS for w in words))


def _only_boilerplate_words(words: list[str]) -> bool:
    return all(w in BOILERPLATE_WORDS or w.isdigit() for w in words)


def _numerals_to_digits(words: list[str]) -> list[str]:
    out = []
    for i, word in enumerate(words):
        if word in _ROMAN or word in _CARDINALS:
            word = _ROMAN.get(word) or _CARDINALS[word]
        elif word in _SINGLE_ROMAN and i > 0 and words[i - 1] in _NUMBER_WORDS:
            word = _SINGLE_ROMAN[word]
        out.append(word)
    return out


def _to_key(text: str) -> str:
    """Folded text -> comparison key: punctuation to spaces, numerals unified, one leading article dropped."""
    text = _ACRONYM.sub(lambda m: m.group(0).replace(".", ""), text)
    text = text.replace("&", " and ").replace("+", " and ")
    text = _LEADING_ARTICLE.sub("", text.strip(" \"'"))
    text = re.sub(r"(?<=\w)'(?=\w)", "", text)          # "jones's" -> "joness", same on both sides
    words = _numerals_to_digits(re.findall(r"\w+", text))
    return " ".join(words)


@dataclass(frozen=True)
class NormalisedTitle:
    title_norm: str | None
    is_fallback: bool | None
    film_hint_norm: str | None


def _core_title(folded: str) -> str:
    text = _BRACKETS.sub(" ", folded)
    text = _BRACKETS.sub(" ", text)                      # one level of nesting: '(... [..] ...)'
    text = _UNCLOSED_BRACKET.sub(" ", text)
    text = _HYPHEN_SUBTITLE.sub(" ", text)
    text = _PRESENTS.sub("", text)
    text = _POSSESSIVE_PREFIX.sub("", text)
    # 'Music From & Inspired by ...': the boilerplate phrases are written with 'and'
    text = re.sub(r"\s&\s", " and ", text)
    text = _drop_boilerplate_segments(_remove_boilerplate(text))
    text = _remove_boilerplate(text)
    text = _TRAILING_KIND.sub("", " " + text)
    return _collapse(text)


def film_hint(folded: str) -> str | None:
    """The film named inside a qualifier of an already folded title, as folded text; None when there is none."""
    qualifiers = [q[1:-1] for q in _BRACKETS.findall(folded)]
    qualifiers += [s for s in re.split(r"\s-\s|:\s", folded)[1:]]   # '...: From the Original Motion Picture "X"'
    qualifiers.append(_BRACKETS.sub(" ", folded))          # 'Theme From Glass Onion', 'Music from First Cow'

    for qualifier in qualifiers:
        qualifier = _collapse(qualifier.replace(" & ", " and "))
        intro = _HINT_INTRO.match(qualifier)
        if not intro:
            continue
        quoted = _QUOTED.search(intro.group("rest"))
        name = quoted.group(1) if quoted else _HINT_LEAD_WORDS.sub("", intro.group("rest"))
        name = _collapse(name.strip(" \"'"))
        if name and not _only_boilerplate_words(re.findall(r"[\w']+", name)):
            return name
    return None


def normalise_title(title: str | None) -> NormalisedTitle:
    """Comparison key of a film or release title, whether it fell back, and the film named in a qualifier."""
    if title is None:
        return NormalisedTitle(None, None, None)
    folded = fold_text(title)
    hint_text = film_hint(folded)
    hint = (_to_key(_core_title(hint_text)) or _to_key(hint_text)) if hint_text else None
    key = _to_key(_core_title(folded))
    if key:
        return NormalisedTitle(key, False, hint or None)
    # Boilerplate-only ('Original Motion Picture Soundtrack') or punctuation-only: keep something comparable.
    fallback = _to_key(folded) or folded or title.strip() or title
    return NormalisedTitle(fallback, True, hint or None)


def title_tokens(title_norm: str | None) -> list[str]:
    """Distinct words of a normalised title, in order."""
    return list(dict.fromkeys((title_norm or "").split()))


# --- names and Discogs strings ---------------------------------------------------------------------------------
# Discogs numbers artists that share a name ('John Williams (4)') and stars a name variation ('Celine Dion*').
_DISAMBIGUATION = re.compile(r"\s*(?:\(\d+\)|\*)\s*$")


def normalise_name(name: str | None) -> str | None:
    """Person or band name for comparison: folded, disambiguation number and punctuation removed."""
    if name is None:
        return None
    key = " ".join(re.findall(r"\w+", fold_text(_DISAMBIGUATION.sub("", name)).replace("'", "")))
    return key or None


def normalise_names(names: Iterable[str | None] | None, exclude: Sequence[str] = ()) -> list[str]:
    """Distinct normalised names, placeholders such as 'Unknown' left out."""
    out: dict[str, None] = {}
    for name in names if names is not None else ():
        key = normalise_name(name)
        if key and key not in exclude:
            out[key] = None
    return list(out)


# --- Spark wrappers ---------------------------------------------------------------------------------------------
# Everything that a native Spark expression can do stays native; the Unicode work runs in pandas_udfs that take
# whole Arrow batches (the Python functions above, once per value, inside the executors).
NORMALISED_TITLE_DDL = "title_norm string, title_norm_is_fallback boolean, film_hint_norm string"


def _title_frame(titles: pd.Series) -> pd.DataFrame:
    rows = [normalise_title(t) for t in titles.astype(object).where(titles.notna(), None)]
    return pd.DataFrame({"title_norm": [r.title_norm for r in rows],
                         "title_norm_is_fallback": pd.array([r.is_fallback for r in rows], dtype="boolean"),
                         "film_hint_norm": [r.film_hint_norm for r in rows]})


def normalised_title(col: Column | str) -> Column:
    """struct(title_norm, title_norm_is_fallback, film_hint_norm) of a title column, batch-wise."""
    return F.pandas_udf(_title_frame, NORMALISED_TITLE_DDL)(col)


def _names_batch(names: pd.Series, exclude: tuple[str, ...]) -> pd.Series:
    return pd.Series([normalise_names(v, exclude) if v is not None else [] for v in names], dtype=object)


def normalised_names(col: Column | str, exclude: Sequence[str] = ()) -> Column:
    """array<string> of normalised names (placeholders in `exclude`, already normalised, dropped), batch-wise."""
    excluded = tuple(exclude)
    return F.pandas_udf(lambda names: _names_batch(names, excluded), "array<string>")(col)


def year_of(col: Column | str) -> Column:
    """Leading four-digit year of a date-ish string or an int: '1999', '1999-03', '1999-03-00', 1999 -> 1999;
    '', '0', '0000', 0 and anything else -> null (MusicBrainz leaves half the dates empty, Discogs writes 0)."""
    year = F.regexp_extract(F.coalesce(F.col(col) if isinstance(col, str) else col, F.lit("")).cast("string"),
                            r"^\s*(\d{4})(?:[-/.]\d{1,2}){0,2}\s*$", 1)
    return F.when((year != "") & (year != "0000"), year.cast("int"))


def split_comma_joined(col: Column | str) -> Column:
    """['Compilation, Soundtrack'] -> ['Compilation', 'Soundtrack'] (27 MusicBrainz rows carry one joined item)."""
    parts = F.flatten(F.transform(F.coalesce(F.col(col) if isinstance(col, str) else col,
                                             F.array().cast("array<string>")),
                                  lambda item: F.split(F.coalesce(item, F.lit("")), ",")))
    return F.array_distinct(F.filter(F.transform(parts, lambda x: F.trim(x)), lambda x: x != ""))


def without_disambiguation(col: Column | str) -> Column:
    """Every name of an array column without its Discogs number or star: 'John Williams (4)' -> 'John Williams'."""
    names = F.col(col) if isinstance(col, str) else col
    return F.transform(names, lambda name: F.trim(F.regexp_replace(name, _DISAMBIGUATION.pattern, "")))


def discogs_artist_title(col: Column | str) -> Column:
    """Discogs search 'Artist - Title' -> struct(artists, title). The first ' - ' separates (a title may hold more:
    'Sole Tech - Back To The Future - The Album'); co-artists are split on ' / '; without a separator it is all
    title."""
    text = F.col(col) if isinstance(col, str) else col
    pattern = r"^\s*(\S.*?)\s+-\s+(\S.*?)\s*$"
    artist, title = F.regexp_extract(text, pattern, 1), F.regexp_extract(text, pattern, 2)
    has_artist = text.isNotNull() & (artist != "")
    artists = without_disambiguation(F.split(artist, r"\s+/\s+"))
    return F.struct(F.when(has_artist, artists).otherwise(F.array().cast("array<string>")).alias("artists"),
                    F.when(has_artist, title).otherwise(F.trim(text)).alias("title"))
