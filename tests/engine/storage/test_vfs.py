"""Behavioural tests shared by both FileSystem backends (real and simulated)."""

import os
import subprocess
import sys
import textwrap
import threading

import pytest

import engine
from engine.storage import LockHeldError, OsFileSystem, SimFileSystem
from engine.storage.vfs import File, FileSystem


@pytest.fixture(params=["os", "sim"])
def fs_root(request, tmp_path):
    """(file system, directory prefix) for each backend."""
    if request.param == "os":
        return OsFileSystem(), str(tmp_path)
    return SimFileSystem(seed=7), "/db"


def check(fs):
    if isinstance(fs, SimFileSystem):
        fs._check()


def test_abstract_bases_refuse_instantiation():
    with pytest.raises(TypeError):
        File()
    with pytest.raises(TypeError):
        FileSystem()


def test_write_read_extend_and_short_read(fs_root):
    fs, root = fs_root
    path = f"{root}/a"
    assert not fs.exists(path)
    with fs.open(path) as f:
        assert fs.exists(path)
        assert f.size() == 0
        assert f.read(0, 10) == b""
        f.write(0, b"hello")
        f.write(3, b"LOWORLD")          # overlaps and extends
        assert f.read_all() == b"helLOWORLD"
        assert f.read(8, 100) == b"LD"  # short read at EOF
        assert f.read(50, 4) == b""
        f.write(12, b"!")               # leaves a zero-filled gap
        assert f.read_all() == b"helLOWORLD\x00\x00!"
        assert f.size() == 13
    check(fs)


def test_append_returns_end_offset(fs_root):
    fs, root = fs_root
    with fs.open(f"{root}/log") as f:
        assert f.append(b"abc") == 3
        assert f.append(b"") == 3
        assert f.append(b"defg") == 7
        assert f.read_all() == b"abcdefg"
        f.truncate(2)
        assert f.append(b"Z") == 3
        assert f.read_all() == b"abZ"
    check(fs)


def test_truncate_shrinks_and_extends(fs_root):
    fs, root = fs_root
    with fs.open(f"{root}/t") as f:
        f.write(0, b"0123456789")
        f.truncate(4)
        assert f.read_all() == b"0123"
        f.truncate(6)
        assert f.read_all() == b"0123\x00\x00"
        f.fsync()
    check(fs)


def test_reopen_sees_data_and_open_without_create(fs_root):
    fs, root = fs_root
    with pytest.raises(FileNotFoundError):
        fs.open(f"{root}/missing", create=False)
    assert not fs.exists(f"{root}/missing")
    with fs.open(f"{root}/x") as f:
        f.write(0, b"data")
    with fs.open(f"{root}/x", create=False) as f:
        assert f.read_all() == b"data"


def test_rename_replaces_atomically_and_remove(fs_root):
    fs, root = fs_root
    with fs.open(f"{root}/new") as f:
        f.write(0, b"new contents")
        f.fsync()
    with fs.open(f"{root}/old") as f:
        f.write(0, b"old")
    fs.rename(f"{root}/new", f"{root}/old")
    fs.fsync_dir(f"{root}/old")
    assert not fs.exists(f"{root}/new")
    with fs.open(f"{root}/old", create=False) as f:
        assert f.read_all() == b"new contents"
    with pytest.raises(FileNotFoundError):
        fs.rename(f"{root}/new", f"{root}/other")
    fs.remove(f"{root}/old")
    assert not fs.exists(f"{root}/old")
    fs.remove(f"{root}/old")            # missing: no error
    check(fs)


def test_open_handle_survives_remove(fs_root):
    fs, root = fs_root
    f = fs.open(f"{root}/gone")
    f.write(0, b"still here")
    fs.remove(f"{root}/gone")
    assert f.read_all() == b"still here"
    f.close()
    f.close()                           # idempotent


def test_lock_conflicts_in_process(fs_root):
    fs, root = fs_root
    path = f"{root}/db-lock"
    lock = fs.lock_exclusive(path)
    with pytest.raises(LockHeldError) as info:
        fs.lock_exclusive(path)
    assert isinstance(info.value, OSError)
    other = fs.lock_exclusive(f"{root}/other-lock")   # different file: fine
    lock.release()
    lock.release()                                     # idempotent
    again = fs.lock_exclusive(path)
    again.release()
    other.release()
    check(fs)


def test_lock_conflict_across_threads(fs_root):
    fs, root = fs_root
    path = f"{root}/db-lock"
    outcomes = []

    def try_lock():
        try:
            outcomes.append(fs.lock_exclusive(path))
        except LockHeldError:
            outcomes.append(None)

    threads = [threading.Thread(target=try_lock) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    held = [lock for lock in outcomes if lock is not None]
    assert len(held) == 1 and len(outcomes) == 6
    held[0].release()


def test_os_lock_registry_shared_between_instances(tmp_path):
    path = str(tmp_path / "db-lock")
    lock = OsFileSystem().lock_exclusive(path)
    with pytest.raises(LockHeldError):
        OsFileSystem().lock_exclusive(path)
    lock.release()
    OsFileSystem().lock_exclusive(path).release()


_LOCK_SCRIPT = textwrap.dedent("""
    import sys, time
    from engine.storage import OsFileSystem, LockHeldError
    path, mode = sys.argv[1], sys.argv[2]
    fs = OsFileSystem()
    try:
        lock = fs.lock_exclusive(path)
    except LockHeldError:
        print("HELD", flush=True)
        sys.exit(3)
    print("LOCKED", flush=True)
    if mode == "hold":
        sys.stdin.readline()      # hold until the parent says go
    lock.release()
""")


def _python_env():
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(engine.__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_os_lock_conflict_with_another_process(tmp_path):
    path = str(tmp_path / "db-lock")
    fs = OsFileSystem()
    lock = fs.lock_exclusive(path)
    try:
        child = subprocess.run([sys.executable, "-c", _LOCK_SCRIPT, path, "try"],
                               env=_python_env(), capture_output=True, text=True,
                               timeout=60)
        assert child.returncode == 3, child.stderr
        assert child.stdout.strip() == "HELD"
    finally:
        lock.release()
    child = subprocess.run([sys.executable, "-c", _LOCK_SCRIPT, path, "try"],
                           env=_python_env(), capture_output=True, text=True, timeout=60)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "LOCKED"


def test_os_lock_held_by_another_process_blocks_us(tmp_path):
    path = str(tmp_path / "db-lock")
    child = subprocess.Popen([sys.executable, "-c", _LOCK_SCRIPT, path, "hold"],
                             env=_python_env(), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "LOCKED"
        with pytest.raises(LockHeldError):
            OsFileSystem().lock_exclusive(path)
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.wait(timeout=60) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    OsFileSystem().lock_exclusive(path).release()   # free once the holder is gone


def test_os_file_fsync_dir_and_paths(tmp_path):
    fs = OsFileSystem()
    path = str(tmp_path / "f")
    with fs.open(path) as f:
        f.write(0, b"x" * 100_000)     # large write goes through whole
        f.fsync()
        assert f.read(99_990, 100) == b"x" * 10
    fs.fsync_dir(path)
    assert os.path.getsize(path) == 100_000
    assert fs.exists(path) and not fs.exists(str(tmp_path))   # a directory is not a file
