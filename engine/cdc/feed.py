"""The deferred feed: a CDC table whose newest rows are built when first read.

Capture used to build its rows inside the commit: a ``turso_cdc`` row per changed
row, its ``before``/``after``/``updates`` records encoded in Python, plus the commit
row, all installed with the data. That work is most of what capture costs (an
autocommit UPDATE in mode ``full``: 1.50x the instructions of the same commit
without capture), while the rows are read later, in batches, by a consumer that
polls (``turso_stream.cdc.changes``), by a checkpoint, or never before they are
trimmed.

So a capturing commit that nobody watches in-commit (no view, subscription or
signal reads the CDC table: ``Database.watches_table``) only queues its changes on
the table's ``Feed``: the ``(key, before, after)`` lists its install already
produced for the ChangeSet, with its commit timestamp and time, first change_id
and capture mode, as flat tuples (``segments``). Its log frame carries a marker
``(CDC table, first change_id, mode)`` instead of the rows; recovery queues the
same segments from the frame's writes and the state before them
(``Database._replay``, ``capture.replay_capture``). Change ids are assigned at
commit (the feed's high-water mark, ``Feed.last_id``), so the feed's order and ids
are exactly those of eager capture.

The rows are built the first time anything reads the table. ``FeedVersions`` is a
``TableVersions`` whose ``rows``, ``begins``, ``history`` and ``_top`` are
properties that first *settle* the queue (``Feed.settle``): under the database's
state lock, a chunk at a time, each commit's rows are encoded and installed at its
timestamp, hidden (``begins``) from live snapshots older than it, which the
garbage collector then forgets as for any commit. Every read path of the engine
(scans, lookups, checkpoint images, ``max_key``, write-write validation) goes
through those attributes, so no reader can see the table without its rows.

A commit that must see the CDC table's rows in-commit stays eager: DDL, a
transaction writing a CDC table itself (trimming), the first capture after open
(it reads ``sqlite_sequence``), a CDC table with indexes, or an observer.
"""

from __future__ import annotations

from itertools import chain
from threading import get_ident

from engine.cdc.config import COMMIT, DELETE, INSERT, MODES, SKIP_TABLES, UPDATE, CaptureConfig
from engine.cdc.functions import pk_id
from engine.cdc.record import encode_record, update_records
from engine.mvcc.versions import TableVersions

# The log frame's pseudo-table holding a deferred capture's marker
# ``[(cdc table name, (first change_id, mode))]`` (engine.storage.commit_record).
CAPTURE_RECORD = "\x00cdc"

_CONFIGS = {mode: CaptureConfig(mode) for mode in MODES if mode != "off"}
SETTLE_CHUNK = 1024  # segments settled per hold of the state lock
_ROWS = TableVersions.rows
_BEGINS = TableVersions.begins
_HISTORY = TableVersions.history
_TOP = TableVersions._top
_FEED = TableVersions._feed


def change_rows(w: dict, change_id: int, change_time: int, ts: int, name: str, pk,
                changes, cfg) -> int:
    """Add to ``w`` the CDC rows of one table's ``(key, before, after)`` changes
    (``before`` None: an insert, ``after`` None: a delete, both None: skipped)
    from ``change_id`` on; returns the next free change_id. ``pk``: a WITHOUT
    ROWID table's primary-key columns (its ``id`` is the key's value), else None.
    O(columns) record encoding per change, each value encoded once."""
    want_before, want_after, want_updates = cfg.want_before, cfg.want_after, cfg.want_updates
    for key, before, after in changes:
        b = a = u = None
        if before is None:
            if after is None:
                continue
            kind = INSERT
            if want_after:
                a = encode_record(after)
        elif after is None:
            kind = DELETE
            if want_before:
                b = encode_record(before)
        else:
            kind = UPDATE
            if want_after or want_updates:
                b, a, u = update_records(before, after, want_before, want_after, want_updates)
            elif want_before:
                b = encode_record(before)
        rid = key if pk is None else pk_id(after if after is not None else before, pk)
        w[change_id] = (change_id, change_time, ts, kind, name, rid, b, a, u)
        change_id += 1
    return change_id


def commit_row(change_id: int, change_time: int, ts: int) -> tuple:
    """The row closing a transaction's changes (change_type 2)."""
    return (change_id, change_time, ts, COMMIT, None, None, None, None, None)


