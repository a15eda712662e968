"""Simulated crashes: every acknowledged commit survives, no partial commit is seen.

A seeded workload (DDL, then many small commits of inserts, updates and
deletes over a rowid table with indexes and a WITHOUT ROWID table, with an
explicit checkpoint in the middle and automatic checkpoints from a small
``checkpoint_bytes``, ending with ``close()``) runs on a `SimFileSystem`. A
fault-free run counts its file-system operations; the sweep then crashes the
run at operation N, restarts the simulated machine (unsynced writes lost or
torn at random), reopens, and checks:

* the state equals the model after some prefix of the attempted commits
  (commits are atomic), at least as long as the acknowledged prefix
  (acknowledged = ``txn.commit()`` returned);
* ``db._check()`` holds, and the reopened database accepts new commits that
  survive another restart.

Every assertion message names the seed and the crash operation.
"""

from __future__ import annotations

import random
import threading
import time

import pytest

from engine.database import Database
from engine.errors import OperationalError
from engine.storage import SYNC_FULL, SYNC_NORMAL, SimFile, SimFileSystem, SimulatedCrash

PATH = "/data/crash.db"

DDL = [
    "CREATE TABLE acct(id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance INTEGER, note)",
    "CREATE INDEX acct_owner ON acct(owner COLLATE NOCASE)",
    "CREATE UNIQUE INDEX acct_note ON acct(note)",
    "CREATE TABLE kv(k TEXT PRIMARY KEY, v) WITHOUT ROWID",
]
TABLES = ("acct", "kv")


# ----------------------------------------------------------------------------- workload

class Workload:
    """A deterministic plan of commits and the model state after each one.

    ``commits[i]`` is a list of ``(op, table, key, row)``; ``states[i]`` is the
    state after the first ``i`` commits (``states[0]``: empty database, before
    the DDL commit, which is ``commits[0]``). Keys of ``kv`` are its ``k`` text.
    """

    def __init__(self, seed: int, n_commits: int, payload: int):
        rng = random.Random(seed)
        self.checkpoint_after = n_commits // 2
        model = {"acct": {}, "kv": {}, "extra": None, "indexes": set(BASE_INDEXES)}
        self.commits = [[("ddl", None, None, None)]]
        self.states = [None, _freeze(model)]
        next_id = 1
        for i in range(n_commits):
            ops = []
            if i == n_commits // 3:  # schema changes go through the log too
                ops.append(("create_extra", "extra", 1, (1, f"extra{seed}")))
                model["extra"] = {1: (1, f"extra{seed}")}
                model["indexes"] = model["indexes"] | {"kv_v"}
            elif i == 2 * n_commits // 3 and n_commits > 3:
                ops.append(("drop_extra", "extra", None, None))
                model["extra"] = None
                model["indexes"] = model["indexes"] - {"kv_v"}
            for _ in range(rng.choice((1, 1, 2, 3, 5))):
                table = rng.choice(TABLES)
                rows = model[table]
                kind = rng.random()
                if kind < 0.5 or not rows:
                    if table == "acct":
                        key = next_id
                        next_id += 1
                        row = (key, rng.choice(("ann", "Bob", "BOB", "cy")), rng.randrange(-99, 999),
                               f"n{key}-" + "x" * rng.randrange(payload))
                    else:
                        key = f"k{rng.randrange(10 ** 6)}"
                        if key in rows:
                            continue
                        row = (key, rng.choice((None, 1.5, b"\x00b", "y" * rng.randrange(payload))))
                    ops.append(("insert", table, key, row))
                    rows[key] = row
                elif kind < 0.8:
                    key = rng.choice(sorted(rows))
                    old = rows[key]
                    row = (old[:2] + (old[2] + rng.randrange(1, 50), old[3])
                           if table == "acct" else (key, i))
                    ops.append(("update", table, key, row))
                    rows[key] = row
                else:
                    key = rng.choice(sorted(rows))
                    ops.append(("delete", table, key, None))
                    del rows[key]
            self.commits.append(ops)
            self.states.append(_freeze(model))


BASE_INDEXES = frozenset({"acct_owner", "acct_note"})


def _freeze(model: dict):
    extra = None if model["extra"] is None else tuple(sorted(model["extra"].items()))
    return (tuple(tuple(sorted(model[t].items())) for t in TABLES)
            + (extra, frozenset(model["indexes"])))


