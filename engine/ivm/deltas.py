"""A commit's ChangeSet as the Z-set deltas circuits take (DESIGN.md decision 5).

One function, shared by view maintenance and subscriptions, so both read a commit
the same way: per table ``-before +after`` of whole rows, rows of rowid tables as
``row + (rowid,)``. Z-sets key rows by Python equality, so an UPDATE to an equal
value of another type (1 -> 1.0) would cancel inside one Z-set: its new image goes
to a second tick. A rewrite to an identical row changes nothing and is dropped.
"""

from __future__ import annotations

from dbsp import ZSet


def change_ticks(changes, tables, read=None) -> list:
    """``[{table: ZSet}, ...]`` (one or two ticks; empty when nothing relevant
    changed) for the tables of ``changes`` that ``read`` names (all when None).
    O(|change|)."""
    main: dict = {}
    retyped: dict = {}
    for name, entries in changes.tables.items():
        if read is not None and name not in read:
            continue
        t = tables.get(name)
        if t is None:
            continue
        with_rowid = not t.without_rowid
        z = ZSet()
        add = z.add_row
        for key, before, after in entries:
            if before is not None and after is not None and before == after:
                if list(map(type, before)) == list(map(type, after)):
                    continue  # an identical rewrite changes nothing
                retyped.setdefault(name, ZSet()).add_row(
                    after + (key,) if with_rowid else after, 1)
                after = None
            if before is not None:
                add(before + (key,) if with_rowid else before, -1)
            if after is not None:
                add(after + (key,) if with_rowid else after, 1)
        if z:
            main[name] = z
    if retyped:
        return [main, retyped]
    return [main] if main else []
