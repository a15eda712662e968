"""Transactions: snapshot reads, a private write set, savepoints.

A transaction reads the committed versions visible at its snapshot timestamp,
overlaid with its own uncommitted writes (``writes[table][key] = row | None``).
Nothing it writes is visible to anyone else until COMMIT installs the write
set in one step (``Database._commit``).

Modes follow SQLite (lang_transaction.html) with WAL-mode semantics:

* DEFERRED: reads from its snapshot; the first write takes the database's write
  lock, and fails with "database is locked" if another commit happened since
  the snapshot was taken (SQLite's SQLITE_BUSY_SNAPSHOT).
* IMMEDIATE / EXCLUSIVE: take the write lock at BEGIN (EXCLUSIVE behaves as
  IMMEDIATE, as in WAL mode: readers are never blocked).
* CONCURRENT: optimistic snapshot isolation. Writes take no lock; COMMIT takes
  the lock briefly and validates first-committer-wins on every written row and
  unique key (``WriteConflictError`` names the table and key).

Savepoints keep an undo log of write-set entries; it is only kept while a
savepoint (or the SQL layer's per-statement mark) is open.
"""

from __future__ import annotations

import heapq
from itertools import count, islice

from sortedcontainers import SortedList

from engine.catalog import parse_create_index, parse_create_table
from engine.catalog.schema import Catalog, SchemaObject
from engine.errors import (
    DatabaseLockedError, IntegrityError, OperationalError, ProgrammingError, unsupported)
from engine.mvcc import TOP, IndexStore, TableVersions
from engine.mvcc.index import has_null
from engine.table import Table
from engine.values import INTEGER, apply_affinity

DEFERRED, IMMEDIATE, EXCLUSIVE, CONCURRENT = "DEFERRED", "IMMEDIATE", "EXCLUSIVE", "CONCURRENT"
MODES = (DEFERRED, IMMEDIATE, EXCLUSIVE, CONCURRENT)
MAX_ROWID = (1 << 63) - 1
SEQUENCE_TABLE = "sqlite_sequence"
SEQUENCE_SQL = "CREATE TABLE sqlite_sequence(name,seq)"

_MISSING = object()
_txn_ids = count(1)


def constraint_error(message: str, action: str) -> IntegrityError:
    """A constraint violation resolved by ``action`` (ABORT, FAIL or ROLLBACK), marked
    for the SQL layer: FAIL keeps the statement's earlier changes, ROLLBACK ends the
    transaction (lang_conflict.html)."""
    exc = IntegrityError(message)
    exc.conflict_action = action
    if action == "FAIL":
        exc._keep_statement = True
    elif action == "ROLLBACK":
        exc._rollback_txn = True
    return exc


_CHECK_ORDERS: dict = {}


def unique_check_order(t: Table) -> list:
    """``t``'s UNIQUE indexes in the order SQLite checks them: newest first, but every
    index declared ON CONFLICT REPLACE after all the others (sqlite3CreateIndex keeps
    REPLACE indexes at the end of the table's list). Cached per index list; O(1)."""
    ixs = t.unique_indexes
    entry = _CHECK_ORDERS.get(id(ixs))
    if entry is not None and entry[0] is ixs:
        return entry[1]
    newest_first = list(reversed(ixs))
    order = [ix for ix in newest_first if ix.schema.conflict != "REPLACE"] + \
        [ix for ix in newest_first if ix.schema.conflict == "REPLACE"]
    if len(_CHECK_ORDERS) > 4096:
        _CHECK_ORDERS.clear()
    _CHECK_ORDERS[id(ixs)] = (ixs, order)
    return order


