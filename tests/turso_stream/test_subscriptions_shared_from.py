"""Parameters inside FROM subqueries and CTEs on the SHARED path (issue 6).

A FROM subquery or non-recursive CTE that reads parameters compiles as a parametrized
relation of its own whose rows carry their binding; the outer query joins P (and other
bound FROM items) on that binding, so one circuit serves every binding
(``engine.ivm.parameters.bound_source``). Each shape here must take the shared path
and, after every commit, the integral of the deltas each subscriber received must
equal the query re-run in stdlib sqlite3 with that subscriber's values, type-strict,
for several bindings at once: bindings that match nothing, NULL, and 1 / 1.0 / '1'
(different bindings: a TEXT column compares '1' = 1 but not '1' = 1.0).
"""

import sqlite3
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import turso_stream
from tests.turso_stream.test_subscriptions_bound import Integral, _typed, _wait

SCHEMA = ["CREATE TABLE t(id INTEGER PRIMARY KEY, grp TEXT, v)",
          "CREATE TABLE u(v INT, label TEXT)"]
SEED_T = [("a", 1), ("b", 2), ("a", 0.5), ("c", None), ("b", 3), ("1", 4), ("1.0", 1),
          ("a", "2")]
SEED_U = [(1, "L1"), (2, "L2"), (3, "L1"), (None, "L2")]

GRP = [("a",), ("b",), (1,), (1.0,), ("1",), (None,), ("zz",)]  # 'zz': matches nothing
NUM = [(1,), (1.0,), ("1",), (2.5,), (None,), (9,)]

