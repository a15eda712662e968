"""Subquery expressions (IN / EXISTS / scalar) in materialized views, incrementally.

Decorrelation by a parameter relation (the Magic-Sets / Calcite / Feldera
rewrite; Seshadri et al., "Cost-based optimization for magic", SIGMOD 1996):

* the *outer references* of a subquery (columns it reads from enclosing
  queries, at any nesting depth) are found by compiling it once into a
  scratch circuit with a discovering scope (``Params``), which records each
  outer slot that name resolution reaches;
* P = distinct(outer stream projected on those slots, plus a type tag so that
  ``1`` and ``1.0`` stay apart). The subquery is compiled with P joined after
  its FROM clause: WHERE conjuncts that mention outer columns become the join
  condition (equalities: a hash join), so a change to either side costs in
  proportion to the rows it touches. Aggregates group by P too, and an
  ungrouped aggregate gets one *presence row* per binding, which makes its
  group exist (COUNT 0, SUM NULL) while every aggregate skips it. LIMIT and
  "first row" are top-k per binding;
* the per-binding result is summarized into exactly one value per binding
  (EXISTS: 1/0; scalar: first row's first column or NULL; IN: SQLite's
  three-valued answer, per binding *and* normalized left operand) and joined
  back onto the outer stream, appending one slot per subquery. The subquery
  node then compiles to a read of that slot (``SlotCompiler``), carrying the
  subquery column's affinity as SQLite's ``sqlite3ExprAffinity`` does.

An uncorrelated subquery is the same with one empty binding (a cross join).

Slots are read with negative indexes, relative to the end of the row at the
operator where the expression runs, so a batch can be attached to any row
layout (FROM rows, post-aggregation rows) without knowing its width.

"The first row" of a scalar subquery without ORDER BY: SQLite returns the
first row of its scan; here that is the lowest rowid of the subquery's table
sources (the lowest group key for GROUP BY, the lowest row by the total value
order when a source has no rowid). A query planner using an index may scan in
another order; add ORDER BY ... LIMIT 1 when more than one row can match.
"""

from __future__ import annotations

import operator

from sqlglot import exp

from dbsp import total_order_key
from engine.errors import OperationalError, unsupported
from engine.ivm.aggregates import dbsp_aggregate
from engine.ivm.compiler import (
    Rel, ViewCompiler, _all_of, _check_grouped_references, _constant_int, _resolve_column,
    _sort_key, _tuple_key, _whole, group_row_builder)
from engine.sql import operators as ops
from engine.sql.compiler.aggregation import _collect_aggregates
from engine.sql.compiler.expr import Compiled, ExprCompiler, _collation, _hash_key_function
from engine.sql.compiler.predicates import _column_refs, _conjuncts, _refs_any, _source_of
from engine.sql.compiler.projection import _output_meta, _projector
from engine.sql.compiler.scope import ColumnMeta, Scope, Source
from engine.sql.compiler.window import collect_windows

_TYPE_CODE = {type(None): "n", int: "i", float: "r", str: "t", bytes: "b", bool: "i"}
_PARAM_PREFIX = "\x00param"


class _Presence:
    """The marker ending a presence row (never a SQL value)."""

    __slots__ = ()

    def __repr__(self):
        return "PRESENCE"


PRESENCE = _Presence()


# -- compiling expressions over attached slots ----------------------------------------------

class SlotCompiler(ExprCompiler):
    """An ExprCompiler that reads some subquery nodes from slots of the row.

    ``typed`` maps ``id(node)`` to ``(slot, affinity, collation)``; every other
    node compiles as usual (children included, as handlers call ``compile``).
    """

    def __init__(self, scope, rt, *, aggregates=None, planner=None, typed=None):
        super().__init__(scope, rt, aggregates=aggregates, planner=planner)
        self.typed = typed or {}

    def compile(self, node) -> Compiled:
        hit = self.typed.get(id(node))
        if hit is not None:
            slot, affinity, collation = hit
            return Compiled(operator.itemgetter(slot), affinity, collation)
        return super().compile(node)


def _with_slots(comp, typed):
    return SlotCompiler(comp.scope, comp.rt, aggregates=comp.aggregates,
                        planner=comp.planner, typed=typed)


