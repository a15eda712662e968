"""Query subscriptions: exact deltas, delivery rules, sharing, async iteration."""

import asyncio
import random
import sqlite3
import threading
import time
from collections import Counter

import pytest

import turso_stream


def _connect():
    return turso_stream.connect(":memory:", isolation_level=None, check_same_thread=False)


def _wait(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for delivery")
        time.sleep(0.005)


def _typed(rows):
    return Counter(tuple((type(v).__name__, v) for v in r) for r in rows)


class Integral:
    """The multiset a subscriber reconstructs from its deltas."""

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

    def last_commit(self):
        with self.lock:
            return self.changes[-1].commit_id if self.changes else None


QUERIES = [
    ("SELECT id, v FROM t WHERE grp = ?", True),
    ("SELECT grp, count(*), sum(v), avg(v), min(v), max(v) FROM t WHERE grp = ? GROUP BY grp",
     True),
    ("SELECT count(*), total(v) FROM t WHERE grp = ?", True),
    ("SELECT t.id, u.label FROM t JOIN u ON t.v = u.v WHERE t.grp = ?", True),
    ("SELECT id, v FROM t WHERE grp = ? ORDER BY v DESC, id LIMIT 2", True),
    ("SELECT grp, count(*) FROM t GROUP BY grp HAVING count(*) > 1", False),
    ("SELECT id, row_number() OVER (ORDER BY v, id), total(v) OVER (ORDER BY id ROWS "
     "BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t WHERE grp = ?", True),
    ("SELECT DISTINCT v FROM t", False),
]


@pytest.mark.parametrize("seed", range(4))
def test_integral_of_deltas_equals_requery(seed):
    """After every commit, each subscription's integrated deltas == re-running its
    query (type-strict) in stdlib sqlite3 on the same data."""
    rng = random.Random(seed)
    conn, oracle = _connect(), sqlite3.connect(":memory:")
    for c in (conn, oracle):
        c.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, grp TEXT, v)")
        c.execute("CREATE TABLE u(v INT, label TEXT)")
        c.executemany("INSERT INTO u VALUES (?, ?)", [(i, f"L{i}") for i in range(5)])
    subs = []
    for sql, param in QUERIES:
        for g in (("a",), ("b",)) if param else ((),):
            integral = Integral()
            handle = conn.subscribe(sql, g, integral)
            subs.append((sql, g, integral, handle))
    for step in range(40):
        kind = rng.choice(["ins", "ins", "upd", "del", "txn"])
        stmts = []
        if kind == "ins":
            # reals are never integral: DISTINCT over 1 and 1.0 keeps whichever SQLite
            # scanned first, which no incremental maintenance can reproduce
            stmts = [("INSERT INTO t(grp, v) VALUES (?, ?)",
                      (rng.choice("abc"), rng.choice([None, rng.randrange(5), rng.randrange(4) + 0.5])))]
        elif kind == "upd":
            stmts = [("UPDATE t SET v = ? WHERE id % 3 = ?", (rng.randrange(5), rng.randrange(3)))]
        elif kind == "del":
            stmts = [("DELETE FROM t WHERE id = ?", (rng.randrange(1, step + 2),))]
        else:
            stmts = [("INSERT INTO t(grp, v) VALUES ('a', 1)", ()),
                     ("UPDATE t SET grp = 'b' WHERE v = 1", ())]
        conn.execute("BEGIN")
        for sql, p in stmts:
            conn.execute(sql, p)
            oracle.execute(sql, p)
        conn.execute("COMMIT")
        oracle.commit()
        for sql, g, integral, handle in subs:
            expected = _typed(oracle.execute(sql, g).fetchall())
            try:
                _wait(lambda: integral.rows == expected)
            except AssertionError:
                pass
            assert integral.rows == expected, (sql, g, step)
    for *_rest, handle in subs:
        handle.unsubscribe()


