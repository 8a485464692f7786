"""The report's HTML building blocks: escaping, number formats, tables, tiles, callouts and figures.

The sections (report/html.py, report/review.py, report/changes.py) are built from these, so every section looks alike.
"""
from __future__ import annotations

from html import escape
from typing import Any, Iterable, Sequence


def e(value: Any) -> str:
    return escape("" if value is None else str(value))


def fmt_int(value: Any) -> str:
    return "–" if value is None else f"{int(value):,}"


def fmt_num(value: Any, digits: int = 1) -> str:
    return "–" if value is None else f"{float(value):,.{digits}f}"


def fmt_ratio(value: Any) -> str:
    return "–" if value is None else f"{float(value):.3f}"


def fmt_bytes(value: Any) -> str:
    if value is None:
        return "–"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} TB"  # pragma: no cover - the loop returns at TB


def fmt_seconds(value: Any) -> str:
    if value is None:
        return "–"
    seconds = float(value)
    return f"{seconds:,.1f} s" if seconds < 120 else f"{int(seconds // 60)}m {seconds % 60:02.0f}s"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = (),
          row_classes: Sequence[str] | None = None, css: str = "") -> str:
    """`rows` hold ready HTML cells; columns whose index is in `numeric` are right-aligned."""
    head = "".join(f'<th class="n">{e(h)}</th>' if i in numeric else f"<th>{e(h)}</th>" for i, h in enumerate(headers))
    body = []
    for r, row in enumerate(rows):
        cls = f' class="{row_classes[r]}"' if row_classes and row_classes[r] else ""
        cells = "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return (f'<div class="scroll"><table class="{css}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def tiles(items: Sequence[tuple[str, str]]) -> str:
    return '<div class="tiles">' + "".join(
        f'<div class="tile"><div class="v">{value}</div><div class="k">{e(key)}</div></div>' for key, value in items
    ) + "</div>"


def callout(text: str, kind: str = "") -> str:
    return f'<div class="callout {kind}">{text}</div>'


def figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{caption}</figcaption></figure>"


# --- section 1: run summary -------------------------------------------------------------------------------
