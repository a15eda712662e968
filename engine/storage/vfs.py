"""The file I/O interface every byte of the database goes through.

Two backends implement it: `OsFileSystem` (the real one, thin wrappers over
``os.pread``/``os.pwrite``/``os.fsync``/``fcntl.flock``) and
`engine.storage.sim.SimFileSystem` (in memory, seedable fault injection), so
crash, torn-write and fsync-failure behaviour is tested deterministically.

The interface is deliberately small: positional reads and writes, append,
truncate, fsync, and the namespace operations a log + checkpoint design needs
(exists, remove, atomic rename, directory fsync, an exclusive lock file).
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from abc import ABC, abstractmethod

__all__ = [
    "File",
    "FileSystem",
    "FileLock",
    "LockHeldError",
    "OsFile",
    "OsFileSystem",
    "OsFileLock",
]


class LockHeldError(OSError):
    """The lock file is held by another process or another `FileLock` here."""


class File(ABC):
    """An open read/write binary file.

    Offsets are absolute byte positions. Writes past the end extend the file
    (the gap reads as zero bytes). Methods raise `OSError` on I/O failure.
    """

    __slots__ = ()

    @abstractmethod
    def size(self) -> int:
        """Current size of the file in bytes."""

    @abstractmethod
    def read(self, offset: int, n: int) -> bytes:
        """Up to `n` bytes starting at `offset`; shorter (maybe empty) at EOF."""

    def read_all(self) -> bytes:
        """The whole file."""
        return self.read(0, self.size())

    @abstractmethod
    def write(self, offset: int, data: bytes) -> None:
        """Write all of `data` at `offset`, extending the file if needed."""

    def append(self, data: bytes) -> int:
        """Write `data` at the end of the file; return the new size."""
        end = self.size()
        self.write(end, data)
        return end + len(data)

    @abstractmethod
    def truncate(self, size: int) -> None:
        """Cut (or zero-extend) the file to `size` bytes."""

    @abstractmethod
    def fsync(self) -> None:
        """Make the file's contents durable; raises `OSError` on failure."""

    @abstractmethod
    def close(self) -> None:
        """Release the handle. Closing twice is harmless."""

    def __enter__(self) -> "File":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FileLock(ABC):
    """An exclusive lock on a lock file, held until `release()`."""

    @abstractmethod
    def release(self) -> None:
        """Release the lock. Releasing twice is harmless."""

    def __enter__(self) -> "FileLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class FileSystem(ABC):
    """A namespace of files: open, exists, remove, rename, fsync_dir, lock."""

    @abstractmethod
    def open(self, path: str, create: bool = True) -> File:
        """Open `path` read/write (binary); create it if missing and `create`.

        Raises `FileNotFoundError` if it is missing and `create` is false.
        """

    @abstractmethod
    def exists(self, path: str) -> bool:
        """Whether `path` names a file."""

    @abstractmethod
    def remove(self, path: str) -> None:
        """Remove `path`; no error if it does not exist."""

    @abstractmethod
    def rename(self, src: str, dst: str) -> None:
        """Atomically rename `src` to `dst`, replacing `dst` if it exists."""

    @abstractmethod
    def fsync_dir(self, path: str) -> None:
        """Make creations, renames and removals in `path`'s directory durable."""

    @abstractmethod
    def lock_exclusive(self, path: str) -> FileLock:
        """Take the exclusive lock on lock file `path` (created if missing).

        Raises `LockHeldError` if another process, or another `FileLock` of this
        process, holds it. Never blocks.
        """


# ---------------------------------------------------------------- real backend

_pread = os.pread
_pwrite = os.pwrite


