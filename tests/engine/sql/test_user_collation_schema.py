"""A collation registered with create_collation() works in table and index definitions."""

import sqlite3

import pytest

import turso_stream


def _reverse(a, b):
    return (a < b) - (a > b)


@pytest.mark.parametrize("ddl", [
    "CREATE TABLE t(a TEXT COLLATE rev_order UNIQUE)",
    "CREATE TABLE t(a TEXT COLLATE rev_order); CREATE INDEX ti ON t(a)",
    "CREATE TABLE t(a TEXT); CREATE INDEX ti ON t(a COLLATE rev_order)",
])
def test_user_collation_in_unique_and_index_definitions(ddl):
    out = []
    for module in (sqlite3, turso_stream):
        conn = module.connect(":memory:")
        conn.create_collation("rev_order", _reverse)
        conn.executescript(ddl)
        conn.executemany("INSERT INTO t VALUES (?)", [("a",), ("c",), ("b",)])
        rows = conn.execute("SELECT a FROM t ORDER BY a COLLATE rev_order").fetchall()
        probe = conn.execute("SELECT a FROM t WHERE a = 'b' COLLATE rev_order").fetchall()
        out.append((rows, probe))
    assert out[0] == out[1] == ([("c",), ("b",), ("a",)], [("b",)])
