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
"""

from __future__ import annotations

import heapq
from itertools import islice

from sqlglot import exp

from engine.errors import OperationalError
from engine.sql import operators as ops
from engine.sql.dialect import Variable
from engine.sql.compiler.expr import (Compiled, ExprCompiler, Runtime, _collation,
                                      _hash_key_function)
from engine.sql.compiler.scope import ROWID_NAMES, ColumnMeta, Scope, Source
from engine.sql.compiler.window import WindowStage, collect_windows, window_operands
from engine.sql.functions import Distinct, lookup_aggregate
from engine.sql.functions.aggregates import RunningExtreme
from engine.values import INTEGER, NUMERIC, REAL, apply_affinity, is_true, sort_key_function

_NUMERIC_AFFS = (INTEGER, REAL, NUMERIC)


class QueryPlan:
    """A compiled query: ``columns`` and ``run()`` (a fresh generator per call)."""

    def __init__(self, columns, run, scope=None, correlated=False, explain=None):
        self.columns: list[ColumnMeta] = columns
        self.run = run
        self.scope = scope
        self.correlated = correlated
        self.explain: list[str] = explain or []

    def bind_outer(self, row) -> None:
        """Make ``row`` the current row of the enclosing scope (correlated subqueries)."""
        self.scope.parent.cell[0] = row


class Planner:
    """Compiles query ASTs against a transaction's catalog (via the session)."""

    def __init__(self, session, rt: Runtime):
        self.session = session
        self.rt = rt
        self.ctes: list[dict] = []
        self.explain: list[str] = []

    # -- entry points ------------------------------------------------------------------------

    def query(self, node, parent: Scope | None = None) -> QueryPlan:
        """Plan any query node: Select, Union/Intersect/Except, Values, Subquery."""
        with_ = node.args.get("with_") if isinstance(node, (exp.Select, exp.SetOperation)) else None
        if with_ is not None:
            self.ctes.append(self._cte_map(with_))
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

    # -- CTEs ------------------------------------------------------------------------------

    def _cte_map(self, with_) -> dict:
        out = {}
        for cte in with_.expressions:
            alias = cte.args["alias"]
            name = alias.name.lower()
            cols = [c.name for c in alias.columns] if alias.columns else None
            out[name] = {"query": cte.this, "columns": cols, "name": alias.name,
                         "recursive": bool(with_.args.get("recursive")), "plan": None}
        return out

    def _find_cte(self, name: str):
        for level in reversed(self.ctes):
            cte = level.get(name.lower())
            if cte is not None:
                return cte
        return None

    # -- VALUES ------------------------------------------------------------------------------

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
            rows.append([comp.fn(e) for e in items])
        columns = [ColumnMeta(f"column{i + 1}") for i in range(width or 0)]

        def run():
            for fns in rows:
                yield tuple(f(()) for f in fns)
        return QueryPlan(columns, run, scope, scope.correlated)

    # -- compound -------------------------------------------------------------------------------

    def _compound(self, node, parent):
        left = self.query(node.this, parent)
        right = self.query(node.expression, parent)
        if len(left.columns) != len(right.columns):
            word = {exp.Union: "UNION", exp.Intersect: "INTERSECT", exp.Except: "EXCEPT"}[type(node)]
            if isinstance(node, exp.Union) and not node.args.get("distinct"):
                word = "UNION ALL"
            raise OperationalError(
                f"SELECTs to the left and right of {word} do not have the same number of "
                "result columns")
        distinct = bool(node.args.get("distinct"))
        key = _row_key_function(left.columns)
        lrun, rrun = left.run, right.run
        if isinstance(node, exp.Union):
            if distinct:
                def run():
                    seen = set()
                    for src in (lrun(), rrun()):
                        for r in src:
                            k = key(r)
                            if k not in seen:
                                seen.add(k)
                                yield r
            else:
                def run():
                    yield from lrun()
                    yield from rrun()
        elif isinstance(node, exp.Intersect):
            def run():
                right_keys = {key(r) for r in rrun()}
                seen = set()
                for r in lrun():
                    k = key(r)
                    if k in right_keys and k not in seen:
                        seen.add(k)
                        yield r
        else:
            def run():
                right_keys = {key(r) for r in rrun()}
                seen = set()
                for r in lrun():
                    k = key(r)
                    if k not in right_keys and k not in seen:
                        seen.add(k)
                        yield r
        columns = [ColumnMeta(c.name, None, c.collation) for c in left.columns]
        plan = QueryPlan(columns, run, left.scope, left.correlated or right.correlated)
        return self._order_limit_compound(node, plan, parent)

    def _order_limit_compound(self, node, plan, parent):
        order = node.args.get("order")
        scope = Scope([Source("", plan.columns)], parent)
        comp = ExprCompiler(scope, self.rt, planner=self)
        run = plan.run
        if order is not None:
            terms = []
            for o in order.expressions:
                idx = self._output_index(o.this, plan.columns, None, compound=True)
                col = plan.columns[idx]
                terms.append((lambda r, i=idx: r[i], col.collation or "BINARY", o))
            sorter = _make_sorter(terms, self.session.collations if self.session else None)
            base = run

            def run():
                yield from sorter(list(base()))
        run = self._limit(node, run, comp)
        return QueryPlan(plan.columns, run, plan.scope, plan.correlated)

    # -- SELECT ---------------------------------------------------------------------------------

    def _select(self, node: exp.Select, parent):
        scope = Scope(parent=parent)
        from_plan = self._from(node, scope)
        comp = ExprCompiler(scope, self.rt, planner=self)
        where = node.args.get("where")
        conjuncts = _conjuncts(where.this) if where is not None else []
        source_rows = from_plan(conjuncts, comp)
        select_items = self._expand_stars(node.expressions, scope)
        aggregate_nodes = _collect_aggregates(node, select_items, self.session)
        group = node.args.get("group")
        if aggregate_nodes or group is not None:
            return self._aggregate_select(node, scope, comp, source_rows, select_items,
                                          aggregate_nodes, parent)
        if node.args.get("having") is not None:
            raise OperationalError("a GROUP BY clause is required before HAVING")
        plain_comp = comp
        source_rows, comp = self._windows(node, select_items, scope, comp, source_rows,
                                          scope.width)
        out_fns = [comp.compile(item) for item in select_items]
        columns = [_output_meta(item, c) for item, c in zip(select_items, out_fns)]
        fns = [c.fn for c in out_fns]
        project = _projector(fns)
        order = node.args.get("order")
        distinct = node.args.get("distinct") is not None
        if order is not None and comp is plain_comp and not conjuncts and not distinct:
            in_order = self._index_ordered(node, scope, comp, select_items, columns)
            if in_order is not None:
                source_rows, order = in_order, None
        if order is not None:
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

    def _index_ordered(self, node, scope, comp, select_items, columns):
        """Rows of ``SELECT ... FROM t ORDER BY col`` (one table, no WHERE, one ascending
        term on a plain column) read in the order of an index led by ``col`` with the same
        collation, so no sort is needed and a LIMIT stops the scan early: O(k log n) for
        ``LIMIT k`` instead of O(n log n). None when the shape does not apply. Ties come in
        rowid order, as the stable sort over a rowid-ordered scan would give them."""
        if node.args.get("joins") or len(scope.sources) != 1 or node.args.get("group"):
            return None
        terms = node.args["order"].expressions
        source = scope.sources[0]
        table = source.table
        if len(terms) != 1 or table is None or source.rowid_slot is None:
            return None
        term = terms[0]
        col = term.this
        if (term.args.get("desc") or term.args.get("nulls_first") is False
                or not isinstance(col, exp.Column)
                or self._output_index(col, columns, select_items) is not None):
            return None
        try:
            found, slot, _meta = scope.resolve(col.name, col.table or None)
        except OperationalError:
            return None
        schema = table.schema
        if found is not scope or slot >= len(schema.columns) or slot == schema.rowid_alias:
            return None
        coll = (comp.compile(col).collation or "BINARY").upper()
        for ix in table.indexes:
            lead = ix.schema.columns[0]
            if (lead.column == slot and not lead.desc and not ix.schema.where_sql
                    and lead.collation.upper() == coll):
                break
        else:
            return None
        self.explain.append(f"SCAN {source.name} USING INDEX {ix.schema.name}")
        rt = self.rt

        def rows():
            for key, r in rt.txn.index_rows(table, ix):
                yield r + (key,)
        return rows

    def _sorted_run(self, source_rows, project, terms, distinct, columns, scope,
                    top_count=None):
        """Rows projected, de-duplicated if DISTINCT, then sorted; ``top_count() -> k |
        None``: only the first k rows are needed (LIMIT + OFFSET), so the sorter may
        select them with a heap, O(n log k) instead of O(n log n)."""
        key_fns = [t[0] for t in terms]
        sorter = _make_sorter([(lambda p, i=i: p[0][i], t[1], t[2]) for i, t in enumerate(terms)],
                              self.session.collations if self.session else None)
        rowkey = _row_key_function(columns)

        def run():
            cell = scope.cell
            pairs = []
            seen = set() if distinct else None
            for row in source_rows():
                cell[0] = row
                out = project(row)
                if seen is not None:
                    k = rowkey(out)
                    if k in seen:
                        continue
                    seen.add(k)
                pairs.append((tuple(f(row, out) for f in key_fns), out))
            for _keys, out in sorter(pairs, top_count() if top_count else None):
                yield out
        return run

    def _order_terms(self, order, select_items, columns, comp, aggregate):
        """Each ORDER BY term as ``(key(row, out), collation, ordered_node)``."""
        terms = []
        for o in order.expressions:
            idx = self._output_index(o.this, columns, select_items)
            if idx is not None:
                coll = columns[idx].collation or "BINARY"
                if isinstance(o.this, exp.Collate):
                    coll = o.this.expression.name.upper()
                terms.append((lambda row, out, i=idx: out[i], coll, o))
            else:
                c = comp.compile(o.this)
                f = c.fn
                terms.append((lambda row, out, f=f: f(row), c.collation or "BINARY", o))
        return terms

    def _output_index(self, term, columns, select_items, compound=False):
        """ORDER BY k / alias -> output column index, else None (an expression)."""
        inner = term.this if isinstance(term, exp.Collate) else term
        if isinstance(inner, exp.Literal) and not inner.is_string:
            try:
                k = int(inner.this)
            except ValueError:
                k = None
            if k is None or k < 1 or k > len(columns):
                raise OperationalError(
                    f"{_ordinal(k)} ORDER BY term out of range - should be between 1 and "
                    f"{len(columns)}")
            return k - 1
        if isinstance(inner, exp.Column) and not inner.table:
            name = inner.name.lower()
            if select_items is not None:
                for i, item in enumerate(select_items):
                    if isinstance(item, exp.Alias) and item.alias.lower() == name:
                        return i
            if compound:
                for i, c in enumerate(columns):
                    if c.name.lower() == name:
                        return i
        if compound:
            if select_items is None:
                for i, c in enumerate(columns):
                    if inner.sql().lower() == c.name.lower():
                        return i
            raise OperationalError("1st ORDER BY term does not match any column in the result set")
        return None

    def _limit(self, node, run, comp):
        limit = node.args.get("limit")
        offset = node.args.get("offset")
        if limit is None and offset is None:
            return run
        lim_fn = comp.fn(limit.expression) if limit is not None else None
        off_expr = offset.expression if offset is not None else (
            limit.args.get("offset") if limit is not None else None)
        off_fn = comp.fn(off_expr) if off_expr is not None else None
        base = run

        def limited():
            n = _int_arg(lim_fn(())) if lim_fn else -1
            k = _int_arg(off_fn(())) if off_fn else 0
            if k < 0:
                k = 0
            it = base()
            if n < 0:
                yield from islice(it, k, None)
            else:
                yield from islice(it, k, k + n)
        return limited

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

    # -- aggregation ----------------------------------------------------------------------------

    def _aggregate_select(self, node, scope, comp, source_rows, select_items, agg_nodes, parent):
        group = node.args.get("group")
        group_fns = []
        if group is not None:
            for g in group.expressions:
                target = self._group_target(g, select_items, scope)
                c = comp.compile(target)
                group_fns.append((c.fn, _hash_key_function(c.collation or "BINARY")))
        specs = [self._aggregate_spec(n, comp) for n in agg_nodes]
        width = scope.width
        slots = {id(n): width + k for k, n in enumerate(agg_nodes)}
        post = ExprCompiler(scope, self.rt, aggregates=slots, planner=self)
        having = node.args.get("having")
        having_fn = post.predicate(having.this) if having is not None else None
        single_extreme = len(specs) == 1 and specs[0][0] in ("min", "max")
        empty_row = (None,) * width
        grouped = group is not None

        plain = not single_extreme and all(spec[3] is None for spec in specs)

        def groups():
            cell = scope.cell
            if plain:
                table = _plain_groups(source_rows, cell, specs, group_fns)
            else:
                table = _tracking_groups(source_rows, cell, specs, group_fns, single_extreme)
            if not table and not grouped:
                table[()] = [empty_row, [spec[1]() for spec in specs]]
            for state in table.values():
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

    def _group_target(self, g, select_items, scope):
        if isinstance(g, exp.Literal) and not g.is_string:
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
                    f"DISTINCT aggregates must have exactly one argument")
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
            factory = lambda: RunningExtreme(want_max, collation)
        else:
            factory = base_factory
        if distinct:
            inner_factory = factory
            factory = lambda: Distinct(inner_factory(), coll or "BINARY")
        fns = [c.fn for c in compiled]
        if not fns:
            args_fn = lambda row: ()
        elif len(fns) == 1:
            (f,) = fns
            args_fn = lambda row: (f(row),)
        else:
            args_fn = lambda row: tuple(g(row) for g in fns)
        return (name, factory, args_fn, filt, fns)

    # -- FROM ------------------------------------------------------------------------------------

    def _from(self, node, scope):
        """Add the FROM sources to ``scope``; return ``plan(conjuncts, comp) -> rows()``."""
        from_ = node.args.get("from_")
        joins = node.args.get("joins") or []
        if from_ is None:
            if joins:
                raise OperationalError("not supported by turso_stream: JOIN without FROM")
            return lambda conjuncts, comp: self._no_from(conjuncts, comp)
        items = [(None, from_.this, None)] + [(j, j.this, j) for j in joins]
        steps = []
        for join, item, join_node in items:
            source, rows_fn = self._source(item, scope)
            scope.add(source)
            steps.append((source, rows_fn, join_node))
        return lambda conjuncts, comp: self._join_plan(steps, scope, conjuncts, comp)

    def _no_from(self, conjuncts, comp):
        preds = [comp.predicate(c) for c in conjuncts]

        def rows():
            row = ()
            for p in preds:
                if not p(row):
                    return
            yield row
        return rows

    def _source(self, item, scope):
        """``(Source, rows_factory)`` for one FROM item."""
        if isinstance(item, exp.Table):
            name = item.name
            alias = item.alias or name
            cte = self._find_cte(name) if not item.args.get("db") else None
            if cte is not None:
                return self._cte_source(cte, alias, scope)
            if name.lower() in _SCHEMA_TABLES:
                return self._schema_source(name, alias)
            table = self.session.table_for_query(name)
            if table is None:
                view = self.session.view_for_query(name)
                if view is None:
                    raise OperationalError(f"no such table: {name}")
                return self._view_source(view, alias, scope)
            return self._table_source(table, alias)
        if isinstance(item, exp.Subquery):
            alias = item.alias or ""
            plan = self.query(item.this, scope.parent)
            cols = [ColumnMeta(c.name, c.affinity, c.collation) for c in plan.columns]
            if item.args.get("alias") is not None and item.args["alias"].columns:
                for c, ident in zip(cols, item.args["alias"].columns):
                    c.name = ident.name
            return Source(alias, cols), (lambda: plan.run)
        if isinstance(item, exp.Values):
            plan = self._values(item, scope.parent)
            alias = item.alias or ""
            cols = list(plan.columns)
            if item.args.get("alias") is not None and item.args["alias"].columns:
                cols = [ColumnMeta(i.name) for i in item.args["alias"].columns]
            return Source(alias, cols), (lambda: plan.run)
        raise OperationalError(f"not supported by turso_stream: FROM item {item.sql()}")

    def _schema_source(self, name, alias):
        """``sqlite_schema`` (alias ``sqlite_master``) and the temp schema's table:
        one row per schema object in creation order. ``rootpage`` numbers objects
        that store rows (there are no pages here); views and triggers have 0."""
        session = self.session
        temp = "temp" in name.lower()
        cols = [ColumnMeta("type", "TEXT"), ColumnMeta("name", "TEXT"),
                ColumnMeta("tbl_name", "TEXT"), ColumnMeta("rootpage", "INTEGER"),
                ColumnMeta("sql", "TEXT")]

        def rows():
            if temp:
                entries = [("view", n, n, sql) for n, sql in session.temp_views.items()]
            else:
                entries = session.txn.catalog.entries()
            page = 1
            out = []
            for type_, obj_name, tbl, sql in entries:
                root = 0
                if type_ in ("table", "index"):
                    page += 1
                    root = page
                out.append((type_, obj_name, tbl, root, sql))
            return iter(out)
        return Source(alias, cols), (lambda: rows)

    def _table_source(self, table, alias):
        schema = table.schema
        cols = [ColumnMeta(c.name, c.affinity, c.collation, c.decltype) for c in schema.columns]
        rowid_slot = None if schema.without_rowid else len(cols)
        source = Source(alias, cols, rowid_slot=rowid_slot, table=table)
        return source, None  # rows come from the access path chosen in _join_plan

    def _view_source(self, view_sql_ast, alias, scope):
        query, col_names = view_sql_ast
        plan = self.query(query, None)
        cols = [ColumnMeta(c.name, c.affinity, c.collation) for c in plan.columns]
        if col_names:
            for c, n in zip(cols, col_names):
                c.name = n
        return Source(alias, cols), (lambda: plan.run)

    def _cte_source(self, cte, alias, scope):
        if cte.get("active"):
            # A reference from inside its own recursive definition: the working table.
            cols = cte["work_columns"]
            work = cte["work"]
            return Source(alias, [ColumnMeta(c.name, c.affinity, c.collation) for c in cols]), \
                (lambda: (lambda: iter(list(work))))
        plan = cte.get("plan")
        if plan is None:
            plan = cte["plan"] = self._cte_plan(cte)
        cols = [ColumnMeta(c.name, c.affinity, c.collation) for c in plan.columns]
        return Source(alias, cols), (lambda: plan.run)

    def _cte_plan(self, cte):
        query = cte["query"]
        names = cte["columns"]
        if cte["recursive"] and isinstance(query, exp.Union) and _references(query.expression,
                                                                             cte["name"]):
            return self._recursive_cte(cte, query, names)
        plan = self.query(query, None)
        if names:
            if len(names) != len(plan.columns):
                raise OperationalError(
                    f"table {cte['name']} has {len(plan.columns)} values for {len(names)} columns")
            plan.columns = [ColumnMeta(n, c.affinity, c.collation)
                            for n, c in zip(names, plan.columns)]
        return plan

    def _recursive_cte(self, cte, query, names):
        """WITH RECURSIVE: a queue of rows, each run through the recursive step once
        (SQLite's algorithm, lang_with.html 3.2), streamed so an outer LIMIT stops it."""
        setup = self.query(query.this, None)
        columns = setup.columns
        if names:
            if len(names) != len(columns):
                raise OperationalError(
                    f"table {cte['name']} has {len(columns)} values for {len(names)} columns")
            columns = [ColumnMeta(n, c.affinity, c.collation) for n, c in zip(names, columns)]
        work: list = []
        cte["active"], cte["work"], cte["work_columns"] = True, work, columns
        try:
            step = self.query(query.expression, None)
        finally:
            cte["active"] = False
        if len(step.columns) != len(columns):
            raise OperationalError(
                "SELECTs to the left and right of UNION do not have the same number of "
                "result columns")
        distinct = bool(query.args.get("distinct"))
        key = _row_key_function(columns)

        def run():
            queue = list(setup.run())
            seen = set()
            if distinct:
                unique = []
                for r in queue:
                    k = key(r)
                    if k not in seen:
                        seen.add(k)
                        unique.append(r)
                queue = unique
            head = 0
            while head < len(queue):
                row = queue[head]
                head += 1
                yield row
                work[:] = [row]
                for r in step.run():
                    if distinct:
                        k = key(r)
                        if k in seen:
                            continue
                        seen.add(k)
                    queue.append(r)
                if head > 4096:
                    del queue[:head]
                    head = 0
        return QueryPlan(columns, run)

    # -- joins and access paths -------------------------------------------------------------------

    def _join_plan(self, steps, scope, conjuncts, comp):
        """Build the row pipeline for the FROM clause with WHERE ``conjuncts`` pushed down."""
        remaining = list(conjuncts)
        pipeline = None
        left_sources: list[Source] = []
        # A RIGHT/FULL join NULL-pads rows of every source before it, so a WHERE conjunct
        # may not filter any step up to the last such join: it stays a residual filter.
        last_padding = max((i for i, step in enumerate(steps)
                            if _join_kind(step[2]) in ("RIGHT", "FULL")), default=-1)
        for index, (source, rows_fn, join_node) in enumerate(steps):
            kind = _join_kind(join_node)
            on = []
            if join_node is not None:
                on = self._join_conditions(join_node, source, left_sources, scope,
                                           last_padding >= 0)
            # Conjuncts that mention only this source (and earlier ones / constants)
            keep_where = kind in ("LEFT", "FULL") or index <= last_padding
            usable = on + ([] if keep_where else
                           [c for c in remaining if _refs_within(c, scope, left_sources + [source])])
            if not keep_where:
                remaining = [c for c in remaining if c not in usable]
            local = [c for c in usable if _refs_within(c, scope, [source])]
            cross = [c for c in usable if c not in local]
            if kind in ("RIGHT", "FULL"):
                pipeline = self._outer_join(pipeline, source, rows_fn, usable, comp, scope, kind,
                                            left_sources)
            else:
                inner_rows = self._access(source, rows_fn, local, comp, scope)
                if pipeline is None:
                    pipeline = self._filtered(inner_rows, [c for c in usable if c not in local], comp)
                else:
                    pipeline = self._join_step(pipeline, source, rows_fn, inner_rows, local,
                                               cross, comp, scope, kind)
            left_sources.append(source)
        return self._filtered(pipeline, remaining, comp)

    def _join_conditions(self, join_node, source, left_sources, scope, padded=False):
        """ON conjuncts plus the equalities of USING/NATURAL; ``padded``: the FROM
        clause has a RIGHT or FULL join."""
        on = join_node.args.get("on")
        conds = _conjuncts(on) if on is not None else []
        using = join_node.args.get("using")
        names = []
        if using:
            names = [u.name for u in using]
        elif str(join_node.args.get("method") or "").upper() == "NATURAL":
            right = {c.name.lower() for c in source.columns}
            for s in left_sources:
                for c in s.columns:
                    if c.name.lower() in right and c.name not in names:
                        names.append(c.name)
        for n in names:
            # SQLite's sqlite3ProcessJoin: the leftmost source holding the column; when
            # the query has a RIGHT/FULL join that source may be NULL-padded, so the key
            # is coalesce() over every left source holding it, each later one of which
            # must itself have been joined USING that column.
            lefts = [s for s in left_sources if s.find(n) is not None]
            if not lefts or source.find(n) is None:
                raise OperationalError(
                    f"cannot join using column {n} - column not present in both tables")
            left_key = exp.column(n, table=lefts[0].name)
            if padded and len(lefts) > 1:
                if any(n.lower() not in s.using_hidden for s in lefts[1:]):
                    raise OperationalError(f"ambiguous reference to {n} in USING()")
                left_key = exp.Anonymous(this="coalesce", expressions=[
                    exp.column(n, table=s.name) for s in lefts])
            conds.append(exp.EQ(this=left_key, expression=exp.column(n, table=source.name)))
            # lookupName: unqualified n reads the right table after a RIGHT join, the
            # coalesce of both sides after a FULL join (set on the leftmost source)
            kind = _join_kind(join_node)
            if kind == "RIGHT":
                lefts[0].using_merged[n.lower()] = [source]
            elif kind == "FULL":
                lefts[0].using_merged[n.lower()] = (
                    lefts[0].using_merged.get(n.lower(), [lefts[0]]) + [source])
            source.using_hidden.add(n.lower())
        return conds

    def _filtered(self, rows_fn, conds, comp):
        if not conds:
            return rows_fn
        preds = [comp.predicate(c) for c in conds]

        def rows():
            for row in rows_fn():
                for p in preds:
                    if not p(row):
                        break
                else:
                    yield row
        return rows

    def _access(self, source, rows_fn, local, comp, scope):
        """Rows of one source (as a slice of the flat row: padded to its offset later)."""
        if rows_fn is not None:
            preds = [comp.predicate(c) for c in local]
            pad_before = source.offset
            return self._padded(rows_fn, pad_before, preds)
        return self._table_access(source, local, comp, scope)

    def _padded(self, rows_fn, offset, preds):
        """Rows of a non-table source placed at ``offset`` of a flat row (for filters)."""
        pre = (None,) * offset

        def rows():
            for r in rows_fn()():
                row = pre + r
                ok = True
                for p in preds:
                    if not p(row):
                        ok = False
                        break
                if ok:
                    yield row
        return rows

    def _table_access(self, source, local, comp, scope):
        table = source.table
        name = table.name
        path, probe = self._choose_path(source, local, comp, scope)
        preds = [comp.predicate(c) for c in local]
        pre = (None,) * source.offset
        with_rowid = source.rowid_slot is not None
        rt = self.rt
        self.explain.append(path)

        def keys_and_rows():
            txn = rt.txn
            if probe is None:
                return txn.scan(name)
            return probe(txn)

        if not preds and not pre:
            if with_rowid:
                def rows():
                    for key, r in keys_and_rows():
                        yield r + (key,)
            else:
                def rows():
                    for _key, r in keys_and_rows():
                        yield r
            return rows

        if not pre and with_rowid and len(preds) == 1:
            # The commonest filtered scan: one table, one residual test, one tuple per row.
            (test,) = preds

            def rows():
                for key, r in keys_and_rows():
                    row = r + (key,)
                    if test(row):
                        yield row
            return rows

        def rows():
            for key, r in keys_and_rows():
                row = pre + r + (key,) if with_rowid else pre + r
                for p in preds:
                    if not p(row):
                        break
                else:
                    yield row
        return rows

    def _choose_path(self, source, local, comp, scope):
        """Pick the access path for a table from its local conjuncts.

        Returns ``(description, probe(txn) -> iterator of (key, row) | None)``.
        """
        table = source.table
        schema = table.schema
        rowid_cols = set()
        if source.rowid_slot is not None:
            rowid_cols = set(ROWID_NAMES)
            if schema.rowid_alias is not None:
                rowid_cols.add(schema.columns[schema.rowid_alias].name.lower())
        eq_terms: dict[int, list] = {}
        ranges: dict[int, list] = {}
        rowid_eq = None
        rowid_range = []
        for c in local:
            for col, op, other in _sargable(c, source, scope):
                col_name = col.lower()
                if col_name in rowid_cols:
                    if op == "=" and rowid_eq is None:
                        rowid_eq = ("=", other)
                    elif op == "IN" and rowid_eq is None:
                        rowid_eq = ("IN", other)
                    elif op in ("<", "<=", ">", ">="):
                        rowid_range.append((op, other))
                    continue
                pos = schema.column(col)
                if pos is None:
                    continue
                if op in ("=", "IN"):
                    eq_terms.setdefault(pos, []).append((op, other))
                elif op in ("<", "<=", ">", ">="):
                    ranges.setdefault(pos, []).append((op, other))
        if rowid_eq is not None:
            return self._rowid_probe(source, rowid_eq, comp)
        best = self._index_probe(source, eq_terms, ranges, comp)
        if best is not None:
            return best
        if rowid_range:
            return self._rowid_range(source, rowid_range, comp)
        return f"SCAN {source.name or table.name}", None

    def _rowid_probe(self, source, term, comp):
        op, other = term
        name = source.table.name
        if op == "=":
            f = comp.fn(other)

            def probe(txn):
                k = _rowid_value(f(()))
                if k is None:
                    return iter(())
                row = txn.get(name, k)
                return iter(((k, row),)) if row is not None else iter(())
            return f"SEARCH {source.name} USING INTEGER PRIMARY KEY (rowid=?)", probe
        fns = [comp.fn(e) for e in other]

        def probe_in(txn):
            keys = sorted({k for k in (_rowid_value(f(())) for f in fns) if k is not None})
            out = []
            for k in keys:
                row = txn.get(name, k)
                if row is not None:
                    out.append((k, row))
            return iter(out)
        return f"SEARCH {source.name} USING INTEGER PRIMARY KEY (rowid=?)", probe_in

    def _rowid_range(self, source, terms, comp):
        name = source.table.name
        lows = [comp.fn(o) for op, o in terms if op in (">", ">=")]
        highs = [comp.fn(o) for op, o in terms if op in ("<", "<=")]

        def probe(txn):
            lo = hi = None
            for f in lows:
                v = _numeric_bound(f(()))
                if v is _EMPTY:
                    return iter(())
                if v is not None:
                    lo = v if lo is None else max(lo, v)
            for f in highs:
                v = _numeric_bound(f(()))
                if v is _EMPTY:
                    return iter(())
                if v is not None:
                    hi = v if hi is None else min(hi, v)
            lo = None if lo is None else _ceil_int(lo)
            hi = None if hi is None else _floor_int(hi)
            return txn.scan(name, lo, hi)
        return f"SEARCH {source.name} USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)", probe

    def _index_probe(self, source, eq_terms, ranges, comp):
        """Best index: the longest equality prefix, plus a range on the next column."""
        table = source.table
        best = None
        for ix in table.indexes:
            parts = ix.schema.columns
            if ix.schema.where_sql:
                continue
            n_eq = 0
            for p in parts:
                if p.column is None or p.column not in eq_terms:
                    break
                if not _collation_ok(p, eq_terms[p.column], table, comp):
                    break
                n_eq += 1
            has_range = (n_eq < len(parts) and parts[n_eq].column is not None
                         and parts[n_eq].column in ranges)
            score = n_eq * 2 + (1 if has_range else 0)
            if score and (best is None or score > best[0]):
                best = (score, ix, n_eq, has_range)
        if best is None:
            return None
        _score, ix, n_eq, has_range = best
        parts = ix.schema.columns
        eq_fns = []
        for p in parts[:n_eq]:
            op, other = eq_terms[p.column][0]
            aff = table.schema.columns[p.column].affinity
            skey = sort_key_function(p.collation)
            if op == "=":
                c = comp.compile(other)
                eq_fns.append(("=", [c.fn], _probe_conv(aff, c.affinity), skey))
            else:
                cs = [comp.compile(o) for o in other]
                eq_fns.append(("IN", [c.fn for c in cs],
                               _probe_conv(aff, cs[0].affinity if cs else None), skey))
        range_fns = []
        if has_range:
            p = parts[n_eq]
            aff = table.schema.columns[p.column].affinity
            skey = sort_key_function(p.collation)
            for op, other in ranges[p.column]:
                c = comp.compile(other)
                range_fns.append((op, c.fn, _probe_conv(aff, c.affinity), skey))
        iname = ix.schema.name
        cols = ", ".join(table.schema.columns[p.column].name + "=?" for p in parts[:n_eq])
        desc = f"SEARCH {source.name} USING INDEX {iname} ({cols}{' AND range' if has_range else ''})"

        if len(eq_fns) == 1 and eq_fns[0][0] == "=" and not range_fns:
            # The common point lookup: one equality, no sets, no merging.
            (_op, (f,), conv, skey), = eq_fns

            def point_probe(txn):
                v = conv(f(()))
                if v is None:
                    return iter(())
                return txn.index_rows(table, ix, (skey(v),))
            return desc, point_probe

        def probe(txn):
            prefixes = [()]
            for op, fns, conv, skey in eq_fns:
                values = [conv(f(())) for f in fns]
                keys = []
                seen = set()
                for v in values:
                    if v is None:
                        continue
                    k = skey(v)
                    if k not in seen:
                        seen.add(k)
                        keys.append(k)
                keys.sort()
                prefixes = [pre + (k,) for pre in prefixes for k in keys]
                if not prefixes:
                    return iter(())
            lo = hi = None
            for op, f, conv, skey in range_fns:
                v = f(())
                if v is None:
                    return iter(())
                k = skey(conv(v))
                if op in (">", ">="):
                    lo = k if lo is None or k > lo else lo
                else:
                    hi = k if hi is None or k < hi else hi
            if has_range and lo is None:
                lo = (0, 1)  # skip NULLs: a range comparison is never true for NULL
            out = []
            seen = set()
            for pre in prefixes:
                for key, row in txn.index_rows(table, ix, pre, lo, hi):
                    if key not in seen:
                        seen.add(key)
                        out.append((key, row))
            return iter(out)
        return desc, probe

    def _join_step(self, left_rows, source, rows_fn, inner_rows, local, cross, comp, scope, kind):
        """One join: index lookup, hash join, or nested loop, with LEFT padding."""
        width = source.width
        offset = source.offset
        null_pad = (None,) * width
        cross_preds = [comp.predicate(c) for c in cross]
        equi = self._equi_keys(cross, source, scope, comp)
        lookup = None
        if source.table is not None:
            lookup = self._lookup_join(source, cross, local, comp, scope)
        # The materialized inner side (hash table or row list), rebuilt per execution.
        state: dict = {}
        if lookup is not None:
            matches = lookup
        elif equi:
            left_key_fns, right_key_fns = equi
            rt_inner = inner_rows

            def build():
                table = {}
                for r in rt_inner():
                    k = tuple(f(r) for f in right_key_fns)
                    if None in k:
                        continue
                    table.setdefault(k, []).append(r[offset:])
                return table

            def matches(left):
                table = state.get("t")
                if table is None:
                    table = state["t"] = build()
                k = tuple(f(left) for f in left_key_fns)
                if None in k:
                    return ()
                return table.get(k, ())
            self.explain.append(f"HASH JOIN {source.name}")
        else:
            def matches(left):
                rows = state.get("rows")
                if rows is None:
                    rows = state["rows"] = [r[offset:] for r in inner_rows()]
                return rows

        outer = kind == "LEFT"

        def rows():
            state.clear()
            for left in left_rows():
                matched = False
                for r in matches(left):
                    row = left + r
                    for p in cross_preds:
                        if not p(row):
                            break
                    else:
                        matched = True
                        yield row
                if outer and not matched:
                    yield left + null_pad
        return rows

    def _lookup_join(self, source, cross, local, comp, scope):
        """Rowid or index lookup of the inner table per outer row, if a conjunct allows."""
        table = source.table
        schema = table.schema
        offset = source.offset
        rowid_cols = set()
        if source.rowid_slot is not None:
            rowid_cols = set(ROWID_NAMES)
            if schema.rowid_alias is not None:
                rowid_cols.add(schema.columns[schema.rowid_alias].name.lower())
        local_preds = [comp.predicate(c) for c in local]
        pre = (None,) * offset
        with_rowid = source.rowid_slot is not None
        name = table.name
        rt = self.rt
        for c in cross:
            for col, op, other in _sargable(c, source, scope):
                if op != "=":
                    continue
                oc = comp.compile(other)
                of = oc.fn
                if col.lower() in rowid_cols:
                    def fetch(left, of=of):
                        k = _rowid_value(of(left))
                        if k is None:
                            return ()
                        r = rt.txn.get(name, k)
                        if r is None:
                            return ()
                        out = r + (k,) if with_rowid else r
                        if local_preds:
                            full = pre + out
                            for p in local_preds:
                                if not p(full):
                                    return ()
                        return (out,)
                    self.explain.append(f"SEARCH {source.name} USING INTEGER PRIMARY KEY (rowid=?)")
                    return fetch
                pos = schema.column(col)
                if pos is None:
                    continue
                for ix in table.indexes:
                    first = ix.schema.columns[0]
                    if first.column != pos or ix.schema.where_sql:
                        continue
                    col_meta = schema.columns[pos]
                    if not _index_affinity_ok(
                            ops.comparison_affinity(col_meta.affinity, oc.affinity),
                            col_meta.affinity):
                        continue
                    # the comparison's collation as written: the left operand's wins
                    column_side = Compiled(None, col_meta.affinity, col_meta.collation or "BINARY")
                    coll = (_collation(column_side, oc) if _refs_within(c.this, scope, [source])
                            else _collation(oc, column_side))
                    if coll != first.collation:
                        continue
                    conv = _probe_conv(col_meta.affinity, oc.affinity)
                    skey = sort_key_function(first.collation)
                    iname = ix.schema.name

                    def fetch(left, of=of, conv=conv, skey=skey, iname=iname):
                        v = of(left)
                        if v is None:
                            return ()
                        out = []
                        for k, r in rt.txn.index_rows(table, ix, (skey(conv(v)),)):
                            o = r + (k,) if with_rowid else r
                            if local_preds:
                                full = pre + o
                                if not all(p(full) for p in local_preds):
                                    continue
                            out.append(o)
                        return out
                    self.explain.append(f"SEARCH {source.name} USING INDEX {iname} ({col}=?)")
                    return fetch
        return None

    def _equi_keys(self, cross, source, scope, comp):
        """Hash-join keys from ``a = b`` conjuncts with one side on ``source`` only."""
        left_fns, right_fns = [], []
        for c in cross:
            if not isinstance(c, exp.EQ):
                continue
            a, b = c.this, c.expression
            if _refs_within(a, scope, [source]) and not _refs_any(b, scope, [source]):
                inner, outer = a, b
            elif _refs_within(b, scope, [source]) and not _refs_any(a, scope, [source]):
                inner, outer = b, a
            else:
                continue
            ci, co = comp.compile(inner), comp.compile(outer)
            aff = ops.comparison_affinity(ci.affinity, co.affinity)
            # the comparison's collation as written: the left operand's wins
            coll = _collation(ci, co) if inner is a else _collation(co, ci)
            hk = _hash_key_function(coll)
            conv = ops.apply_comparison_affinity
            fi, fo = ci.fn, co.fn
            right_fns.append(lambda r, fi=fi: hk(conv(fi(r), aff)))
            left_fns.append(lambda r, fo=fo: hk(conv(fo(r), aff)))
        if not left_fns:
            return None
        return left_fns, right_fns

    def _outer_join(self, left_rows, source, rows_fn, conds, comp, scope, kind, left_sources):
        """RIGHT and FULL joins: nested loop remembering which right rows matched."""
        if left_rows is None:
            raise OperationalError("not supported by turso_stream: RIGHT JOIN as first source")
        inner_rows = self._access(source, rows_fn, [], comp, scope)
        preds = [comp.predicate(c) for c in conds]
        offset = source.offset
        width = source.width
        null_pad = (None,) * width

        def rows():
            right = [r[offset:] for r in inner_rows()]
            matched = [False] * len(right)
            left_width = offset
            for left in left_rows():
                hit = False
                for i, r in enumerate(right):
                    row = left + r
                    if all(p(row) for p in preds):
                        hit = matched[i] = True
                        yield row
                if kind == "FULL" and not hit:
                    yield left + null_pad
            pad = (None,) * left_width
            for i, r in enumerate(right):
                if not matched[i]:
                    yield pad + r
        return rows


