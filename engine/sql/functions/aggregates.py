"""SQLite's built-in aggregate functions (lang_aggfunc.html), as SQLite 3.40's
func.c computes them, with ``inverse`` so window frames can slide.

Each accumulator has ``step(*args)``, ``inverse(*args)``, ``value()`` and
``finalize()``; all are O(1) per row except min/max (O(log n), a sorted
multiset so rows can leave a frame) and group_concat's ``value`` (O(length)).
SQLite 3.40 has no string_agg (added in 3.44), so neither do we.
"""

from __future__ import annotations

import itertools
from collections import deque
from functools import reduce
from operator import add

from sortedcontainers import SortedList

from engine.sql.functions.registry import SqlFunctionError, aggregate
from engine.values import (
    INT64_MAX, INT64_MIN, numeric_value, sort_key_function, to_real, to_text)

_NUMBER_TYPES = frozenset((int, float))


@aggregate("count", 0)
class CountStar:
    """count(*): the number of rows."""

    __slots__ = ("n",)

    def __init__(self):
        self.n = 0

    def step(self):
        self.n += 1

    def step_rows(self, n: int):
        """``step()`` ``n`` times (batched plain aggregation). O(1)."""
        self.n += n

    def inverse(self):
        self.n -= 1

    def value(self):
        return self.n

    finalize = value


@aggregate("count", 1)
class Count:
    """count(X): the number of rows where X is not NULL."""

    __slots__ = ("n",)

    def __init__(self):
        self.n = 0

    def step(self, x):
        if x is not None:
            self.n += 1

    def step_values(self, values: list):
        """``step(x)`` for each x of ``values``. O(len(values)) in C."""
        self.n += len(values) - values.count(None)

    def inverse(self, x):
        if x is not None:
            self.n -= 1

    def value(self):
        return self.n

    finalize = value


def _real(r: float):
    """A REAL result; NaN (inf + -inf) is NULL, as sqlite3_result_double makes it."""
    return None if r != r else r


class _SumState:
    """The SumCtx of func.c: a REAL running sum, an exact INTEGER sum that is
    valid while every input was an INTEGER (``approx`` false), and a sticky
    ``overflow`` flag. Numeric-looking text counts as INTEGER or REAL as
    ``sqlite3_value_numeric_type`` says; other text and BLOBs add their REAL
    value and make the sum approximate."""

    __slots__ = ("rsum", "isum", "cnt", "approx", "overflow")

    def __init__(self):
        self.rsum = 0.0
        self.isum = 0
        self.cnt = 0
        self.approx = False
        self.overflow = False

    def step(self, x):
        if x is None:
            return
        self.cnt += 1
        number = x if type(x) is int else numeric_value(x)  # ints: the hot path
        if type(number) is int:
            self.rsum += number
            if not (self.approx or self.overflow):
                s = self.isum + number
                if INT64_MIN <= s <= INT64_MAX:
                    self.isum = s
                else:
                    self.approx = self.overflow = True
        else:
            self.rsum += to_real(x)
            self.approx = True

    def step_values(self, values: list):
        """``step(x)`` for each x of ``values`` in order, leaving exactly the state
        the single steps would: the REAL sum is the same left-to-right additions,
        and the INTEGER sum is checked for int64 overflow at every partial sum
        unless a bound shows none can overflow. C loops (``functools.reduce``,
        ``sum``) when the values are all INTEGER or all REAL. O(len(values))."""
        kinds = set(map(type, values))
        if type(None) in kinds:
            values = [x for x in values if x is not None]
            kinds.discard(type(None))
        if not values:
            return
        if kinds == {float}:
            self.cnt += len(values)
            self.rsum = reduce(add, values, self.rsum)
            self.approx = True
        elif kinds == {int}:
            self.cnt += len(values)
            self.rsum = reduce(add, values, self.rsum)  # float + int, one at a time
            if not (self.approx or self.overflow):
                self._add_integers(values)
        else:
            step = self.step
            for x in values:
                step(x)

    def _add_integers(self, values: list):
        """Add INTEGER ``values`` to the exact sum, stopping at the first partial sum
        outside int64 (sumStep's overflow) as single steps would."""
        s = self.isum
        bound = max(max(values), -min(values))
        if abs(s) + len(values) * bound <= INT64_MAX:  # no partial sum can overflow
            self.isum = s + sum(values)
            return
        for x in values:
            total = s + x
            if not INT64_MIN <= total <= INT64_MAX:
                self.approx = self.overflow = True
                break
            s = total
        self.isum = s

    def inverse(self, x):
        if x is None:
            return
        self.cnt -= 1
        number = numeric_value(x)
        if type(number) is int:
            self.rsum -= number
            # sumInverse subtracts without an overflow check (two's-complement wrap).
            s = (self.isum - number) & 0xFFFFFFFFFFFFFFFF
            self.isum = s - (1 << 64) if s > INT64_MAX else s
        else:
            self.rsum -= to_real(x)


