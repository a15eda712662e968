"""The query planner and executor for SELECT, VALUES and compound queries.

A query compiles into a ``QueryPlan``: output column metadata plus ``run()``,
a generator of result tuples. Plans are trees of Python generators (the
Volcano model) over flat rows (see ``scope``). Decisions made at compile time:

* access path per table: rowid point/IN/range lookup, index prefix + range
  probe, or full scan (every WHERE conjunct still runs as a residual filter, so
  an access path only needs to return a superset of the matching rows);
* join method per join step: index/rowid lookup on the inner table, hash join
  on equi-join conjuncts, else nested loop over the materialized inner side;
* aggregation: one dict of group states, aggregates computed by the registry's
  accumulators; ORDER BY: one stable sort per key term; LIMIT stops the pipeline.

``explain`` records the choices for EXPLAIN QUERY PLAN.

This module holds ``Planner`` (entry points, VALUES, the SELECT pipeline); its
other methods live in mixins named for what they plan: ``sources`` (FROM items),
``joins``, ``access`` (access paths), ``aggregation``, ``ordering`` (ORDER BY,
DISTINCT, LIMIT), ``compound`` and ``ctes``; ``predicates`` and ``projection``
hold the shared helpers.
"""

from __future__ import annotations

from sqlglot import exp

from engine.errors import OperationalError
from engine.sql.compiler.access import AccessPlanner
from engine.sql.compiler.aggregation import (
    AggregatePlanner, _collect_aggregates, check_aggregate_use)
from engine.sql.compiler.compound import CompoundPlanner
from engine.sql.compiler.ctes import CtePlanner
from engine.sql.compiler.expr import ExprCompiler, Runtime
from engine.sql.compiler.joins import JoinPlanner
from engine.sql.compiler.ordering import _distinct_run, _top_count, OrderingPlanner
from engine.sql.compiler.plan import QueryPlan
from engine.sql.compiler.predicates import _conjuncts
from engine.sql.compiler.projection import _source_columns, _output_meta, _projector
from engine.sql.compiler.scope import ColumnMeta, Scope
from engine.sql.compiler.sources import SourcePlanner
from engine.sql.compiler.window import WindowStage, collect_windows

# Re-exported for the DML compiler and INSTEAD OF triggers.
__all__ = ["Planner", "QueryPlan", "_conjuncts", "_output_meta"]


