"""Grouped/ungrouped aggregation with retraction: op^Δ == D ∘ op ∘ I and SQL edge cases."""

import math
import random
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbsp import Avg, Circuit, Count, GroupConcat, Max, Min, Sum, Total, ZSet
from dbsp_reference import check_incremental, exact_sum, table_streams

FAST = settings(max_examples=60, deadline=None)

# rows: (group, value-or-None, tag)
AGG_ROWS = st.tuples(st.integers(0, 2), st.one_of(st.none(), st.integers(-3, 3),
                                                  st.sampled_from([0.1, 0.2, 1e16, -1e16, 2.5])),
                     st.sampled_from("abc"))
VALUE = lambda r: r[1]


def aggregates():
    return [Count(), Count(VALUE), Sum(VALUE), Total(VALUE), Avg(VALUE),
            Min(VALUE), Max(VALUE), Count(VALUE, distinct=True), Sum(VALUE, distinct=True),
            GroupConcat(lambda r: r[2], "|", order_key=lambda r: (r[2], r[0])),
            GroupConcat(lambda r: r[2], distinct=True, order_key=lambda r: r[2])]


def reference_values(rows):
    values = [r[1] for r in rows if r[1] is not None]
    distinct_values = list(set(values))
    total = exact_sum(values)
    tags = sorted(r[2] for r in rows)
    return (len(rows), len(values), total,
            0.0 if total is None else float(total),
            None if not values else float(sum(map(__import__("fractions").Fraction, values)) / len(values)),
            min(values, default=None), max(values, default=None),
            len(distinct_values), exact_sum(distinct_values),
            "|".join(tags) if tags else None,
            ",".join(sorted(set(tags))) if tags else None)


def reference_aggregate(z, grouped):
    groups = defaultdict(list)
    for row in z.rows():
        groups[(row[0],) if grouped else ()].append(row)
    if not grouped and not groups:
        groups[()] = []
    return ZSet.from_rows(key + reference_values(rows) for key, rows in groups.items())


@FAST
@given(table_streams(rows=AGG_ROWS))
def test_grouped_aggregates(ticks):
    check_incremental(lambda x: x.aggregate(lambda r: (r[0],), aggregates()),
                      lambda z: reference_aggregate(z, True), ticks)


@FAST
@given(table_streams(rows=AGG_ROWS))
def test_ungrouped_aggregates(ticks):
    check_incremental(lambda x: x.aggregate(None, aggregates()),
                      lambda z: reference_aggregate(z, False), ticks)


def test_ungrouped_over_empty_input_is_one_row_at_tick_zero():
    c = Circuit()
    x = c.input("x")
    c.output("a", x.aggregate(None, [Count(), Sum(VALUE), Total(VALUE), Avg(VALUE), Min(VALUE)]))
    assert c.step({})["a"] == ZSet({(0, None, 0.0, None, None): 1})
    assert c.step({})["a"].is_empty()
    out = c.step({"x": ZSet.from_rows([(0, 4, "a")])})["a"]
    assert out == ZSet({(0, None, 0.0, None, None): -1, (1, 4, 4.0, 4.0, 4): 1})


def test_grouped_empty_group_has_no_row_and_group_recreated():
    c = Circuit()
    x = c.input("x")
    c.output("a", x.aggregate(lambda r: (r[0],), [Count(), Sum(VALUE)]))
    assert c.step({})["a"].is_empty()
    assert c.step({"x": ZSet.from_rows([(1, 5, "a")])})["a"] == ZSet({(1, 1, 5): 1})
    # Last row of the group deleted: the group's row goes, nothing replaces it.
    assert c.step({"x": ZSet({(1, 5, "a"): -1})})["a"] == ZSet({(1, 1, 5): -1})
    c._check()
    # Group re-created from scratch.
    assert c.step({"x": ZSet.from_rows([(1, 7, "b")])})["a"] == ZSet({(1, 1, 7): 1})


def test_sum_integer_stays_int_and_null_only_group():
    c = Circuit()
    x = c.input("x")
    c.output("a", x.aggregate(lambda r: (r[0],), [Count(), Count(VALUE), Sum(VALUE), Total(VALUE)]))
    out = c.step({"x": ZSet.from_rows([(1, None, "a"), (2, 3, "a"), (2, 4, "b")])})["a"]
    assert out == ZSet({(1, 1, 0, None, 0.0): 1, (2, 2, 2, 7, 7.0): 1})
    assert all(type(row[3]) is int for row in out if row[0] == 2)


def test_extremum_deleted_while_duplicates_remain():
    c = Circuit()
    x = c.input("x")
    c.output("a", x.aggregate(lambda r: (r[0],), [Min(VALUE), Max(VALUE)]))
    c.step({"x": ZSet({(1, 1, "a"): 1, (1, 1, "b"): 1, (1, 9, "a"): 2, (1, 5, "a"): 1})})
    # One of the two minimum rows goes: the minimum stays 1.
    assert c.step({"x": ZSet({(1, 1, "a"): -1})})["a"].is_empty()
    # One copy of the max (weight 2) goes: still 9.
    assert c.step({"x": ZSet({(1, 9, "a"): -1})})["a"].is_empty()
    # Last minimum goes: next smallest promoted.
    assert c.step({"x": ZSet({(1, 1, "b"): -1})})["a"] == ZSet({(1, 1, 9): -1, (1, 5, 9): 1})
    assert c.step({"x": ZSet({(1, 9, "a"): -1})})["a"] == ZSet({(1, 5, 9): -1, (1, 5, 5): 1})
    c._check()


