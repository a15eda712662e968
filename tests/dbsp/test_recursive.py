"""Recursive circuits (nested time): incremental transitive closure under inserts and deletes."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbsp import Circuit, ZSet
from dbsp_reference import check_incremental, table_streams, transitive_closure

FAST = settings(max_examples=50, deadline=None)
EDGES = st.tuples(st.integers(0, 4), st.integers(0, 4))


def closure_body(paths, edges):
    """X = distinct(E ∪ π(X ⋈ E)): paths extended by one edge."""
    step = paths.join(edges, lambda p: p[1], lambda e: e[0], lambda p, e: (p[0], e[1]))
    return edges.plus(step)


def build_closure(edges):
    return edges.recursive(closure_body)


@FAST
@given(table_streams(rows=EDGES, max_ticks=8, max_changes=4))
def test_transitive_closure_matches_recomputation(ticks):
    check_incremental(build_closure, transitive_closure, ticks)


def doubling_body(paths, edges):
    """X = distinct(E ∪ π(X ⋈ X)): both join inputs change in every iteration."""
    step = paths.join(paths, lambda p: p[1], lambda q: q[0], lambda p, q: (p[0], q[1]))
    return edges.plus(step)


@FAST
@given(table_streams(rows=EDGES, max_ticks=8, max_changes=4))
def test_path_doubling_closure_matches_recomputation(ticks):
    check_incremental(lambda e: e.recursive(doubling_body), transitive_closure, ticks)


def test_cycle_then_edge_deleted():
    c = Circuit()
    e = c.input("e")
    c.output("tc", build_closure(e))
    ring = [(i, (i + 1) % 6) for i in range(6)]
    out = c.step({"e": ZSet.from_rows(ring)})["tc"]
    assert out == ZSet({(a, b): 1 for a in range(6) for b in range(6)})
    # Cut the ring: it becomes the path 4 -> 5 -> 0 -> 1 -> 2 -> 3.
    out = c.step({"e": ZSet({(3, 4): -1})})["tc"]
    order = [4, 5, 0, 1, 2, 3]
    still = {(order[i], order[j]) for i in range(6) for j in range(i + 1, 6)}
    expected_removed = {(a, b) for a in range(6) for b in range(6)} - still
    assert out == ZSet({edge: -1 for edge in expected_removed})
    # An alternative path keeps derived facts alive: add 2 -> 4, delete 1 -> 2.
    out = c.step({"e": ZSet({(2, 4): 1})})["tc"]
    assert out == transitive_closure(ZSet.from_rows(ring[:3] + ring[4:] + [(2, 4)])) - \
        transitive_closure(ZSet.from_rows(ring[:3] + ring[4:]))
    c._check()


def test_recursion_with_two_inputs_and_filter():
    # Reachable nodes from a set of roots: R = distinct(roots ∪ π(R ⋈ E)), skipping node 9.
    def body(reached, roots, edges):
        nxt = reached.join(edges, lambda r: r[0], lambda e: e[0], lambda r, e: (e[1],))
        return roots.plus(nxt.filter(lambda r: r[0] != 9))

    c = Circuit()
    roots, edges = c.input("roots"), c.input("edges")
    c.output("r", roots.recursive(body, edges))
    c.step({"edges": ZSet.from_rows([(1, 2), (2, 9), (9, 3), (2, 4)])})
    assert c.step({"roots": ZSet.from_rows([(1,)])})["r"] == ZSet({(1,): 1, (2,): 1, (4,): 1})
    assert c.step({"edges": ZSet({(1, 2): -1})})["r"] == ZSet({(2,): -1, (4,): -1})
    assert c.step({"roots": ZSet({(1,): -1})})["r"] == ZSet({(1,): -1})


def test_non_terminating_body_is_reported():
    c = Circuit()
    x = c.input("x")
    c.output("n", x.recursive(lambda n, x: x.plus(n.map(lambda r: (r[0] + 1,))), max_iterations=50))
    with pytest.raises(RuntimeError, match="fixed point"):
        c.step({"x": ZSet.from_rows([(0,)])})


def test_body_must_return_a_body_stream():
    with pytest.raises(TypeError):
        Circuit().input("x").recursive(lambda x, y: None)


def test_recursive_step_work_is_independent_of_untouched_components():
    def lookups_for_one_edge(components):
        c = Circuit()
        e = c.input("e")
        c.output("tc", build_closure(e))
        chains = [(100 * k + i, 100 * k + i + 1) for k in range(components) for i in range(4)]
        c.step({"e": ZSet.from_rows(chains)})
        c.work.reset()
        out = c.step({"e": ZSet.from_rows([(4, 5)])})["tc"]  # extends component 0
        assert out == ZSet({(a, 5): 1 for a in range(5)})
        out = c.step({"e": ZSet({(1, 2): -1})})["tc"]      # cuts component 0
        assert out == ZSet({(a, b): -1 for a in (0, 1) for b in (2, 3, 4, 5)})
        assert c.work.scans == 0
        return c.work.lookups + c.work.rows

    small, large = lookups_for_one_edge(5), lookups_for_one_edge(500)
    assert large == small


# -- multiset mode (WITH RECURSIVE ... UNION ALL) ----------------------------------------------

from collections import defaultdict  # noqa: E402

from dbsp.operators.recursive import FixedPointError, Recursive  # noqa: E402

DAG_EDGES = st.tuples(st.integers(0, 4), st.integers(0, 4)).filter(lambda e: e[0] < e[1])


def multiset_recursive(stream, body, *others, max_iterations=100_000):
    """``stream.recursive`` in multiset mode (no distinct)."""
    op = Recursive(body, 1 + len(others), max_iterations, stream.circuit.work, distinct=False)
    return stream.apply(op, *others)


def path_counts(edges):
    """Naive multiset fixed point: every path (a, d) once per edge sequence
    (edge multiplicities multiply), X = E + X ∘ E iterated until the new layer is empty."""
    total = defaultdict(int)
    layer = {e: w for e, w in edges.items() if w > 0}
    while layer:
        for path, w in layer.items():
            total[path] += w
        nxt = defaultdict(int)
        for (a, b), w in layer.items():
            for (c, d), v in edges.items():
                if b == c and v > 0:
                    nxt[(a, d)] += w * v
        layer = dict(nxt)
    return ZSet(dict(total))


@FAST
@given(table_streams(rows=DAG_EDGES, max_ticks=8, max_changes=4))
def test_multiset_path_counting_matches_recomputation(ticks):
    # op^Δ == D ∘ op ∘ I with op = the multiset fixed point (path counting in a DAG).
    check_incremental(lambda e: multiset_recursive(e, closure_body), path_counts, ticks)


def counter(starts, bound=6):
    """Naive: every start s contributes s, s+1, ..., up to ``bound`` (with its weight)."""
    out = ZSet()
    for (s,), w in starts.items():
        if w > 0:
            for x in range(s, max(s, bound) + 1):
                out.add_row((x,), w)
    return out


@FAST
@given(table_streams(rows=st.tuples(st.integers(0, 8)), max_ticks=8, max_changes=4))
def test_multiset_counter_matches_recomputation(ticks):
    def build(starts):
        return multiset_recursive(
            starts, lambda x, s: s.plus(x.filter(lambda r: r[0] < 6).map(lambda r: (r[0] + 1,))))
    check_incremental(build, counter, ticks)


def theta_paths(edges):
    """Naive: chains of edges where each next edge starts at or after the previous end."""
    total = defaultdict(int)
    layer = {e: w for e, w in edges.items() if w > 0}
    while layer:
        for path, w in layer.items():
            total[path] += w
        nxt = defaultdict(int)
        for (a, b), w in layer.items():
            for (c, d), v in edges.items():
                if c >= b and v > 0:
                    nxt[(a, d)] += w * v
        layer = dict(nxt)
    return ZSet(dict(total))


@FAST
@given(table_streams(rows=DAG_EDGES, max_ticks=6, max_changes=3))
def test_multiset_theta_join_body_matches_recomputation(ticks):
    def body(paths, edges):
        step = paths.theta_join(edges, lambda p, e: e[0] >= p[1], lambda p, e: (p[0], e[1]))
        return edges.plus(step)
    check_incremental(lambda e: multiset_recursive(e, body), theta_paths, ticks)


@FAST
@given(table_streams(rows=EDGES, max_ticks=6, max_changes=3))
def test_set_mode_theta_join_body_matches_closure(ticks):
    def body(paths, edges):
        step = paths.theta_join(edges, lambda p, e: p[1] == e[0], lambda p, e: (p[0], e[1]))
        return edges.plus(step)
    check_incremental(lambda e: e.recursive(body), transitive_closure, ticks)


def test_multiset_two_inputs_insert_then_delete():
    # Paths from roots: R = roots + π(R ⋈ E), counted with multiplicity.
    def body(reached, roots, edges):
        return roots.plus(reached.join(edges, lambda r: r[0], lambda e: e[0],
                                       lambda r, e: (e[1],)))
    c = Circuit()
    roots, edges = c.input("roots"), c.input("edges")
    c.output("r", multiset_recursive(roots, body, edges))
    c.step({"edges": ZSet.from_rows([(1, 2), (1, 3), (2, 4), (3, 4)])})
    assert c.step({"roots": ZSet.from_rows([(1,)])})["r"] == \
        ZSet({(1,): 1, (2,): 1, (3,): 1, (4,): 2})
    assert c.step({"edges": ZSet({(3, 4): -1})})["r"] == ZSet({(4,): -1})
    assert c.step({"edges": ZSet({(4, 5): 2})})["r"] == ZSet({(5,): 2})
    assert c.step({"roots": ZSet({(1,): -1})})["r"] == \
        ZSet({(1,): -1, (2,): -1, (3,): -1, (4,): -1, (5,): -2})
    c._check()


def test_multiset_cycle_is_reported_not_looped():
    c = Circuit()
    e = c.input("e")
    c.output("p", multiset_recursive(e, closure_body, max_iterations=40))
    c.step({"e": ZSet.from_rows([(1, 2)])})
    with pytest.raises(FixedPointError, match="within 40 iterations.*UNION ALL"):
        c.step({"e": ZSet.from_rows([(2, 1)])})


def test_multiset_keeps_duplicates_that_set_mode_merges():
    def body(x, s):
        return s.plus(x.filter(lambda r: r[0] < 3).map(lambda r: (r[0] + 1,)))
    c = Circuit()
    s = c.input("s")
    c.output("bag", multiset_recursive(s, body))
    c.output("set", s.recursive(body))
    out = c.step({"s": ZSet.from_rows([(1,), (2,)])})
    assert out["bag"] == ZSet({(1,): 1, (2,): 2, (3,): 2})
    assert out["set"] == ZSet({(1,): 1, (2,): 1, (3,): 1})
