"""Built-in SQL functions: registries plus the modules that fill them.

Importing this package registers every built-in. ``lookup_scalar(name, nargs)``
and ``lookup_aggregate(name, nargs)`` are what the evaluator calls at compile
time; a None answer means "no such function" / wrong arity, which the evaluator
reports as SQLite does ("wrong number of arguments to function abs()").
"""

from engine.sql.functions.registry import (  # noqa: F401
    VARIADIC, AggregateFunction, ScalarFunction, SqlFunctionError, aggregate,
    aggregate_names, lookup_aggregate, lookup_scalar, scalar, scalar_names)
from engine.sql.functions import core, math_fns, aggregates  # noqa: F401
from engine.sql.functions.aggregates import Distinct  # noqa: F401

# Modules written alongside this package; imported when present so this
# package works before (and independently of) them.
from engine.sql.functions import printf_fn  # noqa: F401
try:
    from engine.sql.functions import datetime_fns  # noqa: F401
except ImportError:  # pragma: no cover
    datetime_fns = None
try:
    from engine.sql.functions import json_fns  # noqa: F401
except ImportError:  # pragma: no cover
    json_fns = None