def test_min_max_with_caller_key():
    c = Circuit()
    x = c.input("x")
    nocase = lambda v: v.lower()
    c.output("a", x.aggregate(None, [Min(VALUE, key=nocase), Max(VALUE, key=nocase)]))
    c.step({})
    out = c.step({"x": ZSet.from_rows([(0, "b", ""), (0, "A", ""), (0, "C", "")])})["a"]
    assert ZSet({("A", "C"): 1}) == out.positive()


def test_update_moves_row_between_groups():
    c = Circuit()
    x = c.input("x")
    c.output("a", x.aggregate(lambda r: (r[0],), [Count(), Sum(VALUE)]))
    c.step({"x": ZSet.from_rows([(1, 10, "a"), (1, 20, "b"), (2, 5, "c")])})
    # UPDATE t SET g = 2 WHERE tag = 'a'  ==  -old +new
    out = c.step({"x": ZSet({(1, 10, "a"): -1, (2, 10, "a"): 1})})["a"]
    assert out == ZSet({(1, 2, 30): -1, (1, 1, 20): 1, (2, 1, 5): -1, (2, 2, 15): 1})


def test_update_within_one_group_that_leaves_result_unchanged_emits_nothing():
    c = Circuit()
    x = c.input("x")
    c.output("a", x.aggregate(lambda r: (r[0],), [Count(), Sum(VALUE)]))
    c.step({"x": ZSet.from_rows([(1, 10, "a")])})
    assert c.step({"x": ZSet({(1, 10, "a"): -1, (1, 10, "b"): 1})})["a"].is_empty()


def test_float_sum_does_not_drift_under_insert_delete_cycles():
    rng = random.Random(7)
    c = Circuit()
    x = c.input("x")
    c.output("a", x.aggregate(None, [Sum(VALUE), Avg(VALUE), Total(VALUE)]))
    c.step({})
    live = {}
    current = None
    for i in range(3000):
        if live and rng.random() < 0.45:
            row = rng.choice(sorted(live))
            del live[row]
            delta = ZSet({row: -1})
        else:
            row = (i, rng.choice([0.1, 1e-3, 1e17, -1e17, 3.3, 1 / 3]) * rng.randint(1, 9), "")
            live[row] = 1
            delta = ZSet({row: 1})
        out = c.step({"x": delta})["a"]
        for r, w in out.items():
            if w > 0:
                current = r
    values = [r[1] for r in live]
    assert current[0] == math.fsum(values)
    assert current[2] == math.fsum(values)
    assert current[1] == float(sum(map(__import__("fractions").Fraction, values)) / len(values))


def test_infinities_in_sum():
    c = Circuit()
    x = c.input("x")
    c.output("a", x.aggregate(None, [Sum(VALUE)]))
    c.step({})
    assert c.step({"x": ZSet.from_rows([(0, math.inf, "")])})["a"].positive() == ZSet({(math.inf,): 1})
    out = c.step({"x": ZSet.from_rows([(0, -math.inf, "")])})["a"].positive()
    assert math.isnan(next(iter(out))[0])
    out = c.step({"x": ZSet({(0, math.inf, ""): -1, (0, -math.inf, ""): -1, (0, 1.5, ""): 1})})["a"]
    assert out.positive() == ZSet({(1.5,): 1})


def test_aggregate_argument_errors():
    with pytest.raises(ValueError):
        Sum(None)
    with pytest.raises(ValueError):
        Count(None, distinct=True)
    c = Circuit()
    x = c.input("x")
    c.output("a", x.aggregate(None, [Sum(VALUE)]))
    with pytest.raises(TypeError, match="int or float"):
        c.step({"x": ZSet.from_rows([(0, "text", "")])})


@pytest.mark.parametrize("grouped", [True, False])
def test_bulk_delta_equals_row_by_row(grouped):
    """A delta past the bulk threshold (initial population) takes the bucketed path;
    it must give the same output and state as feeding the same rows in small steps,
    also when the big delta carries retractions and later steps retract."""
    rng = random.Random(7)
    rows = [(rng.randrange(5), rng.choice([None, rng.randrange(-50, 50), rng.randrange(9) / 4]),
             rng.choice("abc"), i) for i in range(3000)]
    big = ZSet.from_rows(rows)
    big.add_row(rows[0], -1)                      # a retraction inside the bulk delta
    key = (lambda r: (r[0],)) if grouped else None

    def circuit():
        c = Circuit()
        c.output("out", c.input("in").aggregate(key, aggregates()))
        return c

    bulk, small = circuit(), circuit()
    got = bulk.step({"in": big})["out"]
    expected = ZSet()
    items = list(big.items())
    for i in range(0, len(items), 100):
        expected = expected + small.step({"in": ZSet(items[i:i + 100])})["out"]
    assert got == expected
    for row in rows[1:200]:                       # later retractions see the same state
        d = ZSet([(row, -1)])
        assert bulk.step({"in": d})["out"] == small.step({"in": d})["out"]
    bulk._check()
    small._check()


@pytest.mark.parametrize("size", [3, 2000])  # the per-row path and the bulk path
def test_exists_only_rows_make_groups_exist_without_reaching_aggregates(size):
    """Presence rows (``exists_only``) keep a group alive but are never aggregated, in
    the per-row and the bulk (add_rows/add_many) paths alike."""
    rows = [(i % 3, i) for i in range(size)] + [(7, "presence"), (0, "presence")]
    c = Circuit()
    c.output("out", c.input("in").aggregate(
        lambda r: (r[0],), [Count(), Sum(lambda r: r[1] if r[1] != "presence" else None)],
        exists_only=lambda r: r[1] == "presence"))
    out = c.step({"in": ZSet.from_rows(rows)})["out"]
    counts = {row[0]: row[1] for row in out.rows()}
    assert counts[7] == 0 and counts[0] == len([i for i in range(size) if i % 3 == 0])
    c._check()
