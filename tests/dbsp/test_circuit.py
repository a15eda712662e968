"""Circuit plumbing: named inputs/outputs, skipping, delay/integrate/differentiate, feedback."""

import pytest
from hypothesis import given, settings

from dbsp import Circuit, ZSet
from dbsp.operators import Operator
from dbsp_reference import zset_streams

FAST = settings(max_examples=40, deadline=None)


@FAST
@given(zset_streams())
def test_differentiate_integrate_is_identity(ticks):
    c = Circuit()
    x = c.input("x")
    integral = x.integrate()
    c.output("value", integral)
    c.output("round_trip", integral.differentiate())
    c.output("delayed", x.delay())
    total = ZSet()
    previous_delta = ZSet()
    for (delta,) in ticks:
        out = c.step({"x": delta})
        total = total + delta
        assert out["value"] == total
        assert out["round_trip"] == delta
        assert out["delayed"] == previous_delta
        previous_delta = delta
        c._check()


def test_missing_inputs_are_empty_and_unknown_inputs_rejected():
    c = Circuit()
    a, b = c.input("a"), c.input("b")
    c.output("sum", a.plus(b))
    assert c.step({"a": ZSet({(1,): 1})})["sum"] == ZSet({(1,): 1})
    assert c.step()["sum"].is_empty()
    with pytest.raises(KeyError):
        c.step({"nope": ZSet()})


def test_operators_with_empty_inputs_are_not_called():
    calls = []

    class Spy(Operator):
        def step(self, delta):
            calls.append(delta)
            return delta

    c = Circuit()
    x = c.input("x")
    c.output("y", x.apply(Spy()))
    c.step({})
    c.step({"x": ZSet()})
    assert calls == []
    c.step({"x": ZSet({(1,): 1})})
    assert len(calls) == 1


def test_feedback_loop_running_sum():
    # y[t] = x[t] + y[t-1]: integration written with an explicit z^-1 loop.
    c = Circuit()
    x = c.input("x")
    previous = c.feedback()
    y = x.plus(previous)
    previous.connect(y)
    c.output("y", y)
    assert c.step({"x": ZSet({(1,): 1})})["y"] == ZSet({(1,): 1})
    assert c.step({"x": ZSet({(2,): 1})})["y"] == ZSet({(1,): 1, (2,): 1})
    assert c.step({"x": ZSet({(1,): -1})})["y"] == ZSet({(2,): 1})


def test_wiring_errors_are_clear():
    c, other = Circuit(), Circuit()
    a = c.input("a")
    with pytest.raises(ValueError, match="duplicate"):
        c.input("a")
    with pytest.raises(ValueError, match="different circuits"):
        a.plus(other.input("b"))
    dangling = c.feedback()
    c.output("a", a)
    with pytest.raises(ValueError, match="never connected"):
        c.step({})
    dangling.connect(a)
    with pytest.raises(ValueError, match="already connected"):
        dangling.connect(a)
    with pytest.raises(TypeError):
        a.connect(a)
