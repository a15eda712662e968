"""The change set of one commit: what observers (views, CDC, subscribers) receive."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class ChangeSet:
    """Per-table before/after images of every row a commit wrote.

    ``tables[name]`` lists ``(row_key, before, after)``: ``before`` None for an
    insert, ``after`` None for a delete, both set for an update. Each row key
    appears once per commit (a transaction's writes to one row collapse to its
    first before and last after image). As a Z-set delta this is
    ``-before +after`` per entry, keyed by whole rows.
    """

    ts: int
    txn_id: int
    time: float
    tables: dict[str, list] = field(default_factory=dict)
    catalog_changed: bool = False
    # Subscription notifications computed inside the commit, delivered after it.
    notifications: list | None = None
    # Materialized views' net deltas of this commit ({view name: ZSet}), set by the
    # view maintainer for after-commit observers.
    views: dict | None = None

    def delta(self, table: str):
        """The table's change as ``(row, weight)`` pairs: -1 for before, +1 for after."""
        out = []
        for _key, before, after in self.tables.get(table.lower(), ()):
            if before is not None:
                out.append((before, -1))
            if after is not None:
                out.append((after, 1))
        return out
