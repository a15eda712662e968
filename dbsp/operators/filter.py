"""Filter (sigma): a linear operator.

Incremental rule: filter^Δ = filter (linear); O(|Δ|) per step, no state.
"""

from ..zset import ZSet
from .base import Operator


class Filter(Operator):
    """Keep rows where ``predicate(row)`` is truthy; O(|Δ|)."""

    def __init__(self, predicate, work=None):
        super().__init__(work)
        self.predicate = predicate

    def step(self, delta):
        predicate = self.predicate
        self.work.rows += len(delta._data)
        return ZSet._wrap({row: w for row, w in delta._data.items() if predicate(row)})
