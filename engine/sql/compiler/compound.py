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
                    # SQLite inserts every row into one ephemeral index, where an equal
                    # row *replaces* the earlier one: the last duplicate's value wins
                    # (SELECT 1.0 UNION SELECT 1 gives 1), in first-seen order here.
                    rows = {}
                    for src in (lrun(), rrun()):
                        for r in src:
                            rows[key(r)] = r
                    yield from rows.values()
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
        plan.real_columns = left.real_columns or tuple(
            i for i, c in enumerate(left.columns) if c.affinity == "REAL")
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
        out = QueryPlan(plan.columns, run, plan.scope, plan.correlated)
        out.real_columns = plan.real_columns
        return out
