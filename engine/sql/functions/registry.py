"""The registry of built-in SQL functions.

Every built-in scalar function is a plain Python callable over SQLite values
(None, int, float, str, bytes), registered under its lower-case name and arity.
The evaluator looks functions up once per statement when it compiles an
expression, never per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

VARIADIC = -1


class SqlFunctionError(Exception):
    """A built-in function rejected its input; ``message`` is SQLite's text.

    The DB-API layer raises it as ``sqlite3.OperationalError(message)``.
    """

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class ScalarFunction:
    """One registered scalar function.

    ``nargs`` is the exact arity or ``VARIADIC``. ``deterministic`` is False for
    functions whose result may differ between calls with the same arguments
    (random(), changes(), ...); ``time_dependent`` marks date/time functions whose
    result depends on the clock when given 'now' (or no time value), which a
    materialized view must reject at CREATE.
    """

    name: str
    nargs: int
    fn: Callable
    deterministic: bool = True
    time_dependent: bool = False


_SCALARS: dict[tuple[str, int], ScalarFunction] = {}


def scalar(name: str, nargs: int = VARIADIC, *, deterministic: bool = True,
           time_dependent: bool = False):
    """Decorator registering ``fn`` as the built-in scalar ``name`` of arity ``nargs``."""

    def register(fn: Callable) -> Callable:
        key = (name.lower(), nargs)
        _SCALARS[key] = ScalarFunction(name.lower(), nargs, fn, deterministic, time_dependent)
        return fn

    return register


def lookup_scalar(name: str, nargs: int) -> ScalarFunction | None:
    """The function registered for ``name`` called with ``nargs`` arguments, or None.

    An exact-arity registration wins over a variadic one. O(1).
    """
    lname = name.lower()
    return _SCALARS.get((lname, nargs)) or _SCALARS.get((lname, VARIADIC))


def scalar_names() -> set[str]:
    """Names of all registered scalar functions (for error messages and tests)."""
    return {name for name, _ in _SCALARS}


# --- aggregates -----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AggregateFunction:
    """One registered aggregate function.

    ``factory(*constant_args)`` makes a fresh accumulator per group (or window
    partition) with methods ``step(*args)``, ``inverse(*args)`` (remove a row,
    for sliding window frames), ``value()`` (current result, for windows) and
    ``finalize()``. ``nargs`` is the exact arity or ``VARIADIC``.
    """

    name: str
    nargs: int
    factory: Callable


_AGGREGATES: dict[tuple[str, int], AggregateFunction] = {}


def aggregate(name: str, nargs: int = VARIADIC):
    """Decorator registering an accumulator class as the aggregate ``name``/``nargs``."""

    def register(factory: Callable) -> Callable:
        key = (name.lower(), nargs)
        _AGGREGATES[key] = AggregateFunction(name.lower(), nargs, factory)
        return factory

    return register


def lookup_aggregate(name: str, nargs: int) -> AggregateFunction | None:
    """The aggregate registered for ``name`` with ``nargs`` arguments, or None.
    O(1). (min/max with one argument are aggregates; with more, scalars: the
    evaluator asks for the aggregate first.)"""
    lname = name.lower()
    return _AGGREGATES.get((lname, nargs)) or _AGGREGATES.get((lname, VARIADIC))


def aggregate_names() -> set[str]:
    """Names of all registered aggregate functions."""
    return {name for name, _ in _AGGREGATES}