@aggregate("sum", 1)
class Sum(_SumState):
    """sum(X): INTEGER while all inputs are integers ("integer overflow" error
    if that overflows int64), REAL otherwise, NULL when no non-NULL input."""

    __slots__ = ()

    def value(self):
        if self.cnt <= 0:
            return None
        if self.overflow:
            raise SqlFunctionError("integer overflow")
        if self.approx:
            return _real(self.rsum)
        return self.isum

    finalize = value


@aggregate("total", 1)
class Total(_SumState):
    """total(X): the REAL sum, 0.0 when there are no non-NULL inputs."""

    __slots__ = ()

    def value(self):
        return _real(self.rsum)

    finalize = value


@aggregate("avg", 1)
class Avg(_SumState):
    """avg(X): REAL sum / count of non-NULL inputs, NULL when there are none."""

    __slots__ = ()

    def value(self):
        if self.cnt <= 0:
            return None
        return _real(self.rsum / self.cnt)

    finalize = value


class _MinMax:
    """A sorted multiset of the non-NULL inputs, ordered by SQLite's ordering
    (``sort_key``) and then arrival, so equal values resolve to the earliest,
    as minmaxStep keeps the first of equals. O(log n) per step/inverse."""

    __slots__ = ("_items", "_key", "_seq", "latest")

    def __init__(self, collation: str = "BINARY"):
        self._items = SortedList()
        self._key = sort_key_function(collation)
        self._seq = itertools.count()
        # SQLite computes min/max over a frame whose start moves through an ordered
        # ephemeral table, where the last-added of equal values wins; with a frame
        # that grows from UNBOUNDED PRECEDING it steps, and the first of equals wins.
        self.latest = False

    def step(self, x):
        if x is not None:
            self._items.add((self._key(x), next(self._seq), x))

    def inverse(self, x):
        """Remove the earliest-arrived stored value identical (type and value) to x."""
        if x is None:
            return
        items = self._items
        key = self._key(x)
        i = items.bisect_left((key,))
        while i < len(items) and items[i][0] == key:
            stored = items[i][2]
            if type(stored) is type(x) and stored == x:
                del items[i]
                return
            i += 1
        raise ValueError(f"inverse() of a value never stepped: {x!r}")

    def _check(self):
        keys = [(k, s) for k, s, _ in self._items]
        assert keys == sorted(keys)
        assert all(v is not None for _, _, v in self._items)


class RunningExtreme:
    """min(X)/max(X) for plain aggregation (no window frame ever removes a row):
    the running extreme under SQLite's ordering, O(1) per step. Equal values keep
    the first one seen, as minmaxStep does. ``inverse`` is not available: window
    frames use Min/Max, which keep the whole multiset."""

    __slots__ = ("_key", "_best", "_best_key", "_want_max")

    def __init__(self, want_max: bool, collation: str = "BINARY", key=None):
        self._key = key if key is not None else sort_key_function(collation)
        self._best = None
        self._best_key = None
        self._want_max = want_max

    def step(self, x):
        if x is None:
            return
        k = self._key(x)
        best = self._best_key
        if best is None or (k > best if self._want_max else k < best):
            self._best, self._best_key = x, k

    def step_values(self, values: list):
        """``step(x)`` for each x of ``values``: the batch's extreme (Python's max/min
        return the first of equals, as minmaxStep keeps) is stepped once. Numbers
        compare directly (C); other values through the collation's sort key."""
        kinds = set(map(type, values))
        if type(None) in kinds:
            values = [x for x in values if x is not None]
            kinds.discard(type(None))
        if not values:
            return
        pick = max if self._want_max else min
        if kinds <= _NUMBER_TYPES:
            self.step(pick(values))
        else:
            self.step(pick(values, key=self._key))

    def value(self):
        return self._best

    finalize = value


