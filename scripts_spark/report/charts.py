"""The report's charts: matplotlib figures rendered to inline SVG strings.

Why matplotlib to SVG: it is already a pinned dependency (no JavaScript library to vendor and keep
patched), SVG is vector (sharp at any zoom, prints well) and sits inside the HTML, so the report is one
file that opens with no network. Glyphs are drawn as paths (`svg.fonttype = path`), so a chart looks the
same on a machine without the fonts it was drawn with; every figure a chart shows is also in a table as text.
Each function takes small, already aggregated Python data and returns one `<svg>` element.
"""
from __future__ import annotations

import io
import math
import re
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # no display on a VM or in cron
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import LinearSegmentedColormap  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

INK, MUTED, GRID = "#1f2933", "#616e7c", "#e4e7eb"
DECISION_COLOURS = {"match": "#2f855a", "review": "#dd6b20"}
# Colour-blind-safe qualitative palette (Okabe-Ito with indigo for its black, then extras).
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#332288",
           "#882255", "#44AA99", "#999933", "#117733"]
OTHER_COLOUR = "#c9cdd2"
HEAT = LinearSegmentedColormap.from_list("heat", ["#f7fbff", "#6baed6", "#08306b"])
WIDTH_IN = 10.0  # figure width in inches; the HTML scales the SVG to the column width
# On the sample the top score bin holds ~1,400 links and a review bin ~10: past this ratio a linear axis
# shows the review band as nothing at all.
LOG_SCALE_RATIO = 30

STYLE = {
    "svg.fonttype": "path",
    "svg.hashsalt": "soundtrack-lake",   # stable element ids: the same data gives the same file
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.edgecolor": MUTED,
    "axes.labelcolor": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": GRID,
    "grid.linewidth": 0.8,
    "axes.axisbelow": True,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "text.color": INK,
    "legend.frameon": False,
}


def thousands(value: float, _pos=None) -> str:
    return f"{value:,.0f}" if abs(value) >= 1 or value == 0 else f"{value:.2g}"


def _to_svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    svg = re.sub(r"<metadata>.*?</metadata>", "", text[text.index("<svg"):], flags=re.S)  # RDF boilerplate
    # Drop the fixed pt size so the page's CSS sets the width; the viewBox keeps the aspect ratio.
    return re.sub(r'<svg([^>]*?) width="[^"]+" height="[^"]+"', r'<svg\1 role="img"', svg, count=1)