def _apply(txn, ops) -> None:
    for op, table, key, row in ops:
        if op == "ddl":
            for sql in DDL:
                (txn.create_table if sql.startswith("CREATE TABLE") else txn.create_index)(sql)
        elif op == "create_extra":
            txn.create_table("CREATE TABLE extra(x INTEGER PRIMARY KEY, y TEXT)")
            txn.create_index("CREATE INDEX kv_v ON kv(v)")
            txn.insert("extra", row)
        elif op == "drop_extra":
            txn.drop_index("kv_v")
            txn.drop_table("extra")
        elif table == "kv":
            kv = txn.table("kv")
            if op == "insert":
                txn.insert("kv", row)
            elif op == "update":
                txn.update("kv", kv.pk_key(row), row)
            else:
                txn.delete("kv", kv.pk_key((key, None)))
        elif op == "insert":
            assert txn.insert(table, row) == key
        elif op == "update":
            txn.update(table, key, row)
        else:
            txn.delete(table, key)


def run(fs: SimFileSystem, work: Workload, checkpoint_bytes: int, synchronous=SYNC_FULL,
        stats: dict | None = None):
    """Run ``work`` until done or crashed; ``(acknowledged, attempted)`` commit counts.

    ``stats["auto_checkpoints"]`` counts commits after which the log shrank."""
    acked = attempted = 0
    try:
        db = Database(PATH, fs=fs, synchronous=synchronous, checkpoint_bytes=checkpoint_bytes)
        for i, ops in enumerate(work.commits):
            attempted = i + 1
            txn = db.begin("IMMEDIATE")
            _apply(txn, ops)
            before = db._log.size
            txn.commit()
            acked = i + 1
            if stats is not None and db._log.size < before:
                stats["auto_checkpoints"] = stats.get("auto_checkpoints", 0) + 1
            if i == work.checkpoint_after:
                db.checkpoint()
        db.close()
    except SimulatedCrash:
        pass
    return acked, attempted


def read_state(db: Database):
    """The recovered state in the model's form, or None when no table exists yet."""
    if not db.tables:
        return None
    txn = db.begin()
    try:
        out = []
        for t in TABLES:
            items = txn.scan(t)
            if t == "kv":
                out.append(tuple((row[0], row) for _k, row in items))
            else:
                out.append(tuple(items))
        out.append(tuple(txn.scan("extra")) if "extra" in db.tables else None)
        out.append(frozenset(n for n in db.catalog.indexes if not n.startswith("sqlite_")))
        return tuple(out)
    finally:
        txn.rollback()


def check_recovery(fs, work, acked, attempted, where: str, checkpoint_bytes: int) -> Database:
    """Reopen after a crash and check the state is a prefix >= the acknowledged one."""
    db = Database(PATH, fs=fs, checkpoint_bytes=checkpoint_bytes)
    db._check()
    state = read_state(db)
    matches = [j for j, s in enumerate(work.states) if s == state]
    assert matches, f"{where}: recovered state is no prefix of the commits " \
                    f"(acked {acked}, attempted {attempted}): {state!r}"
    assert any(acked <= j <= attempted for j in matches), \
        f"{where}: recovered prefix {matches} outside [{acked}, {attempted}]"
    return db


def crash_once(seed: int, crash_at: int, work: Workload, checkpoint_bytes: int,
               lose_unsynced: bool = True, continue_after: bool = False) -> None:
    where = f"seed {seed}, crash at op {crash_at}"
    fs = SimFileSystem(seed, crash_at_op=crash_at)
    acked, attempted = run(fs, work, checkpoint_bytes)
    fs = fs.restart(lose_unsynced=lose_unsynced)
    db = check_recovery(fs, work, acked, attempted, where, checkpoint_bytes)
    if continue_after:
        # The recovered database takes new commits, which survive a power loss.
        if not db.tables:
            with db.begin() as txn:
                _apply(txn, work.commits[0])
        with db.begin() as txn:
            txn.insert("kv", ("after-crash", seed))
        before = read_state(db)
        fs = fs.restart()
        db = Database(PATH, fs=fs)
        db._check()
        assert read_state(db) == before, f"{where}: commit after recovery lost"
    db.close()


def count_ops(seed: int, work: Workload, checkpoint_bytes: int) -> int:
    fs = SimFileSystem(seed)
    acked, attempted = run(fs, work, checkpoint_bytes)
    assert acked == attempted == len(work.commits)
    fs = fs.restart()
    db = check_recovery(fs, work, acked, attempted, f"seed {seed}, no crash", checkpoint_bytes)
    assert read_state(db) == work.states[-1]
    db.close()
    return fs_ops(seed, work, checkpoint_bytes)


def fs_ops(seed: int, work: Workload, checkpoint_bytes: int, synchronous=SYNC_FULL) -> int:
    fs = SimFileSystem(seed)
    run(fs, work, checkpoint_bytes, synchronous)
    return fs.op_count


# ----------------------------------------------------------------------------- tests

SMALL_CKPT = 3000  # with commits of a few KB: automatic checkpoints during the run
BIG = 2500         # payload size making commits of a few KB


