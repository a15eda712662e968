"""The commit-time capture: a transaction's CDC rows, written inside its commit
(see the package docstring for the semantics)."""

from __future__ import annotations

from engine.cdc.config import COMMIT, DELETE, INSERT, SEQUENCE_TABLE, UPDATE, VERSION_TABLE
from engine.cdc.functions import pk_id
from engine.cdc.record import encode_record, update_records
from engine.cdc.schema import schema_changes
from engine.errors import OperationalError

def capture(txn, ts: int, now: float):
    """Add ``txn``'s CDC rows to its own write set, so they commit in its log frame.

    Called by ``Database._apply_commit`` / ``_commit_simple`` with the write lock
    held, after validation and before the frame is encoded. ``before`` images are
    the latest committed versions (for BEGIN CONCURRENT, validation proved they
    are the snapshot's). Schema changes come first (``schema_changes``), then one
    row per changed row, then the commit row. O(w) record encodings for the w rows
    written; the change_id counter is cached per database (``_marks``), so the
    CDC table's ``sqlite_sequence`` row is read once after open.

    Returns ``(CDC table, its new write set)`` when that is all capture added to
    the write set (the usual commit: ``Database._commit`` appends it to its plan
    rather than rebuilding the plan), else None. Its keys ascend above every
    key of the table: ``TableVersions.install_latest`` appends them as a block.
    """
    cfg = txn.cdc
    writes_of = txn.writes
    db = txn.db
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
    try:
        marks = db._cdc_marks
    except AttributeError:
        marks = _marks(db)
    mark = marks.get(cdc_name)
    entry = None
    if mark is not None and mark[0] is versions:
        change_id = mark[1] + 1
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
        schema_rows, handled = schema_changes(txn, tables, cfg, _SKIP | db.cdc_tables | {cdc_name})
        for name, rid, kind, b, a, u in schema_rows:
            w[change_id] = (change_id, change_time, ts, kind, name, rid, b, a, u)
            change_id += 1
    else:
        handled = ()
    want_before, want_after, want_updates = cfg.want_before, cfg.want_after, cfg.want_updates
    for tname, writes in writes_of.items():
        if not writes or tname == cdc_name or tname in _SKIP or tname in handled:
            continue
        t = tables.get(tname)
        if t is None:
            continue
        latest = t.versions.rows.get
        name = t.name
        pk = t.schema.primary_key if t.without_rowid else None
        for key, after in writes.items():
            before = latest(key)
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
                    b, a, u = update_records(before, after, want_before, want_after,
                                             want_updates)
                elif want_before:
                    b = encode_record(before)
            rid = key if pk is None else pk_id(after if after is not None else before, pk)
            w[change_id] = (change_id, change_time, ts, kind, name, rid, b, a, u)
            change_id += 1
    if change_id == first_id:
        return None
    w[change_id] = (change_id, change_time, ts, COMMIT, None, None, None, None, None)
    marks[cdc_name] = (versions, change_id)
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


def _captures_something(txn, tables, cfg) -> bool:
    """Whether ``capture`` would write any row for ``txn`` (a schema change, or a row
    whose net effect is not nothing). O(w); only asked when the CDC table is missing."""
    handled = ()
    if txn.catalog_changed:
        schema_rows, handled = schema_changes(txn, tables, cfg,
                                              _SKIP | txn.db.cdc_tables | {cfg.key})
        if schema_rows:
            return True
    for tname, writes in txn.writes.items():
        t = tables.get(tname)
        if tname == cfg.key or tname in _SKIP or tname in handled or t is None:
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
        mark = _marks(txn.db).get(name)
        if mark is not None and mark[0] is cdc.versions and mark[1] > top:
            top = mark[1]
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


_SKIP = frozenset(("turso_cdc_version", "sqlite_sequence"))



def _marks(db) -> dict:
    """``db``'s change_id high-water marks: ``{CDC table name: (its TableVersions,
    the largest change_id capture issued)}``. In memory only: a mark is trusted
    while the table keeps its versions object (DROP + CREATE makes a new one);
    otherwise (and after a restart) capture rereads ``sqlite_sequence`` once."""
    marks = db.__dict__.get("_cdc_marks")
    if marks is None:
        marks = db.__dict__["_cdc_marks"] = {}
    return marks


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