# -- helpers ------------------------------------------------------------------------------------

_EMPTY = object()
_SCHEMA_TABLES = ("sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema")


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


def _plain_groups(source_rows, cell, specs, group_fns):
    """Aggregate rows with no FILTER and no bare-column min/max tracking:
    ``{group key: [last row, accumulators, ...]}`` (the last row gives bare columns, as
    SQLite's). O(rows x aggregates), one dict probe per row when grouped, none when not."""
    if not group_fns:
        accs = [spec[1]() for spec in specs]
        nullary, unary, general = _step_calls(accs, specs)
        last = None
        for row in source_rows():
            cell[0] = row
            for step in nullary:
                step()
            for step, f in unary:
                step(f(row))
            for step, args_fn in general:
                step(*args_fn(row))
            last = row
        return {} if last is None else {(): [last, accs]}
    table = {}
    get = table.get
    single = group_fns[0] if len(group_fns) == 1 else None
    for row in source_rows():
        cell[0] = row
        if single is not None:
            key = single[1](single[0](row))
        else:
            key = tuple([k(f(row)) for f, k in group_fns])
        state = get(key)
        if state is None:
            accs = [spec[1]() for spec in specs]
            state = table[key] = [row, accs, *_step_calls(accs, specs)]
        else:
            state[0] = row
        for step in state[2]:
            step()
        for step, f in state[3]:
            step(f(row))
        for step, args_fn in state[4]:
            step(*args_fn(row))
    return table


