"""Secret-free URLs: every URL we store or log passes through here first.

The original project's saved Discogs pages carried `key=`/`secret=` in their pagination URLs, and a TMDB
`api_key` travels in the query string. Stripping (not masking) the parameter keeps stored URLs replayable
with whatever credentials the reader has, and makes the same request compare equal across runs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column

SECRET_QUERY_PARAMS = frozenset({"key", "secret", "token", "api_key", "access_token", "password", "sig"})
_SECRET_ALT = "|".join(sorted(SECRET_QUERY_PARAMS))
_VALUE = "[^&\"'\\s#]*"
# For text that is not one clean URL (a JSON payload, a saved page), three regex passes applied in order, the
# same in Python and in Spark: a secret followed by another parameter goes with its '&' (the separator before
# it stays); a trailing secret goes with the '&' before it; a secret right after '?' leaves the '?'.
SECRET_TEXT_PASSES: tuple[tuple[str, str], ...] = (
    (rf"(?i)([?&])(?:{_SECRET_ALT})={_VALUE}&", "\\1"),
    (rf"(?i)&(?:{_SECRET_ALT})={_VALUE}", ""),
    (rf"(?i)\?(?:{_SECRET_ALT})={_VALUE}", "?"),
)


def strip_url_secrets(url: str | None) -> str | None:
    """`url` without credential query parameters (order of the other parameters kept)."""
    if not url:
        return url
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in SECRET_QUERY_PARAMS]
    return urlunsplit(parts._replace(query=urlencode(query)))


def strip_text_secrets(text: str | None) -> str | None:
    """Remove credential parameters from every URL inside free text (e.g. a raw JSON page)."""
    import re

    if not text:
        return text
    for pattern, replacement in SECRET_TEXT_PASSES:
        text = re.sub(pattern, replacement, text)
    return text


def strip_secrets_column(col: "Column") -> "Column":
    """Spark version of `strip_text_secrets` (same passes), for payloads that never leave the JVM."""
    from pyspark.sql import functions as F

    for pattern, replacement in SECRET_TEXT_PASSES:
        col = F.regexp_replace(col, pattern, replacement.replace("\\1", "$1"))
    return col
