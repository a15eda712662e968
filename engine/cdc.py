"""Change data capture (CDC): Turso's ``turso_cdc`` feed, written inside the commit.

Surface (Turso Database's, so its users' tools keep working):

* ``PRAGMA capture_data_changes_conn('off|id|before|after|full[,table]')`` turns
  capture on for *this connection's* writes; the query form returns
  ``(mode, table, version)``. Enabling creates the CDC table (default
  ``turso_cdc``) and ``turso_cdc_version`` when missing.
* The CDC table (an ordinary table, checkpointed into the SQLite file)::

      change_id INTEGER PRIMARY KEY AUTOINCREMENT, change_time INTEGER,
      change_txn_id INTEGER, change_type INTEGER, table_name TEXT, id,
      before BLOB, after BLOB, updates BLOB

  ``change_type``: 1 insert, 0 update, -1 delete, 2 the end of a transaction.
  ``before``/``after`` are SQLite records (fileformat2.html, "Record Format") of the
  row's columns in declared order: ``before`` in modes before/full, ``after`` in
  after/full. ``updates`` (mode full, updates only) is a record of 2N values: N
  flags (1 = column changed), then the N new values (NULL where unchanged).
* ``table_columns_json_array(table)`` and ``bin_record_json_object(columns, blob)``
  read a record as a JSON object (a BLOB value becomes its hex text; Turso refuses).

Semantics (ours, stricter than a per-statement log):

* One CDC row per row a transaction changed, with its net effect (a row inserted
  then updated in one transaction is one insert; inserted then deleted: nothing),
  then one commit row. ``change_txn_id`` is the commit timestamp: durable,
  unique, increasing in commit order.
* ``capture`` runs in ``Database._apply_commit`` under the write lock, before the
  log frame is encoded: CDC rows are logged and installed with the changes they
  describe (one frame, atomic), ``change_id`` increases in commit order even for
  BEGIN CONCURRENT writers, and a rolled-back transaction leaves nothing.
* change_ids are never reused (AUTOINCREMENT): the same commit advances the CDC
  table's ``sqlite_sequence`` row, so trimming the history never rewinds them.
* Schema changes are rows of table ``sqlite_schema`` (Turso's convention), before
  the transaction's row changes: a record ``(type, name, tbl_name, rootpage, sql)``,
  ``id`` the object's sqlite_schema number; CREATE = insert, DROP = delete, ALTER
  TABLE = update whose ``updates`` carries the ALTER statement in the sql slot
  (``schema_changes``). Differences from pyturso 0.8.3, which we cannot or choose
  not to remove: ``sql`` is the text as written (SQLite's rule; pyturso stores its
  re-rendered ``CREATE TABLE t (a, b)``); ``id``/``rootpage`` number our schema
  (pyturso's has an extra internal AUTOINCREMENT table, so its numbers are one
  higher in a fresh database); views, triggers, materialized views and RENAMEs
  are recorded (pyturso records none); CREATE TABLE ... AS SELECT records its
  rows; several ALTERs of one table in one transaction are one update whose
  statement text lists them ("; "-separated, rebuilt from the schemas).
  Rows an ALTER TABLE only reshapes (ADD/DROP COLUMN) are not changes.
"""

from __future__ import annotations

import json
import struct

from engine.errors import OperationalError

CDC_TABLE = "turso_cdc"
VERSION_TABLE = "turso_cdc_version"
CDC_VERSION = "v2"
SEQUENCE_TABLE = "sqlite_sequence"
MODES = ("off", "id", "before", "after", "full")
INSERT, UPDATE, DELETE, COMMIT = 1, 0, -1, 2

CDC_COLUMNS = ("change_id", "change_time", "change_txn_id", "change_type", "table_name",
               "id", "before", "after", "updates")
VERSION_SQL = ("CREATE TABLE turso_cdc_version "
               "(table_name TEXT PRIMARY KEY, version TEXT NOT NULL)")


