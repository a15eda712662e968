"""Cross join and theta join (join on an arbitrary predicate).

Bilinear like the equi-join, but with no key to index on:
    out = Δa x B_old  +  A_new x Δb,  filtered by predicate(left, right).
State: both integrated inputs as Z-sets.  Time per step
O(|Δa|·|B| + |A|·|Δb|): each delta row meets the whole other side (counted
as a scan in the work counter).  Prefer ``Join`` when an equality exists;
a theta join with an equality conjunct should be compiled as Join + Filter.
"""

from ..zset import ZSet
from .base import Operator
from .join import concat


class ThetaJoin(Operator):
    """``a ⋈_θ b``; ``predicate=None`` gives the cross product."""

    arity = 2

    def __init__(self, predicate=None, combine=concat, work=None):
        super().__init__(work)
        self.predicate = predicate
        self.combine = combine
        self.left = ZSet()
        self.right = ZSet()

    def step(self, delta_left, delta_right):
        out = ZSet()
        if delta_left._data:
            self._cross(delta_left._data, self.right._data, out, True)
            self.left.add(delta_left)
        if delta_right._data:
            self._cross(delta_right._data, self.left._data, out, False)
            self.right.add(delta_right)
        return out

    def _cross(self, delta, other, out, delta_is_left):
        """Pair every delta row with every row of ``other``; O(|Δ|·|other|)."""
        predicate = self.predicate
        combine = self.combine
        add_row = out.add_row
        work = self.work
        work.scans += len(delta)
        work.rows += len(delta) * (1 + len(other))
        for row, weight in delta.items():
            for partner, partner_weight in other.items():
                left, right = (row, partner) if delta_is_left else (partner, row)
                if predicate is None or predicate(left, right):
                    add_row(combine(left, right), weight * partner_weight)

    def _check(self):
        self.left._check()
        self.right._check()


def cross_join(combine=concat, work=None):
    """CROSS JOIN operator (theta join with no predicate)."""
    return ThetaJoin(None, combine, work)