def step_timings(steps: Sequence[tuple[str, float, str]]) -> str:
    """Horizontal bars: (label, seconds, status) per step, in run order."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(WIDTH_IN, 0.32 * len(steps) + 0.9))
        labels = [s[0] for s in steps][::-1]
        seconds = [s[1] for s in steps][::-1]
        colours = ["#c53030" if s[2] == "failed" else "#a0aec0" if s[2] != "succeeded" else "#3182ce"
                   for s in steps][::-1]
        bars = ax.barh(labels, seconds, color=colours, height=0.6)
        for bar, value in zip(bars, seconds):
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f"  {value:,.1f} s", va="center",
                    fontsize=9, color=INK)
        ax.set_xlabel("seconds")
        ax.grid(axis="y", visible=False)
        ax.set_xlim(0, max(seconds + [1.0]) * 1.15)
        ax.set_title("Time per step")
        return _to_svg(fig)


def score_histogram(bins: int, counts: dict[str, list[int]], thresholds: dict[str, float] | None) -> str:
    """Stacked histogram of match_score in `bins` equal bins, one layer per decision. The x axis starts a bin
    below the lowest threshold or score (Gold holds nothing under the review threshold); the y axis turns
    logarithmic when the tallest bin dwarfs the smallest, so the review band stays visible next to the matches."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(WIDTH_IN, 3.6))
        width = 1.0 / bins
        lefts = [i * width for i in range(bins)]
        bottom = [0] * bins
        for decision in sorted(counts, key=lambda d: (d != "match", d)):
            values = counts[decision]
            ax.bar(lefts, values, width=width * 0.92, bottom=bottom, align="edge",
                   color=DECISION_COLOURS.get(decision, "#718096"), label=f"{decision} ({sum(values):,})")
            bottom = [b + v for b, v in zip(bottom, values)]
        filled = [i for i, b in enumerate(bottom) if b]
        lowest = min([i * width for i in filled[:1]] + list((thresholds or {}).values()) + [1.0])
        left = max(0.0, math.floor(lowest * bins) / bins - width)
        top = max(bottom + [1])
        logarithmic = bool(filled) and top / min(bottom[i] for i in filled) > LOG_SCALE_RATIO
        if logarithmic:
            ax.set_yscale("log")
            ax.set_ylim(0.8, top * 4)
        else:
            ax.set_ylim(0, top * 1.18)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        for name, value in sorted((thresholds or {}).items()):
            ax.axvline(value, color=INK, linestyle="--", linewidth=1)
            ax.text(value, top * (1.6 if logarithmic else 1.04), f" {name} \u2265 {value:.3f}", fontsize=9,
                    color=INK, va="bottom", ha="left")
        ax.set_xlim(left, 1)
        ax.yaxis.set_major_formatter(FuncFormatter(thousands))
        ax.set_xlabel("match_score (calibrated probability that the release is the film's soundtrack)")
        ax.set_ylabel("links" + (" (log scale)" if logarithmic else ""))
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))   # outside: never over bars or threshold labels
        ax.set_title("Score distribution of Gold links by decision")
        return _to_svg(fig)


def genre_by_decade(decades: Sequence[str], genres: Sequence[str], counts: dict[str, list[int]],
                    other: list[int], decade_films: list[int]) -> str:
    """Stacked bars of counts: per decade, the films whose soundtracks carry each genre ('other' on top), so a decade
    of 5 films stays as small as it is next to one of 851; matched films per decade above each bar."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(WIDTH_IN, 4.6))
        x = range(len(decades))
        bottom = [0] * len(decades)
        for i, genre in enumerate(genres):
            ax.bar(x, counts[genre], bottom=bottom, color=PALETTE[i % len(PALETTE)], label=genre, width=0.75)
            bottom = [b + v for b, v in zip(bottom, counts[genre])]
        ax.bar(x, other, bottom=bottom, color=OTHER_COLOUR, label="other genres", width=0.75)
        top = max([b + o for b, o in zip(bottom, other)] + [1])
        for xi, height, films in zip(x, [b + o for b, o in zip(bottom, other)], decade_films):
            ax.text(xi, height + top * 0.01, f"{films:,}", ha="center", va="bottom", fontsize=8, color=MUTED)
        ax.set_xticks(list(x), decades)
        ax.set_ylim(0, top * 1.1)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_formatter(FuncFormatter(thousands))
        ax.set_ylabel("films carrying the genre")
        ax.grid(axis="x", visible=False)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9)
        ax.set_title("Soundtrack genres by film decade (matched films per decade above the bars)")
        return _to_svg(fig)


SOURCE_COLOURS = {"musicbrainz": "#BA478F", "discogs": "#333333"}


def links_by_decade(decades: Sequence[str], counts: dict[str, list[int]]) -> str:
    """Side-by-side bars per film decade: matched soundtrack links from each source."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(WIDTH_IN, 3.6))
        sources = list(counts)
        width = 0.8 / max(len(sources), 1)
        for i, source in enumerate(sources):
            xs = [d + (i - (len(sources) - 1) / 2) * width for d in range(len(decades))]
            bars = ax.bar(xs, counts[source], width=width * 0.95, label=f"{source} ({sum(counts[source]):,})",
                          color=SOURCE_COLOURS.get(source, PALETTE[i % len(PALETTE)]))
            for bar, value in zip(bars, counts[source]):
                if value:
                    ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"{value:,}", ha="center",
                            va="bottom", fontsize=7.5, color=INK)
        ax.set_xticks(range(len(decades)), decades)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_formatter(FuncFormatter(thousands))
        ax.set_ylabel("links")
        ax.grid(axis="x", visible=False)
        ax.legend(loc="upper left")
        ax.set_title("Soundtrack links by source and film decade")
        return _to_svg(fig)


