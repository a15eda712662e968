"""The C-loop full scan (``Transaction.scan_lists``) and the hashed index equality
probe (``IndexStore.prefix_row_keys`` over ``_Entries.first``) give the same rows
as the general paths and as sqlite3: with own writes, with an older snapshot open
while others commit, with duplicates past the probe limit, with user collations
(unhashable keys) and after the entries are cleared and rebuilt."""

from __future__ import annotations

import sqlite3

from hypothesis import given, settings
from hypothesis import strategies as st

import turso_stream
from engine.mvcc.index import TOP, _Entries
from engine.values import sort_key

KEYS = st.one_of(st.none(), st.integers(-3, 3), st.sampled_from([1.0, 2.5, "a", "A", "b", b"\x00"]))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["add", "discard", "clear"]), KEYS,
                          st.integers(0, 6)), max_size=60),
       KEYS)
def test_entries_first_part_dict_stays_in_step(ops, probe):
    """After any add/discard/clear sequence the dict mirrors the SortedList (``_check``)
    and a probe returns what a bisection range read returns."""
    from engine.mvcc.index import IndexStore
    entries = _Entries()
    for op, value, rk in ops:
        entry = (sort_key(value), rk)
        if op == "add":
            if entry not in entries:
                entries.add(entry)
        elif op == "discard":
            entries.discard(entry)
        else:
            entries.clear()
        _check_first(entries)
    prefix = (sort_key(probe),)
    expected = [e[-1] for e in entries.irange(prefix, prefix + (TOP,))]
    store = IndexStore.__new__(IndexStore)
    store.entries = entries
    got = store.prefix_row_keys(prefix, limit=4)
    if got is None:
        assert len(expected) > 4
    else:
        assert got == expected


def _check_first(entries):
    grouped = {}
    for entry in entries:
        grouped.setdefault(entry[0], []).append(entry)
    assert set(entries.first) == set(grouped)
    for part, group in grouped.items():
        cur = entries.first[part]
        assert (sorted(cur) if type(cur) is list else [cur]) == group


def test_entries_copy_and_unhashable_parts():
    """``copy`` goes through our ``update``; an unhashable part (a user collation's
    ``cmp_to_key`` key) turns the dict off and probes bisect."""
    from functools import cmp_to_key

    from engine.mvcc.index import IndexStore
    e = _Entries([((1, 2), 5), ((1, 2), 3), ((1, 3), 1)])
    assert sorted(e.copy().first[(1, 2)]) == [((1, 2), 3), ((1, 2), 5)]
    rev = cmp_to_key(lambda x, y: (x < y) - (x > y))
    u = _Entries()
    for text, rk in (("a", 1), ("b", 2), ("b", 3), ("c", 4)):
        u.add((rev(text), rk))
    assert u.first is None
    store = IndexStore.__new__(IndexStore)
    store.entries = u
    assert store.prefix_row_keys((rev("b"),)) == [2, 3]
    assert store.prefix_row_keys((rev("z"),)) == []
    u.discard((rev("b"), 2))
    assert store.prefix_row_keys((rev("b"),)) == [3]


def _pair(schema, rows):
    ours, ref = turso_stream.connect(":memory:", isolation_level=None), sqlite3.connect(":memory:")
    for conn in (ours, ref):
        for stmt in schema:
            conn.execute(stmt)
        conn.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    return ours, ref


SCHEMA = ["CREATE TABLE t(a, b TEXT COLLATE NOCASE, c)", "CREATE INDEX ta ON t(a)",
          "CREATE INDEX tb ON t(b)", "CREATE TABLE u(k, v)"]
QUERIES = ["SELECT rowid, * FROM t", "SELECT * FROM t WHERE c > 1", "SELECT * FROM t WHERE a = 1",
           "SELECT * FROM t WHERE b = 'X'", "SELECT t.rowid, u.v FROM u JOIN t ON t.a = u.k",
           "SELECT count(*), sum(c) FROM t WHERE c IS NOT NULL AND a <> 2"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([1, 2, 3, 1.0, "1", None]),
                          st.sampled_from(["x", "X", "y", None]), st.integers(0, 3)),
                max_size=40))
def test_fast_paths_equal_sqlite(rows):
    """Duplicates beyond the probe limit (16) fall back to the range read."""
    ours, ref = _pair(SCHEMA, rows)
    for conn in (ours, ref):
        conn.executemany("INSERT INTO u VALUES (?, ?)", [(1, "one"), (2, "two"), ("1", "s")])
    for sql in QUERIES:
        assert ours.execute(sql).fetchall() == ref.execute(sql).fetchall(), sql


def test_own_writes_and_older_snapshots(tmp_path):
    """Inside a transaction that wrote the table, and at a snapshot older than other
    connections' commits, the scan and probe see exactly their snapshot."""
    path = str(tmp_path / "db")
    a = turso_stream.connect(path, isolation_level=None)
    b = turso_stream.connect(path, isolation_level=None)
    a.execute("CREATE TABLE t(a, b TEXT COLLATE NOCASE, c)")
    a.execute("CREATE INDEX ta ON t(a)")
    a.executemany("INSERT INTO t VALUES (?, ?, ?)", [(i % 3, "x", i) for i in range(30)])
    a.execute("BEGIN")
    a.execute("INSERT INTO t VALUES (1, 'new', 99)")
    a.execute("DELETE FROM t WHERE c = 4")
    assert a.execute("SELECT count(*) FROM t").fetchone() == (30,)
    assert a.execute("SELECT count(*) FROM t WHERE a = 1").fetchone() == (10,)
    a.execute("ROLLBACK")
    a.execute("BEGIN")
    assert a.execute("SELECT count(*) FROM t WHERE a = 1").fetchone() == (10,)
    b.execute("INSERT INTO t VALUES (1, 'other', 100)")
    b.execute("UPDATE t SET a = 7 WHERE c = 1")
    assert a.execute("SELECT count(*) FROM t").fetchone() == (30,)
    assert a.execute("SELECT count(*) FROM t WHERE a = 1").fetchone() == (10,)
    assert a.execute("SELECT c FROM t WHERE a = 7").fetchall() == []
    a.execute("COMMIT")
    assert a.execute("SELECT count(*) FROM t WHERE a = 1").fetchone() == (10,)
    assert a.execute("SELECT c FROM t WHERE a = 7").fetchall() == [(1,)]
    for conn in (a, b):
        db = conn._db
        for t in db.tables.values():
            for ix in t.indexes:
                ix._check(t.versions)
    a.close()
    b.close()


def test_user_collation_comparisons():
    """Comparisons under a collation from ``create_collation`` (they raised "no such
    collation sequence"), as sqlite3 evaluates them."""
    sql = ("SELECT 'a' < 'b' COLLATE rev, 'a' = 'a' COLLATE rev, NULL IS 'a' COLLATE rev,"
           " 'a' IS 'a' COLLATE rev, 'a' IS NOT 'b' COLLATE rev, 1 < 'a' COLLATE rev,"
           " 'b' IN ('a' COLLATE rev, 'b'), 'b' COLLATE rev BETWEEN 'c' AND 'a',"
           " NULL = 'a' COLLATE rev")
    results = []
    for module in (sqlite3, turso_stream):
        conn = module.connect(":memory:")
        conn.create_collation("rev", lambda x, y: (x < y) - (x > y))
        results.append(conn.execute(sql).fetchall())
    assert results[0] == results[1] == [(0, 1, 0, 1, 1, 1, 1, 1, None)]
