"""Differential tests: engine.sql.functions.json_fns against stdlib sqlite3 (3.40)."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings, strategies as st

from engine.sql.functions import json_fns as J
from engine.sql.functions.registry import SqlFunctionError, lookup_aggregate, lookup_scalar

CONN = sqlite3.connect(":memory:")
OPERATORS = {"json_arrow": "->", "json_arrow2": "->>"}


def _typeof(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "real"
    if isinstance(value, str):
        return "text"
    return "blob"


def _sql_call(name: str, args: tuple) -> tuple[str, list]:
    """SQL text calling ``name`` on ``args``; JsonText arguments go through json()
    so that sqlite3 sees them with the JSON subtype, as our functions do."""
    marks = ["json(?)" if type(a) is J.JsonText else "?" for a in args]
    params = [str(a) if type(a) is J.JsonText else a for a in args]
    if name in OPERATORS:
        return f"({marks[0]} {OPERATORS[name]} {marks[1]})", params
    return f"{name}({', '.join(marks)})", params


def oracle(name: str, args: tuple):
    """('ok', value, typeof) or ('error', message) from sqlite3."""
    expr, params = _sql_call(name, args)
    try:
        value, kind = CONN.execute(f"SELECT {expr}, typeof({expr})", params + params).fetchone()
    except sqlite3.OperationalError as err:
        return ("error", str(err))
    return ("ok", value, kind)


def ours(name: str, args: tuple):
    try:
        value = lookup_scalar(name, len(args)).fn(*args)
    except SqlFunctionError as err:
        return ("error", err.message)
    plain = str(value) if isinstance(value, str) else value
    return ("ok", plain, _typeof(value))


def assert_same(name: str, *args):
    assert ours(name, args) == oracle(name, args), (name, args)


# --------------------------------------------------------------------------
# Hand-picked cases
# --------------------------------------------------------------------------

DOCUMENTS = [
    "1.50", "-0", "0", "-0.0", "1e5", "1E+5", "2.5e-3", "99999999999999999999", "9223372036854775807",
    "9223372036854775808", "-9223372036854775808", "-9223372036854775809", '"\\u0041\\n\\/"',
    '"\\ud83d\\ude00"', '"a\\u0000b"', '"é"', "true", "false", "null",
    ' [1 , 2.0e5, "\\u0041" ] ', '{"a":1,"a":2}', '{"a":{"b":[1,{"c":null}]},"d":[]}',
    '{"\\u0061":1,"a b":2,"a.b":3,"x\\"y":4}', "[[[]],{}]", "\t[1]\n", "[1]\r ",
    "[1,]", "{\"a\":1,}", "nul", "nullx", " ", "", "{a:1}", "'a'", "5e", "0x10", "012", "-012", "1.",
    ".5", "-", "[1 2]", '"a\tb"', '"\\x"', '"\\u12"', "[1]\f", "[1]\v", "1 2", "{\"a\" 1}",
    "{1:2}", "Infinity", "NaN", "[1]\x00junk", "[" * 2000 + "]" * 2000, "[" * 2001 + "]" * 2001,
    None, 5, 2.5, b"[1,2]", "[true1]", "[null_]",
]


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda d: repr(d)[:40])
def test_whole_document_functions(doc):
    for name in ("json", "json_valid", "json_type", "json_array_length", "json_quote"):
        assert_same(name, doc)
    for path in ("$", "$[0]", "$.a", "$[#-1]"):
        assert_same("json_extract", doc, path)
        assert_same("json_type", doc, path)
        assert_same("json_array_length", doc, path)


PATH_DOC = '{"a":{"b":[10,20,{"c":"x"}]},"a b":1,"":2,"d":[[1,2],[3]],"e\'f":3,"\\u0061":4,"n":null}'
PATHS = [
    "$", "$.a", "$.a.b", "$.a.b[0]", "$.a.b[2].c", "$.a.b[#]", "$.a.b[#-1]", "$.a.b[#-3]",
    "$.a.b[#-4]", "$.a.b[#-0]", '$."a b"', '$.""', "$.d[0][1]", "$.d[1][0]", "$.missing",
    "$.a.b[3]", "$.a.b[4294967296]", "$.a.b[4294967297]", "$.n", "$.e'f", "$.\\u0061",
    "$[0]", "$.a[0]", "$.", '$."a', "$[", "$[0", "$[a]", "$[#-]", "$[#-1", "$.a.b[1a]", "$x",
    "a", "", "$.a.", "$.a..b", "$.a[0].x[", "$.a.b[0].c[", "$[-1]", "$.a.b[ 1]", None, 1, 1.5,
]


@pytest.mark.parametrize("path", PATHS, ids=repr)
def test_paths(path):
    assert_same("json_extract", PATH_DOC, path)
    assert_same("json_type", PATH_DOC, path)
    assert_same("json_array_length", PATH_DOC, path)
    assert_same("json_remove", PATH_DOC, path)
    for name in ("json_set", "json_insert", "json_replace"):
        assert_same(name, PATH_DOC, path, 99)
    assert_same("json_extract", PATH_DOC, path, "$.a")


ARROW_PATHS = ["a", "a.b", "a.b[1]", "[0]", "0", "1", "1a", "#-1", "$.a", "-1", "", "$", "a b", '"a b"',
               "[#-1]", 1, 0, -1, 1.0, None, "missing", "d[0]"]


@pytest.mark.parametrize("path", ARROW_PATHS, ids=repr)
@pytest.mark.parametrize("doc", [PATH_DOC, '[5,6,"x",[7],{"k":"v"}]', '{"-1":5,"1":6}', '"s"', "x", None],
                         ids=lambda d: repr(d)[:20])
def test_arrow_operators(doc, path):
    assert_same("json_arrow", doc, path)
    assert_same("json_arrow2", doc, path)


VALUES = [None, 0, -5, 2 ** 63 - 1, 1.5, 0.1, 1e20, 1e-7, -0.0, 1e999, -1e999, 123456789.123456789,
          "", "plain", 'q"uote', "back\\slash", "ctl\x01\x1f\x7f", "tab\tnl\nff\fcr\rbs\b", "/",
          "é😀", "nul\x00byte", J.JsonText("[1,2]"), J.JsonText('{"a":null}'), J.JsonText('"s"'),
          b"\x00", b""]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_value_rendering(value):
    assert_same("json_quote", value)
    assert_same("json_array", value)
    assert_same("json_array", 1, value, "x")
    assert_same("json_object", "k", value)
    assert_same("json_set", "{}", "$.k", value)
    assert_same("json_set", "[]", "$[#]", value)
    assert_same("json_replace", "[0]", "$[0]", value)
    assert_same("json_set", "1", "$", value)


@pytest.mark.parametrize("args", [
    (), ("a",), ("a", 1, "b"), (1, 2), (None, 1), (b"k", 1), (2.5, 1), (J.JsonText('"k"'), 1),
    ("a", 1, "a", 2), ("k\n\"", "v"), ("", None),
])
def test_json_object_arguments(args):
    assert_same("json_object", *args)


@pytest.mark.parametrize("args", [
    ("{}",), ("{}", "$.a"), ('{"a":1}', "$.a", 2, "$.b", 3), ('{"a":1}', "$.a", J.JsonText('{"b":2}'), "$.a.b", 3),
    ("{}", "$.a", 1, "$.a.b", 2), ("{}", "$.a", 1, "$.a", 2), ("[1]", "$[5]", 1), ("[1]", "$[1]", 1),
    ("{}", "$.a[0]", 1), ("{}", "$.a[1]", 1), ("{}", "$.a.b[0].c", 1), ("{}", "$[0]", 1), ("[]", "$.a", 1),
    ("[]", "$[0]", 1, "$[1]", 2, "$[#]", 3), ("[1,2]", "$[#]", 9, "$[#]", 10), ("{}", "$.a", 1, "$.b", 2, "$.a", 3),
    ('{"a":{"b":1}}', "$.a.c", 2), ('{"a":1}', "$.a", None), ("{}", "$.a.", 1), ("{}", "$.a[", 1),
    ("{}", "$.a.b[", 1), ("{}", '$."x.y"', 1), ("{}", '$."x', 1), ("{}", "$", J.JsonText("[1]")),
    ("{}", "$", "text"), ("{}", None, 1), ("{}", "$.a", b"\x00"), ("not json", "$.a", 1),
    (None, "$.a", 1), ("[1,2,3]", "$[0]", "a", "$[#-1]", "z"), ('{"\\u0061":1}', "$.a", 2),
])
def test_edit_functions(args):
    for name in ("json_set", "json_insert", "json_replace"):
        assert_same(name, *args)


@pytest.mark.parametrize("args", [
    ("[1]",), ("[1]", "$"), ("[1]", None), ("[1,2,3]", "$[0]", "$[0]"), ('{"a":1,"a":2}', "$.a", "$.a"),
    ('{"a":{"b":1}}', "$.a", "$.a.b"), ("[1,2,3]", "$[#-1]", "$[#-1]"), ("[1]", "$[5]"), ("x", "$"),
    ('{"a":1}', "$.a", "$["), ('{"a":1}', "a"), (None, "$"),
])
def test_json_remove(args):
    assert_same("json_remove", *args)


PATCHES = [
    ('{"a":1}', '{"a":null,"b":2}'), ('{"a":{"b":1,"c":2}}', '{"a":{"b":null,"d":{"e":null,"f":1}}}'),
    ("[1]", '{"a":null,"b":{"c":null}}'), ('{"a":1}', "[1]"), ('{"a":1}', '"x"'), ("1", "2"),
    ('{"a":1}', '{"a":{"x":null}}'), ('{"a":[1]}', '{"a":{"x":1}}'), ('{"a":1,"a":2}', '{"a":3}'),
    ('{"a":1}', '{"a":2,"a":3}'), ("{}", '{"x":1,"x":2}'), ('{"a":{"b":1}}', '{"a":{"c":1},"a":{"d":2}}'),
    ('{"a":{"b":1}}', '{"a":{"c":1},"a":null}'), ('{"\\u0061":1}', '{"a":2}'), ('{"a":1}', "{}"),
    (None, "{}"), ("{}", None), ("[1]", "x"), ("x", "{}"), ('{"a":null}', '{"b":null}'),
]


@pytest.mark.parametrize("target,patch", PATCHES, ids=repr)
def test_json_patch(target, patch):
    assert_same("json_patch", target, patch)


def test_lone_surrogate_escape():
    """sqlite3 cannot decode the UTF-8 SQLite makes of a lone surrogate; json() keeps the escape."""
    assert_same("json", '"\\ud83d x"')
    assert J.json_extract('"\\ud83d x"', "$") == "\ud83d x"


def test_results_carry_json_subtype():
    """Nested JSON results are embedded verbatim, as sqlite3 does with subtypes."""
    inner = J.json_array(1, "a")
    assert type(inner) is J.JsonText
    assert J.json_object("k", inner) == '{"k":[1,"a"]}'
    assert J.json_array(J.json_extract('{"a":[1]}', "$.a")) == "[[1]]"
    assert J.json_array(J.json_extract('{"a":"s"}', "$.a")) == '["s"]'
    assert J.json_array(J.json_arrow('{"a":"s"}', "a")) == '["s"]'
    assert J.json_array(J.json_arrow2('{"a":[2]}', "a")) == '["[2]"]'
    assert type(J.json_arrow2('{"a":[2]}', "a")) is str
    expr = "json_array(json_object('k', json_array(1,'a')), json('[true]'), json_quote('q'))"
    assert CONN.execute(f"SELECT {expr}").fetchone()[0] == J.json_array(
        J.json_object("k", J.json_array(1, "a")), J.json_("[true]"), J.json_quote("q"))


def test_registration():
    for name, nargs in [("json", 1), ("json_array", 3), ("json_array_length", 1), ("json_array_length", 2),
                        ("json_extract", 3), ("json_insert", 3), ("json_replace", 3), ("json_set", 3),
                        ("json_remove", 2), ("json_object", 2), ("json_patch", 2), ("json_quote", 1),
                        ("json_type", 1), ("json_type", 2), ("json_valid", 1), ("json_arrow", 2),
                        ("json_arrow2", 2)]:
        assert lookup_scalar(name, nargs) is not None, (name, nargs)
    assert lookup_aggregate("json_group_array", 1).factory is J.JsonGroupArray
    assert lookup_aggregate("json_group_object", 2).factory is J.JsonGroupObject


def test_parse_tree_invariants():
    root = J.parse_json(PATH_DOC)
    root._check()
    assert root.kind == "object" and root.n_parsed == 14
    J.lookup(root, "$.new.deep[0]", [False])
    root._check()
    assert J.parse_json("[1,]") is None


# --------------------------------------------------------------------------
# Aggregates (also as window functions, to exercise inverse)
# --------------------------------------------------------------------------

ROWS = [(1, "a", 1), (2, "b", 2.5), (3, None, None), (4, "a", "x\"y"), (5, "c", J.JsonText("[1]")),
        (6, "d", "{}"), (7, "e", -7)]


def _aggregate_table():
    CONN.execute("CREATE TEMP TABLE IF NOT EXISTS agg_rows(i INTEGER, k, v)")
    CONN.execute("DELETE FROM agg_rows")
    CONN.executemany("INSERT INTO agg_rows VALUES (?, ?, ?)",
                     [(i, k, str(v) if type(v) is J.JsonText else v) for i, k, v in ROWS])


def _value_sql(v):
    return "CASE WHEN i = 5 THEN json(v) ELSE v END"


@pytest.mark.parametrize("frame", [1, 2, 3])
def test_group_aggregates_and_windows(frame):
    _aggregate_table()
    arr = CONN.execute(f"SELECT json_group_array({_value_sql('v')}) FROM agg_rows").fetchone()[0]
    obj = CONN.execute(f"SELECT json_group_object(k, {_value_sql('v')}) FROM agg_rows").fetchone()[0]
    ga, go = J.JsonGroupArray(), J.JsonGroupObject()
    for _, k, v in ROWS:
        ga.step(v)
        go.step(k, v)
        ga._check()
        go._check()
    assert (ga.finalize(), go.finalize()) == (arr, obj)
    window = CONN.execute(
        f"SELECT json_group_array({_value_sql('v')}) OVER w, json_group_object(k, {_value_sql('v')}) OVER w "
        f"FROM agg_rows WINDOW w AS (ORDER BY i ROWS BETWEEN {frame} PRECEDING AND CURRENT ROW) ORDER BY i"
    ).fetchall()
    ga, go = J.JsonGroupArray(), J.JsonGroupObject()
    got = []
    for pos, (_, k, v) in enumerate(ROWS):
        ga.step(v)
        go.step(k, v)
        if pos > frame:
            _, k_old, v_old = ROWS[pos - frame - 1]
            ga.inverse(v_old)
            go.inverse(k_old, v_old)
        got.append((ga.value(), go.value()))
    assert got == window


def test_empty_groups_and_blob_error():
    assert J.JsonGroupArray().finalize() == CONN.execute(
        "SELECT json_group_array(1) FROM (SELECT 1 WHERE 0)").fetchone()[0]
    assert J.JsonGroupObject().finalize() == CONN.execute(
        "SELECT json_group_object('a', 1) FROM (SELECT 1 WHERE 0)").fetchone()[0]
    with pytest.raises(SqlFunctionError, match="JSON cannot hold BLOB values"):
        J.JsonGroupArray().step(b"\x00")
    with pytest.raises(sqlite3.OperationalError, match="JSON cannot hold BLOB values"):
        CONN.execute("SELECT json_group_array(x'00')").fetchone()


# --------------------------------------------------------------------------
# Randomized differential tests
# --------------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c", "a b", "", "\\u0061", "x\\\"y", "é", "a.b"])
STRING_BODIES = st.lists(st.sampled_from(
    ["a", "é", "😀", " ", "\\n", "\\t", "\\/", "\\\"", "\\\\", "\\u0041", "\\u00e9", "\\ud83d\\ude00",
     "\\u0000", "\\b", "/", "'"]), max_size=4).map("".join)
NUMBERS = st.one_of(
    st.integers(-10 ** 20, 10 ** 20).map(str),
    st.sampled_from(["0", "-0", "1.5", "1.50", "-0.0", "2e5", "2E-5", "1.5e+300", "1e400", "3.14159265358979323846"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr).filter(lambda s: "inf" not in s),
)
SPACE = st.sampled_from(["", "", " ", "\n", "\t ", "\r"])


def _json_text(draw_leaf):
    return st.recursive(
        draw_leaf,
        lambda inner: st.one_of(
            st.tuples(SPACE, st.lists(inner, max_size=4), SPACE).map(
                lambda t: "[" + t[0] + ",".join(t[1]) + t[2] + "]"),
            st.tuples(SPACE, st.lists(st.tuples(KEYS, SPACE, inner), max_size=4)).map(
                lambda t: "{" + t[0] + ",".join('"%s"%s:%s' % item for item in t[1]) + "}"),
        ),
        max_leaves=12,
    )


LEAF = st.one_of(NUMBERS, STRING_BODIES.map(lambda s: '"' + s + '"'),
                 st.sampled_from(["null", "true", "false"]))
JSON_TEXT = _json_text(LEAF)
MAYBE_BROKEN = st.one_of(
    JSON_TEXT,
    st.tuples(JSON_TEXT, st.integers(0, 50), st.sampled_from(["", ",", "]", "}", "x", "\x01", "\\", '"', ":"])).map(
        lambda t: t[0][:t[1]] + t[2] + t[0][t[1]:]),
    st.text(alphabet='[]{}",:0123456789-.eEtrufalsn \\', max_size=12),
)
PATH = st.one_of(
    st.lists(st.one_of(
        KEYS.map(lambda k: "." + k), KEYS.map(lambda k: '."' + k + '"'),
        st.integers(0, 4).map(lambda n: "[%d]" % n),
        st.sampled_from(["[#]", "[#-1]", "[#-2]", "[#-9]", "[", ".", "[x]"]),
    ), max_size=3).map(lambda parts: "$" + "".join(parts)),
    st.sampled_from(["", "a", "$$", None]),
)
SQL_VALUE = st.one_of(
    st.none(), st.integers(-2 ** 63, 2 ** 63 - 1), st.floats(allow_nan=False), st.text(max_size=6),
    JSON_TEXT.map(J.json_),
)


@settings(max_examples=300, deadline=None)
@given(MAYBE_BROKEN, PATH)
def test_random_read_functions(doc, path):
    assert_same("json", doc)
    assert_same("json_valid", doc)
    assert_same("json_extract", doc, path)
    assert_same("json_type", doc, path)
    assert_same("json_array_length", doc, path)
    if path is not None:
        short = path[2:] if path.startswith("$.") else path
        assert_same("json_arrow", doc, short)
        assert_same("json_arrow2", doc, short)


@settings(max_examples=300, deadline=None)
@given(JSON_TEXT, st.lists(st.tuples(PATH, SQL_VALUE), min_size=1, max_size=3),
       st.sampled_from(["json_set", "json_insert", "json_replace", "json_remove"]))
def test_random_edits(doc, edits, name):
    if name == "json_remove":
        assert_same(name, doc, *[path for path, _ in edits])
    else:
        assert_same(name, doc, *[x for edit in edits for x in edit])


@settings(max_examples=300, deadline=None)
@given(JSON_TEXT, JSON_TEXT)
def test_random_patches(target, patch):
    assert_same("json_patch", target, patch)


@settings(max_examples=150, deadline=None)
@given(st.lists(SQL_VALUE, max_size=4))
def test_random_constructors(values):
    assert_same("json_array", *values)
    pairs = []
    for k, value in enumerate(values):
        pairs += ["k%d" % (k % 2), value]
    assert_same("json_object", *pairs)
    for value in values:
        assert_same("json_quote", value)