def subquery_nodes(roots, skip=()):
    """Subquery expressions in ``roots`` (IN (SELECT), IN table, EXISTS, scalar), not
    those nested inside other subqueries, in evaluation order: an IN's left operand's
    subqueries come before the IN. Nodes whose id is in ``skip`` are not entered."""
    out = []

    def visit(node):
        if id(node) in skip:
            return
        if isinstance(node, exp.Exists) or isinstance(node, exp.Subquery):
            out.append(node)
            return
        if isinstance(node, exp.In) and (node.args.get("query") is not None
                                         or node.args.get("field") is not None):
            visit(node.this)
            out.append(node)
            return
        if isinstance(node, exp.Select):
            out.append(node)
            return
        for child in node.iter_expressions():
            visit(child)

    for root in roots:
        if root is not None:
            visit(root)
    return out


def attach_subqueries(vc, stream, scope, comp, roots, grouped_slots=None):
    """Append one slot per subquery expression of ``roots`` to the rows of ``stream``.

    Returns ``(stream, compiler)``: the compiler reads those subquery nodes from
    the new slots (and is otherwise ``comp``). ``grouped_slots``: when the rows are
    post-aggregation rows, the flat slots that hold group values; a correlated
    reference to any other column is a bare column (refused).
    Cost per step: the subqueries' circuits plus one hash join per subquery.
    """
    nodes = subquery_nodes(roots, set(comp.aggregates or ()))
    if not nodes:
        return stream, comp
    attached = []
    for j, node in enumerate(nodes):
        typed = {id(n): (i - j, aff, coll) for i, (n, aff, coll) in enumerate(attached)}
        stage = _with_slots(comp, typed)
        stream, affinity, collation = _attach_one(vc, stream, scope, stage, node,
                                                  grouped_slots)
        attached.append((node, affinity, collation))
    n = len(attached)
    typed = {id(node): (i - n, aff, coll) for i, (node, aff, coll) in enumerate(attached)}
    return stream, _with_slots(comp, typed)


def filter_with_subqueries(vc, stream, scope, comp, conjuncts, grouped_slots=None):
    """Filter ``stream`` by ``conjuncts``: those without subqueries first (cheaper),
    then the rest over the attached subquery slots."""
    plain = [c for c in conjuncts if not subquery_nodes([c], set(comp.aggregates or ()))]
    rest = [c for c in conjuncts if all(c is not p for p in plain)]
    test = _all_of([comp.predicate(c) for c in plain])
    if test is not None:
        stream = stream.filter(test)
    if rest:
        stream, sub_comp = attach_subqueries(vc, stream, scope, comp, rest, grouped_slots)
        stream = stream.filter(_all_of([sub_comp.predicate(c) for c in rest]))
    return stream


def grouped_slots_of(grouped, scope):
    """Flat slots of the plain-column GROUP BY terms ``grouped`` (None: not grouped)."""
    if grouped is None:
        return None
    slots = set()
    for node in grouped:
        slot = _resolve_column(node, scope)
        if slot is not None:
            slots.add(slot)
    return slots


def pre_aggregate_roots(vc, node, items, scope, aggregates):
    """What aggregation evaluates per source row: the aggregate calls and the GROUP BY
    targets (an alias or ordinal resolved to its select-list expression)."""
    group = node.args.get("group")
    targets = [vc.planner._group_target(g, items, scope)
               for g in (group.expressions if group is not None else [])]
    return list(aggregates) + targets


def select_roots(node, items):
    """Where a SELECT's output stage evaluates expressions: the select list, and the
    ORDER BY when a LIMIT/OFFSET makes the order matter."""
    roots = list(items)
    order = node.args.get("order")
    if order is not None and (node.args.get("limit") is not None
                              or node.args.get("offset") is not None):
        roots.append(order)
    return roots


# -- parameters: the outer references of a correlated subquery ----------------------------

