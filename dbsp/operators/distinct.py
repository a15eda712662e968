"""Incremental distinct via the H operator (DBSP Prop. 4.7).

distinct^Δ(Δ)[t] = H(I(Δ)[t-1], Δ[t]) where, per row r with previous
integrated weight w and change d:
    +1 if w <= 0 < w + d      (row appears)
    -1 if w + d <= 0 < w      (row disappears)
     0 otherwise.
State: the integrated input (row -> weight), O(#distinct rows) space.
Time per step O(|Δ|): one dict probe per delta row, no scan.
"""

from ..zset import ZSet
from .base import Operator


class Distinct(Operator):
    """Set semantics: output row weight is 1 iff integrated weight > 0."""

    def __init__(self, work=None):
        super().__init__(work)
        self.integral = {}

    def step(self, delta):
        integral = self.integral
        get = integral.get
        out = {}
        work = self.work
        work.rows += len(delta._data)
        work.lookups += len(delta._data)
        for row, change in delta._data.items():
            old = get(row, 0)
            new = old + change
            if new:
                integral[row] = new
            else:
                del integral[row]
            if old <= 0 < new:
                out[row] = 1
            elif new <= 0 < old:
                out[row] = -1
        return ZSet._wrap(out)

    def _check(self):
        for row, weight in self.integral.items():
            assert type(weight) is int and weight != 0, row
