"""Materialized views across close/reopen, checkpoints and the SQLite file format."""

from __future__ import annotations

import sqlite3

import turso_stream

SETUP = [
    "CREATE TABLE t(a INTEGER, b TEXT)",
    "INSERT INTO t VALUES (1,'x'),(2,'y'),(3,'x')",
    "CREATE MATERIALIZED VIEW g AS SELECT b, count(*) AS n, sum(a) AS s FROM t GROUP BY b",
    "CREATE MATERIALIZED VIEW g2 AS SELECT b, s * 10 AS s10 FROM g WHERE n > 1",
    "INSERT INTO t VALUES (4,'y')",
]


def _open(path):
    return turso_stream.connect(str(path), isolation_level=None)


def _contents(conn):
    return {name: sorted(conn.execute(f"SELECT * FROM {name}").fetchall())
            for name in ("g", "g2")}


EXPECTED = {"g": [("x", 2, 4), ("y", 2, 6)], "g2": [("x", 40), ("y", 60)]}


def test_reopen_rebuilds_views_and_keeps_maintaining_them(tmp_path):
    path = tmp_path / "v.db"
    conn = _open(path)
    for sql in SETUP:
        conn.execute(sql)
    assert _contents(conn) == EXPECTED
    conn.close()
    conn = _open(path)
    assert _contents(conn) == EXPECTED
    m = conn._session.views
    assert [v.name for v in m._order] == ["g", "g2"]
    m._check()
    conn.execute("INSERT INTO t VALUES (10,'z'),(20,'z')")
    assert _contents(conn)["g2"] == [("x", 40), ("y", 60), ("z", 300)]
    plan = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN SELECT * FROM g WHERE b = 'z'")]
    assert plan[0].startswith("SEARCH g USING INDEX")
    conn.close()


def test_reopen_from_the_log_without_checkpoint(tmp_path):
    path = tmp_path / "log.db"
    conn = _open(path)
    for sql in SETUP:
        conn.execute(sql)
    db = conn._session.db
    db.checkpoint_bytes = 1 << 40  # keep everything in the log
    # Simulate a crash: release the files without the closing checkpoint.
    db._log.close()
    db._lock_file.release()
    db.closed = True
    conn = _open(path)
    assert _contents(conn) == EXPECTED
    conn.close()


def test_sqlite3_reads_the_checkpoint_file(tmp_path):
    path = tmp_path / "ck.db"
    conn = _open(path)
    for sql in SETUP:
        conn.execute(sql)
    conn.close()
    plain = sqlite3.connect(str(path))
    try:
        assert {n: sorted(plain.execute(f"SELECT * FROM {n}").fetchall()) for n in ("g", "g2")} \
            == EXPECTED
        sql = dict(plain.execute("SELECT name, sql FROM sqlite_schema WHERE type='view'"))
        assert sql["g"].startswith("CREATE VIEW g AS")
        marks = plain.execute("SELECT value FROM _turso_stream_meta "
                              "WHERE key = 'materialized_view' ORDER BY value").fetchall()
        assert marks == [("g",), ("g2",)]
    finally:
        plain.close()
    conn = _open(path)
    kinds = conn.execute("SELECT name, sql FROM sqlite_schema WHERE type='view'").fetchall()
    assert all(sql.startswith("CREATE MATERIALIZED VIEW") for _n, sql in kinds)
    assert _contents(conn) == EXPECTED
    conn.close()


def test_failed_view_is_rebuilt_on_reopen(tmp_path):
    path = tmp_path / "f.db"
    conn = _open(path)
    conn.execute("CREATE TABLE big(x INTEGER)")
    conn.execute("CREATE MATERIALIZED VIEW s AS SELECT sum(x) FROM big")
    conn.execute("INSERT INTO big VALUES (9223372036854775807), (1)")
    try:
        conn.execute("SELECT * FROM s")
        raise AssertionError("expected the view to report its failure")
    except sqlite3.OperationalError as exc:
        assert "materialized view s" in str(exc)
    conn.execute("DELETE FROM big WHERE x = 1")
    conn.close()
    conn = _open(path)
    assert conn.execute("SELECT * FROM s").fetchall() == [(9223372036854775807,)]
    conn.close()
