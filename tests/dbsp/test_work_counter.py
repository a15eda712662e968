"""A one-row delta against a large integrated state does O(1) work and no scan."""

import pytest

from dbsp import Circuit, Min, Sum, WorkCounter, ZSet

N = 20_000


def build(kind, work):
    c = Circuit(work)
    x, y = c.input("x"), c.input("y")
    if kind == "filter":
        out = x.filter(lambda r: r[1] % 2 == 0)
    elif kind == "join":
        out = x.join(y, lambda r: r[0], lambda r: r[0])
    elif kind == "sum":
        out = x.aggregate(lambda r: (r[0] % 100,), [Sum(lambda r: r[1])])
    elif kind == "min":
        out = x.aggregate(lambda r: (r[0] % 100,), [Min(lambda r: r[1])])
    elif kind == "distinct":
        out = x.map(lambda r: (r[0] % 1000,)).distinct()
    elif kind == "topk":
        out = x.top_k(lambda r: r[1], limit=10, partition_key=lambda r: r[0] % 100)
    elif kind == "semi":
        out = x.semi_join(y, lambda r: r[0], lambda r: r[0])
    elif kind == "left_join":
        out = x.outer_join(y, lambda r: r[0], lambda r: r[0], "left", right_null=(None, None))
    else:
        raise AssertionError(kind)
    c.output("out", out)
    return c


@pytest.mark.parametrize("kind", ["filter", "join", "sum", "min", "distinct", "topk", "semi",
                                  "left_join"])
def test_single_row_step_is_constant_work(kind):
    work = WorkCounter()
    c = build(kind, work)
    bulk = ZSet.from_rows((i, i * 7 % 1000) for i in range(N))
    c.step({"x": bulk, "y": ZSet.from_rows((i, -i) for i in range(0, N, 2))})
    assert work.rows >= N  # the bulk load itself was counted
    for delta in (ZSet({(N + 5, 3): 1}), ZSet({(10, 70): -1}), ZSet({(11, 77): -1, (11, 78): 1})):
        work.reset()
        c.step({"x": delta})
        assert work.scans == 0, kind
        assert work.rows <= 8, (kind, work)
        assert work.lookups <= 8, (kind, work)
    work.reset()
    c.step({})
    assert work.snapshot() == {"rows": 0, "lookups": 0, "scans": 0}


def test_theta_join_counts_its_scans():
    work = WorkCounter()
    c = Circuit(work)
    a, b = c.input("a"), c.input("b")
    c.output("j", a.theta_join(b, lambda l, r: l[0] < r[0]))
    c.step({"b": ZSet.from_rows((i,) for i in range(100))})
    work.reset()
    c.step({"a": ZSet.from_rows([(50,)])})
    assert work.scans == 1 and work.rows >= 100
