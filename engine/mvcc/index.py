"""Secondary and unique indexes: ordered entries ``(k1, ..., kn, row_key)``.

Each key part is ``engine.values.sort_key(value, collation)``, a Python-orderable
encoding of SQLite's ordering (NULL < numbers < text by collation < blob), so
the entries live in one ``SortedList`` and lookups are bisections.

An index holds an entry for every *retained* version of a row (latest and
history), so it can serve any live snapshot; a reader treats entries as
candidates and confirms each against the row version its snapshot sees
(``IndexStore.key_of`` recomputed on that row). When every version is visible
to the reader (the common case) the check is skipped.
"""

from __future__ import annotations

from bisect import bisect_left
from functools import total_ordering

from sortedcontainers import SortedList

from engine.values import sort_key_function


@total_ordering
class _Top:
    """Compares greater than every index key part (an upper bound for prefixes)."""

    def __eq__(self, other):
        return other is self

    def __gt__(self, other):
        return other is not self

    def __hash__(self):
        return 1

    def __repr__(self):
        return "TOP"


@total_ordering
class _Bottom:
    """Compares less than every index key part."""

    def __eq__(self, other):
        return other is self

    def __lt__(self, other):
        return other is not self

    def __hash__(self):
        return 0

    def __repr__(self):
        return "BOTTOM"


TOP = _Top()
BOTTOM = _Bottom()


class _Entries(SortedList):
    """The index's SortedList of entries plus ``first``: a dict from an entry's first
    key part to that entry (or a list of the entries sharing it), kept in step by
    every mutator, so an equality probe on the leading column is a hash lookup
    rather than a bisection whose tuple comparisons miss the cache. The dict reuses
    the entries' own part objects (one slot per entry, no new tuples). ``first`` is
    None once a part is unhashable (a user collation's ``cmp_to_key`` key): probes
    then bisect. Mutators cost O(1) more, plus O(k) for a discard among k entries
    sharing a first part."""

    def __init__(self, iterable=None):
        self.first: dict | None = {}
        super().__init__()
        if iterable is not None:
            self.update(iterable)  # SortedList.__init__ would bypass our update

    def add(self, entry) -> None:
        super().add(entry)
        self._first_add(entry)

    def update(self, iterable) -> None:
        values = list(iterable)
        super().update(values)
        for entry in values:
            self._first_add(entry)

    def discard(self, entry) -> None:
        if entry in self:
            self.remove(entry)

    def remove(self, entry) -> None:
        super().remove(entry)
        first = self.first
        if first is None:
            return
        part = entry[0]
        cur = first.get(part)
        if type(cur) is list:
            cur.remove(entry)
            if len(cur) == 1:
                first[part] = cur[0]
        elif cur is not None:
            del first[part]

    def clear(self) -> None:
        super().clear()
        self.first = {}

    def pop(self, index=-1):
        raise TypeError("index entries are removed by value (discard/remove)")

    def __delitem__(self, index):
        raise TypeError("index entries are removed by value (discard/remove)")

    def _first_add(self, entry) -> None:
        first = self.first
        if first is None:
            return
        part = entry[0]
        try:
            cur = first.get(part)
        except TypeError:  # unhashable part: probes bisect from now on
            self.first = None
            return
        if cur is None:
            first[part] = entry
        elif type(cur) is list:
            cur.append(entry)
        else:
            first[part] = [cur, entry]
_NULL_KEY = (0, 0)  # sort_key(None)