def cdc_table_sql(name: str) -> str:
    """The CREATE TABLE of a CDC table named ``name`` (Turso's exact columns)."""
    quoted = '"' + name.replace('"', '""') + '"' if not name.isidentifier() else name
    return (f"CREATE TABLE {quoted} (change_id INTEGER PRIMARY KEY AUTOINCREMENT, "
            f"change_time INTEGER, change_txn_id INTEGER, change_type INTEGER, "
            f'table_name TEXT, id, "before" BLOB, "after" BLOB, updates BLOB)')


class CaptureConfig:
    """A connection's capture setting: ``mode`` (id/before/after/full) and CDC table."""

    __slots__ = ("mode", "table", "key", "want_before", "want_after", "want_updates")

    def __init__(self, mode: str, table: str = CDC_TABLE):
        if mode not in MODES or mode == "off":
            raise OperationalError(f"unknown capture_data_changes_conn mode: {mode}")
        self.mode = mode
        self.table = table
        self.key = table.lower()  # the CDC table's key in Database.tables
        self.want_before = mode in ("before", "full")
        self.want_after = mode in ("after", "full")
        self.want_updates = mode == "full"

    def __repr__(self):
        return f"CaptureConfig({self.mode!r}, {self.table!r})"


def parse_setting(value) -> CaptureConfig | None:
    """``'mode[,table]'`` -> CaptureConfig, or None for 'off'. Raises on a bad mode."""
    text = str(value).strip()
    mode, _, table = text.partition(",")
    mode = mode.strip().lower()
    table = table.strip() or CDC_TABLE
    if mode == "off":
        return None
    return CaptureConfig(mode, table)


# -- the commit-time capture ---------------------------------------------------------------

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
            rid = key if pk is None else _pk_id(after if after is not None else before, pk)
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


def _pk_id(row, pk):
    """The ``id`` of a WITHOUT ROWID row: its primary key value, or a JSON array."""
    if len(pk) == 1:
        return row[pk[0]]
    return json.dumps([_json_value(row[i]) for i in pk], separators=(",", ":"))


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


# -- SQLite record format (fileformat2.html, section 2.1) ----------------------------------

_pack_double = struct.Struct(">d").pack
_unpack_double = struct.Struct(">d").unpack_from
# Serial type and body width of an integer by the bytes its two's complement needs
# (1..8); 0 and 1 are serial types 8 and 9 with no body.
_INT_TYPE = (0, 1, 2, 3, 4, 5, 5, 6, 6)
_INT_WIDTH = (0, 1, 2, 3, 4, 6, 6, 8, 8)
_INT_LEN = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8}
_pack_short = struct.Struct(">h").pack
# (serial type, body) of the integers -128..127, indexed by the value itself (a
# negative index counts from the end: entry 256 - k is -k): 0 and 1 are types 8
# and 9 with no body, the others type 1 with one byte.
_SMALL_INT = tuple((8 + v, b"") if v in (0, 1) else (1, (v & 0xFF).to_bytes(1, "big"))
                   for v in list(range(128)) + list(range(-128, 0)))


def _varint(v: int) -> bytes:
    """SQLite's big-endian varint (1-9 bytes; the 9th byte carries 8 bits)."""
    if 0 <= v <= 0x7F:
        return bytes((v,))
    v &= 0xFFFFFFFFFFFFFFFF
    if v > 0x00FFFFFFFFFFFFFF:
        out = [v & 0xFF]
        v >>= 8
        for _ in range(8):
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        return bytes(reversed(out))
    out = [v & 0x7F]
    v >>= 7
    while v:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    return bytes(reversed(out))


def _read_varint(data: bytes, pos: int):
    """(value, next position) of the varint at ``pos``."""
    v = 0
    for i in range(8):
        b = data[pos + i]
        v = (v << 7) | (b & 0x7F)
        if not b & 0x80:
            return v, pos + i + 1
    return (v << 8) | data[pos + 8], pos + 9


