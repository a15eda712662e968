"""Core scalar and math functions, differential against the stdlib sqlite3."""

import math
import sqlite3

import pytest
from hypothesis import given, settings, strategies as st

import engine.sql.functions as F
from engine import values as V

SETTINGS = settings(max_examples=120, deadline=None)


@pytest.fixture(scope="module")
def db():
    conn = sqlite3.connect(":memory:")
    conn.text_factory = lambda b: b.decode("utf-8", "replace")
    yield conn
    conn.close()


ints = st.one_of(st.integers(-20, 20), st.integers(V.INT64_MIN + 1, V.INT64_MAX))
floats = st.one_of(st.floats(allow_nan=False, min_value=-1e4, max_value=1e4),
                   st.floats(allow_nan=False),
                   st.sampled_from([0.5, -2.5, 2.675, 1.005, -0.0, 1e20]))
texts = st.one_of(st.text(alphabet="aAb xyé'%_1.-", max_size=6),
                  st.sampled_from(["", "12", " 3.5 ", "1e3", "abc", "Robert", "-7x"]))
# Blobs are valid UTF-8: invalid bytes decode to U+FFFD here (a documented gap).
blobs = st.one_of(texts.map(str.encode), st.binary(max_size=4).map(lambda b: bytes(c & 0x7F for c in b)))
values = st.one_of(st.none(), ints, floats, texts, blobs)


def same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (a != a and b != b)
    return type(a) is type(b) and a == b


def call(name, *args):
    fn = F.lookup_scalar(name, len(args))
    assert fn is not None, name
    return fn.fn(*args)


def check(db, name, *args):
    placeholders = ", ".join("?" * len(args))
    try:
        expected = db.execute(f"SELECT {name}({placeholders})", args).fetchone()[0]
    except sqlite3.OperationalError as exc:
        with pytest.raises(F.SqlFunctionError) as info:
            call(name, *args)
        assert info.value.message == str(exc)
        return
    got = call(name, *args)
    assert same(got, expected), (name, args, got, expected)


ONE_ARG = ["abs", "length", "lower", "upper", "trim", "ltrim", "rtrim", "hex", "quote",
           "typeof", "unicode", "soundex", "round", "sign", "likely", "unlikely", "zeroblob",
           "acos", "asin", "atan", "acosh", "asinh", "atanh", "cos", "sin", "tan", "cosh",
           "sinh", "tanh", "exp", "sqrt", "degrees", "radians", "ceil", "ceiling", "floor",
           "trunc", "ln", "log", "log10", "log2"]
TWO_ARG = ["ifnull", "nullif", "instr", "trim", "ltrim", "rtrim", "round", "substr",
           "substring", "like", "glob", "max", "min", "coalesce", "atan2", "pow", "power",
           "mod", "log"]
THREE_ARG = ["iif", "replace", "substr", "max", "min", "coalesce"]


@SETTINGS
@given(values)
def test_one_argument_functions(db, a):
    for name in ONE_ARG:
        if name == "zeroblob" and isinstance(a, (int, float)) and abs(a) > 1000:
            continue
        check(db, name, a)


@SETTINGS
@given(values, values)
def test_two_argument_functions(db, a, b):
    for name in TWO_ARG:
        check(db, name, a, b)


@SETTINGS
@given(values, st.one_of(st.none(), st.integers(-8, 8), texts), st.one_of(
    st.none(), st.integers(-8, 8), texts))
def test_three_argument_functions(db, a, b, c):
    for name in THREE_ARG:
        check(db, name, a, b, c)


@pytest.mark.parametrize("expr", [
    "abs(-9223372036854775808)", "round(2.5)", "round(-2.5)", "round(1.005, 2)",
    "round(2.675, 2)", "round(1234.5678, -2)", "round(1.23456789, 40)",
    "round(4503599627370497.0)", "substr('hello', 0, 2)", "substr('hello', -2)",
    "substr('hello', -10, 3)", "substr(x'010203', 2)", "substr('hello', 2, -1)",
    "char(65, 66, -1, 1114112)", "quote(0.1 + 0.2)", "quote(1e308 * 10)", "quote(x'ab')",
    "quote('a''b')", "hex(NULL)", "replace(5, '', 'x')", "instr(x'0102', x'02')",
    "length('a' || char(0) || 'b')", "soundex('Tymczak')", "soundex(NULL)", "pi()",
    "log(2, 8)", "log(1, 8)", "pow(-8, 1.0/3)", "pow(10, 400)", "pow(0, -1)",
    "mod(5, 0)", "exp(1000)", "sinh(-1000)", "atanh(1)", "ceil('2')", "floor('2.5')",
    "upper('äb')", "sqlite_version()", "coalesce(NULL, NULL, 3)"])
def test_function_edge_cases(db, expr):
    import re
    name, args_text = re.fullmatch(r"(\w+)\((.*)\)", expr).groups()
    args = db.execute(f"SELECT {args_text}").fetchone() if args_text else ()
    check(db, name, *args)


def test_arity_errors_and_registry():
    assert F.lookup_scalar("abs", 2) is None
    assert F.lookup_scalar("ABS", 1).fn(-3) == 3
    assert not F.lookup_scalar("random", 0).deterministic
    assert not F.lookup_scalar("randomblob", 1).deterministic
    for absent in ["unhex", "concat", "concat_ws", "string_agg"]:
        assert F.lookup_scalar(absent, 2) is None and F.lookup_scalar(absent, 1) is None
    with pytest.raises(F.SqlFunctionError, match=r"wrong number of arguments to function coalesce\(\)"):
        call("coalesce", 1)
    with pytest.raises(F.SqlFunctionError, match="must be a constant between 0.0 and 1.0"):
        call("likelihood", 1, 2.0)
    assert call("likelihood", "x", 0.5) == "x"


def test_random_functions_shapes():
    r = call("random")
    assert V.INT64_MIN <= r <= V.INT64_MAX and type(r) is int
    assert len(call("randomblob", 0)) == 1 and len(call("randomblob", 7)) == 7
    assert len({call("random") for _ in range(20)}) > 15
