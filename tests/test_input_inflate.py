"""Input files inflate with ISA-L (sources.bronze.open_input) and a damaged file still hands over every good byte."""
from __future__ import annotations

import gzip

import pytest

from scripts_spark.sources.bronze import READ_ERRORS, open_input

LINES = b"".join(b'{"id": %d, "title": "Film %d"}\n' % (i, i) for i in range(20_000))


def _read_all(path) -> tuple[bytes, BaseException | None]:
    got = []
    try:
        with open_input(str(path)) as stream:
            while block := stream.read1(1 << 16):
                got.append(block)
    except READ_ERRORS as exc:
        return b"".join(got), exc
    return b"".join(got), None


def _python_gzip(path) -> bytes:
    got = []
    with pytest.raises(EOFError), gzip.open(path, "rb") as stream:
        while block := stream.read1(1 << 16):
            got.append(block)
    return b"".join(got)


def test_a_whole_file_reads_as_python_gzip_reads_it(tmp_path):
    path = tmp_path / "whole.jsonl.gz"
    path.write_bytes(gzip.compress(LINES))
    assert _read_all(path) == (LINES, None)
    with open_input(str(path)) as stream:
        assert stream.read(10) + stream.read() == LINES


def test_a_truncated_file_gives_the_bytes_python_gzip_gives_then_the_same_error(tmp_path):
    data = gzip.compress(LINES)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    got, error = _read_all(path)
    assert isinstance(error, EOFError)
    assert got and got == _python_gzip(path) and LINES.startswith(got)


def test_a_file_that_is_not_gzip_fails_on_the_first_read(tmp_path):
    path = tmp_path / "plain.jsonl.gz"
    path.write_bytes(LINES[:1000])
    got, error = _read_all(path)
    assert got == b"" and isinstance(error, gzip.BadGzipFile)
