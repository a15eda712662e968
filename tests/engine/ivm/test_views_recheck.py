"""Materialized views re-checked as transactions go: a trigger body reading one sees its
own transaction's writes (the compiled trigger switches between the view's store and its
SELECT, like cached statements), and a failed view recovers once its data is fixed."""

import sqlite3

import turso_stream

STEPS = [
    ["INSERT INTO u VALUES (0)"],
    ["BEGIN", "INSERT INTO t VALUES (2, 2)", "INSERT INTO u VALUES (1)", "COMMIT"],
    ["INSERT INTO u VALUES (2)"],
    ["BEGIN", "INSERT INTO t VALUES (3, 3)", "INSERT INTO u VALUES (3)", "ROLLBACK"],
    ["BEGIN", "DELETE FROM t", "INSERT INTO u VALUES (4)", "COMMIT"],
    ["INSERT INTO u VALUES (5)"],
]


def _log(module, kind):
    conn = module.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t(g, v)")
    conn.execute("CREATE TABLE u(x)")
    conn.execute("CREATE TABLE log(x, n)")
    conn.execute(f"CREATE {kind} VIEW mv AS SELECT count(*) AS n FROM t")
    conn.execute("CREATE TRIGGER tr AFTER INSERT ON u BEGIN "
                 "INSERT INTO log SELECT new.x, n FROM mv; END")
    for step in STEPS:
        for stmt in step:
            conn.execute(stmt)
    return conn.execute("SELECT * FROM log ORDER BY x").fetchall()


def test_trigger_reads_materialized_view_with_its_transactions_writes():
    expected = _log(sqlite3, "")
    assert expected == [(0, 0), (1, 1), (2, 1), (4, 0), (5, 0)]
    assert _log(turso_stream, "MATERIALIZED") == expected


def test_failed_view_recovers_when_its_data_is_fixed():
    """A view whose maintenance failed (SUM overflow) reports the error on reads, the
    commits go on, and a later commit to its tables rebuilds it: once the offending row
    is gone the view (and the views over it) are current again, as plain views would be."""
    import pytest
    conn = turso_stream.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t(v INT)")
    conn.execute("CREATE MATERIALIZED VIEW s AS SELECT sum(v) AS total, count(*) AS n FROM t")
    conn.execute("CREATE MATERIALIZED VIEW s2 AS SELECT total + 1 FROM s")
    conn.execute("INSERT INTO t VALUES (9223372036854775807)")
    conn.execute("INSERT INTO t VALUES (1)")            # the commit succeeds
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (2,)
    with pytest.raises(turso_stream.OperationalError, match="integer overflow"):
        conn.execute("SELECT * FROM s")
    with pytest.raises(turso_stream.OperationalError, match="reads materialized view s"):
        conn.execute("SELECT * FROM s2")
    conn.execute("DELETE FROM t WHERE v = 1")
    assert conn.execute("SELECT * FROM s").fetchall() == [(9223372036854775807, 1)]
    assert conn.execute("SELECT * FROM s2").fetchall() == [(9.223372036854776e+18,)]


def test_correlated_count_populated_in_bulk_skips_presence_rows():
    """A correlated COUNT(*) over a big table is populated through the bulk aggregation
    path; the binding's presence row must not be counted there either."""
    q = "SELECT t.a, (SELECT count(*) FROM u WHERE u.a = t.a) FROM t"
    results = []
    for module in (sqlite3, turso_stream):
        conn = module.connect(":memory:", isolation_level=None)
        conn.execute("CREATE TABLE t(a)")
        conn.execute("CREATE TABLE u(a)")
        conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(1500)])
        conn.executemany("INSERT INTO u VALUES (?)", [(i % 50,) for i in range(3000)])
        if module is turso_stream:
            conn.execute(f"CREATE MATERIALIZED VIEW v AS {q}")
            q_read = "SELECT * FROM v"
        else:
            q_read = q
        results.append(sorted(conn.execute(q_read).fetchall()))
    assert results[0] == results[1]
