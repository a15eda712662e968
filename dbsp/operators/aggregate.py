"""Incremental grouped (and ungrouped) aggregation.

Rule: for every group g touched by Δ, update its aggregate states with Δ's
rows (linear aggregates add, MIN/MAX/group_concat update ordered multisets)
and emit  -old_row(g) + new_row(g)  when the output row changed
(DBSP section 4.3, aggregation as a per-group function of the integral).
A group exists while its row count (total weight) is non-zero; a grouped
aggregate emits no row for an empty group, an ungrouped one always has
exactly one row (COUNT 0, SUM NULL over empty input), emitted at tick 0.
Rows for which ``exists_only(row)`` is true count toward their group's existence
but reach no aggregate (SQL's correlated/parametrized "presence" rows: an ungrouped
aggregate has its one row, COUNT 0, for a binding that matches nothing).
Output rows are ``output(group_key, values)`` (default
``group_key + values``, group keys being tuples), so HAVING and projection
are ordinary operators layered after.
State O(#groups) for linear aggregates (+ per-group multisets for
MIN/MAX/DISTINCT/group_concat).  Time per step O(|Δ| · #aggregates) plus
O(log n) for ordered aggregates; no scan.
"""

from ..zset import ZSet
from .base import Operator


# Deltas at least this big take the bucketed path (initial population of a view).
_BULK = 512


def _default_output(group_key, values):
    return tuple(group_key) + values


class _Group:
    __slots__ = ("count", "states", "row")

    def __init__(self, states):
        self.count = 0
        self.states = states
        self.row = None  # the output row currently emitted for the group


class GroupAggregate(Operator):
    """GROUP BY ``group_key(row)`` (None = ungrouped) computing ``aggregates``."""

    def __init__(self, group_key, aggregates, output=_default_output, work=None,
                 exists_only=None):
        super().__init__(work)
        self.group_key = group_key
        self.exists_only = exists_only
        self.aggregates = tuple(aggregates)
        # Bound methods, looked up once (the per-commit path is a few rows).
        self._adders = tuple(agg.add for agg in self.aggregates)
        self._results = tuple(agg.result for agg in self.aggregates)
        self.output = output
        self.groups = {}
        if group_key is None:
            self.groups[()] = self._new_group()
            self.always_step = True  # the empty-input row is due at tick 0

    def _new_group(self):
        return _Group([agg.new_state() for agg in self.aggregates])

    def step(self, delta):
        self.always_step = False
        groups = self.groups
        group_key = self.group_key
        adders = self._adders
        touched = {}
        data = delta._data
        work = self.work
        work.rows += len(data)
        work.lookups += len(data)
        if len(data) >= _BULK:
            self._step_bulk(delta, touched)
            return self._emit(touched)
        exists_only = self.exists_only
        for row, weight in data.items():
            key = () if group_key is None else group_key(row)
            group = groups.get(key)
            if group is None:
                group = groups[key] = self._new_group()
            touched[key] = group
            group.count += weight
            if exists_only is not None and exists_only(row):
                continue
            for add, state in zip(adders, group.states):
                add(state, row, weight)
        if group_key is None and not touched:
            touched[()] = groups[()]
        return self._emit(touched)

    def _step_bulk(self, delta, touched):
        """A big delta (initial population): bucket rows by group first, then hand each
        aggregate a group's rows at once (``add_many``; ``add_rows`` when every weight
        is 1, as in a population, where batches run at C speed), which ordered
        aggregates turn into one sort instead of a sorted insert per row. Same result
        as ``step``. O(|delta|) plus the aggregates' batch costs."""
        group_key = self.group_key
        data = delta._data
        unit = set(data.values()) == {1}
        buckets = {}
        get = buckets.get
        if group_key is None:
            buckets[()] = list(data) if unit else list(data.items())
        elif unit:
            for row in data:
                key = group_key(row)
                rows = get(key)
                if rows is None:
                    buckets[key] = [row]
                else:
                    rows.append(row)
        else:
            for item in data.items():
                key = group_key(item[0])
                pairs = get(key)
                if pairs is None:
                    buckets[key] = [item]
                else:
                    pairs.append(item)
        groups = self.groups
        aggregates = self.aggregates
        exists_only = self.exists_only
        for key, batch in buckets.items():
            group = groups.get(key)
            if group is None:
                group = groups[key] = self._new_group()
            touched[key] = group
            if unit:
                group.count += len(batch)
                if exists_only is not None:
                    batch = [r for r in batch if not exists_only(r)]
                for agg, state in zip(aggregates, group.states):
                    agg.add_rows(state, batch)
            else:
                group.count += sum([w for _r, w in batch])
                if exists_only is not None:
                    batch = [item for item in batch if not exists_only(item[0])]
                for agg, state in zip(aggregates, group.states):
                    agg.add_many(state, batch)

    def _emit(self, touched):
        """Retract old rows and emit new rows of touched groups; O(#touched)."""
        out = {}
        get = out.get
        output = self.output
        results = self._results
        grouped = self.group_key is not None
        for key, group in touched.items():
            old_row = group.row
            if grouped and group.count == 0:
                del self.groups[key]
                new_row = None
            else:
                values = tuple([result(state) for result, state in zip(results, group.states)])
                new_row = output(key, values)
            group.row = new_row
            if old_row == new_row:
                continue
            # Inlined ZSet.add_row: old rows of distinct groups may equal new ones.
            if old_row is not None:
                w = get(old_row, 0) - 1
                if w:
                    out[old_row] = w
                else:
                    del out[old_row]
            if new_row is not None:
                w = get(new_row, 0) + 1
                if w:
                    out[new_row] = w
                else:
                    del out[new_row]
        return ZSet._wrap(out)

    def _check(self):
        for key, group in self.groups.items():
            assert self.group_key is None or group.count != 0, key
            for agg, state in zip(self.aggregates, group.states):
                agg._check_state(state)
