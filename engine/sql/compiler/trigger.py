"""Triggers: BEFORE/AFTER ... FOR EACH ROW [WHEN ...] BEGIN ... END.

A trigger's body statements compile against a parent scope holding two
pseudo-tables, ``new`` and ``old`` (each the table's columns plus its rowid);
firing sets that scope's current row and runs the body. Bodies compile lazily
on first fire (a trigger may write the table it watches). As in SQLite without
``recursive_triggers``, a trigger never fires itself while it is running.
``RAISE(IGNORE)`` skips the row being changed; ``RAISE(ABORT|FAIL|ROLLBACK,
msg)`` fails the statement with IntegrityError(msg) (lang_createtrigger.html).
"""

from __future__ import annotations

from sqlglot import exp

from engine.errors import IntegrityError, OperationalError
from engine.sql.compiler.expr import ExprCompiler, Runtime
from engine.sql.compiler.scope import ColumnMeta, Scope, Source
from engine.transaction import constraint_error
from engine.values import is_true


class TriggerRaise(Exception):
    """RAISE(kind, message) inside a trigger body."""

    def __init__(self, kind: str, message: str | None):
        super().__init__(message or kind)
        self.kind = kind
        self.message = message


def raise_error(kind: str, message) -> IntegrityError:
    """The error a RAISE(ABORT|FAIL|ROLLBACK, msg) becomes (SQLITE_CONSTRAINT)."""
    # the RAISE's own action decides how the statement ends, whatever its OR clause
    return constraint_error(message if message is not None else "", kind)


class CompiledTrigger:
    """One trigger, compiled on first use against its table's NEW/OLD scope."""

    def __init__(self, session, node, table_schema):
        self.session = session
        self.node = node
        self.name = node.this.name
        self.timing = (node.args.get("timing") or "BEFORE").upper()
        cols = node.args.get("columns")
        self.columns = {c.name.lower() for c in cols} if cols else None
        self.table_schema = table_schema
        self._compiled = None
        self.view_modes = None

    def _compile(self):
        from engine.sql.compiler.dml import compile_delete, compile_insert, compile_update
        from engine.sql.compiler.query import Planner
        schema = self.table_schema
        cols = [ColumnMeta(c.name, c.affinity, c.collation, c.decltype) for c in schema.columns]
        scope = Scope()
        scope.add(Source("new", list(cols), rowid_slot=len(cols), table=_RowidAlias(schema)))
        scope.add(Source("old", list(cols), rowid_slot=len(cols), table=_RowidAlias(schema)))
        rt = Runtime(self.session)
        planner = Planner(self.session, rt)
        when = self.node.args.get("when")
        when_fn = ExprCompiler(scope, rt, planner=planner).fn(when) if when is not None else None
        body = []
        for stmt in self.node.args.get("body") or []:
            if isinstance(stmt, exp.Insert):
                body.append(("dml", compile_insert(stmt, planner, scope)))
            elif isinstance(stmt, exp.Update):
                body.append(("dml", compile_update(stmt, planner, scope)))
            elif isinstance(stmt, exp.Delete):
                body.append(("dml", compile_delete(stmt, planner, scope)))
            elif isinstance(stmt, (exp.Select, exp.SetOperation, exp.Values)):
                body.append(("query", planner.query(stmt, scope)))
            else:
                raise OperationalError(
                    f"not supported by turso_stream: {stmt.key.upper()} inside a trigger")
        self._compiled = (scope, rt, when_fn, body, len(cols) + 1)
        # How its queries read materialized views (store or SELECT): recompiled when
        # that must change, as cached statements are (Session._views_current).
        self.view_modes = planner.__dict__.get("view_modes")
        return self._compiled

    def fire(self, txn, new_row, old_row) -> bool:
        """Run the trigger for one row (rows include the rowid last, or None).

        Returns False when the body executed RAISE(IGNORE): the caller skips the row.
        """
        session = self.session
        active = session.active_triggers
        if self.name in active:
            return True
        compiled = self._compiled
        if compiled is None or (self.view_modes and not self.session._views_current(self)):
            compiled = self._compile()
        scope, rt, when_fn, body, width = compiled
        pad = (None,) * width
        row = (new_row if new_row is not None else pad) + (old_row if old_row is not None else pad)
        scope.cell[0] = row
        rt.txn = txn
        rt.memo.clear()
        if when_fn is not None and is_true(when_fn(row)) is not True:
            return True
        saved = (session.changes, session.last_insert_rowid)
        active.add(self.name)
        try:
            for kind, plan in body:
                scope.cell[0] = row
                if kind == "query":
                    for _ in plan.run():
                        pass
                else:
                    plan.run()
        except TriggerRaise as exc:
            if exc.kind == "IGNORE":
                return False
            raise raise_error(exc.kind, exc.message) from None
        finally:
            active.discard(self.name)
            session.changes, session.last_insert_rowid = saved
        return True


class _RowidAlias:
    """Lets ``new.rowid`` / ``old.rowid`` resolve to the INTEGER PRIMARY KEY column."""

    def __init__(self, schema):
        self.schema = schema


class TableTriggers:
    """The triggers of one table for one event, split by timing."""

    def __init__(self, session, table_schema, event: str):
        self.before: list[CompiledTrigger] = []
        self.after: list[CompiledTrigger] = []
        self.instead: list[CompiledTrigger] = []
        catalog = session.txn.catalog
        for obj in catalog.others.values():
            if obj.type != "trigger" or obj.table.lower() != table_schema.name.lower():
                continue
            node = session.parse_trigger(obj.sql)
            if (node.args.get("event") or "").upper() != event:
                continue
            t = CompiledTrigger(session, node, table_schema)
            {"AFTER": self.after, "INSTEAD OF": self.instead}.get(t.timing, self.before).append(t)

    def __bool__(self) -> bool:
        return bool(self.before or self.after)

    def fire_before(self, txn, new_row, old_row, assigned=None) -> bool:
        return _fire(self.before, txn, new_row, old_row, assigned)

    def fire_after(self, txn, new_row, old_row, assigned=None) -> bool:
        return _fire(self.after, txn, new_row, old_row, assigned)

    def fire_instead(self, txn, new_row, old_row, assigned=None) -> bool:
        return _fire(self.instead, txn, new_row, old_row, assigned)


def _fire(triggers, txn, new_row, old_row, assigned) -> bool:
    for t in triggers:
        if t.columns is not None and assigned is not None and not (t.columns & assigned):
            continue
        if not t.fire(txn, new_row, old_row):
            return False
    return True