def _tracking_groups(source_rows, cell, specs, group_fns, single_extreme):
    """Aggregate rows with FILTER clauses or a lone min()/max() (whose bare columns come
    from the row that set the extreme): ``{group key: [representative row, accs]}``."""
    table = {}
    for row in source_rows():
        cell[0] = row
        key = tuple([k(f(row)) for f, k in group_fns])
        state = table.get(key)
        if state is None:
            state = table[key] = [row, [spec[1]() for spec in specs]]
        changed = False
        for spec, acc in zip(specs, state[1]):
            args_fn, filt = spec[2], spec[3]
            if filt is not None and not filt(row):
                continue
            if single_extreme:
                before = acc.value()
                acc.step(*args_fn(row))
                changed = acc.value() is not before
            else:
                acc.step(*args_fn(row))
        if not single_extreme or changed:
            state[0] = row
    return table


def _index_affinity_ok(comparison_affinity, column_affinity) -> bool:
    """SQLite's indexAffinityOk: an index on a column answers an equality only when
    the comparison converts values the way the column stored them."""
    if comparison_affinity is None:
        return True
    if comparison_affinity == ops.TEXT:
        return column_affinity == ops.TEXT
    return column_affinity in (ops.NUMERIC, ops.INTEGER, ops.REAL)


