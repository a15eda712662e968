"""json_each / json_tree as FROM items, differential against stdlib sqlite3 (3.40)."""

from __future__ import annotations

import json
import sqlite3

import pytest
from hypothesis import given, settings, strategies as st

import turso_stream
from engine.sql.compiler.table_functions import json_rows
from engine.sql.functions.json_fns import JsonText

ORACLE = sqlite3.connect(":memory:")
COLUMNS = "key, value, type, atom, id, parent, fullkey, path, json, root"
PATHS = [None, "$", "$[0]", "$[1]", "$.a", "$.a[1]", "$[1].a", '$."b c"', "$[#-1]", "$.k9[0]"]

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
              st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=4)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(["a", "b c", "k9", "_x", "1a", "", 'q"', "é"]),
                        inner, max_size=4)),
    max_leaves=12)


def _typed(rows):
    """Rows with each value tagged by its Python type (JsonText counts as str)."""
    return [tuple((str if type(v) is JsonText else type(v), v) for v in r) for r in rows]


@settings(max_examples=150, deadline=None)
@given(json_values, st.sampled_from(PATHS), st.booleans(), st.booleans())
def test_rows_match_sqlite(value, path, recursive, compact):
    doc = json.dumps(value, separators=(",", ":") if compact else None)
    fn = "json_tree" if recursive else "json_each"
    args = (doc,) if path is None else (doc, path)
    marks = ", ".join("?" * len(args))
    expected = ORACLE.execute(f"SELECT {COLUMNS} FROM {fn}({marks})", args).fetchall()
    got = json_rows(doc, path or "$", recursive, path is not None)
    assert _typed(got) == _typed(expected)


SETUP = ["CREATE TABLE t(id INTEGER PRIMARY KEY, doc)",
         """INSERT INTO t VALUES (1, '[1,2,3]'), (2, '{"a":1,"b":[4,5]}'), (3, '[]'),
            (4, NULL), (5, '"text"')"""]

QUERIES = [
    "SELECT t.id, j.key, j.value FROM t, json_each(t.doc) j ORDER BY 1, 2",
    "SELECT t.id, j.key, j.value FROM t LEFT JOIN json_each(t.doc) j ORDER BY 1, 2",
    "SELECT t.id, j.fullkey, j.type FROM t JOIN json_tree(t.doc) j ON j.type = 'integer' "
    "ORDER BY 1, 2",
    "SELECT id, (SELECT count(*) FROM json_each(t.doc)) FROM t ORDER BY 1",
    "SELECT id, (SELECT sum(value) FROM json_tree(t.doc) WHERE atom IS NOT NULL) FROM t "
    "ORDER BY 1",
    "SELECT * FROM json_each('[1,2,3]') WHERE value > 1",
    "SELECT json, root, json_each.key FROM json_each('[1,2]', '$')",
    "SELECT a.value, b.value FROM json_each('[1,2]') a, json_each('[10,20]') b ORDER BY 1, 2",
    "SELECT a.value, b.value FROM json_each('[1,2]') a JOIN json_each('[1,20]') b "
    "ON a.value = b.value",
    "SELECT count(*) FROM t, json_tree(t.doc) WHERE json_tree.type = 'array'",
    """SELECT * FROM json_tree('{"x":[1,{"y":2}]}', '$.x')""",
    "SELECT j.value FROM t, json_each(t.doc, '$.b') j",
    "SELECT key FROM t, json_each(t.doc) WHERE t.id = 2 AND key = 'a'",
    "SELECT DISTINCT type FROM t, json_tree(t.doc) ORDER BY 1",
    "SELECT t.id, group_concat(j.value) FROM t, json_each(t.doc) j GROUP BY t.id ORDER BY 1",
    "SELECT id FROM t WHERE EXISTS (SELECT 1 FROM json_each(t.doc) WHERE value = 4)",
    "SELECT * FROM json_each()",
    "SELECT json_array_length(value) FROM json_each('[[1,2],[3]]')",
    "SELECT typeof(value), typeof(atom) FROM json_each('[1,2.5,\"s\",null,true,[1]]')",
    "EXPLAIN QUERY PLAN SELECT * FROM json_each('[1]') j",
    "SELECT json_array(json(value)), length(value), upper(value) FROM json_each('[[1],{\"a\":2}]')",
    "SELECT t.id, json_group_array(j.atom) FROM t, json_each(t.doc) j WHERE t.id < 3 "
    "GROUP BY 1",
    "EXPLAIN QUERY PLAN SELECT * FROM json_each('[1]', '$')",
]

ERRORS = [
    ("SELECT * FROM json_each('[1,2')", "malformed JSON"),
    ("SELECT * FROM json_each('[1,2]', 'x')", "JSON path error near 'x'"),
    ("SELECT * FROM json_each('[1,2]', 1, 2)", "too many arguments on json_each() - max 2"),
    ("SELECT * FROM nosuch(1)", "no such table: nosuch"),
]


def _run(module, sql):
    conn = module.connect(":memory:")
    for s in SETUP:
        conn.execute(s)
    cur = conn.execute(sql)
    return [d[0] for d in cur.description], cur.fetchall()


@pytest.mark.parametrize("sql", QUERIES)
def test_queries_match_sqlite(sql):
    exp_cols, exp_rows = _run(sqlite3, sql)
    cols, rows = _run(turso_stream, sql)
    assert cols == exp_cols
    assert _typed(rows) == _typed(exp_rows)


@pytest.mark.parametrize("sql, message", ERRORS)
def test_errors_match_sqlite(sql, message):
    with pytest.raises(sqlite3.OperationalError, match="^" + message.replace("(", r"\(")
                       .replace(")", r"\)").replace("$", r"\$") + "$"):
        _run(sqlite3, sql)
    with pytest.raises(turso_stream.OperationalError) as info:
        _run(turso_stream, sql)
    assert str(info.value) == message


def test_hidden_columns_are_not_in_star():
    cols, rows = _run(turso_stream, "SELECT * FROM json_each('[7]')")
    assert cols == ["key", "value", "type", "atom", "id", "parent", "fullkey", "path"]
    assert rows == [(0, 7, "integer", 7, 1, None, "$[0]", "$")]


def test_container_value_is_plain_text():
    # rows carry plain text; json(value) restores the JSON meaning (as in sqlite3)
    _cols, rows = _run(turso_stream, "SELECT value, typeof(value), json_array(json(value)) "
                                     "FROM json_each('[[1,2]]')")
    assert rows == [("[1,2]", "text", "[[1,2]]")]
    assert type(rows[0][0]) is str


def test_deep_document_is_iterative():
    doc = "[" * 1500 + "]" * 1500
    rows = json_rows(doc, "$", True, False)
    assert len(rows) == 1500
    assert rows[-1][4] == 1499 and rows[-1][5] == 1498
