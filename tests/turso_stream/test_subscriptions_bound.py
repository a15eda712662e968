"""Subscriptions whose parameters a shared circuit cannot hold: one circuit per binding.

A ``?`` in WITH RECURSIVE, a compound arm, a JOIN's ON, a window frame (or a FROM
item the shared circuit cannot carry a binding through, see
test_subscriptions_shared_from.py) puts the SQL text on the per-binding path
(``engine.ivm.subscriptions``): each distinct binding gets a circuit compiled with
its values as constants, shared by that binding's subscribers. Checked here against
stdlib sqlite3 running the query with the parameters bound after every commit, next
to shapes the shared circuit holds (FROM subqueries and CTEs among them).
"""

import asyncio
import sqlite3
import threading
import time
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import turso_stream


def _connect():
    return turso_stream.connect(":memory:", isolation_level=None, check_same_thread=False)


def _wait(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def _typed(rows):
    """A type-strict multiset of rows (1, 1.0 and '1' are three different values)."""
    return Counter(tuple((type(v).__name__, v) for v in r) for r in rows)


class Integral:
    """The multiset a subscriber reconstructs from its deltas, and what it was sent."""

    def __init__(self):
        self.rows = Counter()
        self.changes = []
        self.lock = threading.Lock()

    def __call__(self, change):
        with self.lock:
            self.changes.append(change)
            for r in change.inserted:
                self.rows[tuple((type(v).__name__, v) for v in r)] += 1
            for r in change.deleted:
                key = tuple((type(v).__name__, v) for v in r)
                self.rows[key] -= 1
                assert self.rows[key] >= 0, f"deleted a row never delivered: {r}"
                if not self.rows[key]:
                    del self.rows[key]


SCHEMA = ["CREATE TABLE t(id INTEGER PRIMARY KEY, grp TEXT, v)",
          "CREATE TABLE u(v INT, label TEXT)"]

# (SQL, bindings subscribed at once): every SQL text here takes the per-binding path
# except the two marked shared (checked against the oracle all the same).
BOUND_QUERIES = [
    # WITH RECURSIVE bounded by a parameter; a compound inside a CTE
    ("WITH c AS (SELECT id, v FROM t WHERE grp = ? UNION ALL SELECT id, v FROM t WHERE 0) "
     "SELECT c.id, u.label FROM c JOIN u ON c.v = u.v", [("a",), ("c",)]),
    ("WITH RECURSIVE r(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM r WHERE n < ?) "
     "SELECT t.id, r.n FROM t JOIN r ON t.v = r.n", [(1,), (3,), (-1,)]),
    # compound arms
    ("SELECT v FROM t WHERE grp = ? UNION SELECT v FROM u WHERE label = ?",
     [("a", "L1"), ("b", "L9")]),
    ("SELECT id, v FROM t WHERE grp = ? UNION ALL SELECT id, v FROM t WHERE v = ?",
     [("a", 2), ("c", 0.5)]),
    ("SELECT v FROM t EXCEPT SELECT v FROM t WHERE grp = ?", [("a",), ("b",)]),
    # JOIN ... ON with a parameter
    ("SELECT t.id, u.label FROM t LEFT JOIN u ON t.v = u.v AND u.label <> ?",
     [("L1",), ("none",)]),
    # window frame (top level, and in a FROM subquery)
    ("SELECT id, total(v) OVER (ORDER BY id ROWS BETWEEN ? PRECEDING AND CURRENT ROW) "
     "FROM t WHERE grp = ?", [(1, "a"), (0, "b"), (3, "a")]),
    ("SELECT id, s FROM (SELECT id, total(v) OVER (ORDER BY id ROWS ? PRECEDING) AS s "
     "FROM t)", [(1,), (0,)]),
]
SHARED_QUERIES = [
    # FROM subqueries and CTEs reading parameters (bound FROM items)
    ("SELECT s.id, s.v FROM (SELECT id, v FROM t WHERE grp = ?) AS s WHERE s.v IS NOT NULL",
     [("a",), ("b",), ("zz",)]),
    ("SELECT g, n FROM (SELECT grp AS g, count(*) AS n, total(v) AS s FROM t WHERE v > ? "
     "GROUP BY grp) WHERE n > 0", [(1,), (2.5,), ("2",)]),
    ("WITH c AS (SELECT id, v FROM t WHERE grp = ?) SELECT c.id, u.label FROM c "
     "JOIN u ON c.v = u.v", [("a",), ("c",)]),
    # windows in FROM subqueries (partitioned by binding when the subquery reads a
    # parameter), LIMIT ? inside a subquery
    ("SELECT id, n FROM (SELECT id, v, count(*) OVER (PARTITION BY grp) AS n FROM t "
     "WHERE v > ?)", [(1,), (3,)]),
    ("SELECT id, n FROM (SELECT id, v, count(*) OVER (PARTITION BY grp) AS n FROM t) "
     "WHERE v > ?", [(1,), (3,)]),
    ("SELECT id, v FROM (SELECT id, v FROM t ORDER BY v DESC, id LIMIT ?) WHERE v IS NOT NULL",
     [(2,), (0,), (-1,), ("3",)]),
    ("SELECT count(*), total(v) FROM (SELECT v FROM t WHERE grp = ? ORDER BY id LIMIT ? "
     "OFFSET 1)", [("a", 2), ("b", 1)]),
    # PARTITION BY a parameter at the top level: the shared circuit holds it
    ("SELECT id, count(*) OVER (PARTITION BY grp = ?) FROM t", [("a",), ("b",)]),
    ("SELECT id FROM t WHERE grp = ?", [("a",)]),
]

_statement = st.one_of(
    st.tuples(st.just("INSERT INTO t(grp, v) VALUES (?, ?)"),
              st.tuples(st.sampled_from("abc"),
                        st.one_of(st.none(), st.integers(0, 4),
                                  st.sampled_from([0.5, 1.5, 2.5]), st.just("2")))),
    st.tuples(st.just("UPDATE t SET v = ? WHERE id % 3 = ?"),
              st.tuples(st.integers(0, 4), st.integers(0, 2))),
    st.tuples(st.just("UPDATE t SET grp = ? WHERE id % 2 = ?"),
              st.tuples(st.sampled_from("abc"), st.integers(0, 1))),
    st.tuples(st.just("DELETE FROM t WHERE id = ?"), st.tuples(st.integers(1, 12))),
    st.tuples(st.just("INSERT INTO u VALUES (?, ?)"),
              st.tuples(st.integers(0, 4), st.sampled_from(["L1", "L2", "L9"]))),
    st.tuples(st.just("DELETE FROM u WHERE v = ?"), st.tuples(st.integers(0, 4))),
)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(_statement, min_size=1, max_size=3), min_size=4, max_size=12))
def test_integral_of_deltas_equals_requery(commits):
    """Initial result + every delivered delta == the query re-run in sqlite3 with the
    parameters bound, type-strict, after each commit; several bindings at once."""
    conn, oracle = _connect(), sqlite3.connect(":memory:")
    for c in (conn, oracle):
        for ddl in SCHEMA:
            c.execute(ddl)
        c.executemany("INSERT INTO t(grp, v) VALUES (?, ?)",
                      [("a", 1), ("b", 2), ("a", 0.5), ("c", None), ("b", 3)])
        c.executemany("INSERT INTO u VALUES (?, ?)", [(1, "L1"), (2, "L2"), (3, "L1")])
    oracle.commit()
    hub_sql = []
    subs = []
    for sql, bindings in BOUND_QUERIES + SHARED_QUERIES:
        hub_sql.append(sql)
        for binding in bindings:
            integral = Integral()
            subs.append((sql, binding, integral, conn.subscribe(sql, binding, integral)))
    hub = conn._db.subscription_hub
    assert all(hub.path(sql) == "per-binding" for sql, _ in BOUND_QUERIES)
    assert all(hub.path(sql) == "shared" for sql, _ in SHARED_QUERIES)
    _check_all(oracle, subs, "initial")
    for step, statements in enumerate(commits):
        conn.execute("BEGIN")
        for sql, params in statements:
            conn.execute(sql, params)
            oracle.execute(sql, params)
        conn.execute("COMMIT")
        oracle.commit()
        _check_all(oracle, subs, step)
    for *_rest, handle in subs:
        handle.unsubscribe()
    assert not hub.bound and not hub.bound_sql and not hub.queries
    conn.close()


