"""The operator protocol shared by every circuit node.

An operator consumes, per clock tick, one Z-set per input (a *delta*, except
for the explicit ``integrate``/``delay``/``differentiate`` operators whose
streams may carry values) and returns one Z-set.  Operators never mutate
their input Z-sets (inputs may be shared between consumers).

The circuit calls ``step`` only when some input is non-empty or the operator
reports ``always_step`` (state-emitting operators such as ``delay``); an
incremental operator fed nothing therefore does no work at all.
"""

from ..work import WorkCounter


class Operator:
    """Base class: ``arity`` inputs, a shared ``work`` counter, ``step``.

    Subclasses implement ``step(*inputs) -> ZSet`` and ``_check()``.
    """

    arity = 1
    always_step = False

    def __init__(self, work=None):
        self.work = work if work is not None else WorkCounter()

    def step(self, *inputs):  # pragma: no cover - abstract by contract
        raise TypeError(f"{type(self).__name__} does not define step()")

    def _check(self):
        """Assert the operator's state invariants (stateless: nothing)."""
        return None

    def __repr__(self):
        return f"{type(self).__name__}()"
