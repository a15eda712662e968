"""WITH RECURSIVE in materialized views: a dbsp fixed point, maintained incrementally.

A recursive CTE ``r`` is ``setup OP rec_1 OP ... OP rec_n``: the SELECTs that
name ``r`` in their FROM (the recursive steps) come last, joined by one
operator, UNION or UNION ALL; what precedes them is the setup (SQLite,
lang_with.html 3). Its meaning is a fixed point, computed by ``dbsp``'s
``Recursive`` operator (semi-naive iteration over nested time, insertions and
deletions of base rows both handled incrementally):

* UNION: ``X = distinct(setup + rec_1(X) + ... + rec_n(X))`` (a set);
* UNION ALL: ``X = setup + rec_1(X) + ...`` as a multiset (``distinct=False``):
  every row is fed to the steps once, as SQLite's queue does, so e.g. the
  number of paths is counted. A recursion that never ends (a cycle under
  UNION ALL, a counter without a bound) raises an error after
  ``MAX_ITERATIONS`` iterations instead of looping forever as SQLite does.

The setup and every FROM item of a step other than ``r`` (tables, views,
subqueries) are compiled in the outer circuit and enter the fixed point as its
inputs; inside it a step is only joins (hash or theta; WHERE conjuncts on the last
FROM item join it), WHERE and the select list (a DISTINCT step of a UNION CTE
adds nothing to the final distinct), which is all SQLite allows there anyway (no aggregates, no window
functions, one reference to ``r``). Not supported (a clear error): outer joins,
subquery expressions, ORDER BY/LIMIT/OFFSET in a recursive step or on the CTE,
SELECT DISTINCT in a step of a UNION ALL CTE (SQLite applies it per queued row).
"""

from __future__ import annotations

import dataclasses

from sqlglot import exp

from dbsp.operators.recursive import FixedPointError, Recursive
from engine.errors import OperationalError, unsupported
from engine.ivm.rows import strict
from engine.sql.compiler.aggregation import _collect_aggregates
from engine.sql.compiler.expr import ExprCompiler
from engine.sql.compiler.joins import _join_kind
from engine.sql.compiler.plan import real_affinity
from engine.sql.compiler.predicates import _conjuncts, _refs_any
from engine.sql.compiler.projection import _projector
from engine.sql.compiler.scope import ColumnMeta, Scope, Source
from engine.sql.compiler.window import collect_windows

MAX_ITERATIONS = 100_000


def cte_relation(vc, cte):
    """The ``Rel`` of CTE ``cte`` (an ``exp.CTE``) for view compiler ``vc``: compiled
    inline, as a fixed point when it is recursive; raises SQLite's errors for a
    reference to a recursive CTE from inside its own definition."""
    name = cte.alias_or_name
    active = vc.__dict__.setdefault("_recursive_active", set())
    if id(cte) in active:
        raise OperationalError(f"circular reference: {name}")
    with_ = cte.parent
    if not (isinstance(with_, exp.With) and with_.args.get("recursive")) or \
            not _mentions(cte.this, name):
        return vc.query(cte.this)
    active.add(id(cte))
    try:
        return _fixed_point(vc, cte, name)
    finally:
        active.discard(id(cte))