def _finalize(acc):
    try:
        return acc.finalize()
    except Exception as exc:  # noqa: BLE001 - aggregate errors become SQL errors
        from engine.sql.functions import SqlFunctionError
        if isinstance(exc, SqlFunctionError):
            raise OperationalError(exc.message) from None
        raise


def _int_arg(v) -> int:
    if v is None:
        raise OperationalError("datatype mismatch")
    if type(v) is int:
        return v
    conv = apply_affinity(v, INTEGER) if isinstance(v, (str, float)) else v
    if type(conv) is not int:
        raise OperationalError("datatype mismatch")
    return conv


def _ordinal(k) -> str:
    if k is None:
        return "1st"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(k % 10 if k % 100 not in (11, 12, 13) else 0, "th")
    return f"{k}{suffix}"


def _rowid_value(v):
    """A probe value for a rowid lookup, or None when it can match no rowid."""
    if v is None:
        return None
    if type(v) is int:
        return v
    if type(v) is float:
        return int(v) if v.is_integer() and abs(v) < 2 ** 63 else None
    if type(v) is str:
        c = apply_affinity(v, INTEGER)
        if type(c) is int:
            return c
        if type(c) is float and c.is_integer():
            return int(c)
    return None


def _numeric_bound(v):
    if v is None:
        return _EMPTY
    if isinstance(v, str):
        v = apply_affinity(v, NUMERIC)
    if type(v) in (int, float):
        return v
    return None  # text/blob bound: compares greater than every number; leave to the filter


