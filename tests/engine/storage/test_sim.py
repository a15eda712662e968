"""SimFileSystem: fault injection, crash/restart outcomes, determinism."""

import errno

import pytest

from engine.storage import LockHeldError, SimFileSystem, SimulatedCrash


def scripted_run(fs, writes=12):
    """A fixed sequence of operations: synced prefix, then unsynced writes."""
    f = fs.open("/d/file")
    f.write(0, b"synced-part|")
    f.fsync()
    fs.fsync_dir("/d/file")
    for i in range(writes):
        f.append(bytes([65 + i]) * (i + 3))
    g = fs.open("/d/unsynced-name")
    g.write(0, b"payload")
    g.fsync()
    return f


def test_same_seed_same_outcome_different_seeds_differ():
    outcomes = {}
    for seed in range(40):
        runs = []
        for _ in range(2):
            fs = SimFileSystem(seed)
            scripted_run(fs)
            runs.append(fs.restart().files())
        assert runs[0] == runs[1], f"seed {seed} not deterministic"
        outcomes[seed] = repr(runs[0])
    assert len(set(outcomes.values())) > 10


def test_synced_data_always_survives_unsynced_lost_or_torn():
    seen_lengths = set()
    torn = 0
    for seed in range(300):
        fs = SimFileSystem(seed)
        scripted_run(fs)
        full = fs.read_file("/d/file")
        after = fs.restart().files()
        data = after["/d/file"]
        assert data.startswith(b"synced-part|"), f"seed {seed}: synced data lost"
        assert len(data) <= len(full), f"seed {seed}"
        seen_lengths.add(len(data))
        if data != full[:len(data)]:
            torn += 1    # garbage suffix in the last surviving write
    assert 12 in seen_lengths                    # everything unsynced lost
    assert len(full) in seen_lengths             # everything survived
    assert len(seen_lengths) > 20                # including torn prefixes
    assert torn > 10


def test_torn_only_in_last_applied_write():
    """Every surviving image is: durable + complete writes + one maybe-torn write."""
    for seed in range(200):
        fs = SimFileSystem(seed)
        f = fs.open("/f")
        writes = [bytes([48 + i]) * 10 for i in range(8)]
        for w in writes:
            f.append(w)
        data = fs.restart().files().get("/f", b"")
        full = b"".join(writes)
        intact = max(0, (len(data) - 1) // 10) * 10     # all blocks but the last
        assert data[:intact] == full[:intact], f"seed {seed}: {data!r}"


def test_namespace_changes_need_fsync_dir():
    survived = set()
    for seed in range(100):
        fs = SimFileSystem(seed)
        f = fs.open("/d/a")
        f.write(0, b"x")
        f.fsync()
        fs.fsync_dir("/d/a")
        g = fs.open("/d/b")       # created, contents synced, directory not
        g.write(0, b"y")
        g.fsync()
        after = fs.restart().files()
        assert after["/d/a"] == b"x", f"seed {seed}"
        survived.add("/d/b" in after)
        if "/d/b" in after:
            assert after["/d/b"] == b"y", f"seed {seed}"
    assert survived == {True, False}


def test_rename_is_atomic_across_crash():
    for seed in range(100):
        fs = SimFileSystem(seed)
        old = fs.open("/d/db")
        old.write(0, b"old")
        old.fsync()
        fs.fsync_dir("/d/db")
        new = fs.open("/d/db.tmp")
        new.write(0, b"new")
        new.fsync()
        fs.rename("/d/db.tmp", "/d/db")
        after = fs.restart().files()
        assert after.get("/d/db") in (b"old", b"new"), f"seed {seed}: {after}"
        # with fsync_dir the rename is certain
        fs = SimFileSystem(seed)
        new = fs.open("/d/db.tmp")
        new.write(0, b"new")
        new.fsync()
        fs.rename("/d/db.tmp", "/d/db")
        fs.fsync_dir("/d/db")
        assert fs.restart().files() == {"/d/db": b"new"}, f"seed {seed}"


def test_crash_at_op_kills_everything_until_restart():
    fs = SimFileSystem(3)
    scripted_run(fs)
    total = fs.op_count
    assert total == 1 + 1 + 1 + 1 + 12 + 1 + 1 + 1
    for n in range(1, total + 1):
        fs = SimFileSystem(3, crash_at_op=n)
        with pytest.raises(SimulatedCrash):
            scripted_run(fs)
        assert fs.op_count == n and fs.dead
        with pytest.raises(SimulatedCrash):
            fs.exists("/d/file")
        assert not isinstance(SimulatedCrash(), Exception)
        fresh = fs.restart()
        assert not fresh.dead
        fresh.open("/d/file").read_all()          # usable again
        fresh._check()


def test_process_crash_keeps_page_cache():
    fs = SimFileSystem(5)
    f = scripted_run(fs)
    before = fs.files()
    fs.crash()
    with pytest.raises(SimulatedCrash):
        f.read_all()
    assert fs.restart(lose_unsynced=False).files() == before


def test_restart_releases_locks_and_configures_faults():
    fs = SimFileSystem(1)
    fs.lock_exclusive("/d/db-lock")
    with pytest.raises(LockHeldError):
        fs.lock_exclusive("/d/db-lock")
    fresh = fs.restart(crash_at_op=2)
    fresh.lock_exclusive("/d/db-lock")           # op 1: the old holder died
    with pytest.raises(SimulatedCrash):
        fresh.exists("/d/db-lock")               # op 2


def test_fsync_failure_raises_eio_and_may_drop_data():
    dropped = 0
    for seed in range(60):
        fs = SimFileSystem(seed, fsync_failure_rate=1.0)
        f = fs.open("/f")
        f.write(0, b"abcdef")
        with pytest.raises(OSError) as info:
            f.fsync()
        assert info.value.errno == errno.EIO
        assert f.read_all() == b"abcdef"        # still in the page cache
        fs.fsync_failure_rate = 0.0
        f.write(6, b"ghi")
        f.fsync()                               # succeeds, but cannot resurrect pages
        survivor = fs.restart().files().get("/f")
        if survivor is not None:
            assert survivor.endswith(b"ghi") and len(survivor) == 9
            dropped += survivor[:6] != b"abcdef"
    assert dropped > 0


def test_short_write_raises_enospc_after_prefix():
    prefixes = set()
    for seed in range(40):
        fs = SimFileSystem(seed, short_write_rate=1.0)
        f = fs.open("/f")
        with pytest.raises(OSError) as info:
            f.write(0, b"0123456789")
        assert info.value.errno == errno.ENOSPC
        data = f.read_all()
        assert len(data) < 10 and b"0123456789".startswith(data)
        prefixes.add(data)
        fs._check()
    assert len(prefixes) > 3


def test_faults_off_draw_no_randomness():
    """A run with zero fault rates makes the same restart choices as one that
    never configured faults: faults only consume randomness when enabled."""
    a = SimFileSystem(11)
    b = SimFileSystem(11, fsync_failure_rate=0.0, short_write_rate=0.0)
    scripted_run(a)
    scripted_run(b)
    assert a.restart().files() == b.restart().files()


def test_inspection_helpers_do_not_count_ops():
    fs = SimFileSystem(0)
    fs.write_file("/x", b"seed data")
    assert fs.op_count == 0
    assert fs.files() == {"/x": b"seed data"}
    assert fs.durable_files() == {"/x": b"seed data"}
    assert fs.read_file("/x") == b"seed data"
    assert fs.op_count == 0
    with fs.open("/x") as f:
        f.append(b"!")
    assert fs.op_count == 2 and fs.durable_files() == {"/x": b"seed data"}
    fs._check()
