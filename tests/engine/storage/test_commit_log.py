"""CommitLog: framing, recovery of torn tails, corruption, group commit, crashes."""

import errno
import random
import struct
import threading
import time
import zlib

import pytest

from engine.storage import (
    FRAME_HEADER_SIZE,
    FRAME_MAGIC,
    HEADER_SIZE,
    LOG_HEADER,
    SYNC_FULL,
    SYNC_NORMAL,
    SYNC_OFF,
    CommitLog,
    CorruptLogError,
    LogPoisonedError,
    OsFileSystem,
    SimFileSystem,
    SimulatedCrash,
    encode_frame,
)
from engine.storage.vfs import File, FileSystem

LOG = "/db/test.db-log"


def log_image(payloads):
    return LOG_HEADER + b"".join(encode_frame(p) for p in payloads)


def sample_payloads(seed=0, n=3):
    rng = random.Random(seed)
    return [rng.randbytes(rng.randint(1, 40)) for _ in range(n)]


# ---------------------------------------------------------------- format


def test_header_and_frame_layout():
    assert LOG_HEADER == b"TSTREAMLOG\x00\x01\x00\x00\x00\x00" and HEADER_SIZE == 16
    frame = encode_frame(b"hello")
    assert frame[:FRAME_HEADER_SIZE] == struct.pack("<III", 0x544C4F47, 5,
                                                   zlib.crc32(b"hello"))
    assert frame[FRAME_HEADER_SIZE:] == b"hello" and FRAME_MAGIC == 0x544C4F47


@pytest.mark.parametrize("backend", ["os", "sim"])
def test_round_trip_reopen_and_continue(backend, tmp_path):
    fs = OsFileSystem() if backend == "os" else SimFileSystem(1)
    path = str(tmp_path / "db-log") if backend == "os" else LOG
    log, recovered = CommitLog.open(fs, path)
    assert recovered == [] and log.size == 0 and log.lsn == HEADER_SIZE
    payloads = [b"", b"a", b"x" * 1000, bytes(range(256)), bytearray(b"ba")]
    lsns = []
    for p in payloads:
        lsns.append(log.append(p))
        log._check()
    assert lsns == sorted(lsns) and lsns[-1] == log.lsn == HEADER_SIZE + log.size
    log.wait_durable(lsns[-1])
    assert log.durable_lsn >= lsns[-1]
    log.close()
    log.close()
    log, recovered = CommitLog.open(fs, path)
    assert recovered == [bytes(p) for p in payloads]
    assert log.lsn == lsns[-1]
    log.append(b"more")
    log.close()
    assert CommitLog.open(fs, path)[1] == [bytes(p) for p in payloads] + [b"more"]


def test_new_log_is_created_atomically_and_directory_synced():
    fs = SimFileSystem(0)
    log, _ = CommitLog.open(fs, LOG)
    log.close()
    assert fs.durable_files() == {LOG: LOG_HEADER}   # name and header both durable


def test_empty_file_is_initialised_bad_header_rejected():
    fs = SimFileSystem(0)
    fs.write_file(LOG, b"")
    log, recovered = CommitLog.open(fs, LOG)
    assert recovered == [] and fs.read_file(LOG) == LOG_HEADER
    log.close()
    for bad in (b"SQLite format 3\x00", b"TSTREAMLOG\x00\x02\x00\x00\x00\x00", b"TSTR"):
        fs.write_file(LOG, bad + encode_frame(b"x"))
        with pytest.raises(CorruptLogError, match="not a turso_stream commit log"):
            CommitLog.open(fs, LOG)


def test_invalid_synchronous_rejected():
    with pytest.raises(ValueError):
        CommitLog.open(SimFileSystem(0), LOG, synchronous=5)


# ---------------------------------------------------------------- recovery


