"""Parametrized queries as one circuit: the parameters are a relation.

A subscription ``SELECT ... WHERE a = ?`` is shared by every subscriber of the
same SQL: the bound parameter tuples form an input relation P (one row per
distinct binding), the query is compiled with P joined in (``a = ?`` becomes
the equi-join ``a = P.p1``), and every output row carries its parameters at
its end, so one commit's output delta splits by binding and reaches only the
subscribers of the bindings it touches. Adding a subscriber with a new binding
is the delta +P(binding): the join computes that binding's current result
from the integrated tables, proportional to its size (DESIGN.md decision 6).

Rules that keep the per-binding result equal to running the query with the
values bound:
* conjuncts of the top-level WHERE that mention a parameter become the ON
  condition of the join with P (an inner join after the FROM clause, which is
  what a WHERE filter is);
* aggregation groups by the parameters too; an aggregate query without GROUP
  BY must still give its one row for a binding that matches nothing (COUNT 0),
  so P also feeds one *presence* row per binding that makes the group exist
  while every aggregate skips it;
* LIMIT/OFFSET rank within each binding (top-k partitioned by P);
* parameters inside IN/EXISTS/scalar subqueries are outer references of the
  subquery (``engine.ivm.subqueries`` decorrelates them like any outer column);
  a top-level ``x IN (SELECT ... ?)`` with no parameter equality elsewhere joins
  P through the subquery instead (``join_params_by_in``), not as a cross product;
* a FROM subquery or non-recursive CTE that reads parameters is a *bound* FROM
  item (``bound_source``): its SELECT compiles as a parametrized query of its own
  (P joined inside it by the rules above, at any depth of nesting), its rows end
  with their binding and a type tag in hidden columns, and the enclosing SELECT
  carries that binding through: bound items join each other on binding equality
  (a hash key part next to the ON equalities), and P joins the FROM rows on it
  (each row meets only its own binding's P row, O(|Δ|)), so the top-level
  WHERE's parameter conjuncts, aggregates (grouped by the binding, presence rows),
  DISTINCT, top-k and windows (partitioned by the binding) work unchanged. A CTE
  named twice is two bound items joined on the binding. Binding keys are
  type-strict (``binding_tag``: 1, 1.0 and '1' are different bindings, as the
  hub's keys are), and so are the binding parts of group keys, DISTINCT and
  top-k/window partitions;
* the ON terms of an inner JOIN that read parameters are WHERE terms (they join
  P), unless a RIGHT/FULL join in the same FROM pads the sources they read.

Parameters the shared rewrite cannot place make the compiler raise
``NotShareable`` (``check_shareable`` finds most of them before compiling):
* WITH RECURSIVE, a compound query (at the top or inside a FROM item), VALUES;
* the ON of an outer join (or of an inner join in a FROM with a RIGHT/FULL join),
  a window frame;
* a bound FROM item on the NULL-padded side of an outer join (RIGHT/FULL JOIN
  next to a bound item, or ``t LEFT JOIN (bound item)``: every row of ``t``
  would need one padded row per binding);
* a bound FROM item inside the FROM of a subquery expression (IN/EXISTS/scalar)
  other than the top-level ``x IN (SELECT ...)`` joined by ``join_params_by_in``,
  or inside a compound arm: only a parametrized top SELECT carries a binding;
* a window in a subquery expression that reads parameters;
* anything else the shared compilation fails on (``compile_parametrized`` turns
  its error into ``NotShareable``: when unsure, do not share).
Such a SQL text then gets one circuit per distinct binding (``compile_bound`` in
``compiler.py``): each parameter reads its bound value as the executor does (no
affinity, no collation), so the circuit is the view of the query with those values
bound. Subscribers of the same binding share that circuit
(``engine.ivm.subscriptions``).
"""

from __future__ import annotations

from math import copysign

from sqlglot import exp

from engine.errors import NotSupportedError
from engine.sql.compiler.scope import ColumnMeta, Source
from engine.sql.dialect import Variable

PARAMS_RELATION = "__params"
PRESENT = "__present"


class NotShareable(NotSupportedError):
    """The query's parameters sit where one circuit shared by every binding cannot
    put them: the subscription compiles per binding instead (module docstring)."""


def not_shareable(where: str) -> NotShareable:
    """The refusal for parameters ``where`` (e.g. "inside a CTE")."""
    return NotShareable(f"not supported by turso_stream: parameters {where} of a "
                        "subscription (in a circuit shared by every binding)")