def test_first_delivery_is_the_current_result():
    conn = _connect()
    conn.execute("CREATE TABLE t(grp TEXT, v INT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [("a", 1), ("a", 2), ("b", 5)])
    got = []
    with conn.subscribe("SELECT sum(v) FROM t WHERE grp = ?", ("a",), got.append):
        _wait(lambda: got)
        assert got[0].initial and got[0].inserted == [(3,)] and got[0].deleted == []
        conn.execute("INSERT INTO t VALUES ('a', 10)")
        _wait(lambda: len(got) == 2)
        assert got[1].inserted == [(13,)] and got[1].deleted == [(3,)]
        assert not got[1].initial and got[1].commit_id > got[0].commit_id


def test_empty_binding_of_an_aggregate_gets_its_one_row():
    conn = _connect()
    conn.execute("CREATE TABLE t(grp TEXT, v INT)")
    got = []
    conn.subscribe("SELECT count(*), sum(v) FROM t WHERE grp = ?", ("none",), got.append)
    _wait(lambda: got)
    assert got[0].inserted == [(0, None)]


def test_updated_pairs_rows_by_group_key():
    conn = _connect()
    conn.execute("CREATE TABLE t(grp TEXT, v INT)")
    conn.execute("INSERT INTO t VALUES ('a', 1)")
    got = []
    conn.subscribe("SELECT grp, sum(v) FROM t GROUP BY grp", (), got.append)
    conn.execute("INSERT INTO t VALUES ('a', 2)")
    _wait(lambda: len(got) == 2)
    assert got[1].updated == [(("a", 1), ("a", 3))]
    assert got[1].rows() == [("a", 3)]


def test_unsubscribe_stops_delivery_and_context_manager():
    conn = _connect()
    conn.execute("CREATE TABLE t(v INT)")
    got = []
    with conn.subscribe("SELECT count(*) FROM t", (), got.append) as handle:
        conn.execute("INSERT INTO t VALUES (1)")
        _wait(lambda: len(got) == 2)
    assert not handle.active
    conn.execute("INSERT INTO t VALUES (2)")
    time.sleep(0.1)
    assert len(got) == 2
    handle.unsubscribe()  # idempotent


def test_bindings_share_one_circuit_and_only_touched_bindings_hear():
    conn = _connect()
    conn.execute("CREATE TABLE t(grp TEXT, v INT)")
    calls = {"a": [], "b": []}
    sql = "SELECT v FROM t WHERE grp = ?"
    conn.subscribe(sql, ("a",), calls["a"].append)
    conn.subscribe(sql, ("b",), calls["b"].append)
    hub = conn._db.subscription_hub
    assert len(hub.queries) == 1 and len(hub.queries[sql].bindings) == 2
    conn.execute("INSERT INTO t VALUES ('a', 1)")
    _wait(lambda: len(calls["a"]) == 2)
    time.sleep(0.05)
    assert len(calls["b"]) == 1  # only its initial result


def test_raising_callback_is_isolated(caplog):
    conn = _connect()
    conn.execute("CREATE TABLE t(v INT)")
    good = []

    def bad(change):
        raise RuntimeError("subscriber bug")
    conn.subscribe("SELECT count(*) FROM t", (), bad)
    conn.subscribe("SELECT count(*) FROM t", (), good.append)
    conn.execute("INSERT INTO t VALUES (1)")   # the commit itself succeeds
    _wait(lambda: len(good) == 2)
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
    _wait(lambda: "subscriber bug" in caplog.text)


def test_order_holds_under_concurrent_writers(tmp_path):
    """Each subscriber sees commits in increasing commit order, one callback at a time,
    while four connections commit from four threads."""
    path = str(tmp_path / "db")
    conn = turso_stream.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v INT)")
    seen, active, overlaps = [], [0], []
    lock = threading.Lock()

    def cb(change):
        with lock:
            active[0] += 1
            if active[0] > 1:
                overlaps.append(change)
        seen.append(change.commit_id)
        time.sleep(0.0005)
        with lock:
            active[0] -= 1
    conn.subscribe("SELECT count(*) FROM t", (), cb)

    def writer(k):
        c = turso_stream.connect(path, isolation_level=None, check_same_thread=False)
        for i in range(25):
            c.execute("INSERT INTO t(v) VALUES (?)", (k * 100 + i,))
        c.close()
    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _wait(lambda: len(seen) == 101)
    assert seen == sorted(seen) and len(set(seen)) == 101 and not overlaps
    conn.close()


