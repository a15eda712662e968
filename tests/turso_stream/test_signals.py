"""turso_stream.signals: commit / table_changed / view_changed over blinker."""

from __future__ import annotations

import gc
import logging
import threading

import pytest

import turso_stream
from engine.changes import ChangeSet
from turso_stream import signals


@pytest.fixture
def receivers():
    """Disconnect every receiver a test connected (signals are process-global)."""
    connected = []

    def connect(signal, fn, **kw):
        signal.connect(fn, **kw)
        connected.append((signal, fn))
        return fn
    yield connect
    for signal, fn in connected:
        signal.disconnect(fn)


def test_commit_and_table_changed_payloads(tmp_path, receivers):
    path = str(tmp_path / "s.db")
    commits, tables = [], []
    receivers(signals.commit, lambda sender, **kw: commits.append((sender, kw)))
    receivers(signals.table_changed, lambda sender, **kw: tables.append((sender, kw)))
    conn = turso_stream.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE t(a INTEGER PRIMARY KEY, b)")
    conn.execute("INSERT INTO t VALUES (1, 'x')")
    conn.execute("UPDATE t SET b = 'y'")
    sender, kw = commits[-1]
    assert sender == conn._db.path
    assert kw["tables"] == {"t": 1} and isinstance(kw["changes"], ChangeSet)
    assert kw["ts"] == kw["changes"].ts and kw["txn_id"] == kw["changes"].txn_id
    table_events = [(k["table"], k["delta"]) for _s, k in tables]
    assert table_events == [("t", [((1, "x"), 1)]),
                            ("t", [((1, "x"), -1), ((1, "y"), 1)])]
    assert tables[-1][1]["rows"] == [(1, (1, "x"), (1, "y"))]
    conn.close()


def test_lambda_receiver_is_held_strongly(receivers):
    got = []

    def register():
        receivers(signals.commit, lambda sender, **kw: got.append(kw["ts"]))
    register()
    gc.collect()
    conn = turso_stream.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t(x)")
    conn.execute("INSERT INTO t VALUES (1)")
    assert len(got) == 2


def test_weak_receiver_is_dropped_when_asked(receivers):
    got = []

    def register():
        signals.commit.connect(lambda sender, **kw: got.append(1), weak=True)
    register()
    gc.collect()
    conn = turso_stream.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t(x)")
    assert got == []


def test_raising_receiver_is_isolated(receivers, caplog):
    got = []

    def bad(sender, **kw):
        raise RuntimeError("receiver bug")
    receivers(signals.commit, bad)
    receivers(signals.commit, lambda sender, **kw: got.append(kw["ts"]))
    conn = turso_stream.connect(":memory:", isolation_level=None)
    with caplog.at_level(logging.ERROR, logger="turso_stream.signals"):
        conn.execute("CREATE TABLE t(x)")
        conn.execute("INSERT INTO t VALUES (1)")
    assert len(got) == 2  # the other receiver ran both times
    assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]  # commit unaffected
    assert "receiver bug" in caplog.text


def test_sender_filter_by_database_path(tmp_path, receivers):
    a_path, b_path = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    a = turso_stream.connect(a_path, isolation_level=None)
    b = turso_stream.connect(b_path, isolation_level=None)
    got = []
    receivers(signals.commit, lambda sender, **kw: got.append(sender), sender=a._db.path)
    a.execute("CREATE TABLE t(x)")
    b.execute("CREATE TABLE t(x)")
    a.execute("INSERT INTO t VALUES (1)")
    assert got == [a._db.path, a._db.path]
    a.close()
    b.close()


def test_commit_order_under_concurrent_writers(tmp_path, receivers):
    path = str(tmp_path / "order.db")
    seen = []
    active = []
    overlap = []

    def on_commit(sender, **kw):
        active.append(1)
        if len(active) > 1:
            overlap.append(kw["ts"])
        seen.append(kw["ts"])
        active.pop()
    receivers(signals.commit, on_commit)
    setup = turso_stream.connect(path, isolation_level=None)
    setup.execute("CREATE TABLE t(a INTEGER PRIMARY KEY, who)")

    def writer(who):
        conn = turso_stream.connect(path, isolation_level=None, check_same_thread=False)
        for _ in range(60):
            conn.execute("INSERT INTO t(who) VALUES (?)", (who,))
        conn.close()
    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(seen) == 1 + 180
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert overlap == []
    setup.close()


