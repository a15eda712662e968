"""Aggregate functions with retraction, for ``GroupAggregate``.

Each aggregate keeps one mutable *state* per group and supports
``add(state, row, weight)`` with negative weights (retraction) and
``result(state)``.  SQL rules (caller-visible, SQLite's):

* the value extractor ``value(row)`` may return ``None`` (SQL NULL): skipped;
  ``Count(None)`` is COUNT(*) and counts rows;
* ``Sum`` of no non-NULL value is ``None``; ints stay ``int``; any float makes
  the result ``float``; ``Total`` is always float (``0.0`` when empty);
  ``Avg`` is ``None`` when empty;
* ``distinct=True`` feeds each distinct value once (COUNT(DISTINCT x)): a
  per-group value -> multiplicity map forwards only 0 <-> positive crossings.

Float sums never drift: every float is added *exactly* as an integer
multiple of 2**-1074 (a Python int), so after any insert/delete history the
result is the correctly rounded sum of the current multiset, equal to
``math.fsum`` of it.  Infinities and NaN are counted separately.

Costs per update: Count/Sum/Total/Avg O(1); Min/Max O(log n) (sorted buckets,
retraction-aware); GroupConcat O(log n) per update and O(group) per result.
"""

import math
from collections import Counter

from sortedcontainers import SortedDict

_SCALE_BITS = 1074  # 2**-1074 is the smallest positive double
_SCALE = 1 << _SCALE_BITS


def _identity(value):
    return value


class Aggregate:
    """Base class: ``value`` extractor, NULL skipping and DISTINCT handling."""

    star_allowed = False

    def __init__(self, value=None, distinct=False):
        if value is None and not self.star_allowed:
            raise ValueError(f"{type(self).__name__} needs a value extractor")
        if value is None and distinct:
            raise ValueError("DISTINCT needs a value extractor (COUNT(DISTINCT *) is not SQL)")
        self.value = value
        self.distinct = distinct

    def new_state(self):
        """A fresh per-group state (wrapped with a multiplicity map if DISTINCT)."""
        inner = self._new()
        return [inner, {}] if self.distinct else inner

    def add(self, state, row, weight):
        """Add ``weight`` copies of ``row`` (negative = retract); skips NULLs."""
        extract = self.value
        value = row if extract is None else extract(row)
        if value is None:
            return
        if not self.distinct:
            self._add(state, value, row, weight)
            return
        inner, seen = state
        old = seen.get(value, 0)
        new = old + weight
        if new:
            seen[value] = new
        else:
            del seen[value]
        if old <= 0 < new:
            self._add(inner, value, row, 1)
        elif new <= 0 < old:
            self._add(inner, value, row, -1)

    def add_many(self, state, pairs):
        """``add`` for each ``(row, weight)`` of ``pairs`` (overridden where a batch is
        cheaper than its rows one by one)."""
        add = self.add
        for row, weight in pairs:
            add(state, row, weight)

    def add_rows(self, state, rows):
        """``add_many`` with every weight 1 (a population batch); overridden where
        that runs at C speed."""
        self.add_many(state, [(row, 1) for row in rows])

    def result(self, state):
        return self._result(state[0] if self.distinct else state)

    def _check_state(self, state):
        """Assert the state invariants (overridden where there is structure)."""
        if self.distinct:
            for value, count in state[1].items():
                assert type(count) is int and count != 0, value


class Count(Aggregate):
    """COUNT(*) when ``value`` is None, else COUNT(value); O(1)."""

    star_allowed = True

    def _new(self):
        return [0]

    def _add(self, state, value, row, weight):
        state[0] += weight

    def add_many(self, state, pairs):
        """Batch COUNT: one pass summing the weights of non-NULL values. O(len(pairs))."""
        if self.distinct:
            super().add_many(state, pairs)
            return
        extract = self.value
        if extract is None:
            state[0] += sum([w for _row, w in pairs])
            return
        state[0] += sum([w for row, w in pairs if extract(row) is not None])

    def add_rows(self, state, rows):
        """Batch COUNT of weight-1 rows: a C-level count of the NULLs."""
        if self.distinct:
            super().add_rows(state, rows)
            return
        extract = self.value
        if extract is None:
            state[0] += len(rows)
        else:
            state[0] += len(rows) - list(map(extract, rows)).count(None)

    def _result(self, state):
        return state[0]


