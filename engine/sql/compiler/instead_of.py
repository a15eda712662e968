"""INSERT, UPDATE and DELETE on a view that has INSTEAD OF triggers.

The statement changes no table itself: for every row it would have changed, the
view's INSTEAD OF triggers run with NEW/OLD bound to the view row
(lang_createtrigger.html, "INSTEAD OF triggers"). Without such a trigger, writing
a view is SQLite's error "cannot modify v because it is a view".
"""

from __future__ import annotations

from sqlglot import exp

from engine.catalog.schema import Column, TableSchema
from engine.errors import OperationalError
from engine.sql.compiler.expr import ExprCompiler
from engine.sql.compiler.query import Planner, _conjuncts
from engine.sql.compiler.scope import ColumnMeta, Scope, Source


def view_target(planner: Planner, node, event: str):
    """``(view plan, TableTriggers)`` when ``node`` writes a view with INSTEAD OF
    triggers for ``event``; None when the target is not a view (or has none)."""
    target = node.this.this if isinstance(node.this, exp.Schema) else node.this
    session = planner.session
    name = target.name
    if session.table_for_query(name) is not None:
        return None
    view = session.view_for_query(name)
    if view is None:
        return None
    plan = planner.query(view[0], None)
    names = view[1] or [c.name for c in plan.columns]
    schema = TableSchema(name=name, sql="", columns=tuple(Column(n) for n in names))
    triggers = session.triggers(schema, event)
    instead = triggers.instead
    if event == "UPDATE":  # only triggers whose UPDATE OF list meets the SET columns count
        assigned = {eq.this.name.lower() for eq in node.expressions}
        instead = [t for t in instead if t.columns is None or t.columns & assigned]
    if not instead:
        return None
    return plan, names, triggers


def compile_view_insert(node, planner: Planner, found, parent=None):
    from engine.sql.compiler.dml import DmlPlan, _insert_source
    plan, names, triggers = found
    columns_given = [c.name for c in node.this.expressions] if isinstance(node.this, exp.Schema) \
        else None
    index = {n.lower(): i for i, n in enumerate(names)}
    if columns_given is None:
        positions = list(range(len(names)))
    else:
        positions = []
        for c in columns_given:
            if c.lower() not in index:
                raise OperationalError(f"table {node.this.this.name} has no column named {c}")
            positions.append(index[c.lower()])
    schema = TableSchema(
        name=node.this.this.name if isinstance(node.this, exp.Schema) else node.this.name,
        sql="", columns=tuple(Column(n) for n in names))
    source_rows, _width = _insert_source(node, planner, positions, schema, columns_given, parent)
    rt = planner.rt
    width = len(names)

    def run():
        txn = rt.txn
        for values in source_rows():
            row = [None] * width
            for pos, v in zip(positions, values):
                row[pos] = v
            triggers.fire_instead(txn, tuple(row) + (None,), None)
        planner.session.note_changes(0, None)
        return []
    return DmlPlan(run)


def _view_rows(planner, node, plan, names, parent):
    """Scope over the view's rows and a function listing the rows the WHERE selects."""
    scope = Scope(parent=parent)
    alias = node.this.alias or node.this.name
    scope.add(Source(alias, [ColumnMeta(n) for n in names]))
    comp = ExprCompiler(scope, planner.rt, planner=planner)
    where = node.args.get("where")
    preds = [comp.predicate(c) for c in _conjuncts(where.this)] if where is not None else []
    cell = scope.cell

    def matching():
        out = []
        for row in plan.run():
            cell[0] = row
            if all(p(row) for p in preds):
                out.append(row)
        return out
    return scope, comp, matching


def compile_view_update(node, planner: Planner, found, parent=None):
    from engine.sql.compiler.dml import DmlPlan
    plan, names, triggers = found
    scope, comp, matching = _view_rows(planner, node, plan, names, parent)
    index = {n.lower(): i for i, n in enumerate(names)}
    sets, assigned = [], set()
    for eq in node.expressions:
        name = eq.this.name
        if name.lower() not in index:
            raise OperationalError(f"no such column: {name}")
        assigned.add(name.lower())
        sets.append((index[name.lower()], comp.fn(eq.expression)))
    rt = planner.rt
    cell = scope.cell

    def run():
        txn = rt.txn
        for row in matching():
            cell[0] = row
            new = list(row)
            for pos, fn in sets:
                new[pos] = fn(row)
            triggers.fire_instead(txn, tuple(new) + (None,), tuple(row) + (None,), assigned)
        planner.session.note_changes(0, None)
        return []
    return DmlPlan(run)


def compile_view_delete(node, planner: Planner, found, parent=None):
    from engine.sql.compiler.dml import DmlPlan
    plan, names, triggers = found
    _scope, _comp, matching = _view_rows(planner, node, plan, names, parent)
    rt = planner.rt

    def run():
        txn = rt.txn
        for row in matching():
            triggers.fire_instead(txn, None, tuple(row) + (None,))
        planner.session.note_changes(0, None)
        return []
    return DmlPlan(run)