# (SQL, bindings): every SQL text here is served by ONE shared circuit.
SHARED_FROM = [
    # the bench shape, and the same through a CTE
    ("SELECT * FROM (SELECT id, v FROM t WHERE grp = ?) WHERE v > 0", GRP),
    ("WITH c AS (SELECT id, v FROM t WHERE grp = ?) SELECT * FROM c WHERE v > 0", GRP),
    # a CTE joined with a table, and a CTE referenced twice (a self-join per binding)
    ("WITH c AS (SELECT id, v FROM t WHERE grp = ?) SELECT c.id, u.label FROM c "
     "JOIN u ON c.v = u.v", GRP),
    ("WITH c AS (SELECT id, v FROM t WHERE grp = ?) SELECT x.id, y.id FROM c AS x "
     "JOIN c AS y ON x.v < y.v", GRP),
    # a parameter inside the FROM subquery and at top level
    ("SELECT s.id, s.v FROM (SELECT id, v FROM t WHERE grp = ?) AS s WHERE s.v <> ?",
     [("a", 1), ("a", 1.0), ("b", "2"), (None, 1), ("a", None), ("1", 4)]),
    # two bound FROM items (comma and JOIN), each with its own parameter
    ("SELECT a.id, b.label FROM (SELECT id, v FROM t WHERE grp = ?) AS a "
     "JOIN (SELECT v, label FROM u WHERE label = ?) AS b ON a.v = b.v",
     [("a", "L1"), ("b", "L2"), ("a", "none"), (None, "L1")]),
    ("SELECT a.id, b.id FROM (SELECT id, v FROM t WHERE grp = ?) AS a, "
     "(SELECT id, v FROM t WHERE v = ?) AS b WHERE a.id < b.id",
     [("a", 1), ("a", 1.0), ("b", "2"), ("zz", 3)]),
    # aggregates above a bound FROM item: ungrouped (one row even for no match), grouped
    ("SELECT count(*), total(s.v), max(s.id) FROM (SELECT id, v FROM t WHERE grp = ?) AS s",
     GRP),
    ("SELECT s.grp, count(*), sum(s.v) FROM (SELECT grp, v FROM t WHERE v >= ?) AS s "
     "GROUP BY s.grp", NUM),
    # aggregates inside the FROM item
    ("SELECT g, n FROM (SELECT grp AS g, count(*) AS n FROM t WHERE v > ? GROUP BY grp) "
     "WHERE n > 0", NUM),
    ("SELECT n, s FROM (SELECT count(*) AS n, total(v) AS s FROM t WHERE grp = ?)", GRP),
    # DISTINCT, ORDER BY ... LIMIT (top-k per binding), windows above a bound item
    # (DISTINCT over 1 and 1.0 keeps whichever SQLite scans first: compare values
    # that cannot collide)
    ("SELECT DISTINCT s.v > 1, typeof(s.v) FROM (SELECT v FROM t WHERE grp = ?) AS s", GRP),
    ("SELECT s.id, s.v FROM (SELECT id, v FROM t WHERE grp = ?) AS s "
     "ORDER BY s.id DESC LIMIT 2", GRP),
    ("SELECT s.id, count(*) OVER (PARTITION BY s.v) FROM "
     "(SELECT id, v FROM t WHERE grp = ?) AS s", GRP),
    # LIMIT ? / ORDER BY inside the FROM item
    ("SELECT id, v FROM (SELECT id, v FROM t ORDER BY id DESC LIMIT ?) WHERE v IS NOT NULL",
     [(2,), (0,), (-1,), ("3",), (1,)]),
    ("SELECT count(*), total(v) FROM (SELECT v FROM t WHERE grp = ? ORDER BY id LIMIT ? "
     "OFFSET 1)", [("a", 2), ("b", 1), ("a", -1)]),
    # a bound item LEFT JOINed to a table (the bound side is the preserved one)
    ("SELECT s.id, u.label FROM (SELECT id, v FROM t WHERE grp = ?) AS s "
     "LEFT JOIN u ON s.v = u.v", GRP),
    # nested bound items, and a parameter read as a value (type kept: ? + v)
    ("SELECT * FROM (SELECT * FROM (SELECT id, v FROM t WHERE grp = ?) WHERE v IS NOT NULL) "
     "WHERE id > 1", GRP),
    ("SELECT x FROM (SELECT ? + v AS x FROM t WHERE grp = 'a')", NUM),
    # a bound item inside a top-level IN subquery (joined through the IN)
    ("SELECT id FROM t WHERE v IN (SELECT v FROM (SELECT v FROM u WHERE label = ?))",
     [("L1",), ("L2",), ("none",)]),
    # a window in a FROM subquery that reads no parameter, parameter at top level
    ("SELECT id, n FROM (SELECT id, v, count(*) OVER (PARTITION BY grp) AS n FROM t) "
     "WHERE v > ?", NUM),
    # top-level DISTINCT keeps 1 and 1.0 apart as bindings
    ("SELECT DISTINCT v > 0 FROM t WHERE grp = ?", GRP),
    # a parameter in an inner JOIN's ON (it joins P as a WHERE term would), also
    # inside a bound FROM item and followed by a LEFT JOIN
    ("SELECT t.id, u.label FROM t JOIN u ON t.v = u.v AND u.label = ?",
     [("L1",), ("L2",), (None,), (1,)]),
    ("SELECT s.id, w.grp FROM (SELECT t.id, t.v FROM t JOIN u ON t.v = u.v AND t.grp = ?) AS s "
     "LEFT JOIN t AS w ON w.id = s.v", GRP),
]

_statement = st.one_of(
    st.tuples(st.just("INSERT INTO t(grp, v) VALUES (?, ?)"),
              st.tuples(st.sampled_from(["a", "b", "c", "1", "1.0"]),
                        st.one_of(st.none(), st.integers(0, 4),
                                  st.sampled_from([0.5, 1.0, 2.5]), st.just("2")))),
    st.tuples(st.just("UPDATE t SET v = ? WHERE id % 3 = ?"),
              st.tuples(st.one_of(st.integers(0, 4), st.just(1.0)), st.integers(0, 2))),
    st.tuples(st.just("UPDATE t SET grp = ? WHERE id % 2 = ?"),
              st.tuples(st.sampled_from(["a", "b", "1"]), st.integers(0, 1))),
    st.tuples(st.just("DELETE FROM t WHERE id = ?"), st.tuples(st.integers(1, 14))),
    st.tuples(st.just("INSERT INTO u VALUES (?, ?)"),
              st.tuples(st.one_of(st.none(), st.integers(0, 4)),
                        st.sampled_from(["L1", "L2", "L9"]))),
    st.tuples(st.just("DELETE FROM u WHERE v = ?"), st.tuples(st.integers(0, 4))),
)