class Sum(Aggregate):
    """SUM: exact int and float partial sums; O(1) per update.

    State: [non-NULL count, int sum, scaled float sum, float count,
    +inf count, -inf count, NaN count].
    """

    def _new(self):
        return [0, 0, 0, 0, 0, 0, 0]

    def add_many(self, state, pairs):
        """Batch SUM: integers are summed in one pass; any other value goes through
        ``_add`` (floats, and what subclasses convert). Same state as ``add`` per
        pair, O(len(pairs))."""
        if self.distinct:
            super().add_many(state, pairs)
            return
        extract = self.value
        add = self._add
        count = 0
        total = 0
        for row, weight in pairs:
            value = row if extract is None else extract(row)
            if type(value) is int:
                count += weight
                total += value * weight
            elif value is not None:
                add(state, value, row, weight)
        state[0] += count
        state[1] += total

    def add_rows(self, state, rows):
        """Batch SUM of weight-1 rows: all-integer values (the common case) are
        summed in C; otherwise each non-integer goes through ``_add``."""
        if self.distinct:
            super().add_rows(state, rows)
            return
        extract = self.value
        values = rows if extract is None else list(map(extract, rows))
        if set(map(type, values)) == {int}:
            state[0] += len(values)
            state[1] += sum(values)
            return
        add = self._add
        count = 0
        total = 0
        for row, value in zip(rows, values):
            if type(value) is int:
                count += 1
                total += value
            elif value is not None:
                add(state, value, row, 1)
        state[0] += count
        state[1] += total

    def _add(self, state, value, row, weight):
        state[0] += weight
        kind = type(value)
        if kind is int or kind is bool:
            state[1] += value * weight
            return
        if kind is not float:
            raise TypeError(f"{type(self).__name__} expects int or float values, got {kind.__name__}")
        state[3] += weight
        if math.isfinite(value):
            numerator, denominator = value.as_integer_ratio()
            shift = _SCALE_BITS - (denominator.bit_length() - 1)
            state[2] += (numerator << shift) * weight
        elif value != value:
            state[6] += weight
        elif value > 0:
            state[4] += weight
        else:
            state[5] += weight

    @staticmethod
    def _float_total(state):
        """Correctly rounded float of the exact sum (IEEE rules for inf/NaN)."""
        if state[6] or (state[4] and state[5]):
            return math.nan
        if state[4]:
            return math.inf
        if state[5]:
            return -math.inf
        exact = (state[1] << _SCALE_BITS) + state[2]
        try:
            return exact / _SCALE
        except OverflowError:
            return math.inf if exact > 0 else -math.inf

    def _result(self, state):
        if not state[0]:
            return None
        if not state[3]:
            return state[1]
        return self._float_total(state)


class Total(Sum):
    """TOTAL: like SUM but always float, 0.0 over no values."""

    def _result(self, state):
        if not state[0]:
            return 0.0
        return self._float_total(state)


class Avg(Sum):
    """AVG: exact sum / count as float; None over no values."""

    def _result(self, state):
        count = state[0]
        if not count:
            return None
        if state[3] and not math.isfinite(self._float_total(state)):
            return self._float_total(state)
        exact = (state[1] << _SCALE_BITS) + state[2]
        return exact / (_SCALE * count)


