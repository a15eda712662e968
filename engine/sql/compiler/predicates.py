"""WHERE analysis: conjuncts, the sources an expression references, and the
sargable ``column op value`` terms an access path can probe with."""

from __future__ import annotations

from sqlglot import exp

from engine.errors import OperationalError
from engine.sql.compiler.expr import _parse_time_constant
from engine.sql.compiler.scope import Scope
from engine.sql.dialect import UnaryPlus


def _conjuncts(node) -> list:
    if node is None:
        return []
    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    if isinstance(node, exp.Paren) and isinstance(node.this, exp.And):
        return _conjuncts(node.this)
    return [node]


def _column_refs(node, nested=None):
    """Column references of ``node``; those inside nested subqueries count too
    (conservatively), except ones qualified by a name the subquery itself defines.
    ``nested``: a list collecting the subqueries' references separately (an
    unqualified one that resolves nowhere outside is then the subquery's own)."""
    out = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, exp.Column):
            out.append(n)
            continue
        if isinstance(n, (exp.Subquery, exp.Select)) and n is not node:
            (out if nested is None else nested).extend(_subquery_refs(n))
            continue
        stack.extend(v for v in n.iter_expressions())
    return out


def _subquery_refs(sub):
    """Column references in subquery ``sub`` that may reach outside it: all but those
    qualified by a FROM name of a SELECT enclosing them inside ``sub`` (such a name
    shadows any outer one). O(columns * depth)."""
    return [c for c in sub.find_all(exp.Column) if not (c.table and _bound_inside(c, sub))]


def _bound_inside(col, sub) -> bool:
    """Is qualified column ``col`` bound by a FROM item of a SELECT between it and
    ``sub`` (inclusive)?"""
    name = col.table.lower()
    node = col.parent
    while node is not None:
        if isinstance(node, exp.Select):
            frm = node.args.get("from_")
            items = ([frm.this] if frm is not None else []) + \
                [j.this for j in node.args.get("joins") or []]
            if any(item.alias_or_name.lower() == name for item in items):
                return True
        if node is sub:
            return False
        node = node.parent
    return False


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
    nested = []
    for col in _column_refs(node, nested):
        if isinstance(col.this, exp.Star):
            return False
        s = _source_of(col, scope)
        if s is None:
            return False
        if s == "outer":
            continue
        if not any(s is x for x in sources):
            return False
    for col in nested:
        if isinstance(col.this, exp.Star):
            continue  # count(*) and the like inside the subquery
        s = _source_of(col, scope)
        if s is None:
            if col.table:
                return False  # an unknown qualifier: keep the conjunct where it was
            continue  # unqualified and unknown here: the subquery's own column
        if s != "outer" and not any(s is x for x in sources):
            return False
    return True


def _refs_any(node, scope, sources) -> bool:
    for col in _column_refs(node):
        s = _source_of(col, scope)
        if s is not None and s != "outer" and any(s is x for x in sources):
            return True
    return False


def equi_sides(cond, scope, source):
    """For a conjunct ``a = b`` with one side on ``source`` alone and the other not
    touching it: ``(inner, outer)`` (the ``source`` side first); else None. Such a
    conjunct can key a hash join of ``source`` with the sources before it."""
    if not isinstance(cond, exp.EQ):
        return None
    a, b = cond.this, cond.expression
    if _refs_within(a, scope, [source]) and not _refs_any(b, scope, [source]):
        return a, b
    if _refs_within(b, scope, [source]) and not _refs_any(a, scope, [source]):
        return b, a
    return None


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
        items = list(cond.expressions)
        if len(items) == 1 and _parse_time_constant(items[0]):
            # "x IN (e)" is "x = +e" to SQLite (e's explicit COLLATE counts)
            out.append((cond.this.name, "=", UnaryPlus(this=items[0].copy())))
        else:
            out.append((cond.this.name, "IN", items))
    elif isinstance(cond, exp.Between) and isinstance(cond.this, exp.Column) and \
            _source_of(cond.this, scope) is source:
        lo, hi = cond.args["low"], cond.args["high"]
        if not _refs_any(lo, scope, [source]) and not _refs_any(hi, scope, [source]):
            out.append((cond.this.name, ">=", lo))
            out.append((cond.this.name, "<=", hi))
    return out
