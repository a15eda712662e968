"""UPSERT: ``INSERT ... ON CONFLICT [(target) [WHERE]] DO NOTHING | DO UPDATE``.

SQLite's rules (lang_upsert.html, upsert.c, insert.c):

* a target names the columns of the rowid / PRIMARY KEY or of a UNIQUE index (in
  any order); a partial unique index matches only a target whose WHERE is the
  index's WHERE. No match: "ON CONFLICT clause does not match any PRIMARY KEY or
  UNIQUE constraint". Only the last clause may omit the target; it then catches
  every uniqueness conflict.
* the constraints named by targets are checked first, in clause order; the first
  one the new row collides with decides: DO NOTHING skips the row, DO UPDATE
  updates the *existing* row (``excluded.col`` is the row that was to be inserted,
  after affinity). Any other conflict is handled by the statement's own conflict
  algorithm (ABORT unless INSERT OR ...). NOT NULL and CHECK fail before any of it.
* DO UPDATE behaves as an UPDATE of that row: its WHERE may skip it, UPDATE
  triggers fire, and its own uniqueness failures raise.
"""

from __future__ import annotations

from sqlglot import exp

from engine.errors import OperationalError
from engine.mvcc.index import has_null
from engine.sql.compiler.dml import apply_assignments
from engine.sql.compiler.expr import ExprCompiler
from engine.sql.compiler.scope import Scope
from engine.sql.parse import parse_one
from engine.values import is_true

_NO_MATCH = "ON CONFLICT clause does not match any PRIMARY KEY or UNIQUE constraint"
_ANY = object()  # the target of a clause without one: every uniqueness constraint


class UpsertClause:
    """One ON CONFLICT clause: ``constraint`` (None = the rowid / PRIMARY KEY, an
    IndexStore, or _ANY), DO NOTHING or the compiled SET list and WHERE."""

    __slots__ = ("constraint", "nothing", "sets", "where", "assigned")

    def __init__(self, constraint, nothing, sets=(), where=None, assigned=frozenset()):
        self.constraint = constraint
        self.nothing = nothing
        self.sets = sets
        self.where = where
        self.assigned = assigned