class Params:
    """The outer slots a subquery reads: discovered (growing) or fixed.

    ``use(slot)`` returns the P column standing for the outer ``slot``: in
    discovery mode the slot itself (P is as wide as the outer row), else its
    position among the fixed slots.
    """

    def __init__(self, outer_scope, fixed=None):
        self.outer = outer_scope
        self.discovering = fixed is None
        self.order: list[int] = list(fixed or ())
        self.position = {slot: j for j, slot in enumerate(self.order)}

    @property
    def width(self):
        """P's width: the parameters plus the type tag."""
        return (self.outer.width if self.discovering else len(self.order)) + 1

    def use(self, slot):
        j = self.position.get(slot)
        if j is None:
            if not self.discovering:
                raise OperationalError(f"internal error: undiscovered outer reference {slot}")
            j = self.position[slot] = len(self.order)
            self.order.append(slot)
        return slot if self.discovering else j


class ParamScope(Scope):
    """A subquery's scope: its own sources, then (after ``bind``) P, whose columns
    stand for the outer columns the subquery reads. Names resolve in the subquery
    first, then outward through the enclosing scope, as SQLite's lookupName."""

    def __init__(self, params: Params):
        super().__init__()
        self.params = params
        self.p_source = None

    def bind(self) -> Source:
        """Add P after the FROM sources (hidden columns, never named by users)."""
        cols = [ColumnMeta(f"{_PARAM_PREFIX}{j}", hidden=True)
                for j in range(self.params.width)]
        self.p_source = Source("", cols)
        self.add(self.p_source)
        return self.p_source

    def _resolve_here(self, column, table):
        hit = super()._resolve_here(column, table)
        if hit is not None:
            return hit
        try:
            _scope, slot, meta = self.params.outer.resolve(column, table)
        except OperationalError as exc:
            if str(exc).startswith("no such column"):
                return None
            raise
        if self.p_source is None:
            full = f"{table}.{column}" if table else column
            raise unsupported(f"a correlated reference ({full}) in the FROM clause of a "
                              "subquery in a materialized view")
        return self.p_source.offset + self.params.use(slot), meta


def _param_row(slots):
    """Outer row -> its binding: the values at ``slots`` plus their type tag."""
    code = _TYPE_CODE

    def prow(row):
        values = tuple([row[i] for i in slots])
        return values + ("".join([code[type(v)] for v in values]),)
    return prow


# -- attaching one subquery -----------------------------------------------------------------

def _attach_one(vc, stream, scope, comp, node, grouped_slots):
    """Join the value of subquery expression ``node`` onto each row of ``stream``;
    returns ``(stream, affinity, collation)`` of the appended slot."""
    kind, body, x = _classify(node)
    first_only = kind == "scalar"
    rel, key_of_outer, width, p_stream = _compile_body(vc, stream, scope, body,
                                                        first_only, grouped_slots)
    out_width = len(rel.columns)
    if kind != "exists" and out_width != 1:
        raise OperationalError(f"sub-select returns {out_width} columns - expected 1")
    pkey = operator.itemgetter(slice(0, width))
    if kind == "exists":
        keys = rel.stream.map(pkey).distinct()
        summary = keys.map(lambda p: p + (1,)).plus(
            p_stream.anti_join(keys, _whole, _whole).map(lambda p: p + (0,)))
        affinity = collation = None
        vc.explain.append("EXISTS subquery: semi-join per binding")
    elif kind == "scalar":
        keys = rel.stream.map(pkey)
        summary = rel.stream.plus(
            p_stream.anti_join(keys, _whole, _whole).map(lambda p: p + (None,)))
        col = rel.columns[0]
        affinity = col.affinity
        collation = col.collation if col.collation not in (None, "", "BINARY") else None
        vc.explain.append("scalar subquery: first row per binding")
    else:
        return _attach_in(vc, stream, comp, x, rel, key_of_outer, width), None, None
    joined = stream.join(summary, key_of_outer, _all_but_last, _append_last)
    return joined, affinity, collation


def _all_but_last(row):
    return row[:-1]


def _append_last(row, summary_row):
    return row + (summary_row[-1],)


def _classify(node):
    """``(kind, query body, IN's left operand)`` of a subquery expression."""
    if isinstance(node, exp.Exists):
        return "exists", _unwrap(node.this), None
    if isinstance(node, exp.In):
        if node.args.get("field") is not None:
            table = exp.Table(this=exp.to_identifier(node.args["field"].name))
            return "in", exp.select("*").from_(table), node.this
        return "in", _unwrap(node.args["query"]), node.this
    return "scalar", _unwrap(node), None