def encode_record(values) -> bytes:
    """``values`` as one SQLite record: header (serial types) then bodies.

    O(columns), one Python call: the serial types are collected as ints and the
    bodies as bytes (NULL, 0 and 1 have none), then a header of one-byte serial
    types under 127 bytes (the usual case: no string or BLOB over 57 bytes) is
    one ``bytes`` call; longer ones go to ``_assemble``. Type rules: fileformat2,
    section 2.1 (smallest integer width; REAL always 8 bytes).
    """
    types = []
    bodies = [b""]  # slot 0: the header, filled in below (one join for the record)
    put_type = types.append
    put_body = bodies.append
    for v in values:
        tv = type(v)
        if tv is int:
            if -129 < v < 128:
                t, b = _SMALL_INT[v]
                put_type(t)
                put_body(b)
            elif -32769 < v < 32768:
                put_type(2)
                put_body(_pack_short(v))
            else:
                n = ((v if v >= 0 else ~v).bit_length() + 8) >> 3
                put_type(_INT_TYPE[n])
                put_body(v.to_bytes(_INT_WIDTH[n], "big", signed=True))
        elif tv is str:
            b = v.encode("utf-8")
            put_type(13 + 2 * len(b))
            put_body(b)
        elif v is None:
            put_type(0)
        elif tv is float:
            put_type(7)
            put_body(_pack_double(v))
        else:
            b = bytes(v)
            put_type(12 + 2 * len(b))
            put_body(b)
    n = len(types)
    if n < 0x7F:
        try:
            header = bytes(types)
        except ValueError:  # a serial type over 255
            header = b"\x80"
        if header.isascii():  # every serial type is a one-byte varint (< 0x80)
            bodies[0] = _BYTE[n + 1] + header
            return b"".join(bodies)
    bodies[0] = _header(types)
    return b"".join(bodies)


_BYTE = tuple(bytes((i,)) for i in range(256))  # one-byte bytes objects, prebuilt


def _serial(v) -> tuple:
    """``(serial type, body)`` of one value: the per-value step ``encode_record`` and
    ``update_records`` inline for every column. O(len(v))."""
    tv = type(v)
    if tv is int:
        if -129 < v < 128:
            return _SMALL_INT[v]
        if -32769 < v < 32768:
            return 2, _pack_short(v)
        n = ((v if v >= 0 else ~v).bit_length() + 8) >> 3
        return _INT_TYPE[n], v.to_bytes(_INT_WIDTH[n], "big", signed=True)
    if tv is str:
        body = v.encode("utf-8")
        return 13 + 2 * len(body), body
    if v is None:
        return 0, b""
    if tv is float:
        return 7, _pack_double(v)
    body = bytes(v)
    return 12 + 2 * len(body), body


def _header(types: list) -> bytes:
    """A record header of any size: its size varint (which counts itself), then
    the serial type varints. O(columns); the long-header case of the encoders."""
    header = b"".join(map(_varint, types))
    size = len(header) + 1
    if size > 0x7F:  # the size counts its own varint
        size = len(header) + len(_varint(len(header) + 2))
    return _varint(size) + header


def _assemble(types: list, bodies: list) -> bytes:
    """The record of serial ``types`` and their ``bodies``: header size, header, bodies."""
    n = len(types)
    if n < 0x7F:
        try:
            header = bytes(types)
        except ValueError:  # a serial type over 255
            header = b"\x80"
        if header.isascii():  # every serial type is a one-byte varint (< 0x80)
            return _BYTE[n + 1] + header + b"".join(bodies)
    return _header(types) + b"".join(bodies)


