"""PRAGMA table_info of views reports declared types as sqlite3 does."""

import sqlite3

import turso_stream


def test_view_columns_keep_declared_types_of_plain_column_references():
    sql = ("CREATE VIEW pv AS SELECT t.a, b AS bb, (b), c, t.a + 1 AS d, sum(t.a) AS s, "
           "x.a AS xa FROM t, (SELECT a FROM t) AS x GROUP BY 1")
    out = []
    for module in (sqlite3, turso_stream):
        conn = module.connect(":memory:")
        conn.execute("CREATE TABLE t(a INTEGER, b varchar(10), c)")
        conn.execute(sql)
        out.append(conn.execute("PRAGMA table_info(pv)").fetchall())
    assert out[0] == out[1]
    assert [r[2] for r in out[1]] == ["INTEGER", "varchar(10)", "varchar(10)", "", "", "", "INTEGER"]


def test_materialized_view_columns_report_the_same_types():
    conn = turso_stream.connect(":memory:")
    conn.execute("CREATE TABLE t(a INTEGER, b varchar(10), c)")
    conn.execute("CREATE MATERIALIZED VIEW mv AS SELECT a, b, c, a + 1 AS d, sum(a) AS s "
                 "FROM t GROUP BY a, b, c")
    assert [r[2] for r in conn.execute("PRAGMA table_info(mv)")] == [
        "INTEGER", "varchar(10)", "", "", ""]