def test_slow_subscriber_coalesces_and_never_blocks_writers():
    conn = _connect()
    conn.execute("CREATE TABLE t(v INT)")
    gate = threading.Event()
    integral = Integral()

    def slow(change):
        gate.wait(5)
        integral(change)
    handle = conn.subscribe("SELECT v FROM t", (), slow)
    handle._dispatcher.max_pending = 3  # a tiny bound for the test
    start = time.perf_counter()
    for i in range(50):
        conn.execute("INSERT INTO t VALUES (?)", (i,))
    assert time.perf_counter() - start < 2.0  # writers were not held by the callback
    gate.set()
    _wait(lambda: integral.rows == _typed([(i,) for i in range(50)]))
    assert len(integral.changes) < 50  # coalesced into fewer, larger changes


def test_async_watch_under_write_load():
    conn = _connect()
    conn.execute("CREATE TABLE t(v INT)")

    async def main():
        seen = []
        stop = threading.Event()

        def load():
            i = 0
            while not stop.is_set() and i < 200:
                conn.execute("INSERT INTO t VALUES (?)", (i,))
                i += 1
        writer = threading.Thread(target=load)
        async for change in conn.watch("SELECT count(*) FROM t"):
            seen.append(change)
            if len(seen) == 1:
                writer.start()
            if change.inserted and change.inserted[0][0] >= 50:
                break
        stop.set()
        writer.join()
        return seen
    seen = asyncio.run(main())
    counts = [c.inserted[0][0] for c in seen]
    assert counts == sorted(counts) and counts[-1] >= 50


def test_bad_input_raises_and_subscribes_nothing():
    conn = _connect()
    conn.execute("CREATE TABLE t(v INT)")
    with pytest.raises(turso_stream.OperationalError, match="non-deterministic"):
        conn.subscribe("SELECT random() FROM t", (), print)
    with pytest.raises(turso_stream.ProgrammingError, match="Incorrect number of bindings"):
        conn.subscribe("SELECT v FROM t WHERE v = ?", (), print)
    with pytest.raises(turso_stream.OperationalError, match="no such table"):
        conn.subscribe("SELECT * FROM nope", (), print)
    with pytest.raises(TypeError):
        conn.subscribe("SELECT v FROM t", (), None)
    hub = getattr(conn._db, "subscription_hub", None)
    assert hub is None or not hub.queries


def test_subscription_over_a_materialized_view():
    """A subscription reading a materialized view sees the view's changes (the view's
    query compiles inline into the subscription's circuit)."""
    conn = _connect()
    conn.execute("CREATE TABLE t(grp TEXT, v INT)")
    conn.execute("INSERT INTO t VALUES ('a', 1), ('b', 2)")
    conn.execute("CREATE MATERIALIZED VIEW totals AS SELECT grp, sum(v) AS s FROM t GROUP BY grp")
    got = Integral()
    conn.subscribe("SELECT grp, s FROM totals WHERE s > ?", (1,), got)
    conn.execute("INSERT INTO t VALUES ('a', 5)")
    _wait(lambda: got.rows == _typed([("a", 6), ("b", 2)]))
    conn.execute("DELETE FROM t WHERE grp = 'b'")
    _wait(lambda: got.rows == _typed([("a", 6)]))