def check_shareable(query: exp.Expression) -> None:
    """Raise ``NotShareable`` when a parameter of ``query`` (an unparametrized AST)
    sits where ``parametrize`` + the view compiler cannot join P: a compound query,
    WITH RECURSIVE, an outer JOIN's ON, a window's frame. O(size of the AST).

    The top-level SELECT's select list, WHERE (with its IN/EXISTS/scalar subqueries),
    inner JOINs' ON, GROUP BY, HAVING, ORDER BY and LIMIT/OFFSET are what the shared
    circuit handles, and the same positions inside a FROM subquery or a non-recursive
    CTE (a *bound* FROM item, ``bound_source``); the compiler raises ``NotShareable``
    itself for the deeper cases it meets (a compound inside a FROM item, a bound FROM
    item on the NULL-padded side of an outer join, ...)."""
    if not any(True for _ in query.find_all(Variable)):
        return
    if not isinstance(query, exp.Select):
        raise not_shareable("in a compound query or VALUES")
    for with_ in query.find_all(exp.With):
        if with_.args.get("recursive") and any(True for _ in with_.find_all(Variable)):
            raise not_shareable("inside WITH RECURSIVE")
    for join in query.find_all(exp.Join):
        on = join.args.get("on")
        if isinstance(on, exp.Expression) and any(True for _ in on.find_all(Variable)) \
                and (join.args.get("side") or join.args.get("method")):
            raise not_shareable("in the ON of an outer or NATURAL JOIN")
    for spec in query.find_all(exp.WindowSpec):
        if any(True for _ in spec.find_all(Variable)):
            raise not_shareable("in a window frame")


def parametrize(query: exp.Expression):
    """``(copy of query with each parameter replaced by a column of P, count)``.

    Parameters are numbered as sqlite3 binds them (``?``, ``?N``, ``:name``)."""
    query = query.copy()
    count = 0
    for var in list(query.find_all(Variable)):
        number = var.args.get("number")
        if number is None:
            raise ValueError("parameters must be numbered before parametrize()")
        count = max(count, number)
        var.replace(exp.column(f"p{number}", table=PARAMS_RELATION))
    return query, count


def params_source(count: int) -> Source:
    """The FROM source standing for P: columns p1..pk (no affinity, and collation ""
    = none, as bound values have neither) and a hidden presence flag."""
    # hidden: ``SELECT *`` never expands to them (they are not the query's columns)
    cols = [ColumnMeta(f"p{i}", None, "", hidden=True) for i in range(1, count + 1)]
    cols.append(ColumnMeta(PRESENT, None, "", hidden=True))
    return Source(PARAMS_RELATION, cols)


BINDING_PREFIX = "\x00binding"


def binding_tag(values) -> str:
    """The storage class of each value of a binding (and the sign of a REAL zero).

    With the values it makes a key under which 1, 1.0 and '1' (and 0.0, -0.0) are
    different bindings, as they are for the hub (``rows.strict``); it is never None,
    so a NULL-padded binding (None) is told apart from a binding of NULLs. O(k)."""
    out = []
    for v in values:
        t = type(v)
        if t is float:
            out.append("z" if v == 0.0 and copysign(1.0, v) < 0 else "r")
        else:
            out.append(_TYPE_CODES.get(t, "?"))
    return "".join(out)


_TYPE_CODES = {type(None): "n", int: "i", str: "t", bytes: "b", bool: "i"}


def params_binding_key(count: int):
    """P row ``(p1..pk, presence)`` -> its binding key ``(p1..pk, tag)``."""
    def key(p):
        values = p[:count]
        return values + (binding_tag(values),)
    return key


def reads_params(vc, node, seen=None) -> bool:
    """Does query ``node`` read a parameter, itself or through a CTE it names?
    (Over-approximate: a name shadowed by an inner WITH counts; a FROM item wrongly
    taken as bound still computes each binding's rows, at the cost of a cross join
    with P.) O(size of the AST and of the CTEs reached)."""
    if mentions_params(node):
        return True
    seen = set() if seen is None else seen
    for table in node.find_all(exp.Table):
        if table.args.get("db"):
            continue
        cte = vc._find_cte(table.name)
        if cte is not None and id(cte) not in seen:
            seen.add(id(cte))
            if reads_params(vc, cte.this, seen):
                return True
    return False


