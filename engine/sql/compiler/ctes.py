"""Common table expressions: WITH lists in scope, CTE references planned once
per statement, and WITH RECURSIVE as a queue of rows."""

from __future__ import annotations

from sqlglot import exp

from engine.errors import OperationalError
from engine.sql.compiler.ordering import _row_key_function
from engine.sql.compiler.plan import QueryPlan, from_item_columns, real_affinity
from engine.sql.compiler.scope import ColumnMeta, Source


class CtePlanner:
    """Planner methods for WITH clauses (a mixin of ``Planner``)."""

    def _cte_map(self, with_, parent=None) -> dict:
        """The CTEs of a WITH clause by name. ``parent``: the scope the clause's
        owner sees (an outer query's row, a trigger's NEW/OLD), which the CTEs'
        queries may read too (a correlated CTE, as SQLite allows)."""
        out = {}
        for cte in with_.expressions:
            alias = cte.args["alias"]
            name = alias.name.lower()
            cols = [c.name for c in alias.columns] if alias.columns else None
            out[name] = {"query": cte.this, "columns": cols, "name": alias.name,
                         "recursive": bool(with_.args.get("recursive")), "plan": None,
                         "parent": parent}
        return out

    def _find_cte(self, name: str):
        for level in reversed(self.ctes):
            cte = level.get(name.lower())
            if cte is not None:
                return cte
        return None

    def _cte_source(self, cte, alias, scope, materialized=False):
        if cte.get("active"):
            # A reference from inside its own recursive definition: the working table.
            cols = cte["work_columns"]
            work = cte["work"]
            # Queued rows are not stored through the columns' affinities, which
            # comparisons still apply (so: not conforming).
            return Source(alias, [ColumnMeta(c.name, c.affinity, c.collation, conforming=False)
                                  for c in cols]), \
                (lambda: (lambda: iter(list(work))))
        plan = cte.get("plan")
        if plan is None:
            plan = cte["plan"] = self._cte_plan(cte)
        if plan.correlated:
            # It reads the WITH owner's scope: so does every query level between
            # this reference and that scope (no memoizing them across its rows).
            s = scope
            while s is not None and s is not cte["parent"]:
                s.correlated = True
                s = s.parent
        cols = from_item_columns(plan.columns, plan.arm_affinities, materialized)
        return Source(alias, cols), (lambda: plan.from_item_run(materialized))

    def _cte_plan(self, cte):
        query = cte["query"]
        names = cte["columns"]
        if cte["recursive"] and isinstance(query, exp.Union) and _references(query.expression,
                                                                             cte["name"]):
            return self._recursive_cte(cte, query, names)
        plan = self.query(query, cte["parent"])
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
        setup = self.query(query.this, cte["parent"])
        columns = setup.columns
        if names:
            if len(names) != len(columns):
                raise OperationalError(
                    f"table {cte['name']} has {len(columns)} values for {len(names)} columns")
            columns = [ColumnMeta(n, c.affinity, c.collation) for n, c in zip(names, columns)]
        work: list = []
        cte["active"], cte["work"], cte["work_columns"] = True, work, columns
        try:
            step = self.query(query.expression, cte["parent"])
        finally:
            cte["active"] = False
        if len(step.columns) != len(columns):
            raise OperationalError(
                "SELECTs to the left and right of UNION do not have the same number of "
                "result columns")
        distinct = bool(query.args.get("distinct"))
        key = _row_key_function(columns)
        # The queue table has the setup's column affinities: REAL ones read as REAL.
        real = setup.real_columns or tuple(
            i for i, c in enumerate(setup.columns) if c.affinity == "REAL")

        def run():
            queue = [real_affinity(r, real) for r in setup.run()] if real else list(setup.run())
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
                    if real:
                        r = real_affinity(r, real)
                    if distinct:
                        k = key(r)
                        if k in seen:
                            continue
                        seen.add(k)
                    queue.append(r)
                if head > 4096:
                    del queue[:head]
                    head = 0
        plan = QueryPlan(columns, run, correlated=setup.correlated or step.correlated)
        # A compound: the setup's affinities, applied where SQLite materializes it
        plan.arm_affinities = tuple(c.affinity for c in columns)
        return plan


def _references(node, name: str) -> bool:
    return any(t.name.lower() == name.lower() for t in node.find_all(exp.Table))
