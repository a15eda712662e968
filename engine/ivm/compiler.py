"""The view compiler: a SELECT's AST -> a ``dbsp`` circuit computing its deltas.

Each SQL construct becomes the incremental operator of its relational meaning
(Budiu et al., DBSP, VLDB 2023, section 5 "SQL"):

* FROM items: a base table or a materialized view is a circuit *input* (its
  per-commit delta); a plain view, a subquery in FROM or a CTE is compiled
  inline; VALUES is a constant fed once.
* joins: equi-conjuncts become a bilinear hash join (``join``), others a theta
  join; LEFT/RIGHT/FULL add the NULL-padded rows of one side that have no
  match: ``pad(L - L ⋉ distinct(π_L(J)))`` (and symmetrically), which handles
  any ON condition.
* WHERE/HAVING: ``filter``; the select list: ``map``; DISTINCT: ``distinct``.
* GROUP BY and aggregates: ``aggregate`` with SQLite's value rules
  (``engine.ivm.aggregates``).
* UNION ALL / UNION / INTERSECT / EXCEPT: ``plus`` / ``distinct`` /
  semi-join / anti-join on whole rows.
* ORDER BY ... LIMIT/OFFSET: ``top_k`` (without LIMIT an ORDER BY does not
  change a view's contents).

Expressions are compiled by the engine's one evaluator (``ExprCompiler``)
over the same flat-row layout the executor uses (``Scope``), so a view and a
query can never disagree on a value. Rows that flow from base tables carry
their rowid in a hidden slot, which keeps equal-looking rows of different
table rows apart and gives scan order to order-sensitive aggregates.
"""

from __future__ import annotations

import dataclasses
import operator

from sqlglot import exp

from dbsp import Circuit, ZSet, total_order_key
from engine.errors import NotSupportedError, OperationalError, unsupported
from engine.ivm.aggregates import dbsp_aggregate
from engine.ivm.compiled import CompiledView
from engine.ivm.determinism import check_deterministic
from engine.ivm.rows import plain, strict
from engine.ivm.parameters import (
    PARAMS_RELATION, NotShareable, binding_slots, binding_tag, bound_source, check_shareable,
    join_params_by_in, mentions_params, not_shareable, params_binding_key, params_source,
    parametrize, reads_params)
from engine.sql import operators as ops
from engine.sql.compiler.aggregation import _collect_aggregates, check_aggregate_use
from engine.sql.compiler.expr import ExprCompiler, Runtime, _collation, _hash_key_function
from engine.sql.compiler.joins import _join_kind
from engine.sql.compiler.ordering import _int_arg
from engine.sql.compiler.predicates import _conjuncts, equi_sides
from engine.sql.compiler.projection import _output_meta, _projector
from engine.sql.compiler.query import Planner
from engine.sql.compiler.scope import ColumnMeta, Scope, Source
from engine.sql.compiler.window import collect_windows
from engine.sql.dialect import Variable
from engine.sql.compiler.plan import affinity_converter, from_item_columns, stored_affinities
from engine.sql.compiler.sources import materialized
from engine.values import sort_key_function

MATERIALIZED_PREFIX = "CREATE MATERIALIZED VIEW"


@dataclasses.dataclass
class Rel:
    """A compiled query: the stream of its output rows and their columns."""

    stream: object
    columns: list[ColumnMeta]
    # A compound's first arm's REAL columns: a FROM item reading it sees their
    # integers as REAL (SQLite's OP_RealAffinity; see QueryPlan.real_columns)
    real_columns: tuple = ()
    # A compound's first arm's column affinities: applied to every row when SQLite
    # materializes the compound as a FROM item (see QueryPlan.from_item_run)
    arm_affinities: tuple | None = None

    def from_item_stream(self, materialized: bool = False):
        """The stream as a FROM item sees it: integers in ``real_columns`` as REAL;
        when ``materialized`` (engine.sql.compiler.sources.materialized), a
        compound's rows with its first arm's column affinities."""
        convert = affinity_converter(
            stored_affinities(self.columns, self.arm_affinities)) if materialized else None
        if convert is not None:
            return self.stream.map(lambda row: strict(convert(row)))
        positions = self.real_columns
        if not positions:
            return self.stream

        def convert(row):
            if any(type(row[i]) is int for i in positions):
                row = list(row)
                for i in positions:
                    if type(row[i]) is int:
                        row[i] = float(row[i])
                return strict(tuple(row))
            return row
        return self.stream.map(convert)


def is_materialized(sql: str | None) -> bool:
    """Is this stored view definition a materialized view's?"""
    return bool(sql) and " ".join(sql[:40].split()).upper().startswith(MATERIALIZED_PREFIX)


def compile_view(session, query: exp.Expression, column_names=None) -> CompiledView:
    """Compile ``query`` (a SELECT/compound/VALUES AST) into a ``CompiledView``.

    ``session`` supplies the schema (its open transaction's catalog). Raises
    OperationalError for invalid SQL and for constructs that cannot be
    materialized (non-deterministic functions), and a "not supported" error for
    what the compiler does not incrementalize yet; never a silently wrong view.
    """
    check_deterministic(query, session)
    compiler = ViewCompiler(session)
    rel = compiler.query(query)
    columns = rel.columns
    if column_names:
        if len(column_names) != len(columns):
            raise OperationalError(
                f"expected {len(columns)} columns for view but got {len(column_names)}")
        columns = [dataclasses.replace(c, name=n) for c, n in zip(columns, column_names)]
    # Reading a view is reading a FROM item: a compound's first-arm REAL columns
    # turn the other arms' integers REAL, as sqlite3 reading the plain view does.
    compiler.circuit.output("out", rel.from_item_stream())
    return CompiledView(compiler.circuit, columns, dict(compiler.input_names),
                        dict(compiler.constants), key_columns=compiler.key_columns,
                        explain=compiler.explain, arm_affinities=rel.arm_affinities)