def test_fault_free_run_checkpoints_and_recovers():
    work = Workload(1, 30, payload=BIG)
    fs = SimFileSystem(1)
    stats = {}
    acked, attempted = run(fs, work, SMALL_CKPT, stats=stats)
    assert acked == attempted == 31
    assert stats["auto_checkpoints"] >= 1
    files = fs.durable_files()
    assert PATH in files and files[PATH].startswith(b"SQLite format 3\x00")
    db = Database(PATH, fs=fs.restart())
    assert read_state(db) == work.states[-1]
    db.close()


@pytest.mark.parametrize("seed", range(24))
def test_crash_sweep_every_op(seed):
    """Every crash point of one small run, power loss at restart."""
    work = Workload(seed, 16, payload=BIG if seed % 2 else 20)
    ckpt = SMALL_CKPT if seed % 2 else 1 << 20
    total = count_ops(seed, work, ckpt)
    assert total > 30
    for crash_at in range(1, total + 1):
        crash_once(seed, crash_at, work, ckpt, continue_after=crash_at % 7 == 0)


def test_crash_many_seeds_random_points():
    """Many seeds, random crash points, half power loss, half process death."""
    rng = random.Random(12345)
    for seed in range(100, 800):
        work = Workload(seed, rng.randrange(5, 20), payload=rng.choice((10, BIG)))
        ckpt = rng.choice((SMALL_CKPT, 1 << 20))
        total = fs_ops(seed, work, ckpt)
        crash_once(seed, rng.randrange(1, total + 1), work, ckpt,
                   lose_unsynced=seed % 2 == 0, continue_after=seed % 5 == 0)


@pytest.mark.slow
def test_crash_sweep_big():
    for seed in range(1000, 1040):
        work = Workload(seed, 40, payload=BIG)
        total = count_ops(seed, work, SMALL_CKPT)
        for crash_at in range(1, total + 1):
            crash_once(seed, crash_at, work, SMALL_CKPT, lose_unsynced=crash_at % 3 != 0,
                       continue_after=crash_at % 11 == 0)


# ----------------------------------------------------------------------------- fsync failure

@pytest.mark.parametrize("seed", range(40))
def test_fsync_failure_poisons_and_acknowledged_commits_survive(seed):
    where = f"seed {seed}"
    work = Workload(seed, 60, payload=200)
    fs = SimFileSystem(seed)
    db = Database(PATH, fs=fs, checkpoint_bytes=SMALL_CKPT)
    acked = 0
    with db.begin() as txn:
        _apply(txn, work.commits[0])
    acked = 1
    fs.fsync_failure_rate = 0.15
    failed_at = None
    for i, ops in enumerate(work.commits[1:], start=1):
        try:
            # A failed automatic checkpoint reports at the next call: begin().
            txn = db.begin("IMMEDIATE")
            _apply(txn, ops)
            txn.commit()
        except OperationalError as exc:
            assert "disk I/O error" in str(exc), f"{where}: {exc!r}"
            failed_at = i
            break
        acked = i + 1
    # Every seed's fault sequence is deterministic: each of them does hit a failure.
    assert failed_at is not None, f"{where}: no fsync failed; pick a higher rate"
    fs.fsync_failure_rate = 0.0
    # The database refuses further writes (its durable state is unknown).
    with pytest.raises(OperationalError, match="disk I/O error"):
        txn = db.begin("IMMEDIATE")
        txn.insert("kv", ("refused", 1))
        txn.commit()
    db.close()
    fs = fs.restart()
    db = check_recovery(fs, work, acked, failed_at + 1, where, SMALL_CKPT)
    db.close()


def test_sync_normal_survives_process_death():
    """SYNC_NORMAL does not fsync each commit, but a process crash keeps the OS cache."""
    seed = 7
    work = Workload(seed, 12, payload=50)
    total = fs_ops(seed, work, 1 << 20, SYNC_NORMAL)
    for crash_at in range(1, total + 1):
        fs = SimFileSystem(seed, crash_at_op=crash_at)
        acked, attempted = run(fs, work, 1 << 20, synchronous=SYNC_NORMAL)
        fs = fs.restart(lose_unsynced=False)
        db = check_recovery(fs, work, acked, attempted, f"seed {seed}, crash at op {crash_at}",
                            1 << 20)
        db.close()