class IndexStore:
    """The entries of one index plus the function that computes a row's key.

    ``key_of(row, row_key)`` returns the tuple of key parts, or None when a
    partial index's WHERE excludes the row. Expression parts and the WHERE
    predicate are compiled by the SQL layer and passed in as ``part_fns`` /
    ``where_fn``.
    """

    __slots__ = ("schema", "entries", "key_of", "width")

    def __init__(self, schema, part_fns=None, where_fn=None):
        self.schema = schema
        self.entries = _Entries()
        self.width = len(schema.columns)
        self.key_of = _make_key_function(schema, part_fns, where_fn)

    def add(self, key: tuple, row_key) -> None:
        """Insert the entry for ``row_key`` under ``key`` unless present. O(log n).

        Entries are a set: a row that returns to an earlier key while that key's
        entry is still kept for an old snapshot must not get a second one.
        """
        entry = key + (row_key,)
        entries = self.entries
        if entry not in entries:
            entries.add(entry)

    def discard(self, key: tuple, row_key) -> None:
        """Remove the entry if present. O(log n)."""
        self.entries.discard(key + (row_key,))

    def bulk_load(self, pairs) -> None:
        """Add many ``(key, row_key)`` entries (one sort instead of n insertions)."""
        self.entries.update(k + (rk,) for k, rk in pairs)

    def candidates(self, prefix: tuple = (), lo=None, hi=None, reverse: bool = False):
        """Row keys of entries whose first parts equal ``prefix``, optionally with
        the next part in the closed range [lo, hi] (None = unbounded). In index order.

        O(log n + k).
        """
        low = prefix + ((BOTTOM,) if lo is None else (lo,))
        high = prefix + ((TOP,) if hi is None else (hi, TOP))
        for entry in self.entries.irange(low, high, reverse=reverse):
            yield entry[-1]

    def prefix_row_keys(self, prefix: tuple, limit: int = 16):
        """Row keys of the entries starting with ``prefix`` (an equality probe), in
        index order, when there are at most ``limit`` of them; else None (read the
        range with ``irange``). A hash lookup of the first part (``_Entries.first``)
        and a sort of its few entries; without the dict, one bisection of
        SortedList's two-level layout (``_maxes`` then one sublist, sortedcontainers'
        documented implementation) and one C slice. O(1 + k log k) / O(log n + limit).
        Callers check the rows they read afterwards (a concurrent commit can change
        entries between these C calls)."""
        entries = self.entries
        n = len(prefix)
        first = entries.first
        if first is not None:
            cur = first.get(prefix[0])
            if cur is None:
                return []
            if type(cur) is not list:
                return [cur[-1]] if n == 1 or cur[:n] == prefix else []
            if len(cur) > limit:
                return None
            return [e[-1] for e in sorted(cur) if n == 1 or e[:n] == prefix]
        maxes = entries._maxes
        pos = bisect_left(maxes, prefix)
        if pos == len(maxes):
            return []
        sub = entries._lists[pos]
        i = bisect_left(sub, prefix)
        chunk = sub[i:i + limit]
        out = []
        for entry in chunk:
            if entry[:n] != prefix:
                return out
            out.append(entry[-1])
        if len(chunk) == limit or pos + 1 < len(maxes):
            return None  # the matches may go on (this chunk, or the next sublist)
        return out

    def contains_key(self, key: tuple):
        """Row keys of entries with exactly ``key`` (for UNIQUE checks). O(log n + k)."""
        for entry in self.entries.irange(key, key + (TOP,)):
            yield entry[-1]

    def __len__(self) -> int:
        return len(self.entries)

    def _check(self, versions=None) -> None:
        """Entries are sorted; with ``versions``, every latest row has its entry."""
        self.entries._check()
        first = self.entries.first
        if first is not None:
            grouped = {}
            for entry in self.entries:
                grouped.setdefault(entry[0], []).append(entry)
            assert set(first) == set(grouped), "first-part dict out of step"
            for part, group in grouped.items():
                cur = first[part]
                assert (sorted(cur) if type(cur) is list else [cur]) == group, part
                assert type(cur) is not list or len(cur) > 1, part
        previous = None
        for entry in self.entries:
            assert len(entry) == self.width + 1, entry
            assert entry != previous, f"duplicate index entry {entry!r}"
            previous = entry
        if versions is not None:
            present = set(self.entries)
            for row_key, row in versions.rows.items():
                key = self.key_of(row, row_key)
                if key is not None:
                    assert key + (row_key,) in present, f"missing index entry for {row_key!r}"


def _make_key_function(schema, part_fns, where_fn):
    """Compile the index's key computation into one closure (no per-row dispatch)."""
    getters = []
    for i, part in enumerate(schema.columns):
        skey = sort_key_function(part.collation)
        if part.column is not None:
            pos = part.column
            getters.append(lambda row, rk, pos=pos, skey=skey: skey(row[pos]))
        else:
            if not part_fns or part_fns[i] is None:
                raise ValueError(f"index {schema.name}: expression part needs a compiled function")
            fn = part_fns[i]
            getters.append(lambda row, rk, fn=fn, skey=skey: skey(fn(row, rk)))
    if len(getters) == 1 and where_fn is None and schema.columns[0].column is not None:
        pos = schema.columns[0].column
        skey = sort_key_function(schema.columns[0].collation)
        return lambda row, rk: (skey(row[pos]),)
    if where_fn is None:
        return lambda row, rk: tuple(g(row, rk) for g in getters)

    def key_of(row, rk):
        if not where_fn(row, rk):
            return None
        return tuple(g(row, rk) for g in getters)

    return key_of


def has_null(key: tuple) -> bool:
    """True if any part is SQL NULL (NULLs never collide in a UNIQUE index)."""
    return _NULL_KEY in key