@aggregate("min", 1)
class Min(_MinMax):
    """min(X): the smallest non-NULL value, NULL if none."""

    __slots__ = ()

    def value(self):
        items = self._items
        if not items:
            return None
        if self.latest:
            return items[items.bisect_left((items[0][0], float("inf"))) - 1][2]
        return items[0][2]

    finalize = value


@aggregate("max", 1)
class Max(_MinMax):
    """max(X): the largest non-NULL value (the earliest of equals), NULL if none."""

    __slots__ = ()

    def value(self):
        items = self._items
        if not items:
            return None
        if self.latest:
            return items[-1][2]
        return items[items.bisect_left((items[-1][0],))][2]

    finalize = value


class _GroupConcat:
    """group_concat: the texts of non-NULL inputs, each after the separator given
    on its own row (none before the first). ``inverse`` drops the oldest input
    and the separator that followed it, as groupConcatInverse does."""

    __slots__ = ("_pieces",)

    def __init__(self):
        self._pieces = deque()

    def _add(self, x, sep):
        if x is not None:
            self._pieces.append(("" if sep is None else to_text(sep), to_text(x)))

    def inverse(self, x, sep=","):
        if x is not None and self._pieces:
            self._pieces.popleft()

    def _text(self):
        pieces = self._pieces
        if not pieces:
            return None
        it = iter(pieces)
        first = next(it)[1]
        return first + "".join(s + t for s, t in it)

    def value(self):
        text = self._text()
        return text if text else None

    def finalize(self):
        return self._text()


@aggregate("group_concat", 1)
class GroupConcat(_GroupConcat):
    """group_concat(X): texts joined by ','."""

    __slots__ = ()

    def step(self, x):
        self._add(x, ",")


@aggregate("group_concat", 2)
class GroupConcatSep(_GroupConcat):
    """group_concat(X, SEP): texts joined by each row's SEP (NULL SEP: nothing)."""

    __slots__ = ()

    def step(self, x, sep):
        self._add(x, sep)


class Distinct:
    """Wraps an accumulator for ``agg(DISTINCT x)``: each distinct argument tuple
    is passed on once; with ``inverse`` a reference count per value decides when
    it really leaves. Distinctness is SQLite's equality (1 and 1.0 are the same
    value; text compared BINARY unless ``collation`` is given); NULL is one more
    value, passed on once (json_group_array(DISTINCT x) holds one null, count and
    sum skip it themselves). O(1) per row."""

    __slots__ = ("inner", "_counts", "_key")

    def __init__(self, inner, collation: str = "BINARY"):
        self.inner = inner
        self._counts: dict = {}
        self._key = sort_key_function(collation)

    def _ident(self, args):
        key = self._key
        # a JSON-subtyped text (a str subclass) is the same value as its plain text
        return tuple(key(str(a) if isinstance(a, str) and type(a) is not str else a)
                     for a in args)

    def step(self, *args):
        ident = self._ident(args)
        entry = self._counts.get(ident)
        if entry is None:
            self._counts[ident] = [1, args]
            self.inner.step(*args)
        else:
            entry[0] += 1

    def inverse(self, *args):
        """Remove one row; the inner accumulator sees the value it was given."""
        ident = self._ident(args)
        entry = self._counts[ident]
        entry[0] -= 1
        if entry[0] == 0:
            del self._counts[ident]
            self.inner.inverse(*entry[1])

    def value(self):
        return self.inner.value()

    def finalize(self):
        return self.inner.finalize()

    def _check(self):
        assert all(n > 0 for n, _ in self._counts.values())
