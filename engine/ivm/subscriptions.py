"""Query subscriptions, the engine side: anonymous parametrized views.

A ``SubscriptionHub`` (one per Database) keeps one circuit per subscribed SQL
text, compiled with its parameters as an input relation (``parameters.py``),
so every binding of the same SQL shares it and a commit costs the same with
one subscriber or ten thousand: a changed row reaches only the bindings it
joins with (DESIGN.md decision 6).

Parameters inside FROM subqueries and CTEs stay on the shared path (bound FROM
items, see ``parameters.py``). A SQL text whose parameters the shared circuit
cannot hold (WITH RECURSIVE, a compound arm, a JOIN's ON, a window frame, a bound
item on the NULL-padded side of an outer join: ``parameters.NotShareable``) takes the
*per-binding* path instead, decided once at its first subscribe: one circuit
per distinct binding, compiled with the values as constants
(``compiler.compile_bound``), shared by the subscribers of that binding and
dropped with the last of them. Bindings are told apart type-strictly (1 and
1.0 are different bindings, as they can give different results). Both paths
deliver through the same ``_Query``/``_Binding`` machinery.

Timing, as for materialized views (ARCHITECTURE.md decision 15):
* ``subscribe``/``unsubscribe`` and the per-commit step run under the
  database's state lock, so a new subscriber's first result is exactly the
  state at one commit timestamp and every later commit reaches it as a delta;
* in the commit (a ``commit_hook``) each circuit steps once and its output is
  split by binding into ``Notification`` objects attached to the ChangeSet;
* after the commit is durable and locks are released (a ``durable_hook``, in
  commit order) the notifications go to ``deliver``, which the user-facing
  layer (``turso_stream.subscriptions``) sets to queue them for callbacks.
"""

from __future__ import annotations

import itertools
import logging

from dbsp import ZSet
from engine.ivm.compiler import compile_bound, compile_parametrized
from engine.ivm.deltas import change_ticks
from engine.ivm.parameters import PARAMS_RELATION, NotShareable
from engine.ivm.rows import strict

log = logging.getLogger("turso_stream.subscriptions")


class Notification:
    """One subscription's change at one commit: the delta of its result rows."""

    __slots__ = ("subscription", "ts", "time", "delta")

    def __init__(self, subscription, ts, time, delta):
        self.subscription = subscription
        self.ts = ts
        self.time = time
        self.delta = delta  # ZSet of result rows (+1 inserted, -1 deleted)


class _Binding:
    """The subscribers of one parameter tuple and its current result (a multiset)."""

    __slots__ = ("values", "subscribers", "rows")

    def __init__(self, values):
        self.values = values
        self.subscribers: list = []
        self.rows: dict = {}  # result row -> multiplicity

    def apply(self, delta: ZSet) -> None:
        rows = self.rows
        for row, weight in delta.items():
            n = rows.get(row, 0) + weight
            if n:
                rows[row] = n
            else:
                del rows[row]


class _Query:
    """One circuit of a subscribed SQL text and the bindings it serves: every binding
    (shared path, ``bound`` None) or the one binding ``bound`` (per-binding path)."""

    __slots__ = ("sql", "compiled", "bindings", "width", "inputs", "initial", "bound",
                 "names")

    def __init__(self, sql, compiled, node, bound=None):
        from engine.sql.session import view_column_names
        self.sql = sql
        self.compiled = compiled
        # result column names as sqlite3's cursor.description gives them (source text)
        self.names = view_column_names(sql, node, compiled.columns)
        self.bound = bound  # the binding's values when compiled with them as constants
        self.initial = ZSet()  # a parameterless query's result at population
        self.bindings: dict[tuple, _Binding] = {}
        self.width = len(compiled.columns)
        self.inputs = set(compiled.inputs) - {PARAMS_RELATION}

    def split(self, delta: ZSet) -> dict:
        """The output delta per binding: ``{binding values: ZSet of result rows}``.
        O(rows of the delta)."""
        width = self.width
        bound = self.bound
        out: dict = {}
        for row, weight in delta.items():
            # slicing drops a StrictRow's type-strictness: restore it for the key
            key = bound if bound is not None else strict(row[width:])
            z = out.get(key)
            if z is None:
                z = out[key] = ZSet()
            z.add_row(strict(row[:width]), weight)
        return out