class OsFile(File):
    """A file descriptor opened ``O_RDWR``; positional I/O only.

    `append` writes at the end as this handle knows it (tracked, so a commit
    append is one ``pwrite`` syscall, no ``fstat``): the database has a single
    writer per file, so no other handle extends it behind our back.
    """

    __slots__ = ("path", "_fd", "_end")

    def __init__(self, path: str, fd: int) -> None:
        self.path = path
        self._fd = fd
        self._end = os.fstat(fd).st_size

    def size(self) -> int:
        """Size from ``fstat`` (authoritative, one syscall)."""
        self._end = end = os.fstat(self._fd).st_size
        return end

    def read(self, offset: int, n: int) -> bytes:
        """``pread`` looped until `n` bytes or EOF. O(n)."""
        fd = self._fd
        chunk = _pread(fd, n, offset)
        if len(chunk) == n or not chunk:
            return chunk
        parts = [chunk]
        got = len(chunk)
        while got < n:
            chunk = _pread(fd, n - got, offset + got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)

    def write(self, offset: int, data: bytes) -> None:
        """``pwrite`` all of `data` (looping over kernel short writes). O(len)."""
        fd = self._fd
        n = len(data)
        done = _pwrite(fd, data, offset)
        if done < n:
            view = memoryview(data)
            while done < n:
                done += _pwrite(fd, view[done:], offset + done)
        end = offset + n
        if end > self._end:
            self._end = end

    def append(self, data: bytes) -> int:
        """One ``pwrite`` at the tracked end; returns the new end offset."""
        end = self._end
        self.write(end, data)
        return end + len(data)

    def truncate(self, size: int) -> None:
        os.ftruncate(self._fd, size)
        self._end = size

    def fsync(self) -> None:
        """``fsync`` (``F_FULLFSYNC`` where the platform has it: macOS)."""
        if _F_FULLFSYNC is not None:
            fcntl.fcntl(self._fd, _F_FULLFSYNC)
        else:
            os.fsync(self._fd)

    def close(self) -> None:
        fd = self._fd
        if fd >= 0:
            self._fd = -1
            os.close(fd)

    def __repr__(self) -> str:
        return f"OsFile({self.path!r}, fd={self._fd})"


_F_FULLFSYNC = getattr(fcntl, "F_FULLFSYNC", None)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


class OsFileLock(FileLock):
    """A held ``flock(LOCK_EX)`` on an open lock file descriptor."""

    def __init__(self, fs: "OsFileSystem", key: str, fd: int) -> None:
        self._fs = fs
        self._key = key
        self._fd = fd

    @property
    def held(self) -> bool:
        return self._fd >= 0

    def release(self) -> None:
        # The lock file is left in place: removing it on release races with a
        # process that has opened it and is about to lock the orphaned inode.
        fd = self._fd
        if fd < 0:
            return
        self._fd = -1
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
            self._fs._forget_lock(self._key)


class OsFileSystem(FileSystem):
    """The real file system (POSIX: ``os`` + ``fcntl``)."""

    # flock locks belong to open file descriptions, so a second flock of the
    # same file from this process through a new descriptor would also conflict,
    # but the same descriptor re-locking would not; the registry makes the rule
    # "one holder per path per process" explicit and cheap. Shared by every
    # OsFileSystem instance since they all see the same process.
    _held_locks: set = set()
    _held_locks_mutex = threading.Lock()

    def open(self, path: str, create: bool = True) -> OsFile:
        flags = os.O_RDWR | _O_CLOEXEC
        if create:
            flags |= os.O_CREAT
        fd = os.open(path, flags, 0o644)
        return OsFile(path, fd)

    def exists(self, path: str) -> bool:
        return os.path.isfile(path)

    def remove(self, path: str) -> None:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass

    def rename(self, src: str, dst: str) -> None:
        os.replace(src, dst)

    def fsync_dir(self, path: str) -> None:
        directory = os.path.dirname(os.path.abspath(path))
        fd = os.open(directory, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def lock_exclusive(self, path: str) -> OsFileLock:
        """Non-blocking ``flock(LOCK_EX | LOCK_NB)`` plus the in-process registry."""
        key = os.path.realpath(path)
        cls = type(self)
        with cls._held_locks_mutex:
            if key in cls._held_locks:
                raise LockHeldError(errno.EAGAIN,
                                    "lock already held in this process", path)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | _O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                    raise LockHeldError(errno.EAGAIN,
                                        "lock held by another process", path) from None
                raise
            cls._held_locks.add(key)
        return OsFileLock(self, key, fd)

    def _forget_lock(self, key: str) -> None:
        cls = type(self)
        with cls._held_locks_mutex:
            cls._held_locks.discard(key)
