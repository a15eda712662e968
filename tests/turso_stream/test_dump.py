"""iterdump: the same text as sqlite3's for the same database; dumps load back."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import turso_stream

MODULES = (sqlite3, turso_stream)

SCHEMA = """
create table zeta(a integer primary key, b text, c real, d blob, e);
create table "we""ird name"("col one", [col "two"]);
create table alpha(k text primary key, v) without rowid;
create table empty(x);
create index zeta_b on zeta(b);
create unique index zeta_c on zeta(c, e);
create view zv as select a, b from zeta where a > 1;
"""

DATA = """
insert into zeta values (1, 'plain', 1.5, x'00ff10', NULL);
insert into zeta values (2, 'it''s "quoted"', 0.1, x'', 10);
insert into zeta values (3, 'line
break', -0.0, NULL, 1e100);
insert into zeta values (7, 'ünïcödé ✓', 123456789012345.0, x'41', -9223372036854775807);
insert into zeta values (8, NULL, 2.5e-300, NULL, 'mixed');
insert into "we""ird name" values ('a', 1), (NULL, x'be');
insert into alpha values ('k2', 2), ('k1', 1), ('k3', NULL);
"""


def dump(m, script):
    conn = m.connect(":memory:")
    conn.executescript(script)
    return list(conn.iterdump())


def test_iterdump_text_matches_sqlite3():
    expected, actual = (dump(m, SCHEMA + DATA) for m in MODULES)
    assert actual == expected
    assert actual[0] == "BEGIN TRANSACTION;" and actual[-1] == "COMMIT;"


def test_iterdump_of_empty_database():
    assert dump(turso_stream, "") == dump(sqlite3, "") == ["BEGIN TRANSACTION;", "COMMIT;"]


def test_iterdump_sees_own_uncommitted_changes():
    got = []
    for m in MODULES:
        conn = m.connect(":memory:")
        conn.execute("create table t(a)")
        conn.execute("insert into t values (1)")
        assert conn.in_transaction
        got.append(list(conn.iterdump()))
    assert got[1] == got[0]


def test_dump_loads_back_into_both_engines():
    lines = dump(turso_stream, SCHEMA + DATA)
    script = "\n".join(lines)
    for m in MODULES:
        conn = m.connect(":memory:")
        conn.executescript(script)
        assert list(conn.iterdump()) == lines


def test_iterdump_ignores_row_factory():
    conn = turso_stream.connect(":memory:")
    conn.row_factory = turso_stream.Row
    conn.execute("create table t(a)")
    conn.execute("insert into t values ('x')")
    assert list(conn.iterdump())[2] == "INSERT INTO \"t\" VALUES('x');"


def test_smallest_integer_round_trips_through_dump():
    conn = turso_stream.connect(":memory:")
    conn.execute("create table t(a)")
    conn.execute("insert into t values (?)", (-(1 << 63),))
    again = turso_stream.connect(":memory:")
    again.executescript("\n".join(conn.iterdump()))
    assert again.execute("select a, typeof(a) from t").fetchall() == [(-(1 << 63), "integer")]


@pytest.mark.xfail(strict=True, reason="engine planner: SQLite scans a covering index for "
                   "'SELECT ... FROM t' (rows in index order); the engine scans the table")
def test_iterdump_row_order_with_covering_index():
    script = ("create table t(k text primary key, v) without rowid;"
              "create index t_v on t(v, k); insert into t values ('a', 2), ('b', 1);")
    assert dump(turso_stream, script) == dump(sqlite3, script)


def test_iterdump_orders_views_and_indexes_by_creation():
    script = "create table t(a); create view v as select a from t; create index i on t(a);"
    assert dump(turso_stream, script) == dump(sqlite3, script)


scalars = st.one_of(
    st.none(), st.integers(-(1 << 63), (1 << 63) - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=6),
    st.binary(max_size=4))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(scalars, scalars), max_size=6))
def test_random_values_dump_identically(rows):
    got = []
    for m in MODULES:
        conn = m.connect(":memory:")
        conn.execute("create table t(a, b)")
        conn.executemany("insert into t values (?, ?)", rows)
        got.append(list(conn.iterdump()))
    assert got[1] == got[0]


def test_iterdump_restores_autoincrement_counters_like_sqlite3():
    script = ('create table t(id integer primary key autoincrement, a); create index ta on t(a);'
              'create table "u x"(id integer primary key autoincrement);'
              'insert into t(a) values (1),(2); insert into "u x" default values;'
              'delete from t where id=2;')
    assert dump(turso_stream, script) == dump(sqlite3, script)
