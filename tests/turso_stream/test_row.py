"""turso_stream.Row against sqlite3.Row: same answers for the same rows."""

from __future__ import annotations

import collections.abc
import sqlite3

import pytest

import turso_stream
from turso_stream import Row

MODULES = (sqlite3, turso_stream)


def outcome(fn):
    try:
        return ("ok", fn())
    except Exception as exc:  # noqa: BLE001
        return ("err", type(exc).__name__, str(exc))


def rows(m, sql="select 1 as a, 'two' as B, NULL as \"Mixed Case\", 4 as a"):
    conn = m.connect(":memory:")
    conn.row_factory = m.Row
    return conn, conn.execute(sql).fetchone()


KEYS = [0, 1, -1, -4, 3, 4, -5, "a", "A", "b", "mixed case", "MIXED CASE", "nope", "",
        slice(1, 3), slice(None, None, -1), slice(10, 20), 1.0, b"a", None, True]


@pytest.mark.parametrize("key", KEYS, ids=repr)
def test_indexing_matches_sqlite3_row(key):
    got = [outcome(lambda: rows(m)[1][key]) for m in MODULES]
    assert got[1] == got[0]


def test_keys_len_iteration_and_sequence_protocol():
    got = []
    for m in MODULES:
        _conn, r = rows(m)
        got.append((r.keys(), len(r), list(r), tuple(r), 4 in r, isinstance(
            r, collections.abc.Sequence)))
    assert got[1] == got[0]
    assert got[1][0] == ["a", "B", "Mixed Case", "a"]


def test_equality_and_hash_like_sqlite3():
    got = []
    for m in MODULES:
        conn, r1 = rows(m)
        r2 = conn.execute("select 1 as a, 'two' as B, NULL as \"Mixed Case\", 4 as a").fetchone()
        r3 = conn.execute("select 1 as x, 'two' as B, NULL as \"Mixed Case\", 4 as a").fetchone()
        r4 = conn.execute("select 2 as a, 'two' as B, NULL as \"Mixed Case\", 4 as a").fetchone()
        got.append((r1 == r2, r1 != r2, hash(r1) == hash(r2), r1 == r3, r1 == r4,
                    r1 == (1, "two", None, 4), r1 != (1, "two", None, 4), len({r1, r2})))
        with pytest.raises(TypeError):
            r1 < r2  # noqa: B015 - ordering is not defined
    assert got[1] == got[0]
    assert got[1][:3] == (True, False, True)


def test_row_constructor_and_direct_use():
    conn = turso_stream.connect(":memory:")
    cur = conn.execute("select 1 as x, 2 as y")
    row = Row(cur, (1, 2))
    assert row["Y"] == 2 and row.keys() == ["x", "y"]
    with pytest.raises(TypeError):
        Row(cur, [1, 2])
    with pytest.raises(TypeError):
        Row(object(), (1, 2))
    assert "turso_stream.row.Row object at" in repr(row)


def test_row_factory_on_cursor_and_empty_results():
    conn = turso_stream.connect(":memory:")
    conn.execute("create table t(a, b)")
    cur = conn.cursor()
    cur.row_factory = Row
    assert cur.execute("select * from t").fetchall() == []
    conn.execute("insert into t values (1, 'x')")
    (row,) = cur.execute("select * from t").fetchall()
    assert (row["a"], row["B"], row[-1]) == (1, "x", "x")
    assert [tuple(r) for r in cur.execute("select * from t")] == [(1, "x")]


def test_non_ascii_names_are_compared_case_sensitively_beyond_ascii():
    got = []
    for m in MODULES:
        conn = m.connect(":memory:")
        conn.row_factory = m.Row
        r = conn.execute('select 1 as "Äb"').fetchone()
        got.append([outcome(lambda k=k: r[k]) for k in ("Äb", "äb", "ÄB")])
    assert got[1] == got[0]