def _fixed_point(vc, cte, name):
    setup, steps, distinct = _split(cte.this, name)
    if cte.this.args.get("order") is not None or cte.this.args.get("limit") is not None \
            or cte.this.args.get("offset") is not None:
        raise unsupported("ORDER BY/LIMIT on a recursive CTE in a materialized view")
    init = vc.query(setup)
    columns = _cte_columns(cte, init.columns)
    word = "UNION" if distinct else "UNION ALL"
    if distinct:
        for c in columns:
            if (c.collation or "BINARY") != "BINARY":
                raise unsupported(f"UNION over a column with collation {c.collation} in a "
                                  "recursive CTE of a materialized view")
    outer = [init.from_item_stream()]
    plans = [_plan_step(vc, step, name, outer, distinct) for step in steps]
    alias_cols = [ColumnMeta(c.name, c.affinity, c.collation, conforming=False)
                  for c in columns]  # queued rows: not stored through the affinities

    # The CTE's table has the setup's column affinities: REAL ones read as REAL, in
    # every iteration (SQLite stores queued rows with that affinity).
    real = init.real_columns or tuple(
        i for i, c in enumerate(init.columns) if c.affinity == "REAL")

    def as_real(row):
        return strict(real_affinity(row, real))

    def body(x, init_stream, *inputs):
        parts = [init_stream]
        for plan in plans:
            step = _step_stream(vc, plan, x, inputs, alias_cols, len(columns), word)
            parts.append(step.map(as_real) if real else step)
        return parts[0].plus(*parts[1:])

    op = _SqlRecursive(name, body, len(outer), MAX_ITERATIONS, vc.circuit.work, distinct)
    vc.explain.append(f"WITH RECURSIVE {name}: incremental fixed point "
                      f"({'set' if distinct else 'multiset'}, {word})")
    from engine.ivm.compiler import Rel
    return Rel(outer[0].apply(op, *outer[1:]), columns,
               arm_affinities=tuple(c.affinity for c in columns))


def _split(query, name):
    """``(setup, [recursive steps], distinct)``: the trailing run of SELECTs that name
    the CTE, joined by one operator; SQLite's "circular reference" otherwise."""
    steps, ops = [], []
    node = query
    while isinstance(node, exp.SetOperation) and _mentions(node.expression, name):
        steps.insert(0, node.expression)
        ops.append(node)
        node = node.this
    if not steps or _mentions(node, name):
        raise OperationalError(f"circular reference: {name}")
    kinds = {(type(o), bool(o.args.get("distinct"))) for o in ops}
    if len(kinds) != 1 or not isinstance(ops[0], exp.Union):
        raise OperationalError(f"circular reference: {name}")
    for step in steps:
        if not isinstance(step, exp.Select):
            raise OperationalError(f"circular reference: {name}")
    return node, steps, bool(ops[0].args.get("distinct"))


def _cte_columns(cte, columns):
    alias = cte.args.get("alias")
    names = [c.name for c in alias.columns] if alias is not None and alias.columns else None
    if names:
        if len(names) != len(columns):
            raise OperationalError(f"table {cte.alias_or_name} has {len(columns)} values "
                                   f"for {len(names)} columns")
        return [ColumnMeta(n, c.affinity, c.collation) for n, c in zip(names, columns)]
    return [ColumnMeta(c.name, c.affinity, c.collation) for c in columns]


@dataclasses.dataclass
class _StepPlan:
    """One recursive SELECT: its FROM items in order, each either the CTE itself
    (``None``) or ``(Source, index of its stream among the fixed point's inputs)``."""

    select: exp.Select
    alias: str
    items: list
    joins: list


