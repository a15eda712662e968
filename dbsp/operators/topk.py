"""Incremental top-k per partition (ORDER BY ... LIMIT ... OFFSET ...).

Each partition keeps its integrated rows in a ``SortedList`` of entries
``(sort_key(row), tie_key(row), row)``, one entry per unit of weight; the
output is the window of positions ``[offset, offset + limit)``.  Ties are
broken deterministically by ``tie_key`` (default: a total order over the
row's values, ``dbsp.order.total_order_key``), so the output is a function
of the integrated input alone.

Rule, per unit insertion at position i (deletion symmetric):
  i <  offset:        the entry pushed to position ``offset`` enters the
                      window, the one pushed to ``offset + limit`` leaves;
  offset <= i < end:  the new entry enters, the one pushed past the end leaves;
  i >= end:           nothing.
So deleting a row inside the top k promotes the next one.
Time per unit change O(log n) (SortedList index/bisect); no scan.  Space
O(n) entries.  Integrated weights must stay non-negative (SQL tables).
"""

from sortedcontainers import SortedList

from ..order import total_order_key
from ..zset import ZSet
from .base import Operator


class TopK(Operator):
    """Rows ranked ``offset .. offset+limit-1`` of each partition by ``sort_key``.

    ``limit`` and ``offset`` are numbers, or callables ``f(partition key)`` giving each
    partition its own (a parametrized LIMIT ?: one operator serves every binding).
    """

    def __init__(self, sort_key, limit=None, offset=0, partition_key=None,
                 tie_key=total_order_key, work=None):
        super().__init__(work)
        if not callable(limit) and limit is not None and limit < 0:
            raise ValueError("top-k limit must be >= 0 or None")
        if not callable(offset) and offset < 0:
            raise ValueError("top-k offset must be >= 0")
        self.sort_key = sort_key
        self.limit = limit
        self.offset = offset
        self.partition_key = partition_key
        self.tie_key = tie_key
        self.partitions = {}

    def step(self, delta):
        partitions = self.partitions
        partition_key = self.partition_key
        sort_key = self.sort_key
        tie_key = self.tie_key
        out = ZSet()
        emit = out.add_row
        work = self.work
        work.rows += len(delta._data)
        work.lookups += len(delta._data)
        # Retractions first so a row replaced within one step never transiently
        # overflows; the final output does not depend on the order.
        for row, weight in sorted(delta._data.items(), key=lambda item: item[1] > 0):
            part = () if partition_key is None else partition_key(row)
            entries = partitions.get(part)
            if entries is None:
                entries = partitions[part] = SortedList()
            entry = (sort_key(row), tie_key(row), row)
            window = self._window(part)
            if weight > 0:
                for _ in range(weight):
                    self._insert(entries, entry, emit, *window)
            else:
                for _ in range(-weight):
                    self._remove(entries, entry, emit, *window)
                if not entries:
                    del partitions[part]
        return out

    def _window(self, part):
        """``(offset, end)`` of ``part``'s window (end None: unbounded)."""
        limit, offset = self.limit, self.offset
        if callable(limit):
            limit = limit(part)
        if callable(offset):
            offset = offset(part)
        offset = max(offset, 0)
        return offset, (None if limit is None or limit < 0 else offset + limit)

    def _insert(self, entries, entry, emit, offset, end):
        """Insert one unit of ``entry``; emit the window change. O(log n)."""
        index = entries.bisect_right(entry)
        entries.add(entry)
        if end is not None and index >= end:
            return
        if index < offset:
            if len(entries) > offset:
                emit(entries[offset][2], 1)
        else:
            emit(entry[2], 1)
        if end is not None and len(entries) > end:
            emit(entries[end][2], -1)

    def _remove(self, entries, entry, emit, offset, end):
        """Remove one unit of ``entry``; emit the window change. O(log n)."""
        index = entries.bisect_left(entry)
        if index >= len(entries) or entries[index] != entry:
            raise ValueError(f"top-k: retraction of absent row {entry[2]!r} "
                             "(integrated weights must stay non-negative)")
        if end is not None and index >= end:
            del entries[index]
            return
        if index < offset:
            if len(entries) > offset:
                emit(entries[offset][2], -1)
        else:
            emit(entry[2], -1)
        if end is not None and len(entries) > end:
            emit(entries[end][2], 1)
        del entries[index]

    def _check(self):
        for part, entries in self.partitions.items():
            assert len(entries) > 0, part
            entries._check()
