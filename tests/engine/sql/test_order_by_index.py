"""ORDER BY served by an index walk (``OrderingPlanner._index_ordered``) when the
query has a WHERE: results against sqlite3, EXPLAIN QUERY PLAN lines, and that a
LIMIT stops the walk after the rows it needs."""

from __future__ import annotations

import sqlite3

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import turso_stream
from engine.values import sort_key_function

SCHEMA = [
    "CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER, b TEXT, c, d TEXT COLLATE NOCASE)",
    "CREATE INDEX t_ab ON t(a, b)",
    "CREATE INDEX t_c ON t(c)",
    "CREATE INDEX t_d ON t(d)",
]
COLS = "id, a, b, c, d"

# few distinct values, so that ties, NULLs and mixed types are common
VALUES = st.one_of(
    st.none(), st.integers(-3, 3), st.sampled_from([0.5, -1.5, 2.0]),
    st.sampled_from(["a", "A", "b", "B ", "ab", "", "10"]), st.sampled_from([b"\x00", b"a"]))
LIMITS = st.integers(0, 8)

B, NOCASE = "BINARY", "NOCASE"
# (sql, parameter strategies, ORDER BY as (result column, collation))
QUERIES = [
    (f"SELECT {COLS} FROM t WHERE c > ? ORDER BY a", [VALUES], [(1, B)]),
    (f"SELECT {COLS} FROM t WHERE a = ? ORDER BY b", [VALUES], [(2, B)]),
    (f"SELECT {COLS} FROM t WHERE a = ? ORDER BY b DESC", [VALUES], [(2, B)]),
    (f"SELECT {COLS} FROM t WHERE a = ? ORDER BY a, b", [VALUES], [(1, B), (2, B)]),
    (f"SELECT {COLS} FROM t WHERE a = ? ORDER BY a DESC, b DESC", [VALUES], [(1, B), (2, B)]),
    (f"SELECT {COLS} FROM t WHERE a = ? AND b > ? ORDER BY b LIMIT ?",
     [VALUES, VALUES, LIMITS], [(2, B)]),
    (f"SELECT {COLS} FROM t WHERE a = ? AND b <= ? ORDER BY b DESC", [VALUES, VALUES], [(2, B)]),
    (f"SELECT {COLS} FROM t WHERE a > ? ORDER BY a DESC LIMIT ?", [VALUES, LIMITS], [(1, B)]),
    (f"SELECT {COLS} FROM t WHERE a BETWEEN ? AND ? ORDER BY a", [VALUES, VALUES], [(1, B)]),
    (f"SELECT {COLS} FROM t WHERE b IS NOT NULL ORDER BY a, b LIMIT ?", [LIMITS],
     [(1, B), (2, B)]),
    (f"SELECT {COLS} FROM t WHERE d >= ? ORDER BY d", [VALUES], [(4, NOCASE)]),
    (f"SELECT {COLS} FROM t WHERE d = ? ORDER BY d DESC", [VALUES], [(4, NOCASE)]),
    (f"SELECT {COLS} FROM t WHERE d <> ? ORDER BY d COLLATE BINARY", [VALUES], [(4, B)]),
    (f"SELECT {COLS} FROM t WHERE c = ? ORDER BY a LIMIT ?", [VALUES, LIMITS], [(1, B)]),
    (f"SELECT {COLS} FROM t WHERE c = ? ORDER BY a", [VALUES], [(1, B)]),
    (f"SELECT {COLS} FROM t WHERE id > ? ORDER BY a DESC", [VALUES], [(1, B)]),
    (f"SELECT {COLS} FROM t WHERE id IN (?, ?) ORDER BY c", [VALUES, VALUES], [(3, B)]),
    (f"SELECT {COLS} FROM t WHERE c IS NOT ? ORDER BY a NULLS LAST", [VALUES], [(1, B)]),
    (f"SELECT {COLS} FROM t WHERE a = ? ORDER BY b DESC NULLS FIRST", [VALUES], [(2, B)]),
    (f"SELECT {COLS} FROM t WHERE a IN (?, ?) ORDER BY b", [VALUES, VALUES], [(2, B)]),
    ("SELECT id, a AS x, b, c, d FROM t WHERE c <> ? ORDER BY x DESC LIMIT ?",
     [VALUES, LIMITS], [(1, B)]),
    (f"SELECT {COLS} FROM t WHERE a = ? ORDER BY 3", [VALUES], [(2, B)]),
    (f"SELECT {COLS} FROM t WHERE a = ? AND c = ? ORDER BY b", [VALUES, VALUES], [(2, B)]),
]