class _GcTarget:
    """What ``Database._collect_garbage`` needs of a table: its versions, no indexes."""

    __slots__ = ("versions", "indexes")

    def __init__(self, versions):
        self.versions = versions
        self.indexes = ()


class Feed:
    """The pending segments of one CDC table, and its change_id high-water mark
    (see module docstring).

    ``pending``: the queued commits' segments (``segments``) in commit order, one
    per table a commit captured. Every segment's change_ids lie above every key
    of ``rows`` and below the next segment's.

    ``last_id``: the largest change_id capture issued into the table, None until
    the first capture after open (which reads ``sqlite_sequence``). The feed
    lives as long as its TableVersions, so a DROP + CREATE starts a new mark.

    ``defer`` / ``log_entry`` / ``record`` carry one deferred capture through its
    commit. Commits run them one at a time (the write lock), so the commit in
    flight keeps its first change_id, time and mode on the feed itself: no
    per-commit object.
    """

    __slots__ = ("db", "versions", "pending", "last_id", "gc_target", "settler",
                 "_table", "_first", "_time", "_cfg")

    def __init__(self, db, versions):
        self.db = db
        self.versions = versions
        self.pending: list = []
        self.last_id = None
        self.gc_target = _GcTarget(versions)
        self.settler = None  # the thread installing pending rows, while it does
        self._table = self._first = self._time = self._cfg = None

    def defer(self, table, cfg, now: float) -> None:
        """Start a deferred capture (write lock held, before the frame is encoded):
        its first change_id follows the mark and any row installed above it
        (rows ``guard_sequence``'s writers put there). O(1)."""
        top = self.raw_top()
        last = self.last_id
        self._first = (top if top is not None and top > last else last) + 1
        self._table = table  # (its name now: a RENAME keeps the versions and feed)
        self._time = int(now)
        self._cfg = cfg

    def log_entry(self) -> tuple:
        """The frame's marker of the capture in flight (``CAPTURE_RECORD``), last in
        the frame's table list; recovery queues the same segments from it."""
        return CAPTURE_RECORD, [(self._table.name, (self._first, self._cfg.mode))]

    def record(self, out: dict, tables: dict, ts: int) -> None:
        """Queue the capture in flight: ``out`` is the commit's ChangeSet
        ``{table key: [(key, before, after)]}`` in write-set order. Advances the
        mark past it. State lock held, before the in-commit hooks. An observer of
        the CDC table that arrived after ``defer`` (a subscription, a signal
        receiver) gets the rows now, in ``out``, as from an eager capture.
        O(rows written), in C but for a few statements per table written."""
        segs, n = segments(ts, self._time, self._first, self._cfg.mode,
                           [(tables[key], changes) for key, changes in out.items()
                            if changes and key not in SKIP_TABLES])
        if not n:
            return
        db = self.db
        cdc = self._table
        if db.watches_table(cdc.key):
            rows = {}
            for seg in segs:
                segment_rows(rows, seg)
            out[cdc.key] = db._install(cdc, rows, ts, db._active_count > 1)
        else:
            self.pending += segs
        self.last_id = self._first + n

    def raw_top(self):
        """The largest key installed in the table's versions (pending segments not
        counted, nothing settled). O(1)."""
        versions = self.versions
        top = _TOP.__get__(versions)
        if top is None:
            rows = _ROWS.__get__(versions)
            if rows:
                top = rows.keys()[-1]
                _TOP.__set__(versions, top)  # (the cache ``max_key`` keeps)
        return top

    def settle(self) -> None:
        """Build and install every pending segment's rows, ``SETTLE_CHUNK`` segments
        per hold of the state lock, so a long backlog does not stall commits for
        all of it (a chunk takes milliseconds). Re-entrant: a commit that reads the
        table settles inside its own section.

        Segments leave ``pending`` only once installed: a reader that finds
        ``pending`` empty (the properties check it without the lock) can only see
        a table holding every row. O(r) record encodings for the r pending changes.
        """
        lock = self.db._state_lock
        pending = self.pending
        while pending:
            with lock:
                segs = pending[:SETTLE_CHUNK]
                if not segs:
                    return
                done = 0
                self.settler = get_ident()  # (its own reads of the table: no re-entry)
                try:
                    done = self._install(segs)
                finally:
                    self.settler = None
                    del pending[:done]  # (after a failure the rest stays pending)

    def _install(self, segs: list) -> int:
        """Install ``segs``' rows (state lock held); returns how many segments were
        installed (all, unless it raises). Segments no live snapshot predates go in
        as one ascending block; later ones (``ts`` above the oldest live snapshot)
        row by row with their begin timestamps, queued for garbage collection."""
        db, versions = self.db, self.versions
        active = db._active
        horizon = min(active) if active else None
        block = {}
        last = 0
        visible = len(segs)
        for i, seg in enumerate(segs):
            if horizon is not None and seg[0] > horizon:
                visible = i
                break
            segment_rows(block, seg)
            last = seg[0]
        if block:
            TableVersions.install_latest(versions, block, last)
        gcq = db._gc_queue
        target = self.gc_target
        for seg in segs[visible:]:
            ts = seg[0]
            rows = {}
            segment_rows(rows, seg)
            for key, row in rows.items():
                TableVersions.install(versions, key, row, ts, True)
                gcq.append((ts, target, key))
        return len(segs)

    def _check(self) -> None:
        top = self.raw_top() or 0
        closed, prev_ts = True, None
        for seg in self.pending:
            first, closes = seg[2], seg[6]
            assert first > top, "pending change_ids overlap installed rows or each other"
            n = (len(seg) - 7) // 3
            assert len(seg) == 7 + 3 * n and n, "a malformed pending segment"
            assert all(seg[j + 1] is not None or seg[j + 2] is not None
                       for j in range(7, len(seg), 3)), "a pending change of nothing"
            assert closed or seg[0] == prev_ts, "a commit's segments are apart"
            top = first + n - 1 + (1 if closes else 0)  # its last change (and commit row)
            closed, prev_ts = closes, seg[0]
        assert closed, "a commit's last pending segment has no commit row"