def _plan_step(vc, select, name, outer, distinct):
    """Check a recursive SELECT against SQLite's rules and compile its FROM items
    other than the CTE in the outer circuit (appending their streams to ``outer``)."""
    if _collect_aggregates(select, select.expressions, vc.session) or \
            select.args.get("group") is not None:
        raise OperationalError("recursive aggregate queries not supported")
    if collect_windows(select, select.expressions):
        raise OperationalError("cannot use window functions in recursive queries")
    for key in ("order", "limit", "offset"):
        if select.args.get(key) is not None:
            raise unsupported("ORDER BY/LIMIT/OFFSET in the recursive step of a CTE in a "
                              "materialized view")
    from_ = select.args.get("from_")
    joins = select.args.get("joins") or []
    sources = ([from_.this] if from_ is not None else []) + [j.this for j in joins]
    direct = [s for s in sources if _is_reference(s, name)]
    if not direct:
        raise OperationalError(f"circular reference: {name}")
    if len(direct) > 1:
        raise OperationalError(f"multiple references to recursive table: {name}")
    where = select.args.get("where")
    roots = list(select.expressions) + [where] + [j.args.get("on") for j in joins]
    for root in roots:
        for node in (root.find_all(exp.Subquery, exp.Exists, exp.Select)
                     if root is not None else ()):
            if _mentions(node, name):
                raise OperationalError(f"multiple recursive references: {name}")
            raise unsupported("subquery expressions in the recursive step of a CTE in a "
                              "materialized view")
    for join in joins:
        if _join_kind(join) != "INNER" or str(join.args.get("kind") or "").upper() == "LATERAL":
            raise unsupported(f"{_join_kind(join)} JOIN in the recursive step of a CTE in a "
                              "materialized view")
    items = []
    for s in sources:
        if s is direct[0]:
            items.append(None)
        else:
            source, stream = vc._source(s)
            outer.append(stream)
            items.append((source, len(outer) - 1))
    if select.args.get("distinct") is not None and not distinct:
        # SQLite runs the step once per queued row: DISTINCT is per row, not a set.
        raise unsupported("SELECT DISTINCT in the recursive step of a UNION ALL CTE in a "
                          "materialized view")
    return _StepPlan(select, direct[0].alias_or_name, items, joins)


def _step_stream(vc, plan, x, inputs, cte_columns, width, word):
    """The nested stream of one recursive SELECT over the fixed point ``x`` and the
    fixed point's ``inputs``: joins, WHERE, projection, DISTINCT."""
    scope = Scope()
    comp = ExprCompiler(scope, vc.rt, planner=vc)
    stream = None
    left_sources = []
    where = plan.select.args.get("where")
    conjuncts = _conjuncts(where.this) if where is not None else []
    last = len(plan.items) - 1
    for k, item in enumerate(plan.items):
        if item is None:
            source, right = Source(plan.alias, [dataclasses.replace(c) for c in cte_columns]), x
        else:
            source, right = item[0], inputs[item[1] - 1]
        scope.add(source)
        if stream is None:
            stream = right
        else:
            join = plan.joins[k - 1]
            conds = vc.planner._join_conditions(join, source, left_sources, scope, False)
            if k == last:
                # An inner join: WHERE conjuncts on the last source are join conditions
                # too (a comma join's equality becomes a hash join, not a theta join).
                pushed = [c for c in conjuncts if _refs_any(c, scope, [source])]
                conjuncts = [c for c in conjuncts if all(c is not p for p in pushed)]
                conds = list(conds) + pushed
            stream = vc._join(stream, right, source, conds, "INNER", scope, comp)
        left_sources.append(source)
    if conjuncts:
        tests = [comp.predicate(c) for c in conjuncts]
        stream = stream.filter(tests[0] if len(tests) == 1
                               else lambda row: all(t(row) for t in tests))
    items = vc.planner._expand_stars(plan.select.expressions, scope)
    if len(items) != width:
        raise OperationalError(f"SELECTs to the left and right of {word} do not have the "
                               "same number of result columns")
    stream = stream.map(_projector([comp.fn(item) for item in items]))
    return stream


class _SqlRecursive(Recursive):
    """``Recursive`` whose "no fixed point" error names the CTE as an SQL error."""

    def __init__(self, name, *args):
        super().__init__(*args[:-1], distinct=args[-1])
        self.name = name

    def step(self, *deltas):
        try:
            return super().step(*deltas)
        except FixedPointError:
            raise OperationalError(
                f"recursive CTE {self.name} did not reach a fixed point within "
                f"{self.max_iterations} iterations"
                + ("" if self.distinct else " (its UNION ALL recursion never ends)")) from None


def _is_reference(item, name):
    return isinstance(item, exp.Table) and not item.args.get("db") and \
        item.name.lower() == name.lower()


def _mentions(node, name):
    return any(t.name.lower() == name.lower() and not t.args.get("db")
               for t in node.find_all(exp.Table))
