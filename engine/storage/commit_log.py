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
arriving meanwhile sleep, each on a lock of its own, and are covered by the
leader's next round, one fsync for the whole group (the classic leader/follower
scheme, as in InnoDB's and PostgreSQL's group commit). While a leader is busy,
`append` queues frames in memory instead of writing them (the leader writes the
queue with one call before its next fsync, as a log buffer does): an append
then never waits for file pages under writeback, which would stretch the time
the commit lock is held. With a single committer no leader is ever busy at
append time, so every frame is written inline, exactly as without contention.
"""

from __future__ import annotations

import errno
import struct
import threading
import time
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
_allocate_lock = threading.Lock
_clock = time.perf_counter


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

    # How many extra fsync rounds a group-commit leader runs for committers
    # that queued behind it before handing the leadership to one of them: a
    # leader that keeps going saves a thread wake-up between fsyncs, but its
    # own caller waits meanwhile, so the rounds are bounded.
    LEADER_ROUNDS = 4
    # Before a round, the leader waits for the committers the previous round
    # woke to queue their next frames, at most this fraction of the last fsync's
    # duration (and at most GATHER_MAX_SECONDS): without it, committers settle
    # into two alternating halves, each fsync covering only half of them.
    GATHER = 0.5
    GATHER_MAX_SECONDS = 0.002

    def __init__(self, fs: FileSystem, path: str, file: File, end: int,
                 synchronous: int) -> None:
        if synchronous not in (SYNC_OFF, SYNC_NORMAL, SYNC_FULL):
            raise ValueError(f"synchronous must be 0, 1 or 2, not {synchronous!r}")
        self.fs = fs
        self.path = path
        self.synchronous = synchronous
        self._file = file
        self._write = file.write
        self._end = end                 # file offset after the last frame appended
        self._written = end             # file offset up to which frames are written
        self._lsn_base = 0              # bytes dropped by reset(), keeps LSNs monotone
        self._durable_lsn = end         # every LSN <= this is fsynced
        # Every LSN <= this needs no wait_durable call: written inline under
        # SYNC_OFF/NORMAL (set by append only then), or durable. A committer
        # checks it first, saving a call on the usual path.
        self.settled_lsn = end
        # Group commit state, guarded by _mutex: a leader (or reset) is writing or
        # fsyncing; frames appended meanwhile wait in _buffer (file offset
        # _buffer_start) for the leader's next round; _waiters are [lsn, lock]
        # of committers sleeping until an fsync covers lsn.
        self._mutex = threading.Lock()
        self._flushing = False
        self._buffer: list[bytes] = []
        self._buffer_start = end
        self._waiters: list[list] = []
        self._gather: list | None = None   # [frames wanted in _buffer, lock to release]
        self._expect = 0                   # committers woken by the last leader round
        self._fsync_seconds = 0.0          # duration of the last leader fsync
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
        """Add one frame; return its LSN. O(len(payload)).

        Normally one write call at the end of the file, no fsync. While a
        group-commit leader is writing or fsyncing (several committers under
        SYNC_FULL), the frame is queued instead and the leader writes the queue
        with one call in its next round: the committer does not stall on pages
        under writeback, and the log stays a sequence of whole frames.

        On an inline write error the partial frame is truncated away so the next
        frame does not land behind garbage; if that fails too, the log is
        poisoned. A failed queued write poisons the log (the leader reports it).
        """
        if self._poison is not None or self._closed:
            self._raise_unusable()
        end = self._end
        frame = _pack_frame_header(FRAME_MAGIC, len(payload), _crc32(payload)) + payload
        if self._flushing or self._buffer:
            with self._mutex:
                if self._flushing or self._buffer:
                    if not self._buffer:
                        self._buffer_start = end
                    self._buffer.append(frame)
                    end += len(frame)
                    self._end = end
                    gather = self._gather
                    if gather is not None and len(self._buffer) >= gather[0]:
                        self._gather = None
                        gather[1].release()
                    return self._lsn_base + end
        try:
            self._write(end, frame)
        except OSError as exc:
            self._undo_partial_write(end, exc)
            raise
        end += len(frame)
        self._written = self._end = end
        lsn = self._lsn_base + end
        if self.synchronous != SYNC_FULL:
            self.settled_lsn = lsn
        return lsn

    def _undo_partial_write(self, end: int, exc: OSError) -> None:
        try:
            self._file.truncate(end)
        except OSError as undo_exc:
            self._set_poison(undo_exc)

    # ------------------------------------------------------------ durability
    def wait_durable(self, lsn: int) -> None:
        """Return once `lsn` is durable (SYNC_FULL), or at once otherwise (when
        its frame is written). Concurrent callers share fsyncs (group commit).
        Raises LogPoisonedError if a write or fsync failed, now or earlier."""
        if self._poison is not None:
            self._raise_unusable()
        if lsn > self._durable_lsn and (self.synchronous == SYNC_FULL
                                        or lsn > self._lsn_base + self._written):
            self._make_durable(lsn)

    def sync(self) -> None:
        """Fsync everything appended so far (checkpoint, close, SYNC_NORMAL)."""
        if self._poison is not None or self._closed:
            self._raise_unusable()
        self._make_durable(self._lsn_base + self._end)

    def _make_durable(self, lsn: int) -> None:
        """Block until an fsync covers `lsn` (leader/follower group commit).

        The first caller finding no leader becomes the leader (`_lead`); later
        ones sleep on a lock of their own, released by the leader once an fsync
        covers them (no shared lock to re-take after waking), or to hand them
        the leadership. O(waiters) per fsync round.
        """
        mutex = self._mutex
        mutex.acquire()
        if lsn > self._lsn_base + self._end:
            mutex.release()
            raise ValueError(f"LSN {lsn} is beyond the end of commit log {self.path!r}")
        while True:
            if self._poison is not None:
                mutex.release()
                self._raise_unusable()
            if self._durable_lsn >= lsn:
                mutex.release()
                return
            if not self._flushing:
                break
            waiter = _allocate_lock()
            waiter.acquire()
            self._waiters.append([lsn, waiter])
            mutex.release()
            waiter.acquire()
            if self._poison is None and self._durable_lsn >= lsn:
                return  # the common case: covered, no lock to re-take
            mutex.acquire()
        self._flushing = True
        self._lead(lsn)

    def _lead(self, lsn: int) -> None:
        """Leader rounds (entered with `_mutex` held, `_flushing` set; returns with
        it released): write the queued frames with one call, fsync, wake the
        waiters covered. Runs more rounds, at most LEADER_ROUNDS, while frames or
        waiters remain; then hands the leadership to the oldest waiter left.

        When the previous round woke committers, a round first gives them a
        moment to queue their next frames (`_gather_frames`), so one fsync
        covers them all; a single committer never waits there."""
        mutex = self._mutex
        rounds = 0
        while True:
            if self._expect and self.GATHER:
                self._gather_frames(self._expect if rounds else self._expect - 1)
            batch, start = self._buffer, self._buffer_start
            if batch:
                self._buffer = []
                target = start + sum(map(len, batch))
            else:
                target = self._written
            base = self._lsn_base
            mutex.release()
            try:
                if batch:
                    self._write(start, batch[0] if len(batch) == 1 else b"".join(batch))
                began = _clock()
                self._file.fsync()
                self._fsync_seconds = _clock() - began
            except BaseException as exc:
                self._leader_failed(exc, queued=bool(batch))
                if self._durable_lsn >= lsn and isinstance(exc, Exception):
                    return  # a round for others failed; the caller's own frame is durable
                if self._poison is exc:
                    self._raise_unusable()
                raise
            mutex.acquire()
            if batch and target > self._written:
                self._written = target
            durable = base + target
            if durable > self._durable_lsn:
                self._durable_lsn = durable
            waiters = self._waiters
            ready = [w for w in waiters if w[0] <= durable]
            if ready:
                waiters = self._waiters = [w for w in waiters if w[0] > durable]
            self._expect = len(ready)
            rounds += 1
            if self._poison is None and (durable < lsn or (self._buffer or waiters)
                                         and rounds <= self.LEADER_ROUNDS):
                mutex.release()
                for w in ready:
                    w[1].release()
                mutex.acquire()
                continue
            self._flushing = False
            if waiters:  # hand over: the oldest waiter left leads the next round
                ready.append(waiters.pop(0))
            mutex.release()
            for w in ready:
                w[1].release()
            return

    def _gather_frames(self, want: int) -> None:
        """Wait (with `_mutex` held on entry and exit, released meanwhile) until
        ``want`` frames are queued, at most GATHER times the last fsync's
        duration (and GATHER_MAX_SECONDS): the committers the last round woke
        are on their way with their next commits (PostgreSQL's commit_delay,
        applied only when committers were just seen waiting)."""
        if want <= len(self._buffer):
            return
        gather = _allocate_lock()
        gather.acquire()
        self._gather = [want, gather]
        self._mutex.release()
        gather.acquire(True, min(self._fsync_seconds * self.GATHER, self.GATHER_MAX_SECONDS))
        self._mutex.acquire()
        self._gather = None

    def _leader_failed(self, exc: BaseException, queued: bool) -> None:
        """A leader's write or fsync failed. A failed fsync, or any failure while
        writing queued frames, leaves the log's durable content unknown: poison
        it (and wake every waiter to see that). An interrupted fsync (not an
        OSError) with nothing queued only wakes the waiters, to retry."""
        with self._mutex:
            self._flushing = False
            if queued or isinstance(exc, OSError):
                self._set_poison(exc)
            waiters, self._waiters = self._waiters, []
        for w in waiters:
            w[1].release()

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
        to the header and fsync. The caller holds the commit lock (no append
        runs meanwhile). Every LSN handed out so far counts as durable afterwards."""
        if self._poison is not None or self._closed:
            self._raise_unusable()
        if self._buffer or self._flushing:
            # A leader may be writing queued frames: let it finish first, so no
            # write lands behind the truncation.
            self._make_durable(self._lsn_base + self._end)
        try:
            self._file.truncate(HEADER_SIZE)
            self._file.fsync()
        except OSError as exc:
            self._leader_failed(exc, queued=False)
            self._raise_unusable()
        with self._mutex:
            self._lsn_base += self._end - HEADER_SIZE
            self._end = self._written = self._buffer_start = HEADER_SIZE
            lsn = self._lsn_base + HEADER_SIZE
            if lsn > self._durable_lsn:
                self._durable_lsn = lsn
            waiters, self._waiters = self._waiters, []
        for w in waiters:  # all covered now
            w[1].release()

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
            if self._poison is None and (self.synchronous != SYNC_OFF or self._buffer):
                self._make_durable(self._lsn_base + self._end)
        finally:
            self._closed = True
            self._file.close()

    def _check(self) -> None:
        """Invariants: header <= written <= end; queued frames fill exactly the
        bytes between their start and the end; durable LSN <= written LSN; the
        file holds at least the frames written. O(queued frames)."""
        assert HEADER_SIZE <= self._written <= self._end, (self._written, self._end)
        if self._buffer:
            assert self._written <= self._buffer_start
            assert self._buffer_start + sum(map(len, self._buffer)) == self._end
        else:
            assert self._flushing or self._written == self._end
        assert self._durable_lsn <= self._lsn_base + self._written
        assert self._lsn_base >= 0
        if not self._closed and self._poison is None:
            assert self._file.size() >= self._written

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
