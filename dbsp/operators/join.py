"""Incremental equi-join: a bilinear operator over integrated indexed traces.

Rule (DBSP Thm 3.4): for bilinear x,
    (a x b)^Δ = Δa x Δb + Δa x I(b)[t-1] + I(a)[t-1] x Δb
computed here as  Δa x B_old  then  A_new x Δb  with A_new = A_old + Δa
(which folds the Δa x Δb term in; this is what makes a self-join with the
same delta on both sides correct).

Keys: ``left_key(row)`` / ``right_key(row)``; a key of ``None`` means the
row has no key (SQL NULL) and matches nothing; such rows are not stored.
Output rows are ``combine(left, right)`` (default tuple concatenation) with
weight ``w_left * w_right``.
State: both sides indexed by key, O(|A| + |B|) space.
Time per step: O(|Δa| + |Δb|) index probes plus O(output).
"""

from ..indexed_zset import IndexedZSet
from ..zset import ZSet
from .base import Operator


def concat(left, right):
    """Default join combiner: tuple concatenation."""
    return left + right


class Join(Operator):
    """Inner equi-join ``a ⋈ b`` on ``left_key(a) == right_key(b)``."""

    arity = 2

    def __init__(self, left_key, right_key, combine=concat, work=None):
        super().__init__(work)
        self.left_key = left_key
        self.right_key = right_key
        self.combine = combine
        self.left = IndexedZSet()
        self.right = IndexedZSet()

    def step(self, delta_left, delta_right):
        out = {}
        self._probe(delta_left, self.left_key, self.left, self.right, out, True)
        self._probe(delta_right, self.right_key, self.right, self.left, out, False)
        return ZSet._wrap(out)

    def _probe(self, delta, key_fn, own, other, out, delta_is_left):
        """Join ``delta`` against ``other``'s trace, then add it to ``own``.

        O(|delta|) probes + O(matches); called left first so the right delta
        sees the already-updated left trace (the Δa x Δb term). The trace update
        (``IndexedZSet.add_row``) is inlined: this loop is the whole cost of a
        view's initial population through a join.
        """
        data = delta._data
        if not data:
            return
        combine = self.combine
        index = own._index
        index_get = index.get
        lookup = other._index.get
        get = out.get
        work = self.work
        work.rows += len(data)
        work.lookups += len(data)
        matched = 0
        for row, weight in data.items():
            key = key_fn(row)
            if key is None:
                continue
            mine = index_get(key)
            if mine is None:
                index[key] = {row: weight}
            else:
                new = mine.get(row, 0) + weight
                if new:
                    mine[row] = new
                else:
                    del mine[row]
                    if not mine:
                        del index[key]
            group = lookup(key)
            if group is None:
                continue
            matched += len(group)
            if combine is concat:  # the default combiner, inlined
                for partner, partner_weight in group.items():
                    joined = row + partner if delta_is_left else partner + row
                    new = get(joined, 0) + weight * partner_weight
                    if new:
                        out[joined] = new
                    else:
                        del out[joined]
                continue
            for partner, partner_weight in group.items():
                joined = combine(row, partner) if delta_is_left else combine(partner, row)
                new = get(joined, 0) + weight * partner_weight
                if new:
                    out[joined] = new
                else:
                    del out[joined]
        work.rows += matched

    def _check(self):
        self.left._check()
        self.right._check()
