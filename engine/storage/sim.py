"""An in-memory `FileSystem` with seedable fault injection.

Model (deliberately simple, deliberately pessimistic):

* Every file (inode) has a *durable* image (what is on the platter) and a
  *volatile* image (what reads see: the page cache), plus the list of writes
  and truncates made since the last successful ``fsync`` (``pending``).
  ``fsync`` applies ``pending`` to the durable image.
* The namespace (path -> inode) has a volatile dict and a durable dict.
  Creations, renames and removals take effect at once in the volatile dict and
  are queued; ``fsync_dir(p)`` makes durable every queued change up to the last
  one touching ``p``'s directory (a journaling file system commits metadata in
  order).
* A crash happens at I/O operation number ``crash_at_op`` (or by `crash()`):
  that operation raises `SimulatedCrash` and every later one too. A crashing
  write may first have put a prefix of its bytes in the page cache.
* `restart()` is the machine coming back: for each surviving name, the durable
  image plus a random *prefix* of its pending writes, applied in order, the
  last one possibly *torn* (only a prefix of its bytes, or a prefix followed by
  garbage); plus a random prefix of the queued namespace changes. Locks are gone.
* ``fsync_failure_rate``: fsync raises ``OSError(EIO)`` and, like Linux, marks
  the pending writes clean: a random prefix reached the disk, the rest never
  will (reads still see them until the crash).
* ``short_write_rate``: a write stores only a prefix of its bytes, then raises
  ``OSError(ENOSPC)``.

All randomness comes from one ``random.Random(seed)`` and faults only draw from
it when their rate is non-zero, so the same seed and the same sequence of calls
give the same outcome, and a fault-free run counts the operations (`op_count`)
that a crash sweep then enumerates.

An *operation* is every call on the file system or on one of its open files,
except ``close()`` and ``FileLock.release()`` (which never fail: they run in
cleanup paths while a crash unwinds) and the inspection helpers (`files`,
`read_file`, `durable_files`, `op_count` ...).
"""

from __future__ import annotations

import errno
import os
import random
import threading

from .vfs import File, FileLock, FileSystem, LockHeldError

__all__ = ["SimulatedCrash", "SimFileSystem", "SimFile", "SimFileLock"]


class SimulatedCrash(BaseException):
    """The simulated process/machine died. A BaseException on purpose, so
    ``except Exception`` in the engine does not swallow it."""


def _apply_write(buf: bytearray, offset: int, data) -> None:
    """Write `data` into `buf` at `offset`, zero-filling any gap. O(len(data))."""
    size = len(buf)
    if offset > size:
        buf.extend(bytes(offset - size))
    buf[offset:offset + len(data)] = data


def _apply_truncate(buf: bytearray, size: int) -> None:
    """Cut or zero-extend `buf` to `size` bytes."""
    if size < len(buf):
        del buf[size:]
    else:
        buf.extend(bytes(size - len(buf)))


def _apply(buf: bytearray, op: tuple) -> None:
    """Apply one pending op: ``(offset, data)`` write or ``(None, size)`` truncate."""
    offset, arg = op
    if offset is None:
        _apply_truncate(buf, arg)
    else:
        _apply_write(buf, offset, arg)


class _Inode:
    """One file's contents: durable image, volatile image, unsynced ops.

    `dropped` records that an fsync failed and discarded pending writes, after
    which the durable image may lag the volatile one forever (as on Linux).
    """

    __slots__ = ("durable", "volatile", "pending", "dropped")

    def __init__(self, content: bytes = b"") -> None:
        self.durable = bytearray(content)
        self.volatile = bytearray(content)
        self.pending: list[tuple] = []
        self.dropped = False

    def _check(self) -> None:
        """Invariant: unless an fsync failure dropped writes, durable + pending
        (applied in order) == volatile. O(size + pending bytes)."""
        if not self.dropped:
            image = bytearray(self.durable)
            for op in self.pending:
                _apply(image, op)
            assert image == self.volatile, "durable + pending != volatile"


