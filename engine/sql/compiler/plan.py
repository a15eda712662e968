"""``QueryPlan``: what a compiled query is."""

from __future__ import annotations

from engine.sql.compiler.scope import ColumnMeta
from engine.values import apply_affinity


def real_affinity(row: tuple, positions) -> tuple:
    """``row`` with the integers at ``positions`` as REAL (OP_RealAffinity). O(k)."""
    for i in positions:
        if type(row[i]) is int:
            row = list(row)
            for j in positions:
                if type(row[j]) is int:
                    row[j] = float(row[j])
            return tuple(row)
    return row


def from_item_columns(columns, arm_affinities=None, materialized=False) -> list[ColumnMeta]:
    """Fresh ``ColumnMeta`` of a query's result columns as a FROM item (subquery,
    CTE, view) exposes them: a compound's columns have its first arm's affinity,
    which comparisons with them apply (SQLite's column affinity of a compound
    subquery); their values conform to it only when ``materialized`` (stored
    through it, ``from_item_run``). O(columns)."""
    if not arm_affinities:
        return [ColumnMeta(c.name, c.affinity, c.collation, c.decltype,
                           conforming=c.conforming or materialized) for c in columns]
    return [ColumnMeta(c.name, a if a is not None else c.affinity, c.collation, c.decltype,
                       conforming=materialized or (a is None and c.conforming))
            for c, a in zip(columns, arm_affinities)]


def stored_affinities(columns, arm_affinities=None) -> tuple:
    """Per column, the affinity SQLite's ephemeral table applies when it materializes
    this query as a FROM item: a compound's first arm's; otherwise a column's own
    where its values may not have it (``ColumnMeta.conforming`` false: a column read
    from a compound or a recursive CTE), else None (nothing to convert)."""
    if arm_affinities:
        return arm_affinities
    return tuple(None if c.conforming else c.affinity for c in columns)


def affinity_converter(affinities):
    """``row -> row`` giving the values the column ``affinities`` (None or BLOB:
    left alone), as an ephemeral table stores a materialized compound's rows; None
    when no column converts. O(columns) per row."""
    if not affinities:
        return None
    convert_at = [(i, a) for i, a in enumerate(affinities) if a not in (None, "BLOB")]
    if not convert_at:
        return None

    def convert(row):
        row = list(row)
        for i, a in convert_at:
            row[i] = apply_affinity(row[i], a)
        return tuple(row)
    return convert


class QueryPlan:
    """A compiled query: ``columns`` and ``run()`` (a fresh generator per call)."""

    def __init__(self, columns, run, scope=None, correlated=False, explain=None):
        self.columns: list[ColumnMeta] = columns
        self.run = run
        self.scope = scope
        self.correlated = correlated
        self.explain: list[str] = explain or []

    # Positions whose values a FROM item reading this compound query sees as REAL:
    # its first arm's REAL-affinity columns (SQLite applies OP_RealAffinity there).
    real_columns: tuple = ()

    # A compound's (or multi-row VALUES') collation per column as its ORDER BY and
    # duplicate elimination use it (multiSelectCollSeq: the first arm's that has one);
    # None: each column's own. ``columns`` keep the first arm's, as a FROM item sees.
    arm_collations: tuple | None = None

    def compound_collations(self) -> tuple:
        """Per column: the collation this query lends an enclosing compound, None when
        it has none (an expression without COLLATE). O(columns)."""
        if self.arm_collations is not None:
            return self.arm_collations
        return tuple(c.collation if c.has_collation else None for c in self.columns)

    # A compound's first arm's column affinities. SQLite applies them to every row
    # when it materializes the compound as a FROM item (see ``from_item_run``).
    arm_affinities: tuple | None = None

    def from_item_run(self, materialized: bool = False):
        """``run`` as a FROM item sees it: integers in ``real_columns`` read as
        REAL; when ``materialized`` (SQLite stores the subquery in an ephemeral
        table rather than running it as a co-routine: ``sources.materialized``),
        a compound's rows take its first arm's column affinities. O(columns) per
        row when converting."""
        run, positions = self.run, self.real_columns
        convert = affinity_converter(
            stored_affinities(self.columns, self.arm_affinities)) if materialized else None
        if convert is not None:
            return lambda: map(convert, run())
        if not positions:
            return run

        def converted():
            for row in run():
                yield real_affinity(row, positions)
        return converted

    def bind_outer(self, row) -> None:
        """Make ``row`` the current row of the enclosing scope (correlated subqueries)."""
        self.scope.parent.cell[0] = row