def _unwrap(node):
    while isinstance(node, (exp.Subquery, exp.Paren)):
        node = node.this
    return node


def _compile_body(vc, stream, scope, body, first_only, grouped_slots):
    """Compile the subquery body for every binding of the outer ``stream``.

    Returns ``(rel, key_of_outer, width, P)``: rel's rows are ``binding + output``,
    ``key_of_outer(row)`` the binding of an outer row, ``width`` the binding's width
    and P the stream of distinct bindings.
    """
    if isinstance(body, exp.Select):
        params = Params(scope)
        _param_query(ViewCompiler(vc.session), vc, body, params, None, first_only)
        used = params.order
        if grouped_slots is not None:
            for slot in used:
                if slot not in grouped_slots:
                    raise unsupported("a correlated reference to a column outside GROUP BY "
                                      "and aggregates (a bare column) in a materialized view")
        params = Params(scope, used)
        key_of_outer = _param_row(used)
        if used:
            p_stream = stream.map(key_of_outer).distinct()
        else:
            p_stream = vc._constant([("",)])
        rel = _param_query(vc, vc, body, params, p_stream, first_only)
        return rel, key_of_outer, len(used) + 1, p_stream
    # A compound or VALUES body: compiled as a view, uncorrelated only.
    rel = _plain_query(vc, body)
    stream_ = rel.stream
    if first_only:
        stream_ = stream_.top_k(total_order_key, 1, 0)
    rows = stream_.map(lambda row: ("",) + row)
    return Rel(rows, rel.columns), _param_row(()), 1, vc._constant([("",)])


def _plain_query(vc, body):
    scratch = ViewCompiler(vc.session)
    scratch.ctes = vc.ctes
    try:
        scratch.query(body)
    except OperationalError as exc:
        if str(exc).startswith("no such column"):
            raise unsupported("a correlated compound or VALUES subquery in a "
                              "materialized view") from None
        raise
    vc._depth += 1
    try:
        return vc.query(body)
    finally:
        vc._depth -= 1


def in_key_function(x: Compiled, column: ColumnMeta):
    """``value -> hash key`` for ``x IN (subquery)`` whose subquery yields ``column``:
    values under IN's comparison affinity and collation, so equal keys <=> the values
    compare equal; None for NULL (never equal). O(1) per value."""
    probe = Compiled(lambda row: None, column.affinity,
                     column.collation if column.collation not in (None, "", "BINARY")
                     else None)
    aff = ops.comparison_affinity(x.affinity, probe.affinity)
    hk = _hash_key_function(_collation(x, probe))
    conv = ops.apply_comparison_affinity

    def key(value):
        return None if value is None else hk(conv(value, aff))
    return key


def _attach_in(vc, stream, comp, x_node, rel, key_of_outer, width):
    """``x IN (subquery)`` with SQLite's three-valued result (lang_expr "IN"): 1 if a
    value equals x under the comparison affinity/collation; else NULL if x is NULL and
    the subquery is not empty, or the subquery holds a NULL; else 0.

    Per distinct (binding, normalized x): matched = semi-join with the normalized
    values, then split the unmatched by "non-empty" and "has NULL" per binding.
    """
    x = comp.compile(x_node)
    in_key = in_key_function(x, rel.columns[0])
    xf = x.fn

    def outer_key(row):
        return key_of_outer(row) + (in_key(xf(row)),)

    def value_key(row):
        return row[:width] + (in_key(row[width]),)

    pkey = operator.itemgetter(slice(0, width))
    values = rel.stream
    probes = stream.map(outer_key).distinct()
    normalized = values.filter(lambda row: row[width] is not None).map(value_key).distinct()
    nonempty = values.map(pkey).distinct()
    has_null = values.filter(lambda row: row[width] is None).map(pkey).distinct()
    matched = probes.semi_join(normalized, _whole, _whole)
    unmatched = probes.anti_join(normalized, _whole, _whole)
    empty = unmatched.anti_join(nonempty, pkey, _whole)
    nonempty_unmatched = unmatched.semi_join(nonempty, pkey, _whole)
    with_null = nonempty_unmatched.semi_join(has_null, pkey, _whole)
    without_null = nonempty_unmatched.anti_join(has_null, pkey, _whole)
    summary = matched.map(lambda r: r + (1,)).plus(
        empty.map(lambda r: r + (0,)),
        with_null.map(lambda r: r + (None,)),
        without_null.map(lambda r: r + (None if r[-1] is None else 0,)))
    vc.explain.append("IN subquery: semi/anti-joins per binding and value")
    return stream.join(summary, outer_key, _all_but_last, _append_last)


