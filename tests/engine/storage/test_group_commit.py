"""Group commit internals: frames queued while a leader flushes, leader rounds,
failures during a queued write, reset and close against a busy leader.

The leader's fsync is held on an Event so each test decides exactly when it
finishes: the interleavings are deterministic, not timing-dependent.
"""

from __future__ import annotations

import errno
import threading
import time

import pytest

from engine.database import Database
from engine.storage import SYNC_FULL, SYNC_OFF, CommitLog, LogPoisonedError, SimFileSystem
from engine.storage.vfs import File, FileSystem

LOG = "/db/test.db-log"


class GatedFS(FileSystem):
    """Wraps a FileSystem; while ``gate`` is cleared, fsync blocks until it is set."""

    def __init__(self, inner):
        self.inner = inner
        self.gate = threading.Event()
        self.gate.set()
        self.in_fsync = threading.Event()
        self.fsyncs = 0
        self.entered = 0           # fsync calls begun (finished or blocked on the gate)
        self.fail_writes = False

    def open(self, path, create=True):
        return GatedFile(self, self.inner.open(path, create))

    def exists(self, path):
        return self.inner.exists(path)

    def remove(self, path):
        self.inner.remove(path)

    def rename(self, src, dst):
        self.inner.rename(src, dst)

    def fsync_dir(self, path):
        self.inner.fsync_dir(path)

    def lock_exclusive(self, path):
        return self.inner.lock_exclusive(path)


class GatedFile(File):
    def __init__(self, fs, inner):
        self.fs, self.inner = fs, inner

    def size(self):
        return self.inner.size()

    def read(self, offset, n):
        return self.inner.read(offset, n)

    def write(self, offset, data):
        if self.fs.fail_writes:
            raise OSError(errno.ENOSPC, "no space left on device (test)")
        self.inner.write(offset, data)

    def truncate(self, size):
        self.inner.truncate(size)

    def close(self):
        self.inner.close()

    def fsync(self):
        self.fs.entered += 1
        self.fs.in_fsync.set()
        assert self.fs.gate.wait(30), "test gate never opened"
        self.fs.fsyncs += 1
        self.inner.fsync()


def _start_leader(log, fs):
    """Append a frame and start a thread waiting for it; returns once that thread
    is the leader, blocked inside fsync."""
    fs.gate.clear()
    fs.in_fsync.clear()
    lsn = log.append(b"leader")
    errors = []

    def wait():
        try:
            log.wait_durable(lsn)
        except BaseException as exc:  # surfaced by the tests
            errors.append(exc)

    thread = threading.Thread(target=wait)
    thread.start()
    assert fs.in_fsync.wait(30)
    return thread, errors


def _waiter(log, lsn, out):
    def wait():
        try:
            log.wait_durable(lsn)
            out.append(("ok", lsn))
        except LogPoisonedError:
            out.append(("poisoned", lsn))
    thread = threading.Thread(target=wait)
    thread.start()
    return thread


def test_frames_queue_while_a_leader_flushes_and_land_in_order():
    sim = SimFileSystem(0)
    fs = GatedFS(sim)
    log, _ = CommitLog.open(fs, LOG)
    opened = fs.fsyncs
    leader, errors = _start_leader(log, fs)
    lsns = [log.append(b"queued %d" % i) for i in range(5)]
    assert len(log._buffer) == 5 and lsns == sorted(lsns)
    log._check()
    # Nothing queued is in the file yet: a crash now keeps only the leader's frame.
    assert len(sim.files()[LOG]) < lsns[0]
    out = []
    waiters = [_waiter(log, lsn, out) for lsn in lsns]
    fs.gate.set()
    for t in [leader] + waiters:
        t.join(30)
        assert not t.is_alive()
    assert not errors and sorted(out) == sorted(("ok", lsn) for lsn in lsns)
    assert log.durable_lsn >= lsns[-1] and not log._buffer
    log._check()
    # One fsync for the leader's frame, one round for all five queued frames.
    assert fs.fsyncs - opened == 2
    log.close()
    assert CommitLog.open(sim, LOG)[1] == [b"leader"] + [b"queued %d" % i for i in range(5)]