def _connect():
    return turso_stream.connect(":memory:", isolation_level=None, check_same_thread=False)


def _pair():
    conn, oracle = _connect(), sqlite3.connect(":memory:")
    for c in (conn, oracle):
        for ddl in SCHEMA:
            c.execute(ddl)
        c.executemany("INSERT INTO t(grp, v) VALUES (?, ?)", SEED_T)
        c.executemany("INSERT INTO u VALUES (?, ?)", SEED_U)
    oracle.commit()
    return conn, oracle


def _subscribe_all(conn, queries):
    subs = []
    for sql, bindings in queries:
        for binding in bindings:
            integral = Integral()
            subs.append((sql, binding, integral, conn.subscribe(sql, binding, integral)))
    return subs


def _check_all(oracle, subs, step):
    for sql, binding, integral, _handle in subs:
        expected = _typed(oracle.execute(sql, binding).fetchall())
        _wait(lambda: integral.rows == expected, timeout=2.0)
        assert integral.rows == expected, (sql, binding, step)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.lists(_statement, min_size=1, max_size=3), min_size=3, max_size=10))
def test_shared_from_items_integral_equals_requery(commits):
    """One shared circuit per SQL text; initial result + every delta == sqlite3's result
    with each subscriber's values, type-strict, after every commit."""
    conn, oracle = _pair()
    subs = _subscribe_all(conn, SHARED_FROM)
    hub = conn._db.subscription_hub
    for sql, _bindings in SHARED_FROM:
        assert hub.path(sql) == "shared", sql
    assert not hub.bound and not hub.bound_sql
    _check_all(oracle, subs, "initial")
    for step, statements in enumerate(commits):
        conn.execute("BEGIN")
        for sql, params in statements:
            conn.execute(sql, params)
            oracle.execute(sql, params)
        conn.execute("COMMIT")
        oracle.commit()
        _check_all(oracle, subs, step)
    # Removing bindings (-P) and adding them back mid-stream (+P, from the integrated
    # state) leaves every other binding's result exact.
    for *_rest, handle in subs[::2]:
        handle.unsubscribe()
    kept = subs[1::2]
    for sql, params in [("INSERT INTO t(grp, v) VALUES (?, ?)", ("a", 2)),
                        ("UPDATE t SET grp = 'b' WHERE id = 1", ())]:
        conn.execute(sql, params)
        oracle.execute(sql, params)
    oracle.commit()
    _check_all(oracle, kept, "after unsubscribing half")
    again = _subscribe_all(conn, [(sql, [b]) for sql, b, *_rest in subs[::2]])
    _check_all(oracle, again, "subscribed again")
    for *_rest, handle in kept + again:
        handle.unsubscribe()
    assert not hub.queries and not hub.bound
    conn.close()


# Shapes a shared circuit cannot hold cleanly: they stay on the per-binding path.
REFUSED = [
    # a bound item on the NULL-padded side of an outer join
    ("SELECT t.id, s.id FROM t LEFT JOIN (SELECT t.id, u.v FROM u, t WHERE label = ?) AS s "
     "ON t.v = s.v", [("L1",), ("zz",)]),
    ("SELECT u.label, s.id FROM (SELECT id, v FROM t WHERE grp = ?) AS s "
     "RIGHT JOIN u ON s.v = u.v", [("a",), ("b",)]),
    # a compound or VALUES inside a FROM item
    ("SELECT * FROM (SELECT id FROM t WHERE grp = ? UNION SELECT v FROM u)", [("a",)]),
    ("SELECT * FROM (VALUES (?), (2)) AS x", [(1,), ("q",)]),
    # a bound item in the FROM of a correlated subquery expression
    ("SELECT id, (SELECT count(*) FROM (SELECT v FROM u WHERE label = ?) AS s "
     "WHERE s.v = t.v) FROM t", [("L1",), ("L2",)]),
    # a parameter in the ON of an outer join, or of an inner join that a later RIGHT
    # JOIN pads
    ("SELECT t.id, u.label FROM t LEFT JOIN u ON t.v = u.v AND u.label = ?", [("L1",)]),
    ("SELECT t.id, w.label FROM t JOIN u ON t.v = u.v AND u.label = ? "
     "RIGHT JOIN u AS w ON w.v = t.id", [("L1",), ("L2",)]),
    # WITH RECURSIVE
    ("WITH RECURSIVE r(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM r WHERE n < ?) "
     "SELECT t.id, r.n FROM t JOIN r ON t.v = r.n", [(1,), (3,)]),
]


