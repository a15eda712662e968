"""Type-strict rows: SQL values of different storage classes never merge in a Z-set.

Z-sets key rows by Python equality, under which ``(0,) == (0.0,)`` and
``(0.0,) == (-0.0,)``: a view whose select list yields an INTEGER 0 for one row
and a REAL 0.0 for another would store one value twice (``dbsp`` leaves the
encoding of types to its callers). Rows from base tables never collide (they
carry their rowid); rows lose that identity where a select list projects them,
so the view compiler passes projected rows through ``strict``.

``strict(row)`` returns the row itself unless it holds a float (the only values
that can equal a value of another type, or another float of another sign), in
which case it returns a ``StrictRow``: the same tuple whose equality also
compares each value's type and the sign of zeros. Its hash is the tuple's, so
it finds and is found by plain tuples of the same types; concatenation keeps
the strictness (joins concatenate rows). Cost: one pass over the row's values;
only rows with floats pay for Python-level comparisons.
"""

from __future__ import annotations

from math import copysign


class StrictRow(tuple):
    """A row tuple whose equality is type-strict (see module docstring)."""

    __slots__ = ()

    def __eq__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        if len(self) != len(other):
            return False
        for a, b in zip(self, other):
            if a is b:
                continue
            if type(a) is not type(b) or a != b:
                return False
            if type(a) is float and a == 0.0 and copysign(1.0, a) != copysign(1.0, b):
                return False
        return True

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = tuple.__hash__

    def __add__(self, other):
        return StrictRow(tuple.__add__(self, other))

    def __radd__(self, other):
        return StrictRow(tuple.__add__(other, self))

    def __repr__(self):
        return tuple.__repr__(self)


def strict(row: tuple) -> tuple:
    """``row``, as a StrictRow if it holds a float. O(len(row))."""
    for v in row:
        if type(v) is float:
            return StrictRow(row)
    return row


def plain(row: tuple) -> tuple:
    """A StrictRow as a plain tuple (what readers of a view receive)."""
    return tuple(row) if type(row) is StrictRow else row