class SimFile(File):
    """An open handle on a simulated inode (survives removal, like POSIX)."""

    __slots__ = ("_fs", "path", "_inode", "_closed")

    def __init__(self, fs: "SimFileSystem", path: str, inode: _Inode) -> None:
        self._fs = fs
        self.path = path
        self._inode = inode
        self._closed = False

    def _live(self) -> _Inode:
        if self._closed:
            raise ValueError(f"I/O operation on closed file {self.path!r}")
        return self._inode

    def size(self) -> int:
        fs = self._fs
        with fs._mutex:
            fs._tick()
            return len(self._live().volatile)

    def read(self, offset: int, n: int) -> bytes:
        fs = self._fs
        with fs._mutex:
            fs._tick()
            return bytes(self._live().volatile[offset:offset + n])

    def read_all(self) -> bytes:
        fs = self._fs
        with fs._mutex:
            fs._tick()
            return bytes(self._live().volatile)

    def write(self, offset: int, data: bytes) -> None:
        fs = self._fs
        with fs._mutex:
            fs._write(self._live(), offset, bytes(data))

    def append(self, data: bytes) -> int:
        fs = self._fs
        with fs._mutex:
            inode = self._live()
            end = len(inode.volatile)
            fs._write(inode, end, bytes(data))
            return end + len(data)

    def truncate(self, size: int) -> None:
        fs = self._fs
        with fs._mutex:
            fs._tick()
            inode = self._live()
            _apply_truncate(inode.volatile, size)
            inode.pending.append((None, size))

    def fsync(self) -> None:
        fs = self._fs
        with fs._mutex:
            fs._tick()
            fs._fsync(self._live(), self.path)

    def close(self) -> None:
        self._closed = True

    def __repr__(self) -> str:
        return f"SimFile({self.path!r})"


class SimFileLock(FileLock):
    """A held simulated lock; released explicitly or by `restart()`."""

    def __init__(self, fs: "SimFileSystem", path: str) -> None:
        self._fs = fs
        self._path = path
        self._held = True

    @property
    def held(self) -> bool:
        return self._held and not self._fs._dead

    def release(self) -> None:
        if self._held:
            self._held = False
            with self._fs._mutex:
                self._fs._locks.discard(self._path)