@pytest.mark.parametrize("sql, bindings", REFUSED)
def test_what_cannot_be_shared_stays_per_binding_and_correct(sql, bindings):
    conn, oracle = _pair()
    subs = _subscribe_all(conn, [(sql, bindings)])
    assert conn._db.subscription_hub.path(sql) == "per-binding"
    _check_all(oracle, subs, "initial")
    for stmt in ["INSERT INTO t(grp, v) VALUES ('a', 3)", "INSERT INTO u VALUES (3, 'L1')",
                 "UPDATE t SET v = 2 WHERE id % 2 = 0", "DELETE FROM u WHERE v = 1"]:
        conn.execute(stmt)
        oracle.execute(stmt)
        oracle.commit()
        _check_all(oracle, subs, stmt)
    for *_rest, handle in subs:
        handle.unsubscribe()


def test_a_commit_reaches_only_the_bindings_it_touches():
    """10 bindings of a bound FROM item share one circuit; an insert into one group
    notifies that binding's subscribers only, and the circuit joins P by hash (no
    cross product with the bindings)."""
    conn, _oracle = _pair()
    sql = "WITH c AS (SELECT id, v FROM t WHERE grp = ?) SELECT * FROM c WHERE v > 0"
    got = {g: Integral() for g in range(10)}
    handles = [conn.subscribe(sql, (str(g),), got[g]) for g in range(10)]
    hub = conn._db.subscription_hub
    assert len(hub.queries) == 1 and len(hub.queries[sql].bindings) == 10
    assert not any("theta" in line or "cross" in line
                   for line in hub.queries[sql].compiled.explain)
    assert _wait(lambda: all(len(g.changes) == 1 for g in got.values()))
    conn.execute("INSERT INTO t(grp, v) VALUES ('7', 5)")
    assert _wait(lambda: len(got[7].changes) == 2)
    assert got[7].changes[1].inserted == [(9, 5)] and got[7].changes[1].deleted == []
    time.sleep(0.05)
    assert [g for g in range(10) if len(got[g].changes) > 1] == [7]
    for h in handles:
        h.unsubscribe()
    assert not hub.queries


def test_grouped_result_over_a_bound_item_has_keys_and_updates():
    conn, _oracle = _pair()
    sql = "SELECT s.grp, count(*) FROM (SELECT grp, v FROM t WHERE v >= ?) AS s GROUP BY s.grp"
    got = Integral()
    with conn.subscribe(sql, (1,), got) as handle:
        assert conn._db.subscription_hub.path(sql) == "shared"
        assert handle.key_columns == (0,) and handle.columns == ["grp", "count(*)"]
        conn.execute("INSERT INTO t(grp, v) VALUES ('b', 7)")
        assert _wait(lambda: len(got.changes) == 2)
        assert got.changes[1].updated == [(("b", 2), ("b", 3))]


def test_bad_limit_binding_in_a_from_item_fails_alone():
    """LIMIT 'x' inside a bound FROM item: sqlite3's "datatype mismatch" for that
    subscribe only; the shared circuit keeps serving the other bindings."""
    conn, oracle = _pair()
    sql = "SELECT id FROM (SELECT id FROM t ORDER BY id LIMIT ?)"
    with pytest.raises(sqlite3.IntegrityError, match="datatype mismatch"):
        oracle.execute(sql, ("x",)).fetchall()
    got = Integral()
    with conn.subscribe(sql, (2,), got):
        with pytest.raises(sqlite3.IntegrityError, match="datatype mismatch"):
            conn.subscribe(sql, ("x",), print)
        hub = conn._db.subscription_hub
        assert hub.path(sql) == "shared" and list(hub.queries[sql].bindings) == [(2,)]
        assert _wait(lambda: got.rows == _typed([(1,), (2,)]))
