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
* LIMIT/OFFSET rank within each binding (top-k partitioned by P).
"""

from __future__ import annotations

from sqlglot import exp

from engine.sql.compiler.scope import ColumnMeta, Source
from engine.sql.dialect import Variable

PARAMS_RELATION = "__params"
PRESENT = "__present"


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
    cols = [ColumnMeta(f"p{i}", None, "") for i in range(1, count + 1)]
    cols.append(ColumnMeta(PRESENT, None, "", hidden=True))
    return Source(PARAMS_RELATION, cols)


def mentions_params(node) -> bool:
    return any(c.table == PARAMS_RELATION for c in node.find_all(exp.Column))