def _check_all(oracle, subs, step):
    for sql, binding, integral, _handle in subs:
        expected = _typed(oracle.execute(sql, binding).fetchall())
        _wait(lambda: integral.rows == expected)
        assert integral.rows == expected, (sql, binding, step)


def _table(conn, rows=(("a", 1), ("b", 2), ("a", 3))):
    conn.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, grp TEXT, v)")
    conn.executemany("INSERT INTO t(grp, v) VALUES (?, ?)", rows)


SUBQUERY_SQL = "SELECT id, v FROM t WHERE grp = ? UNION ALL SELECT id, v FROM t WHERE 0"


def test_same_binding_shares_one_circuit_and_unsubscribe_drops_it():
    conn = _connect()
    _table(conn)
    first, second, other = Integral(), Integral(), Integral()
    h1 = conn.subscribe(SUBQUERY_SQL, ("a",), first)
    h2 = conn.subscribe(SUBQUERY_SQL, ("a",), second)
    hub = conn._db.subscription_hub
    assert len(hub.bound) == 1 and hub.bound_sql == {SUBQUERY_SQL: 1}
    assert h1._sub.query is h2._sub.query and h1._sub.binding is h2._sub.binding
    h3 = conn.subscribe(SUBQUERY_SQL, ("b",), other)
    assert len(hub.bound) == 2 and hub.bound_sql == {SUBQUERY_SQL: 2}
    assert h3._sub.query is not h1._sub.query
    assert SUBQUERY_SQL not in hub.queries  # no shared circuit was kept
    conn.execute("INSERT INTO t(grp, v) VALUES ('a', 10)")
    assert _wait(lambda: len(first.changes) == 2 and len(second.changes) == 2)
    for got in (first, second):
        assert got.changes[1].inserted == [(4, 10)] and got.changes[1].deleted == []
        assert got.rows == _typed([(1, 1), (3, 3), (4, 10)])
    time.sleep(0.05)
    assert len(other.changes) == 1 and other.rows == _typed([(2, 2)])  # untouched binding
    h1.unsubscribe()
    assert len(hub.bound) == 2  # the binding still has a subscriber
    conn.execute("UPDATE t SET v = 11 WHERE id = 4")
    assert _wait(lambda: len(second.changes) == 3)
    assert second.changes[2].deleted == [(4, 10)] and second.changes[2].inserted == [(4, 11)]
    time.sleep(0.05)
    assert len(first.changes) == 2  # unsubscribed: no more delivery
    h2.unsubscribe()
    assert len(hub.bound) == 1 and hub.bound_sql == {SUBQUERY_SQL: 1}
    h3.unsubscribe()
    h3.unsubscribe()  # idempotent
    assert not hub.bound and not hub.bound_sql and hub.path(SUBQUERY_SQL) is None
    conn.execute("INSERT INTO t(grp, v) VALUES ('b', 1)")  # no circuit left to step
    time.sleep(0.05)
    assert len(other.changes) == 1


