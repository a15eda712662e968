"""The commit-time capture: a transaction's CDC rows, written inside its commit
(see the package docstring for the semantics)."""

from __future__ import annotations

from engine.cdc.config import SEQUENCE_TABLE, SKIP_TABLES, VERSION_TABLE
from engine.cdc.feed import change_rows, commit_row, make_feed, segments
from engine.cdc.schema import schema_changes
from engine.errors import OperationalError

def capture(txn, ts: int, now: float):
    """Add ``txn``'s CDC rows to its own write set, so they commit in its log frame.

    Called by ``Database._apply_commit`` / ``_commit_simple`` with the write lock
    held, after validation and before the frame is encoded. ``before`` images are
    the latest committed versions (for BEGIN CONCURRENT, validation proved they
    are the snapshot's). Schema changes come first (``schema_changes``), then one
    row per changed row, then the commit row. O(w) record encodings for the w rows
    written; the change_id high-water mark is kept by the table's feed
    (``Feed.last_id``), so the CDC table's ``sqlite_sequence`` row is read once
    after open.

    Returns the table's ``Feed`` when the rows are left to it (the usual commit,
    ``engine.cdc.feed``: nothing is added to the write set; the commit logs the
    feed's ``log_entry()`` and calls its ``record`` after installing its writes);
    ``(CDC table, its new write set)`` when that is all capture added to the
    write set (``Database._commit`` appends it to its plan rather than
    rebuilding the plan); else None. The rows' keys ascend above every key of
    the table: ``TableVersions.install_latest`` appends them as a block.
    """
    cfg = txn.cdc
    writes_of = txn.writes
    db = txn.db
    if not txn.catalog_changed and db.cdc_tables.isdisjoint(writes_of):
        # The usual commit: leave the rows to the feed once its high-water mark is known.
        cdc = db.tables.get(cfg.key)
        if cdc is not None and not cdc.indexes:
            feed = cdc.versions._feed
            if feed is not None and feed.last_id is not None:
                feed.defer(cdc, cfg, now)
                return feed
    tables = txn.tables if txn.catalog_changed else db.tables
    cdc_name = cfg.key
    if cdc_name not in db.cdc_tables:
        register(db, cdc_name)
    own = writes_of.get(cdc_name)
    if own:  # the transaction trims the feed itself
        guard_sequence(txn)
    cdc = tables.get(cdc_name)
    if cdc is None:
        if _captures_something(txn, tables, cfg):
            raise OperationalError(f"CDC table {cfg.table} does not exist (capture is on)")
        return
    versions = cdc.versions
    feed = make_feed(cdc, db)
    mark = feed.last_id
    entry = None
    if mark is not None:
        change_id = mark + 1
    else:  # first capture into this table since open: read sqlite_sequence once
        entry = _sequence_entry(txn, tables, cdc.name) if cdc.schema.autoincrement else None
        seq = entry[1][1] if entry is not None else None
        change_id = (seq if type(seq) is int else 0) + 1
    # Rows other commits wrote to the table (guard_sequence's callers) may lie
    # above the mark. ``_top`` is the cached largest key (None: not cached).
    top = versions._top
    if top is None:
        top = versions.max_key()
    if top is not None and top >= change_id:
        change_id = top + 1
    if own:
        change_id = max(change_id, max(own) + 1)
    first_id = change_id
    change_time = int(now)
    w = {}  # the CDC rows, written directly: they are already typed
    if txn.catalog_changed:  # DDL: sqlite_schema rows first, then ALTERed tables' rows
        schema_rows, handled = schema_changes(txn, tables, cfg,
                                              SKIP_TABLES | db.cdc_tables | {cdc_name})
        for name, rid, kind, b, a, u in schema_rows:
            w[change_id] = (change_id, change_time, ts, kind, name, rid, b, a, u)
            change_id += 1
    else:
        handled = ()
    for tname, writes in writes_of.items():
        if not writes or tname == cdc_name or tname in SKIP_TABLES or tname in handled:
            continue
        t = tables.get(tname)
        if t is None:
            continue
        latest = t.versions.rows.get
        change_id = change_rows(w, change_id, change_time, ts, t.name,
                                t.schema.primary_key if t.without_rowid else None,
                                [(key, latest(key), after) for key, after in writes.items()],
                                cfg)
    if change_id == first_id:
        return None
    w[change_id] = commit_row(change_id, change_time, ts)
    feed.last_id = change_id
    if own is not None:
        own.update(w)
        return None
    writes_of[cdc_name] = w
    if mark is None and entry is None and cdc.schema.autoincrement:
        # Its first row in sqlite_sequence, as SQLite creates one on the first insert
        # (the plan gains sqlite_sequence: not the one-table answer).
        _advance_sequence(txn, tables, cdc.name, change_id, entry)
        return None
    return cdc, w


