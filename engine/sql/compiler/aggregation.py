"""Aggregation: GROUP BY / plain aggregates into one dict of group states.

Aggregates are the function registry's accumulators (step/finalize); bare
columns read the group's last row, or with a lone min()/max() the row that set
the extreme, as SQLite's.
"""

from __future__ import annotations

from itertools import islice
from operator import itemgetter

from sqlglot import exp

from engine.errors import OperationalError
from engine.sql.compiler.expr import ExprCompiler, _hash_key_function
from engine.sql.compiler.ordering import _ordinal, _distinct_run, _top_count
from engine.sql.compiler.plan import QueryPlan
from engine.sql.compiler.projection import _output_meta, _projector
from engine.sql.compiler.window import window_operands
from engine.sql.functions import Distinct, lookup_aggregate
from engine.sql.functions.aggregates import RunningExtreme
from engine.values import sort_key_function


class AggregatePlanner:
    """Planner methods for aggregate queries (a mixin of ``Planner``)."""

    def _aggregate_select(self, node, scope, comp, source_rows, select_items, agg_nodes, parent):
        group = node.args.get("group")
        group_fns = []
        group_sort = []  # each term's sort key: groups come out in key order
        if group is not None:
            for g in group.expressions:
                target = self._group_target(g, select_items, scope)
                c = comp.compile(target)
                group_fns.append((c.fn, _hash_key_function(c.collation or "BINARY")))
                group_sort.append(sort_key_function(c.collation or "BINARY",
                                                    self.session.collations
                                                    if self.session else None))
        specs = [self._aggregate_spec(n, comp) for n in agg_nodes]
        width = scope.width
        slots = {id(n): width + k for k, n in enumerate(agg_nodes)}
        post = ExprCompiler(scope, self.rt, aggregates=slots, planner=self)
        having = node.args.get("having")
        having_fn = post.predicate(having.this) if having is not None else None
        # A lone min()/max() gives bare columns the row that set the extreme; with no
        # bare column to read there is nothing to track.
        single_extreme = (len(specs) == 1 and specs[0][0] in ("min", "max")
                          and _has_bare_columns(node, select_items, agg_nodes))
        empty_row = (None,) * width
        grouped = group is not None

        plain = not single_extreme and all(spec[3] is None for spec in specs)

        def groups():
            cell = scope.cell
            if plain and grouped:
                states = _gathered_groups(source_rows, cell, specs, group_fns, group_sort)
            else:
                if plain:
                    table = _plain_groups(source_rows, cell, specs, group_fns)
                else:
                    table = _tracking_groups(source_rows, cell, specs, group_fns,
                                             single_extreme)
                if not table and not grouped:
                    table[()] = [empty_row, [spec[1]() for spec in specs]]
                states = _in_group_order(table, group_sort) if grouped else table.values()
            for state in states:
                yield state[0] + tuple([_finalize(a) for a in state[1]])

        def rows():
            cell = scope.cell
            for g in groups():
                cell[0] = g
                if having_fn is None or having_fn(g):
                    yield g

        rows, post = self._windows(node, select_items, scope, post, rows, width + len(specs))
        out = [post.compile(item) for item in select_items]
        columns = [_output_meta(item, c) for item, c in zip(select_items, out)]
        project = _projector([c.fn for c in out])
        order = node.args.get("order")
        distinct = node.args.get("distinct") is not None
        if order is not None:
            terms = self._order_terms(order, select_items, columns, post, aggregate=True)
            run = self._sorted_run(rows, project, terms, distinct, columns, scope,
                                   _top_count(node, post))
        else:
            def run():
                for g in rows():
                    yield project(g)
            if distinct:
                run = _distinct_run(run, columns)
        run = self._limit(node, run, post)
        return QueryPlan(columns, run, scope, scope.correlated)

    def _group_target(self, g, select_items, scope):
        if isinstance(g, exp.Literal) and not g.is_string and g.this.isdigit():
            k = int(g.this)
            if k < 1 or k > len(select_items):
                raise OperationalError(
                    f"{_ordinal(k)} GROUP BY term out of range - should be between 1 and "
                    f"{len(select_items)}")
            item = select_items[k - 1]
            return item.this if isinstance(item, exp.Alias) else item
        if isinstance(g, exp.Column) and not g.table:
            try:
                scope.resolve(g.name)
            except OperationalError:
                for item in select_items:
                    if isinstance(item, exp.Alias) and item.alias.lower() == g.name.lower():
                        return item.this
        return g

    def _aggregate_spec(self, node, comp):
        """``(name, factory, args_fn(row) -> tuple, filter_fn | None, arg fns)`` for one
        call."""
        filt = None
        if isinstance(node, exp.Filter):
            filt = comp.predicate(node.expression.this)
            node = node.this
        name = node.name.lower()
        args = list(node.expressions)
        distinct = False
        if args and isinstance(args[0], exp.Distinct):
            distinct = True
            args = list(args[0].expressions) + args[1:]
            if any(isinstance(a, exp.Star) for a in args):
                raise OperationalError('near "*": syntax error')
            if len(args) != 1:
                raise OperationalError(
                    "DISTINCT aggregates must have exactly one argument")
        if len(args) == 1 and isinstance(args[0], exp.Star):
            args = []
            if name != "count":
                raise OperationalError(f"wrong number of arguments to function {name}()")
        user = self.session.user_aggregate(name, len(args)) if self.session else None
        if user is not None:
            base_factory = user
        else:
            found = lookup_aggregate(name, len(args))
            if found is None:
                raise OperationalError(f"wrong number of arguments to function {name}()")
            base_factory = found.factory
        compiled = [comp.compile(a) for a in args]
        coll = compiled[0].collation if compiled else None
        if name in ("min", "max") and user is None:
            # Plain aggregation never removes a row: a running extreme, O(1) per row.
            want_max, collation = name == "max", coll or "BINARY"
            key = sort_key_function(collation)  # (one per query, not per group)
            factory = lambda: RunningExtreme(want_max, collation, key)
        else:
            factory = base_factory
        if distinct:
            inner_factory = factory
            factory = lambda: Distinct(inner_factory(), coll or "BINARY")
        fns = [c.fn for c in compiled]
        if name in ("min", "max") and user is None and len(args) == 1:
            fns = [comp.json_argument(args[0], node)]  # the JSON subtype passes through
        if not fns:
            args_fn = lambda row: ()
        elif len(fns) == 1:
            (f,) = fns
            args_fn = lambda row: (f(row),)
        else:
            args_fn = lambda row: tuple(g(row) for g in fns)
        return (name, factory, args_fn, filt, fns)


