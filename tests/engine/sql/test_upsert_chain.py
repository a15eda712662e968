"""Parser items checked against sqlite3: upsert chains (several ON CONFLICT clauses),
``OVER (GROUPS ...)`` and the rules for chaining a window onto a named one."""

from __future__ import annotations

import sqlite3

import pytest

import turso_stream


def _outcomes(module, setup, statements):
    conn = module.connect(":memory:")
    for s in setup:
        conn.execute(s)
    out = []
    for sql in statements:
        try:
            out.append(conn.execute(sql).fetchall())
        except sqlite3.Error as exc:  # turso_stream's classes subclass sqlite3's? compare text
            out.append((type(exc).__name__, str(exc)))
        except turso_stream.Error as exc:
            out.append((type(exc).__name__, str(exc)))
    return out


def _same_as_sqlite(setup, statements):
    expected = _outcomes(sqlite3, setup, statements)
    got = _outcomes(turso_stream, setup, statements)
    for sql, e, g in zip(statements, expected, got):
        assert g == e, sql


UPSERT_SETUP = ["CREATE TABLE t(a INTEGER PRIMARY KEY, b UNIQUE, c)",
                "INSERT INTO t VALUES (1, 'x', 0), (2, 'y', 0)"]


@pytest.mark.parametrize("statement", [
    # both constraints hit different rows: the first clause in the chain wins
    "INSERT INTO t VALUES (1, 'y', 5) ON CONFLICT(b) DO UPDATE SET c = c + 10 "
    "ON CONFLICT(a) DO UPDATE SET c = c + 100",
    # both hit the same row: still the first clause
    "INSERT INTO t VALUES (1, 'x', 5) ON CONFLICT(b) DO UPDATE SET c = c + 10 "
    "ON CONFLICT(a) DO UPDATE SET c = c + 100",
    # only the second clause's constraint collides
    "INSERT INTO t VALUES (1, 'z', 5) ON CONFLICT(b) DO UPDATE SET c = c + 10 "
    "ON CONFLICT(a) DO UPDATE SET c = c + 100",
    # a last clause without target catches the rest
    "INSERT INTO t VALUES (3, 'x', 5) ON CONFLICT(a) DO NOTHING ON CONFLICT DO UPDATE SET c = -1",
    "INSERT INTO t VALUES (1, 'x', 5) ON CONFLICT(a) DO NOTHING "
    "ON CONFLICT(b) DO UPDATE SET c = -1 RETURNING *",
    "INSERT INTO t VALUES (9, 'n', 5) ON CONFLICT(a) DO NOTHING ON CONFLICT(b) DO NOTHING "
    "RETURNING a",
    # errors: a target-less clause must be last; a target must match a constraint
    "INSERT INTO t VALUES (1, 'q', 5) ON CONFLICT DO NOTHING ON CONFLICT(b) DO NOTHING",
    "INSERT INTO t VALUES (1, 'q', 5) ON CONFLICT(b) DO NOTHING ON CONFLICT(c) DO NOTHING",
])
def test_upsert_chain_matches_sqlite(statement):
    _same_as_sqlite(UPSERT_SETUP, [statement, "SELECT * FROM t ORDER BY a"])


def test_upsert_chain_inside_trigger():
    setup = UPSERT_SETUP + [
        "CREATE TABLE log(x)",
        "CREATE TRIGGER tr AFTER INSERT ON log BEGIN INSERT INTO t VALUES (new.x, 'k', 1) "
        "ON CONFLICT(b) DO UPDATE SET c = c + 10 ON CONFLICT(a) DO UPDATE SET c = c + 100; END"]
    _same_as_sqlite(setup, ["INSERT INTO log VALUES (5)", "INSERT INTO log VALUES (5)",
                            "INSERT INTO log VALUES (6)", "INSERT INTO log VALUES (1)",
                            "SELECT * FROM t ORDER BY a"])


WINDOW_SETUP = ["CREATE TABLE w(x)", "INSERT INTO w VALUES (1), (2), (3), (3), (5)"]


@pytest.mark.parametrize("query", [
    "SELECT x, sum(x) OVER (GROUPS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW EXCLUDE TIES) "
    "FROM w",
    "SELECT x, sum(x) OVER (GROUPS 1 PRECEDING) FROM w",
    "SELECT x, sum(x) OVER (ORDER BY x GROUPS 1 PRECEDING) FROM w",
    "SELECT x, sum(x) OVER groups FROM w WINDOW groups AS (ORDER BY x)",
    "SELECT x, sum(x) OVER (groups ORDER BY x) FROM w WINDOW groups AS (PARTITION BY x % 2)",
    "SELECT x, sum(x) OVER win FROM w WINDOW win AS (ORDER BY x ROWS 1 PRECEDING)",
    "SELECT x, sum(x) OVER (win) FROM w WINDOW win AS (ORDER BY x ROWS 1 PRECEDING)",
    "SELECT x, sum(x) OVER (win ROWS 1 PRECEDING) FROM w WINDOW win AS (ORDER BY x ROWS 1 PRECEDING)",
    "SELECT x, sum(x) OVER (win ROWS 1 PRECEDING) FROM w WINDOW win AS (ORDER BY x)",
    "SELECT x, sum(x) OVER (win GROUPS 1 PRECEDING) FROM w WINDOW win AS (ORDER BY x)",
    "SELECT x, sum(x) OVER (win ORDER BY x) FROM w WINDOW win AS (PARTITION BY x % 2)",
    "SELECT x, sum(x) OVER (win ORDER BY x) FROM w WINDOW win AS (ORDER BY x)",
    "SELECT x, sum(x) OVER (win PARTITION BY x) FROM w WINDOW win AS (ORDER BY x)",
    "SELECT x, sum(x) OVER (win ORDER BY x) FROM w WINDOW win AS (ROWS 1 PRECEDING)",
    "SELECT x, sum(x) OVER w2 FROM w WINDOW win AS (ORDER BY x), w2 AS (win ROWS 1 PRECEDING)",
    "SELECT x, sum(x) OVER w2 FROM w WINDOW win AS (ORDER BY x ROWS CURRENT ROW), w2 AS (win)",
])
def test_window_chain_matches_sqlite(query):
    _same_as_sqlite(WINDOW_SETUP, [query])


def test_chain_error_names_the_clause():
    setup = UPSERT_SETUP
    _same_as_sqlite(setup, [
        "INSERT INTO t VALUES (1, 'q', 5) ON CONFLICT(c) DO NOTHING ON CONFLICT(b) DO NOTHING",
        "INSERT INTO t VALUES (1, 'q', 5) ON CONFLICT(a) DO NOTHING ON CONFLICT(b) DO NOTHING "
        "ON CONFLICT(c) DO NOTHING",
        "SELECT * FROM t ORDER BY a"])