class _Extremum(Aggregate):
    """Shared MIN/MAX over an ordered multiset ``key(value) -> {value: multiplicity}``.

    The state is a one-slot list holding that multiset: a plain dict while the
    group has at most ``SMALL`` distinct keys (``min``/``max`` over them is
    cheaper than a SortedDict, whose construction alone costs more than a small
    group's whole life), promoted to a SortedDict past that, so big groups keep
    O(log n) updates and O(1) results.
    """

    SMALL = 32

    def __init__(self, value, key=None, distinct=False):
        super().__init__(value, distinct)
        self.key = key if key is not None else _identity

    def _new(self):
        return [{}]

    def _add(self, state, value, row, weight):
        multiset = state[0]
        _bucket_add(multiset, self.key(value), value, weight)
        if type(multiset) is dict and len(multiset) > self.SMALL:
            state[0] = SortedDict(multiset)

    def add_many(self, state, pairs):
        """Batch insert: bucket the values locally, then merge; into an empty state
        that is one sort, O(n log n) in C, instead of n sorted inserts."""
        if self.distinct:
            super().add_many(state, pairs)
            return
        extract = self.value
        # Weights per value first (rows repeat values), so ``key`` runs once per
        # distinct value; equal values have equal keys, as in ``_add``'s buckets.
        counts = {}
        get = counts.get
        for row, weight in pairs:
            value = extract(row)
            if value is not None:
                counts[value] = get(value, 0) + weight
        self._add_counts(state, counts)

    def add_rows(self, state, rows):
        """``add_many`` of weight-1 rows: the values counted in C (``Counter``)."""
        if self.distinct:
            super().add_rows(state, rows)
            return
        counts = Counter(map(self.value, rows))
        counts.pop(None, None)
        self._add_counts(state, counts)

    def _add_counts(self, state, counts):
        """Add ``{value: weight}`` to the ordered multiset: bucketed by key, then
        built with one sort (empty state) or merged (``_merge``)."""
        key = self.key
        retracts = False
        local = {}
        get = local.get
        for value, weight in counts.items():
            if weight <= 0:
                retracts = True
            k = key(value)
            bucket = get(k)
            if bucket is None:
                local[k] = {value: weight}
            else:
                bucket[value] = bucket.get(value, 0) + weight
        if state[0]:
            self._merge(state, local, retracts)
            return
        if retracts:
            for k in [k for k, b in local.items() if not _prune(b)]:
                del local[k]
        state[0] = SortedDict(local) if len(local) > self.SMALL else local

    def _merge(self, state, local, retracts):
        """Merge a batch's buckets (``key -> {value: weight}``) into a non-empty
        state: shared keys bucket by bucket, new keys in one ``update`` (SortedDict
        re-sorts once for a batch that is big next to it). O(batch log n)."""
        multiset = state[0]
        fresh = {}
        for k, batch in local.items():
            bucket = multiset.get(k)
            if bucket is None:
                if not retracts or _prune(batch):
                    fresh[k] = batch
                continue
            for value, weight in batch.items():
                if not weight:
                    continue
                new = bucket.get(value, 0) + weight
                if new:
                    bucket[value] = new
                else:
                    del bucket[value]
            if not bucket:
                del multiset[k]
        if fresh:
            multiset.update(fresh)
        if type(multiset) is dict and len(multiset) > self.SMALL:
            state[0] = SortedDict(multiset)

    def _result(self, state):
        multiset = state[0]
        if not multiset:
            return None
        if type(multiset) is dict:
            bucket = multiset[min(multiset) if self.end == 0 else max(multiset)]
        else:
            bucket = multiset.peekitem(self.end)[1]
        return next(iter(bucket))

    def _check_state(self, state):
        super()._check_state(state)
        inner = (state[0] if self.distinct else state)[0]
        assert type(inner) is SortedDict or len(inner) <= self.SMALL, len(inner)
        for sort_key, bucket in inner.items():
            assert bucket, sort_key
            for value, count in bucket.items():
                assert count != 0 and self.key(value) == sort_key, value


class Min(_Extremum):
    """MIN by ``key(value)``; retraction-aware, O(log n) per update."""

    end = 0


class Max(_Extremum):
    """MAX by ``key(value)``; retraction-aware, O(log n) per update."""

    end = -1


class GroupConcat(Aggregate):
    """group_concat(value, separator) with elements ordered by ``order_key(row)``.

    Without ``order_key`` elements keep first-insertion order.  Non-str
    values are converted with ``str`` (callers format SQL values first).
    Under DISTINCT, ``order_key`` must depend on the value only.
    """

    def __init__(self, value, separator=",", order_key=None, distinct=False):
        super().__init__(value, distinct)
        self.separator = separator
        self.order_key = order_key

    def _new(self):
        return SortedDict() if self.order_key is not None else {}

    def _add(self, state, value, row, weight):
        if self.order_key is None:
            new = state.get(value, 0) + weight
            if new:
                state[value] = new
            else:
                del state[value]
            return
        _bucket_add(state, self.order_key(row), value, weight)

    def _result(self, state):
        if not state:
            return None
        parts = []
        buckets = state.values() if self.order_key is not None else [state]
        for bucket in buckets:
            for value, count in bucket.items():
                text = value if type(value) is str else str(value)
                parts.extend([text] * count)
        return self.separator.join(parts)


def _prune(bucket) -> bool:
    """Drop zero multiplicities from ``bucket``; True if anything is left."""
    for value in [v for v, w in bucket.items() if not w]:
        del bucket[value]
    return bool(bucket)


def _bucket_add(state, sort_key, value, weight: int) -> None:
    """Add ``weight`` to ``value`` in the bucket of ``sort_key`` of an ordered
    multiset (``state``: sort key -> {value: weight}); empty buckets are removed.
    O(log n)."""
    bucket = state.get(sort_key)
    if bucket is None:
        if weight:
            state[sort_key] = {value: weight}
        return
    new = bucket.get(value, 0) + weight
    if new:
        bucket[value] = new
    else:
        del bucket[value]
        if not bucket:
            del state[sort_key]