def segments(ts: int, change_time: int, first: int, mode: str, changed) -> tuple:
    """``(segments, n)``: one commit's pending segments and its n changes, from
    ``changed``, the ``(Table, [(key, before, after), ...])`` pairs of the tables it
    captures in write-set order (none empty).

    A segment is one flat tuple ``(ts, change_time, first change_id, mode, table
    name, WITHOUT ROWID key columns or None, closes, key, before, after, key, ...)``;
    ``closes`` marks the commit's last segment, which its commit row follows.
    Flat tuples of plain values and row tuples, because the cyclic garbage
    collector stops tracking such a tuple in its first pass: nested batches
    (lists, tuples of tuples) stayed tracked and cost every commit 8% in
    collections over a long backlog. O(changes), in C."""
    out = []
    n = 0
    last = len(changed) - 1
    for i, (t, changes) in enumerate(changed):
        out.append((ts, change_time, first + n, mode, t.name,
                    t.schema.primary_key if t.without_rowid else None, i == last,
                    *chain.from_iterable(changes)))
        n += len(changes)
    return out, n


def segment_rows(w: dict, seg: tuple) -> None:
    """Add one pending segment's CDC rows (and its commit's row if it closes it)
    to ``w``. O(changes) record encodings."""
    ts, change_time, change_id, mode, name, pk, closes = seg[:7]
    changes = iter(seg[7:])
    change_id = change_rows(w, change_id, change_time, ts, name, pk,
                            zip(changes, changes, changes), _CONFIGS[mode])
    if closes:
        w[change_id] = commit_row(change_id, change_time, ts)


def _settling(slot):
    """A property reading ``slot`` of a FeedVersions after settling its feed."""
    get = slot.__get__
    feed_of = _FEED.__get__

    def read(self):
        feed = feed_of(self)
        if feed.pending and feed.settler != get_ident():
            feed.settle()
        return get(self)

    return property(read, slot.__set__, doc=f"``{slot.__name__}``, pending segments settled")


class FeedVersions(TableVersions):
    """The versions of a CDC table: a TableVersions whose state attributes settle
    the table's ``Feed`` when read (module docstring). Same layout as its base:
    ``make_feed`` turns an existing TableVersions into one in place."""

    __slots__ = ()

    rows = _settling(_ROWS)
    begins = _settling(_BEGINS)
    history = _settling(_HISTORY)
    _top = _settling(_TOP)

    def _check(self) -> None:
        _FEED.__get__(self)._check()
        super()._check()


def make_feed(table, db) -> Feed:
    """The feed of CDC table ``table`` (a Table): its versions become a FeedVersions
    with an empty feed on the first call, in place (readers hold the object). O(1)."""
    versions = table.versions
    feed = versions._feed
    if feed is None:
        feed = Feed(db, versions)
        versions._feed = feed
        versions.__class__ = FeedVersions
    return feed