def compile_parametrized(session, query: exp.Expression) -> CompiledView:
    """Compile a query with bound parameters into one circuit for every binding.

    The circuit's input ``PARAMS_RELATION`` takes the distinct parameter tuples,
    each with a trailing presence flag of None (``(p1, ..., pk, None)``); each output
    row is the result row followed by its binding's k values (see parameters.py).
    A query without parameters compiles as a view. Raises ``NotShareable`` when the
    parameters sit where one shared circuit cannot hold them (see ``compile_bound``).
    """
    check_deterministic(query.transform(_strip_variables), session)
    check_shareable(query)
    query, count = parametrize(query)
    # A materialized view read by the query compiles inline (its deltas are not
    # handed to subscriptions), so the circuit reads base tables only.
    compiler = ViewCompiler(session, count, inline_views=True)
    try:
        rel = compiler.query(query)
    except NotShareable:
        raise
    except (OperationalError, NotSupportedError) as exc:
        # When unsure, do not share: the per-binding circuit is the plain view of the
        # query with its values bound (and raises this error again if it is the SQL's)
        raise not_shareable(f"where the shared circuit failed ({exc})") from exc
    compiler.circuit.output("out", rel.stream)
    return CompiledView(compiler.circuit, rel.columns, dict(compiler.input_names),
                        dict(compiler.constants), key_columns=compiler.key_columns,
                        explain=compiler.explain, param_count=count,
                        binding_checks=compiler.binding_checks)


def compile_bound(session, query: exp.Expression, values) -> CompiledView:
    """Compile ``query`` for one binding ``values`` of its parameters: the circuit of
    a subscription whose parameters a shared circuit cannot hold (parameters.py).

    Each parameter reads its bound value exactly as the executor's does
    (``Runtime.params``: no affinity, no collation, never rendered into SQL text),
    so the circuit is the view of the query run with ``values`` bound; a LIMIT or
    frame offset made of parameters is a constant here. ``session`` is the private
    compile session (``session.bound_values`` is set while compiling, which every
    ViewCompiler of this circuit, scratch ones too, reads).
    """
    check_deterministic(query.transform(_strip_variables), session)
    saved = getattr(session, "bound_values", ())
    session.bound_values = list(values)
    try:
        compiler = ViewCompiler(session, inline_views=True)
        rel = compiler.query(query)
    finally:
        session.bound_values = saved
    compiler.explain.append("parameters bound as constants: one circuit per binding")
    compiler.circuit.output("out", rel.stream)
    return CompiledView(compiler.circuit, rel.columns, dict(compiler.input_names),
                        dict(compiler.constants), key_columns=compiler.key_columns,
                        explain=compiler.explain)


def _strip_variables(node):
    return exp.Null() if isinstance(node, Variable) else node


