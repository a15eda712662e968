"""Expressions with SQLite's semantics, evaluated on turso_stream and sqlite3 over a
table whose columns have every affinity and whose rows mix storage classes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grammar import VALUES, Gen, sql_literal
from oracle import Pair, Shape

FAST = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
SLOW = settings(max_examples=5000, deadline=None, suppress_health_check=list(HealthCheck))

COLUMNS = ("i", "r", "t", "tn", "b", "n", "x")
CREATE = "CREATE TABLE v(i INTEGER, r REAL, t TEXT, tn TEXT COLLATE NOCASE, b BLOB, n NUMERIC, x)"
SCOPE = [f"v.{c}" for c in COLUMNS]

# Functions with fixed arguments whose SQLite semantics the grammar's random arguments
# rarely reach: date/time, JSON (with -> and ->>), char/unicode, round, substr.
DATES = ["'2024-02-29'", "'2024-02-29 13:45:10'", "'2000-01-01T00:00:00.500'", "2460000.5",
         "'1970-01-01'", "'2024-13-01'", "NULL", "0", "'12:30'"]
MODIFIERS = ["'+1 day'", "'-3 months'", "'start of month'", "'start of year'", "'+90 minutes'",
             "'weekday 0'", "'unixepoch'", "'localtime'", "'+1.5 hours'", "'end of time'"]
JSONS = ["'{\"a\":1,\"b\":[1,2,{\"c\":\"x\"}],\"d\":null}'", "'[1,2.5,\"s\",true,null]'",
         "'not json'", "'{\"a\":{\"b\":{\"c\":3}}}'", "'\"str\"'", "'12'", "NULL", "'[]'"]
PATHS = ["'$'", "'$.a'", "'$.b[1]'", "'$.b[2].c'", "'$[0]'", "'$[#-1]'", "'$.a.b.c'", "'a'", "2", "'$.missing'"]


@st.composite
def special_calls(draw):
    """One call of a date/time, JSON or formatting function with plausible arguments."""
    pick = lambda seq: draw(st.sampled_from(seq))  # noqa: E731
    kind = draw(st.integers(0, 9))
    if kind == 0:
        mods = ", ".join(pick(MODIFIERS) for _ in range(draw(st.integers(0, 2))))
        fn = pick(["date", "time", "datetime", "julianday", "unixepoch"])
        return f"{fn}({pick(DATES)}{', ' + mods if mods else ''})"
    if kind == 1:
        fmt = pick(["'%Y-%m-%d'", "'%H:%M:%f'", "'%j %w %W'", "'%s'", "'%J'", "'%%'"])
        return f"strftime({fmt}, {pick(DATES)})"
    if kind == 2:
        return f"({pick(JSONS)} {pick(['->', '->>'])} {pick(PATHS)})"
    if kind == 3:
        fn = pick(["json_extract", "json_type"])
        return f"{fn}({pick(JSONS)}, {pick(PATHS)})"
    if kind == 4:
        fn = pick(["json", "json_valid", "json_array_length", "json_type", "json_quote"])
        return f"{fn}({pick(JSONS)})"
    if kind == 5:
        args = ", ".join(sql_literal(draw(VALUES)) for _ in range(draw(st.integers(0, 3))))
        return f"{pick(['json_array', 'json_object'])}({args})" if "json_object" not in args else "json_array()"
    if kind == 6:  # printf()/format() are not implemented by turso_stream yet
        return f"quote({sql_literal(draw(VALUES))}) || hex({sql_literal(draw(VALUES))})"
    if kind == 7:
        # no surrogates: SQLite encodes them as invalid UTF-8, which sqlite3 cannot return
        points = st.integers(0, 0x10FFFF).filter(lambda c: not 0xD800 <= c <= 0xDFFF)
        return f"char({', '.join(str(draw(points)) for _ in range(draw(st.integers(0, 3))))})"
    if kind == 8:
        return f"round({sql_literal(draw(VALUES))}, {draw(st.integers(-2, 6))})"
    return f"substr({sql_literal(draw(VALUES))}, {draw(st.integers(-4, 4))}, {draw(st.integers(-3, 4))})"


def make_pair(rows):
    pair = Pair()
    pair.setup(CREATE)
    pair.setup_many("INSERT INTO v VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    return pair


ROWS = st.lists(st.tuples(*[VALUES] * len(COLUMNS)), min_size=1, max_size=5)


@st.composite
def expression_queries(draw):
    gen = Gen(draw, [])
    items = ", ".join(gen.expr(SCOPE, 3, False) for _ in range(draw(st.integers(1, 3))))
    where = f" WHERE {gen.expr(SCOPE, 2, False)}" if gen.chance(3) else ""
    return f"SELECT {items} FROM v{where}"


def _check(rows, queries):
    pair = make_pair(rows)
    try:
        for sql in queries:
            pair.check(sql, Shape())
    finally:
        pair.close()


@FAST
@given(ROWS, st.lists(expression_queries(), min_size=1, max_size=5))
def test_random_expressions(rows, queries):
    _check(rows, queries)


@FAST
@given(st.lists(special_calls(), min_size=1, max_size=6))
def test_functions_with_fixed_arguments(calls):
    _check([(None,) * len(COLUMNS)], [f"SELECT {c}" for c in calls])


@pytest.mark.slow
@SLOW
@given(ROWS, st.lists(expression_queries(), min_size=1, max_size=5))
def test_random_expressions_long(rows, queries):
    _check(rows, queries)