def test_torn_tail_discarded_at_every_truncation_point():
    payloads = sample_payloads(1, 3)
    full = log_image(payloads)
    last_start = len(log_image(payloads[:2]))
    for cut in range(last_start, len(full)):
        fs = SimFileSystem(cut)
        fs.write_file(LOG, full[:cut])
        log, recovered = CommitLog.open(fs, LOG)
        assert recovered == payloads[:2], f"cut at {cut}"
        assert fs.durable_files()[LOG] == full[:last_start], f"cut at {cut}"
        assert log.lsn == last_start
        log.append(b"next")                 # lands right after the valid prefix
        log.close()
        assert CommitLog.open(fs, LOG)[1] == payloads[:2] + [b"next"], f"cut at {cut}"


def test_torn_tail_with_garbage_suffix_discarded():
    payloads = sample_payloads(2, 3)
    full = log_image(payloads)
    last_start = len(log_image(payloads[:2]))
    rng = random.Random(5)
    for cut in range(last_start, len(full)):
        image = full[:cut] + rng.randbytes(len(full) - cut)
        fs = SimFileSystem(0)
        fs.write_file(LOG, image)
        assert CommitLog.open(fs, LOG)[1] == payloads[:2], f"cut at {cut}"


def test_corrupt_byte_in_middle_frame_raises_with_offset():
    payloads = sample_payloads(3, 3)
    full = log_image(payloads)
    mid_start = len(log_image(payloads[:1]))
    mid_end = len(log_image(payloads[:2]))
    for pos in range(mid_start, mid_end):
        image = bytearray(full)
        image[pos] ^= 0xFF
        fs = SimFileSystem(0)
        fs.write_file(LOG, bytes(image))
        with pytest.raises(CorruptLogError, match=f"byte offset {mid_start} ") as info:
            CommitLog.open(fs, LOG)
        assert f"valid frame at byte offset {mid_end}" in str(info.value), pos
        assert fs.read_file(LOG) == bytes(image)    # nothing truncated


def test_corrupt_byte_in_last_frame_discarded():
    payloads = sample_payloads(4, 3)
    full = log_image(payloads)
    last_start = len(log_image(payloads[:2]))
    for pos in range(last_start, len(full)):
        image = bytearray(full)
        image[pos] ^= 0x5A
        fs = SimFileSystem(0)
        fs.write_file(LOG, bytes(image))
        log, recovered = CommitLog.open(fs, LOG)
        assert recovered == payloads[:2], f"corrupt byte at {pos}"
        assert log.size == last_start - HEADER_SIZE


# ---------------------------------------------------------------- writing


def test_short_write_rolls_back_partial_frame():
    fs = SimFileSystem(9)
    log, _ = CommitLog.open(fs, LOG)
    log.append(b"first")
    fs.short_write_rate = 1.0
    with pytest.raises(OSError) as info:
        log.append(b"second, never committed")
    assert info.value.errno == errno.ENOSPC and not log.poisoned
    fs.short_write_rate = 0.0
    log.append(b"third")
    log.sync()
    log._check()
    log.close()
    assert CommitLog.open(fs, LOG)[1] == [b"first", b"third"]


def test_fsync_failure_poisons_the_log():
    fs = SimFileSystem(3)
    log, _ = CommitLog.open(fs, LOG)
    lsn = log.append(b"a")
    fs.fsync_failure_rate = 1.0
    with pytest.raises(LogPoisonedError) as info:
        log.wait_durable(lsn)
    assert isinstance(info.value, OSError) and info.value.errno == errno.EIO
    assert isinstance(info.value.__cause__, OSError)
    fs.fsync_failure_rate = 0.0            # even if the device recovers
    with pytest.raises(LogPoisonedError):
        log.append(b"b")
    with pytest.raises(LogPoisonedError):
        log.wait_durable(lsn)
    with pytest.raises(LogPoisonedError):
        log.sync()
    with pytest.raises(LogPoisonedError):
        log.reset()
    assert log.poisoned
    log.close()                            # still closes the file, no fsync


