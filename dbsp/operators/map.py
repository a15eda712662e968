"""Map and project: linear operators, applied to deltas unchanged.

Incremental rule: a linear operator L satisfies L^Δ = L (DBSP Thm 3.3), so
``map(f)`` runs on each delta row.  Cost per step O(|Δ|) time, no state.
Weights of rows mapping to the same output add up (and may cancel).
"""

from ..zset import ZSet
from .base import Operator


class Map(Operator):
    """``row -> fn(row)``, weights summed; O(|Δ|)."""

    def __init__(self, fn, work=None):
        super().__init__(work)
        self.fn = fn

    def step(self, delta):
        fn = self.fn
        out = {}
        get = out.get
        items = delta._data.items()
        self.work.rows += len(delta._data)
        for row, weight in items:
            new_row = fn(row)
            new = get(new_row, 0) + weight
            if new:
                out[new_row] = new
            else:
                del out[new_row]
        return ZSet._wrap(out)


def _projector(columns):
    """A fast row -> tuple-of-columns function for fixed column indices."""
    columns = tuple(columns)
    if len(columns) == 1:
        (only,) = columns
        return lambda row: (row[only],)
    from operator import itemgetter

    return itemgetter(*columns)


class Project(Map):
    """Keep the listed column positions of tuple rows (SQL projection, bag semantics)."""

    def __init__(self, columns, work=None):
        super().__init__(_projector(columns), work)
        self.columns = tuple(columns)