def replay_capture(db, ts: int, wall_time: float, marker, changes: dict) -> None:
    """Recovery's side of ``Feed.record``: queue the segments a logged commit's
    marker ``(CDC table name, (first change_id, mode))`` stands for, ``changes``
    being the frame's ``{table key: [(key, before, after)]}`` as replayed. The
    high-water mark is left unset: the first capture after open is eager, and
    settles the feed. O(tables written)."""
    name, (first_id, mode) = marker
    cdc = db.tables.get(name.lower())
    if cdc is None:
        return  # (dropped by a later frame: its rows would go with it)
    segs, _n = segments(ts, int(wall_time), first_id, mode,
                        [(db.tables[key], done) for key, done in changes.items()
                         if done and key not in SKIP_TABLES and key != cdc.key])
    make_feed(cdc, db).pending += segs


def _captures_something(txn, tables, cfg) -> bool:
    """Whether ``capture`` would write any row for ``txn`` (a schema change, or a row
    whose net effect is not nothing). O(w); only asked when the CDC table is missing."""
    handled = ()
    if txn.catalog_changed:
        schema_rows, handled = schema_changes(txn, tables, cfg,
                                              SKIP_TABLES | txn.db.cdc_tables | {cfg.key})
        if schema_rows:
            return True
    for tname, writes in txn.writes.items():
        t = tables.get(tname)
        if tname == cfg.key or tname in SKIP_TABLES or tname in handled or t is None:
            continue
        latest = t.versions.rows.get
        if any(after is not None or latest(key) is not None for key, after in writes.items()):
            return True
    return False


def guard_sequence(txn) -> None:
    """Before a commit that writes (trims) a CDC table: record its change_id
    high-water mark in ``sqlite_sequence``.

    Capture does not advance ``sqlite_sequence`` on every commit (that write was a
    quarter of capture's cost): while nothing deletes CDC rows the table's largest
    key *is* the high-water mark. Only a commit that deletes rows could lower it,
    so such a commit (capturing or not; ``Database._apply_commit`` calls this for
    every write to a table in ``db.cdc_tables``) first raises the sequence to
    max(sequence, latest committed key, keys this transaction wrote). Ids are thus
    never reused, across restarts too, and SQLite's AUTOINCREMENT rule
    (new rowid > max(sqlite_sequence, largest rowid)) holds in the checkpointed
    file. O(k) for the k rows the transaction wrote to CDC tables.
    """
    writes_of = txn.writes
    tables = txn.tables if txn.catalog_changed else txn.db.tables
    for name in txn.db.cdc_tables:
        own = writes_of.get(name)
        cdc = tables.get(name)
        if not own or cdc is None or not cdc.schema.autoincrement:
            continue
        entry = _sequence_entry(txn, tables, cdc.name)
        top = max(cdc.versions.max_key() or 0, max(own))
        feed = cdc.versions._feed
        if feed is not None and feed.last_id is not None and feed.last_id > top:
            top = feed.last_id
        seq = entry[1][1] if entry is not None else None
        if type(seq) is not int or top > seq:
            _advance_sequence(txn, tables, cdc.name, top, entry)


def register(db, name: str) -> None:
    """Add ``name`` to ``db.cdc_tables`` (copy-on-write: commits read it unlocked)."""
    db.cdc_tables = db.cdc_tables | {name.lower()}


def registered_tables(tables) -> frozenset:
    """The CDC tables ``turso_cdc_version`` lists (lower-case names), read on open."""
    t = tables.get(VERSION_TABLE)
    if t is None:
        return frozenset()
    return frozenset(row[0].lower() for row in t.versions.rows.values()
                     if isinstance(row[0], str) and row[0].lower() in tables)





def _sequence_entry(txn, tables, name: str):
    """``(key, row)`` of ``name``'s row in sqlite_sequence (own writes first), or
    None. O(s) for its s rows (one per AUTOINCREMENT table); called once per CDC
    table after open and by commits that trim the feed."""
    seq = tables.get(SEQUENCE_TABLE)
    if seq is None:
        return None
    lname = name.lower()
    own = txn.writes.get(SEQUENCE_TABLE) or {}
    for key, row in own.items():
        if row is not None and isinstance(row[0], str) and row[0].lower() == lname:
            return key, row
    for key, row in dict.items(seq.versions.rows):  # C iteration: a few rows
        if key not in own and isinstance(row[0], str) and row[0].lower() == lname:
            return key, row
    return None


def _advance_sequence(txn, tables, name: str, last_id: int, entry) -> None:
    """Record ``last_id`` as the CDC table's AUTOINCREMENT high-water mark
    (``entry``: its sqlite_sequence row as ``_sequence_entry`` found it, or None
    when the table has no row there yet)."""
    seq = tables.get(SEQUENCE_TABLE)
    if seq is None:
        return
    own = txn.writes.get(SEQUENCE_TABLE)
    if own is None:
        own = txn.writes[SEQUENCE_TABLE] = {}
    if entry is not None:
        own[entry[0]] = (entry[1][0], last_id)
        return
    top = seq.versions.max_key() or 0
    key = max([top] + [k for k in own]) + 1
    own[key] = (name, last_id)