class ViewCompiler:
    """Compiles one view's query into ``self.circuit`` (see module docstring)."""

    def __init__(self, session, param_count: int = 0, inline_views: bool = False):
        self.session = session
        self.param_count = param_count  # > 0: a parametrized query (see parameters.py)
        self.inline_views = inline_views  # compile materialized views read as plain ones
        self.rt = Runtime(session)
        # A per-binding subscription circuit's values (compile_bound): parameters read them
        self.rt.params = list(getattr(session, "bound_values", ()))
        # The executor's planner, for its AST-level helpers only (``*`` expansion,
        # USING/NATURAL conditions, GROUP BY targets, ORDER BY terms).
        self.planner = Planner(session, self.rt)
        self.circuit = Circuit()
        self.streams: dict[str, object] = {}     # relation name -> input stream
        self.input_names: dict[str, str] = {}    # relation name -> circuit input name
        self.constants: dict[str, ZSet] = {}
        self.ctes: list[dict] = []
        self.explain: list[str] = []
        self.key_columns: tuple[int, ...] = ()
        self.binding_checks: list = []  # f(binding values) raising for a bad binding
        self._depth = 0
        self._from_binding = None  # the last _from's binding key slots (bound FROM items)
        self._from_where: list = []  # the last _from's inner-join ON terms with parameters
        self._bound_items = 0  # bound FROM items so far (names their hidden columns)

    # -- queries -------------------------------------------------------------------------

    def query(self, node) -> Rel:
        """Compile any query node: Select, compound, VALUES, Subquery, with WITH."""
        with_ = node.args.get("with_") if isinstance(node, (exp.Select, exp.SetOperation)) \
            else None
        if with_ is not None:
            self.ctes.append({cte.alias_or_name.lower(): cte for cte in with_.expressions})
            try:
                return self._query(node)
            finally:
                self.ctes.pop()
        return self._query(node)

    def _query(self, node) -> Rel:
        self._depth += 1
        try:
            if isinstance(node, (exp.Subquery, exp.Paren)):
                return self.query(node.this)
            if isinstance(node, exp.SetOperation):
                return self._compound(node)
            if isinstance(node, exp.Values):
                return self._values(node)
            if isinstance(node, exp.Select):
                return self._select(node)
        finally:
            self._depth -= 1
        raise unsupported(f"query {node.key} in a materialized view")

    def subquery(self, node, scope, rt):
        """Called by ExprCompiler for a subquery expression (IN, EXISTS, scalar)."""
        raise unsupported("subquery expressions (IN/EXISTS/scalar subqueries) in a "
                          "materialized view")

    def _select(self, node: exp.Select) -> Rel:
        scope = Scope()
        comp = ExprCompiler(scope, self.rt, planner=self)
        stream = self._from(node, scope, comp)
        binding = self._from_binding
        where = node.args.get("where")
        conjuncts = (_conjuncts(where.this) if where is not None else []) + self._from_where
        params = self.param_count if self._depth == 1 else 0
        if params:
            stream, conjuncts = self._join_params(stream, scope, comp, conjuncts, binding)
        elif any(mentions_params(c) for c in conjuncts) or (
                self.param_count and mentions_params(node)):
            raise not_shareable("inside a subquery, CTE or compound query")
        from engine.ivm import subqueries  # (IN/EXISTS/scalar subqueries attach slots)
        stream = subqueries.filter_with_subqueries(self, stream, scope, comp, conjuncts)
        items = self.planner._expand_stars(node.expressions, scope)
        if params:
            self._params_slots = [scope.width - params - 1 + i for i in range(params)]
        aggregates = _collect_aggregates(node, items, self.session)
        if check_aggregate_use(node, items, aggregates, self.session):
            stream, comp = subqueries.attach_subqueries(
                self, stream, scope, comp,
                subqueries.pre_aggregate_roots(self, node, items, scope, aggregates))
            stream, comp, grouped = self._aggregate(node, scope, comp, stream, items, aggregates)
        else:
            grouped = None
            if node.args.get("having") is not None:
                raise OperationalError("a GROUP BY clause is required before HAVING")
        if collect_windows(node, items):
            if self.param_count and not params and mentions_params(node):
                raise not_shareable("with window functions in a subquery")
            from engine.ivm.windows import window_stage
            stream, comp = window_stage(self, node, items, scope, comp, stream, grouped)
        stream, comp = subqueries.attach_subqueries(
            self, stream, scope, comp, subqueries.select_roots(node, items),
            subqueries.grouped_slots_of(grouped, scope))
        compiled = [comp.compile(item) for item in items]
        columns = [_output_meta(item, c) for item, c in zip(items, compiled)]
        if grouped is not None and self._depth == 1:
            self.key_columns = tuple(i for i, item in enumerate(items)
                                     if _strip_alias(item) in grouped)
        fns = [c.fn for c in compiled]
        if params:
            # Each output row ends with its binding (p1..pk), read from the P slots.
            fns += [lambda row, i=i: row[i] for i in self._params_slots]
        base = _projector(fns)
        project = lambda row: strict(base(row))  # noqa: E731 - rows lose rowids here
        distinct = node.args.get("distinct") is not None
        if distinct:
            _require_binary(columns, "SELECT DISTINCT")
        limited = node.args.get("limit") is not None or node.args.get("offset") is not None
        if limited and not distinct:
            # Rank the source rows (their hidden rowids break ties in scan order),
            # then project the survivors.
            width = len(items) + params
            terms = self._order_keys(node, items, columns, comp)
            joined = stream.map(lambda row: project(row) + row)
            ranked = self._top_k(joined, node, comp, terms, width, params)
            return Rel(ranked.map(lambda row: strict(row[:width])), columns)
        if distinct and params:
            # ... but bindings are type-strict (1 and 1.0 are two bindings): the tag
            # keeps them apart through distinct, strict rows after it
            w = len(items)
            stream = stream.map(lambda row: _tagged(base(row), w)).distinct().map(
                lambda row: strict(row[:-1]))
        elif distinct:
            # SQL's DISTINCT compares values (1 = 1.0): plain tuples, Python equality
            stream = stream.map(base).distinct()
        else:
            stream = stream.map(project)
        if distinct:
            if limited:
                terms = self._order_keys(node, items, columns, comp, outputs_only=True)
                stream = self._top_k(stream, node, comp, terms, 0, params,
                                     len(items) + params)
        elif node.args.get("order") is not None:
            self.explain.append("ORDER BY without LIMIT: does not change the contents")
        return Rel(stream, columns)

    # -- FROM and joins --------------------------------------------------------------------

    def _from(self, node, scope, comp):
        """The FROM clause's rows (flat over ``scope``); sets ``_from_binding`` to the
        slots of the rows' binding key when a FROM item reads parameters (bound items
        join each other on it, ``_binding_join_keys``), else None.

        In a parametrized SELECT, the ON terms of inner joins that read parameters
        move to the WHERE (``_from_where``), where they join P: for an inner join
        that is the same filter, unless a RIGHT/FULL join pads its sources later."""
        from_ = node.args.get("from_")
        joins = node.args.get("joins") or []
        self._from_where = []
        if from_ is None:
            self._from_binding = None
            if joins:
                raise OperationalError("not supported by turso_stream: JOIN without FROM")
            return self._constant([()])
        source, stream = self._source(from_.this, materialized(0, joins))
        scope.add(source)
        left_sources = [source]
        binding = binding_slots(source, self.param_count)
        padded = any(_join_kind(j) in ("RIGHT", "FULL") for j in joins)
        moved = []
        for join in joins:
            if join.args.get("kind") and str(join.args["kind"]).upper() == "LATERAL":
                raise unsupported("LATERAL joins in a materialized view")
            source, right = self._source(join.this, True)
            scope.add(source)
            conds = self.planner._join_conditions(join, source, left_sources, scope, padded)
            kind = _join_kind(join)
            right_binding = binding_slots(source, self.param_count)
            keys = _binding_join_keys(kind, binding, right_binding, source.offset)
            with_params = [c for c in conds if self.param_count and mentions_params(c)]
            if with_params:
                if kind != "INNER" or padded or self._depth != 1:
                    raise not_shareable(
                        f"in the ON of a {kind} JOIN" if kind != "INNER" else
                        "in a JOIN's ON in a FROM with a RIGHT/FULL join or in a subquery")
                moved.extend(with_params)
                conds = [c for c in conds if all(c is not p for p in with_params)]
            stream = self._join(stream, right, source, conds, kind, scope, comp, keys)
            left_sources.append(source)
            binding = binding or right_binding
        self._from_binding = binding
        self._from_where = moved
        return stream

    def _source(self, item, materialized=False):
        """``(Source, stream)`` for one FROM item (``materialized``: as in
        engine.sql.compiler.sources)."""
        alias_node = item.args.get("alias")
        if isinstance(item, exp.Table):
            name = item.name
            alias = item.alias or name
            cte = self._find_cte(name) if not item.args.get("db") else None
            if cte is not None and self.param_count and reads_params(self, cte.this):
                with_ = cte.parent
                return bound_source(self, cte.this, alias, cte.args.get("alias"),
                                    isinstance(with_, exp.With)
                                    and bool(with_.args.get("recursive")))
            if cte is not None:
                from engine.ivm.recursion import cte_relation
                return self._derived(cte_relation(self, cte), alias, cte.args.get("alias"),
                                     materialized)
            table = self.session.table_for_query(name)
            if table is not None:
                source = self.planner._table_source(table, alias)[0]
                return source, self._input(table.name.lower())
            return self._view(name, alias, materialized)
        if isinstance(item, exp.Subquery):
            if self.param_count and reads_params(self, item.this):
                return bound_source(self, item.this, item.alias or "", alias_node)
            return self._derived(self.query(item.this), item.alias or "", alias_node,
                                 materialized)
        if isinstance(item, exp.Values):
            return self._derived(self._values(item), item.alias or "", alias_node)
        raise unsupported(f"FROM item {item.sql(dialect='sqlite')} in a materialized view")

    def _view(self, name, alias, materialized=False):
        found = self.session.view_for_query(name)
        if found is None:
            if name.lower() in ("sqlite_master", "sqlite_schema", "sqlite_temp_master",
                                "sqlite_temp_schema"):
                raise unsupported("the schema table in a materialized view")
            raise OperationalError(f"no such table: {name}")
        query, names = found
        obj = self.session.txn.catalog.others.get(name.lower())
        if obj is not None and is_materialized(obj.sql) and not self.inline_views:
            # Another materialized view: its output deltas are this circuit's input,
            # read as a FROM item reads the plain view (its stored rows already
            # have the co-routine's REAL columns; see compile_view).
            upstream = compile_view(self.session, query, names)
            rel = Rel(self._input(name.lower()), upstream.columns,
                      arm_affinities=upstream.arm_affinities)
            return Source(alias, from_item_columns(rel.columns, rel.arm_affinities,
                                                   materialized)), \
                rel.from_item_stream(materialized)
        rel = self.query(query)
        cols = from_item_columns(rel.columns, rel.arm_affinities, materialized)
        for c, n in zip(cols, names or ()):
            c.name = n
        for c in cols:
            c.decltype = None  # (as before: a view's columns lend no declared type here)
        return Source(alias, cols), rel.from_item_stream(materialized)

    def _derived(self, rel: Rel, alias: str, alias_node, materialized=False):
        cols = from_item_columns(rel.columns, rel.arm_affinities, materialized)
        if alias_node is not None and alias_node.columns:
            for c, ident in zip(cols, alias_node.columns):
                c.name = ident.name
        return Source(alias, cols), rel.from_item_stream(materialized)

    def _find_cte(self, name):
        for level in reversed(self.ctes):
            cte = level.get(name.lower())
            if cte is not None:
                return cte
        return None

    def _input(self, relation: str):
        stream = self.streams.get(relation)
        if stream is None:
            input_name = f"in{len(self.streams)}:{relation}"
            stream = self.streams[relation] = self.circuit.input(input_name)
            self.input_names[relation] = input_name
        return stream

    def _constant(self, rows):
        name = f"const{len(self.constants)}"
        self.constants[name] = ZSet.from_rows(rows)
        return self.circuit.input(name)

    def _join(self, left, right, source, conds, kind, scope, comp, binding_keys=None):
        """Join ``right`` (rows of ``source``) to the flat rows of ``left``.

        Inner: hash join on the equi-conjuncts (O(|Δ|) probes per tick), the rest
        a filter; without equi-conjuncts a theta join (O(|Δ| · |other side|)).
        Outer kinds add the unmatched rows of one or both sides, NULL-padded.
        ``binding_keys`` ``(left key, right key)``: both sides carry a subscription's
        binding, which must be equal too (a hash key part, so bindings never cross).
        """
        offset = source.offset
        from engine.ivm import subqueries
        with_subqueries = [c for c in conds if subqueries.subquery_nodes([c])]
        conds = [c for c in conds if all(c is not s for s in with_subqueries)]
        equi = self._equi_keys(conds, source, scope, comp)
        if binding_keys is not None:
            equi = _with_binding_keys(equi, binding_keys)
        residual = [c for c in conds if equi is None or all(c is not e for e in equi[2])]
        test = _all_of([comp.predicate(c) for c in residual])
        if equi is not None:
            joined = left.join(right, equi[0], equi[1])
            if test is not None:
                joined = joined.filter(test)
            self.explain.append(f"JOIN {source.name}: hash join")
        else:
            predicate = None if test is None else (lambda a, b: test(a + b))
            joined = left.theta_join(right, predicate)
            self.explain.append(f"JOIN {source.name}: theta join")
        if with_subqueries:
            # ON terms with subqueries filter the joined rows (over attached slots,
            # dropped after) before the outer kinds pad what did not match.
            end = offset + source.width
            joined = subqueries.filter_with_subqueries(
                self, joined, scope, comp, with_subqueries).map(lambda row: row[:end])
        if kind == "INNER":
            return joined
        parts = [joined]
        if kind in ("LEFT", "FULL"):
            right_pad = (None,) * source.width
            matched = joined.map(lambda row: row[:offset]).distinct()
            parts.append(left.anti_join(matched, _whole, _whole).map(
                lambda row: row + right_pad))
        if kind in ("RIGHT", "FULL"):
            left_pad = (None,) * offset
            matched = joined.map(lambda row: row[offset:]).distinct()
            parts.append(right.anti_join(matched, _whole, _whole).map(
                lambda row: left_pad + row))
        return parts[0].plus(*parts[1:])

    def _join_params(self, stream, scope, comp, conjuncts, binding=None):
        """Join the parameter relation P after the FROM clause, on the WHERE conjuncts
        that mention a parameter; returns ``(stream, remaining conjuncts)``.

        ``binding``: the slots of the FROM rows' binding key (bound FROM items,
        ``parameters.bound_source``): each row then joins exactly its own binding's
        P row (a hash join on the key, O(|Δ|)), the conjuncts filtering the pair."""
        self._params_stream = self._input(PARAMS_RELATION)
        if binding is None:
            by_in = join_params_by_in(self, stream, scope, comp, conjuncts)
            if by_in is not None:
                return by_in
        source = params_source(self.param_count)
        scope.add(source)
        on = [c for c in conjuncts if mentions_params(c)]
        rest = [c for c in conjuncts if not mentions_params(c)]
        keys = None
        if binding is not None:
            keys = (operator.itemgetter(slice(*binding)),
                    params_binding_key(self.param_count))
        joined = self._join(stream, self._params_stream, source, on, "INNER", scope, comp,
                            keys)
        return joined, rest

    def _equi_keys(self, conds, source, scope, comp):
        """``(left key fn, right key fn, conjuncts used)`` for ``a = b`` conjuncts with one
        side on ``source`` alone and the other on earlier sources; None if there are none.

        Keys are normalized as the comparison is (affinity, collation), so equal keys
        <=> the SQL comparison is true; a NULL part makes the key None (never matches).
        """
        alone = dataclasses.replace(source, offset=0, using_hidden=set(source.using_hidden))
        right_scope = Scope([alone])
        right_comp = ExprCompiler(right_scope, self.rt, planner=self)
        left_fns, right_fns, used = [], [], []
        for c in conds:
            sides = equi_sides(c, scope, source)
            if sides is None:
                continue
            inner, outer = sides
            a = c.this
            if not list(inner.find_all(exp.Column)) or not list(outer.find_all(exp.Column)):
                continue
            try:
                ci = right_comp.compile(inner)
            except OperationalError:
                continue  # e.g. a USING-merged name: leave it to the residual filter
            co = comp.compile(outer)
            aff = ops.comparison_affinity(ci.affinity, co.affinity)
            coll = _collation(ci, co) if inner is a else _collation(co, ci)
            right_fns.append(_join_key_part(ci.fn, aff, coll))
            left_fns.append(_join_key_part(co.fn, aff, coll))
            used.append(c)
        if not used:
            return None
        return _tuple_key(left_fns), _tuple_key(right_fns), used

    # -- aggregation -----------------------------------------------------------------------

    def _aggregate(self, node, scope, comp, stream, items, aggregate_nodes):
        """GROUP BY / aggregates: returns ``(stream, post-aggregation compiler, grouped
        item nodes)``.

        Post-aggregation rows keep the flat layout of ``scope`` (grouped columns in
        their slots, other slots NULL) followed by one slot per non-column GROUP BY
        expression and one per aggregate, so HAVING, the select list and ORDER BY
        compile exactly as in the executor.
        """
        group = node.args.get("group")
        width = scope.width
        slots: dict = {}
        column_slots, expr_slots, key_fns, grouped = [], [], [], set()
        for g in (group.expressions if group is not None else []):
            target = self.planner._group_target(g, items, scope)
            c = comp.compile(target)
            if (c.collation or "BINARY") != "BINARY":
                raise unsupported(f"GROUP BY under collation {c.collation} in a "
                                  "materialized view")
            key_fns.append(c.fn)
            grouped.add(_strip_alias(target))
            resolved = _resolve_column(target, scope)
            if resolved is not None:
                column_slots.append((len(key_fns) - 1, resolved))
            else:
                slot = width + len(expr_slots)
                expr_slots.append((len(key_fns) - 1, slot, target))
                # read back with the expression's own affinity: CAST(a AS TEXT) = -1
                # compares as text in a FROM item over this query
                slots[("group_expr", slot)] = (c.affinity, c.collation, c.explicit_collation)
        params = self.param_count if self._depth == 1 else 0
        if params:
            # Group by the binding too; without GROUP BY each binding's one row must
            # exist even when nothing matches: P's presence rows make the group.
            for slot in self._params_slots:
                key_fns.append(operator.itemgetter(slot))
                column_slots.append((len(key_fns) - 1, slot))
            # type-strict bindings: 1 and 1.0 are two groups (the tag is not output)
            key_fns.append(lambda row, p=tuple(self._params_slots):
                           binding_tag([row[i] for i in p]))
            if group is None:
                pad = (None,) * (width - params - 1)
                stream = stream.plus(self._params_stream.map(
                    lambda row: pad + row[:params] + (1,)))
        extra = len(expr_slots)
        scan_order = _scan_order(scope)
        aggs = [dbsp_aggregate(n, comp, scan_order) for n in aggregate_nodes]
        exists_only = None
        if params and group is None:
            present = width - 1
            exists_only = lambda row: row[present] == 1  # noqa: E731 - presence rows
        for k, n in enumerate(aggregate_nodes):
            slots[id(n)] = width + extra + k
        output = group_row_builder(width, column_slots, expr_slots)
        group_key = None if not key_fns else _tuple_key(key_fns, none_ok=True)
        stream = stream.aggregate(group_key, aggs, output, exists_only=exists_only)
        self.explain.append("GROUP BY: incremental aggregate" if group is not None
                            else "aggregate: incremental")
        post = ExprCompiler(scope, self.rt, aggregates=slots, planner=self)
        roots = list(items) + [node.args[k] for k in ("having", "order") if node.args.get(k)]
        for _k, slot, target in expr_slots:
            slots[id(target)] = slot  # (the GROUP BY term itself: windows.py's peer order)
            for root in roots:
                for sub in root.walk():
                    if sub == target and not isinstance(sub, exp.Column):
                        slots[id(sub)] = slot
        _check_grouped_references(roots, scope, slots, {s for _k, s in column_slots})
        having = node.args.get("having")
        if having is not None:
            from engine.ivm import subqueries
            stream = subqueries.filter_with_subqueries(
                self, stream, scope, post, _conjuncts(having.this),
                {s for _k, s in column_slots})
        return stream, post, grouped

    # -- compound queries, VALUES ------------------------------------------------------------

    def _compound(self, node) -> Rel:
        if self.param_count and mentions_params(node):
            raise not_shareable("in a compound query")
        left = self.query(node.this)
        right = self.query(node.expression)
        if len(left.columns) != len(right.columns):
            word = {exp.Union: "UNION", exp.Intersect: "INTERSECT", exp.Except: "EXCEPT"}[
                type(node)]
            if isinstance(node, exp.Union) and not node.args.get("distinct"):
                word = "UNION ALL"
            raise OperationalError(
                f"SELECTs to the left and right of {word} do not have the same number of "
                "result columns")
        columns = [ColumnMeta(c.name, None, c.collation) for c in left.columns]
        distinct = bool(node.args.get("distinct"))
        # Set operations compare values as SQL does (1 = 1.0): they see plain tuples
        # (Python equality), not the type-strict rows of the arms.
        if isinstance(node, exp.Union):
            stream = left.stream.plus(right.stream)
            if distinct:
                _require_binary(columns, "UNION")
                stream = stream.map(plain).distinct()
        elif isinstance(node, exp.Intersect):
            _require_binary(columns, "INTERSECT")
            stream = left.stream.map(plain).distinct().semi_join(right.stream, _whole, plain)
        else:
            _require_binary(columns, "EXCEPT")
            stream = left.stream.map(plain).distinct().anti_join(right.stream, _whole, plain)
        if node.args.get("limit") is not None or node.args.get("offset") is not None:
            comp = ExprCompiler(Scope(), self.rt, planner=self)
            terms = []
            order = node.args.get("order")
            for o in (order.expressions if order is not None else []):
                i = self.planner._output_index(o.this, columns, None, compound=True)
                coll = columns[i].collation or "BINARY"
                if isinstance(o.this, exp.Collate):
                    coll = o.this.expression.name.upper()
                terms.append((lambda row, i=i: row[i], coll, o))
            stream = self._top_k(stream, node, comp, terms, 0)
        real = left.real_columns or tuple(
            i for i, c in enumerate(left.columns) if c.affinity == "REAL")
        return Rel(stream, columns, real,
                   left.arm_affinities or tuple(c.affinity for c in left.columns))

    def _values(self, node) -> Rel:
        if self.param_count and mentions_params(node):
            raise not_shareable("in VALUES")
        comp = ExprCompiler(Scope(), self.rt, planner=self)
        rows, width = [], None
        for tup in node.expressions:
            items = tup.expressions if isinstance(tup, exp.Tuple) else [tup]
            if width is None:
                width = len(items)
            elif len(items) != width:
                raise OperationalError("all VALUES must have the same number of terms")
            rows.append(strict(tuple(comp.fn(e)(()) for e in items)))
        columns = [ColumnMeta(f"column{i + 1}") for i in range(width or 0)]
        return Rel(self._constant(rows), columns)

    # -- ORDER BY ... LIMIT ------------------------------------------------------------------

    def _order_keys(self, node, items, columns, comp, outputs_only=False):
        """ORDER BY terms as ``(key(row), collation, ordered node)`` over rows that are
        ``output + source row`` (or just the output with ``outputs_only``)."""
        order = node.args.get("order")
        terms = []
        width = len(columns)
        for o in (order.expressions if order is not None else []):
            idx = self.planner._output_index(o.this, columns, items)
            if idx is not None:
                coll = columns[idx].collation or "BINARY"
                if isinstance(o.this, exp.Collate):
                    coll = o.this.expression.name.upper()
                terms.append((lambda row, i=idx: row[i], coll, o))
                continue
            if outputs_only:
                for i, item in enumerate(items):
                    if _strip_alias(item) == o.this:
                        terms.append((lambda row, i=i: row[i], columns[i].collation, o))
                        break
                else:
                    raise unsupported("ORDER BY a term outside the DISTINCT select list, "
                                      "with LIMIT, in a materialized view")
                continue
            c = comp.compile(o.this)
            skip = width + self.param_count if self._depth == 1 else width
            terms.append((lambda row, f=c.fn: f(row[skip:]), c.collation or "BINARY", o))
        return terms

    def _top_k(self, stream, node, comp, terms, width, params=0, out_width=None):
        """``top_k`` for the LIMIT/OFFSET of ``node`` ordered by ``terms``; with
        ``params``, ranked per binding (the k values ending the first ``out_width``
        (default ``width``) positions of a row)."""
        partition = None
        if params:
            end = out_width if out_width is not None else width
            partition = lambda row: strict(row[end - params:end])  # noqa: E731 - 1 != 1.0
        if params and any(node.args.get(k) is not None and mentions_params(node.args[k])
                          for k in ("limit", "offset")):
            limit = self._bound_int(node.args.get("limit"), "LIMIT")
            offset = self._bound_int(node.args.get("offset"), "OFFSET") or 0
        else:
            limit = _constant_int(node.args.get("limit"), comp, "LIMIT")
            offset = _constant_int(node.args.get("offset"), comp, "OFFSET") or 0
            if limit is not None and limit < 0:
                limit = None
            offset = max(offset, 0)
        sort_key = _sort_key(terms)
        self.explain.append("ORDER BY ... LIMIT: incremental top-k")
        return stream.top_k(sort_key, limit, offset, partition_key=partition,
                            tie_key=(lambda row: total_order_key(row[width:])) if width
                            else total_order_key)


    def _bound_int(self, node, what):
        """A LIMIT/OFFSET that reads parameters: ``f(binding values) -> int`` for the
        top-k's per-partition window (None when absent). Each new binding is checked
        before it enters the circuit (``binding_checks``): a non-integer is SQLite's
        "datatype mismatch" for that subscriber alone."""
        if node is None:
            return None
        expr = node.expression if isinstance(node, (exp.Limit, exp.Offset)) else node
        if isinstance(node, exp.Limit) and node.args.get("offset") is not None:
            raise unsupported("LIMIT with an offset clause form in a materialized view")
        fn = ExprCompiler(Scope([params_source(self.param_count)]), self.rt,
                          planner=self).fn(expr)

        def value(binding):
            return _int_arg(fn(tuple(binding) + (None,)))
        self.binding_checks.append(value)
        return value