def test_sync_modes():
    for mode, expect_close_sync in ((SYNC_OFF, False), (SYNC_NORMAL, True)):
        fs = SimFileSystem(0)
        log, _ = CommitLog.open(fs, LOG, synchronous=mode)
        before = fs.fsync_count
        lsn = log.append(b"x")
        log.wait_durable(lsn)              # returns at once, no fsync
        assert fs.fsync_count == before and log.durable_lsn < lsn
        log.close()
        assert (fs.fsync_count > before) == expect_close_sync
    fs = SimFileSystem(0)
    log, _ = CommitLog.open(fs, LOG, synchronous=SYNC_OFF)
    lsn = log.append(b"y")
    log.sync()                             # explicit sync always syncs
    assert log.durable_lsn == lsn and fs.durable_files()[LOG].endswith(b"y")


def test_unsynced_frames_survive_a_process_crash():
    fs = SimFileSystem(0)
    log, _ = CommitLog.open(fs, LOG, synchronous=SYNC_OFF)
    for i in range(5):
        log.append(b"frame %d" % i)
    fs.crash()
    fs = fs.restart(lose_unsynced=False)
    assert CommitLog.open(fs, LOG)[1] == [b"frame %d" % i for i in range(5)]


def test_reset_drops_frames_and_keeps_lsns_monotone():
    fs = SimFileSystem(0)
    log, _ = CommitLog.open(fs, LOG)
    lsn1 = log.append(b"a" * 50)
    log.reset()
    assert log.size == 0 and log.durable_lsn >= lsn1
    log.wait_durable(lsn1)                 # an old waiter returns at once
    lsn2 = log.append(b"b")
    assert lsn2 > lsn1 and log.size == FRAME_HEADER_SIZE + 1
    log.wait_durable(lsn2)
    log._check()
    log.close()
    assert fs.durable_files()[LOG] == log_image([b"b"])
    assert CommitLog.open(fs, LOG)[1] == [b"b"]


# ---------------------------------------------------------------- group commit


class SlowFsyncFS(FileSystem):
    """Wraps a FileSystem: counts fsyncs and makes each take `delay` seconds."""

    def __init__(self, inner, delay):
        self.inner, self.delay, self.fsyncs = inner, delay, 0

    def open(self, path, create=True):
        return SlowFsyncFile(self, self.inner.open(path, create))

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


class SlowFsyncFile(File):
    def __init__(self, fs, inner):
        self.fs, self.inner = fs, inner

    def size(self):
        return self.inner.size()

    def read(self, offset, n):
        return self.inner.read(offset, n)

    def write(self, offset, data):
        self.inner.write(offset, data)

    def truncate(self, size):
        self.inner.truncate(size)

    def close(self):
        self.inner.close()

    def fsync(self):
        time.sleep(self.fs.delay)
        self.inner.fsync()
        self.fs.fsyncs += 1


