"""Operators over nested (two-dimensional) time, for recursive circuits.

Inside a recursive query a stream has an outer tick t (commits) and an inner
iteration j (fixed-point steps).  Streams carry 2-D deltas
    d[t][j] = x[t][j] - x[t-1][j] - x[t][j-1] + x[t-1][j-1]
(DBSP section 6).  Linear operators act on 2-D deltas pointwise, so the
ordinary ``Map``/``Filter``/``Plus``... are reused unchanged.  Bilinear join
and distinct need state over both dimensions, kept as *per-iteration
integrals*: for each iteration j, the sum over past ticks of the input's 2-D
delta at j (``old[j]``), plus this tick's deltas (``new[j]``).  At the end of
a tick ``new`` is folded into ``old`` (``end_tick``).

Cost: a step at iteration j probes the per-iteration traces up to j, so work
is O(J · |Δ|) (J = iterations), independent of the integrated size.
"""

from ..indexed_zset import IndexedZSet
from ..zset import ZSet
from ..work import WorkCounter
from .join import concat


class NestedOperator:
    """Base: ``step(j, *deltas)``, ``end_tick()``, ``max_old_iteration()``."""

    arity = 1

    def __init__(self, work=None):
        self.work = work if work is not None else WorkCounter()

    def max_old_iteration(self):
        """Highest iteration with stored past state (-1 if none)."""
        return -1

    def end_tick(self):
        return None

    def _check(self):
        return None


def _positive(weight):
    return 1 if weight > 0 else 0


class NestedDistinct(NestedOperator):
    """2-D incremental distinct: d2(distinct(I2(x))) for rows the tick touched.

    For row r at (t, j), with P_old/P_new the prefix sums over iterations <= j
    of old/new per-iteration deltas (and *_prev over < j):
        out = H(P_old+P_new) - H(P_old) - H(P_old_prev+P_new_prev) + H(P_old_prev)
    with H(w) = [w > 0].  Only rows with a change at (t, <=j) can be non-zero,
    and only where old[j] or new[j] holds them.  O(J) per candidate row.
    """

    def __init__(self, work=None):
        super().__init__(work)
        self.old = []      # per iteration: dict row -> weight (past ticks)
        self.new = []      # per iteration: dict row -> weight (this tick)
        self.touched = set()

    def step(self, j, delta):
        new, old, touched = self.new, self.old, self.touched
        while len(new) <= j:
            new.append({})
        new[j] = dict(delta._data)
        touched.update(delta._data)
        old_j = old[j] if j < len(old) else {}
        candidates = set(delta._data)
        if old_j:
            small, large = (old_j, touched) if len(old_j) < len(touched) else (touched, old_j)
            candidates.update(row for row in small if row in large)
        work = self.work
        work.rows += len(candidates)
        work.lookups += len(candidates) * (j + 1)
        out = {}
        for row in candidates:
            old_prev = sum(old[i].get(row, 0) for i in range(min(j, len(old))))
            new_prev = sum(new[i].get(row, 0) for i in range(j))
            old_now = old_prev + old_j.get(row, 0)
            new_now = new_prev + new[j].get(row, 0)
            change = (_positive(old_now + new_now) - _positive(old_now)
                      - _positive(old_prev + new_prev) + _positive(old_prev))
            if change:
                out[row] = change
        return ZSet._wrap(out)

    def max_old_iteration(self):
        return len(self.old) - 1

    def end_tick(self):
        """Fold this tick's per-iteration deltas into the per-iteration integrals."""
        old = self.old
        for j, delta in enumerate(self.new):
            while len(old) <= j:
                old.append({})
            target = old[j]
            for row, weight in delta.items():
                value = target.get(row, 0) + weight
                if value:
                    target[row] = value
                else:
                    del target[row]
        while old and not old[-1]:
            old.pop()
        self.new = []
        self.touched = set()

    def _check(self):
        assert not self.new and not self.touched, "end_tick not called"
        for layer in self.old:
            for row, weight in layer.items():
                assert type(weight) is int and weight != 0, row