# -- helpers ------------------------------------------------------------------------------

def _whole(row):
    return row


def group_row_builder(width, column_slots, expr_slots):
    """``output(group key, aggregate values)`` for GroupAggregate: the post-aggregation
    row in the scope's flat layout (grouped columns in their ``column_slots``, other
    slots NULL), then the non-column GROUP BY values, then the aggregates.

    Rows are type-strict (``rows.strict``): GroupAggregate emits a group's row
    only when it changed, and SUM going from -2.0 to -2 (a REAL input deleted)
    is a change although the two tuples are equal in Python."""
    template = [None] * width

    def output(key, values):
        row = template[:]
        for k, slot in column_slots:
            row[slot] = key[k]
        return strict(tuple(row) + tuple([key[k] for k, _s, _t in expr_slots]) + values)
    return output


def _strip_alias(node):
    return node.this if isinstance(node, exp.Alias) else node


def _join_key_part(fn, affinity, collation):
    """``row -> hash key`` of one equi-join operand: ``fn``'s value under the
    comparison ``affinity`` and ``collation`` (equal keys <=> the operands compare
    equal). The common shapes (BINARY with no or NUMERIC affinity) skip the generic
    conversion calls: this runs once per row of a join's initial population."""
    conv = ops.apply_comparison_affinity
    if (collation or "BINARY") == "BINARY":
        if affinity is None:
            return fn
        if affinity == ops.NUMERIC:
            def numeric_key(row):
                v = fn(row)
                return conv(v, affinity) if type(v) is str else v
            return numeric_key
    hk = _hash_key_function(collation)
    return lambda row: hk(conv(fn(row), affinity))


