"""Top-k per partition and window recomputation: op^Δ == D ∘ op ∘ I, promotion, ties."""

from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbsp import Circuit, ZSet
from dbsp_reference import check_incremental, ref_topk, table_streams

FAST = settings(max_examples=60, deadline=None)
ROWS = st.tuples(st.integers(0, 2), st.integers(0, 4), st.sampled_from([None, "x", "y"]))
SORT = lambda r: r[1]
PART = lambda r: r[0]


@FAST
@given(table_streams(rows=ROWS), st.one_of(st.none(), st.integers(0, 3)), st.integers(0, 3),
       st.booleans())
def test_topk(ticks, limit, offset, partitioned):
    part = PART if partitioned else None
    check_incremental(lambda x: x.top_k(SORT, limit, offset, part),
                      lambda z: ref_topk(z, SORT, limit, offset, part), ticks)


def test_topk_promotion_with_ties_and_offset():
    c = Circuit()
    x = c.input("x")
    c.output("top", x.top_k(lambda r: -r[1], limit=2, offset=1))  # ORDER BY score DESC
    rows = [("a", 90), ("b", 80), ("c", 80), ("d", 70), ("e", 60)]
    out = c.step({"x": ZSet.from_rows(rows)})["top"]
    # Order: a(90), b(80), c(80) [tie broken by row], d(70), e(60); window = positions 1..2.
    assert out == ZSet({("b", 80): 1, ("c", 80): 1})
    # Deleting a row inside the window promotes the next one.
    assert c.step({"x": ZSet({("b", 80): -1})})["top"] == ZSet({("b", 80): -1, ("d", 70): 1})
    # Deleting the row before the offset shifts the window: c leaves the window? No: c moves to
    # position 0 (skipped by OFFSET), d stays, e enters.
    out = c.step({"x": ZSet({("a", 90): -1})})["top"]
    assert out == ZSet({("c", 80): -1, ("e", 60): 1})
    # A new tie with d: ("d0", 70) sorts before ("d", 70)? total order on "d" < "d0".
    out = c.step({"x": ZSet.from_rows([("d0", 70)])})["top"]
    assert out == ZSet({("e", 60): -1, ("d0", 70): 1})
    c._check()


def test_topk_duplicates_and_errors():
    c = Circuit()
    x = c.input("x")
    c.output("top", x.top_k(lambda r: r[0], limit=2))
    assert c.step({"x": ZSet({(1,): 3})})["top"] == ZSet({(1,): 2})
    assert c.step({"x": ZSet({(0,): 1})})["top"] == ZSet({(0,): 1, (1,): -1})
    with pytest.raises(ValueError, match="absent"):
        c.step({"x": ZSet({(5,): -1})})
    with pytest.raises(ValueError):
        Circuit().input("x").top_k(SORT, limit=-1)


def row_number_compute(rows):
    """ROW_NUMBER() OVER (PARTITION BY r[0] ORDER BY r[1], r[2])."""
    ordered = sorted(rows, key=lambda r: (r[1], r[2] or ""))
    return [row + (i + 1,) for i, row in enumerate(ordered)]


def reference_window(z):
    parts = defaultdict(list)
    for row in z.rows():
        parts[row[0]].append(row)
    return ZSet.from_rows(r for rows in parts.values() for r in row_number_compute(rows))


@FAST
@given(table_streams(rows=ROWS))
def test_window_row_number(ticks):
    check_incremental(lambda x: x.window(PART, row_number_compute), reference_window, ticks)


def test_window_recomputes_only_touched_partitions():
    seen = []

    def compute(rows):
        seen.append(rows[0][0])
        return row_number_compute(rows)

    c = Circuit()
    x = c.input("x")
    c.output("w", x.window(PART, compute))
    c.step({"x": ZSet.from_rows([(p, v, None) for p in range(5) for v in range(3)])})
    seen.clear()
    out = c.step({"x": ZSet.from_rows([(3, -1, None)])})["w"]
    assert seen == [3]
    assert out.positive() == ZSet({(3, -1, None, 1): 1, (3, 0, None, 2): 1, (3, 1, None, 3): 1,
                                   (3, 2, None, 4): 1})
