"""Plus (UNION ALL), minus and negate: the group operations as operators.

Incremental rule: all are linear, so they apply to deltas directly;
O(|Δa| + |Δb|) per step, no state.  ``UNION`` (set semantics) is
``distinct(plus(a, b))``, composed by the circuit builder.
"""

from ..zset import ZSet
from .base import Operator


class Plus(Operator):
    """``a + b`` (SQL UNION ALL) over any number of inputs."""

    def __init__(self, arity=2, work=None):
        super().__init__(work)
        self.arity = arity

    def step(self, *deltas):
        out = ZSet()
        for delta in deltas:
            self.work.rows += len(delta._data)
            out.add(delta)
        return out


class Minus(Operator):
    """``a - b`` (Z-set difference, not SQL EXCEPT)."""

    arity = 2

    def step(self, a, b):
        self.work.rows += len(a._data) + len(b._data)
        return a - b


class Negate(Operator):
    """``-a``: every weight negated."""

    def step(self, delta):
        self.work.rows += len(delta._data)
        return -delta
