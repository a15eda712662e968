"""Bulk paths of the operators equal their row-at-a-time paths.

``add_many`` (the batch form GroupAggregate uses for big deltas) must leave an
aggregate's state exactly as adding the same ``(row, weight)`` pairs one by one
would, whether the state starts empty or already holds values (MIN/MAX merge a
batch into a small dict or a promoted SortedDict); the join's inlined trace
update must keep its traces equal to a recomputation.
"""

from hypothesis import given, settings
from hypothesis import strategies as st

from dbsp import Circuit, Count, Max, Min, Sum, Total, Avg, ZSet
from dbsp.indexed_zset import IndexedZSet
from dbsp.operators.aggregates import _Extremum

FAST = settings(max_examples=80, deadline=None)

VALUE = lambda row: row[1]  # noqa: E731
VALUES = st.one_of(st.none(), st.integers(-40, 40), st.sampled_from([0.5, -2.25, 1e16, 3.0]))
PAIRS = st.lists(st.tuples(st.tuples(st.integers(0, 5), VALUES), st.integers(-2, 3)
                           .filter(bool)), max_size=60)


def _aggregates():
    return [Count(), Count(VALUE), Sum(VALUE), Total(VALUE), Avg(VALUE),
            Min(VALUE), Max(VALUE), Min(VALUE, distinct=True), Sum(VALUE, distinct=True)]


def _positive_prefix(pairs):
    """Pairs whose running weights per row never go negative (a real table's history)."""
    held = {}
    out = []
    for row, weight in pairs:
        if held.get(row, 0) + weight < 0:
            weight = -held.get(row, 0)
            if not weight:
                continue
        held[row] = held.get(row, 0) + weight
        out.append((row, weight))
    return out


def _one_by_one(agg, state, pairs):
    for row, weight in pairs:
        agg.add(state, row, weight)


@FAST
@given(PAIRS, PAIRS)
def test_add_many_equals_row_at_a_time(first, second):
    history = _positive_prefix(first + second)
    first, second = history[:len(first)], history[len(first):]
    for agg in _aggregates():
        slow = agg.new_state()
        fast = agg.new_state()
        _one_by_one(agg, slow, first)
        _one_by_one(agg, slow, second)
        _one_by_one(agg, fast, first)   # a non-empty state, then a batch on top
        agg.add_many(fast, second)
        agg._check_state(fast)
        assert agg.result(fast) == agg.result(slow), (type(agg).__name__, first, second)
        assert type(agg.result(fast)) is type(agg.result(slow))


@FAST
@given(st.lists(st.integers(0, 200), min_size=1, max_size=120),
       st.lists(st.integers(0, 200), max_size=120))
def test_extremum_merge_into_promoted_state(base, extra):
    """A batch merged into a group past SMALL keys (a SortedDict) or still a dict."""
    for klass in (Min, Max):
        agg = klass(VALUE)
        fast = agg.new_state()
        agg.add_many(fast, [((0, v), 1) for v in base])          # the one-sort build
        retract = [((0, v), -1) for v in base[: len(base) // 2]]
        batch = [((0, v), 1) for v in extra] + retract
        agg.add_many(fast, batch)                                  # the merge
        agg._check_state(fast)
        live = sorted(base[len(base) // 2:] + extra)
        expected = (live[0] if klass is Min else live[-1]) if live else None
        assert agg.result(fast) == expected
        if len(set(live)) > _Extremum.SMALL:
            assert type(fast[0]).__name__ == "SortedDict"


def test_sum_add_many_keeps_float_and_int_parts_apart():
    agg = Sum(VALUE)
    state = agg.new_state()
    agg.add_many(state, [((0, 1), 1), ((0, 0.5), 2), ((0, None), 1), ((0, True), 1)])
    assert agg.result(state) == 3.0 and type(agg.result(state)) is float
    agg.add_many(state, [((0, 0.5), -2)])   # the floats gone: an integer sum again
    assert agg.result(state) == 2 and type(agg.result(state)) is int
    count = Count(VALUE)
    cstate = count.new_state()
    count.add_many(cstate, [((0, None), 3), ((0, 1), 2), ((0, "x"), -1)])
    assert count.result(cstate) == 1


@FAST
@given(st.lists(st.tuples(st.sampled_from("lr"), st.integers(0, 3), st.integers(0, 4),
                          st.integers(-1, 2).filter(bool)), max_size=40))
def test_join_traces_match_recomputation(events):
    c = Circuit()
    a, b = c.input("a"), c.input("b")
    c.output("out", a.join(b, lambda r: r[0], lambda r: r[0]))
    left, right, total = ZSet(), ZSet(), ZSet()
    join = c.operators[0]
    for side, key, tag, weight in events:
        delta = ZSet([((key, tag), weight)])
        out = c.step({"a" if side == "l" else "b": delta})["out"]
        (left if side == "l" else right).add(delta)
        total.add(out)
        join._check()
        assert join.left == IndexedZSet.from_zset(left, lambda r: r[0])
        assert join.right == IndexedZSet.from_zset(right, lambda r: r[0])
    expected = ZSet()
    for lrow, lw in left.items():
        for rrow, rw in right.items():
            if lrow[0] == rrow[0]:
                expected.add_row(lrow + rrow, lw * rw)
    assert total == expected


@FAST
@given(PAIRS, st.lists(st.tuples(st.integers(0, 5), VALUES), max_size=60))
def test_add_rows_equals_row_at_a_time(first, rows):
    """The weight-1 batch (a population tick) on an empty or non-empty state."""
    first = _positive_prefix(first)
    for agg in _aggregates():
        slow = agg.new_state()
        fast = agg.new_state()
        _one_by_one(agg, slow, first)
        _one_by_one(agg, slow, [(row, 1) for row in rows])
        _one_by_one(agg, fast, first)
        agg.add_rows(fast, rows)
        agg._check_state(fast)
        assert agg.result(fast) == agg.result(slow), (type(agg).__name__, first, rows)
        assert type(agg.result(fast)) is type(agg.result(slow))


def test_bulk_group_step_equals_row_steps():
    """GroupAggregate's bulk path (>= 512 rows, unit or mixed weights) emits what
    row-at-a-time steps integrate to."""
    rows = [(i % 7, (i * 37) % 101 if i % 5 else None, i) for i in range(1500)]
    value = lambda r: r[1]  # noqa: E731

    def build():
        c = Circuit()
        c.output("o", c.input("t").aggregate(
            lambda r: (r[0],), [Count(), Count(value), Sum(value), Min(value), Max(value)]))
        return c
    bulk, single = build(), build()
    got = ZSet()
    got.add(bulk.step({"t": ZSet.from_distinct_rows(rows)})["o"])
    mixed = ZSet([(r, -1) for r in rows[:600]] + [((r[0], 5, r[2] + 10_000), 2) for r in rows[:600]])
    got.add(bulk.step({"t": mixed})["o"])
    want = ZSet()
    for r in rows:
        want.add(single.step({"t": ZSet([(r, 1)])})["o"])
    for r, w in mixed.items():
        want.add(single.step({"t": ZSet([(r, w)])})["o"])
    assert got == want
    bulk._check()
