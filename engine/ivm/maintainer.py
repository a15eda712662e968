"""View maintenance inside the commit: change sets in, view contents out.

One ``ViewMaintainer`` per Database, registered in ``Database.commit_hooks``: it
runs under the state lock after a commit's versions are installed and before
``last_ts`` is published, so each view's delta is installed at the commit's own
timestamp and no snapshot ever sees a view out of step with its tables.

Per commit (``on_commit``), O(|change| + the circuits' work):

1. on a schema change, reconcile with the catalog: stores of dropped views go,
   new or redefined views (and views whose inputs' definitions changed) are
   populated from the committed tables as of this commit (one big delta, fed
   in chunks so a progress callback can report), and do not also receive this
   commit's delta;
2. the change set becomes per-relation Z-sets (``-before +after``; a row whose
   before and after are equal in Python but differ in type, 1 -> 1.0, is moved
   to a second tick so the Z-set does not cancel it, and truly identical
   rewrites are skipped);
3. every view steps in dependency order; a view's output delta is the input of
   the views that read it, in the same commit (DBSP's composition of circuits:
   Budiu et al., VLDB 2023);
4. each view's delta becomes writes to its ``ViewStore`` installed at the commit ts.

A view whose circuit raises (integer overflow in SUM, ...) is marked failed and
never breaks the commit; the views reading it fail with it. Reading a failed
view raises OperationalError naming it (``reader``).
"""

from __future__ import annotations

import gc
import logging
from contextlib import contextmanager

from dbsp import ZSet
from engine.errors import OperationalError
from engine.ivm.compiler import compile_view, is_materialized
from engine.ivm.deltas import change_ticks
from engine.ivm.store import ViewStore, store_key

log = logging.getLogger("turso_stream.ivm")

# Rows in the first population tick; each next tick is POPULATE_GROWTH times bigger.
# Small tables report progress every POPULATE_CHUNK rows; a big one goes in O(log n)
# ticks (1M rows: 4), so an operator's bulk path (GroupAggregate's per-group batches,
# the one-sort MIN/MAX build, merged into by later ticks) sees many rows per group.
POPULATE_CHUNK = 20_000
POPULATE_GROWTH = 4


class _View:
    """Maintenance state of one materialized view (the store is what readers see)."""

    __slots__ = ("name", "sql", "order", "compiled", "store", "inputs", "signature")

    def __init__(self, name, sql, order):
        self.name = name
        self.sql = sql
        self.order = order
        self.compiled = None     # CompiledView, None when broken
        self.store = None        # ViewStore
        self.inputs = ()         # relation names (lowercase) the circuit reads
        self.signature = None    # definitions of those relations when compiled


