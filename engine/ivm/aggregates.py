"""SQL aggregate calls as ``dbsp`` aggregates with SQLite's value rules.

``dbsp``'s aggregates are SQL-agnostic (they sum Python numbers and order by a
key); this module supplies the SQLite parts as value extractors:

* SUM/TOTAL/AVG read text and blobs as numbers (``sqlite3_value_numeric_type``:
  numeric-looking text counts as INTEGER or REAL, anything else as its REAL
  value); SUM of integers stays an integer and overflowing int64 is SQLite's
  "integer overflow" error;
* MIN/MAX order by SQLite's sort order under the argument's collation;
* group_concat/string_agg join SQLite's text forms of the values;
* ``FILTER (WHERE ...)`` turns a row's argument into NULL (skipped) when the
  filter is not true; COUNT(*) counts a constant 1 so it can be filtered too.

Float sums are exact (see ``dbsp.operators.aggregates``): deleting rows never
leaves rounding residue behind, unlike a running double.
"""

from __future__ import annotations

from sqlglot import exp

from dbsp import Avg, Count, GroupConcat, Max, Min, Sum, Total
from engine.errors import OperationalError, unsupported
from engine.values import INT64_MAX, INT64_MIN, numeric_value, sort_key_function, to_real, to_text


class SqlSum(Sum):
    """SUM with SQLite's "integer overflow" for an int64 overflow."""

    def _result(self, state):
        value = super()._result(state)
        if type(value) is int and not INT64_MIN <= value <= INT64_MAX:
            raise OperationalError("integer overflow")
        return value


def _as_number(value):
    """The number SUM/TOTAL/AVG add for ``value`` (None stays None)."""
    if value is None or type(value) is int or type(value) is float:
        return value
    number = numeric_value(value)
    return number if type(number) is int else to_real(value)


class _Numeric:
    """SUM/TOTAL/AVG read each value as a number *after* DISTINCT picked the values
    (SQLite's distinctness is on the values as stored: 1 and '1' are two values)."""

    def _add(self, state, value, row, weight):
        if type(value) is not int and type(value) is not float:
            value = _as_number(value)
        super()._add(state, value, row, weight)


class _NumericSum(_Numeric, SqlSum):
    pass


class _NumericTotal(_Numeric, Total):
    pass


class _NumericAvg(_Numeric, Avg):
    pass


class _TextConcat(GroupConcat):
    """group_concat of SQLite's text forms, converted *after* DISTINCT picked the
    values (1 and '1' are two values; both print as '1')."""

    def _add(self, state, value, row, weight):
        if type(value) is not str:
            value = to_text(value)
        super()._add(state, value, row, weight)


def _filtered(fn, test):
    return lambda row: fn(row) if test(row) else None


def dbsp_aggregate(node, comp, scan_order=None):
    """The ``dbsp`` aggregate computing the SQL aggregate call ``node``.

    ``node`` is an ``Anonymous`` call or a ``Filter`` around one; ``comp`` the
    expression compiler over the rows being aggregated; ``scan_order(row)`` (optional)
    the rows' order in a table scan (their rowids), which group_concat follows.
    """
    test = None
    if isinstance(node, exp.Filter):
        test = comp.predicate(node.expression.this)
        node = node.this
    name = node.name.lower()
    args = list(node.expressions)
    distinct = bool(args) and isinstance(args[0], exp.Distinct)
    if distinct:
        args = list(args[0].expressions) + args[1:]
        if len(args) != 1:
            raise OperationalError("DISTINCT aggregates must have exactly one argument")
    if len(args) == 1 and isinstance(args[0], exp.Star):
        if name != "count":
            raise OperationalError(f"wrong number of arguments to function {name}()")
        args = []
    compiled = [comp.compile(a) for a in args]
    if distinct and (compiled[0].collation or "BINARY") != "BINARY":
        raise unsupported(f"{name}(DISTINCT ...) under collation {compiled[0].collation} "
                          "in a materialized view")
    value = compiled[0].fn if compiled else (lambda row: 1)
    if test is not None:
        value = _filtered(value, test)
    if name == "count" and len(compiled) <= 1:
        return Count(value, distinct=distinct)
    if name in ("sum", "total", "avg") and len(compiled) == 1:
        klass = {"sum": _NumericSum, "total": _NumericTotal, "avg": _NumericAvg}[name]
        return klass(value, distinct=distinct)
    if name in ("min", "max") and len(compiled) == 1:
        key = sort_key_function(compiled[0].collation or "BINARY")
        klass = Min if name == "min" else Max
        return klass(value, key=key, distinct=distinct)
    if name in ("group_concat", "string_agg") and 1 <= len(compiled) <= 2:
        if name == "string_agg" and len(compiled) != 2:
            raise OperationalError("wrong number of arguments to function string_agg()")
        separator = ","
        if len(compiled) == 2:
            if not compiled[1].constant:
                raise unsupported(f"{name}() with a separator that is not a constant, "
                                  "in a materialized view")
            separator = compiled[1].fn(())
            separator = "" if separator is None else to_text(separator)
        return _TextConcat(value, separator, None if distinct else scan_order, distinct)
    raise unsupported(f"aggregate {name}() with {len(compiled)} arguments in a "
                      "materialized view")