def update_records(before: tuple, after: tuple, want_before: bool, want_after: bool,
                   want_updates: bool):
    """``(before, after, updates)`` records of one UPDATE (None where not wanted).

    One pass over the columns, one Python call: each before value is encoded
    once, and so is each after value the update changed; a column left equal
    (the same object, or same type and value) reuses the before encoding, except
    REALs (0.0 and -0.0 are equal but stored apart: re-encoded, not flagged).
    ``updates`` (``updates_record``) is N changed-flags (serial types 8/9), then
    the N new values with NULL (type 0, no body) where unchanged. O(columns).
    """
    bt, bb = [], []  # the before image's serial types and bodies
    put_type, put_body = bt.append, bb.append
    changes = None  # [(column, after's type, after's body, changed?)] where they differ
    for b, a in zip(before, after):
        tb = type(b)
        if tb is int:
            if -129 < b < 128:
                t, body = _SMALL_INT[b]
            elif -32769 < b < 32768:
                t = 2
                body = _pack_short(b)
            else:
                n = ((b if b >= 0 else ~b).bit_length() + 8) >> 3
                t = _INT_TYPE[n]
                body = b.to_bytes(_INT_WIDTH[n], "big", signed=True)
        elif tb is str:
            body = b.encode("utf-8")
            t = 13 + 2 * len(body)
        elif b is None:
            t = 0
            body = b""
        elif tb is float:
            t = 7
            body = _pack_double(b)
        else:
            body = bytes(b)
            t = 12 + 2 * len(body)
        put_type(t)
        put_body(body)
        if a is b:
            continue
        ta = type(a)
        same = ta is tb and a == b
        if same and ta is not float:
            continue
        t, body = _serial(a)  # (a call: only the columns the update changed)
        if changes is None:
            changes = []
        # (a REAL equal to the old one, 0.0 vs -0.0, is stored but not a change)
        changes.append((len(bt) - 1, t, body, not same))
    n = len(bt)
    at, ab = bt[:], bb[:]  # the after image: the before one, changed columns replaced
    flags, ut, ub = [8] * n, [0] * n, []  # updates: flags, new values' types, bodies
    if changes is not None:
        for i, t, body, changed in changes:
            at[i] = t
            ab[i] = body
            if changed:
                flags[i] = 9
                ut[i] = t
                ub.append(body)
    if n < 64:  # the updates record's 2n one-byte types still fit a one-byte size
        try:
            hb = bytes(bt)
            ha = bytes(at)
        except ValueError:  # a serial type over 255
            hb = ha = b"\x80"
        if hb.isascii() and ha.isascii():  # (ut's types are at's or 0: ascii too)
            size = _BYTE[n + 1]
            return (size + hb + b"".join(bb) if want_before else None,
                    size + ha + b"".join(ab) if want_after else None,
                    _BYTE[2 * n + 1] + bytes(flags) + bytes(ut) + b"".join(ub)
                    if want_updates else None)
    return (_assemble(bt, bb) if want_before else None,
            _assemble(at, ab) if want_after else None,
            _assemble(flags + ut, ub) if want_updates else None)


def decode_record(data: bytes) -> tuple:
    """The values of one SQLite record (inverse of ``encode_record``). O(columns)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise OperationalError("malformed record: not a BLOB")
    data = bytes(data)
    try:
        size, pos = _read_varint(data, 0)
        types = []
        while pos < size:
            t, pos = _read_varint(data, pos)
            types.append(t)
        pos = size
        out = []
        for t in types:
            if t == 0:
                out.append(None)
            elif t in (8, 9):
                out.append(t - 8)
            elif t <= 6:
                n = _INT_LEN[t]
                out.append(int.from_bytes(data[pos:pos + n], "big", signed=True))
                pos += n
            elif t == 7:
                out.append(_unpack_double(data, pos)[0])
                pos += 8
            elif t >= 12:
                n = (t - 12) >> 1
                chunk = data[pos:pos + n]
                if len(chunk) != n:
                    raise IndexError
                out.append(chunk.decode("utf-8", "replace") if t & 1 else chunk)
                pos += n
            else:
                raise IndexError
        if pos > len(data):
            raise IndexError
    except (IndexError, KeyError, struct.error):
        raise OperationalError("malformed record") from None
    return tuple(out)


def updates_record(before: tuple, after: tuple) -> bytes:
    """Turso's ``updates``: N changed-flags then the N new values (NULL if unchanged)."""
    flags = []
    values = []
    for b, a in zip(before, after):
        changed = type(a) is not type(b) or a != b
        flags.append(1 if changed else 0)
        values.append(a if changed else None)
    return encode_record(flags + values)


# -- reading records as JSON ---------------------------------------------------------------

def _json_value(v):
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, float) and v != v:
        return None
    return v


