"""The database: snapshots, the commit pipeline, durability, recovery.

Commit pipeline (one path for every write transaction)::

    validate -> commit ts -> one log frame -> install versions
      -> change set to in-commit observers (atomic with the commit)
      -> release the write lock -> wait until durable (group commit)
      -> change set to after-commit observers, in commit order

Versions are installed before the frame is fsynced ("early lock release",
DeWitt et al. 1984; Johnson et al., Aether, VLDB 2010): another transaction may
read the commit before it is durable, but it can only acknowledge its own
commit after an fsync that covers every earlier frame, since the log is
sequential. An fsync failure poisons the log and the database (PostgreSQL's
"fsyncgate" lesson: the page cache's state is unknown, so nothing is retried).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque

from engine.catalog import parse_create_index, parse_create_table
from engine.catalog.schema import Catalog, SchemaObject
from engine.cdc import capture as capture_changes, guard_sequence, registered_tables
from engine.cdc.capture import replay_capture
from engine.cdc.feed import CAPTURE_RECORD
from engine.changes import ChangeSet
from engine.errors import (
    DatabaseError, DatabaseLockedError, OperationalError, ProgrammingError, WriteConflictError)
from engine.locks import WriteLock
from engine.mvcc import IndexStore, TableVersions
from engine.storage import (
    SYNC_FULL, SYNC_NORMAL, SYNC_OFF, CommitLog, CorruptLogError, FileSystem, LockHeldError,
    OsFileSystem)
from engine.storage.checkpoint import HEADER_FIELDS, build_image, load_image
from engine.storage.commit_record import decode_commit, encode_commit, encode_one_table
from engine.table import Table
from engine.transaction import CONCURRENT, DEFERRED, MODES, Transaction

log = logging.getLogger("turso_stream.engine")

MEMORY = ":memory:"
# The name of the commit record's pseudo-table entry carrying database settings
# (the HEADER_FIELDS' PRAGMAs); no table can have it (NUL is not valid in SQL names).
META_RECORD = "\x00meta"
DEFAULT_CHECKPOINT_BYTES = 16 << 20
_now = time.time


class Database:
    """One open database (a file, or ``:memory:``). Thread-safe.

    Every connection of a process to the same file shares one Database; another
    process opening the file for writing gets an error (lock file ``<db>-lock``).
    """

    # Whether _commit may take its simple path (tests turn it off to compare paths).
    simple_commits = True

    def __init__(self, path: str = MEMORY, *, fs: FileSystem | None = None,
                 synchronous: int = SYNC_FULL, compiler=None,
                 checkpoint_bytes: int = DEFAULT_CHECKPOINT_BYTES):
        self.path = path
        self.in_memory = path in (MEMORY, "")
        self.fs = fs if fs is not None else OsFileSystem()
        self.synchronous = synchronous
        self.compiler = compiler
        self.checkpoint_bytes = checkpoint_bytes
        self.catalog = Catalog()
        self.tables: dict[str, Table] = {}
        self.user_version = 0  # PRAGMA user_version: logged, checkpointed in the header
        self.application_id = 0  # PRAGMA application_id: the same (HEADER_FIELDS)
        self.last_ts = 0
        self.commit_hooks: list = []   # run inside the commit, under the write lock
        self.durable_hooks: list = []  # run after durability, lock released, in commit order
        self._watch_cache: tuple = (-1, {})  # watches_table's answers (hook count, {key: bool})
        self._write_lock = WriteLock()
        # Guards the snapshot registry and the publication of commits: a commit installs
        # its versions and advances last_ts while holding it, so a transaction that
        # begins concurrently sees either none or all of the commit. Reentrant so that
        # in-commit observers may start read transactions (at the previous snapshot).
        self._state_lock = threading.RLock()
        # Live snapshots: ts -> number of transactions reading at it. The oldest is
        # only needed by garbage collection (rare), so a dict beats a sorted list.
        self._active: dict[int, int] = {}
        self._active_count = 0
        self._gc_queue: deque = deque()
        self._delivered_ts = 0
        # The commit whose after-commit hooks are running (durable, every earlier
        # one delivered): a hook reading the CDC feed sees its own commit.
        self._delivering_ts = 0
        self._delivery = threading.Condition(threading.Lock())
        self._lock_file = None
        self._log: CommitLog | None = None
        self._image_size = 0
        self._poison: BaseException | None = None
        self.closed = False
        # CDC tables (lower-case names; engine.cdc): a commit writing one keeps its
        # change_id high-water mark. Replaced, never mutated (read without a lock).
        self.cdc_tables: frozenset = frozenset()
        if not self.in_memory:
            self._open_files()
            self.cdc_tables = registered_tables(self.tables)

    # -- open / recovery ---------------------------------------------------------------

    def _open_files(self) -> None:
        path = os.path.abspath(self.path)
        self.path = path
        try:
            self._lock_file = self.fs.lock_exclusive(path + "-lock")
        except LockHeldError:
            raise OperationalError(
                f"database is locked: {self.path} is open for writing in another process") from None
        try:
            self._recover()
        except BaseException:
            self._lock_file.release()
            raise

    def _recover(self) -> None:
        """Load the checkpoint file, then replay the log frames committed after it."""
        fs, path = self.fs, self.path
        ckpt_ts = 0
        if fs.exists(path):
            f = fs.open(path, create=False)
            try:
                data = f.read_all()
            finally:
                f.close()
            if data:
                self._image_size = len(data)
                header = {}
                entries, rows, ckpt_ts = load_image(data, header)
                for field in HEADER_FIELDS:
                    setattr(self, field, header[field])
                self._install_schema(entries, [])
                for name, pairs in rows.items():
                    t = self.tables[name]
                    if t.without_rowid:
                        t.versions.bulk_load((t.pk_key(r), r) for _k, r in pairs)
                    else:
                        t.versions.bulk_load(pairs)
        try:
            self._log, frames = CommitLog.open(fs, path + "-log", self.synchronous)
        except CorruptLogError as exc:
            raise DatabaseError(f"database disk image is malformed: {exc}") from None
        last = ckpt_ts
        for payload in frames:
            ts, wall_time, schema, tables = decode_commit(payload)
            if ts <= ckpt_ts:
                continue
            if schema is not None:
                self._install_schema(*schema)
            self._replay(ts, wall_time, tables)
            last = ts
        self.last_ts = self._delivered_ts = last
        for t in self.tables.values():
            for ix in t.indexes:
                ix.entries.clear()
                t.rebuild_index(ix)

    def _replay(self, ts: int, wall_time: float, tables: list) -> None:
        """Install one logged commit's writes (recovery). A deferred capture's marker
        (``engine.cdc.feed``) becomes the same pending segments the commit queued: its
        changes are the frame's writes against the state before them. O(w log n)."""
        marker = None
        if tables and tables[-1][0] == CAPTURE_RECORD:
            marker = tables.pop()[1][0]
        changes = {}
        for name, ops in tables:
            if name == META_RECORD:
                for field, value in ops:
                    if field in HEADER_FIELDS:
                        setattr(self, field, value)
                continue
            t = self.tables[name.lower()]
            install = t.versions.install
            done = changes[t.key] = [] if marker is not None else None
            for key, row in ops:
                if t.without_rowid:
                    key = t.pk_key(row) if row is not None else _pk_key_from_values(t, key)
                old = install(key, row, ts, False)
                if done is not None and (old is not None or row is not None):
                    done.append((key, old, row))
        if marker is not None:
            replay_capture(self, ts, wall_time, marker, changes)

    def _install_schema(self, entries, renames) -> None:
        """Replace the catalog by the one ``entries`` describe (recovery only)."""
        old_tables = self.tables
        for old, new in renames:
            if old.lower() in old_tables:
                old_tables[new.lower()] = old_tables.pop(old.lower())
        tables, indexes, others = {}, {}, {}
        cat_tables = {}
        for type_, name, tbl, sql in entries:
            if type_ == "table":
                schema = parse_create_table(sql)
                prev = old_tables.get(name.lower())
                if prev is not None and prev.schema.sql != sql:
                    prev = None  # ALTER TABLE: the frame carries every row (Transaction._alter)
                t = Table(schema, prev.versions if prev else None, None, self.compiler)
                tables[name.lower()] = t
                cat_tables[name.lower()] = schema
                for ix in t.indexes:
                    indexes[ix.schema.name.lower()] = ix.schema
            elif type_ == "index":
                schema = parse_create_index(sql, lambda n: cat_tables.get(n.lower()))
                t = tables[schema.table.lower()]
                part_fns, where_fn = self._compile_index(schema, t.schema)
                t = Table(t.schema, t.versions, t.indexes + [IndexStore(schema, part_fns, where_fn)],
                          self.compiler)
                tables[schema.table.lower()] = t
                indexes[name.lower()] = schema
            else:
                others[name.lower()] = SchemaObject(type_, name, tbl, sql)
        self.tables = tables
        order = {e[1].lower(): i + 1 for i, e in enumerate(entries)}
        for t in cat_tables.values():  # auto-indexes right after their table
            for ix in indexes.values():
                if ix.sql is None and ix.table.lower() == t.name.lower():
                    order[ix.name.lower()] = order[t.name.lower()] + 0.5
        self.catalog = Catalog(cat_tables, indexes, others, self.catalog.version + 1, order)

    def _compile_index(self, schema, table_schema):
        if all(p.column is not None for p in schema.columns) and not schema.where_sql:
            return None, None
        c = self.compiler
        if c is None:
            raise OperationalError(f"index {schema.name} needs the SQL layer's compiler")
        parts = [None if p.column is not None else c.row_function(p.expr_sql, table_schema)
                 for p in schema.columns]
        where = c.row_function(schema.where_sql, table_schema) if schema.where_sql else None
        return parts, where

    # -- transactions ----------------------------------------------------------------

    def begin(self, mode: str = DEFERRED, timeout: float = 5.0) -> Transaction:
        """Start a transaction (see engine.transaction for the modes).

        O(1): one state-lock section registers the snapshot (plus the write lock
        for IMMEDIATE / EXCLUSIVE, taken first: the snapshot must be the state
        the lock protects).
        """
        if self.closed or self._poison is not None:
            self._check_usable()
        if mode is not DEFERRED:
            mode = mode.upper()
            if mode not in MODES:
                raise OperationalError(f'near "{mode}": syntax error')
        txn = None
        if mode == "IMMEDIATE" or mode == "EXCLUSIVE":
            txn = Transaction(self, mode, 0, self.catalog, self.tables, timeout)
            self._acquire_write_lock(txn)
        with self._state_lock:
            if txn is None:
                txn = Transaction(self, mode, self.last_ts, self.catalog, self.tables, timeout)
            else:
                txn.snapshot_ts, txn.catalog, txn.tables = self.last_ts, self.catalog, self.tables
            ts = txn.snapshot_ts
            active = self._active
            active[ts] = active.get(ts, 0) + 1
            self._active_count += 1
        return txn

    def _acquire_write_lock(self, txn: Transaction) -> None:
        if not self._write_lock.acquire(txn, txn.timeout):
            raise DatabaseLockedError()
        txn.holds_lock = True

    def _release_write_lock(self, txn: Transaction) -> None:
        if txn.holds_lock:
            txn.holds_lock = False
            self._write_lock.release(txn)

    def _end(self, txn: Transaction) -> None:
        """Finish ``txn`` (rollback, or a failed or empty commit): drop its
        snapshot, collect garbage. A successful commit drops its snapshot inside
        its own state-lock section instead (``_apply_commit``)."""
        self._clear(txn)
        with self._state_lock:
            self._drop_snapshot(txn.snapshot_ts)

    @staticmethod
    def _clear(txn: Transaction) -> None:
        """Mark ``txn`` ended, forget its write set, release the write lock."""
        txn.active = False
        txn.writes = {}
        txn.local_index = {}
        if txn.holds_lock:
            txn.holds_lock = False
            txn.db._write_lock.release(txn)

    def _drop_snapshot(self, ts: int) -> None:
        """Unregister one reader of snapshot ``ts``; collect what it pinned
        (state lock held). O(1) plus the garbage collected."""
        active = self._active
        n = active[ts] - 1
        if n:
            active[ts] = n
        else:
            del active[ts]
        self._active_count -= 1
        if self._gc_queue:
            self._collect_garbage()

    def _collect_garbage(self) -> None:
        """Drop versions no live snapshot can see. O(1) amortized per superseded version."""
        q = self._gc_queue
        if not q:
            return
        horizon = min(self._active) if self._active else self.last_ts
        while q and q[0][0] <= horizon:
            _ts, t, key = q.popleft()
            dropped = t.versions.collect(key, horizon)
            if dropped and t.indexes:
                live = t.versions.versions_of(key)
                for ix in t.indexes:
                    keep = {ix.key_of(r, key) for r in live}
                    for row in dropped:
                        k = ix.key_of(row, key)
                        if k is not None and k not in keep:
                            ix.discard(k, key)

    def watches_table(self, key: str) -> bool:
        """Does an in-commit or after-commit hook read table ``key``'s changes from
        the ChangeSet? A hook tells by a ``watches(key)`` method (on itself, or on
        the object of a bound method: the view maintainer, the subscription hub); a
        hook without one is taken to read every table. CDC builds the rows of an
        unwatched CDC table when they are first read (engine.cdc.feed). O(hooks)."""
        commit_hooks, durable_hooks = self.commit_hooks, self.durable_hooks
        if not commit_hooks and not durable_hooks:
            return False
        # Cached per hook count (hooks are only ever added) until a hook's watched
        # tables change (it calls forget_watches).
        n = len(commit_hooks) + len(durable_hooks)
        count, known = self._watch_cache
        if count != n:
            known = {}
            self._watch_cache = (n, known)
        watched = known.get(key)
        if watched is None:
            watched = known[key] = self._ask_watchers(key)
        return watched

    def _ask_watchers(self, key: str) -> bool:
        for hooks in (self.commit_hooks, self.durable_hooks):
            for hook in hooks:
                watches = getattr(getattr(hook, "__self__", hook), "watches", None)
                if watches is None or watches(key):
                    return True
        return False

    def forget_watches(self) -> None:
        """Drop ``watches_table``'s answers: a hook's watched tables changed."""
        self._watch_cache = (-1, {})

    # -- commit ----------------------------------------------------------------------

    def _commit(self, txn: Transaction):
        """Commit ``txn`` (see the module docstring); returns its ChangeSet, or
        None when it wrote nothing. O(size of the write set).

        The usual commit, an autocommit statement, is done here: rowid tables
        written under the write lock (not BEGIN CONCURRENT: nothing to validate),
        no schema or setting change, no other live snapshot (no version history
        to keep, no garbage to collect), CDC included. These are the steps of
        ``_commit_general`` (``_apply_commit`` + ``_publish`` + ``_after_commit``)
        without their general cases, in one frame: on this path a Python call
        costs as much as a dozen statements. Everything else goes to
        ``_commit_general``; tests/engine/test_commit_paths.py holds both paths to
        the same change sets, state and log. A reader that begins between the check
        below and the install (it takes the state lock in between) is seen under the
        lock: the versions it reads are then kept, as the general path keeps them.
        """
        if not (txn.holds_lock and self._active_count == 1 and txn.mode != CONCURRENT
                and not txn.catalog_changed and txn.header_writes is None
                and not self._gc_queue and self._poison is None and not self.closed
                and self.simple_commits):
            return self._commit_general(txn)
        tables = self.tables
        plan = []
        for tname, writes in txn.writes.items():
            t = tables.get(tname)
            if t is None or t.without_rowid:
                return self._commit_general(txn)
            if writes:
                plan.append((t, writes))
        if not plan:
            return self._commit_general(txn)
        ts = self.last_ts + 1
        now = _now()
        lg = self._log
        lsn = 0
        deferred = None  # a capture left to the CDC table's feed (engine.cdc.feed)
        try:
            if txn.cdc is not None:  # CDC: its rows join this commit (engine.cdc)
                added = capture_changes(txn, ts, now)
                if type(added) is tuple:  # just the CDC table's new write set
                    plan.append(added)
                elif added is not None:
                    deferred = added
                else:
                    plan = [(tables[name], writes) for name, writes in txn.writes.items()
                            if writes]
            elif self.cdc_tables and not self.cdc_tables.isdisjoint(txn.writes):
                guard_sequence(txn)  # trimming the feed keeps its change_id high-water mark
                plan = [(tables[name], writes) for name, writes in txn.writes.items()
                        if writes]
            if lg is not None:
                if deferred is not None:
                    payload = encode_commit(ts, now, None, [(t.name, w) for t, w in plan]
                                            + [deferred.log_entry()])
                elif len(plan) == 1:
                    t, writes = plan[0]
                    payload = encode_one_table(ts, now, t.name, writes)
                else:
                    payload = encode_commit(ts, now, None, [(t.name, w) for t, w in plan])
                lsn = lg.append(payload)
        except BaseException:
            self._end(txn)
            raise
        out = {}
        changes = ChangeSet(ts, txn.id, now, out, False)
        try:
            with self._state_lock:  # see _publish
                if self._active_count == 1:
                    for t, writes in plan:
                        out[t.key] = t.versions.install_latest(writes, ts) if not t.indexes \
                            else self._install(t, writes, ts, False)
                else:  # a reader began since the check above: keep the versions it sees
                    for t, writes in plan:
                        out[t.key] = self._install(t, writes, ts, True)
                if deferred is not None:
                    deferred.record(out, tables, ts)
                for hook in self.commit_hooks:
                    hook(changes)
                self.last_ts = ts
                txn.active = False
                active = self._active
                snap = txn.snapshot_ts
                n = active[snap] - 1
                if n:
                    active[snap] = n
                else:
                    del active[snap]
                self._active_count -= 1
        except BaseException as exc:
            self._poison = exc  # the frame is logged: this commit cannot be undone
            if txn.active:
                self._end(txn)
            else:
                self._clear(txn)
            raise
        txn.writes = {}
        txn.local_index = {}
        txn.holds_lock = False
        lock = self._write_lock  # WriteLock.release, inlined: txn owns it
        lock.owner = None
        lock.mutex.release()
        if self.durable_hooks or (lg is not None and (
                lsn > lg.settled_lsn or lg.size > self.checkpoint_bytes)):
            return self._after_commit(changes, lsn)
        if ts > self._delivered_ts:  # no observer, nothing to order (see _deliver)
            self._delivered_ts = ts
        return changes

    def _commit_general(self, txn: Transaction):
        """``_commit`` for every case (``_commit`` itself does the usual one)."""
        for writes in txn.writes.values():  # (a loop: cheaper than any() on a genexpr)
            if writes:
                break
        else:
            if not txn.catalog_changed and txn.header_writes is None:
                self._end(txn)
                return None
        if self.closed or self._poison is not None:
            self._check_usable()
        if not txn.holds_lock:
            try:
                self._acquire_write_lock(txn)
            except BaseException:
                self._end(txn)
                raise
        lsn = None
        try:
            if txn.mode == CONCURRENT:
                self._validate(txn)
            changes, lsn = self._apply_commit(txn)
        except WriteConflictError:
            self._end(txn)
            raise
        except BaseException as exc:
            if lsn is not None or getattr(exc, "_after_log", False):
                self._poison = exc
            if txn.active:
                self._end(txn)
            else:
                self._clear(txn)
            raise
        # _apply_commit dropped the snapshot; the rest of _clear, inlined:
        txn.writes = {}
        txn.local_index = {}
        if txn.holds_lock:
            txn.holds_lock = False
            self._write_lock.release(txn)
        return self._after_commit(changes, lsn)

    def _after_commit(self, changes: ChangeSet, lsn: int) -> ChangeSet:
        """The end of a commit, locks released: wait until its frame at ``lsn`` is
        durable (group commit), checkpoint if the log is due, run the after-commit
        hooks in commit order."""
        lg = self._log
        if lg is not None:
            try:
                lg.wait_durable(lsn)
            except OSError as exc:
                self._poison = exc
                raise OperationalError(f"disk I/O error: {exc}") from None
            if lg.size > self.checkpoint_bytes and lg.size > self._image_size:
                self._deliver(changes)
                self._maybe_checkpoint()
                return changes
        if self.durable_hooks:
            self._deliver(changes)
        elif changes.ts > self._delivered_ts:
            # No observer, nothing to order (see _deliver).
            self._delivered_ts = changes.ts
        return changes

    def _validate(self, txn: Transaction) -> None:
        """First-committer-wins for BEGIN CONCURRENT: rows and unique keys."""
        if self.catalog.version != txn.catalog.version:
            raise WriteConflictError("schema", self.catalog.version, "version")
        snap = txn.snapshot_ts
        for tname, writes in txn.writes.items():
            t = self.tables[tname]
            versions = t.versions
            for key, row in writes.items():
                if versions.changed_after(key, snap):
                    raise WriteConflictError(t.name, key)
                if row is not None and t.unique_indexes:
                    self._validate_unique(t, writes, key, row)

    def _validate_unique(self, t: Table, writes, key, row) -> None:
        from engine.mvcc.index import has_null
        for ix in t.unique_indexes:
            k = ix.key_of(row, key)
            if k is None or has_null(k):
                continue
            for other in ix.contains_key(k):
                if other == key or other in writes:
                    continue
                latest = t.versions.latest(other)
                if latest is not None and ix.key_of(latest, other) == k:
                    raise WriteConflictError(t.name, tuple(v for _r, v in k), "unique key")

    def _apply_commit(self, txn: Transaction):
        """Log and install ``txn``'s writes at a new commit timestamp (write lock
        held); returns ``(changes, lsn)``. One state-lock section installs the
        versions, runs the in-commit hooks, publishes ``last_ts`` and drops the
        transaction's snapshot (marking it inactive). O(size of the write set)."""
        ts = self.last_ts + 1
        now = _now()
        deferred = None  # a capture left to the CDC table's feed (engine.cdc.feed)
        if txn.cdc is not None:  # CDC: its rows join this commit (engine.cdc)
            added = capture_changes(txn, ts, now)
            if added is not None and type(added) is not tuple:
                deferred = added
        elif self.cdc_tables and not self.cdc_tables.isdisjoint(txn.writes):
            guard_sequence(txn)  # trimming the feed keeps its change_id high-water mark
        catalog_changed = txn.catalog_changed
        all_writes = txn.writes
        logging_on = self._log is not None
        if not catalog_changed and len(all_writes) == 1 and txn.header_writes is None:
            # Fast path: one table written (the usual autocommit statement).
            ((tname, writes),) = all_writes.items()
            t = self.tables.get(tname)
            if t is not None and not t.without_rowid:
                lsn = 0
                if logging_on:
                    lsn = self._log.append(
                        encode_one_table(ts, now, t.name, writes) if deferred is None else
                        encode_commit(ts, now, None, [(t.name, writes), deferred.log_entry()]))
                return self._publish(txn, ts, now, ((t, writes),), deferred), lsn
        schema = self._schema_record(txn) if catalog_changed else None
        tables = txn.tables if catalog_changed else self.tables
        record = []
        plan = []
        for tname, writes in all_writes.items():
            if not writes:
                continue
            t = tables.get(tname)
            if t is None:  # table created and dropped within the transaction
                continue
            if logging_on:
                if t.without_rowid:
                    latest = t.versions.rows.get
                    ops = []
                    for k, r in writes.items():
                        before = latest(k)
                        if r is None and before is None:
                            continue  # inserted and deleted by this txn: nothing to log
                        ops.append((t.log_key(k, r, before), r))
                else:
                    ops = list(writes.items())
                record.append((t.name, ops))
            plan.append((t, writes))
        if txn.header_writes is not None:
            # A pseudo-table entry: the record format has no other slot for settings.
            record.append((META_RECORD, list(txn.header_writes.items())))
        if deferred is not None and logging_on:
            record.append(deferred.log_entry())
        lsn = 0
        if logging_on:
            lsn = self._log.append(encode_commit(ts, now, schema, record))
        return self._publish(txn, ts, now, plan, deferred), lsn

    def _publish(self, txn: Transaction, ts: int, now: float, plan,
                 deferred=None) -> ChangeSet:
        """The state-lock section of a commit whose frame is appended: install
        ``plan``'s ``(table, writes)`` at ``ts``, queue a deferred capture's changes
        (``deferred``, engine.cdc), run the in-commit hooks, publish ``last_ts``,
        drop the transaction's snapshot (marking it inactive)."""
        catalog_changed = txn.catalog_changed
        try:
            out = {}
            changes = ChangeSet(ts, txn.id, now, out, catalog_changed)
            with self._state_lock:
                # Nobody takes a snapshot between the first installed version and
                # last_ts = ts; observers (view maintenance) run before it too, so no
                # snapshot sees a derived result out of step with its tables.
                # Other live snapshots are older than ts: they need the old versions.
                keep = self._active_count > 1
                if not keep and self._gc_queue:
                    self._collect_garbage()
                if catalog_changed:
                    self.catalog, self.tables = txn.catalog, txn.tables
                for t, writes in plan:
                    out[t.key] = self._install(t, writes, ts, keep)
                if deferred is not None:
                    deferred.record(out, self.tables, ts)
                if txn.header_writes is not None:
                    for field, value in txn.header_writes.items():
                        setattr(self, field, value)
                for hook in self.commit_hooks:
                    hook(changes)
                self.last_ts = ts
                txn.active = False
                # _drop_snapshot(txn.snapshot_ts), inlined (hot path)
                active = self._active
                snap = txn.snapshot_ts
                n = active[snap] - 1
                if n:
                    active[snap] = n
                else:
                    del active[snap]
                self._active_count -= 1
                if self._gc_queue:
                    self._collect_garbage()
        except BaseException as exc:
            exc._after_log = True
            raise
        return changes

    def _install(self, t: Table, writes: dict, ts: int, keep: bool) -> list:
        """Install one table's write set; returns its ``(key, before, after)`` list.

        O(w log n) for w writes (plus O(log n) per index entry changed); an empty
        table without indexes is bulk-loaded, O(w log w).
        """
        versions = t.versions
        indexes = t.indexes
        if not keep and not indexes and not versions.rows:
            versions.bulk_load((k, r) for k, r in writes.items() if r is not None)
            return [(k, None, r) for k, r in writes.items() if r is not None]
        if not keep and not indexes:
            # The usual embedded case (no concurrent reader, no index): just install.
            return versions.install_latest(writes, ts)
        install = versions.install
        out = []
        append = out.append
        gcq = self._gc_queue
        for key, row in writes.items():
            old = install(key, row, ts, keep)
            if old is None and row is None:
                continue
            append((key, old, row))
            if keep:
                gcq.append((ts, t, key))
            for ix in indexes:
                key_of = ix.key_of
                ok = key_of(old, key) if old is not None else None
                nk = key_of(row, key) if row is not None else None
                if ok == nk:
                    continue
                if nk is not None:
                    ix.add(nk, key)
                if ok is not None and not keep:
                    ix.discard(ok, key)
        return out

    def _schema_record(self, txn: Transaction):
        return (self.schema_entries(txn.catalog), [])

    @staticmethod
    def schema_entries(catalog: Catalog) -> list:
        """``(type, name, tbl_name, sql)`` for every schema object, creation order."""
        return [e for e in catalog.entries() if e[3] is not None]

    def _deliver(self, changes: ChangeSet) -> None:
        """Run after-commit hooks in commit order; a failing hook is logged, isolated."""
        if not self.durable_hooks:
            # No observer, nothing to order: advance without the condition variable.
            # (A committer parked below only exists while observers are registered;
            # if one is added meanwhile, its 1 s wait timeout bounds the delay.)
            # _commit inlines this branch.
            if changes.ts > self._delivered_ts:
                self._delivered_ts = changes.ts
            return
        with self._delivery:
            while self._delivered_ts < changes.ts - 1 and self._poison is None:
                self._delivery.wait(1.0)
            self._delivering_ts = changes.ts
            try:
                for hook in self.durable_hooks:
                    try:
                        hook(changes)
                    except Exception:
                        log.exception("after-commit observer %r failed", hook)
            finally:
                self._delivered_ts = changes.ts
                self._delivery.notify_all()

    def set_synchronous(self, level: int) -> None:
        """PRAGMA synchronous: OFF (0), NORMAL (1) or FULL (2) for later commits."""
        self.synchronous = level
        if self._log is not None:
            self._log.synchronous = level

    # -- checkpoint / close ---------------------------------------------------------

    def _maybe_checkpoint(self) -> None:
        lg = self._log
        if lg is not None and lg.size > max(self.checkpoint_bytes, self._image_size):
            try:
                self.checkpoint()
            except DatabaseLockedError:
                pass  # a writer is active; the next commit tries again
            except OperationalError:
                # The commit that triggered it is durable: report it as done.
                # The failed checkpoint poisoned the database; the next call says so.
                log.exception("automatic checkpoint of %s failed", self.path)

    def checkpoint(self, timeout: float = 5.0) -> None:
        """Write the committed state into ``<db>`` and empty the log.

        Takes the write lock so the image is exactly the state at ``last_ts``.
        """
        if self._log is None:
            return
        self._check_usable()
        owner = object()
        if not self._write_lock.acquire(owner, timeout):
            raise DatabaseLockedError()
        try:
            image = build_image(self.catalog, self.tables, self.schema_entries(self.catalog),
                                self.last_ts, {f: getattr(self, f) for f in HEADER_FIELDS})
            try:
                self._write_image(image)
                self._log.reset()
            except OSError as exc:
                # After a failed write or fsync the files' durable state is unknown
                # (see the module docstring): refuse further writes until reopened.
                self._poison = exc
                raise OperationalError(f"disk I/O error: {exc}") from None
            self._image_size = len(image)
        finally:
            self._write_lock.release(owner)

    def _write_image(self, image: bytes) -> None:
        """Write ``image`` to ``<db>-tmp``, fsync it, rename it over ``<db>``."""
        fs, tmp = self.fs, self.path + "-tmp"
        f = fs.open(tmp)
        try:
            f.truncate(0)
            f.write(0, image)
            if self.synchronous != SYNC_OFF:
                f.fsync()
        finally:
            f.close()
        fs.rename(tmp, self.path)
        if self.synchronous != SYNC_OFF:
            fs.fsync_dir(self.path)

    def close(self) -> None:
        """Checkpoint (when the database is healthy), then release files and the lock."""
        if self.closed:
            return
        self.closed = True
        try:
            if self._log is not None and self._poison is None:
                self.closed = False
                try:
                    if self._log.size > 0:
                        self.checkpoint()
                finally:
                    self.closed = True
        finally:
            if self._log is not None:
                self._log.close()
            if self._lock_file is not None:
                self._lock_file.release()

    def _check_usable(self) -> None:
        if self.closed:
            raise ProgrammingError("Cannot operate on a closed database.")
        if self._poison is not None:
            raise OperationalError(
                f"disk I/O error: the database must be reopened after a failed write "
                f"({self._poison})")

    def _check(self) -> None:
        """Assert the invariants of every structure (tests call this after mutations)."""
        self.catalog._check()
        # Materialized views' stores live in ``tables`` under keys no SQL can spell.
        assert {k for k in self.tables if not k.startswith("\x00")} == set(self.catalog.tables)
        for name, t in self.tables.items():
            t.versions._check()
            for ix in t.indexes:
                ix._check(t.versions)
        assert sum(self._active.values()) == self._active_count
        assert all(n > 0 for n in self._active.values())
        assert self.last_ts >= max(self._active, default=0)


def _pk_key_from_values(t: Table, values: tuple):
    """The storage key of a WITHOUT ROWID row from its primary-key values."""
    row = [None] * len(t.schema.columns)
    for pos, v in zip(t.schema.primary_key, values):
        row[pos] = v
    return t.pk_key(tuple(row))


def open_database(path: str = MEMORY, **kwargs) -> Database:
    """Open (creating if needed) the database at ``path``; ``:memory:`` uses no files."""
    return Database(path, **kwargs)


__all__ = ["Database", "open_database", "MEMORY", "SYNC_OFF", "SYNC_NORMAL", "SYNC_FULL"]
