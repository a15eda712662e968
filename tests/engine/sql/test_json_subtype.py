"""SQLite's JSON subtype, against sqlite3: JSON values (json(), json_array(), ``->``,
json_each's ``value`` for arrays and objects, json_group_array/object) are embedded by
JSON functions and aggregates instead of quoted as strings; the subtype never leaves
an expression (results are plain ``str``), and values that went through a sorter
(GROUP BY, window functions) or a subquery lose it, as in SQLite.
"""

from __future__ import annotations

import sqlite3

import pytest

import turso_stream

QUERIES = [
    # json_each / json_tree value: arrays and objects embedded, scalars as values
    """SELECT json_array(value) FROM json_each('[1,[2],{"a":3},"s","[4]",null,true]')""",
    """SELECT json_array(j.value), j.value, typeof(j.value)
       FROM json_each('[1,[2],{"a":3},"s"]') AS j""",
    """SELECT json_object('k', value) FROM json_tree('{"a":[1,{"b":2}]}')""",
    """SELECT json_set('{}', '$.a', value) FROM json_each('[[1],"[2]"]')""",
    """SELECT json_array(value -> '$') FROM json_each('[[1],"[2]"]')""",
    """SELECT (SELECT json_array(value)) FROM json_each('[[1]]')""",
    """SELECT json_array(t.x, e.value) FROM t, json_each(t.x) AS e ORDER BY t.rowid""",
    # aggregates take JSON arguments verbatim
    "SELECT json_group_array(json('[1]'))",
    "SELECT json_group_object('k', json('[1]'))",
    "SELECT json_group_array(json(x)) FROM t",
    "SELECT json_group_array(x) FROM t",
    """SELECT json_group_array(value) FROM json_each('[1,[2],{"a":3},"s"]')""",
    """SELECT json_group_object(key, value) FROM json_each('{"a":[1],"b":{"c":null},"d":"[x]"}')""",
    "SELECT json_group_array(json(x)) FILTER (WHERE x > 0) FROM t",
    "SELECT json_group_array(json_array(x, json(x))) FROM t",
    # aggregate results embedded by JSON functions in the same expression
    "SELECT json_array(json_group_array(json(x))) FROM t",
    "SELECT json_object('a', json_group_array(x)) FROM t",
    "SELECT json_group_array(x) OVER (ORDER BY rowid) FROM t",
    "SELECT json_array(json_group_array(json(x)) OVER (ORDER BY rowid)) FROM t",
    # a sorter or a subquery loses the subtype of column values
    """SELECT x, json_group_array(value) FROM t, json_each('[[1],2]') GROUP BY x ORDER BY x""",
    """SELECT json_group_array(value) OVER () FROM json_each('[[1],2]')""",
    "SELECT x, json_group_array(json(x)) FROM t GROUP BY x ORDER BY x",
    "SELECT json_array(v) FROM (SELECT json(x) AS v FROM t) ORDER BY 1",
    # DISTINCT passes each first-seen value on with its subtype, NULL included once
    "SELECT json_group_array(DISTINCT json(x)) FROM t",
    "SELECT json_group_array(DISTINCT x -> '$'), json_group_array(DISTINCT json_array(x)) FROM t",
    "SELECT json_group_array(DISTINCT json(x)) FILTER (WHERE x <> 2) FROM t",
    "SELECT json_group_array(DISTINCT v) FROM (SELECT json(x) AS v FROM t UNION ALL SELECT NULL)",
    "SELECT json_group_array(DISTINCT json_extract(x, '$[0]')) FROM t",
    """SELECT json_group_array(DISTINCT value) FROM json_each('[[1],[1],2,null,null]')""",
    "SELECT json_group_object(x, json(x)) FROM t",
    # min()/max() return their argument's value, subtype included
    "SELECT max(json(x)), json_array(max(json(x)), min(json(x))) FROM t",
    "SELECT x, json_array(max(json(x))) FROM t GROUP BY x ORDER BY x",
    """SELECT json_array(max(value), min(value)) FROM json_each('[[1],[2],"[3]"]')""",
    "SELECT json_array(max(DISTINCT json(x))) FROM t",
    # value copies keep it: parentheses, +, COLLATE, coalesce/ifnull, CASE, iif,
    # and a scalar subquery whose one result is a JSON function's (not after ORDER BY)
    "SELECT json_array((json(x)), +json(x), json(x) COLLATE NOCASE) FROM t",
    "SELECT json_array(coalesce(json(x), 1), ifnull(NULL, json(x)), coalesce(NULL, 2)) FROM t",
    "SELECT json_array(CASE WHEN x = 2 THEN json('[9]') ELSE json(x) END) FROM t",
    "SELECT json_array(CASE x WHEN 2 THEN 'two' ELSE json(x) END, CASE WHEN 0 THEN 1 END) FROM t",
    "SELECT json_array(iif(x = 2, json(x), '[text]')) FROM t",
    # nullif returns its first argument's own value (or NULL), collation honoured
    "SELECT json_array(nullif(json(x), 2), nullif(json(x), x), nullif(x, 0)) FROM t",
    "SELECT json_object('a', nullif(json(x) COLLATE NOCASE, 'X'), 'b', nullif(json(x), NULL)) FROM t",
    "SELECT json_object('items', (SELECT json_group_array(x) FROM t))",
    "SELECT json_object('k', (SELECT json_group_array(u.x) FROM t AS u WHERE u.x <> t.x)) FROM t",
    "SELECT json_array((SELECT json(x) FROM t LIMIT 1), (SELECT json(x) FROM t ORDER BY 1 LIMIT 1))",
    "SELECT json_array((SELECT x FROM t LIMIT 1), (SELECT x -> '$' FROM t LIMIT 1))",
    "SELECT json_object('tags', coalesce((SELECT json_group_array(x) FROM t WHERE 0), json('[]')))",
    # the arrow operator on a string literal inside a function's arguments
    "SELECT json_array('[1]' -> '$')",
    "SELECT json_array(json('[1]') -> '$[0]', '{\"a\":[2]}' -> 'a', '[3]' ->> 0)",
]


def _rows(module, sql):
    conn = module.connect(":memory:")
    conn.execute("CREATE TABLE t(x)")
    conn.execute("""INSERT INTO t VALUES ('[1]'), (2), ('{"a":[3]}')""")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("sql", QUERIES)
def test_json_subtype_matches_sqlite(sql):
    want = _rows(sqlite3, sql)
    got = _rows(turso_stream, sql)
    assert got == want
    # type-strict: the subtype never reaches the user (plain str, not a subclass)
    assert [[type(v) for v in r] for r in got] == [[type(v) for v in r] for r in want]


def test_json_value_is_plain_text_when_stored():
    conn = turso_stream.connect(":memory:")
    conn.execute("CREATE TABLE s(v)")
    conn.execute("INSERT INTO s SELECT json_group_array(json('[1]'))")
    conn.execute("""INSERT INTO s SELECT value FROM json_each('[[2]]')""")
    rows = conn.execute("SELECT v, typeof(v), json_array(v) FROM s ORDER BY rowid").fetchall()
    assert rows == [("[[1]]", "text", '["[[1]]"]'), ("[2]", "text", '["[2]"]')]
    assert all(type(r[0]) is str for r in rows)
