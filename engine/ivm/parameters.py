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
  P through the subquery instead (``join_params_by_in``), not as a cross product.

Parameters the shared rewrite cannot place (in a FROM subquery or a JOIN's ON,
a CTE, WITH RECURSIVE, a compound query's arm, a window frame, a window in a
subquery, a subquery's LIMIT) make the compiler raise ``NotShareable``
(``check_shareable`` finds most of them before compiling). Such a SQL text then
gets one circuit per distinct binding (``compile_bound`` in ``compiler.py``):
each parameter reads its bound value as the executor does (no affinity, no
collation), so the circuit is the view of the query with those values bound.
Subscribers of the same binding share that circuit (``engine.ivm.subscriptions``).
"""

from __future__ import annotations

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
    a CTE, a FROM item or JOIN condition, a window's frame. O(size of the AST).

    The top-level SELECT's select list, WHERE (with its IN/EXISTS/scalar subqueries),
    GROUP BY, HAVING, ORDER BY and LIMIT/OFFSET are what the shared circuit handles;
    the compiler raises ``NotShareable`` itself for the deeper cases it meets."""
    if not any(True for _ in query.find_all(Variable)):
        return
    if not isinstance(query, exp.Select):
        raise not_shareable("in a compound query or VALUES")
    for arg, where in (("with_", "inside a CTE"), ("from_", "in a FROM item"),
                       ("joins", "in a JOIN")):
        value = query.args.get(arg)
        for part in value if isinstance(value, list) else [value]:
            if isinstance(part, exp.Expression) and any(True for _ in part.find_all(Variable)):
                raise not_shareable(where)
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
    from engine.sql import operators as ops
    from engine.sql.compiler.expr import Compiled, _collation, _hash_key_function
    x = comp.compile(cond.this)  # over the outer scope, before P is added
    saved = vc.key_columns, vc._depth
    vc._depth = 0  # the body's SELECT is then the parametrized top (P joined there)
    try:
        rel = vc.query(body)
    finally:
        vc.key_columns, vc._depth = saved
    col = rel.columns[0]
    probe = Compiled(lambda row: None, col.affinity,
                     col.collation if col.collation not in (None, "", "BINARY") else None)
    aff = ops.comparison_affinity(x.affinity, probe.affinity)
    hk = _hash_key_function(_collation(x, probe))
    conv = ops.apply_comparison_affinity
    xf = x.fn

    def outer_key(row):
        v = xf(row)
        return None if v is None else hk(conv(v, aff))

    # (binding..., None presence) pairs by normalized value; NULLs never match.
    pairs = rel.stream.filter(lambda row: row[0] is not None).map(
        lambda row: (hk(conv(row[0], aff)),) + row[1:] + (None,)).distinct()
    scope.add(params_source(vc.param_count))
    vc.explain.append("IN subquery with parameters: semi-join of the rows with the "
                      "(value, binding) pairs")
    return stream.join(pairs, outer_key, lambda row: row[0],
                       lambda row, pair: row + pair[1:])