class Transaction:
    """One transaction against a ``Database`` (see module docstring)."""

    # Immutable defaults live on the class: a transaction is created per
    # autocommit statement, and every attribute store there is on the hot path.
    catalog_changed = False
    holds_lock = False
    active = True
    header_writes = None  # {field: value} of HEADER_FIELDS this transaction set (PRAGMAs)
    cdc = None  # engine.cdc.CaptureConfig: capture this transaction's rows
    read_only = False  # set by a session that refuses writes (mode=ro, query_only)
    _marks: tuple | list = ()  # savepoint marks (name, undo length); a list once used
    _undo: tuple | list = ()   # undo entries while a savepoint is open; a list once used

    def __init__(self, db, mode: str, snapshot_ts: int, catalog: Catalog,
                 tables: dict, timeout: float):
        self.db = db
        self.mode = mode
        self.id = next(_txn_ids)
        self.snapshot_ts = snapshot_ts
        self.catalog = catalog
        self.tables = tables  # name.lower() -> Table, as of this snapshot (+ own DDL)
        self.timeout = timeout
        self.writes: dict[str, dict] = {}
        self.local_index: dict[int, SortedList] = {}  # id(IndexStore) -> own entries
        self.next_rowid: dict[str, int] = {}
        if mode == CONCURRENT:
            self._reserved: dict[str, int] = {}  # last rowid reserved per table

    # -- table resolution --------------------------------------------------------

    def table(self, name: str) -> Table:
        """The Table ``name`` as this transaction sees it; OperationalError if absent."""
        t = self.tables.get(name.lower())
        if t is None:
            raise OperationalError(f"no such table: {name}")
        return t

    def _check_active(self):
        if not self.active:
            raise ProgrammingError("transaction is no longer active")

    # -- reads -------------------------------------------------------------------

    def get(self, table: str, key):
        """The row at ``key`` as this transaction sees it, or None. O(log n)."""
        t = self.tables.get(table.lower())
        if t is None:
            raise OperationalError(f"no such table: {table}")
        w = self.writes.get(t.name.lower())
        if w:
            row = w.get(key, _MISSING)
            if row is not _MISSING:
                return row
        return t.versions.get(key, self.snapshot_ts)

    def scan(self, table: str, lo=None, hi=None, reverse: bool = False):
        """Yield ``(key, row)`` in key order (lo <= key <= hi), own writes included.

        O(log n + k) plus O(w log w) for this transaction's own w writes to the table.
        """
        t = self.table(table)
        base = t.versions.scan(self.snapshot_ts, lo, hi, reverse)
        w = self.writes.get(t.name.lower())
        if not w:
            yield from base
            return
        own = sorted((k for k in w if (lo is None or k >= lo) and (hi is None or k <= hi)),
                     reverse=reverse)
        merged = heapq.merge((k for k, _row in base), own, reverse=reverse)
        last = _MISSING
        get = self.get
        for key in merged:
            if key == last:
                continue
            last = key
            row = get(t.name, key)
            if row is not None:
                yield key, row

    def scan_lists(self, table: str, lo=None, hi=None, reverse: bool = False):
        """``(keys, rows)`` as two parallel lists in key order (lo <= key <= hi) when
        this transaction has not written the table and every version is visible
        (``TableVersions.visible_lists``); else None, and ``scan`` gives the rows.
        Lets a full scan run in C loops (``map``/``filter``), no generator per row."""
        t = self.tables.get(table) or self.table(table)
        if self.writes.get(t.name.lower()):
            return None
        return t.versions.visible_lists(self.snapshot_ts, lo, hi, reverse)

    def index_scan(self, index: str, prefix: tuple = (), lo=None, hi=None,
                   reverse: bool = False):
        """Yield ``(key, row)`` of rows whose index key starts with ``prefix`` and
        whose next key part lies in [lo, hi] (sort keys, see engine.values.sort_key),
        in index order. O(log n + k)."""
        t, ix = self._index(index)
        return self.index_rows(t, ix, prefix, lo, hi, reverse)

    def index_rows(self, t: Table, ix: IndexStore, prefix: tuple = (), lo=None, hi=None,
                   reverse: bool = False):
        """``index_scan`` for a resolved table and index (compiled plans hold both):
        an iterator of ``(key, row)``. An equality probe (a prefix, no range) with few
        matches, no own writes and every version visible (the point-lookup and
        index-join case) is a hash lookup and C loops (``IndexStore.prefix_row_keys``);
        anything else reads in chunks (``_index_rows_chunked``)."""
        if prefix and lo is None and hi is None and not self.writes.get(t.name.lower()):
            rks = ix.prefix_row_keys(prefix)
            if rks is not None:
                versions = t.versions
                rows = list(map(versions.rows.get, rks))
                if not (versions.max_begin > self.snapshot_ts or versions.history
                        or None in rows):
                    return zip(rks, rows) if not reverse else reversed(list(zip(rks, rows)))
        return self._index_rows_chunked(t, ix, prefix, lo, hi, reverse)

    def _index_rows_chunked(self, t: Table, ix: IndexStore, prefix: tuple = (), lo=None,
                            hi=None, reverse: bool = False):
        """``index_rows`` in general.

        Entries are read lazily in chunks (16 entries, then four times more each
        time), so a reader that stops early (LIMIT, EXISTS) pays O(log n + k) for
        the k entries it consumed rather than for the whole range."""
        ts = self.snapshot_ts
        versions = t.versions
        low, high = _bounds(prefix, lo, hi)
        inclusive = (True, True)
        w = self.writes.get(t.name.lower())
        if not w:
            # C-speed reads of entries and rows, each chunk checked afterwards as in
            # TableVersions.scan: a concurrent commit is noticed, never half-seen.
            # After one, the rest of the range is read the checked way below.
            irange = ix.entries.irange
            get_row = versions.rows.get
            size = 16
            while True:
                entries = list(islice(irange(low, high, inclusive, reverse), size))
                rks = [e[-1] for e in entries]
                rows = list(map(get_row, rks))
                if versions.max_begin > ts or versions.history or None in rows:
                    break
                yield from zip(rks, rows)
                if len(entries) < size:
                    return
                if reverse:  # resume strictly after the last entry read
                    high, inclusive = entries[-1], (True, False)
                else:
                    low, inclusive = entries[-1], (False, True)
                size *= 4
        # Copies (taken by C loops): other threads may commit while we iterate.
        sources = [list(ix.entries.irange(low, high, inclusive, reverse))]
        local = self.local_index.get(id(ix))
        if local:
            sources.append(local.irange(low, high, inclusive, reverse))
        seen = set()
        key_of = ix.key_of
        for entry in heapq.merge(*sources, reverse=reverse):
            rk = entry[-1]
            if rk in seen:
                continue
            row = self.get(t.name, rk)
            if row is not None and key_of(row, rk) == entry[:-1]:
                seen.add(rk)
                yield rk, row

    def _index(self, name: str):
        ixs = self.catalog.index(name)
        if ixs is None:
            raise OperationalError(f"no such index: {name}")
        t = self.table(ixs.table)
        for ix in t.indexes:
            if ix.schema.name.lower() == name.lower():
                return t, ix
        raise OperationalError(f"no such index: {name}")

    # -- writes ------------------------------------------------------------------

    def _begin_write(self):
        if not self.active:
            raise ProgrammingError("transaction is no longer active")
        if self.read_only:  # (its session refuses writes: mode=ro, PRAGMA query_only)
            raise OperationalError("attempt to write a readonly database")
        if not self.holds_lock and self.mode != CONCURRENT:
            lock = self.db._write_lock  # WriteLock.acquire, inlined (hot path)
            if lock.owner is not self:
                if not lock.mutex.acquire(True, max(self.timeout, 0.0)):
                    raise DatabaseLockedError()
                lock.owner = self
            self.holds_lock = True
            if self.db.last_ts != self.snapshot_ts:
                # Another transaction committed after our snapshot: SQLite's
                # SQLITE_BUSY_SNAPSHOT. Writing would lose its update.
                self.db._release_write_lock(self)
                raise DatabaseLockedError()

    def insert(self, table: str, row: tuple, rowid=None, conflict: str = "ABORT"):
        """Insert ``row`` (all columns, declared order); return its key, or None if
        ``conflict`` is IGNORE and it conflicted. REPLACE deletes conflicting rows.

        For rowid tables the key is the rowid (the INTEGER PRIMARY KEY value when
        the table has one, else ``rowid`` or a new one). O(log n) per index.
        """
        self._begin_write()
        t = self.tables.get(table) or self.table(table)
        tname = t.key
        if t.without_rowid:
            row = t.prepare(row, None)
            key = t.pk_key(row)
        else:
            if t.alias is not None and row[t.alias] is not None:
                rowid = row[t.alias]
            fresh = rowid is None
            if fresh:
                rowid = self._new_rowid(t)
                if t.schema.autoincrement:
                    rowid = self._autoincrement_rowid(t, rowid)
            else:
                rowid = _as_rowid(rowid)
            if t.alias is not None:
                row = row[:t.alias] + (rowid,) + row[t.alias + 1:]
            row = t.prepare(row, rowid)
            key = rowid
            if fresh:  # larger than every visible rowid: cannot collide
                if t.unique_indexes and not self._unique_ok(t, row, key, conflict):
                    return None
                self._write(t, key, row)
                if t.schema.autoincrement:
                    self._advance_sequence(t, key)
                return key
        if self.get(tname, key) is not None:
            action = conflict or self._key_conflict(t)
            if action == "IGNORE":
                return None
            if action != "REPLACE":
                raise constraint_error(
                    f"UNIQUE constraint failed: {self._key_columns(t)}", action)
            if conflict is None and t.unique_indexes:
                # A declared PRIMARY KEY ... ON CONFLICT REPLACE is resolved after
                # the other UNIQUE constraints (insert.c, "defer IPK REPLACE until last")
                if not self._unique_ok(t, row, key, conflict, occupant=key):
                    return None
                self._write(t, key, None)
                self._write(t, key, row)
                if t.schema.autoincrement:
                    self._advance_sequence(t, key)
                return key
            self._write(t, key, None)
        if t.unique_indexes and not self._unique_ok(t, row, key, conflict):
            return None
        self._write(t, key, row)
        if t.schema.autoincrement:
            self._advance_sequence(t, key)
        return key

    # -- AUTOINCREMENT (autoinc.html) ------------------------------------------------------

    def _sequence_entry(self, name: str):
        """``(key, seq)`` of table ``name``'s sqlite_sequence row, or None. O(tables
        with AUTOINCREMENT): sqlite_sequence has one row per such table."""
        if SEQUENCE_TABLE not in self.tables:
            return None
        lname = name.lower()
        for key, row in self.scan(SEQUENCE_TABLE):
            if isinstance(row[0], str) and row[0].lower() == lname:
                return key, row[1]
        return None

    def _autoincrement_rowid(self, t: Table, rowid: int) -> int:
        """AUTOINCREMENT: never reuse a rowid, so at least one more than the largest
        ever used (sqlite_sequence); "database or disk is full" past the maximum."""
        entry = self._sequence_entry(t.name)
        seq = entry[1] if entry is not None else None
        if type(seq) is int and seq >= rowid:
            if seq >= MAX_ROWID:
                raise OperationalError("database or disk is full")
            rowid = seq + 1
            self.next_rowid[t.name.lower()] = rowid
        return rowid

    def _advance_sequence(self, t: Table, rowid: int) -> None:
        """Record ``rowid`` in sqlite_sequence if it is the largest yet (the row is
        created on the first insert, with max(0, rowid), as SQLite does)."""
        entry = self._sequence_entry(t.name)
        if entry is None:
            self.insert(SEQUENCE_TABLE, (t.name, max(0, rowid)))
        elif type(entry[1]) is not int or rowid > entry[1]:
            self.update(SEQUENCE_TABLE, entry[0], (t.name, rowid))

    def update(self, table: str, key, row: tuple, conflict: str = "ABORT"):
        """Replace the row at ``key`` with ``row``; return its (possibly new) key.

        Changing the rowid / primary key moves the row. Raises if no row at key.
        """
        self._begin_write()
        t = self.table(table)
        tname = t.name.lower()
        if self.get(tname, key) is None:
            raise OperationalError(f"no row {key!r} in {t.name}")
        if t.without_rowid:
            row = t.prepare(row, None)
            new_key = t.pk_key(row)
        else:
            new_key = key
            if t.alias is not None:
                if row[t.alias] is None:
                    raise IntegrityError("datatype mismatch")
                new_key = _as_rowid(row[t.alias])
                row = row[:t.alias] + (new_key,) + row[t.alias + 1:]
            row = t.prepare(row, new_key)
        if new_key != key:
            if self.get(tname, new_key) is not None:
                action = conflict or self._key_conflict(t)
                if action == "IGNORE":
                    return None
                if action != "REPLACE":
                    raise constraint_error(
                        f"UNIQUE constraint failed: {self._key_columns(t)}", action)
                if conflict is None and t.unique_indexes:
                    # as in insert: a declared REPLACE on the key is resolved last
                    if not self._unique_ok(t, row, key, conflict, new_key, occupant=new_key):
                        return None
                    self._write(t, new_key, None)
                    self._write(t, key, None)
                    self._write(t, new_key, row)
                    return new_key
                self._write(t, new_key, None)
        if t.unique_indexes and not self._unique_ok(t, row, key, conflict, new_key):
            return None
        if new_key != key:
            self._write(t, key, None)
        self._write(t, new_key, row)
        return new_key

    def delete(self, table: str, key):
        """Delete the row at ``key``; return the deleted row (None if absent)."""
        self._begin_write()
        t = self.table(table)
        old = self.get(t.name, key)
        if old is not None:
            self._write(t, key, None)
        return old

    def prepared_row(self, table: str, row: tuple, rowid=None):
        """``(key, stored row)`` that ``insert(table, row, rowid)`` would write, with
        affinity applied and NOT NULL / CHECK / STRICT checked; key is None when a
        new rowid would be allocated. Writes nothing (UPSERT looks before it leaps)."""
        t = self.table(table)
        if t.without_rowid:
            row = t.prepare(row, None)
            return t.pk_key(row), row
        if t.alias is not None and row[t.alias] is not None:
            rowid = row[t.alias]
        if rowid is not None:
            rowid = _as_rowid(rowid)
            if t.alias is not None:
                row = row[:t.alias] + (rowid,) + row[t.alias + 1:]
        return rowid, t.prepare(row, rowid)

    def unique_conflict(self, table: str, row: tuple, key, index=None):
        """The key of a visible row other than ``key`` that ``row`` collides with on
        ``index`` (an IndexStore of the table), or on the rowid / PRIMARY KEY when
        ``index`` is None; None if there is none. O(log n)."""
        t = self.table(table)
        if index is None:
            return key if key is not None and self.get(t.name, key) is not None else None
        k = index.key_of(row, key)
        if k is None or has_null(k):
            return None
        for other in self._exact_matches(t, index, k):
            if other != key:
                return other
        return None

    def statement_changes(self) -> list:
        """``[(table name, key, row before, row now)]`` for every row written since the
        newest savepoint mark (the SQL layer's per-statement one), rows unchanged
        overall left out. The first undo entry of a key holds its before-image. O(writes)."""
        if not self._marks:
            return []
        before = {}
        for entry in self._undo[self._marks[-1][1]:]:
            t = entry[0]
            if isinstance(t, str):
                continue
            ident = (t.name.lower(), entry[1])
            if ident not in before:
                prev = entry[2]
                if prev is _MISSING:
                    prev = t.versions.get(entry[1], self.snapshot_ts)
                before[ident] = (t.name, entry[1], prev)
        out = []
        for name, key, old in before.values():
            if name.lower() not in self.tables:
                continue
            now = self.get(name, key)
            if now != old:
                out.append((name, key, old, now))
        return out

    def _write(self, t: Table, key, row) -> None:
        """Record ``row`` (None = delete) for ``key`` in the write set. O(1)."""
        tname = t.key
        w = self.writes.get(tname)
        if w is None:
            w = self.writes[tname] = {}
        prev = w.get(key, _MISSING)
        if self._marks:
            self._undo.append((t, key, prev))
        if t.indexes:
            self._local_index_update(t, key, None if prev is _MISSING else prev, row)
        w[key] = row
        nxt = self.next_rowid.get(tname)
        if nxt is not None and not t.without_rowid:
            # Keep the next-rowid cache equal to max(visible rowid) + 1.
            if row is not None:
                if key >= nxt:
                    self.next_rowid[tname] = key + 1
                elif nxt == 1 and key < 0:
                    # 1 is also an empty table's first rowid, where a negative key
                    # becomes the max: recompute on the next allocation.
                    del self.next_rowid[tname]
            elif key == nxt - 1:
                del self.next_rowid[tname]

    def _local_index_update(self, t: Table, key, old, new) -> None:
        local_index = self.local_index
        for ix in t.indexes:
            local = local_index.get(id(ix))
            if local is None:
                local = local_index[id(ix)] = SortedList()
            if old is not None:
                k = ix.key_of(old, key)
                if k is not None:
                    local.discard(k + (key,))
            if new is not None:
                k = ix.key_of(new, key)
                if k is not None:
                    local.add(k + (key,))

    def _unique_ok(self, t: Table, row, key, conflict, new_key=None, occupant=None) -> bool:
        """Check every UNIQUE index for ``row``; apply IGNORE/REPLACE; raise otherwise.

        ``conflict`` is the statement's OR clause; None lets each index use its own
        ON CONFLICT clause (ABORT when it has none), as lang_conflict says.
        ``occupant``: the key of a row still holding the new key, to be replaced after
        these checks; it conflicts like any other row.
        """
        own = key if new_key is None else new_key
        for ix in unique_check_order(t):
            k = ix.key_of(row, own)
            if k is None or has_null(k):
                continue
            for other in self._exact_matches(t, ix, k):
                if (other == key or other == own) and other != occupant:
                    continue
                action = conflict or ix.schema.conflict or "ABORT"
                if action == "IGNORE":
                    return False
                if action == "REPLACE":
                    self._write(t, other, None)
                    continue
                cols = ", ".join(f"{t.name}.{t.schema.columns[p.column].name}"
                                 if p.column is not None else f"{t.name}.<expr>"
                                 for p in ix.schema.columns)
                raise constraint_error(f"UNIQUE constraint failed: {cols}", action)
        return True

    @staticmethod
    def _key_conflict(t: Table) -> str:
        """The declared resolution of a rowid / WITHOUT ROWID key collision: the
        PRIMARY KEY's ON CONFLICT clause when the key is the primary key (an INTEGER
        PRIMARY KEY or a WITHOUT ROWID table's), else ABORT (insert.c keyConf)."""
        s = t.schema
        if s.rowid_alias is not None or s.without_rowid:
            return s.pk_conflict or "ABORT"
        return "ABORT"

    def _exact_matches(self, t: Table, ix: IndexStore, k: tuple):
        """Keys of rows visible to this transaction whose ``ix`` key equals ``k``."""
        cands = set(ix.contains_key(k))
        local = self.local_index.get(id(ix))
        if local:
            cands.update(e[-1] for e in local.irange(k, k + (TOP,)))
        out = []
        for rk in cands:
            row = self.get(t.name, rk)
            if row is not None and ix.key_of(row, rk) == k:
                out.append(rk)
        return out

    def _key_columns(self, t: Table) -> str:
        s = t.schema
        if s.without_rowid:
            return ", ".join(f"{t.name}.{s.columns[i].name}" for i in s.primary_key)
        if s.rowid_alias is not None:
            return f"{t.name}.{s.columns[s.rowid_alias].name}"
        return f"{t.name}.rowid"

    def _new_rowid(self, t: Table) -> int:
        """SQLite's choice: one more than the largest rowid this transaction sees
        (own inserts and deletes included).

        O(1) from ``next_rowid``, which ``_write`` keeps current; rebuilding it
        after a delete of the top row costs O(log n + w). Allocation alone does
        not advance it, so a failed insert consumes no rowid (as in SQLite).
        """
        tname = t.key
        nxt = self.next_rowid.get(tname)
        if nxt is None:
            # an empty table starts at 1; otherwise max + 1, even when that is <= 0
            w = self.writes.get(tname) or {}
            top = t.versions._top  # max_key(), inlined for its cached case (hot path)
            if top is None:
                top = t.versions.max_key()
            if top is not None and w.get(top, _MISSING) is None:
                top = None
                for k in reversed(t.versions.rows.keys()):
                    if w.get(k, _MISSING) is not None:  # skip rows this txn deleted
                        top = k
                        break
            if w:
                own = max((k for k, v in w.items() if v is not None), default=None)
                if own is not None and (top is None or own > top):
                    top = own
            nxt = 1 if top is None else top + 1
        if self.mode == CONCURRENT:
            nxt = self._reserve_rowid(t, nxt)
        self.next_rowid[tname] = nxt
        if nxt > MAX_ROWID:
            raise OperationalError("database or disk is full")
        return nxt

    def _reserve_rowid(self, t: Table, nxt: int) -> int:
        """BEGIN CONCURRENT: a rowid >= ``nxt`` no other live transaction was handed.

        Reservations only grow, so each is unique; the one this transaction holds
        but has not used yet (its insert failed) is handed out again. O(1).
        """
        tname = t.name.lower()
        versions = t.versions
        with self.db._state_lock:
            if nxt <= versions.reserved_key and nxt != self._reserved.get(tname):
                nxt = versions.reserved_key + 1
            if nxt > versions.reserved_key:
                versions.reserved_key = nxt
        self._reserved[tname] = nxt
        return nxt

    # -- DDL -----------------------------------------------------------------------

    def _begin_ddl(self):
        if self.mode == CONCURRENT:
            raise unsupported("schema changes inside BEGIN CONCURRENT")
        self._begin_write()

    def _set_catalog(self, catalog: Catalog, tables: dict) -> None:
        if self._marks:
            self._undo.append(("catalog", self.catalog, self.tables))
        self.catalog = catalog
        self.tables = tables
        self.catalog_changed = True

    def create_table(self, sql: str, if_not_exists: bool = False) -> Table | None:
        """Execute CREATE TABLE text ``sql`` in this transaction."""
        self._begin_ddl()
        schema = parse_create_table(sql)
        if schema.name.lower().startswith("sqlite_"):
            raise OperationalError(f"object name reserved for internal use: {schema.name}")
        taken = self.catalog.name_taken(schema.name)
        if taken:
            if if_not_exists:
                return None
            if taken == "index":
                raise OperationalError(f"there is already an index named {schema.name}")
            raise OperationalError(f"{taken} {schema.name} already exists")
        t = Table(schema, compiler=self.db.compiler)
        tables = dict(self.tables)
        tables[schema.name.lower()] = t
        cat_tables = dict(self.catalog.tables)
        cat_tables[schema.name.lower()] = schema
        if schema.autoincrement and SEQUENCE_TABLE not in tables:
            # SQLite creates sqlite_sequence with the first AUTOINCREMENT table.
            seq = parse_create_table(SEQUENCE_SQL)
            tables[SEQUENCE_TABLE] = Table(seq, compiler=self.db.compiler)
            cat_tables[SEQUENCE_TABLE] = seq
        indexes = dict(self.catalog.indexes)
        for ix in t.indexes:
            indexes[ix.schema.name.lower()] = ix.schema
        self._set_catalog(self.catalog.evolve(tables=cat_tables, indexes=indexes), tables)
        return t

    def drop_table(self, name: str, if_exists: bool = False) -> None:
        self._begin_ddl()
        t = self.tables.get(name.lower())
        if t is None:
            if if_exists:
                return
            raise OperationalError(f"no such table: {name}")
        if t.name.lower().startswith("sqlite_"):
            raise OperationalError(f"table {t.name} may not be dropped")
        for key, _row in list(self.scan(t.name)):
            self._write(t, key, None)
        if t.schema.autoincrement:
            entry = self._sequence_entry(t.name)
            if entry is not None:
                self.delete(SEQUENCE_TABLE, entry[0])
        tables = dict(self.tables)
        del tables[t.name.lower()]
        cat_tables = dict(self.catalog.tables)
        del cat_tables[t.name.lower()]
        indexes = {k: v for k, v in self.catalog.indexes.items()
                   if v.table.lower() != t.name.lower()}
        others = {k: v for k, v in self.catalog.others.items()
                  if not (v.type == "trigger" and v.table.lower() == t.name.lower())}
        self._set_catalog(self.catalog.evolve(tables=cat_tables, indexes=indexes,
                                              others=others), tables)

    def create_index(self, sql: str, if_not_exists: bool = False, part_fns=None,
                     where_fn=None) -> None:
        """Execute CREATE INDEX text ``sql``: builds the index over visible rows."""
        self._begin_ddl()
        schema = parse_create_index(sql, lambda n: self.catalog.table(n))
        taken = self.catalog.name_taken(schema.name)
        if taken:
            if if_not_exists:
                return
            if taken != "index":  # SQLite's wording for a table or view of that name
                raise OperationalError(f"there is already a table named {schema.name}")
            raise OperationalError(f"{taken} {schema.name} already exists")
        if (any(p.column is None for p in schema.columns) or schema.where_sql) \
                and self.db.compiler is None and part_fns is None:
            raise unsupported("expression and partial indexes need the SQL layer's compiler")
        if self.db.compiler is not None and part_fns is None:
            part_fns = [None if p.column is not None else
                        self.db.compiler.row_function(p.expr_sql, self.catalog.table(schema.table))
                        for p in schema.columns]
            if schema.where_sql:
                where_fn = self.db.compiler.row_function(schema.where_sql,
                                                         self.catalog.table(schema.table))
        old = self.table(schema.table)
        ix = IndexStore(schema, part_fns, where_fn)
        new_t = Table(old.schema, old.versions, old.indexes + [ix], self.db.compiler)
        if ix.schema.unique:
            self._check_unique_build(new_t, ix)
        self._build_index(new_t, ix)
        tables = dict(self.tables)
        tables[old.name.lower()] = new_t
        indexes = dict(self.catalog.indexes)
        indexes[schema.name.lower()] = schema
        self._set_catalog(self.catalog.evolve(indexes=indexes), tables)

    def _build_index(self, t: Table, ix: IndexStore) -> None:
        """Fill a new index: entries for the latest committed rows, plus local
        entries for this transaction's own writes. O(n log n).

        Latest versions suffice: we hold the write lock, and only snapshots taken
        after our commit can see the index.
        """
        key_of = ix.key_of
        pairs = []
        for key, row in t.versions.rows.items():
            k = key_of(row, key)
            if k is not None:
                pairs.append((k, key))
        ix.bulk_load(pairs)
        own = self.writes.get(t.name.lower())
        if own:
            local = self.local_index[id(ix)] = SortedList()
            for key, row in own.items():
                k = key_of(row, key) if row is not None else None
                if k is not None:
                    local.add(k + (key,))

    def _check_unique_build(self, t: Table, ix: IndexStore) -> None:
        seen = {}
        for key, row in self.scan(t.name):
            k = ix.key_of(row, key)
            if k is None or has_null(k):
                continue
            if k in seen:
                cols = ", ".join(f"{t.name}.{t.schema.columns[p.column].name}"
                                 if p.column is not None else f"{t.name}.<expr>"
                                 for p in ix.schema.columns)
                raise IntegrityError(f"UNIQUE constraint failed: {cols}")
            seen[k] = key

    def drop_index(self, name: str, if_exists: bool = False) -> None:
        self._begin_ddl()
        schema = self.catalog.index(name)
        if schema is None:
            if if_exists:
                return
            raise OperationalError(f"no such index: {name}")
        if schema.origin != "c":
            raise OperationalError(
                "index associated with UNIQUE or PRIMARY KEY constraint cannot be dropped")
        old = self.table(schema.table)
        keep = [ix for ix in old.indexes if ix.schema.name.lower() != name.lower()]
        tables = dict(self.tables)
        tables[old.name.lower()] = Table(old.schema, old.versions, keep, self.db.compiler)
        indexes = dict(self.catalog.indexes)
        del indexes[name.lower()]
        self._set_catalog(self.catalog.evolve(indexes=indexes), tables)

    def create_object(self, type_: str, name: str, table: str, sql: str,
                      if_not_exists: bool = False) -> bool:
        """Record a view or trigger (interpreted by the SQL layer). False if skipped."""
        self._begin_ddl()
        taken = self.catalog.name_taken(name)
        if taken:
            if if_not_exists:
                return False
            raise OperationalError(f"{taken} {name} already exists")
        others = dict(self.catalog.others)
        others[name.lower()] = SchemaObject(type_, name, table, sql)
        self._set_catalog(self.catalog.evolve(others=others), self.tables)
        return True

    def drop_object(self, type_: str, name: str, if_exists: bool = False) -> None:
        self._begin_ddl()
        obj = self.catalog.others.get(name.lower())
        if obj is None or obj.type != type_:
            if if_exists:
                return
            raise OperationalError(f"no such {type_}: {name}")
        others = dict(self.catalog.others)
        del others[name.lower()]
        self._set_catalog(self.catalog.evolve(others=others), self.tables)

    def set_header(self, field: str, value: int) -> None:
        """PRAGMA user_version / application_id = value (a field of the SQLite file
        header, ``HEADER_FIELDS``): a write, committed (and logged) with the rest."""
        self._begin_write()
        writes = self.header_writes
        if self._marks:
            self._undo.append(("header", None if writes is None else dict(writes)))
        self.header_writes = {**(writes or {}), field: value}

    def get_header(self, field: str) -> int:
        """PRAGMA user_version / application_id as this transaction sees it."""
        writes = self.header_writes
        if writes is not None and field in writes:
            return writes[field]
        return getattr(self.db, field)

    # -- ALTER TABLE (text edits: engine.sql.alter) --------------------------------------

    def _alter_target(self, name: str) -> Table:
        self._begin_ddl()
        t = self.tables.get(name.lower())
        if t is None:
            raise OperationalError(f"no such table: {name}")
        if t.name.lower().startswith("sqlite_"):
            raise OperationalError(f"table {t.name} may not be altered")
        return t

    def rename_table(self, old: str, new: str) -> None:
        """ALTER TABLE old RENAME TO new: the table, its indexes, and every reference
        in other tables, triggers and views are renamed (SQLite quotes the new name).

        The table's rows move to a new store under the new name: O(n log n).
        """
        from engine.sql.alter import rename_table_texts
        t = self._alter_target(old)
        if self.catalog.name_taken(new):
            raise OperationalError(
                f"there is already another table or index with this name: {new}")
        if new.lower().startswith("sqlite_"):
            raise OperationalError(f"object name reserved for internal use: {new}")
        texts = rename_table_texts(self.catalog, t.name, new)
        entry = self._sequence_entry(t.name) if t.schema.autoincrement else None
        self._alter(t, texts.pop(t.name.lower()), texts, new_name=new)
        if entry is not None:
            self.update(SEQUENCE_TABLE, entry[0], (new, entry[1]))

    def rename_column(self, table: str, old: str, new: str, new_quoted: bool = False) -> None:
        """ALTER TABLE table RENAME COLUMN old TO new (rows unchanged, texts edited)."""
        from engine.sql.alter import rename_column_texts
        t = self._alter_target(table)
        if t.schema.column(old) is None:
            raise OperationalError(f'no such column: "{old}"')
        texts = rename_column_texts(self.catalog, t.name, old, new, new_quoted)
        table_sql = texts.pop(t.name.lower())
        try:
            parse_create_table(table_sql)
        except OperationalError as exc:
            raise OperationalError(f"error in table {t.name} after rename: {exc}") from None
        self._alter(t, table_sql, texts)

    def add_column(self, table: str, coldef: str) -> None:
        """ALTER TABLE table ADD COLUMN coldef, with SQLite's restrictions
        (sqlite3AlterFinishAddColumn); existing rows get the DEFAULT value. O(n log n)."""
        from engine.sql.alter import add_column_text, constant_default
        t = self._alter_target(table)
        probe = parse_create_table(f"CREATE TABLE x({coldef})")
        col = probe.columns[0]
        if t.schema.column(col.name) is not None:
            raise OperationalError(f"duplicate column name: {col.name}")
        if col.primary_key:
            raise OperationalError("Cannot add a PRIMARY KEY column")
        if probe.unique_sets:
            raise OperationalError("Cannot add a UNIQUE column")
        default = col.default_sql
        if col.generated_sql is None:
            if default is not None and default.strip("() ").upper() == "NULL":
                default = None
            if col.not_null and default is None:
                raise OperationalError("Cannot add a NOT NULL column with default value NULL")
            if not constant_default(default):
                raise OperationalError("Cannot add a column with non-constant default")
        elif col.generated_stored:
            raise OperationalError("cannot add a STORED column")
        table_sql = add_column_text(t.schema.sql, coldef)
        value = None
        if default is not None and col.generated_sql is None:
            value = self.db.compiler.constant(default)()
        self._alter(t, table_sql, {}, row_map=("add", value))

    def drop_column(self, table: str, column: str) -> None:
        """ALTER TABLE table DROP COLUMN column (alter.c sqlite3AlterDropColumn's checks;
        indexes, CHECKs and generated columns must not use it). O(n log n)."""
        from engine.sql.alter import drop_column_text
        t = self._alter_target(table)
        s = t.schema
        pos = s.column(column)
        if pos is None:
            raise OperationalError(f'no such column: "{column}"')
        name = s.columns[pos].name
        if s.columns[pos].primary_key or pos in s.primary_key:
            raise OperationalError(f'cannot drop PRIMARY KEY column: "{name}"')
        if any(pos in cols for cols, _c in s.unique_sets):
            raise OperationalError(f'cannot drop UNIQUE column: "{name}"')
        if len(s.columns) == 1:
            raise OperationalError(f'cannot drop column "{name}": no other columns exist')
        table_sql = drop_column_text(s.sql, pos)
        self._alter(t, table_sql, {}, row_map=("drop", pos), what="drop column")

    def _alter(self, t: Table, table_sql: str, texts: dict, new_name: str | None = None,
               row_map=None, what: str = "rename") -> None:
        """Install the edited schema: ``t`` rebuilt from ``table_sql`` (renamed to
        ``new_name``, rows passed through ``row_map``), every other table whose text
        is in ``texts`` rebuilt likewise, triggers/views given their new texts.

        A table whose CREATE text changes gets a fresh row store holding all its rows
        in this transaction's write set; recovery does the same (a changed text means
        the frame carries every row), so no rename bookkeeping is logged.
        """
        rebuilt = [self._rebuilt_table(t, table_sql, texts, new_name, row_map, what)]
        for key in [k for k in texts if k in self.tables]:
            other = self.tables[key]
            rebuilt.append(self._rebuilt_table(other, texts.pop(key), texts, None, None, what))
        tables, cat_tables = dict(self.tables), dict(self.catalog.tables)
        indexes, others = dict(self.catalog.indexes), dict(self.catalog.others)
        created = dict(self.catalog.created)
        for old_t, new_t, rows in rebuilt:
            old_key, new_key = old_t.name.lower(), new_t.name.lower()
            for ix in old_t.indexes:
                indexes.pop(ix.schema.name.lower(), None)
            del tables[old_key], cat_tables[old_key]
            tables[new_key] = new_t
            cat_tables[new_key] = new_t.schema
            if old_key != new_key:
                created[new_key] = created.pop(old_key)
                for a, b in zip(old_t.indexes, new_t.indexes):
                    if a.schema.sql is None:
                        created[b.schema.name.lower()] = created.pop(a.schema.name.lower())
            for ix in new_t.indexes:
                indexes[ix.schema.name.lower()] = ix.schema
            self._replace_writes(old_t, new_t, rows)
        for key, sql in texts.items():
            obj = others[key]
            tbl = obj.table
            if new_name is not None and tbl.lower() == t.name.lower():
                tbl = new_name
            others[key] = SchemaObject(obj.type, obj.name, tbl, sql)
        if new_name is not None:
            for key, obj in list(others.items()):
                if obj.type == "trigger" and obj.table.lower() == t.name.lower():
                    others[key] = SchemaObject(obj.type, obj.name, new_name, obj.sql)
        catalog = Catalog(cat_tables, indexes, others, self.catalog.version + 1, created)
        self._set_catalog(catalog, tables)

    def _rebuilt_table(self, t: Table, table_sql: str, texts: dict, new_name, row_map, what):
        """``(t, new Table, [(key, row)])``: ``t`` as ``table_sql`` declares it, its
        explicit indexes re-parsed (texts from ``texts`` when edited) and its
        visible rows mapped. O(n)."""
        try:
            schema = parse_create_table(table_sql)
            for fk in schema.foreign_keys:
                for col in fk.columns:
                    if schema.column(col) is None:
                        raise OperationalError(
                            f'unknown column "{col}" in foreign key definition')
            new = Table(schema, TableVersions(), None, self.db.compiler)
        except OperationalError as exc:
            raise OperationalError(f"error in table {t.name} after {what}: {exc}") from None
        stores = list(new.indexes)
        for ixs in self.catalog.indexes_of(t.name):
            if ixs.sql is None:
                continue
            sql = texts.pop(ixs.name.lower(), ixs.sql)
            try:
                ix_schema = parse_create_index(sql, lambda n: schema if n.lower() in (
                    schema.name.lower(), t.name.lower()) else self.catalog.table(n))
                part_fns, where_fn = self.db._compile_index(ix_schema, schema)
            except OperationalError as exc:
                raise OperationalError(
                    f"error in index {ixs.name} after {what}: {exc}") from None
            stores.append(IndexStore(ix_schema, part_fns, where_fn))
        new = Table(schema, new.versions, stores, self.db.compiler)
        rows = list(self.scan(t.name))
        if row_map is not None:
            rows = self._map_rows(new, rows, row_map)
        return t, new, rows

    def _map_rows(self, new: Table, rows: list, row_map) -> list:
        """ADD COLUMN appends the default (affinity, CHECK, NOT NULL and STRICT checked
        as SQLite's post-ADD quick_check reports them); DROP COLUMN removes one."""
        op, arg = row_map
        if op == "drop":
            return [(k, r[:arg] + r[arg + 1:]) for k, r in rows]
        out = []
        for key, row in rows:
            try:
                out.append((key, new.prepare(row + (arg,), None if new.without_rowid else key)))
            except IntegrityError as exc:
                msg = str(exc)
                if msg.startswith("CHECK"):
                    msg = "CHECK constraint failed"
                elif msg.startswith("NOT NULL"):
                    msg = "NOT NULL constraint failed"
                else:
                    msg = "type mismatch on DEFAULT"
                raise OperationalError(msg) from None
        return out

    def _replace_writes(self, old_t: Table, new_t: Table, rows: list) -> None:
        """Make ``rows`` the whole write set of ``new_t`` (its store starts empty);
        the old name's writes are dropped. Undone as a unit by ROLLBACK TO."""
        old_key, new_key = old_t.name.lower(), new_t.name.lower()
        for key in {old_key, new_key}:
            if self._marks:
                self._undo.append(("writes", key, self.writes.get(key)))
            self.writes[key] = {}
            self.next_rowid.pop(key, None)
        self.writes[new_key] = dict(rows)
        for ix in new_t.indexes:
            key_of = ix.key_of
            local = self.local_index[id(ix)] = SortedList()
            for key, row in rows:
                k = key_of(row, key)
                if k is not None:
                    local.add(k + (key,))

    # -- savepoints ------------------------------------------------------------------

    def statement_mark(self) -> int:
        """Open an anonymous savepoint for one statement; returns its mark. O(1).

        The SQL layer's statement atomicity: ``statement_undo(mark)`` undoes the
        statement's writes, ``statement_done(mark)`` keeps them.
        """
        return self._push_mark(None)

    def _push_mark(self, name) -> int:
        """Open a mark (the lists are created by the first one); returns its index."""
        marks = self._marks
        if not marks:
            if type(marks) is tuple:
                self._marks = marks = []
                self._undo = []
        marks.append((name, len(self._undo)))
        return len(marks) - 1

    def statement_done(self, mark: int) -> None:
        del self._marks[mark:]
        if not self._marks:
            self._undo.clear()

    def statement_undo(self, mark: int) -> None:
        self._undo_to(self._marks[mark][1])
        del self._marks[mark:]
        if not self._marks:
            self._undo.clear()

    def savepoint(self, name: str) -> None:
        """Open a savepoint: later writes can be undone with ``rollback_to(name)``."""
        self._check_active()
        self._push_mark(name.lower())

    def _find_mark(self, name: str) -> int:
        lname = name.lower()
        for i in range(len(self._marks) - 1, -1, -1):
            if self._marks[i][0] == lname:
                return i
        raise OperationalError(f"no such savepoint: {name}")

    def release(self, name: str) -> None:
        """RELEASE: forget the savepoint and every one opened after it (writes stay)."""
        i = self._find_mark(name)
        del self._marks[i:]
        if not self._marks:
            self._undo.clear()

    def rollback_to(self, name: str) -> None:
        """ROLLBACK TO: undo writes made since the savepoint; the savepoint stays open."""
        i = self._find_mark(name)
        mark = self._marks[i][1]
        del self._marks[i + 1:]
        self._undo_to(mark)

    def _undo_to(self, mark: int) -> None:
        """Undo the write-set changes logged after position ``mark`` of the undo log."""
        undo = self._undo
        while len(undo) > mark:
            entry = undo.pop()
            if entry[0] == "catalog":
                _, self.catalog, self.tables = entry
                continue
            if entry[0] == "header":
                self.header_writes = entry[1]
                continue
            if entry[0] == "writes":
                _, key, saved = entry
                if saved is None:
                    self.writes.pop(key, None)
                else:
                    self.writes[key] = saved
                continue
            t, key, prev = entry
            w = self.writes[t.name.lower()]
            cur = w.get(key, _MISSING)
            if t.indexes:
                self._local_index_update(t, key, None if cur is _MISSING else cur,
                                         None if prev is _MISSING else prev)
            if prev is _MISSING:
                w.pop(key, None)
            else:
                w[key] = prev
        self.next_rowid.clear()

    # -- end -------------------------------------------------------------------------

    def commit(self):
        """Commit; returns the ChangeSet (None for a read-only transaction)."""
        if not self.active:
            raise ProgrammingError("transaction is no longer active")
        return self.db._commit(self)

    def rollback(self) -> None:
        """Discard every write and end the transaction. Idempotent."""
        if self.active:
            self.db._end(self)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.rollback()
        return False


def _as_rowid(value) -> int:
    """A rowid value as SQLite accepts it: integers, and reals/text that are integers."""
    if type(value) is int:
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 63:
        return int(value)
    if isinstance(value, str):
        v = apply_affinity(value, INTEGER)
        if type(v) is int:
            return v
    raise IntegrityError("datatype mismatch")


def _bounds(prefix, lo, hi):
    # ``prefix`` itself sorts before every longer entry starting with it: no sentinel
    # (whose comparisons are Python calls) is needed below.
    low = prefix if lo is None else prefix + (lo,)
    high = prefix + ((TOP,) if hi is None else (hi, TOP))
    return low, high


