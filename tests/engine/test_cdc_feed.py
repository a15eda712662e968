"""The deferred CDC feed (engine.cdc.feed): rows built when first read.

Capture leaves a commit's CDC rows to the table's feed; they must be exactly the
rows eager capture writes (same ids, kinds, ids, records), visible at the right
snapshots, rebuilt by recovery from the log's markers, and delivered in-commit
to observers of the CDC table.
"""

from __future__ import annotations

import os
import shutil
import threading
import time

from hypothesis import given, settings
from hypothesis import strategies as st

import turso_stream
from engine.cdc.feed import FeedVersions

MODES = ("id", "before", "after", "full")


def _wait(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _feed_rows(conn, table="turso_cdc"):
    """The feed without change_time (wall-clock seconds differ between runs)."""
    return [r[:1] + r[2:] for r in
            conn.execute(f"SELECT * FROM {table} ORDER BY change_id").fetchall()]


def _pending(conn, table="turso_cdc") -> int:
    versions = conn._db.tables[table].versions
    feed = versions._feed
    return len(feed.pending) if feed is not None else 0


def _eager(conn) -> None:
    """Make every capture of ``conn``'s database eager: a commit hook without a
    ``watches`` method is taken to read every table."""
    conn._db.commit_hooks.append(lambda changes: None)


_SETUP = ["CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c REAL)",
          "CREATE TABLE w(k TEXT, j INT, v, PRIMARY KEY (k, j)) WITHOUT ROWID",
          "CREATE TABLE s(id INTEGER PRIMARY KEY AUTOINCREMENT, x)"]

_statement = st.one_of(
    st.tuples(st.just("INSERT OR REPLACE INTO t VALUES (?, ?, ?)"),
              st.tuples(st.integers(1, 6), st.sampled_from(["x", "y", None]),
                        st.sampled_from([0.0, -0.0, 2.5, None]))),
    st.tuples(st.just("UPDATE t SET b = ?, c = c + 1 WHERE a % 3 = ?"),
              st.tuples(st.sampled_from(["p", "q", b"\x00"]), st.integers(0, 2))),
    st.tuples(st.just("DELETE FROM t WHERE a = ?"), st.tuples(st.integers(1, 6))),
    st.tuples(st.just("INSERT OR REPLACE INTO w VALUES (?, ?, ?)"),
              st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 2), st.integers(-300, 300))),
    st.tuples(st.just("DELETE FROM w WHERE j = ?"), st.tuples(st.integers(0, 2))),
    st.tuples(st.just("INSERT INTO s(x) VALUES (?)"), st.tuples(st.integers(0, 9))),
)
_transaction = st.tuples(st.lists(_statement, min_size=1, max_size=4),
                         st.sampled_from(["COMMIT", "COMMIT", "ROLLBACK"]))


def _run(conn, mode, transactions, eager=False):
    for sql in _SETUP:
        conn.execute(sql)
    conn.execute(f"PRAGMA capture_data_changes_conn('{mode}')")
    if eager:
        _eager(conn)
    deferred = 0
    for statements, end in transactions:
        conn.execute("BEGIN")
        for sql, params in statements:
            conn.execute(sql, params)
        conn.execute(end)
        deferred = max(deferred, _pending(conn))
    return deferred


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(MODES), st.lists(_transaction, min_size=1, max_size=12))
def test_deferred_rows_equal_eager_rows(mode, transactions):
    lazy = turso_stream.connect(":memory:", isolation_level=None)
    eager = turso_stream.connect(":memory:", isolation_level=None)
    deferred = _run(lazy, mode, transactions)
    assert _run(eager, mode, transactions, eager=True) == 0
    feed_rows = _feed_rows(eager)
    changed = sum(1 for r in feed_rows if r[2] != 2)
    commits = len(feed_rows) - changed
    if commits > 1:  # the first capture after open is eager; later ones are deferred
        assert deferred > 0
    lazy._db._check()  # FeedVersions._check: the pending segments' invariants, then settles
    assert _pending(lazy) == 0
    assert _feed_rows(lazy) == feed_rows
    assert [tuple(c) for c in lazy.execute("SELECT * FROM t ORDER BY a")] == \
        [tuple(c) for c in eager.execute("SELECT * FROM t ORDER BY a")]