def record_json_object(columns, blob) -> str | None:
    """``bin_record_json_object``: a record as ``{"column": value, ...}`` JSON text.

    ``columns`` is a JSON array of names (``table_columns_json_array``); extra
    values (a record written before columns were dropped) are named by position.
    """
    if blob is None:
        return None
    names = json.loads(columns) if isinstance(columns, str) else list(columns or ())
    values = decode_record(blob)
    obj = {}
    for i, v in enumerate(values):
        obj[names[i] if i < len(names) else str(i)] = _json_value(v)
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def install_functions(session) -> None:
    """Give ``session`` the SQL functions that read CDC records as JSON.

    ``table_columns_json_array(t)`` needs the session's catalog, so these are
    per-session functions (looked up before the built-ins, like user functions).
    """
    def table_columns_json_array(name):
        txn = session.txn
        cat = txn.catalog if txn is not None else session.db.catalog
        t = cat.table(str(name)) if name is not None else None
        if t is None:
            raise OperationalError(f"no such table: {name}")
        return json.dumps([c.name for c in t.columns], separators=(",", ":"))

    session._functions[("table_columns_json_array", 1)] = table_columns_json_array
    session._functions[("bin_record_json_object", 2)] = record_json_object


# -- PRAGMA capture_data_changes_conn --------------------------------------------------------

def pragma_capture(session, value):
    """Read or set the session's capture mode; enabling creates the CDC tables."""
    from engine.sql.session import Result
    cols = ("mode", "table", "version")
    if value is None:
        cfg = session.cdc
        if cfg is None:
            return Result(cols, [("off", None, None)])
        return Result(cols, [(cfg.mode, cfg.table, CDC_VERSION)])
    cfg = parse_setting(value)
    if cfg is not None:
        _ensure_tables(session, cfg.table)
        register(session.db, cfg.table)
    session.cdc = cfg
    if session.txn is not None:
        session.txn.cdc = cfg
    return Result(None, [])


def durable_ts(db) -> int:
    """The newest commit timestamp known durable together with every earlier one.

    ``Database`` advances ``_delivered_ts`` after each commit's after-commit hooks
    and sets ``_delivering_ts`` before running them (the commit is durable by
    then), so a hook or signal receiver reading the feed sees its own commit. O(1).
    """
    return max(db._delivered_ts, db._delivering_ts)


def _ensure_tables(session, name: str) -> None:
    """Create the CDC table and turso_cdc_version if missing (in the open
    transaction when there is one, else in a transaction of their own)."""
    txn = session.txn
    if txn is None and session.explicit:
        txn = session._ensure_txn()
    cat = txn.catalog if txn is not None else session.db.catalog
    existing = cat.table(name)
    if existing is not None:
        _check_cdc_schema(existing)
        if cat.table(VERSION_TABLE) is not None:
            return
    own = txn is None
    if own:
        txn = session.db.begin("IMMEDIATE", session.timeout)
    try:
        if txn.catalog.table(name) is None:
            txn.create_table(cdc_table_sql(name))
        if txn.catalog.table(VERSION_TABLE) is None:
            txn.create_table(VERSION_SQL)
        txn.insert(VERSION_TABLE, (name, CDC_VERSION), conflict="IGNORE")
    except BaseException:
        if own:
            txn.rollback()
        raise
    if own:
        txn.commit()
    session._cache.clear()


def _check_cdc_schema(schema) -> None:
    """An existing CDC table must have Turso's 9 columns keyed by change_id."""
    if len(schema.columns) != len(CDC_COLUMNS) or schema.rowid_alias != 0:
        raise OperationalError(
            f"table {schema.name} exists but is not a CDC table "
            f"(expected columns {', '.join(CDC_COLUMNS)})")


# -- schema changes: sqlite_schema rows ------------------------------------------------------

SCHEMA_TABLE = "sqlite_schema"
SCHEMA_COLUMNS = ("type", "name", "tbl_name", "rootpage", "sql")


