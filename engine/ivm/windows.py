"""Window functions in materialized views: recompute only the partitions a delta touches.

SQLite evaluates window functions after FROM/WHERE/GROUP BY/HAVING and before
DISTINCT/ORDER BY/LIMIT. A view does the same on the stream of that stage's
rows with ``dbsp``'s ``Window`` operator: rows are partitioned by the PARTITION
BY terms every window of the SELECT shares, and a changed partition is
evaluated again, whole, by the executor's own ``WindowStage``
(``engine.sql.compiler.window``), so a view and a query agree by construction.
The operator emits ``new - old`` output rows for the touched partitions only.

Several windows with different PARTITION BYs share the partition key of their
common terms (a finer PARTITION BY refines it, and ``WindowStage`` splits the
finer partitions itself); with no common term, or no PARTITION BY at all, the
whole relation is one partition and every change recomputes it (said in the
compiled view's ``explain``).

Peers (rows equal on the ORDER BY terms) are taken by SQLite in scan order, so
each partition is sorted first by the hidden rowids of its rows (by the
GROUP BY key after aggregation, as SQLite emits groups in that order); a row
with no rowid (from a subquery, view or WITHOUT ROWID table) falls back to a
total order of its values, which may order peers differently from SQLite.
"""

from __future__ import annotations

from engine.errors import unsupported
from engine.ivm.parameters import mentions_params
from engine.ivm.rows import strict
from engine.sql.compiler.expr import ExprCompiler
from engine.sql.compiler.window import WindowStage, collect_windows
from engine.values import sort_key_function
from dbsp import total_order_key


def window_stage(vc, node, items, scope, comp, stream, grouped):
    """Add the Window operator for the window calls of ``node`` to ``stream``.

    ``comp`` compiles over the stage's input rows (post-aggregation rows when
    ``grouped`` is not None). Returns ``(stream, compiler)``: output rows are the
    input rows (cut to their known width) plus one slot per window call, and the
    compiler reads each call node from its slot. Per step:
    O(Σ touched partitions · (p log p + the functions' frame work)).
    """
    nodes = collect_windows(node, items)
    width = _row_width(scope, comp)
    stage = WindowStage(nodes, node, comp, vc.session, width)
    slots = dict(comp.aggregates or {})
    slots.update(stage.slots)
    partition_key, described = _partition_key(stage, comp)
    if vc.param_count and getattr(vc, "_params_slots", None) and vc._depth == 1:
        # A subscription's bindings never share a partition: each binding's rows are
        # windowed as if the query ran with its values bound.
        by_query, bound = partition_key, tuple(vc._params_slots)
        # (strict: 1 and 1.0 are two bindings, so two partitions)
        partition_key = lambda row: (by_query(row), strict(tuple([row[i] for i in bound])))  # noqa: E731
        described = f"{described or '(whole result)'} per binding"
    elif vc.param_count and mentions_params(node):
        # (a FROM subquery reading no parameter is the same for every binding: a view)
        raise unsupported("window functions in a subquery of a parametrized subscription")
    tie_key = _tie_key(vc, node, items, scope, comp, grouped)
    run = stage.run
    cell = [None]

    def compute(rows):
        rows = sorted([row[:width] for row in rows], key=tie_key)
        # type-strict rows: a slot turning from -2 to -2.0 must not cancel in new - old
        return [strict(r) for r in run(lambda: rows, cell)]

    vc.explain.append(
        f"window: recompute the touched partitions (PARTITION BY {described})" if described
        else "window: one partition (no common PARTITION BY): every change recomputes it")
    return stream.window(partition_key, compute), ExprCompiler(
        scope, comp.rt, aggregates=slots, planner=comp.planner)


def _row_width(scope, comp):
    """The width of the stage's input rows that later expressions may read: the flat
    scope, or past it the post-aggregation slots (GROUP BY expressions, aggregates).
    Slots appended for WHERE/HAVING subqueries lie beyond it and are dropped."""
    width = scope.width
    for slot in (comp.aggregates or {}).values():
        if type(slot) is int and slot >= width:
            width = slot + 1
    return width


def _partition_key(stage, comp):
    """``(row -> partition key, description)`` over the PARTITION BY terms common to
    every window definition, each normalized by its collation (NOCASE 'a' and 'A'
    are one partition, as are 1 and 1.0); ``None`` description: one partition."""
    definitions = [call.definition for call in stage.calls]
    common = [p for p in definitions[0].partition
              if all(any(p.sql() == q.sql() for q in d.partition) for d in definitions[1:])]
    if not common:
        return _one_partition, None
    fns = []
    for term in common:
        compiled = comp.compile(term)
        fns.append((compiled.fn, sort_key_function(compiled.collation or "BINARY",
                                                   comp.rt.session.collations
                                                   if comp.rt.session is not None else None)))

    def key(row):
        out = []
        for fn, skey in fns:
            v = fn(row)
            out.append(None if v is None else skey(v))
        return tuple(out)
    return key, ", ".join(t.sql(dialect="sqlite") for t in common)


def _one_partition(_row):
    return ()


def _tie_key(vc, node, items, scope, comp, grouped):
    """Row -> the key of SQLite's order of rows before the window sort (peers keep it):
    rowids in scan order; after GROUP BY the group key; else a total order."""
    if grouped is not None:
        group = node.args.get("group")
        targets = [vc.planner._group_target(g, items, scope)
                   for g in (group.expressions if group is not None else [])]
        fns = [comp.compile(t).fn for t in targets]
        binary = sort_key_function("BINARY")

        def group_order(row):
            return tuple([(0,) if v is None else (1, binary(v))
                          for v in [f(row) for f in fns]])
        return group_order
    from engine.ivm.compiler import _scan_order
    scan = _scan_order(scope)
    if scan is None:
        return total_order_key
    return lambda row: total_order_key(scan(row))
