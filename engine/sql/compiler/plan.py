"""``QueryPlan``: what a compiled query is."""

from __future__ import annotations

from engine.sql.compiler.scope import ColumnMeta


class QueryPlan:
    """A compiled query: ``columns`` and ``run()`` (a fresh generator per call)."""

    def __init__(self, columns, run, scope=None, correlated=False, explain=None):
        self.columns: list[ColumnMeta] = columns
        self.run = run
        self.scope = scope
        self.correlated = correlated
        self.explain: list[str] = explain or []

    def bind_outer(self, row) -> None:
        """Make ``row`` the current row of the enclosing scope (correlated subqueries)."""
        self.scope.parent.cell[0] = row