def _ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th ... 11th, 12th, 13th, 21st (printf's %r)."""
    suffix = "th" if n % 10 >= 4 or n % 10 == 0 or (n // 10) % 10 == 1 else \
        ("st", "nd", "rd")[n % 10 - 1]
    return f"{n}{suffix}"


def _where_text(sql: str) -> str:
    return parse_one("SELECT " + sql).expressions[0].sql().lower()


def _constraints(table):
    """``[(positions, where_sql, constraint)]`` of every uniqueness constraint in
    SQLite's checking order (rowid / PRIMARY KEY first, then newest index first)."""
    schema = table.schema
    out = []
    if schema.rowid_alias is not None:
        out.append((frozenset([schema.rowid_alias]), None, None))
    elif schema.without_rowid:
        out.append((frozenset(schema.primary_key), None, None))
    for ix in reversed(table.unique_indexes):
        parts = ix.schema.columns
        if all(p.column is not None for p in parts):
            out.append((frozenset(p.column for p in parts), ix.schema.where_sql, ix))
    return out


def _match_target(node, table):
    """The constraint an ON CONFLICT target names (see module docstring)."""
    keys = node.args.get("conflict_keys") or []
    if not keys:
        return _ANY
    positions = set()
    for k in keys:
        col = k.this if isinstance(k, exp.Ordered) else k
        if isinstance(col, exp.Collate):
            col = col.this
        if not isinstance(col, exp.Column) or table.schema.column(col.name) is None:
            raise OperationalError(_NO_MATCH)
        positions.add(table.schema.column(col.name))
    pred = node.args.get("index_predicate")
    pred_text = pred.this.sql().lower() if pred is not None else None
    for cols, where_sql, constraint in _constraints(table):
        if cols != positions:
            continue
        if where_sql is not None and (pred_text is None or _where_text(where_sql) != pred_text):
            continue
        return constraint
    raise OperationalError(_NO_MATCH)


def compile_upsert(nodes, planner, table, scope: Scope):
    """The Upsert for the ON CONFLICT clause nodes of an INSERT into ``table``.

    ``scope`` is the INSERT's scope over the target row (RETURNING's); DO UPDATE
    expressions see the target row there and ``excluded`` one level out.
    """
    if not isinstance(nodes, list):
        nodes = [nodes]
    schema = table.schema
    excluded_scope = Scope()
    excluded, _ = planner._table_source(table, "excluded")
    excluded_scope.add(excluded)
    inner = Scope(parent=excluded_scope)
    target, _ = planner._table_source(table, scope.sources[0].name)
    inner.add(target)
    comp = ExprCompiler(inner, planner.rt, planner=planner)
    clauses = []
    for i, node in enumerate(nodes):
        try:
            constraint = _match_target(node, table)
        except OperationalError as exc:
            if len(nodes) == 1:
                raise
            # upsert.c: in a chain the message names the clause ("2nd ON CONFLICT ...")
            raise OperationalError(f"{_ordinal(i + 1)} {exc}") from None
        if constraint is _ANY and i != len(nodes) - 1:
            raise OperationalError(_NO_MATCH)
        action = node.args.get("action")
        if node.args.get("nothing") or (action is not None and "NOTHING" in action.sql().upper()):
            clauses.append(UpsertClause(constraint, True))
            continue
        sets, assigned = [], set()
        for eq in node.expressions:
            cols = eq.this.expressions if isinstance(eq.this, exp.Tuple) else [eq.this]
            values = eq.expression.expressions if isinstance(eq.this, exp.Tuple) else \
                [eq.expression]
            if len(cols) != len(values):
                raise OperationalError(f"{len(cols)} columns assigned {len(values)} values")
            for col, value in zip(cols, values):
                pos = schema.column(col.name)
                if pos is None and col.name.lower() in ("rowid", "oid", "_rowid_") \
                        and not schema.without_rowid:
                    pos = -1
                if pos is None:
                    raise OperationalError(f"no such column: {col.name}")
                assigned.add(col.name.lower())
                sets.append((pos, comp.fn(value)))
        where = node.args.get("where")
        where_fn = comp.fn(where.this) if where is not None else None
        clauses.append(UpsertClause(constraint, False, sets, where_fn, frozenset(assigned)))
    return Upsert(clauses, table, excluded_scope.cell, inner.cell, planner.session)


def _same_key_collision(txn, name, prepared, key, index):
    """``key`` when the row already stored under the new row's own key collides with
    it on ``index``. (unique_conflict ignores the row at ``key`` itself, right for
    UPDATE; an INSERT whose rowid and UNIQUE value both hit one existing row must
    report the UNIQUE clause when it comes first in the chain.) O(log n)."""
    if key is None:
        return None
    existing = txn.get(name, key)
    if existing is None:
        return None
    new_key = index.key_of(prepared, key)
    if new_key is None or has_null(new_key):
        return None
    return key if index.key_of(existing, key) == new_key else None


class Upsert:
    """Compiled ON CONFLICT clauses of one INSERT (see module docstring)."""

    def __init__(self, clauses, table, excluded_cell, target_cell, session):
        self.clauses = clauses
        self.table = table
        self.excluded_cell = excluded_cell
        self.target_cell = target_cell
        self.session = session
        self.order = [c for _cols, _w, c in _constraints(table)]

    def find(self, txn, row: tuple, rowid):
        """``(clause, existing key, excluded row)`` for the first clause whose
        constraint ``row`` collides with, or None (insert normally). O(k log n)."""
        name = self.table.name
        key, prepared = txn.prepared_row(name, row, rowid)
        for clause in self.clauses:
            targets = self.order if clause.constraint is _ANY else (clause.constraint,)
            for constraint in targets:
                other = txn.unique_conflict(name, prepared, key, constraint)
                if other is None and constraint is not None:
                    other = _same_key_collision(txn, name, prepared, key, constraint)
                if other is not None:
                    excluded = prepared if self.table.without_rowid else prepared + (key,)
                    return clause, other, excluded
        return None

    def update(self, txn, clause: UpsertClause, key, excluded, triggers):
        """DO UPDATE of the row at ``key``; returns its key, or None when its WHERE
        (or a BEFORE trigger) skipped it. Runs as UPDATE does (triggers, checks)."""
        name = self.table.name
        schema = self.table.schema
        with_rowid = not schema.without_rowid
        old = txn.get(name, key)
        old_full = old + (key,) if with_rowid else old
        self.excluded_cell[0] = excluded
        self.target_cell[0] = old_full
        if clause.where is not None and not is_true(clause.where(old_full)):
            return None
        new, new_key = apply_assignments(clause.sets, old_full, old, schema)
        trig_old = old_full if with_rowid else old + (None,)
        if triggers and triggers.before:
            nk = new_key if new_key is not None else key
            if not triggers.fire_before(txn, tuple(new) + (nk if with_rowid else None,),
                                        trig_old, clause.assigned):
                return None
            if txn.get(name, key) is None:
                return None
        if new_key is not None and schema.rowid_alias is None:
            txn.delete(name, key)
            k = txn.insert(name, tuple(new), rowid=new_key)
        else:
            k = txn.update(name, key, tuple(new))
        if triggers and triggers.after:
            stored = txn.get(name, k)
            triggers.fire_after(txn, stored + (k if with_rowid else None,), trig_old,
                                clause.assigned)
        return k