def bound_source(vc, body, alias, alias_node, recursive=False):
    """``(Source, stream)`` of a FROM subquery or CTE ``body`` that reads parameters:
    a *bound* FROM item of the shared circuit.

    ``body`` compiles as a parametrized query of its own (P joined inside it exactly
    as at the top level, ``_depth`` reset so its SELECT is the parametrized top); its
    rows end with their binding ``p1..pk`` and ``binding_tag`` of it, in hidden
    columns named ``BINDING_PREFIX<n>.<i>`` (never matched by ``*``, NATURAL or a
    user's name). The enclosing SELECT joins other bound items and P on that
    binding key (``ViewCompiler._from``/``_join_params``), so each binding sees
    the rows of the query run with its values. Only a parametrized top-level SELECT
    (``vc._depth == 1``) can carry a binding: elsewhere (a FROM item of a subquery
    expression or of a compound arm) this raises ``NotShareable``."""
    if recursive:
        raise not_shareable("inside WITH RECURSIVE")
    if not (vc.param_count and vc._depth == 1):
        raise not_shareable("in a FROM item of a subquery expression or compound query")
    saved = vc.key_columns, vc._depth
    vc._depth = 0
    try:
        rel = vc.query(body)
    finally:
        vc.key_columns, vc._depth = saved
    source, stream = vc._derived(rel, alias, alias_node)
    width = len(rel.columns)
    n = vc._bound_items
    vc._bound_items = n + 1
    source.columns += [ColumnMeta(f"{BINDING_PREFIX}{n}.{i}", None, "", hidden=True)
                       for i in range(vc.param_count + 1)]
    tag = binding_tag
    vc.explain.append(f"FROM item {alias or '(subquery)'} with parameters: rows carry "
                      "their binding")
    return source, stream.map(lambda row: row + (tag(row[width:]),))


def binding_slots(source, count: int):
    """``(lo, hi)``: the flat slots of a bound FROM item's binding key, else None."""
    cols = source.columns
    if not count or len(cols) <= count or not cols[-1].name.startswith(BINDING_PREFIX):
        return None
    lo = source.offset + len(cols) - count - 1
    return lo, lo + count + 1


def mentions_params(node) -> bool:
    return any(c.table == PARAMS_RELATION for c in node.find_all(exp.Column))


def join_params_by_in(vc, stream, scope, comp, conjuncts):
    """Join P through a top-level WHERE conjunct ``x IN (SELECT y ...)`` whose
    subquery reads parameters and nothing else of the outer query; returns
    ``(stream, remaining conjuncts)``, or None when no conjunct has that shape.

    Without this, a query whose parameters appear only inside a subquery joins P
    as a cross product (every outer row paired with every binding: O(bindings)
    work per changed row). Here the subquery compiles as a parametrized query of
    its own (rows ``(y, p1..pk)``, P joined inside it on its own conjuncts), and
    the outer rows join the distinct ``(normalized y, binding)`` pairs on
    ``normalized x``: each outer row meets exactly the bindings whose subquery
    holds its x, so a change costs in proportion to the bindings it reaches.

    As a WHERE conjunct only a true IN keeps a row, so SQLite's NULL cases (x NULL,
    a NULL in the list) need no summary: NULLs never match (lang_expr.html "IN").
    The comparison affinity and collation are IN's (``subqueries._attach_in``).
    """
    for c in conjuncts:
        if not (isinstance(c, exp.In) and isinstance(c.args.get("query"), exp.Expression)
                and not mentions_params(c.this) and mentions_params(c.args["query"])):
            continue
        body = c.args["query"]
        while isinstance(body, (exp.Subquery, exp.Paren)):
            body = body.this
        if any(isinstance(d, exp.EQ) and mentions_params(d) for d in conjuncts if d is not c):
            return None  # an equality with a parameter joins P by hash already
        if not isinstance(body, exp.Select) or not _standalone(vc, body):
            continue
        return _semi_join_in(vc, stream, scope, comp, c, body), \
            [d for d in conjuncts if d is not c]
    return None


def _standalone(vc, body) -> bool:
    """Does ``body`` compile with no outer reference, returning one column?
    (Compiled into a scratch circuit: an outer name is a "no such column" there.)"""
    from engine.errors import OperationalError
    from engine.ivm.compiler import ViewCompiler
    scratch = ViewCompiler(vc.session, vc.param_count, vc.inline_views)
    scratch.ctes = vc.ctes
    try:
        rel = scratch.query(body)
    except OperationalError:
        return False
    return len(rel.columns) == 1


def _semi_join_in(vc, stream, scope, comp, cond, body):
    from engine.ivm.subqueries import in_key_function  # (subqueries imports this module)
    x = comp.compile(cond.this)  # over the outer scope, before P is added
    saved = vc.key_columns, vc._depth
    vc._depth = 0  # the body's SELECT is then the parametrized top (P joined there)
    try:
        rel = vc.query(body)
    finally:
        vc.key_columns, vc._depth = saved
    in_key = in_key_function(x, rel.columns[0])
    xf = x.fn

    def outer_key(row):
        return in_key(xf(row))

    # (binding..., None presence) pairs by normalized value; NULLs never match.
    pairs = rel.stream.filter(lambda row: row[0] is not None).map(
        lambda row: (in_key(row[0]),) + row[1:] + (None,)).distinct()
    scope.add(params_source(vc.param_count))
    vc.explain.append("IN subquery with parameters: semi-join of the rows with the "
                      "(value, binding) pairs")
    return stream.join(pairs, outer_key, lambda row: row[0],
                       lambda row, pair: row + pair[1:])