def schema_changes(txn, tables, cfg, skip) -> tuple[list, frozenset]:
    """CDC rows for what ``txn`` did to the schema, as Turso records DDL: changes of
    ``sqlite_schema`` rows ``(type, name, tbl_name, rootpage, sql)``.

    Returns ``(rows, handled)``: ``rows`` are ``[table_name, id, kind, before, after,
    updates]`` lists (capture's shape): the schema rows first (deletes, then updates,
    then inserts, so replaying them in order works), then the data rows of every
    table ALTER TABLE rebuilt (``_rebuilt_rows``), whose lower-case names are
    ``handled`` (capture skips them in its own loop).

    Net effect per object over the transaction, like row changes. ``id`` is the
    object's number in ``Catalog.created`` (SQLite's sqlite_schema rowid rule:
    max + 1; stable while the database is open, compacted by a restart as VACUUM
    compacts SQLite's). ``rootpage`` is what our ``sqlite_schema`` shows. As
    pyturso does, auto-indexes (sql NULL) are not recorded, nor the indexes and
    triggers a DROP TABLE drops with its table, nor the texts an ALTER TABLE
    rewrites in other objects (replaying the ALTER rewrites them). A table row
    kept under its number is an update only when ``alter_statements`` really
    turn the old CREATE text into the new one (``_replays``: SQLite checks);
    otherwise (a DROP and a CREATE that reused the number) it is a delete and an
    insert. Unlike pyturso, views, triggers, materialized views and ALTER TABLE
    ... RENAME are recorded too. O(objects + rows of the rebuilt tables).
    """
    db = txn.db
    old_cat, new_cat = db.catalog, txn.catalog
    old_rows, old_ids = _schema_rows(old_cat, skip)
    new_rows, new_ids = _schema_rows(new_cat, skip)
    new_by_id = {new_ids[k]: k for k in new_rows}
    deletes, updates, inserts, rebuilt = [], [], [], []
    altered, dropped, others, unexplained = set(), set(), [], []
    renamed = False  # did an ALTER rename a table or column (rewriting other texts)?
    for okey, before in old_rows.items():  # tables first: others depend on them
        rid = old_ids[okey]
        nkey = new_by_id.get(rid)
        after = new_rows[nkey] if nkey is not None else None
        if before[0] != "table":
            others.append((rid, before, after))
            continue
        if after is not None and after[0] == "table":
            if _same_entry(before, after):
                rebuilt.append((okey, nkey))
                continue
            old_s, new_s = old_cat.tables[okey], new_cat.tables[nkey]
            statements = alter_statements(old_s, new_s)
            if statements and _replays(old_s.sql, statements, new_s.name, new_s.sql):
                updates.append((rid, before, after, "; ".join(statements)))
                altered.add(okey)
                rebuilt.append((okey, nkey))
                renamed = renamed or any(" RENAME " in st for st in statements)
                continue
            if not statements:  # same columns, other text: a REFERENCES a rename edited?
                unexplained.append((okey, nkey, rid, before, after))
                continue
        dropped.add(okey)
        deletes.append((rid, before))
        if after is not None:
            inserts.append((rid, after))
    for okey, nkey, rid, before, after in unexplained:
        if renamed:  # its text was rewritten by the rename: implied, rows unchanged
            rebuilt.append((okey, nkey))
            continue
        dropped.add(okey)
        deletes.append((rid, before))
        inserts.append((rid, after))
    for rid, before, after in others:
        if after is not None and after[:2] == before[:2]:
            if _same_entry(before, after):
                continue
            if before[2].lower() in altered or (altered and before[0] != "index"):
                continue  # a text the ALTER TABLE rewrote: implied by its row
        if not (before[0] in ("index", "trigger") and before[2].lower() in dropped):
            deletes.append((rid, before))  # (else dropped with its table: implied)
        if after is not None:
            inserts.append((rid, after))
    old_numbers = set(old_ids.values())
    for nkey, after in new_rows.items():
        if new_ids[nkey] not in old_numbers:
            inserts.append((new_ids[nkey], after))
    inserts.sort(key=lambda item: item[0])
    out = []
    want_before, want_after = cfg.want_before, cfg.want_after
    for rid, before in deletes:
        out.append([SCHEMA_TABLE, rid, DELETE, _image(want_before, before), None, None])
    for rid, before, after, statement in updates:
        u = _schema_updates(before, after, statement) if cfg.want_updates else None
        out.append([SCHEMA_TABLE, rid, UPDATE, _image(want_before, before),
                    _image(want_after, after), u])
    for rid, after in inserts:
        out.append([SCHEMA_TABLE, rid, INSERT, None, _image(want_after, after), None])
    handled = []
    for okey, nkey in rebuilt:
        old_t, new_t = db.tables.get(okey), tables.get(nkey)
        if old_t is None or new_t is None or new_t.versions is old_t.versions:
            continue
        handled.append(nkey)
        out.extend(_rebuilt_rows(txn, old_t, new_t, cfg))
    return out, frozenset(handled)