def _tagged(row, width):
    """An output row (values, then its binding from ``width`` on) plus the binding's
    type tag, so that equal-looking bindings of different types stay apart."""
    return row + (binding_tag(row[width:]),)


def _binding_join_keys(kind, left, right, offset):
    """Hash key parts joining two FROM items' binding keys (flat ``(lo, hi)`` slots,
    None when the side carries no binding), or None. Raises ``NotShareable`` where a
    binding would be NULL-padded away: RIGHT/FULL joins next to a bound item, and a
    bound item LEFT JOINed to rows that carry no binding (each of them would need a
    padded row per binding)."""
    if left is None and right is None:
        return None
    if kind in ("RIGHT", "FULL") or (kind == "LEFT" and left is None):
        raise not_shareable(f"in a FROM item on the NULL-padded side of a {kind} JOIN")
    if left is None or right is None:
        return None
    return (operator.itemgetter(slice(*left)),
            operator.itemgetter(slice(right[0] - offset, right[1] - offset)))


def _with_binding_keys(equi, binding_keys):
    """``_equi_keys``' result with the binding key parts added in front."""
    lb, rb = binding_keys
    if equi is None:
        return lb, rb, []
    lk, rk, used = equi

    def left(row):
        k = lk(row)
        return None if k is None else (lb(row), k)

    def right(row):
        k = rk(row)
        return None if k is None else (rb(row), k)
    return left, right, used