def test_receiver_reads_its_commit_from_the_feed(receivers):
    conn = turso_stream.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t(x)")
    conn.execute("PRAGMA capture_data_changes_conn('after')")
    feed = []
    last = [0]

    def on_table(sender, table, **kw):
        if table == "turso_cdc":  # new changes: read them from where we stopped
            for c in conn.changes(since=last[0]):
                feed.append(c.after)
                last[0] = c.change_id
    receivers(signals.table_changed, on_table)
    conn.execute("INSERT INTO t VALUES (10)")
    conn.execute("INSERT INTO t VALUES (11)")
    assert feed == [(10,), (11,)]


def test_view_changed_sent_for_view_deltas(receivers):
    """The observer sends view_changed for each view delta a change set carries."""
    got = []
    receivers(signals.view_changed, lambda sender, **kw: got.append((sender, kw)))
    observer = signals._observer("/x.db")

    class WithViews:  # a change set as the view maintainer would extend it
        ts, txn_id, time, tables = 9, 1, 0.0, {}
        views = {"v": [(("a",), 1)]}
    observer(WithViews())
    assert got == [("/x.db", {"view": "v", "delta": [(("a",), 1)], "ts": 9})]


def test_no_observer_until_a_receiver_connects():
    conn = turso_stream.connect(":memory:", isolation_level=None)
    has = any(getattr(h, "_turso_signals", False) for h in conn._db.durable_hooks)
    assert has == signals._any_receivers()
    fn = signals.commit.connect(lambda sender, **kw: None)
    try:
        assert any(getattr(h, "_turso_signals", False) for h in conn._db.durable_hooks)
    finally:
        signals.commit.disconnect(fn)


def test_view_changed_fires_for_a_materialized_view():
    """A commit that changes a materialized view sends view_changed with its delta."""
    import time as _time
    import turso_stream
    from turso_stream import signals
    conn = turso_stream.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t(g TEXT, v INT)")
    conn.execute("CREATE MATERIALIZED VIEW s AS SELECT g, sum(v) FROM t GROUP BY g")
    seen = []
    receiver = lambda sender, **kw: seen.append((kw["view"], sorted(kw["delta"].items())))  # noqa: E731
    signals.view_changed.connect(receiver)
    try:
        conn.execute("INSERT INTO t VALUES ('a', 2)")
        conn.execute("INSERT INTO t VALUES ('a', 3)")
        deadline = _time.monotonic() + 5
        while len(seen) < 2 and _time.monotonic() < deadline:
            _time.sleep(0.01)
    finally:
        signals.view_changed.disconnect(receiver)
    assert seen == [("s", [(("a", 2), 1)]), ("s", [(("a", 2), -1), (("a", 5), 1)])]


def test_cdc_rows_are_deferred_unless_a_receiver_reads_table_rows(receivers):
    """CDC rows wait for the first read (engine.cdc.feed) unless an observer reads
    the CDC table's rows in the commit: a view_changed receiver does not, a
    table_changed receiver connected later does, from the next commit on."""
    conn = turso_stream.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t(x)")
    conn.execute("PRAGMA capture_data_changes_conn('id')")
    conn.execute("INSERT INTO t VALUES (1)")  # the first capture after open is eager
    receivers(signals.view_changed, lambda sender, **kw: None)
    conn.execute("INSERT INTO t VALUES (2)")
    feed = conn._db.tables["turso_cdc"].versions._feed
    assert len(feed.pending) == 1
    tables = []
    receivers(signals.table_changed, lambda sender, table, **kw: tables.append(table))
    conn.execute("INSERT INTO t VALUES (3)")
    assert tables == ["t", "turso_cdc"] and not feed.pending
    assert [r[0] for r in conn.execute("SELECT id FROM turso_cdc WHERE change_type = 1")] \
        == [1, 2, 3]
