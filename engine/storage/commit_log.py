"""The commit log: one checksummed frame per commit, with group commit.

File layout (little-endian)::

    header  16 bytes  b"TSTREAMLOG\\x00\\x01" (12: name, NUL, format version 1)
                      + 4 reserved bytes (written as zero, ignored on read)
    frame   12 bytes  magic u32 = 0x544C4F47 | payload_len u32 | crc32(payload) u32
            payload_len bytes of payload

A frame is written with a single write call at the end of the log, so a crash
leaves at most one incomplete frame, at the tail. Recovery keeps the longest
prefix of valid frames and discards a torn tail; a damaged frame *followed by*
a valid one is corruption of acknowledged data and raises `CorruptLogError`.

LSNs are byte positions: the LSN of a frame is the end offset of the frame in
the log. They keep increasing across `reset()` (a reset adds the dropped
length to a base), so a waiter holding an old LSN is never confused.

Group commit (``SYNC_FULL``): committers append under the engine's commit lock,
release it, then call `wait_durable(lsn)`. The first waiter that finds no fsync
in progress becomes the leader and fsyncs everything written so far; waiters
arriving meanwhile sleep on a condition variable and are covered by the next
fsync, one fsync for the whole group. (The classic leader/follower scheme, as
in InnoDB's and PostgreSQL's group commit.)
"""

from __future__ import annotations

import errno
import struct
import threading
import zlib

from .vfs import File, FileSystem

__all__ = [
    "CommitLog",
    "CorruptLogError",
    "LogPoisonedError",
    "SYNC_OFF",
    "SYNC_NORMAL",
    "SYNC_FULL",
    "LOG_HEADER",
    "HEADER_SIZE",
    "FRAME_MAGIC",
    "FRAME_HEADER_SIZE",
    "encode_frame",
    "scan_frames",
]

SYNC_OFF, SYNC_NORMAL, SYNC_FULL = 0, 1, 2

LOG_MAGIC = b"TSTREAMLOG\x00\x01"
LOG_HEADER = LOG_MAGIC + b"\x00\x00\x00\x00"
HEADER_SIZE = len(LOG_HEADER)            # 16
FRAME_MAGIC = 0x544C4F47                 # b"GOLT" on disk
_FRAME = struct.Struct("<III")
FRAME_HEADER_SIZE = _FRAME.size          # 12
_FRAME_MAGIC_BYTES = FRAME_MAGIC.to_bytes(4, "little")

_pack_frame_header = _FRAME.pack
_unpack_frame_header = _FRAME.unpack_from
_crc32 = zlib.crc32


class CorruptLogError(Exception):
    """The log is damaged somewhere other than a torn tail, or is not a log."""


class LogPoisonedError(OSError):
    """An fsync of the log failed: its durable state is unknown, so nothing
    more may be written or acknowledged. Reopen the database."""


def encode_frame(payload: bytes) -> bytes:
    """The on-disk bytes of one frame holding `payload`. O(len(payload))."""
    return _pack_frame_header(FRAME_MAGIC, len(payload), _crc32(payload)) + payload


def _frame_at(data: bytes, pos: int):
    """The frame starting at `pos` as ``(payload, end)``, or None if the bytes
    there are not a complete valid frame. O(payload)."""
    if pos + FRAME_HEADER_SIZE > len(data):
        return None
    magic, length, crc = _unpack_frame_header(data, pos)
    start = pos + FRAME_HEADER_SIZE
    end = start + length
    if magic != FRAME_MAGIC or end > len(data):
        return None
    payload = data[start:end]
    if _crc32(payload) != crc:
        return None
    return payload, end


