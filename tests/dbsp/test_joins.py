"""Equi, semi, anti, outer, cross and theta joins: op^Δ == D ∘ op ∘ I, plus hard cases."""

import pytest
from hypothesis import given, settings

from dbsp import Circuit, ZSet
from dbsp_reference import (
    NULLABLE_ROWS, check_incremental, ref_join, ref_outer, ref_semi, table_streams, zset_streams,
)

FAST = settings(max_examples=50, deadline=None)
LEFT_KEY = lambda r: r[0]
RIGHT_KEY = lambda r: r[1]


@FAST
@given(zset_streams(rows=NULLABLE_ROWS, n_inputs=2))
def test_equi_join_on_arbitrary_zsets(ticks):
    check_incremental(lambda a, b: a.join(b, LEFT_KEY, RIGHT_KEY),
                      lambda a, b: ref_join(a, b, LEFT_KEY, RIGHT_KEY), ticks)


@FAST
@given(zset_streams(n_inputs=1))
def test_self_join_includes_delta_times_delta(ticks):
    check_incremental(lambda a: a.join(a, LEFT_KEY, RIGHT_KEY),
                      lambda a: ref_join(a, a, LEFT_KEY, RIGHT_KEY), ticks)


def test_self_join_delta_times_delta_term():
    c = Circuit()
    r = c.input("r")
    c.output("j", r.join(r, lambda x: x[0], lambda x: x[0]))
    # Both rows arrive in one step: only the dR x dR term can produce them.
    out = c.step({"r": ZSet.from_rows([(1, "a"), (1, "b")])})
    expected = {(1, p, 1, q): 1 for p in "ab" for q in "ab"}
    assert out["j"] == ZSet(expected)
    out = c.step({"r": ZSet({(1, "a"): -1})})
    assert out["j"] == ZSet({(1, "a", 1, "a"): -1, (1, "a", 1, "b"): -1, (1, "b", 1, "a"): -1})


@FAST
@given(table_streams(rows=NULLABLE_ROWS, n_inputs=2))
def test_semi_and_anti_join(ticks):
    check_incremental(lambda a, b: a.semi_join(b, LEFT_KEY, RIGHT_KEY),
                      lambda a, b: ref_semi(a, b, LEFT_KEY, RIGHT_KEY, True), ticks)
    check_incremental(lambda a, b: a.anti_join(b, LEFT_KEY, RIGHT_KEY),
                      lambda a, b: ref_semi(a, b, LEFT_KEY, RIGHT_KEY, False), ticks)


@FAST
@given(table_streams(rows=NULLABLE_ROWS, n_inputs=2))
def test_outer_joins(ticks):
    nulls = (None, None)
    for kind in ("left", "right", "full"):
        check_incremental(
            lambda a, b: a.outer_join(b, LEFT_KEY, RIGHT_KEY, kind, left_null=nulls, right_null=nulls),
            lambda a, b: ref_outer(a, b, LEFT_KEY, RIGHT_KEY, kind, nulls, nulls), ticks)


@FAST
@given(zset_streams(n_inputs=2, max_ticks=4))
def test_cross_and_theta_join(ticks):
    theta = lambda l, r: l[0] < r[1]
    check_incremental(lambda a, b: a.cross_join(b),
                      lambda a, b: ref_join(a, b, None, None, predicate=lambda l, r: True), ticks)
    check_incremental(lambda a, b: a.theta_join(b, theta),
                      lambda a, b: ref_join(a, b, None, None, predicate=theta), ticks)


def test_left_join_dangling_row_appears_and_disappears():
    c = Circuit()
    users, orders = c.input("users"), c.input("orders")
    c.output("j", users.outer_join(orders, lambda u: u[0], lambda o: o[1], "left",
                                   right_null=(None, None)))
    alice = (1, "alice")
    assert c.step({"users": ZSet.from_rows([alice])})["j"] == ZSet({alice + (None, None): 1})
    # First match arrives: the null-padded row is retracted.
    out = c.step({"orders": ZSet.from_rows([(10, 1)])})["j"]
    assert out == ZSet({alice + (None, None): -1, alice + (10, 1): 1})
    # A second match: no pad change.
    assert c.step({"orders": ZSet.from_rows([(11, 1)])})["j"] == ZSet({alice + (11, 1): 1})
    assert c.step({"orders": ZSet({(10, 1): -1})})["j"] == ZSet({alice + (10, 1): -1})
    # Last match goes: the pad is re-emitted.
    out = c.step({"orders": ZSet({(11, 1): -1})})["j"]
    assert out == ZSet({alice + (11, 1): -1, alice + (None, None): 1})
    # User and its first order arrive together: no pad ever shows.
    bob = (2, "bob")
    out = c.step({"users": ZSet.from_rows([bob]), "orders": ZSet.from_rows([(12, 2)])})["j"]
    assert out == ZSet({bob + (12, 2): 1})
    c._check()


def test_null_keys_never_match_but_are_padded():
    c = Circuit()
    a, b = c.input("a"), c.input("b")
    c.output("inner", a.join(b, LEFT_KEY, LEFT_KEY))
    c.output("full", a.outer_join(b, LEFT_KEY, LEFT_KEY, "full", (None,), (None,)))
    out = c.step({"a": ZSet.from_rows([(None,)]), "b": ZSet.from_rows([(None,)])})
    assert out["inner"].is_empty()
    assert out["full"] == ZSet({(None, None): 2})


def test_outer_join_requires_padding_rows():
    c = Circuit()
    a, b = c.input("a"), c.input("b")
    with pytest.raises(ValueError, match="right_null"):
        a.outer_join(b, LEFT_KEY, LEFT_KEY, "left")
    with pytest.raises(ValueError, match="unsupported"):
        a.outer_join(b, LEFT_KEY, LEFT_KEY, "sideways", (None,), (None,))