def test_shared_path_is_still_chosen_where_it_applies():
    conn = _connect()
    _table(conn)
    sql = "SELECT id, v FROM t WHERE grp = ?"
    handles = [conn.subscribe(sql, (g,), Integral()) for g in "ab"]
    hub = conn._db.subscription_hub
    assert hub.path(sql) == "shared" and not hub.bound and not hub.bound_sql
    compiled = hub.queries[sql].compiled
    assert compiled.param_count == 1
    assert not any("bound as constants" in line for line in compiled.explain)
    handles.append(conn.subscribe(SUBQUERY_SQL, ("a",), Integral()))
    assert hub.path(SUBQUERY_SQL) == "per-binding"
    bound = hub.bound[(SUBQUERY_SQL, ("a",))].compiled
    assert bound.param_count == 0
    assert any("bound as constants" in line for line in bound.explain)
    for h in handles:
        h.unsubscribe()


def test_bindings_are_told_apart_by_type():
    """1 and 1.0 can give different results (a TEXT column compares '1' = 1 but not
    '1' = 1.0; ``? + v`` keeps the type), so they are different bindings on both paths."""
    conn, oracle = _connect(), sqlite3.connect(":memory:")
    for c in (conn, oracle):
        c.execute("CREATE TABLE s(id INTEGER PRIMARY KEY, txt TEXT, v INT)")
        c.executemany("INSERT INTO s(txt, v) VALUES (?, ?)", [("1", 1), ("1.0", 2)])
    queries = ["SELECT id FROM s WHERE txt = ?",                        # shared
               "SELECT x FROM (SELECT ? + v AS x FROM s)",              # shared
               "SELECT ? + v FROM s UNION ALL SELECT 0 WHERE 0"]        # per-binding
    for sql in queries:
        subs = [(b, Integral()) for b in [(1,), (1.0,), ("1",)]]
        handles = [conn.subscribe(sql, b, got) for b, got in subs]
        for b, got in subs:
            expected = _typed(oracle.execute(sql, b).fetchall())
            assert _wait(lambda: got.rows == expected), (sql, b, got.rows, expected)
        for h in handles:
            h.unsubscribe()
    assert not conn._db.subscription_hub.bound


@pytest.mark.parametrize("sql", [SUBQUERY_SQL, "SELECT id FROM t WHERE grp = ?"])
def test_wrong_parameter_count_raises_sqlite3s_error(sql):
    conn, oracle = _connect(), sqlite3.connect(":memory:")
    _table(conn)
    _table(oracle)
    for params in [(), ("a", "b")]:
        with pytest.raises(sqlite3.ProgrammingError) as ours:
            conn.subscribe(sql, params, print)
        with pytest.raises(sqlite3.ProgrammingError) as theirs:
            oracle.execute(sql, params)
        assert str(ours.value) == str(theirs.value)
    with pytest.raises(sqlite3.ProgrammingError, match="You did not supply a value"):
        conn.subscribe(sql.replace("?", ":g"), {"other": 1}, print)
    hub = getattr(conn._db, "subscription_hub", None)  # binding fails before the hub
    assert hub is None or not (hub.bound or hub.bound_sql or hub.queries)