class SimFileSystem(FileSystem):
    """In-memory files with a durable and a volatile image and injected faults.

    Parameters (also assignable as attributes between operations):
      seed                the seed of the one random generator;
      crash_at_op         operation number (1-based) that crashes, or None;
      fsync_failure_rate  probability that an fsync raises EIO;
      short_write_rate    probability that a write stores a prefix and raises ENOSPC;
      torn_write_rate     at restart, probability that the last surviving
                          unsynced write of a file is torn.
    Thread-safe: one mutex serializes operations.
    """

    def __init__(self, seed: int = 0, *, crash_at_op: int | None = None,
                 fsync_failure_rate: float = 0.0, short_write_rate: float = 0.0,
                 torn_write_rate: float = 0.5) -> None:
        self.seed = seed
        self.crash_at_op = crash_at_op
        self.fsync_failure_rate = fsync_failure_rate
        self.short_write_rate = short_write_rate
        self.torn_write_rate = torn_write_rate
        self._rng = random.Random(seed)
        self._mutex = threading.RLock()
        self._names: dict[str, _Inode] = {}
        self._durable_names: dict[str, _Inode] = {}
        self._ns_pending: list[tuple] = []   # ("link", path, inode) / ("unlink", path)
        self._locks: set[str] = set()
        self._op_count = 0
        self._fsync_count = 0
        self._dead = False

    # ------------------------------------------------------------ counters
    @property
    def op_count(self) -> int:
        """Operations started so far (the crashing one included)."""
        return self._op_count

    @property
    def fsync_count(self) -> int:
        """Successful file fsyncs so far."""
        return self._fsync_count

    @property
    def dead(self) -> bool:
        """Whether a crash happened (every operation now raises)."""
        return self._dead

    def crash(self) -> None:
        """Kill the simulated process now: later operations raise SimulatedCrash."""
        self._dead = True

    def _tick(self) -> None:
        """Count one operation; raise SimulatedCrash if it is (or follows) the crash."""
        if self._dead:
            raise SimulatedCrash(f"file system is dead (seed {self.seed})")
        self._op_count = n = self._op_count + 1
        if n == self.crash_at_op:
            self._dead = True
            raise SimulatedCrash(f"simulated crash at op {n} (seed {self.seed})")

    # ------------------------------------------------------------ file ops
    def _write(self, inode: _Inode, offset: int, data: bytes) -> None:
        """One write operation, with crash and short-write faults."""
        if self._dead:
            raise SimulatedCrash(f"file system is dead (seed {self.seed})")
        n = self._op_count + 1
        rng = self._rng
        if n == self.crash_at_op:
            # The process died inside write(): some prefix may be in the cache.
            cut = rng.randint(0, len(data))
            if cut:
                self._store(inode, offset, data[:cut])
            self._op_count = n
            self._dead = True
            raise SimulatedCrash(f"simulated crash in write at op {n} (seed {self.seed})")
        self._op_count = n
        rate = self.short_write_rate
        if rate and data and rng.random() < rate:
            cut = rng.randrange(len(data))
            if cut:
                self._store(inode, offset, data[:cut])
            raise OSError(errno.ENOSPC, f"simulated short write ({cut} of {len(data)} bytes)")
        self._store(inode, offset, data)

    @staticmethod
    def _store(inode: _Inode, offset: int, data: bytes) -> None:
        _apply_write(inode.volatile, offset, data)
        inode.pending.append((offset, data))

    def _fsync(self, inode: _Inode, path: str) -> None:
        """Make pending writes durable, or fail like Linux (EIO, pages marked clean)."""
        pending = inode.pending
        rate = self.fsync_failure_rate
        if rate and self._rng.random() < rate:
            reached = self._rng.randint(0, len(pending))
            for op in pending[:reached]:
                _apply(inode.durable, op)
            if reached < len(pending):
                inode.dropped = True
            pending.clear()
            raise OSError(errno.EIO, "simulated fsync failure", path)
        for op in pending:
            _apply(inode.durable, op)
        pending.clear()
        self._fsync_count += 1

    # ------------------------------------------------------------ namespace
    @staticmethod
    def _norm(path: str) -> str:
        return os.path.normpath(path)

    def open(self, path: str, create: bool = True) -> SimFile:
        path = self._norm(path)
        with self._mutex:
            self._tick()
            inode = self._names.get(path)
            if inode is None:
                if not create:
                    raise FileNotFoundError(errno.ENOENT, "No such file", path)
                inode = self._names[path] = _Inode()
                self._ns_pending.append(("link", path, inode))
            return SimFile(self, path, inode)

    def exists(self, path: str) -> bool:
        with self._mutex:
            self._tick()
            return self._norm(path) in self._names

    def remove(self, path: str) -> None:
        path = self._norm(path)
        with self._mutex:
            self._tick()
            if self._names.pop(path, None) is not None:
                self._ns_pending.append(("unlink", path))

    def rename(self, src: str, dst: str) -> None:
        src, dst = self._norm(src), self._norm(dst)
        with self._mutex:
            self._tick()
            inode = self._names.get(src)
            if inode is None:
                raise FileNotFoundError(errno.ENOENT, "No such file", src)
            if src == dst:
                return
            del self._names[src]
            self._names[dst] = inode
            # One journal entry: the rename is atomic even across a crash.
            self._ns_pending.append(("rename", src, dst, inode))

    def fsync_dir(self, path: str) -> None:
        """Commit queued namespace changes through the last one in this directory."""
        directory = os.path.dirname(self._norm(path))
        with self._mutex:
            self._tick()
            pending = self._ns_pending
            last = -1
            for i, change in enumerate(pending):
                paths = change[1:3] if change[0] == "rename" else change[1:2]
                if any(os.path.dirname(p) == directory for p in paths):
                    last = i
            if last >= 0:
                self._apply_namespace(self._durable_names, pending[:last + 1])
                del pending[:last + 1]

    @staticmethod
    def _apply_namespace(names: dict, changes) -> None:
        for change in changes:
            kind = change[0]
            if kind == "link":
                names[change[1]] = change[2]
            elif kind == "unlink":
                names.pop(change[1], None)
            else:
                names.pop(change[1], None)
                names[change[2]] = change[3]

    def lock_exclusive(self, path: str) -> SimFileLock:
        path = self._norm(path)
        with self._mutex:
            self._tick()
            if path in self._locks:
                raise LockHeldError(errno.EAGAIN, "lock already held", path)
            if path not in self._names:
                inode = self._names[path] = _Inode()
                self._ns_pending.append(("link", path, inode))
            self._locks.add(path)
            return SimFileLock(self, path)

    # ------------------------------------------------------------ restart
    def restart(self, *, lose_unsynced: bool = True, seed: int | None = None,
                **faults) -> "SimFileSystem":
        """The machine comes back: a new file system holding what survived.

        `lose_unsynced=True` models power loss (see the module docstring);
        False models only the process dying (the OS keeps the page cache, so
        every write and namespace change survives). `faults` configure the new
        file system (default: no faults); its seed is drawn from this one's
        generator unless given. This file system becomes dead. Locks vanish.
        O(total bytes).
        """
        with self._mutex:
            self._dead = True
            rng = self._rng
            if lose_unsynced:
                names = dict(self._durable_names)
                pending = self._ns_pending
                self._apply_namespace(names, pending[:rng.randint(0, len(pending))])
            else:
                names = dict(self._names)
            survivors: dict[int, bytes] = {}
            for inode in names.values():
                if id(inode) not in survivors:
                    survivors[id(inode)] = (self._surviving_image(inode) if lose_unsynced
                                            else bytes(inode.volatile))
            new_seed = rng.getrandbits(64) if seed is None else seed
        new = SimFileSystem(new_seed, **faults)
        inodes: dict[int, _Inode] = {}
        for path in sorted(names):
            key = id(names[path])
            inode = inodes.get(key)
            if inode is None:
                inode = inodes[key] = _Inode(survivors[key])
            new._names[path] = inode
            new._durable_names[path] = inode
        return new

    def _surviving_image(self, inode: _Inode) -> bytes:
        """Durable image + a random prefix of pending ops, the last maybe torn."""
        rng = self._rng
        image = bytearray(inode.durable)
        pending = inode.pending
        applied = rng.randint(0, len(pending))
        for i in range(applied):
            offset, arg = pending[i]
            if (i == applied - 1 and offset is not None and arg
                    and rng.random() < self.torn_write_rate):
                cut = rng.randrange(len(arg))
                if rng.random() < 0.5:
                    arg = arg[:cut]
                else:
                    arg = arg[:cut] + rng.randbytes(len(arg) - cut)
            _apply(image, (offset, arg))
        return bytes(image)

    # ------------------------------------------------------------ inspection
    def files(self) -> dict[str, bytes]:
        """Every file's current (volatile) contents, by path. Not an operation."""
        with self._mutex:
            return {p: bytes(i.volatile) for p, i in sorted(self._names.items())}

    def durable_files(self) -> dict[str, bytes]:
        """What is certain to survive a crash: durable names and images."""
        with self._mutex:
            return {p: bytes(i.durable) for p, i in sorted(self._durable_names.items())}

    def read_file(self, path: str) -> bytes:
        """A file's current contents (KeyError if missing). Not an operation."""
        with self._mutex:
            return bytes(self._names[self._norm(path)].volatile)

    def write_file(self, path: str, data: bytes) -> None:
        """Test setup: create/replace `path` with `data`, durable at once."""
        path = self._norm(path)
        with self._mutex:
            inode = _Inode(data)
            self._names[path] = inode
            self._durable_names[path] = inode

    def _check(self) -> None:
        """Invariants: paths are normalized, every inode's images agree with its
        pending ops, locks name normalized paths, counters are consistent."""
        with self._mutex:
            for names in (self._names, self._durable_names):
                for path, inode in names.items():
                    assert path == self._norm(path), path
                    inode._check()
            for path in self._locks:
                assert path == self._norm(path), path
            assert 0 <= self._fsync_count <= self._op_count

    def __repr__(self) -> str:
        return (f"SimFileSystem(seed={self.seed}, ops={self._op_count}, "
                f"files={len(self._names)}, dead={self._dead})")
