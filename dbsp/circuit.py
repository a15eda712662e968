"""Circuits: operators wired once, then stepped one clock tick at a time.

Build::

    c = Circuit()
    orders = c.input("orders")
    big = orders.filter(lambda r: r[2] > 100)
    c.output("big", big)
    c.step({"orders": ZSet.from_rows([(1, "a", 500)])})   # -> {"big": ZSet}

Streams normally carry *deltas* (the incremental operators: Δ in, Δ out);
``integrate``/``differentiate``/``delay`` convert between deltas and values
(DBSP section 2).  Nodes are stored in construction order, which is a
topological order, because a node can only name existing streams; the one
exception, feedback through ``delay``, is legal because z^-1's output is
known before its input (``Circuit.feedback`` + ``Stream.connect``).

Per tick, a node whose inputs are all empty is skipped (empty output) unless
its operator sets ``always_step`` (delay, integrate, first tick of an
ungrouped aggregate).  One ``WorkCounter`` is shared by every operator.
"""

from .operators.aggregate import GroupAggregate
from .operators.delay import Delay
from .operators.differentiate import Differentiate
from .operators.distinct import Distinct
from .operators.filter import Filter
from .operators.flat_map import FlatMap
from .operators.integrate import Integrate
from .operators.join import Join, concat
from .operators.map import Map, Project
from .operators.outer_join import OuterJoin
from .operators.plus import Minus, Negate, Plus
from .operators.recursive import Recursive
from .operators.semijoin import AntiJoin, SemiJoin
from .operators.theta_join import ThetaJoin
from .operators.topk import TopK
from .operators.window import Window
from .order import total_order_key
from .work import WorkCounter
from .zset import ZSet


class Stream:
    """A handle on one node's output; methods append operators to the circuit."""

    __slots__ = ("circuit", "index")

    def __init__(self, circuit, index):
        self.circuit = circuit
        self.index = index

    def apply(self, op, *others):
        """Add an arbitrary operator taking this stream (and ``others``)."""
        return self.circuit.add(op, self, *others)

    # linear
    def map(self, fn):
        return self.apply(Map(fn, self.circuit.work))

    def project(self, columns):
        return self.apply(Project(columns, self.circuit.work))

    def filter(self, predicate):
        return self.apply(Filter(predicate, self.circuit.work))

    def flat_map(self, fn):
        return self.apply(FlatMap(fn, self.circuit.work))

    def plus(self, *others):
        return self.apply(Plus(1 + len(others), self.circuit.work), *others)

    union_all = plus

    def minus(self, other):
        return self.apply(Minus(self.circuit.work), other)

    def negate(self):
        return self.apply(Negate(self.circuit.work))

    # set semantics
    def distinct(self):
        return self.apply(Distinct(self.circuit.work))

    def union(self, *others):
        return self.plus(*others).distinct()

    # joins
    def join(self, other, left_key, right_key, combine=concat):
        return self.apply(Join(left_key, right_key, combine, self.circuit.work), other)

    def semi_join(self, other, left_key, right_key):
        return self.apply(SemiJoin(left_key, right_key, self.circuit.work), other)

    def anti_join(self, other, left_key, right_key):
        return self.apply(AntiJoin(left_key, right_key, self.circuit.work), other)

    def outer_join(self, other, left_key, right_key, kind="left", left_null=None,
                   right_null=None, combine=concat):
        op = OuterJoin(left_key, right_key, kind, left_null, right_null, combine, self.circuit.work)
        return self.apply(op, other)

    def theta_join(self, other, predicate=None, combine=concat):
        return self.apply(ThetaJoin(predicate, combine, self.circuit.work), other)

    def cross_join(self, other, combine=concat):
        return self.theta_join(other, None, combine)

    # aggregation, ordering, windows
    def aggregate(self, group_key, aggregates, output=None, exists_only=None):
        kwargs = {} if output is None else {"output": output}
        return self.apply(GroupAggregate(group_key, aggregates, work=self.circuit.work,
                                         exists_only=exists_only, **kwargs))

    def top_k(self, sort_key, limit=None, offset=0, partition_key=None, tie_key=total_order_key):
        return self.apply(TopK(sort_key, limit, offset, partition_key, tie_key, self.circuit.work))

    def window(self, partition_key, compute):
        return self.apply(Window(partition_key, compute, self.circuit.work))

    def recursive(self, body, *others, max_iterations=100_000):
        """Fixed point of ``distinct(body(X, self, *others))`` (see recursive.py)."""
        op = Recursive(body, 1 + len(others), max_iterations, self.circuit.work)
        return self.apply(op, *others)

    # time
    def integrate(self):
        return self.apply(Integrate(self.circuit.work))

    def differentiate(self):
        return self.apply(Differentiate(self.circuit.work))

    def delay(self):
        """z^-1 of this stream (an existing stream: no feedback needed)."""
        delayed = self.circuit.feedback()
        delayed.connect(self)
        return delayed

    def connect(self, source):
        """Close a feedback loop: this delay stream repeats ``source`` one tick late."""
        op = self.circuit._ops[self.index]
        if not isinstance(op, Delay):
            raise TypeError("connect() applies to streams made by Circuit.feedback()")
        if op.source is not None:
            raise ValueError("this feedback stream is already connected")
        if source.circuit is not self.circuit:
            raise ValueError("streams of different circuits cannot be combined")
        op.source = source.index


