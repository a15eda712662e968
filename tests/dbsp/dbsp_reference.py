"""Test helpers: random Z-set streams, the D∘op∘I harness, reference operators.

The reference operators are deliberately naive (nested loops, full
recomputation) so they are obviously right; the harness checks
``op^Δ == D ∘ op ∘ I`` tick by tick.
"""

from collections import defaultdict
from fractions import Fraction

from hypothesis import strategies as st

from dbsp import Circuit, ZSet
from dbsp.order import total_order_key

SMALL_ROWS = st.tuples(st.integers(0, 4), st.integers(0, 3))
NULLABLE_ROWS = st.tuples(st.one_of(st.none(), st.integers(0, 3)), st.integers(0, 3))


def zsets(rows=SMALL_ROWS, max_size=6):
    """Arbitrary Z-sets (weights may be negative)."""
    weights = st.integers(-3, 3).filter(bool)
    return st.dictionaries(rows, weights, max_size=max_size).map(ZSet)


def zset_streams(rows=SMALL_ROWS, n_inputs=1, max_ticks=6):
    """Streams of arbitrary Z-set deltas: list of ticks, each a tuple of deltas."""
    tick = st.tuples(*[zsets(rows) for _ in range(n_inputs)])
    return st.lists(tick, min_size=1, max_size=max_ticks)


@st.composite
def table_streams(draw, rows=SMALL_ROWS, n_inputs=1, max_ticks=8, max_changes=5):
    """Streams whose integrals stay multisets (weights >= 0), like SQL tables.

    Each tick inserts new rows and deletes existing ones (sometimes both of
    the same row, which then cancel inside the delta).
    """
    current = [defaultdict(int) for _ in range(n_inputs)]
    ticks = []
    for _ in range(draw(st.integers(1, max_ticks))):
        tick = []
        for table in current:
            delta = defaultdict(int)
            for _ in range(draw(st.integers(0, max_changes))):
                present = sorted((r for r, w in table.items() if w + delta[r] > 0), key=total_order_key)
                if present and draw(st.booleans()):
                    delta[draw(st.sampled_from(present))] -= 1
                else:
                    delta[draw(rows)] += draw(st.integers(1, 2))
            for row, weight in delta.items():
                table[row] += weight
            tick.append(ZSet({r: w for r, w in delta.items() if w}))
        ticks.append(tuple(tick))
    return ticks


def check_incremental(build, reference, ticks, check_state=True):
    """Assert ``build``'s circuit output == D(reference(I(inputs))) every tick.

    ``build(*input_streams) -> stream``; ``reference(*integrated ZSets) -> ZSet``.
    Returns the circuit (for further inspection).
    """
    n_inputs = len(ticks[0])
    circuit = Circuit()
    streams = [circuit.input(f"in{i}") for i in range(n_inputs)]
    circuit.output("out", build(*streams))
    integrals = [ZSet() for _ in range(n_inputs)]
    previous = ZSet()
    for tick in ticks:
        result = circuit.step({f"in{i}": d for i, d in enumerate(tick)})["out"]
        for integral, delta in zip(integrals, tick):
            integral.add(delta)
        expected_value = reference(*integrals)
        result._check()
        assert result == expected_value - previous, (tick, result, expected_value - previous)
        previous = expected_value
        if check_state:
            circuit._check()
    return circuit


# -- reference (non-incremental) operators ------------------------------------
def ref_map(z, fn):
    out = ZSet()
    for row, w in z.items():
        out.add_row(fn(row), w)
    return out


def ref_join(a, b, left_key, right_key, combine=lambda l, r: l + r, predicate=None):
    out = ZSet()
    for l, wl in a.items():
        for r, wr in b.items():
            if predicate is not None:
                ok = predicate(l, r)
            else:
                ok = left_key(l) is not None and left_key(l) == right_key(r)
            if ok:
                out.add_row(combine(l, r), wl * wr)
    return out


def keys_of(z, key_fn):
    return {key_fn(r) for r in z if key_fn(r) is not None}


def ref_semi(a, b, left_key, right_key, keep_matched=True):
    keys = keys_of(b, right_key)
    out = ZSet()
    for row, w in a.items():
        k = left_key(row)
        matched = k is not None and k in keys
        if matched == keep_matched:
            out.add_row(row, w)
    return out


def ref_outer(a, b, left_key, right_key, kind, left_null, right_null):
    out = ref_join(a, b, left_key, right_key)
    if kind in ("left", "full"):
        for row, w in ref_semi(a, b, left_key, right_key, False).items():
            out.add_row(row + right_null, w)
    if kind in ("right", "full"):
        for row, w in ref_semi(b, a, right_key, left_key, False).items():
            out.add_row(left_null + row, w)
    return out


def exact_sum(values):
    """SQLite-typed exact sum: int if all ints, correctly rounded float otherwise."""
    if not values:
        return None
    total = sum(Fraction(v) for v in values)
    if all(type(v) is int for v in values):
        return int(total)
    return float(total)


def ref_topk(z, sort_key, limit, offset, partition_key=None):
    parts = defaultdict(list)
    for row, w in z.items():
        part = () if partition_key is None else partition_key(row)
        parts[part].extend([row] * w)
    out = ZSet()
    for rows in parts.values():
        rows.sort(key=lambda r: (sort_key(r), total_order_key(r)))
        end = None if limit is None else offset + limit
        for row in rows[offset:end]:
            out.add_row(row, 1)
    return out


def transitive_closure(edges):
    """Naive fixed point over the set of edges (weights ignored beyond > 0)."""
    closure = {e for e, w in edges.items() if w > 0}
    while True:
        extra = {(a, d) for (a, b) in closure for (c, d) in closure if b == c} - closure
        if not extra:
            return ZSet({e: 1 for e in closure})
        closure |= extra
