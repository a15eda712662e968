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

from operator import itemgetter

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


def _pair_function(key_columns: tuple):
    """``row -> the values of key_columns`` (a constant when there are none)."""
    if not key_columns:
        return lambda row: None
    if len(key_columns) == 1:
        (only,) = key_columns
        return lambda row: row[only]
    return itemgetter(*key_columns)


class ViewStore:
    """One materialized view's contents: an MVCC Table plus the row -> keys map.

    ``status`` is None while the view is maintained, else ``(ts, kind, message)``:
    kind "failed" (maintenance raised at commit ``ts``: reads at later snapshots
    raise) or "broken" (a relation it reads is gone: reads evaluate the SELECT,
    which raises SQLite's own error). ``base_deps`` are the base tables the view
    reads, directly or through other views (read-your-own-writes test).
    """

    __slots__ = ("name", "sql", "columns", "key_columns", "table", "base_deps",
                 "status", "arm_affinities", "_keys_of", "_next_key", "_pair_of")

    def __init__(self, name: str, sql: str, columns, key_columns=(), base_deps=frozenset(),
                 arm_affinities=None):
        self.name = name
        self.sql = sql
        self.columns = list(columns)
        # A compound view's first-arm column affinities (CompiledView.arm_affinities)
        self.arm_affinities = arm_affinities
        self.key_columns = tuple(key_columns)
        self.base_deps = frozenset(base_deps)
        self.status = None
        self._keys_of: dict = {}
        self._next_key = 0
        # The key-column values a retracted row's key is reused for (see apply).
        self._pair_of = _pair_function(self.key_columns)
        key = store_key(name)
        schema = TableSchema(
            name=key, sql=sql,
            columns=tuple(Column(c.name, c.decltype or _DECLTYPE.get(c.affinity or "", ""),
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
        rows = self.table.versions.rows
        return list(map(rows.__getitem__, rows))  # key order, C-level iteration

    def apply(self, delta, writes: dict) -> None:
        """Turn a view delta (a ZSet) into store writes ``key -> row | None``.

        Updates the row -> keys map at once, so consecutive deltas of one commit
        compose. O(|delta| + total |weight|). A row held once maps to its key (an
        int), a repeated row to a list of keys: the common case costs no list.
        Retractions go first and their keys are reused by the additions with equal
        key-column values (any addition when the view has no key columns): a group's
        new aggregate row, or an updated filtered row, then rewrites one key in place
        (one latest-version replace, no index change) instead of a delete plus an
        insert in both the rows and the index. Raises InternalError when the delta
        retracts rows the view does not hold (a maintenance bug: never silent).
        """
        if not self._keys_of:
            if self._fill(delta, writes):
                return
            freed = None
        else:
            freed = self._retract(delta, writes)
        keys_of = self._keys_of
        get = keys_of.get
        next_key = self._next_key
        pair_of = self._pair_of
        try:
            for row, weight in delta.items():
                if weight <= 0:
                    continue
                have = get(row)
                if weight == 1 and have is None:
                    spare = freed.get(pair_of(row)) if freed else None
                    if spare:
                        key = spare.pop()
                    else:
                        next_key += 1
                        key = next_key
                    keys_of[row] = key
                    writes[key] = row
                    continue
                keys = [] if have is None else ([have] if type(have) is int else have)
                for _ in range(weight):
                    spare = freed.get(pair_of(row)) if freed else None
                    if spare:
                        key = spare.pop()
                    else:
                        next_key += 1
                        key = next_key
                    keys.append(key)
                    writes[key] = row
                keys_of[row] = keys[0] if len(keys) == 1 else keys
        finally:
            self._next_key = next_key

    def _fill(self, delta, writes: dict) -> bool:
        """``apply`` into an empty store when every weight is 1 (a population):
        fresh consecutive keys, both maps updated in C. False (nothing done)
        otherwise. O(|delta|)."""
        data = delta._data
        if not data or any(w != 1 for w in set(data.values())):
            return False
        first = self._next_key + 1
        self._next_key += len(data)
        keys = range(first, self._next_key + 1)
        self._keys_of.update(zip(data, keys))
        writes.update(zip(keys, data))
        return True

    def bulk_install(self, writes: dict) -> bool:
        """Install ``writes`` into a store that holds nothing yet (a fresh population),
        visible to every snapshot: one sort for the rows and one per index instead of
        a sorted insert per row, O(w log w). No older snapshot can read a store made
        at this commit, so no begin timestamps are needed. Returns False (nothing
        done) when the store is not empty."""
        table = self.table
        versions = table.versions
        if versions.rows or versions.history or any(len(ix) for ix in table.indexes):
            return False
        if None in writes.values():
            pairs = [(k, r) for k, r in writes.items() if r is not None]
        else:
            pairs = writes.items()
        versions.bulk_load(pairs)
        for ix in table.indexes:
            key_of = ix.key_of
            ix.bulk_load([(nk, k) for k, r in pairs if (nk := key_of(r, k)) is not None])
        return True

    def _retract(self, delta, writes: dict):
        """Retract the negative rows of ``delta``: their keys become deletions in
        ``writes`` and are returned as ``{pair value: [keys]}`` for reuse, or None
        when nothing was retracted. O(retracted weight)."""
        keys_of = self._keys_of
        get = keys_of.get
        pair_of = self._pair_of
        freed = None
        for row, weight in delta.items():
            if weight >= 0:
                continue
            have = get(row)
            keys = [] if have is None else ([have] if type(have) is int else have)
            if len(keys) < -weight:
                raise InternalError(
                    f"materialized view {self.name}: delta retracts {row!r} "
                    f"{-weight} time(s), view holds {len(keys)}")
            if freed is None:
                freed = {}
            pair = pair_of(row)
            spare = freed.get(pair)
            if spare is None:
                spare = freed[pair] = []
            for _ in range(-weight):
                key = keys.pop()
                writes[key] = None
                spare.append(key)
            if not keys:
                del keys_of[row]
            else:
                keys_of[row] = keys[0] if len(keys) == 1 else keys
        return freed

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