def _replays(old_sql: str, statements: list, new_name: str, new_sql: str) -> bool:
    """Do ``statements`` (ALTER TABLEs) turn CREATE text ``old_sql`` into exactly
    ``new_sql``? Checked by running them in a scratch SQLite database (the oracle:
    our ALTER TABLE edits text as SQLite does). O(text length); DDL commits only."""
    import sqlite3
    scratch = sqlite3.connect(":memory:")
    try:
        scratch.execute(old_sql)
        for statement in statements:
            scratch.execute(statement)
        got = scratch.execute("SELECT sql FROM sqlite_schema WHERE type = 'table' "
                              "AND name = ? COLLATE NOCASE", (new_name,)).fetchone()
    except sqlite3.Error:
        return False
    finally:
        scratch.close()
    return got is not None and got[0] == new_sql


def _schema_rows(catalog, skip) -> tuple[dict, dict]:
    """``({name.lower(): (type, name, tbl_name, rootpage, sql)}, {name.lower(): id})``
    for the recorded objects of ``catalog`` (rootpages numbered as our sqlite_schema
    numbers them; auto-indexes, sqlite_sequence and the CDC tables left out)."""
    rows, ids = {}, {}
    created = catalog.created
    page = 1
    for type_, name, tbl, sql in catalog.entries():
        root = 0
        if type_ in ("table", "index"):
            page += 1
            root = page
        key = name.lower()
        if sql is None or key in skip or tbl.lower() in skip:
            continue
        rows[key] = (type_, name, tbl, root, sql)
        ids[key] = created.get(key, 0)
    return rows, ids


def _same_entry(a, b) -> bool:
    """Equal sqlite_schema rows but for rootpage (ours number positions: a DROP of
    an earlier object renumbers later ones without changing them)."""
    return a[0] == b[0] and a[1] == b[1] and a[2] == b[2] and a[4] == b[4]


def _image(wanted: bool, row):
    return encode_record(row) if wanted and row is not None else None


def _schema_updates(before, after, statement: str) -> bytes:
    """Turso's ``updates`` for a sqlite_schema row: the changed-flags, then the new
    values, with the sql slot holding the DDL statement that made the change (what
    Turso's sync engine executes to replay it), not the new CREATE text."""
    flags, values = [], []
    for i, (b, a) in enumerate(zip(before, after)):
        changed = type(a) is not type(b) or a != b
        flags.append(1 if changed else 0)
        values.append((statement if i == 4 else a) if changed else None)
    return encode_record(flags + values)


def sql_name(name: str) -> str:
    """``name`` as written in a statement: bare when it is a plain identifier."""
    if name.isascii() and name.replace("_", "a").isalnum() and not name[0].isdigit() \
            and name.upper() not in _KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


_KEYWORDS = frozenset((
    "ADD ALL ALTER AND AS AUTOINCREMENT BETWEEN BY CASE CHECK COLLATE COLUMN COMMIT "
    "CONSTRAINT CREATE DEFAULT DEFERRABLE DELETE DISTINCT DROP ELSE ESCAPE EXCEPT EXISTS "
    "FOREIGN FROM GROUP HAVING IN INDEX INSERT INTERSECT INTO IS ISNULL JOIN LIMIT NOT "
    "NOTNULL NULL ON OR ORDER PRIMARY REFERENCES RENAME SELECT SET TABLE THEN TO "
    "TRANSACTION UNION UNIQUE UPDATE USING VALUES WHEN WHERE").split())


def column_map(old_schema, new_schema) -> list:
    """For each column of ``new_schema``, the position of the column it was in
    ``old_schema`` (None for an added one).

    Columns match by name; the unmatched ones pair up in order as renames, and
    the rest were dropped (old) or added (new). This is the net effect of
    RENAME COLUMN / ADD COLUMN / DROP COLUMN, the only column edits ALTER TABLE
    makes (an ADD and a DROP in one transaction read as a rename). O(columns).
    """
    old_pos = {c.name.lower(): i for i, c in enumerate(old_schema.columns)}
    mapping = [old_pos.get(c.name.lower()) for c in new_schema.columns]
    used = set(m for m in mapping if m is not None)
    spare = iter([i for i in range(len(old_schema.columns)) if i not in used])
    for j, m in enumerate(mapping):
        if m is None:
            mapping[j] = next(spare, None)
    return mapping


