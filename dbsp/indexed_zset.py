"""Indexed Z-sets: ``key -> Z-set of rows`` (the arrangement/trace of DBSP).

Joins, semi-joins and aggregates keep their integrated inputs here so that a
delta row finds its partners with one dict lookup instead of a scan.

Internally each key maps to a plain consolidated ``dict`` (row -> weight);
empty groups are removed at once, so ``key in index`` means "some row with a
non-zero weight has this key".  ``add_row`` is O(1); ``get`` is O(1) and
returns a ZSet *view* sharing storage (callers must not mutate it).
"""

from .zset import ZSet


class IndexedZSet:
    """A map ``key -> ZSet`` with no empty group stored."""

    __slots__ = ("_index",)

    def __init__(self):
        self._index = {}

    @classmethod
    def from_zset(cls, zset, key_fn):
        """Index ``zset`` by ``key_fn(row)``; O(len(zset))."""
        indexed = cls()
        indexed.add_zset(zset, key_fn)
        return indexed

    def add_row(self, key, row, weight=1):
        """Add ``weight`` to ``row`` under ``key``; O(1)."""
        index = self._index
        group = index.get(key)
        if group is None:
            if weight:
                index[key] = {row: weight}
            return
        new = group.get(row, 0) + weight
        if new:
            group[row] = new
        else:
            group.pop(row, None)
            if not group:
                del index[key]

    def add_zset(self, zset, key_fn):
        """Add every row of ``zset`` under ``key_fn(row)``; O(len(zset))."""
        add_row = self.add_row
        for row, weight in zset.items():
            add_row(key_fn(row), row, weight)

    def get(self, key):
        """The rows under ``key`` as a ZSet view (empty ZSet when absent)."""
        group = self._index.get(key)
        return ZSet._wrap(group) if group is not None else ZSet()

    def group(self, key):
        """The raw ``row -> weight`` dict under ``key`` or None (internal, fast)."""
        return self._index.get(key)

    def __contains__(self, key):
        return key in self._index

    def __len__(self):
        """Number of keys with a non-empty group."""
        return len(self._index)

    def keys(self):
        return self._index.keys()

    def items(self):
        """``(key, ZSet view)`` pairs."""
        for key, group in self._index.items():
            yield key, ZSet._wrap(group)

    def entries(self):
        """Every ``(key, row, weight)`` triple."""
        for key, group in self._index.items():
            for row, weight in group.items():
                yield key, row, weight

    def to_zset(self):
        """Flatten to a ZSet of rows (summing across keys); O(size)."""
        out = ZSet()
        for group in self._index.values():
            out.add(ZSet._wrap(group))
        return out

    def total_rows(self):
        """Number of ``(key, row)`` entries stored."""
        return sum(len(g) for g in self._index.values())

    def __eq__(self, other):
        if isinstance(other, IndexedZSet):
            return self._index == other._index
        return NotImplemented

    __hash__ = None

    def __repr__(self):
        return f"IndexedZSet({self._index!r})"

    def _check(self):
        """Assert: no empty group, no zero or non-int weight."""
        for key, group in self._index.items():
            assert isinstance(group, dict) and group, key
            for row, weight in group.items():
                assert type(weight) is int and weight != 0, (key, row, weight)