def scan_frames(data: bytes) -> tuple[list[bytes], int]:
    """Parse a whole log image: ``(payloads, end of last valid frame)``.

    Raises `CorruptLogError` for a bad header, or for an invalid frame that is
    followed by a valid one (found by scanning forward for the frame magic and
    checking length and crc). O(len(data)) plus O(len) per magic candidate
    after a damaged frame.

    Caveat of the format: a torn last frame whose *payload* itself contains
    the bytes of a complete valid frame is indistinguishable from corruption
    followed by a frame, and is reported as corruption (never as data loss).
    """
    if data[:len(LOG_MAGIC)] != LOG_MAGIC or len(data) < HEADER_SIZE:
        raise CorruptLogError(
            f"not a turso_stream commit log (bad header: {bytes(data[:HEADER_SIZE])!r})")
    payloads = []
    append = payloads.append
    pos = HEADER_SIZE
    size = len(data)
    while pos < size:
        frame = _frame_at(data, pos)
        if frame is None:
            break
        payload, pos = frame
        append(payload)
    if pos < size:
        probe = data.find(_FRAME_MAGIC_BYTES, pos + 1)
        while probe >= 0:
            if _frame_at(data, probe) is not None:
                raise CorruptLogError(
                    f"commit log corrupt: invalid frame at byte offset {pos} is followed "
                    f"by a valid frame at byte offset {probe} "
                    f"({len(payloads)} valid frames before it)")
            probe = data.find(_FRAME_MAGIC_BYTES, probe + 1)
    return payloads, pos