def _connections(rows):
    ours = turso_stream.connect(":memory:", isolation_level=None)
    ref = sqlite3.connect(":memory:", isolation_level=None)
    for conn in (ours, ref):
        for stmt in SCHEMA:
            conn.execute(stmt)
        conn.executemany("INSERT INTO t(a, b, c, d) VALUES (?, ?, ?, ?)", rows)
    return ours, ref


def _typed(row):
    return tuple((type(v).__name__, v) for v in row)


def _tie_groups(rows, order):
    """Rows as runs of equal ORDER BY keys, each run's rows sorted by rowid (column 0):
    ORDER BY fixes the order only up to ties. ``[(key, [typed rows])]``."""
    keys = [(i, sort_key_function(coll)) for i, coll in order]
    groups = []
    for row in rows:
        k = tuple(f(row[i]) for i, f in keys)
        if not groups or groups[-1][0] != k:
            groups.append((k, []))
        groups[-1][1].append(row)
    return [(k, sorted((_typed(r) for r in g), key=lambda r: r[0][1])) for k, g in groups]


def _same_up_to_ties(ours, ref, order, limited, context):
    got, want = _tie_groups(ours, order), _tie_groups(ref, order)
    if limited and want:
        # LIMIT may cut a run of ties: which of its rows are kept is unspecified
        assert [k for k, _g in got] == [k for k, _g in want], context
        assert len(ours) == len(ref), context
        got, want = got[:-1], want[:-1]
    assert got == want, f"{context}\nours:   {ours}\nsqlite: {ref}"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(VALUES, VALUES, VALUES, VALUES), max_size=40), data=st.data())
def test_ordered_index_walks_match_sqlite(rows, data):
    ours, ref = _connections(rows)
    for sql, param_strategies, order in QUERIES:
        params = tuple(data.draw(s) for s in param_strategies)
        context = f"{sql} {params!r}"
        got = ours.execute(sql, params).fetchall()
        want = ref.execute(sql, params).fetchall()
        _same_up_to_ties(got, want, order, "LIMIT" in sql, context)


def test_ties_come_in_index_order_as_in_sqlite():
    """When both walk the same index the order is fully determined: ties ascend by
    rowid forward and descend backward, exactly as sqlite3 returns them."""
    rows = [(i % 3, "x" if i % 2 else "y", i % 5, None) for i in range(60)]
    ours, ref = _connections(rows)
    for sql in ["SELECT id, a, b FROM t WHERE c > 1 ORDER BY a",
                "SELECT id, a, b FROM t WHERE c > 1 ORDER BY a DESC LIMIT 17",
                "SELECT id, a, b FROM t WHERE a = 1 ORDER BY b",
                "SELECT id, a, b FROM t WHERE a = 2 ORDER BY b DESC LIMIT 9",
                "SELECT id, a, b FROM t WHERE a = 0 ORDER BY a, b"]:
        assert ours.execute(sql).fetchall() == ref.execute(sql).fetchall(), sql


def _plan(conn, sql):
    return [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall()]


def test_explain_query_plan_shows_the_walk_where_sqlite_does():
    ours, ref = _connections([])
    same_as_sqlite = [
        "SELECT * FROM t WHERE c > 1 ORDER BY a",
        "SELECT * FROM t WHERE a = 1 ORDER BY b",
        "SELECT * FROM t WHERE a = 1 ORDER BY b DESC",
        "SELECT * FROM t WHERE a = 1 ORDER BY a, b",
        "SELECT * FROM t WHERE a = 1 ORDER BY a DESC, b DESC",
        "SELECT * FROM t WHERE a = 1 AND b > 'x' ORDER BY b",
        "SELECT * FROM t WHERE a > 1 ORDER BY a DESC",
        "SELECT * FROM t WHERE c = 5 ORDER BY a",
        "SELECT * FROM t WHERE d = 'q' ORDER BY d",
        "SELECT * FROM t WHERE b = 'q' ORDER BY d COLLATE BINARY",
    ]
    for sql in same_as_sqlite:
        want = [line.replace("COVERING INDEX", "INDEX") for line in _plan(ref, sql)]
        assert _plan(ours, sql) == want, sql
    assert _plan(ours, "SELECT * FROM t WHERE a = 1 ORDER BY b") == [
        "SEARCH t USING INDEX t_ab (a=?)"]
    assert _plan(ours, "SELECT * FROM t WHERE a = 1 AND b < 'x' ORDER BY b DESC") == [
        "SEARCH t USING INDEX t_ab (a=? AND b<?)"]
    # one row to sort: sqlite3 omits the sorter's line, we still show it
    assert _plan(ours, "SELECT * FROM t WHERE id = 5 ORDER BY a") == [
        "SEARCH t USING INTEGER PRIMARY KEY (rowid=?)", "USE TEMP B-TREE FOR ORDER BY"]


