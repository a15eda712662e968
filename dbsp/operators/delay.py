"""The delay operator z^-1 (DBSP section 2): output at t is the input at t-1.

At tick 0 the output is the empty Z-set.  Delay is what makes feedback
loops well-defined: its output is known before its input is computed, so a
circuit may route a later stream back into it (``Circuit.feedback``).
Cost O(1) per step (it hands over the previous object, no copy).
"""

from ..zset import ZSet
from .base import Operator


class Delay(Operator):
    """z^-1: ``step()`` returns the value latched at the end of the previous tick."""

    arity = 0
    always_step = True

    def __init__(self, work=None):
        super().__init__(work)
        self._previous = ZSet()
        self.source = None  # stream index, set by the circuit

    def step(self):
        return self._previous

    def latch(self, value):
        """Remember this tick's input value for the next tick."""
        self._previous = value

    def _check(self):
        self._previous._check()