def test_group_commit_shares_fsyncs_and_keeps_order():
    sim = SimFileSystem(0)
    fs = SlowFsyncFS(sim, delay=0.002)
    log, _ = CommitLog.open(fs, LOG)
    commit_lock = threading.Lock()
    committed = []                 # (lsn, payload) in append order
    errors = []
    per_thread = 40

    def committer(tid):
        try:
            for i in range(per_thread):
                payload = b"t%d-%d" % (tid, i)
                with commit_lock:
                    lsn = log.append(payload)
                    committed.append((lsn, payload))
                log.wait_durable(lsn)
                durable = len(sim.durable_files()[LOG])
                assert durable >= lsn, (lsn, durable)
        except BaseException as exc:            # surfaced below
            errors.append(exc)

    fs.fsyncs = 0
    threads = [threading.Thread(target=committer, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    commits = 8 * per_thread
    assert len(committed) == commits
    assert fs.fsyncs < commits / 2, f"{fs.fsyncs} fsyncs for {commits} commits"
    log._check()
    log.close()
    recovered = CommitLog.open(sim, LOG)[1]
    assert recovered == [p for _, p in committed]
    for tid in range(8):           # each thread's frames in its own order
        mine = [p for p in recovered if p.startswith(b"t%d-" % tid)]
        assert mine == [b"t%d-%d" % (tid, i) for i in range(per_thread)]


def test_waiters_all_released_when_fsync_fails():
    sim = SimFileSystem(0)
    fs = SlowFsyncFS(sim, delay=0.003)
    log, _ = CommitLog.open(fs, LOG)
    sim.fsync_failure_rate = 1.0
    outcomes = []

    lock = threading.Lock()

    def locked_waiter(i):
        with lock:
            try:
                lsn = log.append(b"%d" % i)
            except LogPoisonedError:
                outcomes.append("poisoned")
                return
        try:
            log.wait_durable(lsn)
            outcomes.append("ok")
        except LogPoisonedError:
            outcomes.append("poisoned")

    threads = [threading.Thread(target=locked_waiter, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert outcomes == ["poisoned"] * 6


# ---------------------------------------------------------------- crash sweep


def run_writer(fs, seed, record):
    """Deterministic writer: appends frames, waits on some, resets sometimes.

    `record` collects: gens (list of frame lists, one per log generation),
    acked (set of (gen, index) acknowledged durable), resetting (gen index
    whose reset was in progress when a crash hit, else None).
    """
    rng = random.Random(seed)
    mode = SYNC_FULL if rng.random() < 0.8 else SYNC_NORMAL
    log, recovered = CommitLog.open(fs, LOG, synchronous=mode)
    record["gens"] = [[]]
    record["acked"] = set()
    record["resetting"] = None
    for step in range(rng.randint(1, 14)):
        action = rng.random()
        if action < 0.08 and record["gens"][-1]:
            record["resetting"] = len(record["gens"]) - 1
            record["gens"].append([])
            log.reset()
            record["resetting"] = None
            continue
        batch = rng.randint(1, 3)
        gen = record["gens"][-1]
        lsn = None
        for _ in range(batch):
            payload = rng.randbytes(rng.choice((0, 1, 7, 30, 200)))
            gen.append(payload)      # a crash inside append may still land it
            try:
                lsn = log.append(payload)
            except OSError:
                gen.pop()            # a failed commit: rolled back, not in the log
        if lsn is None:
            continue
        if mode == SYNC_NORMAL and rng.random() < 0.3:
            log.sync()
        else:
            log.wait_durable(lsn)
        if log.synchronous == SYNC_FULL or log.durable_lsn >= lsn:
            record["acked"].update((len(record["gens"]) - 1, i) for i in range(len(gen)))
    log.close()


def check_recovery(seed, record, recovered):
    gens, acked = record["gens"], record["acked"]
    candidates = [len(gens) - 1]
    if record["resetting"] is not None:
        candidates.append(record["resetting"])
    for g in candidates:
        frames = gens[g]
        needed = max((i + 1 for gg, i in acked if gg == g), default=0)
        if (recovered == frames[:len(recovered)] and len(recovered) >= needed):
            return
    raise AssertionError(
        f"seed {seed}: recovered {len(recovered)} frames, not a prefix of the "
        f"appended frames containing all acknowledged ones "
        f"(generations {[len(g) for g in gens]}, acked {sorted(acked)})")


def crash_trial(seed, **faults):
    """Count the writer's ops fault-free, crash at a random op, recover, check."""
    counting = SimFileSystem(seed)
    run_writer(counting, seed, {})
    crash_at = random.Random(seed ^ 0x5EED).randint(1, counting.op_count + 2)
    fs = SimFileSystem(seed, crash_at_op=crash_at, **faults)
    record = {"gens": [[]], "acked": set(), "resetting": None}
    try:
        run_writer(fs, seed, record)
    except SimulatedCrash:
        pass
    except OSError:                     # fsync failure/poisoning, ENOSPC in open:
        assert faults, f"seed {seed}"   # the process gives up, then the machine dies
    after = fs.restart()
    log, recovered = CommitLog.open(after, LOG)
    check_recovery(seed, record, recovered)
    log.append(b"after recovery")       # the recovered log is writable
    log.close()
    assert CommitLog.open(after, LOG)[1] == recovered + [b"after recovery"], f"seed {seed}"


def test_crash_sweep_acknowledged_frames_survive():
    for seed in range(3000):
        crash_trial(seed)


def test_crash_sweep_with_fsync_failures_and_short_writes():
    for seed in range(1500):
        crash_trial(seed, fsync_failure_rate=0.05, short_write_rate=0.05)


def test_crash_at_every_op_of_one_workload():
    for seed in range(4):
        counting = SimFileSystem(seed)
        run_writer(counting, seed, {})
        for n in range(1, counting.op_count + 1):
            fs = SimFileSystem(seed * 1000 + n, crash_at_op=n)
            record = {"gens": [[]], "acked": set(), "resetting": None}
            with pytest.raises(SimulatedCrash):
                run_writer(fs, seed, record)
            recovered = CommitLog.open(fs.restart(), LOG)[1]
            check_recovery(f"{seed}/op {n}", record, recovered)


@pytest.mark.slow
def test_crash_sweep_large():
    for seed in range(3000, 60000):
        crash_trial(seed)
    for seed in range(1500, 30000):
        crash_trial(seed, fsync_failure_rate=0.05, short_write_rate=0.05)


# ---------------------------------------------------------------- properties

from hypothesis import given, settings, strategies as st  # noqa: E402

from engine.storage import scan_frames  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=8), st.data())
def test_scan_of_any_truncation_is_the_prefix_of_whole_frames(payloads, data):
    image = log_image(payloads)
    cut = data.draw(st.integers(HEADER_SIZE, len(image)), label="cut")
    recovered, end = scan_frames(image[:cut])
    ends = [len(log_image(payloads[:k])) for k in range(len(payloads) + 1)]
    whole = max(k for k, e in enumerate(ends) if e <= cut)
    assert recovered == payloads[:whole]
    assert end == ends[whole]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=64), min_size=2, max_size=6), st.data())