def _all_of(tests):
    if not tests:
        return None
    if len(tests) == 1:
        return tests[0]
    return lambda row: all(t(row) for t in tests)


def _tuple_key(fns, none_ok=False):
    """Row -> tuple of ``fns``' values; with ``none_ok`` False a NULL part gives None."""
    if none_ok:
        if len(fns) == 1:
            (f,) = fns
            return lambda row: (f(row),)
        return lambda row: tuple([f(row) for f in fns])
    if len(fns) == 1:
        (f,) = fns

        def key1(row):
            v = f(row)
            return None if v is None else (v,)
        return key1

    def key(row):
        k = tuple([f(row) for f in fns])
        return None if None in k else k
    return key


def _resolve_column(node, scope):
    """The flat slot of a plain column reference of ``scope``, else None."""
    if not isinstance(node, exp.Column) or isinstance(node.this, exp.Star):
        return None
    try:
        found_scope, index, _meta = scope.resolve(node.name, node.table or None)
    except OperationalError:
        return None
    return index if found_scope is scope else None


def _check_grouped_references(roots, scope, slots, grouped_slots):
    """Refuse bare columns in an aggregate query: SQLite reads them from an arbitrary
    row of the group, which no incremental maintenance can reproduce."""
    def visit(node):
        if id(node) in slots or isinstance(node, (exp.Subquery, exp.Select)):
            return
        if isinstance(node, exp.Column):
            slot = _resolve_column(node, scope)
            if slot is not None and slot not in grouped_slots:
                raise unsupported(
                    f"column {node.sql(dialect='sqlite')} outside GROUP BY and aggregates "
                    "(a bare column) in a materialized view")
            return
        for child in node.iter_expressions():
            visit(child)
    for root in roots:
        visit(root)


