"""Schema objects that hold SQL expressions (CHECK constraints, expression and partial
indexes, generated columns): computed as sqlite3 computes them, and still there after
the file is closed and opened again (by us and by stdlib sqlite3)."""

from __future__ import annotations

import sqlite3

import pytest

import turso_stream

SCHEMA = [
    "CREATE TABLE t(n TEXT CHECK (length(n) < 6), m AS (upper(n)), "
    "k INT GENERATED ALWAYS AS (length(n)) STORED, j AS (k * 2), "
    "r REAL AS (k), x AS (j + 1) NOT NULL, CHECK (j < 10))",
    "CREATE INDEX t_lower ON t(lower(n))",
    "CREATE INDEX t_m ON t(m) WHERE k > 1",
    "CREATE INDEX t_j ON t(j)",
]
WRITES = [
    "INSERT INTO t(n) VALUES ('ab'), ('cde'), ('f')",
    "UPDATE t SET n = n || 'z' WHERE k = 1",
    "DELETE FROM t WHERE n = 'cde'",
    "INSERT INTO t(n) VALUES ('ghij')",
]
QUERIES = [
    "SELECT *, typeof(k), typeof(r), typeof(j) FROM t ORDER BY n",
    "SELECT n FROM t WHERE lower(n) = 'ab'",
    "SELECT m FROM t WHERE m = 'GHIJ' AND k > 1",
    "SELECT n, j FROM t WHERE j = 4",
]


def _run(conn) -> list:
    for sql in SCHEMA + WRITES:
        conn.execute(sql)
    conn.commit()
    return [conn.execute(q).fetchall() for q in QUERIES]


def test_generated_columns_checks_and_expression_indexes_match_sqlite3():
    ours = _run(turso_stream.connect(":memory:"))
    assert ours == _run(sqlite3.connect(":memory:"))
    assert ours[0][0][:4] == ("ab", "AB", 2, 4)  # computed, not NULL


@pytest.mark.parametrize("sql, message", [
    ("INSERT INTO t(n) VALUES ('toolong')", "CHECK constraint failed"),  # column CHECK
    ("INSERT INTO t(n) VALUES ('abcde')", "CHECK constraint failed"),    # j = 10
    ("INSERT INTO t(n, m) VALUES ('a', 'b')", 'cannot INSERT into generated column "m"'),
    ("UPDATE t SET k = 1", 'cannot UPDATE generated column "k"'),
])
def test_bad_writes_to_computed_columns_fail_as_in_sqlite3(sql, message):
    for module in (sqlite3, turso_stream):
        conn = module.connect(":memory:")
        _run(conn)
        before = conn.execute(QUERIES[0]).fetchall()
        with pytest.raises(module.DatabaseError, match=message):
            conn.execute(sql)
        assert conn.execute(QUERIES[0]).fetchall() == before


def test_a_file_with_expression_schema_objects_reopens(tmp_path):
    path = str(tmp_path / "x.db")
    conn = turso_stream.connect(path)
    expected = _run(conn)
    conn.close()
    conn = turso_stream.connect(path)  # recovery builds CHECKs, indexes, generated columns
    assert [conn.execute(q).fetchall() for q in QUERIES] == expected
    with pytest.raises(turso_stream.IntegrityError, match="CHECK constraint failed"):
        conn.execute("INSERT INTO t(n) VALUES ('toolong')")
    conn.execute("INSERT INTO t(n) VALUES ('q')")
    conn.commit()
    conn.close()
    other = sqlite3.connect(path)  # the checkpointed file: sqlite3 computes the same
    assert other.execute("SELECT n, m, k, j FROM t WHERE n = 'q'").fetchall() == \
        [("q", "Q", 1, 2)]
    other.execute("INSERT INTO t(n) VALUES ('sq')")
    other.commit()
    other.close()
    conn = turso_stream.connect(path)
    assert conn.execute("SELECT n, m, k, j, x FROM t WHERE n = 'sq'").fetchall() == \
        [("sq", "SQ", 2, 4, 5)]
    conn.close()