def test_a_bad_binding_fails_alone_and_leaves_no_state():
    """LIMIT 'x' in a subquery is sqlite3's IntegrityError("datatype mismatch") for
    that subscribe; other bindings of the same SQL work."""
    conn, oracle = _connect(), sqlite3.connect(":memory:")
    _table(conn)
    _table(oracle)
    sql = ("SELECT id FROM (SELECT id FROM t UNION ALL SELECT id FROM t WHERE 0 "
           "ORDER BY id LIMIT ?)")
    with pytest.raises(sqlite3.IntegrityError, match="datatype mismatch"):
        oracle.execute(sql, ("x",)).fetchall()
    with pytest.raises(sqlite3.IntegrityError, match="datatype mismatch"):
        conn.subscribe(sql, ("x",), print)
    hub = conn._db.subscription_hub
    assert not hub.bound and not hub.bound_sql
    got = Integral()
    with conn.subscribe(sql, (2,), got):
        assert _wait(lambda: got.rows == _typed([(1,), (2,)]))
        assert hub.bound_sql == {sql: 1}
    assert not hub.bound_sql


def test_delivery_rules_hold_on_the_per_binding_path():
    """Initial result first, then one change per commit in commit order with its id and
    time, ``updated`` pairs for a keyed (GROUP BY) result, and a raising callback
    isolated from the other subscriber of the same circuit."""
    conn = _connect()
    _table(conn)
    sql = ("SELECT grp, count(*) FROM (SELECT grp FROM t WHERE v > ? "
           "UNION ALL SELECT grp FROM t WHERE 0) GROUP BY grp")
    got = Integral()
    calls = []

    def raising(change):
        calls.append(change)
        raise RuntimeError("subscriber bug")

    h1 = conn.subscribe(sql, (0,), got)
    h2 = conn.subscribe(sql, (0,), raising)
    assert h1.key_columns == (0,) and h1.columns == ["grp", "count(*)"]
    assert _wait(lambda: got.changes and calls)
    assert got.changes[0].initial and sorted(got.changes[0].inserted) == [("a", 2), ("b", 1)]
    for v in (5, 6, 7):
        conn.execute("INSERT INTO t(grp, v) VALUES ('b', ?)", (v,))
    assert _wait(lambda: len(got.changes) == 4 and len(calls) == 4)
    ids = [c.commit_id for c in got.changes]
    assert ids == sorted(ids) and len(set(ids)) == 4
    last = got.changes[-1]
    assert not last.initial and last.time is not None
    assert last.updated == [(("b", 3), ("b", 4))]
    assert sorted(last.rows()) == [("a", 2), ("b", 4)] == sorted(h1.rows())
    h1.unsubscribe()
    h2.unsubscribe()


def test_watch_iterates_a_per_binding_subscription():
    conn = _connect()
    _table(conn)
    sql = ("WITH c AS (SELECT id, v FROM t WHERE grp = ? UNION ALL SELECT id, v FROM t "
           "WHERE 0) SELECT id, v FROM c")

    async def main():
        seen = []
        async for change in conn.watch(sql, ("b",)):
            seen.append(change)
            if len(seen) == 1:
                await asyncio.get_running_loop().run_in_executor(
                    None, lambda: conn.execute("INSERT INTO t(grp, v) VALUES ('b', 9)"))
            else:
                return seen

    seen = asyncio.run(asyncio.wait_for(main(), 10))
    assert seen[0].initial and seen[0].inserted == [(2, 2)]
    assert seen[1].inserted == [(4, 9)]
    assert not conn._db.subscription_hub.bound


@pytest.mark.parametrize("sql, params", [
    ("SELECT grp, count(*), sum(v)+1 FROM t WHERE grp = ? GROUP BY grp", ("a",)),
    ("WITH c AS (SELECT v AS w FROM t WHERE grp = ?) SELECT max( w ) * 2, count(w) FROM c", ("a",)),
    ("SELECT v, ? AS p FROM t UNION SELECT 1, 2", (5,)),
])
def test_column_names_are_sqlite3s(sql, params):
    conn, oracle = _connect(), sqlite3.connect(":memory:")
    _table(conn)
    _table(oracle)
    with conn.subscribe(sql, params, lambda change: None) as handle:
        expected = [d[0] for d in oracle.execute(sql, params).description]
        assert handle.columns == expected