@pytest.mark.parametrize("fail_nth", [1, 2])  # the image, the log reset
def test_checkpoint_fsync_failure_poisons(fail_nth):
    """An fsync failing inside a checkpoint (image, or log reset) raises a disk I/O
    error, refuses further writes, and loses no committed data."""
    where = f"fsync #{fail_nth} of the checkpoint fails"
    work = Workload(3, 10, payload=50)
    fs = SimFileSystem(3)
    db = Database(PATH, fs=fs, checkpoint_bytes=1 << 20)
    for ops in work.commits:
        with db.begin() as txn:
            _apply(txn, ops)
    base = fs.fsync_count
    original = fs._fsync

    def failing_fsync(inode, path):
        if fs.fsync_count - base == fail_nth - 1:
            fs.fsync_failure_rate = 1.0
        try:
            original(inode, path)
        finally:
            fs.fsync_failure_rate = 0.0

    fs._fsync = failing_fsync
    with pytest.raises(OperationalError, match="disk I/O error"):
        db.checkpoint()
    fs._fsync = original
    with pytest.raises(OperationalError, match="disk I/O error"):
        db.begin("IMMEDIATE")
    db.close()
    db = check_recovery(fs.restart(), work, len(work.commits), len(work.commits), where, 1 << 20)
    assert read_state(db) == work.states[-1], where
    db.close()


# ----------------------------------------------------------------------------- threads

THREADS, PER_THREAD = 4, 25


class SlowFsyncFile(SimFile):
    """A file whose fsync takes a little real time before it starts (the GIL and
    the file system's mutex are free meanwhile), so committers pile up behind the
    group-commit leader as they do on a real disk."""

    __slots__ = ()

    def fsync(self) -> None:
        time.sleep(0.0005)
        super().fsync()


class SlowFsyncFileSystem(SimFileSystem):
    def open(self, path: str, create: bool = True) -> SimFile:
        f = super().open(path, create)
        f.__class__ = SlowFsyncFile
        return f


def _threaded_run(fs: SimFileSystem, acked: set, seed: int) -> None:
    """THREADS writers (IMMEDIATE and CONCURRENT), each commit two rows; a commit
    is added to ``acked`` once ``commit()`` returned. Stops at the crash."""
    try:
        db = Database(PATH, fs=fs)
        with db.begin() as txn:
            txn.create_table("CREATE TABLE g(id INTEGER PRIMARY KEY, th INTEGER, seq INTEGER)")
    except SimulatedCrash:
        return
    acked.add(("ddl", 0))
    lock = threading.Lock()
    hung = []

    def writer(th: int) -> None:
        mode = "CONCURRENT" if th % 2 else "IMMEDIATE"
        try:
            for seq in range(PER_THREAD):
                txn = db.begin(mode, timeout=30)
                base = th * 10_000 + seq * 2
                txn.insert("g", (base, th, seq))
                txn.insert("g", (base + 1, th, seq))
                txn.commit()
                with lock:
                    acked.add((th, seq))
        except SimulatedCrash:
            pass
        except OperationalError as exc:  # the crash seen through a poisoned database
            assert "disk I/O error" in str(exc) or fs.dead, f"seed {seed}: {exc!r}"

    workers = [threading.Thread(target=writer, args=(th,)) for th in range(THREADS)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        if w.is_alive():
            hung.append(w)
    assert not hung, f"seed {seed}: writer threads hung after the crash"


def test_threaded_group_commit_crash():
    """Group commit under a crash: acknowledged commits of every thread survive,
    each commit is all-or-nothing, and each thread's commits form a prefix."""
    rng = random.Random(99)
    fs = SlowFsyncFileSystem(0)
    _threaded_run(fs, set(), 0)
    total = fs.op_count
    # Enough I/O operations to crash at. (Not one per commit: group commit's leader
    # writes the frames queued while it fsyncs in one call, so how many writes a run
    # takes depends on the threads' interleaving.)
    assert total > 2 * THREADS
    assert fs.fsync_count < THREADS * PER_THREAD, "no group commit happened"
    for seed in range(60):
        crash_at = rng.randrange(1, total)
        where = f"seed {seed}, crash at op {crash_at}"
        fs = SlowFsyncFileSystem(seed, crash_at_op=crash_at)
        acked: set = set()
        _threaded_run(fs, acked, seed)
        db = Database(PATH, fs=fs.restart())
        db._check()
        if "g" not in db.tables:
            assert not acked, f"{where}: table of an acknowledged commit lost"
            db.close()
            continue
        txn = db.begin()
        rows = [row for _k, row in txn.scan("g")]
        txn.rollback()
        db.close()
        present: dict = {}
        for _id, th, seq in rows:
            present.setdefault((th, seq), 0)
            present[(th, seq)] += 1
        assert all(n == 2 for n in present.values()), f"{where}: partial commit {present}"
        for th, seq in acked - {("ddl", 0)}:
            assert (th, seq) in present, f"{where}: acknowledged commit {(th, seq)} lost"
        for th in range(THREADS):
            seqs = sorted(s for t, s in present if t == th)
            assert seqs == list(range(len(seqs))), f"{where}: thread {th} has gaps {seqs}"
