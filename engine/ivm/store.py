"""The versioned contents of one materialized view.

A view's rows live in an ordinary engine ``Table`` (``TableVersions`` plus an
``IndexStore`` on the view's key columns), so every snapshot reads the version
of the contents that was installed with the commit it sees, exactly as it reads
base tables (Larson et al., VLDB 2011; see ``engine.mvcc.versions``).

A view is a bag: equal rows may repeat. Each stored row gets a private integer
key (never shown: the planner reads the store without a rowid slot), and
``_keys_of`` maps a row to the keys holding its copies, so a Z-set delta turns
into a write set in O(|delta|): ``+w`` adds ``w`` fresh keys, ``-w`` retires
``w`` of the row's keys. Rows match with Python equality, as Z-set rows do.

The store's Table is reachable from a transaction's ``tables`` under
``store_key(view)``, a name no SQL statement can spell (it starts with NUL),
so the planner's access paths (scans, index probes) and MVCC reads apply to it
unchanged while no statement can write to it.
"""

from __future__ import annotations

from engine.catalog.schema import Column, IndexColumn, IndexSchema, TableSchema
from engine.errors import InternalError
from engine.mvcc import IndexStore
from engine.table import Table

STORE_PREFIX = "\x00view:"

# The declared type a view column's affinity maps to (engine.values.affinity_of
# gives the same affinity back), so probes convert values as the view's do.
_DECLTYPE = {"INTEGER": "INTEGER", "REAL": "REAL", "TEXT": "TEXT", "NUMERIC": "NUMERIC"}


def store_key(view_name: str) -> str:
    """The name of a view's store Table in ``Database.tables``."""
    return STORE_PREFIX + view_name.lower()


def is_store_key(name: str) -> bool:
    return name.startswith(STORE_PREFIX)


class ViewStore:
    """One materialized view's contents: an MVCC Table plus the row -> keys map.

    ``status`` is None while the view is maintained, else ``(ts, kind, message)``:
    kind "failed" (maintenance raised at commit ``ts``: reads at later snapshots
    raise) or "broken" (a relation it reads is gone: reads evaluate the SELECT,
    which raises SQLite's own error). ``base_deps`` are the base tables the view
    reads, directly or through other views (read-your-own-writes test).
    """

    __slots__ = ("name", "sql", "columns", "key_columns", "table", "base_deps",
                 "status", "_keys_of", "_next_key")

    def __init__(self, name: str, sql: str, columns, key_columns=(), base_deps=frozenset()):
        self.name = name
        self.sql = sql
        self.columns = list(columns)
        self.key_columns = tuple(key_columns)
        self.base_deps = frozenset(base_deps)
        self.status = None
        self._keys_of: dict = {}
        self._next_key = 0
        key = store_key(name)
        schema = TableSchema(
            name=key, sql=sql,
            columns=tuple(Column(c.name, _DECLTYPE.get(c.affinity or "", ""),
                                 collation=c.collation or "BINARY") for c in self.columns))
        indexes = []
        if self.key_columns:
            ix = IndexSchema(
                name=f"{name} key", table=key, origin="c",
                columns=tuple(IndexColumn(p, collation=self.columns[p].collation or "BINARY")
                              for p in self.key_columns))
            indexes.append(IndexStore(ix))
        self.table = Table(schema, indexes=indexes)

    def __len__(self) -> int:
        return len(self.table.versions.rows)

    def rows(self) -> list:
        """The latest contents (a list: callers may install while iterating). O(n)."""
        return list(self.table.versions.rows.values())

    def apply(self, delta, writes: dict) -> None:
        """Turn a view delta (a ZSet) into store writes ``key -> row | None``.

        Updates the row -> keys map at once, so consecutive deltas of one commit
        compose. O(|delta| + total |weight|). A row held once maps to its key (an
        int), a repeated row to a list of keys: the common case costs no list.
        Raises InternalError when the delta retracts rows the view does not hold
        (a maintenance bug: never silent).
        """
        keys_of = self._keys_of
        get = keys_of.get
        next_key = self._next_key
        try:
            for row, weight in delta.items():
                have = get(row)
                if weight == 1 and have is None:
                    next_key += 1
                    keys_of[row] = next_key
                    writes[next_key] = row
                    continue
                keys = [] if have is None else ([have] if type(have) is int else have)
                if weight > 0:
                    for _ in range(weight):
                        next_key += 1
                        keys.append(next_key)
                        writes[next_key] = row
                else:
                    if len(keys) < -weight:
                        raise InternalError(
                            f"materialized view {self.name}: delta retracts {row!r} "
                            f"{-weight} time(s), view holds {len(keys)}")
                    for _ in range(-weight):
                        writes[keys.pop()] = None
                if not keys:
                    del keys_of[row]
                else:
                    keys_of[row] = keys[0] if len(keys) == 1 else keys
        finally:
            self._next_key = next_key

    def _check(self) -> None:
        """Assert: every key of the map holds an equal latest row, and nothing else."""
        rows = self.table.versions.rows
        count = 0
        for row, keys in self._keys_of.items():
            if type(keys) is int:
                keys = [keys]
            assert len(keys) >= 1, f"empty key list for {row!r}"
            for k in keys:
                assert rows.get(k) == row, (k, row, rows.get(k))
                count += 1
        assert count == len(rows), (count, len(rows))
        self.table.versions._check()
        for ix in self.table.indexes:
            ix._check(self.table.versions)