def _step_calls(accs, specs):
    """One group's step calls, bound once and split by arity: ``([step], [(step, fn)],
    [(step, args_fn)])`` so a row costs one call per aggregate and no argument tuple."""
    nullary, unary, general = [], [], []
    for acc, spec in zip(accs, specs):
        fns = spec[4]
        if not fns:
            nullary.append(acc.step)
        elif len(fns) == 1:
            unary.append((acc.step, fns[0]))
        else:
            general.append((acc.step, spec[2]))
    return nullary, unary, general


def _batch_steps(accs, specs):
    """``[(step_values, column getter) | (step_rows, None)]`` when every aggregate
    takes no argument or one plain column of this query's row and its accumulator
    has a batch step, else None. Plain columns (``operator.itemgetter``) read no
    correlated cell and raise nothing, so reading them a batch at a time is safe."""
    steps = []
    for acc, spec in zip(accs, specs):
        fns = spec[4]
        if not fns and hasattr(acc, "step_rows"):
            steps.append((acc.step_rows, None))
        elif len(fns) == 1 and type(fns[0]) is itemgetter and hasattr(acc, "step_values"):
            steps.append((acc.step_values, fns[0]))
        else:
            return None
    return steps


_BATCH = 1024


def _plain_batched(source_rows, accs, steps):
    """Ungrouped aggregation a batch of ``_BATCH`` rows at a time: each aggregate's
    column is read with a C ``map`` and handed to the accumulator's batch step,
    so a row costs no Python call per aggregate. The first row gives bare columns
    (SQLite 3.40 copies them on a group's first row only: updateAccumulator's
    regAcc). O(rows x aggregates) in C loops, O(_BATCH) memory."""
    it = source_rows()
    first = None
    while True:
        rows = list(islice(it, _BATCH))
        if not rows:
            break
        if first is None:
            first = rows[0]
        for step, get in steps:
            if get is None:
                step(len(rows))
            else:
                step(list(map(get, rows)))
        if len(rows) < _BATCH:
            break
    return {} if first is None else {(): [first, accs]}


