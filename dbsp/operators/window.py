"""Window functions by recomputing only the partitions a delta touches.

The caller supplies ``partition_key(row)`` and
``compute(rows) -> list of output rows`` (rows of one partition, each
repeated by its weight, in no particular order: ``compute`` sorts as its
OVER clause says).  Rule: for each partition p touched by Δ,
    out_p = compute(P_new[p]) - compute(P_old[p]),
where the old output is remembered, not recomputed.
State: integrated rows and last output per partition.  Time per step
O(Σ touched partition sizes · cost of compute); untouched partitions cost
nothing.
"""

from ..indexed_zset import IndexedZSet
from ..zset import ZSet
from .base import Operator


class Window(Operator):
    """Partitioned recomputation of a caller-defined window computation."""

    def __init__(self, partition_key, compute, work=None):
        super().__init__(work)
        self.partition_key = partition_key
        self.compute = compute
        self.rows = IndexedZSet()
        self.outputs = {}  # partition -> ZSet of the rows it currently emits

    def step(self, delta):
        partition_key = self.partition_key
        touched = set()
        add_row = self.rows.add_row
        work = self.work
        work.rows += len(delta._data)
        for row, weight in delta._data.items():
            part = partition_key(row)
            add_row(part, row, weight)
            touched.add(part)
        out = ZSet()
        for part in touched:
            old = self.outputs.pop(part, None)
            if old is not None:
                out.subtract(old)
            group = self.rows.group(part)
            if group is None:
                continue
            rows = ZSet._wrap(group).rows()
            work.rows += len(rows)
            new = ZSet.from_rows(self.compute(rows))
            if new:
                self.outputs[part] = new
            out.add(new)
        return out

    def _check(self):
        self.rows._check()
        for part, output in self.outputs.items():
            assert part in self.rows, part
            output._check()