class NestedJoin(NestedOperator):
    """2-D incremental equi-join.

    Output at (t, j) sums pairs whose lattice join of times is (t, j):
      new_a[j] x (Pb_old(j) + Pb_new(j))  +  old_a[j] x Pb_new(j)
    + Pa_new(j-1) x (old_b[j] + new_b[j]) +  Pa_old(j-1) x new_b[j]
    where P*(j) sums per-iteration traces over iterations <= j.
    Probes O(J) indexed traces per delta row; ``None`` keys match nothing.
    """

    arity = 2

    def __init__(self, left_key, right_key, combine=concat, work=None):
        super().__init__(work)
        self.left_key = left_key
        self.right_key = right_key
        self.combine = combine
        self.old_left, self.old_right = [], []   # per-iteration IndexedZSets
        self.new_left, self.new_right = [], []

    def _index(self, delta, key_fn):
        indexed = IndexedZSet()
        add_row = indexed.add_row
        for row, weight in delta._data.items():
            key = key_fn(row)
            if key is not None:
                add_row(key, row, weight)
        return indexed

    def step(self, j, delta_left, delta_right):
        new_a, new_b = self.new_left, self.new_right
        while len(new_a) < j:
            new_a.append(IndexedZSet())
            new_b.append(IndexedZSet())
        new_a.append(self._index(delta_left, self.left_key))
        new_b.append(self._index(delta_right, self.right_key))
        old_a = self.old_left[: j + 1]
        old_b = self.old_right[: j + 1]
        old_a_j = old_a[j] if len(old_a) > j else None
        old_b_j = old_b[j] if len(old_b) > j else None
        out = ZSet()
        # new_a[j] x (Pb_old(j) + Pb_new(j))
        self._pairs(new_a[j], old_b + new_b[: j + 1], out, True)
        # old_a[j] x Pb_new(j): iterate the small new side, probe old_a[j]
        if old_a_j is not None and len(old_a_j):
            for layer in new_b[: j + 1]:
                self._pairs(layer, [old_a_j], out, False)
        # Pa_new(j-1) x old_b[j]
        if old_b_j is not None and len(old_b_j):
            for layer in new_a[:j]:
                self._pairs(layer, [old_b_j], out, True)
        # Pa_new(j-1) x new_b[j]  +  Pa_old(j-1) x new_b[j]
        self._pairs(new_b[j], new_a[:j] + old_a[:j], out, False)
        return out

    def _pairs(self, probe, traces, out, probe_is_left):
        """Join every row of ``probe`` against each trace; O(|probe|·len(traces))."""
        if not len(probe) or not traces:
            return
        combine = self.combine
        add_row = out.add_row
        work = self.work
        for key, group in probe._index.items():
            work.lookups += len(traces)
            for trace in traces:
                partners = trace._index.get(key)
                if partners is None:
                    continue
                for row, weight in group.items():
                    work.rows += len(partners)
                    for partner, partner_weight in partners.items():
                        joined = combine(row, partner) if probe_is_left else combine(partner, row)
                        add_row(joined, weight * partner_weight)

    def max_old_iteration(self):
        return max(len(self.old_left), len(self.old_right)) - 1

    def end_tick(self):
        """Fold this tick's per-iteration deltas into the per-iteration traces."""
        for old, new in ((self.old_left, self.new_left), (self.old_right, self.new_right)):
            for j, layer in enumerate(new):
                while len(old) <= j:
                    old.append(IndexedZSet())
                add_row = old[j].add_row
                for key, row, weight in layer.entries():
                    add_row(key, row, weight)
            while old and not len(old[-1]):
                old.pop()
        self.new_left, self.new_right = [], []

    def _check(self):
        assert not self.new_left and not self.new_right, "end_tick not called"
        for layer in self.old_left + self.old_right:
            layer._check()
