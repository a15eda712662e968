"""A trigger body reading a materialized view sees its own transaction's writes, as it
would with a plain view: the compiled trigger switches between the view's store and its
SELECT as the transaction's writes require (like cached statements)."""

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
