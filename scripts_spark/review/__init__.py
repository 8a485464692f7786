"""The review loop: people decide the uncertain links in a local web page, the lake remembers, the matcher learns.

    store.py    the decisions store (append-only, one file per verdict) and the rule that turns verdicts into links
    queue.py    a run's review queue and audit draws with both sides in full, ordered by what a decision is worth
    server.py   the page's small Werkzeug app (127.0.0.1 only, token-guarded writes); static/ holds the page
    cli.py      `python -m scripts_spark review` (serve), `review export`, `review import`
    progress.py review progress for the run report: decided / open, agreement, audited precision

Step 05 applies the verdicts (transforms/review.py); `fit_matcher --decisions` learns from them.
"""