def _scan_order(scope):
    """Row -> the rowids of its table sources (scan order), or None if one has none."""
    slots = []
    for s in scope.sources:
        if s.name == PARAMS_RELATION:
            continue
        if s.rowid_slot is None:
            return None
        slots.append(s.offset + s.rowid_slot)
    # NULL-padded rows (outer joins) have no rowid: they order first, and never compare
    # None with an int
    if len(slots) == 1:
        (i,) = slots
        return lambda row: (-1, 0) if row[i] is None else (0, row[i])
    return lambda row: tuple([(-1, 0) if row[i] is None else (0, row[i]) for i in slots])


def _require_binary(columns, what):
    for c in columns:
        if (c.collation or "BINARY") != "BINARY":
            raise unsupported(f"{what} over a column with collation {c.collation} in a "
                              "materialized view")


def _constant_int(node, comp, what):
    if node is None:
        return None
    expr = node.expression if isinstance(node, (exp.Limit, exp.Offset)) else node
    if isinstance(node, exp.Limit) and node.args.get("offset") is not None:
        raise unsupported("LIMIT with an offset clause form in a materialized view")
    c = comp.compile(expr)
    if not c.constant and not _bound_constant(expr, comp):
        raise unsupported(f"a {what} that is not a constant in a materialized view")
    return _int_arg(c.fn(()))


