"""Incremental semi-join and anti-join (IN / EXISTS / NOT EXISTS / INTERSECT / EXCEPT).

semi(a, b) keeps each row of ``a`` (with its own weight) whose key has a
non-empty group in ``b``; anti(a, b) keeps those whose key has none.  A
``None`` key never matches: such ``a`` rows are never in the semi-join and
always in the anti-join (the caller handles NOT IN's three-valued rules).

Rule: for each key k touched by Δa or Δb,
    out_k = [match_new(k)] A_new[k] - [match_old(k)] A_old[k]
(match = "b has rows under k"; anti uses the negation).  If k's match status
is unchanged only Δa[k] flows; if it flips, the whole group A[k] is emitted
or retracted, which is proportional to the output change.
State: A and B indexed by key, O(|A| + |B|).
Time per step O(|Δa| + |Δb|) probes + O(size of groups that flip).
The same rule null-pads dangling rows of outer joins (``outer_join.py``).
"""

from ..indexed_zset import IndexedZSet
from ..zset import ZSet
from .base import Operator


def match_status(delta_other, other_key, other_trace):
    """For each key of ``delta_other``: does ``other_trace`` hold it *now*?

    Call before applying the delta; O(|delta_other|) probes.
    """
    index = other_trace._index
    status = {}
    for row in delta_other._data:
        key = other_key(row)
        if key is not None and key not in status:
            status[key] = key in index
    return status


def apply_delta(delta, key_fn, trace):
    """Add ``delta`` to ``trace`` under ``key_fn`` (None keys skipped); O(|delta|)."""
    add_row = trace.add_row
    for row, weight in delta._data.items():
        key = key_fn(row)
        if key is not None:
            add_row(key, row, weight)


def filtered_delta(delta_own, own_key, own_trace, status_before, other_trace,
                   keep_matched, emit, work):
    """Emit the change of ``{r in A : matched(key r) == keep_matched}``.

    ``own_trace``/``other_trace`` are already updated; ``status_before`` comes
    from ``match_status``.  ``emit(row, weight)`` receives output rows.
    O(|Δ| + |flipped groups|).
    """
    other_index = other_trace._index
    flipped_delta = {}
    work.rows += len(delta_own._data)
    work.lookups += len(delta_own._data)
    for row, weight in delta_own._data.items():
        key = own_key(row)
        if key is None:
            if not keep_matched:
                emit(row, weight)
            continue
        matched_now = key in other_index
        before = status_before.get(key)
        if before is not None and before != matched_now:
            flipped_delta.setdefault(key, []).append((row, weight))
        elif matched_now == keep_matched:
            emit(row, weight)
    own_index = own_trace._index
    for key, matched_before in status_before.items():
        matched_now = key in other_index
        if matched_before == matched_now:
            continue
        # Status flipped: A_new[k] enters, or A_old[k] = A_new[k] - Δa[k] leaves.
        sign = 1 if matched_now == keep_matched else -1
        group = own_index.get(key)
        if group is not None:
            work.rows += len(group)
            for row, weight in group.items():
                emit(row, sign * weight)
        if sign == -1:
            for row, weight in flipped_delta.get(key, ()):
                emit(row, weight)


class SemiJoin(Operator):
    """``a ⋉ b``; subclass ``AntiJoin`` flips the match condition."""

    arity = 2
    keep_matched = True

    def __init__(self, left_key, right_key, work=None):
        super().__init__(work)
        self.left_key = left_key
        self.right_key = right_key
        self.left = IndexedZSet()
        self.right = IndexedZSet()

    def step(self, delta_left, delta_right):
        status = match_status(delta_right, self.right_key, self.right)
        self.work.rows += len(delta_right._data)
        self.work.lookups += len(delta_right._data)
        apply_delta(delta_right, self.right_key, self.right)
        apply_delta(delta_left, self.left_key, self.left)
        out = ZSet()
        filtered_delta(delta_left, self.left_key, self.left, status, self.right,
                       self.keep_matched, out.add_row, self.work)
        return out

    def _check(self):
        self.left._check()
        self.right._check()


class AntiJoin(SemiJoin):
    """``a ▷ b``: rows of ``a`` with no partner in ``b``."""

    keep_matched = False