def _ceil_int(v) -> int:
    import math
    return int(math.ceil(v)) if type(v) is float else v


def _floor_int(v) -> int:
    import math
    return int(math.floor(v)) if type(v) is float else v


def _probe_conv(column_affinity, expr_affinity):
    """Convert a probe value as the comparison ``column = value`` would."""
    aff = ops.comparison_affinity(column_affinity, expr_affinity)
    conv = ops.apply_comparison_affinity
    if aff is None:
        return lambda v: v
    return lambda v: conv(v, aff)


def _collation_ok(part, terms, table, comp) -> bool:
    op, other = terms[0]
    if op != "=":
        return part.collation == table.schema.columns[part.column].collation
    c = comp.compile(other)
    coll = c.collation if c.explicit_collation else table.schema.columns[part.column].collation
    return coll == part.collation


def _conjuncts(node) -> list:
    if node is None:
        return []
    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    if isinstance(node, exp.Paren) and isinstance(node.this, exp.And):
        return _conjuncts(node.this)
    return [node]


def _column_refs(node):
    """Column references of ``node`` outside nested subqueries."""
    out = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, exp.Column):
            out.append(n)
            continue
        if isinstance(n, (exp.Subquery, exp.Select)) and n is not node:
            # a subquery's outer references count too (conservatively)
            out.extend(c for c in n.find_all(exp.Column))
            continue
        stack.extend(v for v in n.iter_expressions())
    return out


