"""The executor's fast paths give SQLite's answers: the bounded-heap ORDER BY ...
LIMIT (ties in scan order), batched plain aggregation (``step_values`` equals
single steps), hash-join keys with per-conjunct affinity/collation, and the lazy,
chunked index read (a LIMIT reads few entries; a commit between chunks is not
half-seen)."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import turso_stream
from engine.database import Database
from engine.sql.functions.aggregates import (
    Avg, Count, CountStar, RunningExtreme, Sum, Total)
from engine.sql.functions.registry import SqlFunctionError
from engine.values import sort_key

VALUES = st.one_of(
    st.none(), st.integers(-5, 5), st.integers(-2 ** 63, 2 ** 63 - 1),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(["a", "B", "b", "7", " 3", "x1", ""]), st.binary(max_size=2))


def _both(schema, rows, insert):
    ours, ref = turso_stream.connect(":memory:"), sqlite3.connect(":memory:")
    for conn in (ours, ref):
        for stmt in schema:
            conn.execute(stmt)
        conn.executemany(insert, rows)
    return ours, ref


def _outcome(conn, sql):
    try:
        return conn.execute(sql).fetchall()
    except Exception as exc:  # noqa: BLE001 - compared as outcomes
        return ("error", type(exc).__name__)


# ----------------------------------------------------------------------------- ORDER BY LIMIT

@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(VALUES, VALUES), max_size=60),
       st.sampled_from(["x", "x DESC", "x NULLS LAST", "x DESC NULLS FIRST", "x, y",
                        "x DESC, y DESC", "x, y DESC", "x COLLATE NOCASE", "2 DESC",
                        "y COLLATE NOCASE DESC, x"]),
       st.sampled_from(["", " LIMIT 1", " LIMIT 5", " LIMIT 5 OFFSET 2", " LIMIT 0",
                        " LIMIT -1", " LIMIT 100"]),
       st.booleans())
def test_order_by_limit_matches_sqlite(rows, order, limit, distinct):
    """Every row and its position equal SQLite's, including the order of ties (the
    rowid is selected too, so a tie broken differently shows)."""
    ours, ref = _both(["CREATE TABLE t(id INTEGER PRIMARY KEY, x, y)"],
                      [(i + 1, x, y) for i, (x, y) in enumerate(rows)],
                      "INSERT INTO t VALUES (?, ?, ?)")
    cols = "x, y" if distinct else "id, x, y"
    word = "DISTINCT " if distinct else ""
    sql = f"SELECT {word}{cols} FROM t ORDER BY {order}{limit}"
    assert _outcome(ours, sql) == _outcome(ref, sql), sql


def test_top_k_keeps_ties_in_scan_order():
    ours = turso_stream.connect(":memory:")
    ours.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, k)")
    ours.executemany("INSERT INTO t VALUES (?, ?)", [(i, i % 3) for i in range(1, 301)])
    assert ours.execute("SELECT id FROM t ORDER BY k LIMIT 4").fetchall() == [
        (3,), (6,), (9,), (12,)]
    assert ours.execute("SELECT id FROM t ORDER BY k DESC LIMIT 3").fetchall() == [
        (2,), (5,), (8,)]
    assert ours.execute("SELECT id FROM t ORDER BY k DESC, id DESC LIMIT 2").fetchall() == [
        (299,), (296,)]


def test_top_k_projects_only_rows_that_enter_like_sqlite():
    """SQLite's sorter with a LIMIT computes a row's result columns only when its key
    enters the top k: an error in a row that cannot make it is never raised; one in
    a row that does is."""
    ours, ref = _both(["CREATE TABLE t(id INTEGER PRIMARY KEY, k, v)"],
                      [(1, 1, 1), (2, 2, -9223372036854775808), (3, 0, 3)],
                      "INSERT INTO t VALUES (?, ?, ?)")
    sql = "SELECT abs(v) FROM t ORDER BY k LIMIT 1"
    assert _outcome(ours, sql) == _outcome(ref, sql) == [(3,)]
    sql = "SELECT abs(v) FROM t ORDER BY k DESC LIMIT 1"
    assert _outcome(ours, sql) == _outcome(ref, sql) == ("error", "OperationalError")


# ----------------------------------------------------------------------------- aggregates

def _stepped(factory, values):
    acc = factory()
    for v in values:
        acc.step(v)
    return acc


def _state(acc):
    try:
        return ("ok", acc.finalize())
    except SqlFunctionError as exc:
        return ("error", exc.message)


FACTORIES = [Count, Sum, Total, Avg, lambda: RunningExtreme(True),
             lambda: RunningExtreme(False), lambda: RunningExtreme(True, "NOCASE")]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(VALUES, max_size=20), max_size=4),
       st.sampled_from(range(len(FACTORIES))),
       st.sampled_from(["ints", "floats", "mixed", "big"]))
def test_step_values_equals_single_steps(batches, which, kind):
    if kind == "ints":
        batches = [[v for v in b if v is None or type(v) is int] for b in batches]
    elif kind == "floats":
        batches = [[float(v) if type(v) is int else v for v in b
                    if v is None or type(v) in (int, float)] for b in batches]
    elif kind == "big":
        batches = [[2 ** 62, 2 ** 62, -2 ** 63, 5] * 2 for _ in batches]
    factory = FACTORIES[which]
    batched = factory()
    for b in batches:
        batched.step_values(list(b))
    single = _stepped(factory, [v for b in batches for v in b])
    one, two = _state(batched), _state(single)
    assert one == two and type(one[1]) is type(two[1])


def test_count_star_step_rows():
    acc = CountStar()
    acc.step_rows(5)
    acc.step()
    assert acc.finalize() == 6


def test_sum_overflow_is_seen_inside_a_batch():
    acc = Sum()
    acc.step_values([2 ** 62, 2 ** 62, -2 ** 62])  # the second partial sum overflows
    with pytest.raises(SqlFunctionError, match="integer overflow"):
        acc.finalize()
    ok = Sum()
    ok.step_values([2 ** 62, -2 ** 62, 2 ** 62])
    assert ok.finalize() == 2 ** 62


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(VALUES, VALUES), max_size=2500))
def test_plain_aggregates_match_sqlite(rows):
    """Ungrouped aggregates run batched (more than one batch of rows when long)."""
    ours, ref = _both(["CREATE TABLE t(id INTEGER PRIMARY KEY, x, y INTEGER)"],
                      [(i + 1, x, y) for i, (x, y) in enumerate(rows)],
                      "INSERT INTO t VALUES (?, ?, ?)")
    for sql in ["SELECT count(*), count(x), sum(y), total(x), avg(y), min(x), max(y) FROM t",
                "SELECT max(x COLLATE NOCASE), min(y) FROM t",
                "SELECT max(y), id FROM t", "SELECT sum(x) FROM t WHERE id % 2 = 0"]:
        assert _outcome(ours, sql) == _outcome(ref, sql), sql


def test_lone_min_max_bare_column_reads_the_extreme_row():
    ours, ref = _both(["CREATE TABLE t(id INTEGER PRIMARY KEY, x)"],
                      [(1, 5), (2, 9), (3, 1), (4, 9)], "INSERT INTO t VALUES (?, ?)")
    for sql in ["SELECT max(x), id FROM t", "SELECT min(x), id FROM t",
                "SELECT max(x) FROM t ORDER BY id"]:
        assert ours.execute(sql).fetchall() == ref.execute(sql).fetchall(), sql


# ----------------------------------------------------------------------------- joins

def test_hash_join_keys_convert_each_conjunct_by_its_own_affinity():
    """Two equi-join conjuncts with different comparison affinities (INTEGER vs
    TEXT: NUMERIC; untyped vs untyped: none): each key converts its own operands."""
    schema = ["CREATE TABLE l(id INTEGER PRIMARY KEY, i INTEGER, x)",
              "CREATE TABLE r(id INTEGER PRIMARY KEY, t TEXT, x, c TEXT COLLATE NOCASE)"]
    ours, ref = _both(schema[:1], [(1, 1, "a"), (2, 2, 1), (3, None, "b")],
                      "INSERT INTO l VALUES (?, ?, ?)")
    rrows = [(1, "1", "a", "A"), (2, "2", "1", "b"), (3, "2", 1, "B"), (4, None, "b", "a")]
    for conn in (ours, ref):
        conn.execute(schema[1])
        conn.executemany("INSERT INTO r VALUES (?, ?, ?, ?)", rrows)
    for sql in ["SELECT l.id, r.id FROM l JOIN r ON l.i = r.t AND l.x = r.x ORDER BY 1, 2",
                "SELECT l.id, r.id FROM l LEFT JOIN r ON r.t = l.i AND r.x = l.x ORDER BY 1, 2",
                "SELECT l.id, r.id FROM l JOIN r ON r.c = l.x AND l.i = r.t ORDER BY 1, 2"]:
        assert ours.execute(sql).fetchall() == ref.execute(sql).fetchall(), sql


# ----------------------------------------------------------------------------- index reads

def test_index_ordered_limit_matches_sqlite():
    ours, ref = _both(["CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER)",
                       "CREATE INDEX t_a ON t(a)"],
                      [(i, (i * 7919) % 500) for i in range(5000)], "INSERT INTO t VALUES (?, ?)")
    for sql in ["SELECT id, a FROM t ORDER BY a LIMIT 25", "SELECT a FROM t ORDER BY a LIMIT 3",
                "SELECT id FROM t ORDER BY a DESC LIMIT 25"]:
        assert ours.execute(sql).fetchall() == ref.execute(sql).fetchall(), sql


def _indexed_db(n):
    db = Database()
    with db.begin() as txn:
        txn.create_table("CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER)")
        txn.create_index("CREATE INDEX t_a ON t(a)")
        for i in range(n):
            txn.insert("t", (i, i))
    return db


def test_index_rows_reads_lazily_in_growing_chunks():
    """A reader that stops after k entries leaves the rest of the range unread; every
    range and direction still yields exactly the entries in order."""
    db = _indexed_db(3000)
    txn = db.begin()
    table = txn.table("t")
    ix = table.indexes[-1]
    it = txn.index_rows(table, ix)
    assert [next(it)[0] for _ in range(20)] == list(range(20))
    assert [k for k, _r in it] == list(range(20, 3000))
    assert [k for k, _r in txn.index_rows(table, ix, reverse=True)] == list(range(2999, -1, -1))
    lo, hi = sort_key(100), sort_key(2100)
    assert [k for k, _r in txn.index_rows(table, ix, (), lo, hi)] == list(range(100, 2101))
    assert [k for k, _r in txn.index_rows(table, ix, (), lo, hi, reverse=True)] == list(
        range(2100, 99, -1))
    assert [k for k, _r in txn.index_rows(table, ix, (sort_key(7),))] == [7]
    txn.rollback()


def test_index_rows_sees_its_snapshot_across_a_commit_between_chunks():
    """Another transaction commits while a reader is between chunks: the reader still
    returns exactly its snapshot (the rest of the range is read the checked way)."""
    db = _indexed_db(2000)
    reader = db.begin()
    table = reader.table("t")
    it = reader.index_rows(table, table.indexes[-1])
    first = [next(it) for _ in range(20)]  # past the first chunk of 16
    with db.begin() as txn:
        for k in range(100, 200):
            txn.delete("t", k)
        for k in range(1500, 1600):
            txn.update("t", k, (k, -k))
    rest = list(it)
    assert [k for k, _r in first + rest] == list(range(2000))
    assert all(r == (k, k) for k, r in first + rest)
    reader.rollback()