def _has_bare_columns(node, select_items, agg_nodes) -> bool:
    """Does the select list, HAVING or ORDER BY read a column outside every aggregate
    call (subqueries included, conservatively)?"""
    aggregates = {id(n) for n in agg_nodes}
    stack = list(select_items)
    for key in ("having", "order"):
        if node.args.get(key) is not None:
            stack.append(node.args[key])
    while stack:
        n = stack.pop()
        if id(n) in aggregates:
            continue
        if isinstance(n, exp.Column):
            return True
        stack.extend(n.iter_expressions())
    return False


def _plain_groups(source_rows, cell, specs, group_fns):
    """Ungrouped aggregation with no FILTER and no bare-column min/max tracking:
    ``{(): [first row, accumulators]}`` (the first row gives bare columns, as SQLite
    3.40's), or ``{}`` for no rows. O(rows x aggregates), batched when it can be."""
    accs = [spec[1]() for spec in specs]
    batch = _batch_steps(accs, specs)
    if batch is not None:
        return _plain_batched(source_rows, accs, batch)
    first = _step_each(source_rows(), cell, accs, specs)
    return {} if first is None else {(): [first, accs]}


def _step_each(rows, cell, accs, specs):
    """Step ``accs`` over ``rows`` one row at a time (each the current ``cell`` row,
    for correlated arguments); returns the first row, or None. O(rows x aggregates)."""
    nullary, unary, general = _step_calls(accs, specs)
    first = None
    for row in rows:
        cell[0] = row
        for step in nullary:
            step()
        for step, f in unary:
            step(f(row))
        for step, args_fn in general:
            step(*args_fn(row))
        if first is None:
            first = row
    return first


def _gathered_groups(source_rows, cell, specs, group_fns, sort_keys):
    """GROUP BY with no FILTER and no bare-column min/max tracking, in two passes,
    as SQLite's sorter does it: the rows are gathered per group (one list per
    group, its group values first), then the groups are taken in key order
    (``_in_group_order``) and each one's aggregates stepped over its rows, in
    scan order, a whole column at a time where the aggregates allow (C loops:
    ``_batch_steps``). Yields ``(first row, accumulators)`` per group; the first
    row gives bare columns (SQLite 3.40). Per group: one list while gathering and
    the accumulators, freed once it is yielded (few live objects for the cyclic
    collector, which made a per-group state of ten objects cost half the time of
    a 100,000-group query). O(rows x aggregates + g log g)."""
    table = {}
    get = table.get
    single = group_fns[0] if len(group_fns) == 1 else None
    for row in source_rows():
        cell[0] = row
        if single is not None:
            values = single[0](row)
            key = single[1](values)
        else:
            values = [f(row) for f, _k in group_fns]
            key = tuple([k(v) for (_f, k), v in zip(group_fns, values)])
        rows = get(key)
        if rows is None:
            table[key] = [values, row]
        else:
            rows.append(row)
    factories = [spec[1] for spec in specs]
    probe = [f() for f in factories]
    batch = _batch_steps(probe, specs)
    # (unbound: every group's accumulators are of the probe's classes)
    batch = None if batch is None else [(getattr(type(acc), step.__name__), get_arg)
                                        for acc, (step, get_arg) in zip(probe, batch)]
    groups = list(table.values())
    table = None
    groups = _in_group_order(groups, sort_keys, values_at=0)
    for i, gathered in enumerate(groups):
        groups[i] = None  # (a group's rows are freed once it is aggregated)
        rows = gathered[1:]
        accs = [f() for f in factories]
        if batch is not None:
            for acc, (step, get_arg) in zip(accs, batch):
                if get_arg is None:
                    step(acc, len(rows))
                else:
                    step(acc, list(map(get_arg, rows)))
        else:
            _step_each(rows, cell, accs, specs)
        yield rows[0], accs