def _until(predicate, seconds=30.0):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.001)


def test_second_fsync_starts_behind_a_running_one_once_woken_committers_queued():
    """While one fsync runs, the committer that completes the expected group
    (half the committers seen waiting; one at first) writes the queue
    and starts its own fsync at once, instead of sleeping until the first ends."""
    sim = SimFileSystem(0)
    fs = GatedFS(sim)
    log, _ = CommitLog.open(fs, LOG)
    leader, errors = _start_leader(log, fs)
    entered = fs.entered
    queued = log.append(b"queued")
    out = []
    second = _waiter(log, queued, out)
    _until(lambda: fs.entered == entered + 1)
    assert log._inflight == 2 and not log._buffer
    assert len(sim.files()[LOG]) == queued        # written before its fsync began
    log._check()
    fs.gate.set()
    for t in (leader, second):
        t.join(30)
        assert not t.is_alive()
    assert not errors and out == [("ok", queued)] and log.durable_lsn >= queued
    log._check()
    log.close()
    assert CommitLog.open(sim, LOG)[1] == [b"leader", b"queued"]


def test_group_is_half_the_committers_seen_over_the_window():
    sim = SimFileSystem(0)
    log, _ = CommitLog.open(sim, LOG)
    assert log._group == 1

    turn = threading.Lock()  # one commit at a time: each is its own fsync round
    alive = threading.Barrier(4)

    def commit_some(n, together=False):
        if together:
            alive.wait(30)
        for _ in range(n):
            with turn:
                log.wait_durable(log.append(b"x"))

    rounds = CommitLog.GROUP_WINDOW
    # Four live threads (distinct idents) fill one window.
    threads = [threading.Thread(target=commit_some, args=(rounds // 4, True))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert log._group == 2
    commit_some(rounds)  # a window of one committer
    assert log._group == 1
    log.close()


def test_committer_sleeps_until_the_expected_group_has_queued():
    """With a group of three, one queued frame does not start a second
    fsync: its committer sleeps, and the first leader hands it the next round."""
    sim = SimFileSystem(0)
    fs = GatedFS(sim)
    log, _ = CommitLog.open(fs, LOG)
    leader, errors = _start_leader(log, fs)
    log._group = 3
    entered = fs.entered
    queued = log.append(b"queued")
    out = []
    waiter = _waiter(log, queued, out)
    _until(lambda: len(log._waiters) == 1)
    assert fs.entered == entered and log._inflight == 1 and len(log._buffer) == 1
    fs.gate.set()
    for t in (leader, waiter):
        t.join(30)
        assert not t.is_alive()
    assert not errors and out == [("ok", queued)]
    assert fs.entered == entered + 1              # the handed-over round
    log._check()
    log.close()
    assert CommitLog.open(sim, LOG)[1] == [b"leader", b"queued"]


def test_failed_queued_write_poisons_and_wakes_every_waiter():
    sim = SimFileSystem(0)
    fs = GatedFS(sim)
    log, _ = CommitLog.open(fs, LOG)
    leader, errors = _start_leader(log, fs)
    lsns = [log.append(b"q%d" % i) for i in range(3)]
    out = []
    # Whoever writes the queue (a second leader while the first fsyncs, or the
    # first leader's next round) gets ENOSPC.
    fs.fail_writes = True
    waiters = [_waiter(log, lsn, out) for lsn in lsns]
    fs.gate.set()
    for t in [leader] + waiters:
        t.join(30)
        assert not t.is_alive()
    assert not errors              # the leader's own frame was durable before
    assert sorted(out) == sorted(("poisoned", lsn) for lsn in lsns)
    assert log.poisoned
    with pytest.raises(LogPoisonedError):
        log.append(b"after")
    log.close()
    assert CommitLog.open(sim, LOG)[1] == [b"leader"]


def test_reset_waits_for_a_busy_leader_and_drops_queued_frames():
    sim = SimFileSystem(0)
    fs = GatedFS(sim)
    log, _ = CommitLog.open(fs, LOG)
    leader, errors = _start_leader(log, fs)
    queued = log.append(b"queued")
    done = threading.Event()

    def reset():
        log.reset()
        done.set()

    resetter = threading.Thread(target=reset)
    resetter.start()
    assert not done.wait(0.05)     # blocked behind the leader
    fs.gate.set()
    for t in (leader, resetter):
        t.join(30)
        assert not t.is_alive()
    assert not errors and done.is_set()
    assert log.size == 0 and log.durable_lsn >= queued and not log._buffer
    log._check()
    after = log.append(b"after reset")
    assert after > queued
    log.wait_durable(after)
    log.close()
    assert CommitLog.open(sim, LOG)[1] == [b"after reset"]


def test_queued_frames_are_written_on_close_even_with_sync_off():
    sim = SimFileSystem(0)
    fs = GatedFS(sim)
    log, _ = CommitLog.open(fs, LOG, synchronous=SYNC_FULL)
    leader, errors = _start_leader(log, fs)
    log.append(b"queued")
    log.synchronous = SYNC_OFF     # PRAGMA synchronous changed meanwhile
    fs.gate.set()
    leader.join(30)
    assert not errors
    log.close()
    assert CommitLog.open(sim, LOG)[1] == [b"leader", b"queued"]


def test_wait_for_an_lsn_never_appended_is_an_error():
    log, _ = CommitLog.open(SimFileSystem(0), LOG)
    lsn = log.append(b"x")
    with pytest.raises(ValueError, match="beyond the end"):
        log.wait_durable(lsn + 100)
    log.wait_durable(lsn)
    log.close()


def test_inline_append_when_no_leader_is_busy():
    """A single committer never queues: every frame is written by append itself."""
    sim = SimFileSystem(0)
    log, _ = CommitLog.open(sim, LOG)
    for i in range(20):
        lsn = log.append(b"f%d" % i)
        assert not log._buffer and len(sim.files()[LOG]) == lsn
        log.wait_durable(lsn)
        log._check()
    log.close()


# ----------------------------------------------------------------------------- commit path

def test_commit_paths_leave_no_snapshot_behind():
    """The one-table fast path and the general path both drop the committing
    transaction's snapshot inside the commit; rollbacks and failures too."""
    db = Database(":memory:")
    with db.begin() as txn:
        txn.create_table("CREATE TABLE a(x INTEGER)")
        txn.create_table("CREATE TABLE b(x INTEGER UNIQUE)")
    assert db._active_count == 0
    txn = db.begin()
    txn.insert("a", (1,))
    changes = txn.commit()                 # fast path: one table
    assert changes.tables == {"a": [(1, None, (1,))]} and not txn.active
    txn = db.begin()
    txn.insert("a", (2,))
    txn.insert("b", (3,))
    changes = txn.commit()                 # general path: two tables, an index
    assert set(changes.tables) == {"a", "b"} and changes.ts == db.last_ts
    reader = db.begin()
    txn = db.begin()
    txn.insert("a", (4,))
    txn.commit()                           # a reader is live: versions kept
    assert reader.get("a", 3) is None and db._active_count == 1
    reader.rollback()
    txn = db.begin()
    with pytest.raises(Exception, match="UNIQUE"):
        txn.insert("b", (3,))
    txn.rollback()
    assert db._active_count == 0 and not db._active
    db._check()


def test_failing_in_commit_hook_ends_the_transaction_once():
    db = Database(":memory:")
    with db.begin() as txn:
        txn.create_table("CREATE TABLE a(x INTEGER)")

    def hook(changes):
        raise RuntimeError("observer failed")

    db.commit_hooks.append(hook)
    txn = db.begin()
    txn.insert("a", (1,))
    with pytest.raises(RuntimeError):
        txn.commit()
    assert not txn.active and db._active_count == 0 and not db._write_lock.owner
