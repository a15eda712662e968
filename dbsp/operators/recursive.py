"""Recursive queries: a nested circuit iterated to a fixed point, incrementally.

``Recursive(body, n_inputs)`` computes, at every outer tick t, the least
fixed point of   X = distinct(body(X, I_1, ..., I_n))
(X_{-1} = empty, X_j = distinct(body(X_{j-1}, inputs))), and outputs its
*change* since tick t-1.  Termination comes from ``distinct`` (set
semantics over a finite domain); ``max_iterations`` guards against a body
that keeps inventing rows.

Multiset mode (``distinct=False``, SQL's ``WITH RECURSIVE ... UNION ALL``):
X = body(X, I_1, ..., I_n) with no ``distinct``.  For a body linear in X,
``body(X) = B + S(X)``, the fixed point is the multiset
X = B + S(B) + S(S(B)) + ..., which is what SQLite's queue computes (every
row is fed once to the recursive step).  It exists when S^k(B) = 0 for some
k (e.g. a counter with a bound, paths in an acyclic graph); otherwise the
iteration never empties and ``max_iterations`` raises ``FixedPointError``.
The same 2-D delta machinery maintains it incrementally: only the final
``distinct`` is left out.

Incrementality (DBSP section 6): every stream of the body carries 2-D deltas
over (outer tick, inner iteration).  Outer input deltas enter at iteration 0
only (the δ0 operator); the feedback is an inner delay z^-1; linear operators
run pointwise; join and distinct keep per-iteration integrals
(``nested.py``).  The iteration is semi-naive by construction: iteration j
only sees what changed at j.  The outer output is Σ_j d[t][j].  Insertions
*and deletions* of base rows are handled by the same formulas (no
delete-and-rederive).  An iteration loop stops at the first j where every
node's 2-D delta is empty and no operator holds past state at iterations
>= j.
Cost per tick: O(Σ_j |d[t][j]| · J) probes, independent of the size of the
integrated relations.
"""

from ..zset import ZSet
from .base import Operator
from .filter import Filter
from .flat_map import FlatMap
from .join import concat
from .map import Map, Project
from .nested import NestedDistinct, NestedJoin, NestedOperator
from .plus import Minus, Negate, Plus


class NestedStream:
    """A stream inside a recursive body; methods add operators to the body."""

    __slots__ = ("body", "index")

    def __init__(self, body, index):
        self.body = body
        self.index = index

    def _linear(self, op, *others):
        return self.body._add(op, (self,) + others)

    def map(self, fn):
        return self._linear(Map(fn, self.body.work))

    def project(self, columns):
        return self._linear(Project(columns, self.body.work))

    def filter(self, predicate):
        return self._linear(Filter(predicate, self.body.work))

    def flat_map(self, fn):
        return self._linear(FlatMap(fn, self.body.work))

    def plus(self, *others):
        return self._linear(Plus(1 + len(others), self.body.work), *others)

    union_all = plus

    def minus(self, other):
        return self._linear(Minus(self.body.work), other)

    def negate(self):
        return self._linear(Negate(self.body.work))

    def distinct(self):
        return self.body._add(NestedDistinct(self.body.work), (self,))

    def union(self, *others):
        return self.plus(*others).distinct()

    def join(self, other, left_key, right_key, combine=concat):
        return self.body._add(NestedJoin(left_key, right_key, combine, self.body.work),
                              (self, other))

    def theta_join(self, other, predicate=None, combine=concat):
        """``self ⋈_θ other`` inside the body: a join on the empty key (every pair
        meets), then the predicate; O(|Δ| · |other side|) per iteration."""
        pairs = self.join(other, _unit_key, _unit_key, _pair)
        if predicate is not None:
            pairs = pairs.filter(lambda pair: predicate(pair[0], pair[1]))
        return pairs.map(lambda pair: combine(pair[0], pair[1]))

    def cross_join(self, other, combine=concat):
        return self.theta_join(other, None, combine)


def _unit_key(_row):
    return ()


def _pair(left, right):
    return (left, right)


class _Body:
    """The node list of a nested circuit (topologically ordered by construction)."""

    def __init__(self, work):
        self.work = work
        self.nodes = []  # (operator or marker, input indices)

    def _add(self, op, inputs):
        for stream in inputs:
            if stream.body is not self:
                raise ValueError("streams of different circuits cannot be combined")
        self.nodes.append((op, tuple(s.index for s in inputs)))
        return NestedStream(self, len(self.nodes) - 1)


_FEEDBACK = "feedback"


class FixedPointError(RuntimeError):
    """A recursive query kept producing rows for ``max_iterations`` iterations."""


class Recursive(Operator):
    """Least fixed point of ``distinct(body(X, *inputs))`` (or, with
    ``distinct=False``, of ``body(X, *inputs)`` as a multiset), maintained
    incrementally."""

    def __init__(self, body, n_inputs=1, max_iterations=100_000, work=None, distinct=True):
        super().__init__(work)
        self.arity = n_inputs
        self.max_iterations = max_iterations
        self.distinct = distinct
        graph = _Body(self.work)
        feedback = graph._add(_FEEDBACK, ())
        inputs = [graph._add(("input", i), ()) for i in range(n_inputs)]
        result = body(feedback, *inputs)
        if not isinstance(result, NestedStream) or result.body is not graph:
            raise TypeError("the recursive body must return a stream built from its arguments")
        if distinct:
            result = graph._add(NestedDistinct(self.work), (result,))
        self.result_index = result.index
        self.graph = graph
        self.stateful = [op for op, _ in graph.nodes if isinstance(op, NestedOperator)]

    def step(self, *deltas):
        nodes = self.graph.nodes
        stateful = self.stateful
        max_old = max((op.max_old_iteration() for op in stateful), default=-1)
        total = ZSet()
        previous = ZSet()
        empty = ZSet()
        j = 0
        while True:
            if j > self.max_iterations:
                raise FixedPointError(
                    f"recursive query did not reach a fixed point within "
                    f"{self.max_iterations} iterations"
                    + ("" if self.distinct else " (its UNION ALL recursion never ends)"))
            values = []
            quiet = True
            for op, inputs in nodes:
                if op is _FEEDBACK:
                    value = previous
                elif type(op) is tuple:
                    value = deltas[op[1]] if j == 0 else empty
                elif isinstance(op, NestedOperator):
                    value = op.step(j, *[values[i] for i in inputs])
                else:
                    args = [values[i] for i in inputs]
                    value = op.step(*args) if any(a._data for a in args) else empty
                if value._data:
                    quiet = False
                values.append(value)
            result = values[self.result_index]
            total.add(result)
            if quiet and j >= max_old:
                break
            previous = result
            j += 1
        for op in stateful:
            op.end_tick()
        return total

    def _check(self):
        for op in self.stateful:
            op._check()