def test_cdc_table_versions_become_feed_versions_in_place():
    conn = turso_stream.connect(":memory:", isolation_level=None)
    conn.execute(_SETUP[0])
    conn.execute("PRAGMA capture_data_changes_conn('full')")
    versions = conn._db.tables["turso_cdc"].versions
    conn.execute("INSERT INTO t VALUES (1, 'a', 1.0)")  # eager: reads sqlite_sequence
    assert type(versions) is FeedVersions and conn._db.tables["turso_cdc"].versions is versions
    conn.execute("INSERT INTO t VALUES (2, 'b', 2.0)")
    conn.execute("UPDATE t SET b = 'c' WHERE a = 2")
    assert _pending(conn) == 2
    assert len(versions) == 6  # len() reads rows: settled
    assert _pending(conn) == 0


def test_snapshots_see_deferred_rows_of_their_time_only():
    writer = turso_stream.connect(":memory:", isolation_level=None)
    db = writer._db
    writer.execute(_SETUP[0])
    writer.execute("PRAGMA capture_data_changes_conn('after')")
    writer.execute("INSERT INTO t VALUES (1, 'a', 1.0)")
    old = db.begin()  # a snapshot before the deferred commits
    for i in range(2, 5):
        writer.execute("INSERT INTO t VALUES (?, 'x', 0.5)", (i,))
    assert _pending(writer) == 3
    mid = db.begin()
    writer.execute("INSERT INTO t VALUES (9, 'late', 0.5)")  # after both snapshots
    # A newer reader settles the feed; the old snapshots keep their view.
    assert [r[0] for r in writer.execute("SELECT change_id FROM turso_cdc")] == list(range(1, 11))
    assert _pending(writer) == 0
    assert [k for k, _row in old.scan("turso_cdc")] == [1, 2]
    assert [k for k, _row in mid.scan("turso_cdc")] == list(range(1, 9))
    assert old.table("turso_cdc").versions.get(9, old.snapshot_ts) is None
    db._check()
    old.rollback()
    mid.rollback()
    writer.execute("INSERT INTO t VALUES (10, 'z', 0.5)")  # collects the begin timestamps
    assert not db.tables["turso_cdc"].versions.begins
    assert writer.execute("SELECT count(*) FROM turso_cdc").fetchone() == (12,)
    db._check()


def test_recovery_rebuilds_deferred_rows_from_markers(tmp_path):
    path = str(tmp_path / "feed.db")
    conn = turso_stream.connect(path, isolation_level=None)
    for sql in _SETUP:
        conn.execute(sql)
    conn.execute("PRAGMA capture_data_changes_conn('full')")
    conn.execute("INSERT INTO t VALUES (1, 'a', 1.5)")
    conn.execute("BEGIN")
    conn.execute("INSERT INTO w VALUES ('k', 1, 10)")
    conn.execute("INSERT INTO t VALUES (2, 'b', NULL)")
    conn.execute("INSERT INTO s(x) VALUES (7)")  # writes sqlite_sequence: not captured
    conn.execute("COMMIT")
    conn.execute("UPDATE t SET b = 'B', c = -0.0 WHERE a = 2")
    conn.execute("DELETE FROM w")
    other = turso_stream.connect(path, isolation_level=None)  # no capture
    other.execute("ALTER TABLE t RENAME TO t2")  # the pending rows keep the name they had
    assert _pending(conn) > 0
    # A crash now: copy the files while the log holds only markers for the rows.
    crashed = str(tmp_path / "crashed")
    os.mkdir(crashed)
    for suffix in ("", "-log"):
        if os.path.exists(path + suffix):
            shutil.copy(path + suffix, os.path.join(crashed, "feed.db" + suffix))
    expected = _feed_rows(conn)
    assert [r[3] for r in expected if r[2] != 2] == ["t", "w", "t", "s", "t", "w"]
    conn.close()
    other.close()
    reopened = turso_stream.connect(os.path.join(crashed, "feed.db"), isolation_level=None)
    assert _pending(reopened) > 0  # rebuilt as pending segments, then read
    assert _feed_rows(reopened) == expected
    reopened._db._check()
    # Capture continues after the recovered ids, and the file checkpoints them.
    reopened.execute("PRAGMA capture_data_changes_conn('id')")
    reopened.execute("INSERT INTO t2 VALUES (3, 'c', 0.0)")
    ids = [r[0] for r in reopened.execute("SELECT change_id FROM turso_cdc")]
    assert ids == list(range(1, len(expected) + 3))
    reopened.close()
    again = turso_stream.connect(os.path.join(crashed, "feed.db"), isolation_level=None)
    assert _feed_rows(again)[:len(expected)] == expected
    again.close()


