"""Incremental runs: the lake's current state, extracting only what changed, re-linking only what it affects.

    state.py     versioned state tables under <root>/_state/ and the pointer switched at the end of a run
    plan.py      a run's mode (full | incremental | off) and the next state version it builds
    extract.py   a source snapshot diffed against its registry by record id and content hash (steps 01, 02)
    feed_files.py  a feed's input files fingerprinted, so a feed whose files did not change is not read at all
    relink.py    steps 03-05 on the changes only, and what full runs leave in the state
    carry.py     nothing changed since the state's run: steps 03-06 copy its tables instead of recomputing them
    tmdb_changes.py  TMDB API mode: the /movie/changes feed and the daily id export instead of a full walk
    report.py    "what changed in this run" for the report and the dry run

docs/incremental.md describes the design and the measurements.
"""
