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
release it, then call `wait_durable(lsn)`. A waiter whose frame no fsync covers
becomes the leader: it fsyncs everything written so far. Waiters arriving
meanwhile sleep, each on a lock of its own, and are woken when an fsync covers
them (the leader/follower scheme of InnoDB's and PostgreSQL's group commit).
While a leader is busy, `append` queues frames in memory instead of writing
them (a log buffer): a write syscall would hand Python's GIL to another thread
in the middle of the commit, and take a thread wake-up to get it back.

Frames queued while one fsync runs are written and fsynced by a second leader as
soon as half of the committers have queued one: that fsync waits in the kernel
behind the running one and starts when it ends (ext4 runs journal commits back to
back), with no Python thread hand-off in between. So the committers alternate
between two halves, one being fsynced while the other commits. Leaders write their batches in LSN order, so a finished fsync
makes durable every frame below its target. With a single committer nothing is
queued: every frame is written inline and fsynced by its own committer.
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
_NO_LIMIT = 1 << 63                      # above every LSN
_allocate_lock = threading.Lock
_get_ident = threading.get_ident


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

    # fsync rounds over which the committers are counted to size `_group`: the
    # estimate follows a changing number of writer threads within this many.
    GROUP_WINDOW = 32

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
        # Group commit state, guarded by _mutex: _inflight leaders are writing
        # or fsyncing; every LSN <= _covered is durable or covered by a running
        # fsync; frames appended while a leader runs wait in _buffer (file offset
        # _buffer_start) for the next round; _waiters are [lsn, lock] of
        # committers sleeping until an fsync covers lsn, or until they are handed
        # the leadership. _write_order makes leaders write their batches in LSN
        # order, so a finished fsync covers every frame below its target.
        self._mutex = threading.Lock()
        self._write_order = threading.Lock()
        self._inflight = 0
        self._covered = end
        self._buffer: list[bytes] = []
        self._buffer_start = end
        self._waiters: list[list] = []
        # The group a second fsync waits for (see _make_durable): half the
        # committers seen waiting during the last GROUP_WINDOW fsync rounds.
        self._group = 1
        self._committers: set[int] = set()
        self._rounds = 0
        self._poison: BaseException | None = None
        self._durable_limit = _NO_LIMIT     # see _set_poison
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
        SYNC_FULL), the frame is queued instead and the next leader writes the
        queue with one call (see the module docstring).

        On an inline write error the partial frame is truncated away so the next
        frame does not land behind garbage; if that fails too, the log is
        poisoned. A failed queued write poisons the log (the leader reports it).
        """
        if self._poison is not None or self._closed:
            self._raise_unusable()
        end = self._end
        frame = _pack_frame_header(FRAME_MAGIC, len(payload), _crc32(payload)) + payload
        if self._inflight or self._buffer:
            with self._mutex:
                if self._inflight or self._buffer:
                    if not self._buffer:
                        self._buffer_start = end
                    self._buffer.append(frame)
                    end += len(frame)
                    self._end = end
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
            self._set_poison(undo_exc, self._lsn_base + end)

    # ------------------------------------------------------------ durability
    def wait_durable(self, lsn: int) -> None:
        """Return once `lsn` is durable (SYNC_FULL), or at once otherwise (when
        its frame is written). Concurrent callers share fsyncs (group commit).
        Raises LogPoisonedError if a write or fsync failed before `lsn` became
        durable, now or earlier."""
        if lsn <= self._durable_lsn:
            return
        if self._poison is not None:
            self._raise_unusable()
        if self.synchronous == SYNC_FULL or lsn > self._lsn_base + self._written:
            self._make_durable(lsn)

    def sync(self) -> None:
        """Fsync everything appended so far (checkpoint, close, SYNC_NORMAL)."""
        if self._poison is not None or self._closed:
            self._raise_unusable()
        self._make_durable(self._lsn_base + self._end)

    def _make_durable(self, lsn: int) -> None:
        """Block until an fsync covers `lsn` (leader/follower group commit).

        A caller whose frame no running fsync covers becomes a leader (`_lead`)
        when no fsync is in flight, or when one is and half of the committers
        (`_group`) have queued frames: its fsync then waits in the kernel behind
        the running one and starts the moment that one ends, with no thread
        hand-off in between. The committers thus settle into two halves, one
        fsynced while the other commits (measured: a group of whoever the last
        fsync woke drifts to smaller groups, more fsyncs, fewer commits/s).
        Otherwise the caller sleeps on a lock of its own, released by a leader
        once an fsync covers it (no shared lock to re-take after waking), or to
        hand it the leadership when the running fsync ends first. O(waiters)
        per fsync round.
        """
        mutex = self._mutex
        mutex.acquire()
        self._committers.add(_get_ident())
        if lsn > self._lsn_base + self._end:
            mutex.release()
            raise ValueError(f"LSN {lsn} is beyond the end of commit log {self.path!r}")
        while True:
            if self._durable_lsn >= lsn:
                mutex.release()
                return
            if self._poison is not None:
                mutex.release()
                self._raise_unusable()
            if lsn > self._covered and (not self._inflight or self._inflight == 1
                                        and len(self._buffer) >= self._group):
                break
            waiter = _allocate_lock()
            waiter.acquire()
            self._waiters.append([lsn, waiter])
            mutex.release()
            waiter.acquire()
            if self._durable_lsn >= lsn:
                return  # the common case: covered, no lock to re-take
            mutex.acquire()
        self._inflight += 1
        self._lead(lsn)

    def _lead(self, lsn: int) -> None:
        """A leader's round (entered with `_mutex` held and counted in
        `_inflight`; returns with it released): write the queued frames with one
        call, fsync, wake the waiters covered. If frames or waiters no fsync
        covers remain and no other fsync is in flight, the oldest such waiter
        leads the next round: this leader's caller returns at once (measured:
        a leader running extra rounds itself gave fewer commits per second)."""
        mutex = self._mutex
        while True:
            try:
                target = self._take_batch()
                self._file.fsync()
            except BaseException as exc:
                self._leader_failed(exc)
                if self._durable_lsn >= lsn and isinstance(exc, Exception):
                    return  # a round for others failed; the caller's own frame is durable
                if self._poison is not None:
                    self._raise_unusable()
                raise
            mutex.acquire()
            self._inflight -= 1
            # After a failure, frames past _durable_limit are of unknown state.
            target = min(target, self._durable_limit)
            if target > self._durable_lsn:
                self._durable_lsn = target
            durable = self._durable_lsn
            waiters = self._waiters
            ready = [w for w in waiters if w[0] <= durable]
            if ready:
                waiters = self._waiters = [w for w in waiters if w[0] > durable]
            if self._poison is not None:
                ready.extend(waiters)  # every waiter left wakes to see the failure
                waiters.clear()
                mutex.release()
                for w in ready:
                    w[1].release()
                if durable < lsn:
                    self._raise_unusable()
                return
            covered = self._covered
            # Work left uncovered is this leader's only if no other fsync is in
            # flight: that one's leader takes it over when it ends.
            uncovered = not self._inflight and (
                self._buffer or any(w[0] > covered for w in waiters))
            if durable < lsn:  # not expected: every frame up to lsn was in this batch
                self._inflight += 1
                mutex.release()
                for w in ready:
                    w[1].release()
                mutex.acquire()
                continue
            self._rounds += 1
            if self._rounds == self.GROUP_WINDOW:
                self._group = max(1, len(self._committers) >> 1)
                self._committers = set()
                self._rounds = 0
            if uncovered:  # hand over: the oldest waiter no fsync covers leads next
                for i, w in enumerate(waiters):
                    if w[0] > covered:
                        ready.append(waiters.pop(i))
                        break
            mutex.release()
            for w in ready:
                w[1].release()
            return

    def _take_batch(self) -> int:
        """A leader's write step (entered with `_mutex` held, returns with it
        released): claim the queued frames and write them with one call, in LSN
        order with other leaders (`_write_order`). Returns the LSN the following
        fsync makes durable. A failed write poisons the log: those frames were
        acknowledged to `append` and cannot be written any more."""
        mutex = self._mutex
        order = self._write_order
        if not order.acquire(False):  # another leader is writing: queue behind it
            mutex.release()
            order.acquire()
            mutex.acquire()
        try:
            batch, start = self._buffer, self._buffer_start
            base = self._lsn_base
            if batch:
                self._buffer = []
                written = start + sum(map(len, batch))
            else:
                written = self._written
            target = base + written
            if target > self._covered:
                self._covered = target
            mutex.release()
            if batch:
                try:
                    self._write(start, batch[0] if len(batch) == 1 else b"".join(batch))
                except BaseException as exc:
                    self._set_poison(exc, base + start)  # (so _fail leaves the limit)
                    raise
                self._written = written
        finally:
            order.release()
        return target

    def _leader_failed(self, exc: BaseException) -> None:
        """A leader's write or fsync failed: it is no longer in flight; see `_fail`."""
        with self._mutex:
            self._inflight -= 1
        self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        """A write, fsync or truncation failed. A failed fsync leaves the durable
        state of every frame not yet durable unknown: poison the log (a failed
        write of queued frames has poisoned it already). Every waiter wakes to
        see that; after an interrupted fsync (not an OSError) they find their
        frames uncovered and retry."""
        with self._mutex:
            if isinstance(exc, OSError) and self._poison is not exc:
                self._set_poison(exc, self._durable_lsn)
            elif self._poison is None:
                self._covered = self._durable_lsn
            waiters, self._waiters = self._waiters, []
        for w in waiters:
            w[1].release()

    def _set_poison(self, exc: BaseException, durable_limit: int) -> None:
        """Refuse all further work: `exc` left the frames with LSNs above
        `durable_limit` in an unknown state (an fsync in flight may still make
        the ones below durable)."""
        if self._poison is None:
            self._poison = exc
        if durable_limit < self._durable_limit:
            self._durable_limit = durable_limit

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
        if self._buffer or self._inflight:
            # Leaders may be writing queued frames: let them finish first, so no
            # write lands behind the truncation.
            self._make_durable(self._lsn_base + self._end)
            self._wait_idle()
        try:
            self._file.truncate(HEADER_SIZE)
            self._file.fsync()
        except OSError as exc:
            self._fail(exc)
            self._raise_unusable()
        with self._mutex:
            self._lsn_base += self._end - HEADER_SIZE
            self._end = self._written = self._buffer_start = HEADER_SIZE
            lsn = self._lsn_base + HEADER_SIZE
            if lsn > self._durable_lsn:
                self._durable_lsn = lsn
            if lsn > self._covered:
                self._covered = lsn
            waiters, self._waiters = self._waiters, []
        for w in waiters:  # all covered now
            w[1].release()

    def _wait_idle(self) -> None:
        """Wait until no leader is in flight: one whose fsync a later one made
        redundant may still be running. Only reset and close need this, so a
        short sleep-poll is simpler than waking them from every leader."""
        while self._inflight:
            time.sleep(0.0001)

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
            self._wait_idle()
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
            assert self._inflight or self._written == self._end
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