def test_explain_rule_against_the_where_probe_and_nulls():
    ours, _ref = _connections([])
    # a more selective equality probe wins without a LIMIT; with one, the ordered walk
    assert _plan(ours, "SELECT * FROM t WHERE c = 5 ORDER BY a") == [
        "SEARCH t USING INDEX t_c (c=?)", "USE TEMP B-TREE FOR ORDER BY"]
    assert _plan(ours, "SELECT * FROM t WHERE c = 5 ORDER BY a LIMIT 3") == [
        "SCAN t USING INDEX t_ab"]
    # a range elsewhere never beats the walk (sqlite3's costs may pick the range here)
    assert _plan(ours, "SELECT * FROM t WHERE c > 1 ORDER BY a LIMIT 3") == [
        "SCAN t USING INDEX t_ab"]
    # NULLS placement against the walk's, or IN on the prefix: sorted
    for sql in ["SELECT * FROM t WHERE c > 1 ORDER BY a NULLS LAST",
                "SELECT * FROM t WHERE a = 1 ORDER BY b DESC NULLS FIRST",
                "SELECT * FROM t WHERE a IN (1, 2) ORDER BY b",
                "SELECT * FROM t WHERE a = 1 ORDER BY b, c",
                "SELECT * FROM t WHERE c > 1 ORDER BY a COLLATE NOCASE"]:
        assert _plan(ours, sql)[-1] == "USE TEMP B-TREE FOR ORDER BY", sql
    # a subquery in the WHERE keeps the planned path (it is not planned twice)
    sql = "SELECT * FROM t WHERE c IN (SELECT c FROM t) ORDER BY a"
    assert _plan(ours, sql)[-1] == "USE TEMP B-TREE FOR ORDER BY"


def test_own_writes_are_walked_in_order():
    """Rows written by the open transaction are merged into the walk."""
    ours, ref = _connections([(1, "b", 1, "x"), (1, "a", 2, "y"), (2, "c", 1, "z")])
    for conn in (ours, ref):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t(a, b, c, d) VALUES (?, ?, ?, ?)",
                         [(1, "aa", 1, "w"), (1, None, 1, "v"), (3, "d", 1, "u")])
        conn.execute("DELETE FROM t WHERE b = 'b'")
    for sql in ["SELECT id, a, b FROM t WHERE a = 1 ORDER BY b",
                "SELECT id, a, b FROM t WHERE c = 1 ORDER BY a DESC LIMIT 2"]:
        assert ours.execute(sql).fetchall() == ref.execute(sql).fetchall(), sql


def test_limit_stops_the_walk_after_the_rows_it_needs():
    """A user function in the WHERE counts the rows tested: LIMIT 10 over 100k rows
    tests a handful of them, not the table."""
    n = 100_000
    conn = turso_stream.connect(":memory:")
    conn.execute("CREATE TABLE big(id INTEGER PRIMARY KEY, a INTEGER, b INTEGER, x)")
    conn.execute("CREATE INDEX big_ab ON big(a, b)")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO big(a, b, x) VALUES (?, ?, ?)",
                     (((i * 7919) % 100, (i * 104729) % n, i % 3) for i in range(n)))
    conn.execute("COMMIT")
    tested = []

    def touch(v):
        tested.append(v)
        return 1
    conn.create_function("touch", 1, touch)
    got = conn.execute("SELECT a, b FROM big WHERE touch(x) ORDER BY a, b LIMIT 10").fetchall()
    assert got == sorted(got) and len(got) == 10 and got[0][0] == 0
    assert len(tested) == 10
    tested.clear()
    got = conn.execute(
        "SELECT b FROM big WHERE a = 42 AND touch(x) AND x = 1 ORDER BY b DESC LIMIT 10"
    ).fetchall()
    assert len(got) == 10 and got == sorted(got, reverse=True)
    assert len(tested) < 100  # about 30 = 10 / P(x = 1), of the 1000 rows with a = 42