def test_observers_of_the_cdc_table_get_its_rows_in_commit():
    conn = turso_stream.connect(":memory:", isolation_level=None)
    conn.execute(_SETUP[0])
    conn.execute("PRAGMA capture_data_changes_conn('id')")
    conn.execute("INSERT INTO t VALUES (1, 'a', 1.0)")
    conn.execute("INSERT INTO t VALUES (2, 'a', 1.0)")  # deferred: nobody watches
    conn.execute("CREATE MATERIALIZED VIEW kinds AS "
                 "SELECT change_type, count(*) AS n FROM turso_cdc GROUP BY change_type")
    got = []
    handle = conn.subscribe("SELECT change_id, table_name FROM turso_cdc WHERE change_type = 1",
                            callback=got.append)
    conn.execute("INSERT INTO t VALUES (3, 'a', 1.0)")
    conn.execute("DELETE FROM t WHERE a = 1")
    assert _pending(conn) == 0  # watched: the rows are built in the commit
    _wait(lambda: len(got) == 2)  # the initial result, then the INSERT (not the DELETE)
    handle.unsubscribe()
    kinds = dict(conn.execute("SELECT * FROM kinds").fetchall())
    assert kinds == dict(conn.execute("SELECT change_type, count(*) FROM turso_cdc "
                                      "GROUP BY change_type").fetchall())
    assert kinds[-1] == 1 and kinds[1] == 3 + 1  # CREATE VIEW is a schema insert
    inserted = [row for change in got[1:] for row in change.inserted]
    assert ("t" in {r[1] for r in inserted}) and len(inserted) == 1


def test_concurrent_writers_and_readers_see_a_gapless_feed(tmp_path):
    path = str(tmp_path / "conc.db")
    setup = turso_stream.connect(path, isolation_level=None)
    setup.execute(_SETUP[0])
    setup.execute("PRAGMA capture_data_changes_conn('full')")
    setup.execute("INSERT INTO t(b) VALUES ('first')")
    errors = []
    stop = threading.Event()

    def writer(who):
        conn = turso_stream.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA capture_data_changes_conn('full')")
        try:
            for n in range(60):
                conn.execute("INSERT INTO t(b, c) VALUES (?, ?)", (f"w{who}", n))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        conn.close()

    def reader():
        conn = turso_stream.connect(path, isolation_level=None, check_same_thread=False)
        try:
            while not stop.is_set():
                ids = [r[0] for r in conn.execute("SELECT change_id FROM turso_cdc")]
                kinds = [r[0] for r in conn.execute(
                    "SELECT change_type FROM turso_cdc ORDER BY change_id")]
                assert ids == list(range(1, len(ids) + 1)), "a gap in the feed"
                assert not kinds or kinds[-1] == 2, "a transaction seen without its commit row"
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        conn.close()

    readers = [threading.Thread(target=reader) for _ in range(2)]
    writers = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    for th in readers + writers:
        th.start()
    for th in writers:
        th.join()
    stop.set()
    for th in readers:
        th.join()
    assert not errors
    rows = setup.execute("SELECT change_type, count(*) FROM turso_cdc GROUP BY 1").fetchall()
    assert dict(rows) == {1: 181, 2: 181}
    setup._db._check()
    setup.close()


def test_settling_a_backlog_in_chunks_equals_eager_capture(monkeypatch):
    """A long backlog settles a chunk of segments per hold of the state lock; a
    commit's segments (one per table) may straddle chunks. The rows are the same."""
    import engine.cdc.feed as feed_module
    monkeypatch.setattr(feed_module, "SETTLE_CHUNK", 1)
    transactions = [([("INSERT OR REPLACE INTO t VALUES (?, ?, ?)", (i % 4, "x", i / 3)),
                      ("INSERT OR REPLACE INTO w VALUES (?, ?, ?)", ("a", i % 3, i)),
                      ("DELETE FROM t WHERE a = ?", ((i + 2) % 4,))], "COMMIT")
                    for i in range(12)]
    lazy = turso_stream.connect(":memory:", isolation_level=None)
    eager = turso_stream.connect(":memory:", isolation_level=None)
    assert _run(lazy, "full", transactions) > 10
    _run(eager, "full", transactions, eager=True)
    lazy._db._check()
    assert _feed_rows(lazy) == _feed_rows(eager)
