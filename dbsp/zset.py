"""Z-sets: finite maps from rows to non-zero integer weights (DBSP section 2).

A Z-set generalises a multiset: weights may be negative, so a Z-set can
describe a *change* (``-old +new``) as well as a table.  Z-sets form an
abelian group under ``+``; consolidation (dropping zero weights) is an
invariant here, never a separate pass: a zero weight is never stored.

Rows are hashable Python values (tuples in practice) and weights are Python
ints.  The backing store is one ``dict``; in-place updates (``add``,
``add_row``) cost O(len(delta)) and never copy the large side, which is what
makes integration (``I``) of a stream cheap per step.
"""

from collections import Counter

# Past this many rows, ``add`` first checks (in C) whether the two share no row.
_BULK_ADD = 256


class ZSet:
    """A consolidated Z-set: ``row -> weight`` with every weight non-zero.

    Costs: lookup/``add_row`` O(1); ``add(other)`` O(len(other));
    ``a + b`` O(len(a) + len(b)) (copies); iteration O(len).
    """

    __slots__ = ("_data",)

    def __init__(self, pairs=None):
        """Build from a mapping or an iterable of ``(row, weight)`` pairs.

        Repeated rows are summed; zero results are dropped.
        """
        data = {}
        if pairs is not None:
            items = pairs.items() if hasattr(pairs, "items") else pairs
            get = data.get
            for row, weight in items:
                new = get(row, 0) + weight
                if new:
                    data[row] = new
                else:
                    data.pop(row, None)
        self._data = data

    # -- construction -------------------------------------------------
    @classmethod
    def _wrap(cls, data):
        """Wrap an already-consolidated dict without copying (internal)."""
        zset = cls.__new__(cls)
        zset._data = data
        return zset

    @classmethod
    def from_rows(cls, rows):
        """The Z-set of a multiset: each occurrence of a row adds weight 1."""
        data = {}
        get = data.get
        for row in rows:
            data[row] = get(row, 0) + 1
        return cls._wrap(data)

    @classmethod
    def from_distinct_rows(cls, rows):
        """The Z-set of rows the caller knows to be pairwise distinct (a table's
        rows with their rowids): each with weight 1, built in C, O(n)."""
        return cls._wrap(dict.fromkeys(rows, 1))

    def copy(self):
        """An independent copy, O(len)."""
        return ZSet._wrap(dict(self._data))

    # -- access -------------------------------------------------------
    def weight(self, row):
        """The weight of ``row`` (0 when absent), O(1)."""
        return self._data.get(row, 0)

    __getitem__ = weight

    def __contains__(self, row):
        return row in self._data

    def __iter__(self):
        return iter(self._data)

    def items(self):
        """``(row, weight)`` pairs, a live view."""
        return self._data.items()

    def __len__(self):
        """Number of distinct rows with a non-zero weight."""
        return len(self._data)

    def __bool__(self):
        return bool(self._data)

    def is_empty(self):
        return not self._data

    def total_weight(self):
        """Sum of all weights (the row count of a multiset), O(len)."""
        return sum(self._data.values())

    def rows(self):
        """Each row repeated by its weight, in a canonical order (for tests).

        Raises ``ValueError`` for a negative weight: only multisets expand.
        """
        out = []
        for row, weight in self._data.items():
            if weight < 0:
                raise ValueError(f"row {row!r} has negative weight {weight}")
            out.extend([row] * weight)
        return out

    def to_multiset(self):
        """The multiset as a ``collections.Counter`` (negative weights rejected)."""
        for row, weight in self._data.items():
            if weight < 0:
                raise ValueError(f"row {row!r} has negative weight {weight}")
        return Counter(self._data)

    # -- group operations ----------------------------------------------
    def add_row(self, row, weight=1):
        """In place: add ``weight`` to ``row``; O(1)."""
        if not weight:
            return
        data = self._data
        new = data.get(row, 0) + weight
        if new:
            data[row] = new
        else:
            del data[row]

    def add(self, other):
        """In place: ``self += other``; O(len(other)), never copies ``self``.
        A big ``other`` sharing no row with ``self`` (a population's ticks) is
        merged by one C-level ``dict.update``."""
        data = self._data
        if len(other._data) > _BULK_ADD and data.keys().isdisjoint(other._data):
            data.update(other._data)
            return self
        get = data.get
        for row, weight in other._data.items():
            new = get(row, 0) + weight
            if new:
                data[row] = new
            else:
                del data[row]
        return self

    __iadd__ = add

    def subtract(self, other):
        """In place: ``self -= other``; O(len(other))."""
        data = self._data
        get = data.get
        for row, weight in other._data.items():
            new = get(row, 0) - weight
            if new:
                data[row] = new
            else:
                del data[row]
        return self

    __isub__ = subtract

    def __add__(self, other):
        if len(self._data) >= len(other._data):
            return self.copy().add(other)
        return other.copy().add(self)

    def __sub__(self, other):
        return self.copy().subtract(other)

    def __neg__(self):
        return ZSet._wrap({row: -w for row, w in self._data.items()})

    def scale(self, k):
        """Multiply every weight by the integer ``k``; ``scale(0)`` is empty."""
        if not k:
            return ZSet()
        return ZSet._wrap({row: w * k for row, w in self._data.items()})

    # -- set-like views ---------------------------------------------------
    def distinct(self):
        """Rows with positive weight, each with weight 1 (the DBSP ``distinct``)."""
        return ZSet._wrap({row: 1 for row, w in self._data.items() if w > 0})

    def positive(self):
        """Rows with positive weight, keeping their weights."""
        return ZSet._wrap({row: w for row, w in self._data.items() if w > 0})

    def is_positive(self):
        """True when every weight is positive (the Z-set is a multiset)."""
        return all(w > 0 for w in self._data.values())

    # -- comparison -------------------------------------------------------
    def __eq__(self, other):
        if isinstance(other, ZSet):
            return self._data == other._data
        return NotImplemented

    __hash__ = None

    def __repr__(self):
        inner = ", ".join(f"{row!r}: {w}" for row, w in self._data.items())
        return f"ZSet({{{inner}}})"

    def _check(self):
        """Assert the invariants: dict-backed, int weights, no zero weight."""
        assert isinstance(self._data, dict)
        for row, weight in self._data.items():
            assert type(weight) is int, (row, weight)
            assert weight != 0, row
            hash(row)