# -- the subquery body, compiled per binding ------------------------------------------------

def _param_query(vc, outer_vc, body, params, p_stream, first_only):
    """Compile the SELECT ``body`` with P joined in; rows are ``binding + output``.

    ``p_stream`` None: discovery (``vc`` is a scratch compiler; P is a dummy input).
    """
    if p_stream is None:
        vc.ctes = outer_vc.ctes
        vc._depth = outer_vc._depth
        p_stream = vc._constant([])
    with_ = body.args.get("with_")
    if with_ is not None:
        if with_.args.get("recursive"):
            raise unsupported("WITH RECURSIVE inside a subquery expression of a "
                              "materialized view")
        vc.ctes.append({cte.alias_or_name.lower(): cte for cte in with_.expressions})
    vc._depth += 1
    try:
        return _param_select(vc, body, params, p_stream, first_only)
    finally:
        vc._depth -= 1
        if with_ is not None:
            vc.ctes.pop()


def _param_select(vc, node, params, p_stream, first_only):
    scope = ParamScope(params)
    comp = ExprCompiler(scope, vc.rt, planner=vc)
    stream = vc._from(node, scope, comp)
    p_source = scope.bind()
    p_lo, p_hi = p_source.offset, p_source.offset + p_source.width
    where = node.args.get("where")
    local, correlated, deferred = [], [], []
    for c in _conjuncts(where.this) if where is not None else []:
        if subquery_nodes([c]):
            deferred.append(c)
        elif _refs_any(c, scope, [p_source]):
            correlated.append(c)
        else:
            local.append(c)
    test = _all_of([comp.predicate(c) for c in local])
    if test is not None:
        stream = stream.filter(test)
    stream = _join_params(vc, stream, p_stream, p_source, correlated, scope, comp)
    stream = filter_with_subqueries(vc, stream, scope, comp, deferred)
    items = vc.planner._expand_stars(node.expressions, scope)
    if collect_windows(node, items):
        raise unsupported("window functions in a subquery of a materialized view")
    aggregates = _collect_aggregates(node, items, vc.session)
    grouped_slots = group_order = None
    ungrouped_aggregate = aggregates and node.args.get("group") is None
    if aggregates or node.args.get("group") is not None:
        stream, comp, grouped_slots, group_order = _param_aggregate(
            vc, node, scope, comp, stream, items, aggregates, p_stream)
    elif node.args.get("having") is not None:
        raise OperationalError("a GROUP BY clause is required before HAVING")
    stream, comp = attach_subqueries(vc, stream, scope, comp, select_roots(node, items),
                                     grouped_slots)
    compiled = [comp.compile(item) for item in items]
    columns = [_output_meta(item, c) for item, c in zip(items, compiled)]
    project = _projector([c.fn for c in compiled])
    width = len(items)
    binding = operator.itemgetter(slice(p_lo, p_hi))
    distinct = node.args.get("distinct") is not None
    limited = node.args.get("limit") is not None or node.args.get("offset") is not None
    if distinct:
        # rows: output + binding (ORDER BY terms over outputs read row[i])
        rows = stream.map(lambda row: project(row) + binding(row)).distinct()
        if limited or first_only:
            terms = vc._order_keys(node, items, columns, comp, outputs_only=True)
            rows = _rank(rows, node, comp, terms, first_only, limited,
                         operator.itemgetter(slice(width, None)),
                         lambda row: total_order_key(row[:width]))
        return Rel(rows.map(lambda row: row[width:] + row[:width]), columns)
    if not (limited or first_only) or (ungrouped_aggregate and not limited):
        return Rel(stream.map(lambda row: binding(row) + project(row)), columns)
    # rows: output + source row; ties in scan order (rowids) or group order
    terms = vc._order_keys(node, items, columns, comp)
    order = group_order or _scan_order(scope, p_source)
    rows = stream.map(lambda row: project(row) + row)
    lo, hi = width + p_lo, width + p_hi
    rows = _rank(rows, node, comp, terms, first_only, limited,
                 operator.itemgetter(slice(lo, hi)), lambda row: order(row[width:]))
    return Rel(rows.map(lambda row: row[lo:hi] + row[:width]), columns)