def test_any_damaged_non_last_frame_is_reported(payloads, data):
    image = bytearray(log_image(payloads))
    victim = data.draw(st.integers(0, len(payloads) - 2), label="frame")
    start, stop = len(log_image(payloads[:victim])), len(log_image(payloads[:victim + 1]))
    pos = data.draw(st.integers(start, stop - 1), label="byte")
    image[pos] ^= data.draw(st.integers(1, 255), label="xor")
    with pytest.raises(CorruptLogError, match=f"byte offset {start} "):
        scan_frames(bytes(image))


@pytest.mark.parametrize("seed", range(3))
def test_group_commit_stress_with_resets(seed):
    """Eight committers with random fsync delays (so second fsyncs and hand-overs
    happen in every order) and a checkpoint-like reset now and then: no deadlock,
    every acknowledged frame of the current generation is durable when acknowledged,
    and after each reset only later frames are in the log."""
    rng = random.Random(seed)
    sim = SimFileSystem(seed)

    class JitterFS(SlowFsyncFS):
        def open(self, path, create=True):
            file = super().open(path, create)
            inner_fsync = file.fsync

            def fsync():
                time.sleep(rng.choice((0, 0, 0.0005, 0.001, 0.002)))
                inner_fsync()
            file.fsync = fsync
            return file

    fs = JitterFS(sim, delay=0)
    log, _ = CommitLog.open(fs, LOG)
    commit_lock = threading.Lock()
    generation = [0]
    since_reset = []           # payloads appended since the last reset, in order
    errors = []

    def committer(tid):
        try:
            for i in range(60):
                payload = b"t%d-%d" % (tid, i)
                with commit_lock:
                    if rng.random() < 0.03:
                        log.reset()
                        generation[0] += 1
                        since_reset.clear()
                    lsn = log.append(payload)
                    since_reset.append(payload)
                log.wait_durable(lsn)
                assert log.durable_lsn >= lsn
        except BaseException as exc:            # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=committer, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "group commit deadlocked"
    assert not errors, errors
    log._check()
    log.close()
    assert CommitLog.open(sim, LOG)[1] == since_reset
