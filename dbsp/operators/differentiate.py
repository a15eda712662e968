"""Differentiation D (DBSP section 2): output at t is x[t] - x[t-1].

``D`` turns a value stream into its change stream; ``D(I(s)) = s``.
Cost O(|x[t]| + |x[t-1]|) per step: it must compare whole values, so it
belongs at the edge of a circuit (tests, non-incremental references), not
on a hot path.  The previous value is copied because value streams (the
output of ``integrate``) are live objects that change later.
"""

from ..zset import ZSet
from .base import Operator


class Differentiate(Operator):
    """``x - z^-1(x)``; O(|x|) per step."""

    always_step = True

    def __init__(self, work=None):
        super().__init__(work)
        self._previous = ZSet()

    def step(self, value):
        self.work.rows += len(value._data) + len(self._previous._data)
        self.work.scans += 1
        out = value - self._previous
        self._previous = value.copy()
        return out

    def _check(self):
        self._previous._check()