def _rank(stream, node, comp, terms, first_only, limited, partition, tie_key):
    """Top-k per binding (``partition(row)``): the LIMIT/OFFSET window, cut to its
    first row for a scalar subquery. O(log n) per changed row."""
    limit = offset = None
    if limited:
        limit = _constant_int(node.args.get("limit"), comp, "LIMIT")
        offset = _constant_int(node.args.get("offset"), comp, "OFFSET")
    if limit is not None and limit < 0:
        limit = None
    offset = max(offset or 0, 0)
    if first_only:
        limit = 1 if limit is None else min(limit, 1)
    return stream.top_k(_sort_key(terms), limit, offset, partition_key=partition,
                        tie_key=tie_key)


def _scan_order(scope, p_source):
    """Row -> a key ordering rows as SQLite's table scan would: the rowids of the
    sources in FROM order, or (a source without rowid) the total order of the row."""
    slots = []
    for s in scope.sources:
        if s is p_source:
            continue
        if s.rowid_slot is None:
            return total_order_key
        slots.append(s.offset + s.rowid_slot)
    if len(slots) == 1:
        return operator.itemgetter(slots[0])
    return lambda row: tuple([row[i] for i in slots])


def _join_params(vc, stream, p_stream, p_source, conds, scope, comp):
    """Inner-join P after the FROM clause on the correlated WHERE conjuncts.

    ``inner = outer`` conjuncts are hash-join keys, normalized as the comparison is
    (affinity, collation; NULL never matches); conjuncts on P alone filter P first;
    the rest filter the joined rows. O(|Δ|) probes per step with keys, else a theta
    join.
    """
    p_lo = p_source.offset
    pad = (None,) * p_lo

    def on_p(fn):
        return lambda p: fn(pad + p)

    p_only, rest, left_fns, right_fns = [], [], [], []
    for c in conds:
        refs = _column_refs(c)
        if refs and all(_source_of(r, scope) is p_source for r in refs):
            p_only.append(c)
            continue
        sides = _equi_sides(c, scope, p_source)
        if sides is None:
            rest.append(c)
            continue
        inner, outer = sides
        ci, co = comp.compile(inner), comp.compile(outer)
        aff = ops.comparison_affinity(ci.affinity, co.affinity)
        coll = _collation(ci, co) if inner is c.this else _collation(co, ci)
        hk = _hash_key_function(coll)
        conv = ops.apply_comparison_affinity
        left_fns.append(lambda r, f=ci.fn: hk(conv(f(r), aff)))
        right_fns.append(on_p(lambda r, f=co.fn: hk(conv(f(r), aff))))
    p_test = _all_of([comp.predicate(c) for c in p_only])
    if p_test is not None:
        p_stream = p_stream.filter(on_p(p_test))
    test = _all_of([comp.predicate(c) for c in rest])
    if left_fns:
        joined = stream.join(p_stream, _tuple_key(left_fns), _tuple_key(right_fns))
        vc.explain.append("correlated subquery: hash join with its bindings")
        return joined.filter(test) if test is not None else joined
    vc.explain.append("correlated subquery: theta join with its bindings" if conds
                      else "subquery: cross join with its bindings")
    predicate = None if test is None else (lambda a, b: test(a + b))
    return stream.theta_join(p_stream, predicate)


def _equi_sides(cond, scope, p_source):
    """``(inner side, P side)`` of an ``a = b`` conjunct with one side on P alone and
    the other on the subquery's own sources alone, else None."""
    if not isinstance(cond, exp.EQ):
        return None
    a, b = cond.this, cond.expression

    def on(node, want_p):
        refs = _column_refs(node)
        if not refs:
            return False
        for r in refs:
            s = _source_of(r, scope)
            if s is None or s == "outer" or (s is p_source) != want_p:
                return False
        return True
    if on(a, False) and on(b, True):
        return a, b
    if on(b, False) and on(a, True):
        return b, a
    return None


