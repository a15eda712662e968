"""Flat-map: each row yields zero or more output rows; linear.

Incremental rule: flat_map^Δ = flat_map; O(|Δ| + |output|) per step.
Each yielded row carries the input row's weight (yielding a row twice
doubles it), so ``flat_map`` also expresses unnest and table functions.
"""

from ..zset import ZSet
from .base import Operator


class FlatMap(Operator):
    """``row -> iterable of rows``; O(|Δ| + |out|)."""

    def __init__(self, fn, work=None):
        super().__init__(work)
        self.fn = fn

    def step(self, delta):
        fn = self.fn
        out = {}
        get = out.get
        self.work.rows += len(delta._data)
        for row, weight in delta._data.items():
            for new_row in fn(row):
                new = get(new_row, 0) + weight
                if new:
                    out[new_row] = new
                else:
                    del out[new_row]
        return ZSet._wrap(out)