class Circuit:
    """A DAG (plus delayed feedback) of operators with named inputs and outputs."""

    def __init__(self, work=None):
        self.work = work if work is not None else WorkCounter()
        self._ops = []          # node index -> operator (None for inputs)
        self._args = []         # node index -> tuple of input node indices
        self._inputs = {}       # name -> node index
        self._outputs = {}      # name -> node index
        self._delays = []
        self._plan_cache = None  # (node count, step plan)
        self.ticks = 0

    def input(self, name):
        """Declare a named input stream (deltas supplied to ``step``)."""
        if name in self._inputs:
            raise ValueError(f"duplicate circuit input {name!r}")
        self._ops.append(None)
        self._args.append(())
        self._inputs[name] = len(self._ops) - 1
        return Stream(self, len(self._ops) - 1)

    def add(self, op, *streams):
        """Append ``op`` fed by ``streams``; returns its output stream."""
        for stream in streams:
            if stream.circuit is not self:
                raise ValueError("streams of different circuits cannot be combined")
        if len(streams) != op.arity:
            raise ValueError(f"{type(op).__name__} takes {op.arity} inputs, got {len(streams)}")
        self._ops.append(op)
        self._args.append(tuple(s.index for s in streams))
        return Stream(self, len(self._ops) - 1)

    def feedback(self):
        """A z^-1 stream whose source is connected later (``Stream.connect``)."""
        delay = Delay(self.work)
        self._delays.append(delay)
        return self.add(delay)

    def output(self, name, stream):
        """Expose ``stream`` under ``name`` in the result of ``step``."""
        if name in self._outputs:
            raise ValueError(f"duplicate circuit output {name!r}")
        self._outputs[name] = stream.index

    @property
    def operators(self):
        return [op for op in self._ops if op is not None]

    def step(self, deltas=None):
        """Advance one tick: feed ``{input: ZSet}``, return ``{output: ZSet}``.

        Missing inputs are empty deltas; unknown names raise ``KeyError``.
        Cost: the sum of the operators' per-step costs; skipped nodes cost O(1)
        (one plan entry read: the per-node dispatch is precomputed by ``_plan``).
        """
        if deltas:
            inputs = self._inputs
            for name in deltas:
                if name not in inputs:
                    raise KeyError(f"unknown circuit input {name!r}")
        else:
            deltas = {}
        for delay in self._delays:
            if delay.source is None:
                raise ValueError("a feedback stream was never connected")
        plan = self._plan()
        empty = ZSet._wrap({})
        get = deltas.get
        values = []
        append = values.append
        for op, single, args in plan:
            if op is None:
                append(get(single, empty))
            elif single is not None:
                value = values[single]
                if value._data or op.always_step:
                    append(op.step(value))
                else:
                    append(empty)
            else:
                arg_values = [values[i] for i in args]
                if op.always_step or any(v._data for v in arg_values):
                    append(op.step(*arg_values))
                else:
                    append(empty)
        for delay in self._delays:
            delay.latch(values[delay.source])
        self.ticks += 1
        return {name: values[index] for name, index in self._outputs.items()}

    def _plan(self):
        """Per node ``(op, single, args)``: for an input node op is None and single its
        name; for a one-input operator single is that input's node index, else None.
        Cached until the circuit grows."""
        cached = self._plan_cache
        if cached is not None and cached[0] == len(self._ops):
            return cached[1]
        names = {index: name for name, index in self._inputs.items()}
        plan = []
        for index, (op, args) in enumerate(zip(self._ops, self._args)):
            if op is None:
                plan.append((None, names[index], args))
            else:
                plan.append((op, args[0] if len(args) == 1 else None, args))
        self._plan_cache = (len(self._ops), plan)
        return plan

    def _check(self):
        for op in self.operators:
            op._check()
