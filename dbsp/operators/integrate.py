"""Integration I (DBSP section 2): output at t is the sum of inputs 0..t.

``I`` turns a change stream into a value stream (the current table).
Cost O(|Δ|) per step: the running sum is updated in place and handed on
*live* (no copy); consumers must not mutate it.  On an empty delta the
previous value is returned without work.
"""

from ..zset import ZSet
from .base import Operator


class Integrate(Operator):
    """Running sum of the input stream; O(|Δ|) per step."""

    always_step = True

    def __init__(self, work=None):
        super().__init__(work)
        self.value = ZSet()

    def step(self, delta):
        if delta._data:
            self.work.rows += len(delta._data)
            self.value.add(delta)
        return self.value

    def _check(self):
        self.value._check()
