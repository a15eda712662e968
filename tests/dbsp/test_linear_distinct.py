"""Linear operators and incremental distinct: op^Δ == D ∘ op ∘ I."""

from hypothesis import given, settings

from dbsp import Circuit, ZSet
from dbsp_reference import check_incremental, ref_map, zset_streams

FAST = settings(max_examples=60, deadline=None)


@FAST
@given(zset_streams())
def test_map(ticks):
    fn = lambda r: (r[0] % 3,)
    check_incremental(lambda x: x.map(fn), lambda z: ref_map(z, fn), ticks)


@FAST
@given(zset_streams())
def test_project(ticks):
    check_incremental(lambda x: x.project([1]), lambda z: ref_map(z, lambda r: (r[1],)), ticks)


@FAST
@given(zset_streams())
def test_filter(ticks):
    pred = lambda r: r[0] > r[1]
    check_incremental(lambda x: x.filter(pred),
                      lambda z: ZSet({r: w for r, w in z.items() if pred(r)}), ticks)


@FAST
@given(zset_streams())
def test_flat_map(ticks):
    fn = lambda r: [(r[0],)] * r[1] + [(r[1], "x")]

    def ref(z):
        out = ZSet()
        for row, w in z.items():
            for new in fn(row):
                out.add_row(new, w)
        return out

    check_incremental(lambda x: x.flat_map(fn), ref, ticks)


@FAST
@given(zset_streams(n_inputs=2))
def test_union_all_minus_negate_union(ticks):
    check_incremental(lambda a, b: a.plus(b), lambda a, b: a + b, ticks)
    check_incremental(lambda a, b: a.minus(b), lambda a, b: a - b, ticks)
    check_incremental(lambda a, b: a.negate(), lambda a, b: -a, ticks)
    check_incremental(lambda a, b: a.union(b), lambda a, b: (a + b).distinct(), ticks)


@FAST
@given(zset_streams())
def test_distinct(ticks):
    check_incremental(lambda x: x.distinct(), lambda z: z.distinct(), ticks)


def test_distinct_crossing_zero_with_negative_intermediate_weights():
    c = Circuit()
    x = c.input("x")
    c.output("d", x.distinct())
    row = ("r",)
    steps = [(-2, {}), (1, {}), (2, {row: 1}), (0, {}), (-3, {row: -1}), (1, {}), (5, {row: 1})]
    for change, expected in steps:
        delta = ZSet({row: change}) if change else ZSet()
        assert c.step({"x": delta})["d"] == ZSet(expected), change
        c._check()


def test_insert_and_delete_same_row_in_one_step():
    c = Circuit()
    x = c.input("x")
    c.output("d", x.distinct())
    c.output("m", x.map(lambda r: (r[0],)))
    out = c.step({"x": ZSet([((1, 1), 1), ((1, 1), -1)])})
    assert out["d"].is_empty() and out["m"].is_empty()
    assert c.step({"x": ZSet({(1, 1): 1})})["d"] == ZSet({(1, 1): 1})