SUBQUERY_QUERIES = [
    # IN with parameters only inside: the (value, binding) semi-join
    ("SELECT id, v FROM t WHERE v IN (SELECT v FROM u WHERE label = ?)", "label"),
    ("SELECT count(*), total(v) FROM t WHERE v IN (SELECT v FROM u WHERE label = ?)", "label"),
    ("SELECT id FROM t WHERE v IN (SELECT v FROM u WHERE label = ? ORDER BY v DESC LIMIT 1)",
     "label"),
    ("SELECT id FROM t WHERE v IN (SELECT v FROM u WHERE label = ?1 OR label = ?2)", "pair"),
    # correlated, NOT IN, scalar and mixed: decorrelated with P as an outer reference
    ("SELECT id FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.v = t.v AND u.label = ?)",
     "label"),
    ("SELECT id, v FROM t WHERE v NOT IN (SELECT v FROM u WHERE label = ?)", "label"),
    ("SELECT id, (SELECT count(*) FROM u WHERE label = ?2) FROM t WHERE grp = ?1", "grp_label"),
    ("SELECT grp, count(*) FROM t WHERE grp = ?1 AND v IN "
     "(SELECT v FROM u WHERE label = ?2) GROUP BY grp", "grp_label"),
]
_BINDINGS = {"label": [("L0",), ("L1",), ("none",)], "pair": [("L0", "L2"), ("L1", "L1")],
             "grp_label": [("a", "L0"), ("b", "L1")]}


@pytest.mark.parametrize("seed", range(3))
def test_parameters_inside_subqueries_integral_equals_requery(seed):
    """Parameters in IN/EXISTS/scalar subqueries: after every commit (to the outer
    table or the subquery's), the integrated deltas equal sqlite3's result."""
    rng = random.Random(seed)
    conn, oracle = _connect(), sqlite3.connect(":memory:")
    for c in (conn, oracle):
        c.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, grp TEXT, v)")
        c.execute("CREATE TABLE u(v INT, label TEXT)")
    subs = []
    for sql, kind in SUBQUERY_QUERIES:
        for binding in _BINDINGS[kind]:
            integral = Integral()
            subs.append((sql, binding, integral, conn.subscribe(sql, binding, integral)))
    values = [None, 0, 1, 2, 3, "1", "x"]
    for step in range(45):
        kind = rng.choice(["t_ins", "t_ins", "u_ins", "u_ins", "t_upd", "u_upd", "del"])
        if kind == "t_ins":
            stmts = [("INSERT INTO t(grp, v) VALUES (?, ?)",
                      (rng.choice("ab"), rng.choice(values)))]
        elif kind == "u_ins":
            stmts = [("INSERT INTO u VALUES (?, ?)",
                      (rng.choice(values), rng.choice(["L0", "L1", "L2"])))]
        elif kind == "t_upd":
            stmts = [("UPDATE t SET v = ? WHERE id % 3 = ?", (rng.choice(values), rng.randrange(3)))]
        elif kind == "u_upd":
            stmts = [("UPDATE u SET label = ? WHERE v = ?", (rng.choice(["L0", "L1"]),
                                                              rng.choice(values)))]
        else:
            stmts = [("DELETE FROM u WHERE rowid = ?", (rng.randrange(1, step + 2),)),
                     ("DELETE FROM t WHERE id = ?", (rng.randrange(1, step + 2),))]
        conn.execute("BEGIN")
        for sql, p in stmts:
            conn.execute(sql, p)
            oracle.execute(sql, p)
        conn.execute("COMMIT")
        oracle.commit()
        for sql, binding, integral, _handle in subs:
            expected = _typed(oracle.execute(sql, binding).fetchall())
            try:
                _wait(lambda: integral.rows == expected, timeout=2.0)
            except AssertionError:
                pass
            assert integral.rows == expected, (sql, binding, step)
    for *_rest, handle in subs:
        handle.unsubscribe()


def test_in_subquery_parameters_reach_only_their_bindings():
    """``x IN (SELECT ... WHERE k = ?)`` joins outer rows to (value, binding) pairs:
    a commit notifies only the bindings whose subquery holds the changed value."""
    conn = _connect()
    conn.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v INT)")
    conn.execute("CREATE TABLE u(v INT, label TEXT)")
    conn.executemany("INSERT INTO u VALUES (?, ?)", [(i, f"L{i}") for i in range(200)])
    sql = "SELECT id, v FROM t WHERE v IN (SELECT v FROM u WHERE label = ?)"
    got = {i: Integral() for i in range(200)}
    handles = [conn.subscribe(sql, (f"L{i}",), got[i]) for i in range(200)]
    hub = conn._db.subscription_hub
    assert len(hub.queries) == 1
    assert any("semi-join" in line for line in hub.queries[sql].compiled.explain)
    conn.execute("INSERT INTO t(v) VALUES (7)")
    _wait(lambda: got[7].rows == _typed([(1, 7)]))
    time.sleep(0.05)
    assert [i for i in range(200) if got[i].rows] == [7]
    assert all(len(got[i].changes) == 1 for i in range(200) if i != 7)  # the initial one
    for h in handles:
        h.unsubscribe()