def _source_of(col: exp.Column, scope: Scope):
    """The Source of this scope a column reference resolves to, or None (outer/unknown)."""
    try:
        found, idx, _meta = scope.resolve(col.name, col.table or None)
    except OperationalError:
        return None
    if found is not scope:
        return "outer"
    for s in scope.sources:
        if s.offset <= idx < s.offset + s.width:
            return s
    return None


def _refs_within(node, scope, sources) -> bool:
    """Does ``node`` reference only columns of ``sources`` (or outer scopes/constants)?"""
    for col in _column_refs(node):
        if isinstance(col.this, exp.Star):
            return False
        s = _source_of(col, scope)
        if s is None:
            return False
        if s == "outer":
            continue
        if not any(s is x for x in sources):
            return False
    return True


def _refs_any(node, scope, sources) -> bool:
    for col in _column_refs(node):
        s = _source_of(col, scope)
        if s is not None and s != "outer" and any(s is x for x in sources):
            return True
    return False


def _sargable(cond, source, scope):
    """``(column_name, op, other_expr)`` terms of ``cond`` usable to probe ``source``."""
    flip = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "="}
    ops_map = {exp.EQ: "=", exp.LT: "<", exp.LTE: "<=", exp.GT: ">", exp.GTE: ">="}
    out = []
    if type(cond) in ops_map:
        op = ops_map[type(cond)]
        for a, b, o in ((cond.this, cond.expression, op), (cond.expression, cond.this, flip[op])):
            if isinstance(a, exp.Column) and _source_of(a, scope) is source and \
                    not _refs_any(b, scope, [source]):
                out.append((a.name, o, b))
    elif isinstance(cond, exp.In) and isinstance(cond.this, exp.Column) and \
            not cond.args.get("query") and not cond.args.get("field") and \
            _source_of(cond.this, scope) is source and \
            not any(_refs_any(e, scope, [source]) for e in cond.expressions):
        out.append((cond.this.name, "IN", list(cond.expressions)))
    elif isinstance(cond, exp.Between) and isinstance(cond.this, exp.Column) and \
            _source_of(cond.this, scope) is source:
        lo, hi = cond.args["low"], cond.args["high"]
        if not _refs_any(lo, scope, [source]) and not _refs_any(hi, scope, [source]):
            out.append((cond.this.name, ">=", lo))
            out.append((cond.this.name, "<=", hi))
    return out