class CommitLog:
    """An append-only log of commit frames; see the module docstring.

    `append` is called by one thread at a time (the committer holding the
    engine's commit lock); `wait_durable`, `sync` may be called by any thread.
    """

    def __init__(self, fs: FileSystem, path: str, file: File, end: int,
                 synchronous: int) -> None:
        if synchronous not in (SYNC_OFF, SYNC_NORMAL, SYNC_FULL):
            raise ValueError(f"synchronous must be 0, 1 or 2, not {synchronous!r}")
        self.fs = fs
        self.path = path
        self.synchronous = synchronous
        self._file = file
        self._write = file.write
        self._end = end                 # file offset after the last frame written
        self._lsn_base = 0              # bytes dropped by reset(), keeps LSNs monotone
        self._durable_lsn = end         # every LSN <= this is fsynced
        self._syncing = False
        self._cond = threading.Condition(threading.Lock())
        self._poison: BaseException | None = None
        self._closed = False

    # ------------------------------------------------------------ open / recovery
    @classmethod
    def open(cls, fs: FileSystem, path: str,
             synchronous: int = SYNC_FULL) -> tuple["CommitLog", list[bytes]]:
        """Open or create the log at `path`; return it and the valid payloads.

        A new log is created as ``path + ".new"`` (header written, fsynced) and
        renamed into place, then the directory is fsynced, so `path` never holds
        a partial header. A torn tail is truncated away, and the surviving frames
        are fsynced before they are returned.
        O(size of the log).
        """
        if not fs.exists(path) or _is_empty(fs, path):
            _create(fs, path)
        file = fs.open(path, create=False)
        try:
            data = file.read_all()
            payloads, end = scan_frames(data)
            if end < len(data):
                file.truncate(end)
            # The frames read may exist only in the OS cache (the previous
            # process ran with SYNC_OFF or died before syncing); make them
            # durable before the caller treats them as committed.
            file.fsync()
        except BaseException:
            file.close()
            raise
        return cls(fs, path, file, end, synchronous), payloads

    # ------------------------------------------------------------ writing
    def append(self, payload: bytes) -> int:
        """Write one frame (one write call, no fsync); return its LSN.

        On a write error the partial frame is truncated away so the next frame
        does not land behind garbage; if that fails too, the log is poisoned.
        O(len(payload)).
        """
        if self._poison is not None or self._closed:
            self._raise_unusable()
        end = self._end
        frame = _pack_frame_header(FRAME_MAGIC, len(payload), _crc32(payload)) + payload
        try:
            self._write(end, frame)
        except OSError as exc:
            self._undo_partial_write(end, exc)
            raise
        end += len(frame)
        self._end = end
        return self._lsn_base + end

    def _undo_partial_write(self, end: int, exc: OSError) -> None:
        try:
            self._file.truncate(end)
        except OSError as undo_exc:
            self._set_poison(undo_exc)

    # ------------------------------------------------------------ durability
    def wait_durable(self, lsn: int) -> None:
        """Return once `lsn` is durable (SYNC_FULL); at once otherwise.

        Concurrent callers share fsyncs (group commit). Raises LogPoisonedError
        if an fsync failed, now or earlier.
        """
        if self._poison is not None:
            self._raise_unusable()
        if self.synchronous == SYNC_FULL and lsn > self._durable_lsn:
            self._make_durable(lsn)

    def sync(self) -> None:
        """Fsync everything appended so far (checkpoint, close, SYNC_NORMAL)."""
        if self._poison is not None or self._closed:
            self._raise_unusable()
        self._make_durable(self._lsn_base + self._end)

    def _make_durable(self, lsn: int) -> None:
        """Leader/follower group commit: block until an fsync covers `lsn`."""
        cond = self._cond
        with cond:
            while True:
                if self._poison is not None:
                    self._raise_unusable()
                if self._durable_lsn >= lsn:
                    return
                if not self._syncing:
                    break
                cond.wait()
            self._syncing = True
            target = self._lsn_base + self._end
        try:
            self._file.fsync()
        except OSError as exc:
            with cond:
                self._syncing = False
                self._set_poison(exc)
                cond.notify_all()
            self._raise_unusable()
        except BaseException:
            with cond:
                self._syncing = False
                cond.notify_all()
            raise
        with cond:
            self._syncing = False
            if target > self._durable_lsn:
                self._durable_lsn = target
            cond.notify_all()

    def _set_poison(self, exc: BaseException) -> None:
        if self._poison is None:
            self._poison = exc

    def _raise_unusable(self):
        if self._poison is not None:
            raise LogPoisonedError(
                errno.EIO,
                f"commit log {self.path!r} is unusable after an I/O error "
                f"({self._poison}); reopen the database") from self._poison
        raise ValueError(f"commit log {self.path!r} is closed")

    # ------------------------------------------------------------ maintenance
    def reset(self) -> None:
        """Drop every frame (after a checkpoint made them redundant): truncate
        to the header and fsync. The caller holds the commit lock. Every LSN
        handed out so far counts as durable afterwards."""
        if self._poison is not None or self._closed:
            self._raise_unusable()
        try:
            self._file.truncate(HEADER_SIZE)
            self._file.fsync()
        except OSError as exc:
            with self._cond:
                self._set_poison(exc)
                self._cond.notify_all()
            self._raise_unusable()
        with self._cond:
            self._lsn_base += self._end - HEADER_SIZE
            self._end = HEADER_SIZE
            lsn = self._lsn_base + HEADER_SIZE
            if lsn > self._durable_lsn:
                self._durable_lsn = lsn
            self._cond.notify_all()

    @property
    def size(self) -> int:
        """Bytes of frames currently in the log (excluding the file header)."""
        return self._end - HEADER_SIZE

    @property
    def lsn(self) -> int:
        """The LSN of the last frame appended (or of the empty log)."""
        return self._lsn_base + self._end

    @property
    def durable_lsn(self) -> int:
        """Every frame with an LSN <= this is known durable."""
        return self._durable_lsn

    @property
    def poisoned(self) -> bool:
        return self._poison is not None

    def close(self) -> None:
        """Fsync (unless SYNC_OFF or poisoned) and close the file. Idempotent."""
        if self._closed:
            return
        try:
            if self.synchronous != SYNC_OFF and self._poison is None:
                self._make_durable(self._lsn_base + self._end)
        finally:
            self._closed = True
            self._file.close()

    def _check(self) -> None:
        """Invariants: header <= end; durable LSN <= written LSN; the file holds
        at least the frames written. O(1)."""
        assert HEADER_SIZE <= self._end, self._end
        assert self._durable_lsn <= self._lsn_base + self._end
        assert self._lsn_base >= 0
        if not self._closed and self._poison is None:
            assert self._file.size() >= self._end

    def __repr__(self) -> str:
        return (f"CommitLog({self.path!r}, frames_bytes={self.size}, lsn={self.lsn}, "
                f"durable_lsn={self._durable_lsn}, synchronous={self.synchronous})")


def _is_empty(fs: FileSystem, path: str) -> bool:
    file = fs.open(path, create=False)
    try:
        return file.size() == 0
    finally:
        file.close()


def _create(fs: FileSystem, path: str) -> None:
    """Create an empty log atomically: temp file, fsync, rename, fsync dir."""
    tmp = path + ".new"
    fs.remove(tmp)
    file = fs.open(tmp, create=True)
    try:
        file.truncate(0)
        file.write(0, LOG_HEADER)
        file.fsync()
    finally:
        file.close()
    fs.rename(tmp, path)
    fs.fsync_dir(path)
