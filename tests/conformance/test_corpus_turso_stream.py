"""The sqllogictest corpus against turso_stream: every file, zero failures.

Records are skipped only by the corpus's own skipif/onlyif for engine ``sqlite``.
The same runner passes the corpus on stdlib sqlite3 (test_runner.py), so a
failure here is a difference between turso_stream and SQLite.
"""

from __future__ import annotations

import pathlib

import pytest
import slt

import turso_stream


def _connect():
    return turso_stream.connect(":memory:", isolation_level=None)


def _corpus_files():
    root = pathlib.Path(slt.corpus_dir())
    if not root.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(
            reason=f"sqllogictest corpus not found at {root} (set {slt.CORPUS_ENV})"))]
    return [pytest.param(path, id=str(path.relative_to(root)))
            for path in sorted(root.rglob("*.test"))]


@pytest.mark.parametrize("path", _corpus_files())
def test_corpus_file_passes_on_turso_stream(path):
    report = slt.run_file(path, _connect)
    print(report.summary())
    assert report.failed == 0, report.format()
    assert report.passed > 0