def _join_kind(join_node) -> str:
    if join_node is None:
        return "INNER"
    side = (join_node.args.get("side") or "").upper()
    if side in ("LEFT", "RIGHT", "FULL"):
        return side
    return "INNER"


def _references(node, name: str) -> bool:
    return any(t.name.lower() == name.lower() for t in node.find_all(exp.Table))


def _source_columns(source: Source, qualified: bool = False):
    """Column references that ``*`` expands to for one source."""
    out = []
    for c in source.columns:
        if c.hidden:
            continue
        if not qualified and c.name.lower() in source.using_hidden:
            continue
        col = exp.column(c.name, table=source.name or None, quoted=True)
        out.append(exp.alias_(col, c.name, quoted=True))
        if c.name.lower() in source.using_merged:
            out[-1].this._using_star = True  # read the merged USING column, as SQLite
    return out


def _output_meta(item, compiled: Compiled) -> ColumnMeta:
    while isinstance(item, exp.Paren):
        item = item.this
    if isinstance(item, exp.Alias):
        name = item.alias
    elif isinstance(item, exp.Column):
        name = compiled.column_name or item.name
    else:
        try:
            name = item.sql(dialect="sqlite")
        except ValueError:  # sqlglot cannot render our own nodes (e.g. parameters)
            name = item.args.get("this") if isinstance(item.args.get("this"), str) else "?"
    return ColumnMeta(name, compiled.affinity, compiled.collation or "BINARY")