def _tracking_groups(source_rows, cell, specs, group_fns, single_extreme):
    """Aggregate rows with FILTER clauses or a lone min()/max() (whose bare columns come
    from the row that set the extreme; else the group's first row): ``{group key:
    [representative row, accs, group values]}``."""
    table = {}
    single = len(group_fns) == 1
    for row in source_rows():
        cell[0] = row
        values = [f(row) for f, _k in group_fns]
        key = tuple([k(v) for (_f, k), v in zip(group_fns, values)])
        state = table.get(key)
        if state is None:
            state = table[key] = [row, [spec[1]() for spec in specs],
                                  values[0] if single else values]
        changed = False
        for spec, acc in zip(specs, state[1]):
            args_fn, filt = spec[2], spec[3]
            if filt is not None and not filt(row):
                continue
            if single_extreme:
                before = acc.value()
                acc.step(*args_fn(row))
                after = acc.value()
                # the row that set the extreme; while none is set (only NULLs so far)
                # the latest row, as SQLite's minmax bare columns
                changed = after is not before or after is None
            else:
                acc.step(*args_fn(row))
        if single_extreme and changed:
            state[0] = row
    return table


_NUMBERS = frozenset((int, float))


def _in_group_order(groups, sort_keys: list, values_at: int = -1) -> list:
    """``groups`` (a dict of states, or a list; each holds its group values at
    ``values_at``) in the order SQLite emits them: ascending by the GROUP BY terms
    under their collations, as its sorter (or an index) delivers groups. Output
    order is visible without ORDER BY, and to window functions: peers' running
    sums add in this order. Equal keys keep first-seen order. O(g log g)."""
    states = list(groups.values()) if isinstance(groups, dict) else groups
    if len(states) < 2:
        return states
    if len(sort_keys) == 1:
        get = itemgetter(values_at)
        if set(map(type, map(get, states))) <= _NUMBERS:
            states.sort(key=get)  # numbers order as in SQLite under any collation: in C
        else:
            skey = sort_keys[0]
            states.sort(key=lambda state: skey(state[values_at]))
    else:
        states.sort(key=lambda state: [k(v) for k, v in zip(sort_keys, state[values_at])])
    return states


def _finalize(acc):
    try:
        return acc.finalize()
    except Exception as exc:  # noqa: BLE001 - aggregate errors become SQL errors
        from engine.sql.functions import SqlFunctionError
        if isinstance(exc, SqlFunctionError):
            raise OperationalError(exc.message) from None
        raise


def check_aggregate_use(select: exp.Select, items, aggregate_nodes, session=None) -> bool:
    """Is ``select`` an aggregate query? SQLite 3.40's rule (sqlite3Select): it is when
    it has GROUP BY or an aggregate in its result columns; otherwise HAVING is "HAVING
    clause on a non-aggregate query" and an aggregate in ORDER BY is "misuse of
    aggregate: f()"."""
    if select.args.get("group") is not None:
        return True
    if not aggregate_nodes:
        if select.args.get("having") is not None:
            raise OperationalError("HAVING clause on a non-aggregate query")
        return False
    in_items = _collect_aggregates(exp.Select(), items, session)
    if in_items:
        return True
    if select.args.get("having") is not None:
        raise OperationalError("HAVING clause on a non-aggregate query")
    call = aggregate_nodes[0]
    call = call.this if isinstance(call, exp.Filter) else call
    raise OperationalError(f"misuse of aggregate: {call.name}()")


def _collect_aggregates(select: exp.Select, items, session=None):
    """Aggregate calls in the select list, HAVING and ORDER BY (not in subqueries)."""
    from engine.sql.functions import aggregate_names
    names = aggregate_names()
    if session is not None:
        names = names | session.user_aggregate_names()
    found = []
    roots = list(items)
    for key in ("having", "order"):
        if select.args.get(key) is not None:
            roots.append(select.args[key])

    def visit(node):
        if isinstance(node, (exp.Subquery, exp.Select, exp.Exists)):
            return
        if isinstance(node, exp.Window):  # the call is a window's; its operands may aggregate
            for child in window_operands(node):
                visit(child)
            return
        if isinstance(node, exp.Filter) and isinstance(node.this, exp.Anonymous):
            if node.this.name.lower() not in names:
                raise OperationalError(
                    f"FILTER may not be used with non-aggregate {node.this.name.lower()}()")
            found.append(node)
            node.this._agg_in_filter = True
            return
        if isinstance(node, exp.Anonymous):
            name = node.name.lower()
            nargs = len(node.expressions)
            if name in names and not (name in ("min", "max") and nargs != 1):
                if nargs == 1 and isinstance(node.expressions[0], exp.Star):
                    nargs = 0
                found.append(node)
                return
        for child in node.iter_expressions():
            visit(child)

    for r in roots:
        visit(r)
    return found
