"""Z-set and indexed Z-set: group laws, consolidation, in-place updates."""

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbsp import IndexedZSet, ZSet
from dbsp_reference import zsets

FAST = settings(max_examples=60, deadline=None)


@FAST
@given(zsets(), zsets(), zsets())
def test_group_laws(a, b, c):
    zero = ZSet()
    assert (a + b) + c == a + (b + c)
    assert a + b == b + a
    assert a + zero == a
    assert a + (-a) == zero
    assert a - b == a + (-b)
    for z in (a + b, a - b, -a, a.scale(3)):
        z._check()


@FAST
@given(zsets(), zsets())
def test_in_place_add_matches_sum_and_keeps_other(a, b):
    expected = a + b
    b_before = b.copy()
    a.add(b)
    a._check()
    assert a == expected
    assert b == b_before


@FAST
@given(zsets(), st.integers(-3, 3))
def test_scale(a, k):
    scaled = a.scale(k)
    scaled._check()
    for row in a:
        assert scaled.weight(row) == a.weight(row) * k
    if k == 0:
        assert scaled.is_empty()


@FAST
@given(zsets())
def test_distinct_and_positive(a):
    d, p = a.distinct(), a.positive()
    d._check()
    p._check()
    assert set(d) == {r for r, w in a.items() if w > 0} == set(p)
    assert all(w == 1 for _, w in d.items())
    assert all(p.weight(r) == a.weight(r) for r in p)


def test_zero_weights_never_stored():
    z = ZSet([((1,), 2), ((1,), -2), ((2,), 0)])
    assert len(z) == 0 and not z
    z.add_row((3,), 1)
    z.add_row((3,), -1)
    assert (3,) not in z
    z._check()


def test_from_rows_and_multiset_round_trip():
    rows = [(1, "a"), (2, "b"), (1, "a")]
    z = ZSet.from_rows(rows)
    assert z.weight((1, "a")) == 2
    assert sorted(z.rows()) == sorted(rows)
    assert z.to_multiset() == Counter(rows)
    assert z.total_weight() == 3
    with pytest.raises(ValueError):
        (-z).rows()
    with pytest.raises(ValueError):
        (-z).to_multiset()


def test_equality_and_unhashable():
    assert ZSet({(1,): 1}) == ZSet([((1,), 1)])
    assert ZSet({(1,): 1}) != ZSet({(1,): 2})
    with pytest.raises(TypeError):
        hash(ZSet())


@FAST
@given(zsets())
def test_indexed_zset_round_trip(a):
    key = lambda row: row[0] % 2
    indexed = IndexedZSet.from_zset(a, key)
    indexed._check()
    assert indexed.to_zset() == a
    for k, group in indexed.items():
        assert all(key(r) == k for r in group)
    indexed.add_zset(-a, key)
    indexed._check()
    assert len(indexed) == 0


def test_indexed_zset_removes_empty_groups():
    indexed = IndexedZSet()
    indexed.add_row("k", (1,), 1)
    assert "k" in indexed and indexed.get("k") == ZSet({(1,): 1})
    indexed.add_row("k", (1,), -1)
    assert "k" not in indexed and indexed.get("k").is_empty()
    indexed._check()
