"""Which SELECTs may be materialized: a view must be a function of its tables.

A materialized view is maintained from deltas, so its query must give the same
answer for the same data at any time. SQLite's rule for deterministic contexts
(deterministic.html) is the model: random(), randomblob(), changes() and the
like are never allowed; the date and time functions are allowed unless they
read the clock ('now', or no time value at all).
"""

from __future__ import annotations

from sqlglot import exp

from engine.errors import OperationalError
from engine.sql.functions import lookup_scalar

# Functions that read connection state rather than their arguments.
_CONTEXT = {"changes", "total_changes", "last_insert_rowid", "sqlite_version",
            "sqlite_source_id", "sqlite_compileoption_used", "sqlite_compileoption_get"}


def check_deterministic(node: exp.Expression, session=None) -> None:
    """Raise OperationalError naming the first clock- or state-dependent call in ``node``.

    O(size of the AST).
    """
    for call in node.find_all(exp.Anonymous):
        name = call.name.lower()
        args = call.expressions
        if name in _CONTEXT:
            raise _error(name)
        if session is not None and (session.user_function(name, len(args)) is not None
                                    or session.user_aggregate(name, len(args)) is not None):
            # Views are maintained by the database for every connection; a user
            # function belongs to one connection and may vanish with it.
            raise OperationalError(
                f"user-defined function {name}() cannot be used in a materialized view")
        fn = lookup_scalar(name, len(args))
        if fn is None:
            continue
        if not fn.deterministic:
            raise _error(name)
        if fn.time_dependent and _reads_clock(name, args):
            raise _error(f"{name}('now')" if args else name)
    if next(node.find_all(exp.Parameter, exp.Placeholder), None) is not None:
        raise OperationalError("parameters are not allowed in materialized views")


def _reads_clock(name: str, args) -> bool:
    """True when a date/time call's time value is 'now' or missing (strftime's is
    its second argument)."""
    time_args = args[1:] if name == "strftime" else args
    if not time_args:
        return True
    first = time_args[0]
    if isinstance(first, exp.Literal) and first.is_string:
        return first.this.strip().lower() == "now"
    # A column could hold 'now': SQLite rejects that at run time in deterministic
    # contexts; here the value is checked when rows flow (see the evaluator).
    return False


def _error(what: str) -> OperationalError:
    return OperationalError(
        f"non-deterministic function {what}() in a materialized view: its result would "
        "depend on when the view is refreshed, not on the data")