class Planner(SourcePlanner, JoinPlanner, AccessPlanner, AggregatePlanner, OrderingPlanner,
              CompoundPlanner, CtePlanner):
    """Compiles query ASTs against a transaction's catalog (via the session)."""

    def __init__(self, session, rt: Runtime):
        self.session = session
        self.rt = rt
        self.ctes: list[dict] = []
        self.explain: list[str] = []

    def query(self, node, parent: Scope | None = None) -> QueryPlan:
        """Plan any query node: Select, Union/Intersect/Except, Values, Subquery."""
        with_ = node.args.get("with_") if isinstance(node, (exp.Select, exp.SetOperation)) else None
        if with_ is not None:
            self.ctes.append(self._cte_map(with_, parent))
            try:
                return self._query(node, parent)
            finally:
                self.ctes.pop()
        return self._query(node, parent)

    def subquery(self, node, parent: Scope, rt: Runtime) -> QueryPlan:
        plan = self.query(node, parent)
        return plan

    def _query(self, node, parent):
        if isinstance(node, exp.Subquery):
            return self.query(node.this, parent)
        if isinstance(node, exp.Paren):
            return self.query(node.this, parent)
        if isinstance(node, exp.SetOperation):
            return self._compound(node, parent)
        if isinstance(node, exp.Values):
            return self._values(node, parent)
        if isinstance(node, exp.Select):
            return self._select(node, parent)
        raise OperationalError(f"not supported by turso_stream: query {node.key}")

    def _values(self, node, parent):
        scope = Scope(parent=parent)
        comp = ExprCompiler(scope, self.rt, planner=self)
        rows = []
        width = None
        for tup in node.expressions:
            items = tup.expressions if isinstance(tup, exp.Tuple) else [tup]
            if width is None:
                width = len(items)
            elif len(items) != width:
                raise OperationalError("all VALUES must have the same number of terms")
            rows.append([comp.compile(e) for e in items])
        # several rows are a compound of one-row SELECTs: a FROM item sees the first
        # row's collations (selectAddColumnTypeAndCollation reads the leftmost arm)
        columns = []
        for i in range(width or 0):
            first = rows[0][i].collation
            columns.append(ColumnMeta(f"column{i + 1}", None, first or "BINARY",
                                      has_collation=first is not None))
        rows = [[c.fn for c in r] for r in rows]

        def run():
            for fns in rows:
                yield tuple(f(()) for f in fns)
        return QueryPlan(columns, run, scope, scope.correlated)

    def _select(self, node: exp.Select, parent):
        scope = Scope(parent=parent)
        from_plan = self._from(node, scope)
        comp = ExprCompiler(scope, self.rt, planner=self)
        where = node.args.get("where")
        conjuncts = _conjuncts(where.this) if where is not None else []
        explain_mark = len(self.explain)  # where the access path's line goes
        source_rows = from_plan(conjuncts, comp)
        select_items = self._expand_stars(node.expressions, scope)
        aggregate_nodes = _collect_aggregates(node, select_items, self.session)
        if check_aggregate_use(node, select_items, aggregate_nodes, self.session):
            return self._aggregate_select(node, scope, comp, source_rows, select_items,
                                          aggregate_nodes, parent)
        plain_comp = comp
        source_rows, comp = self._windows(node, select_items, scope, comp, source_rows,
                                          scope.width)
        out_fns = [comp.compile(item) for item in select_items]
        columns = [_output_meta(item, c) for item, c in zip(select_items, out_fns)]
        fns = [c.fn for c in out_fns]
        project = _projector(fns)
        order = node.args.get("order")
        distinct = node.args.get("distinct") is not None
        if order is not None and comp is plain_comp and not distinct:
            in_order = self._index_ordered(node, scope, comp, select_items, columns,
                                           conjuncts, explain_mark)
            if in_order is not None:
                source_rows, order = in_order, None
        if order is not None:
            self.explain.append("USE TEMP B-TREE FOR ORDER BY")
            terms = self._order_terms(order, select_items, columns, comp, aggregate=False)
            run = self._sorted_run(source_rows, project, terms, distinct, columns, scope,
                                   _top_count(node, comp))
        else:
            def run():
                cell = scope.cell
                for row in source_rows():
                    cell[0] = row
                    yield project(row)
            if distinct:
                run = _distinct_run(run, columns)
        run = self._limit(node, run, comp)
        return QueryPlan(columns, run, scope, scope.correlated)

    def _expand_stars(self, items, scope):
        out = []
        for item in items:
            if isinstance(item, exp.Star):
                if not scope.sources:
                    raise OperationalError("no tables specified")
                for s in scope.sources:
                    out.extend(_source_columns(s))
            elif isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
                tname = item.table
                src = [s for s in scope.sources if s.name.lower() == tname.lower()]
                if not src:
                    raise OperationalError(f"no such table: {tname}")
                out.extend(_source_columns(src[0], qualified=True))
            else:
                out.append(item)
        return out

    def _windows(self, node, select_items, scope, comp, rows, width):
        """The window stage (``compiler.window``) over ``rows`` when the select list
        or ORDER BY calls window functions: ``(rows, compiler reading their slots)``."""
        nodes = collect_windows(node, select_items)
        if not nodes:
            return rows, comp
        stage = WindowStage(nodes, node, comp, self.session, width)
        slots = dict(comp.aggregates or {})
        slots.update(stage.slots)
        return (lambda: stage.run(rows, scope.cell),
                ExprCompiler(scope, self.rt, aggregates=slots, planner=self))
