"""`python -m scripts_spark review`: serve the review page, or move the queue through a spreadsheet.

    review [--run-id R] [--port 8765] [--reviewer NAME]       serve the page for the latest run (or R)
    review export --run-id R --out F.csv                      the queue as CSV, with an empty verdict column
    review import F.csv [--run-id R] [--reviewer NAME]        record the CSV's verdicts (empty = undecided)

A CSV verdict is `accept`, `reject`, or another film's tmdb_id. A bad row is refused with its line number and the
reason, the good rows are recorded; the exit status is 1 when any row was refused.
"""
from __future__ import annotations

import argparse
import csv
import getpass
import sys
from pathlib import Path
from typing import Any

EXPORT_COLUMNS = ["source", "release_kind", "release_id", "tmdb_id", "film_title", "film_year", "release_title",
                  "release_year", "match_score", "reasons", "verdict"]
DEFAULT_PORT = 8765


def add_parser(sub, common) -> None:
    """The `review` sub-command and its `export` / `import` actions on the CLI's sub-parsers."""
    review = sub.add_parser(
        "review", help="serve the review page for a run (or export / import its queue as CSV)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common(review, with_inputs=False)
    review.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0 = any free port)")
    review.add_argument("--reviewer", help="who decides, recorded with each verdict (default: your login name)")
    actions = review.add_subparsers(dest="review_action", metavar="{export,import}")
    export = actions.add_parser("export", help="write the run's review queue as CSV with an empty verdict column")
    export.add_argument("--lake-root", default=argparse.SUPPRESS, help="lake root folder (default: LAKE_ROOT)")
    export.add_argument("--run-id", default=argparse.SUPPRESS, help="run whose queue to export (default: latest)")
    export.add_argument("--out", required=True, help="CSV file to write")
    imp = actions.add_parser("import", help="record the verdicts of a CSV written by export")
    imp.add_argument("csv", help="the CSV: verdict = accept, reject, another film's tmdb_id, or empty")
    imp.add_argument("--lake-root", default=argparse.SUPPRESS, help="lake root folder (default: LAKE_ROOT)")
    imp.add_argument("--run-id", default=argparse.SUPPRESS, help="run the CSV was exported from (default: latest)")
    imp.add_argument("--reviewer", default=argparse.SUPPRESS, help="who decided (default: your login name)")


def run(args: argparse.Namespace, settings, latest_run_id) -> int:
    from .queue import ReviewData

    run_id = getattr(args, "run_id", None) or latest_run_id(settings)
    reviewer = getattr(args, "reviewer", None) or getpass.getuser()
    try:
        data = ReviewData(settings.lake_root, run_id)
    except (FileNotFoundError, ValueError) as exc:
        print(f"review: {exc}", file=sys.stderr)
        return 2
    action = getattr(args, "review_action", None)
    if action == "export":
        rows = export_queue(data, Path(args.out))
        print(f"wrote {rows} queued links of run {run_id} to {args.out}: fill the verdict column (accept, reject, "
              f"or another film's tmdb_id), then `review import {args.out}`")
        return 0
    if action == "import":
        return import_verdicts(data, Path(args.csv), reviewer)
    return serve_page(data, reviewer, args.port)


def serve_page(data, reviewer: str, port: int) -> int:
    import logging

    from .server import serve

    logging.getLogger("werkzeug").setLevel(logging.WARNING)   # one line per request is noise on a terminal

    def ready(url: str) -> None:
        listing = data.listing(status="open")["progress"]
        print(f"review page for run {data.run_id}: {url}  ({listing['open']} open of {listing['items']} items; "
              f"reviewer {reviewer}; Ctrl-C stops)", flush=True)

    try:
        serve(data, reviewer, port, ready)
    except KeyboardInterrupt:
        pass
    return 0


def export_queue(data, out: Path) -> int:
    rows = [r for r in data.listing(sample="queue")["items"]]
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=EXPORT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({**r, "reasons": "; ".join(r["reasons"]), "verdict": ""})
    return len(rows)


def parse_row(row: dict[str, Any]) -> tuple[str, str, Any] | None:
    """(pair key, verdict, chosen film) of a CSV row; None when its verdict is empty. Raises ValueError."""
    from .queue import pair_key
    from .store import check_pair

    verdict = (row.get("verdict") or "").strip().lower()
    if not verdict:
        return None
    pair = check_pair((row.get("source") or "").strip(), (row.get("release_kind") or "").strip(),
                      (row.get("release_id") or "").strip(), row.get("tmdb_id"))
    if verdict in ("accept", "reject"):
        return pair_key(pair), verdict, None
    if verdict.isdigit():
        return pair_key(pair), "another_film", int(verdict)
    raise ValueError(f"verdict {row.get('verdict')!r} is not accept, reject or a film's tmdb_id")


def import_verdicts(data, path: Path, reviewer: str) -> int:
    """Record every good row at once (each is durable on its own); print the refused rows with their reasons."""
    recorded, undecided, refused, seen = 0, 0, [], {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = {"source", "release_kind", "release_id", "tmdb_id", "verdict"} - set(reader.fieldnames or [])
        if missing:
            print(f"{path}: refused: no {', '.join(sorted(missing))} column (write the file with `review export`)",
                  file=sys.stderr)
            return 1
        for row in reader:
            line = reader.line_num
            try:
                parsed = parse_row(row)
                if parsed is None:
                    undecided += 1
                    continue
                key, verdict, chosen = parsed
                if key in seen:
                    raise ValueError(f"the same link is decided on line {seen[key]} of this file")
                data.decide(key, verdict, reviewer, chosen, via="csv")
                seen[key] = line
                recorded += 1
            except (ValueError, KeyError) as exc:
                refused.append(f"line {line}: {exc}")
    print(f"{path}: {recorded} verdicts recorded, {undecided} rows left undecided, {len(refused)} refused")
    for reason in refused:
        print(f"  {reason}", file=sys.stderr)
    return 1 if refused else 0