def _bound_constant(expr, comp) -> bool:
    """Is ``expr`` constant given the bound values of a per-binding circuit
    (``compile_bound``): parameters it reads are bound, and it reads no column,
    subquery or aggregate?"""
    numbers = [v.args.get("number") or 0 for v in expr.find_all(Variable)]
    return bool(numbers) and max(numbers) <= len(comp.rt.params) and not any(
        True for _ in expr.find_all(exp.Column, exp.Select, exp.AggFunc, exp.Window))


class _Descending:
    """Reverses the order of a sort key (for DESC terms)."""

    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key

    def __lt__(self, other):
        return other.key < self.key

    def __le__(self, other):  # SortedList._check compares with <=
        return other.key <= self.key

    def __eq__(self, other):
        return self.key == other.key


def _sort_key(terms):
    """A single sort key over SQLite's ORDER BY: each term by its collation's sort
    order, ASC/DESC, with NULLS FIRST (ASC default) / NULLS LAST (DESC default)."""
    parts = []
    for key, coll, ordered in terms:
        desc = bool(ordered.args.get("desc"))
        nulls_first = ordered.args.get("nulls_first")
        if nulls_first is None:
            nulls_first = not desc
        skey = sort_key_function(coll or "BINARY")
        parts.append((key, skey, desc, bool(nulls_first)))

    def sort_key(row):
        out = []
        for key, skey, desc, nulls_first in parts:
            v = key(row)
            null_rank = (0 if nulls_first else 1) if v is None else (1 if nulls_first else 0)
            k = (null_rank, None if v is None else skey(v))
            if desc:
                out.append((null_rank, _Descending(k[1])) if v is not None else (null_rank,))
            else:
                out.append(k if v is not None else (null_rank,))
        return tuple(out)
    return sort_key