def test_parameters_in_from_subqueries_share_one_circuit():
    """(A FROM subquery reading parameters is a bound FROM item of the shared circuit;
    test_subscriptions_shared_from.py has the randomized coverage.)"""
    conn = _connect()
    conn.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, grp TEXT)")
    conn.execute("INSERT INTO t(grp) VALUES ('a'), ('b'), ('a')")
    sql = "SELECT * FROM (SELECT id FROM t WHERE grp = ?)"
    integral = Integral()
    with conn.subscribe(sql, ("a",), integral):
        assert conn._db.subscription_hub.path(sql) == "shared"
        conn.execute("INSERT INTO t(grp) VALUES ('a'), ('b')")
        _wait(lambda: len(integral.changes) == 2)
        assert integral.rows == _typed([(1,), (3,), (4,)])


def test_limit_and_offset_parameters_rank_per_binding():
    """LIMIT ? / OFFSET ? in a subscription: each binding has its own window, sharing one
    circuit; a non-integer LIMIT is sqlite3's "datatype mismatch" for that subscriber."""
    conn, oracle = _connect(), sqlite3.connect(":memory:")
    for c in (conn, oracle):
        c.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v INT)")
        c.executemany("INSERT INTO t(v) VALUES (?)", [(i * 7 % 10,) for i in range(10)])
    sql = "SELECT id, v FROM t ORDER BY v DESC, id LIMIT ? OFFSET ?"
    subs = {}
    for binding in [(2, 0), (3, 1), (1, 5), (-1, 8)]:
        integral = Integral()
        conn.subscribe(sql, binding, integral)
        subs[binding] = integral
    assert len(conn._db.subscription_hub.queries) == 1
    for stmt in ["INSERT INTO t(v) VALUES (9)", "DELETE FROM t WHERE v = 9",
                 "UPDATE t SET v = 4 WHERE id = 3", "INSERT INTO t(v) VALUES (0)"]:
        conn.execute(stmt)
        oracle.execute(stmt)
        for binding, integral in subs.items():
            expected = _typed(oracle.execute(sql, binding).fetchall())
            try:
                _wait(lambda: integral.rows == expected)
            except AssertionError:
                pass
            assert integral.rows == expected, (stmt, binding)
    with pytest.raises(turso_stream.IntegrityError, match="datatype mismatch"):
        conn.subscribe(sql, ("x", 0), print)
    with pytest.raises(sqlite3.IntegrityError, match="datatype mismatch"):
        oracle.execute(sql, ("x", 0)).fetchall()
    assert len(conn._db.subscription_hub.queries[sql].bindings) == 4  # nothing half-added


def test_queued_deliveries_run_before_the_interpreter_exits():
    """Delivery threads are daemons: at exit, changes still queued are delivered
    (bounded wait), as the thread pool used before guaranteed."""
    import subprocess
    import sys
    import textwrap
    root = __file__.rsplit("/tests/", 1)[0]
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {root!r})
        import turso_stream
        conn = turso_stream.connect(":memory:", isolation_level=None)
        conn.execute("CREATE TABLE t(a)")
        def cb(change):
            time.sleep(0.01)  # slower than the writer: changes queue up
            if not change.initial:
                print("got", change.inserted[0][0], flush=True)
        conn.subscribe("SELECT a FROM t", (), cb)
        for i in range(5):
            conn.execute("INSERT INTO t VALUES (?)", (i,))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["got", "0", "got", "1", "got", "2", "got", "3", "got", "4"]