def coverage_bars(bands: Sequence[str], films: Sequence[int], linked: Sequence[int]) -> str:
    """Per band of popularity rank: the share of films with a soundtrack link, labelled 'linked / films'."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(WIDTH_IN, 3.2))
        shares = [n / f if f else 0.0 for n, f in zip(linked, films)]
        bars = ax.bar(range(len(bands)), shares, color="#2f855a", width=0.6)
        for bar, n, f in zip(bars, linked, films):
            ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.01, f"{n:,} / {f:,}", ha="center",
                    va="bottom", fontsize=8.5, color=INK)
        ax.set_xticks(range(len(bands)), [f"rank {b}" for b in bands])
        ax.set_ylim(0, min(1.0, max(shares + [0.05]) * 1.25))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:.0%}"))
        ax.set_ylabel("films with a soundtrack")
        ax.grid(axis="x", visible=False)
        ax.set_title("Coverage: films with a matched soundtrack, by TMDB popularity rank")
        return _to_svg(fig)


def popularity_boxes(rows: Sequence[dict]) -> str:
    """Horizontal box plots of TMDB popularity per soundtrack genre from precomputed quantiles
    (box: quartiles, line: median, whiskers: 5th-95th percentile, diamond: mean); log scale."""
    rows = [r for r in rows if r.get("popularity_median") is not None]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(WIDTH_IN, 0.42 * len(rows) + 1.2))
        stats = [{"label": f"{r['soundtrack_genre']}  (n={r['films']:,})", "med": r["popularity_median"],
                  "q1": r["popularity_q1"], "q3": r["popularity_q3"], "whislo": r["popularity_p05"],
                  "whishi": r["popularity_p95"], "mean": r["popularity_mean"], "fliers": []} for r in rows][::-1]
        ax.bxp(stats, orientation="horizontal", showmeans=True, widths=0.6, patch_artist=True,
               boxprops={"facecolor": "#bee3f8", "edgecolor": "#2b6cb0"},
               medianprops={"color": "#c05621", "linewidth": 2},
               meanprops={"marker": "D", "markerfacecolor": INK, "markeredgecolor": INK, "markersize": 4},
               whiskerprops={"color": "#2b6cb0"}, capprops={"color": "#2b6cb0"})
        positive = [v for s in stats for v in (s["whislo"], s["whishi"]) if v and v > 0]
        if positive and max(positive) / min(positive) > 20:
            ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(thousands))
        ax.set_xlabel("TMDB popularity of the films (log scale when the range is wide)")
        ax.grid(axis="y", visible=False)
        ax.set_title("Film popularity by soundtrack genre")
        return _to_svg(fig)


def heat_map(film_genres: Sequence[str], soundtrack_genres: Sequence[str], shares: list[list[float]],
             counts: list[list[int]]) -> str:
    """Film genre (rows) x soundtrack genre (columns): colour = share of the film genre's films, text = films."""
    with plt.rc_context({**STYLE, "axes.grid": False}):
        fig, ax = plt.subplots(figsize=(WIDTH_IN, 0.36 * len(film_genres) + 1.9))
        image = ax.imshow(shares, cmap=HEAT, vmin=0, vmax=max([max(r) for r in shares] + [0.01]), aspect="auto")
        ax.set_xticks(range(len(soundtrack_genres)), soundtrack_genres, rotation=35, ha="right")
        ax.set_yticks(range(len(film_genres)), film_genres)
        top = image.norm.vmax
        for i, row in enumerate(counts):
            for j, films in enumerate(row):
                if films:
                    ax.text(j, i, f"{films:,}", ha="center", va="center", fontsize=8,
                            color="white" if shares[i][j] > 0.55 * top else INK)
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
        bar = fig.colorbar(image, ax=ax, fraction=0.025, pad=0.01, aspect=40)  # as tall as the rows
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:.0%}"))
        bar.set_label("share of the film genre's matched films")
        ax.set_title("Film genre (TMDB) x soundtrack genre: matched films")
        return _to_svg(fig)


