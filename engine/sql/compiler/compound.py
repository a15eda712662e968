"""Compound queries: UNION [ALL], INTERSECT and EXCEPT with their ORDER BY and
LIMIT."""

from __future__ import annotations

from sqlglot import exp

from engine.errors import OperationalError
from engine.sql.compiler.expr import ExprCompiler
from engine.sql.compiler.ordering import _row_key_function, _make_sorter
from engine.sql.compiler.plan import QueryPlan
from engine.sql.compiler.scope import ColumnMeta, Scope, Source


class CompoundPlanner:
    """Planner methods for compound queries (a mixin of ``Planner``)."""

    def _compound(self, node, parent, merged=False):
        """Plan a compound. Each column's collation (for duplicates and ORDER BY) is
        the first arm's that has one (multiSelectCollSeq). Which of several equal rows
        survives follows SQLite's two algorithms: with an ORDER BY (``merged``: an
        enclosing compound's) the arms are merged in order, so a UNION keeps the right
        arm's first row of a class (else the left side's first) and INTERSECT/EXCEPT
        the left's first (multiSelectOrderBy); without one every row goes through an
        ephemeral index where an equal row replaces the earlier one: the last wins."""
        merged = merged or node.args.get("order") is not None
        left = self._compound_arm(node.this, parent, merged)
        right = self.query(node.expression, parent)
        if len(left.columns) != len(right.columns):
            word = {exp.Union: "UNION", exp.Intersect: "INTERSECT", exp.Except: "EXCEPT"}[type(node)]
            if isinstance(node, exp.Union) and not node.args.get("distinct"):
                word = "UNION ALL"
            raise OperationalError(
                f"SELECTs to the left and right of {word} do not have the same number of "
                "result columns")
        collations = tuple(a if a is not None else b for a, b in
                           zip(left.compound_collations(), right.compound_collations()))
        distinct = bool(node.args.get("distinct"))
        key = _row_key_function([ColumnMeta("", None, c or "BINARY") for c in collations])
        lrun, rrun = left.run, right.run
        if isinstance(node, exp.Union) and not distinct:
            def run():
                yield from lrun()
                yield from rrun()
        elif isinstance(node, exp.Union):
            run = _union_run(lrun, rrun, key, merged)
        else:
            run = _intersect_except_run(lrun, rrun, key, merged, isinstance(node, exp.Intersect))
        columns = [ColumnMeta(c.name, None, c.collation, has_collation=c.has_collation)
                   for c in left.columns]
        plan = QueryPlan(columns, run, left.scope, left.correlated or right.correlated)
        plan.arm_collations = collations
        plan.real_columns = left.real_columns or tuple(
            i for i, c in enumerate(left.columns) if c.affinity == "REAL")
        plan.arm_affinities = left.arm_affinities or tuple(c.affinity for c in left.columns)
        return self._order_limit_compound(node, plan, parent)

    def _compound_arm(self, node, parent, merged):
        """The left arm's plan; a bare compound there learns whether the enclosing
        compound merges (has an ORDER BY), which decides its surviving rows too."""
        if isinstance(node, exp.SetOperation) and not any(
                node.args.get(k) for k in ("order", "limit", "offset", "with_")):
            return self._compound(node, parent, merged)
        return self.query(node, parent)

    def _order_limit_compound(self, node, plan, parent):
        """The compound's ORDER BY and LIMIT. A compound that removes duplicates
        (UNION, INTERSECT, EXCEPT) emits its rows in ascending order of every
        column under its compound collation, as SQLite's ephemeral index and
        merge do; an ORDER BY then sorts stably on top (its ties keep that
        order: ``'a' UNION 'A' ORDER BY 1 COLLATE NOCASE`` gives A, a). O(n log n)."""
        order = node.args.get("order")
        scope = Scope([Source("", plan.columns)], parent)
        comp = ExprCompiler(scope, self.rt, planner=self)
        run = plan.run
        collations = plan.compound_collations()
        terms = []
        if order is not None:
            for o in order.expressions:
                idx = self._output_index(o.this, plan.columns, None, compound=True)
                coll = collations[idx] or "BINARY"
                if isinstance(o.this, exp.Collate):  # the term's own COLLATE wins
                    coll = o.this.expression.name.upper()
                terms.append((lambda r, i=idx: r[i], coll, o))
        if not isinstance(node, exp.Union) or node.args.get("distinct"):
            terms += [(lambda r, i=i: r[i], c or "BINARY", _ASCENDING)
                      for i, c in enumerate(collations)]
        if terms:
            sorter = _make_sorter(terms, self.session.collations if self.session else None)
            base = run

            def run():
                yield from sorter(list(base()))
        run = self._limit(node, run, comp)
        out = QueryPlan(plan.columns, run, plan.scope, plan.correlated)
        out.real_columns = plan.real_columns
        out.arm_collations = plan.arm_collations
        out.arm_affinities = plan.arm_affinities
        return out


_ASCENDING = exp.Ordered(this=exp.Literal.number(1), desc=False)


def _union_run(lrun, rrun, key, merged):
    """UNION's rows, one per class of equal rows (see CompoundPlanner._compound for
    which one). O(rows) with hashing."""
    if not merged:
        def run():
            rows = {}
            for src in (lrun(), rrun()):
                for r in src:
                    rows[key(r)] = r
            yield from rows.values()
        return run

    def run():
        rows = {}
        for r in lrun():
            rows.setdefault(key(r), r)
        right = {}
        for r in rrun():
            right.setdefault(key(r), r)
        rows.update(right)
        yield from rows.values()
    return run


def _intersect_except_run(lrun, rrun, key, merged, intersect):
    """INTERSECT/EXCEPT: the left rows whose class is (not) on the right, one per
    class: the first when merged, else the last. O(rows) with hashing."""
    def run():
        right_keys = {key(r) for r in rrun()}
        rows = {}
        for r in lrun():
            k = key(r)
            if (k in right_keys) == intersect:
                if merged:
                    rows.setdefault(k, r)
                else:
                    rows[k] = r
        yield from rows.values()
    return run