def _projector(fns):
    if len(fns) == 1:
        (f,) = fns
        return lambda row: (f(row),)
    if len(fns) == 2:
        f, g = fns
        return lambda row: (f(row), g(row))
    if len(fns) == 3:
        f, g, h = fns
        return lambda row: (f(row), g(row), h(row))
    return lambda row: tuple([f(row) for f in fns])


def _row_key_function(columns):
    """A hashable identity for DISTINCT/UNION: SQLite equality under each column's collation."""
    keys = [_hash_key_function(c.collation or "BINARY") for c in columns]
    if all(c.collation in (None, "BINARY") for c in columns):
        return lambda r: r
    return lambda r: tuple(k(v) for k, v in zip(keys, r))


def _distinct_run(run, columns):
    key = _row_key_function(columns)

    def distinct():
        seen = set()
        for r in run():
            k = key(r)
            if k not in seen:
                seen.add(k)
                yield r
    return distinct


def _top_count(node, comp):
    """``() -> LIMIT + OFFSET`` of a SELECT whose LIMIT and OFFSET are literals or
    parameters (evaluating them twice is then harmless), None when there is no such
    bound; a bad value also gives None and the LIMIT stage reports the error."""
    limit = node.args.get("limit")
    if limit is None:
        return None
    offset = node.args.get("offset")
    off_expr = offset.expression if offset is not None else limit.args.get("offset")
    exprs = [e for e in (limit.expression, off_expr) if e is not None]
    if not all(isinstance(e, (exp.Literal, Variable)) for e in exprs):
        return None
    lim_fn = comp.fn(limit.expression)
    off_fn = comp.fn(off_expr) if off_expr is not None else None

    def count():
        try:
            n = _int_arg(lim_fn(()))
            k = _int_arg(off_fn(())) if off_fn is not None else 0
        except Exception:  # noqa: BLE001 - reported by the LIMIT stage itself
            return None
        return None if n < 0 else max(k, 0) + n
    return count


def _make_sorter(terms, collations=None):
    """Sort by several terms ``(key_fn(item), collation, ordered_node)``: one stable
    sort per term, last term first. NULLS FIRST/LAST as written or SQLite's default."""
    plans = []
    for key_fn, coll, ordered in terms:
        desc = bool(ordered.args.get("desc"))
        nulls_first = ordered.args.get("nulls_first")
        if nulls_first is None:
            nulls_first = not desc
        skey = sort_key_function(coll, collations)
        null_rank = (0 if nulls_first else 1) if not desc else (1 if nulls_first else 0)
        plans.append((key_fn, skey, desc, null_rank))

    def sorter(items, limit=None):
        if limit is not None and len(plans) == 1 and limit < len(items) // 2:
            # heapq.nsmallest/nlargest equal sorted(...)[:limit] (stable, documented).
            key_fn, skey, desc, null_rank = plans[0]
            other = 1 - null_rank
            pick = heapq.nlargest if desc else heapq.nsmallest
            return pick(limit, items, key=lambda it: (null_rank, 0) if key_fn(it) is None
                        else (other, skey(key_fn(it))))
        for key_fn, skey, desc, null_rank in reversed(plans):
            other = 1 - null_rank
            items.sort(key=lambda it: (null_rank, 0) if key_fn(it) is None
                       else (other, skey(key_fn(it))), reverse=desc)
        return items
    return sorter


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