def composer_bars(rows: Sequence[dict]) -> str:
    """Films scored per composer (bars), with the median popularity of those films as a label."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(WIDTH_IN, 0.36 * len(rows) + 1.0))
        names = [r["composer"] for r in rows][::-1]
        films = [r["films"] for r in rows][::-1]
        bars = ax.barh(names, films, color="#4c51bf", height=0.65)
        for bar, row in zip(bars, list(rows)[::-1]):
            pop = row.get("popularity_median")
            label = f"  {row['films']:,}" + (f"   median popularity {pop:,.1f}" if pop is not None else "")
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, label, va="center", fontsize=8.5,
                    color=INK)
        ax.set_xlim(0, max(films + [1]) * 1.45)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("matched films scored")
        ax.grid(axis="y", visible=False)
        ax.set_title("Top composers by matched films")
        return _to_svg(fig)


def _short_run_label(run_id: str) -> str:
    """'20260102T021500Z' -> '01-02 02:15' (run ids are UTC timestamps by default); other ids as they are."""
    match = re.fullmatch(r"\d{4}(\d{2})(\d{2})T(\d{2})(\d{2})\d{2}Z", run_id)
    return f"{match[1]}-{match[2]} {match[3]}:{match[4]}" if match else run_id[:14]


def _figure_value(value: float, _pos=None) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:.3g}"


def history_lines(run_ids: Sequence[str], series: dict[str, list[float | None]], current: str) -> str:
    """Small multiples, one panel per headline figure, one point per run (gaps where a run has no value);
    the report's own run is the orange point."""
    names = list(series)
    cols = 3
    rows = max(1, math.ceil(len(names) / cols))
    labels = [_short_run_label(r) for r in run_ids]
    step = max(1, math.ceil(len(labels) / 8))   # at most about 8 labelled ticks per panel
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(rows, cols, figsize=(WIDTH_IN, 2.5 * rows), squeeze=False)
        x = list(range(len(run_ids)))
        for ax, name in zip(axes.flat, names):
            values = [math.nan if v is None else v for v in series[name]]
            ax.plot(x, values, marker="o", markersize=4, color="#2b6cb0", linewidth=1.6)
            if current in run_ids and not math.isnan(values[run_ids.index(current)]):
                ax.plot([run_ids.index(current)], [values[run_ids.index(current)]], marker="o", markersize=8,
                        color="#c05621", linestyle="none")
            ax.set_title(name.replace("_", " "), fontsize=10)
            known = [v for v in values if not math.isnan(v)]
            if name.startswith("musicbrainz_"):   # ratios in 0..1
                ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:.3f}"))
                if known and max(known) - min(known) < 0.01:
                    ax.set_ylim(min(known) - 0.01, min(max(known) + 0.01, 1.0))
            else:                                 # counts and seconds
                ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
                ax.yaxis.set_major_formatter(FuncFormatter(_figure_value))
                if known and max(known) - min(known) < 2:
                    ax.set_ylim(min(known) - 1, max(known) + 1)
            ax.set_xticks(x[::step], labels[::step], rotation=30, ha="right", fontsize=7.5)
            ax.margins(x=0.08, y=0.25)
        for ax in list(axes.flat)[len(names):]:
            ax.set_visible(False)
        fig.tight_layout(h_pad=1.5)
        return _to_svg(fig)