# -- aggregation per binding ----------------------------------------------------------------

def _is_presence(row) -> bool:
    """A presence row: it only makes its binding's group exist (GroupAggregate's
    ``exists_only``)."""
    return row[-1] is PRESENCE


def _param_aggregate(vc, node, scope, comp, stream, items, aggregate_nodes, p_stream):
    """GROUP BY (binding, the query's GROUP BY terms); ungrouped: one group per
    binding, made to exist by presence rows. Returns ``(stream, post-aggregation
    compiler, grouped slots, group order)``; the post-aggregation layout is
    ``ViewCompiler._aggregate``'s (P's slots hold the binding); ``group order(row)``
    orders groups by their GROUP BY values, as SQLite's sorter emits them."""
    group = node.args.get("group")
    p_source = scope.p_source
    width = scope.width
    slots: dict = {}
    key_fns, column_slots, expr_slots = [], [], []
    for j in range(p_source.width):
        key_fns.append(operator.itemgetter(p_source.offset + j))
        column_slots.append((j, p_source.offset + j))
    terms = []
    for g in (group.expressions if group is not None else []):
        target = vc.planner._group_target(g, items, scope)
        terms.append(target)
    for agg in aggregate_nodes:
        refs = _column_refs(agg)
        if refs and all(_source_of(r, scope) is p_source for r in refs):
            raise unsupported(f"an aggregate of outer columns only "
                              f"({agg.sql(dialect='sqlite')}) inside a subquery of a "
                              "materialized view")
    stream, comp = attach_subqueries(vc, stream, scope, comp, list(aggregate_nodes) + terms)
    for target in terms:
        c = comp.compile(target)
        if (c.collation or "BINARY") != "BINARY":
            raise unsupported(f"GROUP BY under collation {c.collation} in a "
                              "materialized view")
        key_fns.append(c.fn)
        resolved = _resolve_column(target, scope)
        if resolved is not None:
            column_slots.append((len(key_fns) - 1, resolved))
        else:
            expr_slots.append((len(key_fns) - 1, width + len(expr_slots), target))
    scan = _scan_order(scope, p_source)
    aggs = [dbsp_aggregate(n, comp, scan if scan is not total_order_key else None)
            for n in aggregate_nodes]
    exists_only = None
    if group is None:
        pad = (None,) * p_source.offset
        stream = stream.plus(p_stream.map(lambda p: pad + p + (PRESENCE,)))
        exists_only = _is_presence
    extra = len(expr_slots)
    for k, n in enumerate(aggregate_nodes):
        slots[id(n)] = width + extra + k
    output = group_row_builder(width, column_slots, expr_slots)
    stream = stream.aggregate(_tuple_key(key_fns, none_ok=True), aggs, output,
                              exists_only=exists_only)
    post = ExprCompiler(scope, vc.rt, aggregates=slots, planner=vc)
    roots = list(items) + [node.args[k] for k in ("having", "order") if node.args.get(k)]
    for _k, slot, target in expr_slots:
        for root in roots:
            for sub in root.walk():
                if sub == target and not isinstance(sub, exp.Column):
                    slots[id(sub)] = slot
    grouped = {s for _k, s in column_slots}
    term_slots = [s for _k, s in column_slots[p_source.width:]] + [s for _k, s, _t in expr_slots]
    term_slots.sort(key=lambda s: _term_index(s, column_slots, expr_slots))

    def group_order(row):
        return total_order_key(tuple([row[i] for i in term_slots]))
    _check_grouped_references(roots, scope, slots, grouped)
    having = node.args.get("having")
    if having is not None:
        stream = filter_with_subqueries(vc, stream, scope, post, _conjuncts(having.this),
                                        grouped)
    return stream, post, grouped, group_order


def _term_index(slot, column_slots, expr_slots):
    """The GROUP BY key position whose value sits at ``slot``."""
    for k, s in column_slots:
        if s == slot:
            return k
    for k, s, _t in expr_slots:
        if s == slot:
            return k
    return 0