class Subscription:
    """One subscriber: a binding of a query, plus whatever the caller attaches."""

    _ids = itertools.count(1)

    __slots__ = ("id", "query", "binding", "columns", "key_columns", "owner", "active")

    def __init__(self, query: _Query, binding: _Binding, owner):
        self.id = next(self._ids)
        self.query = query
        self.binding = binding
        self.columns = query.compiled.columns
        self.key_columns = query.compiled.key_columns
        self.owner = owner  # the user-facing handle (callback, queue)
        self.active = True

    def rows(self) -> list:
        """The current result rows (a snapshot copy, with duplicates)."""
        out = []
        for row, n in self.binding.rows.items():
            out.extend([row] * n)
        return out


class SubscriptionHub:
    """All subscriptions of one Database (see module docstring)."""

    def __init__(self, db):
        self.db = db
        self.queries: dict[str, _Query] = {}   # shared circuits by SQL text
        self.bound: dict[tuple, _Query] = {}   # per-binding circuits by (SQL, binding)
        self.bound_sql: dict[str, int] = {}    # per-binding SQL texts -> live circuits
        self.deliver = None  # callable(list[Notification]) set by the user-facing layer
        self._watched = None  # relations some circuit reads (cache; None = recompute)
        db.commit_hooks.append(self._on_commit)
        db.durable_hooks.append(self._after_commit)

    # -- subscribing ------------------------------------------------------------------

    def subscribe(self, session, sql: str, node, values: tuple, owner, on_start=None):
        """Add a subscriber of ``sql`` bound to ``values``; returns the Subscription.

        ``on_start(sub, ts, rows)`` runs under the state lock with the current result
        as of commit ``ts``, before any later commit can notify (so a caller that
        queues it there sees it first). Compiles (and populates from the committed
        tables) on the first subscription of ``sql``."""
        db = self.db
        with db._state_lock:
            key = strict(tuple(values))
            query = self._query_for(session, sql, node, key)
            binding = query.bindings.get(key)
            if binding is None:
                for check in query.compiled.binding_checks:
                    check(key)  # raises before the binding touches the circuit
                binding = query.bindings[key] = _Binding(key)
                if query.compiled.param_count:
                    out = query.compiled.step(
                        {PARAMS_RELATION: ZSet.from_rows([key + (None,)])})
                else:
                    out = query.initial
                binding.apply(query.split(out).get(key, ZSet()))
            sub = Subscription(query, binding, owner)
            binding.subscribers.append(sub)
            if on_start is not None:
                on_start(sub, db.last_ts, sub.rows())
            return sub

    def watches(self, table: str) -> bool:
        """Does some subscription read ``table`` (lowercase)? ``Database.watches_table``
        asks: CDC builds the rows of an unwatched CDC table when first read.
        O(1) amortized (cached until a circuit is added or dropped)."""
        watched = self._watched
        if watched is None:
            watched = self._watched = frozenset(
                rel for q in (*self.queries.values(), *self.bound.values()) for rel in q.inputs)
        return table in watched

    def path(self, sql: str) -> str | None:
        """How ``sql`` is subscribed now: "shared", "per-binding", or None."""
        if sql in self.bound_sql:
            return "per-binding"
        return "shared" if sql in self.queries else None

    def _query_for(self, session, sql, node, key) -> _Query:
        """The circuit serving binding ``key`` of ``sql``, compiled and populated from
        the committed tables if there is none yet (under the state lock). The first
        subscribe of ``sql`` tries the shared compilation; its ``NotShareable``
        refusal puts ``sql`` on the per-binding path while it has subscribers."""
        db = self.db
        if sql not in self.bound_sql:
            query = self.queries.get(sql)
            if query is not None:
                return query
            try:
                compiled = compile_parametrized(_committed_session(session, db), node)
            except NotShareable as exc:
                log.debug("per-binding circuits for %s (%s)", sql, exc)
            else:
                for check in compiled.binding_checks:
                    check(key)  # a bad binding (LIMIT 'x') fails before any state
                query = _Query(sql, compiled, node)
                self._populate(query)
                self.queries[sql] = query
                self._watched = None
                self.db.forget_watches()
                return query
        query = self.bound.get((sql, key))
        if query is None:
            compiled = compile_bound(_committed_session(session, db), node, key)
            query = _Query(sql, compiled, node, bound=key)
            self._populate(query)  # a bad binding (frame offset 'x') raises here
            self.bound[(sql, key)] = query
            self._watched = None
            self.db.forget_watches()
            self.bound_sql[sql] = self.bound_sql.get(sql, 0) + 1
        return query

    def unsubscribe(self, sub: Subscription) -> None:
        """Remove ``sub``; drops its binding's state, and the circuit with the last one."""
        db = self.db
        with db._state_lock:
            if not sub.active:
                return
            sub.active = False
            query, binding = sub.query, sub.binding
            binding.subscribers.remove(sub)
            if binding.subscribers:
                return
            del query.bindings[binding.values]
            if not query.bindings and query.bound is not None:
                del self.bound[(query.sql, query.bound)]
                self._watched = None
                self.db.forget_watches()
                left = self.bound_sql.pop(query.sql) - 1
                if left:
                    self.bound_sql[query.sql] = left
            elif not query.bindings:
                del self.queries[query.sql]
                self._watched = None
                self.db.forget_watches()
            elif query.compiled.param_count:
                query.compiled.step({PARAMS_RELATION: ZSet([(binding.values + (None,), -1)])})

    def _populate(self, query: _Query) -> None:
        """Feed every committed row of the query's tables (one big delta)."""
        tables = self.db.tables
        feed = {}
        for rel in query.inputs:
            t = tables.get(rel)
            if t is None:
                continue
            rows = t.versions.rows
            feed[rel] = ZSet.from_rows(
                list(rows.values()) if t.without_rowid else [r + (k,) for k, r in rows.items()])
        query.initial = query.compiled.step(feed)

    # -- commits ------------------------------------------------------------------------

    def _on_commit(self, changes) -> None:
        """In-commit hook: step every circuit once, attach per-binding notifications.
        Never raises (a failing circuit is logged and its subscribers dropped)."""
        if not self.queries and not self.bound:
            return
        ticks = change_ticks(changes, self.db.tables)
        if not ticks:
            return
        notes = []
        for query in [*self.queries.values(), *self.bound.values()]:
            out = ZSet()
            try:
                for tick in ticks:
                    feed = {rel: z for rel, z in tick.items() if rel in query.inputs}
                    if feed:
                        out.add(query.compiled.step(feed))
            except Exception:  # noqa: BLE001 - the commit is installed; keep it
                log.exception("subscription query failed at commit %s: %s", changes.ts,
                              query.sql)
                continue
            if not out:
                continue
            for key, z in query.split(out).items():
                binding = query.bindings.get(key)
                if binding is None or not z:
                    continue
                binding.apply(z)
                for sub in binding.subscribers:
                    notes.append(Notification(sub, changes.ts, changes.time, z))
        if notes:
            changes.notifications = notes

    def _after_commit(self, changes) -> None:
        notes = getattr(changes, "notifications", None)
        if notes and self.deliver is not None:
            self.deliver(notes)


def _committed_session(session, db):
    """A session whose transaction sees the committed catalog and tables (compiling
    against a user's open transaction could bind to uncommitted schema)."""
    from engine.sql.session import Session
    from engine.transaction import Transaction
    s = Session(db)
    s.txn = Transaction(db, "DEFERRED", db.last_ts, db.catalog, db.tables, 5.0)
    s.collations = session.collations
    return s


def hub_for(db) -> SubscriptionHub:
    """The Database's hub, created (and hooked into commits) on first use."""
    hub = getattr(db, "subscription_hub", None)
    if hub is None:
        with db._state_lock:
            hub = getattr(db, "subscription_hub", None)
            if hub is None:
                hub = db.subscription_hub = SubscriptionHub(db)
    return hub