class ViewMaintainer:
    """Keeps every materialized view of one Database current (module docstring).

    ``progress(view_name, rows_done, rows_total)``, if set, is called while a view
    is populated (the shell shows it for big tables).
    """

    def __init__(self, db):
        self.db = db
        self.views: dict[str, _View] = {}
        self._order: list[_View] = []
        self._stores: dict[int, ViewStore] = {}  # id(store.table) -> store (readers)
        self._read = None  # relations some view reads (cache; None = recompute)
        self.progress = None

    # -- reading (called by the SQL session) --------------------------------------------

    def reader(self, txn, name: str):
        """The ViewStore a query in ``txn`` reads ``name`` from, or None to evaluate
        the view's SELECT (the transaction changed the schema or wrote to a table the
        view depends on: read-your-own-writes; or the view is broken). Raises
        OperationalError for a view that failed at or before ``txn``'s snapshot. O(deps).
        """
        if txn.catalog_changed:
            return None
        table = txn.tables.get(store_key(name))
        store = self._stores.get(id(table)) if table is not None else None
        if store is None or store.table is not table:
            return None
        status = store.status
        if status is not None and status[0] <= txn.snapshot_ts:
            if status[1] == "failed":
                raise OperationalError(
                    f"materialized view {store.name} is unavailable: {status[2]}")
            return None
        writes = txn.writes
        if writes:
            for dep in store.base_deps:
                if writes.get(dep):
                    return None
        return store

    # -- the commit hook ------------------------------------------------------------------

    def __call__(self, changes) -> None:
        """The commit hook: never raises (a view's failure is recorded on the view)."""
        try:
            self.on_commit(changes)
        except Exception:  # noqa: BLE001 - the commit is already installed; keep it
            log.exception("view maintenance failed at commit %s", changes.ts)
            for v in self._order:
                self._fail(v, changes.ts, "internal error in view maintenance")

    def on_commit(self, changes) -> None:
        """Maintain every view for one commit (module docstring). Under the state lock."""
        ts = changes.ts
        fresh = set()
        if changes.catalog_changed:
            fresh = self._sync_catalog(ts)
            self._read = None
            self.db.forget_watches()
        if not self._order:
            return
        if self._failed:
            fresh |= self._retry_failed(changes)
        ticks = self._ticks(changes)
        keep = self.db._active_count > 1
        outputs: dict[str, list] = {}
        for v in self._order:
            if v.name in fresh:
                outputs[v.name] = self._populate(v, ts, keep)
            elif ticks or any(outputs.get(r) for r in v.inputs):
                outputs[v.name] = self._step(v, ticks, outputs, ts, keep)
        # Each view's net delta, for after-commit observers (signals.view_changed), only
        # while one listens (``db.view_deltas_wanted``, set by turso_stream.signals).
        wanted = getattr(self.db, "view_deltas_wanted", None)
        if wanted is None or not wanted():
            return
        views = {}
        for name, per_tick in outputs.items():
            if len(per_tick) == 1:
                # One tick (the usual case): its delta, copied only when non-empty.
                if per_tick[0]:
                    views[name] = per_tick[0] if name in fresh else per_tick[0].copy()
                continue
            total = ZSet()
            for delta in per_tick:
                total.add(delta)
            if total:
                views[name] = total
        if views:
            changes.views = views

    @property
    def _failed(self) -> bool:
        return any(v.store is not None and v.store.status is not None
                   and v.store.status[1] == "failed" for v in self._order)

    def _retry_failed(self, changes) -> set:
        """Views whose maintenance failed (e.g. SUM overflowed) are rebuilt from scratch
        by a commit that changes the tables they read: once the data is fixed, the view
        works again, as a plain view would. O(the view's data) per such commit."""
        touched = changes.tables.keys()
        return {v.name for v in self._order
                if v.store is not None and v.store.status is not None
                and v.store.status[1] == "failed" and not v.store.base_deps.isdisjoint(touched)}

    def _step(self, v: _View, ticks, outputs, ts, keep) -> list:
        """Step ``v`` once per tick; install its delta; return its output per tick."""
        store = v.store
        if store is None or store.status is not None or v.compiled is None:
            return []
        upstream = self._upstream_status(v)
        if upstream is not None:
            self._mark(v, ts, *upstream)
            return []
        cv = v.compiled
        # Feed the circuit directly (keyed by its input names) once the constants
        # went in (population does that first); else through CompiledView.step.
        direct = cv._primed
        circuit_step = cv.circuit.step
        output = cv.output
        feed_names = cv.inputs
        out_ticks = []
        writes: dict = {}
        try:
            for i, tick in enumerate(ticks or [{}]):
                feed = {}
                for rel in v.inputs:
                    up = outputs.get(rel)
                    if up is not None:
                        delta = up[i] if i < len(up) else None
                    else:
                        delta = tick.get(rel)
                    if delta:
                        feed[feed_names[rel] if direct else rel] = delta
                if not feed:
                    out_ticks.append(ZSet())
                    continue
                delta = circuit_step(feed)[output] if direct else cv.step(feed)
                if delta:
                    store.apply(delta, writes)
                out_ticks.append(delta)
        except Exception as exc:  # noqa: BLE001 - recorded on the view, not the commit
            self._fail(v, ts, _message(exc))
            return []
        if writes:
            self.db._install(store.table, writes, ts, keep)
        return out_ticks

    def _ticks(self, changes) -> list:
        """The commit's deltas of the tables views read, as ticks of ``{relation:
        ZSet}`` (``engine.ivm.deltas.change_ticks``). O(|change|)."""
        return change_ticks(changes, self.db.tables, self._relations_read())

    def _relations_read(self) -> set:
        """The relations (lowercase names) some view reads. O(1) amortized (cached)."""
        read = self._read
        if read is None:
            read = set()
            for v in self._order:
                read.update(v.inputs)
            self._read = read
        return read

    def watches(self, table: str) -> bool:
        """Does some view read ``table`` (lowercase)? ``Database.watches_table``
        asks: CDC builds the rows of an unwatched CDC table when first read."""
        return table in self._relations_read()

    # -- schema changes ---------------------------------------------------------------------

    def _sync_catalog(self, ts: int) -> set:
        """Follow the committed catalog: drop, create and repopulate views.

        Returns the names of the views to populate in this commit (new stores).
        """
        catalog = self.db.catalog
        live = {key: obj for key, obj in catalog.others.items()
                if obj.type == "view" and is_materialized(obj.sql)}
        for key in [k for k in self.views if k not in live or self.views[k].sql != live[k].sql]:
            self._remove(self.views.pop(key))
        created = catalog.created
        fresh = set()
        for key, obj in live.items():
            v = self.views.get(key)
            if v is None:
                v = self.views[key] = _View(key, obj.sql, created.get(key, 0))
                fresh.add(key)
            elif (v.store is None or v.store.status is not None
                  or v.signature != self._signature(v.inputs)):
                fresh.add(key)
        self._order = self._topological(self.views)
        # An input repopulated means a new store upstream: its readers keep stepping
        # with its output delta (new contents - old contents), so nothing more to do.
        return fresh

    def _signature(self, inputs) -> tuple:
        catalog = self.db.catalog
        sig = []
        for rel in inputs:
            schema = catalog.tables.get(rel)
            if schema is not None:
                sig.append(("table", schema.sql))
                continue
            obj = catalog.others.get(rel)
            sig.append(("view", obj.sql) if obj is not None else ("missing", rel))
        return tuple(sig)

    def _topological(self, views: dict) -> list:
        """Views ordered so each comes after the views it reads (creation order first)."""
        done: set = set()
        out: list = []

        def visit(v, path):
            if v.name in done or v.name in path:
                return
            path.add(v.name)
            for rel in v.inputs:
                up = views.get(rel)
                if up is not None:
                    visit(up, path)
            done.add(v.name)
            out.append(v)

        for v in sorted(views.values(), key=lambda v: v.order):
            visit(v, set())
        return out

    def _remove(self, v: _View) -> None:
        """Forget a dropped (or redefined) view; snapshots that hold its store keep it."""
        if v.store is not None:
            self._unpublish(v.store)

    def _publish(self, store: ViewStore) -> None:
        db = self.db
        tables = dict(db.tables)
        old = tables.get(store_key(store.name))
        if old is not None:
            self._stores.pop(id(old), None)
        tables[store_key(store.name)] = store.table
        db.tables = tables
        self._stores[id(store.table)] = store

    def _unpublish(self, store: ViewStore) -> None:
        db = self.db
        key = store_key(store.name)
        if db.tables.get(key) is store.table:
            tables = dict(db.tables)
            del tables[key]
            db.tables = tables
        self._stores.pop(id(store.table), None)

    # -- population ---------------------------------------------------------------------------

    def _compile(self, v: _View):
        """Compile ``v`` against the committed catalog: ``(CompiledView, column names)``."""
        from engine.sql.parse import parse_one
        from engine.sql.session import Session, view_column_names
        from engine.transaction import Transaction
        db = self.db
        session = Session(db)
        session.txn = Transaction(db, "DEFERRED", db.last_ts, db.catalog, db.tables, 5.0)
        node = parse_one(v.sql)
        target = node.this
        names = [c.name for c in target.expressions] if hasattr(target, "expressions") \
            and target.expressions else None
        cv = compile_view(session, node.expression, names)
        if names is None:
            names = view_column_names(v.sql, node.expression, cv.columns)
        return cv, names

    def _populate(self, v: _View, ts: int, keep: bool) -> list:
        """(Re)build ``v`` from the committed relations as of ``ts``; returns
        ``[new contents - old contents]`` (its output delta for downstream views)."""
        old = v.store
        old_rows = old.rows() if old is not None and old.status is None else []
        try:
            v.compiled, names = self._compile(v)
        except Exception as exc:  # noqa: BLE001 - e.g. "no such table" after DROP TABLE
            v.compiled = None
            self._mark(v, ts, "broken", _message(exc))
            return []
        cv = v.compiled
        v.inputs = tuple(cv.inputs)
        self._read = None
        self.db.forget_watches()
        v.signature = self._signature(v.inputs)
        upstream = self._upstream_status(v)
        columns = [_renamed(c, n) for c, n in zip(cv.columns, names)]
        store = ViewStore(v.name, v.sql, columns, cv.key_columns, self._base_deps(v),
                          cv.arm_affinities)
        v.store = store
        self._publish(store)
        if upstream is not None:
            self._mark(v, ts, *upstream)
            return []
        writes: dict = {}
        with _gc_paused():
            try:
                full = self._feed_all(v, cv)
                store.apply(full, writes)
            except Exception as exc:  # noqa: BLE001
                self._fail(v, ts, _message(exc))
                return []
            if writes and not store.bulk_install(writes):
                self.db._install(store.table, writes, ts, keep)
        if old_rows:
            full = full.copy()
            full.subtract(ZSet.from_rows(old_rows))
        return [full]  # a Z-set of our own: nothing else holds it

    def _feed_all(self, v: _View, cv) -> ZSet:
        """Step ``cv`` with every row of each input, in chunks; the summed output."""
        sources = [(rel, self._relation_rows(rel)) for rel in v.inputs]
        total = sum(len(rows) for _rel, rows in sources)
        full = cv.step({}).copy()  # constants (VALUES, FROM-less SELECTs) go in first
        done = 0
        progress = self.progress
        size = POPULATE_CHUNK
        for rel, rows in sources:
            # Rows of a rowid table are distinct (their rowid): weight 1 each, in C.
            table = self.db.tables.get(rel)
            distinct = rel not in self.views and table is not None and not table.without_rowid
            build = ZSet.from_distinct_rows if distinct else ZSet.from_rows
            start = 0
            while start < len(rows):
                chunk = rows[start:start + size]
                start += size
                size *= POPULATE_GROWTH
                out = cv.step({rel: build(chunk)})
                if not full:
                    full = out.copy()  # a dict copy in C, not a merge loop
                else:
                    full.add(out)
                done += len(chunk)
                if progress is not None:
                    progress(v.name, done, total)
        return full

    def _relation_rows(self, rel: str) -> list:
        """Every committed row of a base table (``row + (rowid,)``) or view, now."""
        up = self.views.get(rel)
        if up is not None:
            return up.store.rows() if up.store is not None else []
        t = self.db.tables.get(rel)
        if t is None:
            return []
        # Key order (a table scan's), read through C-level iteration: a SortedDict's
        # items()/values() views iterate in Python.
        rows = t.versions.rows
        keys = list(rows)
        if t.without_rowid:
            return list(map(rows.__getitem__, keys))
        return [r + (k,) for k, r in zip(keys, map(rows.__getitem__, keys))]

    def _base_deps(self, v: _View) -> frozenset:
        deps = set()
        for rel in v.inputs:
            up = self.views.get(rel)
            if up is None:
                deps.add(rel)
            elif up.store is not None:
                deps |= up.store.base_deps
        return frozenset(deps)

    # -- failure ------------------------------------------------------------------------------

    def _upstream_status(self, v: _View):
        """``(kind, message)`` when a view ``v`` reads cannot be maintained, else None."""
        for rel in v.inputs:
            up = self.views.get(rel)
            if up is not None and (up.store is None or up.store.status is not None):
                kind = up.store.status[1] if up.store is not None else "broken"
                return kind, f"it reads materialized view {up.name}, which is {kind}"
        return None

    def _fail(self, v: _View, ts: int, message: str) -> None:
        self._mark(v, ts, "failed", message)

    def _mark(self, v: _View, ts: int, kind: str, message: str) -> None:
        if v.store is None:
            v.store = ViewStore(v.name, v.sql, [])
            self._publish(v.store)
        if v.store.status is None:
            v.store.status = (ts, kind, message)
            log.warning("materialized view %s is %s: %s", v.name, kind, message)

    # -- open -----------------------------------------------------------------------------------

    def rebuild(self) -> None:
        """Build every view's circuit and contents from the committed tables (at open)."""
        db = self.db
        with db._state_lock:
            self._sync_catalog(db.last_ts)
            for v in self._order:
                self._populate(v, db.last_ts, False)

    def _check(self) -> None:
        """Assert every maintained store's invariants and its presence in ``db.tables``."""
        for v in self._order:
            if v.store is not None:
                v.store._check()
                assert self.db.tables.get(store_key(v.name)) is v.store.table


@contextmanager
def _gc_paused():
    """No cyclic garbage collection while a view is populated: it allocates millions
    of acyclic tuples and dicts, and each full collection would traverse every live
    object (all tables and views) again, 15% of a big population and far more once
    several views are held. Collection resumes afterwards as it was."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _renamed(column, name):
    import dataclasses
    return dataclasses.replace(column, name=name)


def _message(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def attach(db) -> ViewMaintainer:
    """The Database's maintainer. The first call (the first SQL session of a
    database, before it runs any statement) registers it in the commit hooks and
    rebuilds every materialized view the recovered catalog defines, in creation
    order, by one population each (view contents are never logged). O(data) once.
    """
    m = getattr(db, "view_maintainer", None)
    if m is not None:
        return m
    with db._state_lock:
        m = getattr(db, "view_maintainer", None)
        if m is None:
            m = db.view_maintainer = ViewMaintainer(db)  # before rebuild: it opens sessions
            if any(obj.type == "view" and is_materialized(obj.sql)
                   for obj in db.catalog.others.values()):
                m.rebuild()
            db.commit_hooks.append(m)
    return m