def alter_statements(old_schema, new_schema) -> list[str]:
    """ALTER TABLE statements taking ``old_schema`` to ``new_schema``: RENAME TO,
    then RENAME COLUMN, DROP COLUMN and ADD COLUMN (the definition's text as the
    new CREATE text has it, as SQLite spliced it in). O(columns + text length)."""
    from engine.sql.alter import TableText
    name = old_schema.name
    out = []
    if new_schema.name != name:
        out.append(f"ALTER TABLE {sql_name(name)} RENAME TO {sql_name(new_schema.name)}")
        name = new_schema.name
    table = sql_name(name)
    mapping = column_map(old_schema, new_schema)
    olds, news = old_schema.columns, new_schema.columns
    for j, i in enumerate(mapping):
        if i is not None and olds[i].name != news[j].name:
            out.append(f"ALTER TABLE {table} RENAME COLUMN {sql_name(olds[i].name)} "
                       f"TO {sql_name(news[j].name)}")
    kept = set(m for m in mapping if m is not None)
    for i, col in enumerate(olds):
        if i not in kept:
            out.append(f"ALTER TABLE {table} DROP COLUMN {sql_name(col.name)}")
    text = None
    for j, i in enumerate(mapping):
        if i is None:
            if text is None:
                text = TableText(new_schema.sql)
            a, b = text.columns[j]
            coldef = new_schema.sql[text.toks[a].start:text.toks[b].start].strip()
            out.append(f"ALTER TABLE {table} ADD COLUMN {coldef}")
    return out


def _rebuilt_rows(txn, old_t, new_t, cfg) -> list:
    """The row changes of a table ALTER TABLE rebuilt (a fresh row store holding
    every row in the write set): its committed rows, put in the new shape
    (``column_map``; an added column holds its DEFAULT), against the rows it
    commits. Rows the ALTER alone reshaped are no change (pyturso records none);
    rows also written by the transaction are updates, inserts or deletes, with
    before images in the new shape (after the schema row in the feed, so a
    consumer decodes both with the same columns). O(n) for the table's n rows."""
    mapping = column_map(old_t.schema, new_t.schema)
    cols = new_t.schema.columns
    added = {}
    for j, i in enumerate(mapping):
        if i is None:
            default = cols[j].default_sql
            value = None
            if default is not None and cols[j].generated_sql is None and \
                    txn.db.compiler is not None:
                value = txn.db.compiler.constant(default)()
            added[j] = value
    generated = {j for j, c in enumerate(cols) if c.generated_sql is not None}
    name = new_t.name
    pk = new_t.schema.primary_key if new_t.without_rowid else None
    writes = txn.writes.get(new_t.name.lower()) or {}
    old_rows = old_t.versions.rows
    want_before, want_after, want_updates = cfg.want_before, cfg.want_after, cfg.want_updates
    out = []

    def reshape(row, new_row):
        return tuple((new_row[j] if j in generated and new_row is not None else
                      added[j] if i is None else row[i]) for j, i in enumerate(mapping))

    keys = list(old_rows.keys())
    keys += [k for k in writes if k not in old_rows]
    for key in keys:
        after = writes.get(key)
        old = old_rows.get(key)
        before = reshape(old, after) if old is not None else None
        if before is None:
            if after is None:
                continue
            kind = INSERT
        elif after is None:
            kind = DELETE
        else:
            if all(type(a) is type(b) and a == b for a, b in zip(before, after)):
                continue
            kind = UPDATE
        rid = key if pk is None else _pk_id(after if after is not None else before, pk)
        out.append([name, rid, kind,
                    encode_record(before) if want_before and before is not None else None,
                    encode_record(after) if want_after and after is not None else None,
                    updates_record(before, after) if want_updates and kind == UPDATE
                    else None])
    return out
