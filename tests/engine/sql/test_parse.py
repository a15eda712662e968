"""parse_one / parse_script / parse_single: SQLite's error messages, the cache."""

import sqlite3

import pytest
from sqlglot import exp

from engine.sql import parse as parse_mod
from engine.sql.parse import (
    MultipleStatementsError, SqlSyntaxError, parse_one, parse_script, parse_single,
)

MALFORMED = [
    "SELECT * FORM t", "SELECT a FORM t", "SELECT * FROM t WHERE", "SELECT * FROM", "SELECT",
    "SELECT 1 +", "SELECT (1", "SELECT 1)", "SELECT 'abc", 'SELECT "abc', "SELECT 1abc",
    "SELECT x'abc'", "SELECT 1 !", "SELEC 1", "INSERT INTO t VALUES", "INSERT INTO t VALUES (1,",
    "INSERT t VALUES (1)", "UPDATE t SET", "DELETE t", "DELETE FROM", "CREATE TABLE",
    "CREATE TABLE fresh(", "CREATE TABEL t(a)", "DROP t", "SELECT a b c FROM t", "SELECT 1 2",
    "SELECT a FROM t WHERE a = = 1", "SELECT a FROM t ORDER a", "SELECT a FROM t GROUP a",
    "SELECT a FROM t LIMIT", "SELECT count(*) FROM t HAVING", "SELECT a, FROM t",
    "SELECT a FROM t,", "SELECT CASE WHEN 1 THEN 2", "SELECT a FROM t JOIN", "BEGIN foo",
    "ROLLBACK TO", "SAVEPOINT", "PRAGMA", "SELECT ?0", "SELECT :", "SELECT @", "SELECT * x FROM t",
    "WITH x AS SELECT 1", "VALUES (1), (2", "SELECT 1 FROM t t2 t3", "EXPLAIN",
    "SELECT 1 UNION", "SELECT a.5 FROM t", "(SELECT 1)",
    "SELECT f(a,) FROM t", "CREATE TRIGGER tnew AFTER INSERT ON t BEGIN END",
    "CREATE TABLE fresh(a) WITHOUT foo", "SELECT {", "SELECT 1 FROM t WHERE a IN (1,",
]


def sqlite_error(sql):
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t(a, b)")
    try:
        con.execute(sql)
    except sqlite3.OperationalError as err:
        return str(err)
    return None


@pytest.mark.parametrize("sql", MALFORMED)
def test_error_messages_match_sqlite(sql):
    expected = sqlite_error(sql)
    assert expected is not None, "fixture should be malformed for SQLite"
    with pytest.raises(SqlSyntaxError) as info:
        parse_one(sql)
    assert info.value.message == expected
    assert str(info.value) == expected


def test_error_message_shapes_are_sqlites():
    with pytest.raises(SqlSyntaxError, match=r'^near "[^"]+": syntax error$'):
        parse_one("SELECT a FROM t WHERE a = = 1")
    with pytest.raises(SqlSyntaxError, match="^incomplete input$"):
        parse_one("SELECT 1 +")
    with pytest.raises(SqlSyntaxError, match=r'^unrecognized token: "\'x"$'):
        parse_one("SELECT 'x")


@pytest.mark.parametrize("sql", [
    "SELECT 1; SELECT 2", "SELECT 1;;", "SELECT 1 ; ;", "SELECT 1; x",
])
def test_parse_single_rejects_second_statement_like_sqlite3(sql):
    con = sqlite3.connect(":memory:")
    with pytest.raises(sqlite3.ProgrammingError, match="one statement at a time"):
        con.execute(sql)
    with pytest.raises(MultipleStatementsError) as info:
        parse_single(sql)
    assert info.value.message == "You can only execute one statement at a time."


@pytest.mark.parametrize("sql", [
    "SELECT 1", "SELECT 1;", "SELECT 1; -- x", "SELECT 1; /* x */", "SELECT 1 /* open", "; SELECT 1",
])
def test_parse_single_accepts_trailing_trivia(sql):
    sqlite3.connect(":memory:").execute(sql)
    assert isinstance(parse_single(sql), exp.Select)


@pytest.mark.parametrize("sql", ["", "   ", "-- only", ";", "/* c */ ;"])
def test_parse_single_no_statement_is_none(sql):
    sqlite3.connect(":memory:").execute(sql)  # sqlite3 runs nothing and raises nothing
    assert parse_single(sql) is None


def test_parse_one_strict_about_count():
    assert isinstance(parse_one("SELECT 1;"), exp.Select)
    with pytest.raises(MultipleStatementsError):
        parse_one("SELECT 1; SELECT 2")
    with pytest.raises(SqlSyntaxError, match="incomplete input"):
        parse_one("  ")


def test_parse_script_with_trigger_and_strings():
    trees = parse_script("""CREATE TABLE t(a); INSERT INTO t VALUES ('x;y');
        CREATE TRIGGER tr AFTER INSERT ON t BEGIN DELETE FROM t WHERE a = 'z;'; END;
        -- trailing comment
        SELECT a FROM t""")
    assert [type(t).__name__ for t in trees] == ["Create", "Insert", "CreateTrigger", "Select"]
    assert trees[1].find(exp.Literal).this == "x;y"


def test_parse_script_raises_first_error():
    with pytest.raises(SqlSyntaxError, match='near "FORM"'):
        parse_script("SELECT 1; SELECT * FORM t; SELEC 2")


def test_cache_returns_same_object_and_counts():
    parse_mod.clear_cache()
    first = parse_one("SELECT 42 AS answer")
    second = parse_one("SELECT 42 AS answer")
    assert first is second
    info = parse_mod.cache_info()
    assert info["hits"] == 1 and info["misses"] == 1 and info["size"] == 1


def test_cache_size_bounds_and_evicts_oldest():
    parse_mod.clear_cache()
    parse_mod.set_cache_size(2)
    try:
        a = parse_one("SELECT 1")
        parse_one("SELECT 2")
        parse_one("SELECT 3")
        assert parse_mod.cache_info()["size"] == 2
        assert parse_one("SELECT 1") is not a  # evicted, parsed again
        parse_mod.set_cache_size(0)
        assert parse_one("SELECT 5") is not parse_one("SELECT 5")
        with pytest.raises(ValueError):
            parse_mod.set_cache_size(-1)
    finally:
        parse_mod.set_cache_size(1024)


def test_errors_are_not_cached_as_results():
    for _ in range(2):
        with pytest.raises(SqlSyntaxError):
            parse_one("SELECT * FORM t")


VALID = [
    "SELECT a FROM t WHERE a IN (SELECT b FROM u) AND b NOT IN (1, 2) AND c BETWEEN 1 AND 2",
    "SELECT count(DISTINCT a), group_concat(b, ',') FROM t GROUP BY c HAVING count(*) > 1 LIMIT 10 OFFSET 5",
    "SELECT a FROM t LIMIT 5, 10",
    "INSERT INTO t(a, b, c) SELECT * FROM u WHERE true ON CONFLICT(a) DO UPDATE SET b = excluded.b RETURNING a",
    "CREATE TABLE x(a TEXT NOT NULL COLLATE NOCASE UNIQUE ON CONFLICT REPLACE, b INT PRIMARY KEY DESC)",
    "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END",
    "DROP TABLE IF EXISTS main.t", "ATTACH DATABASE 'x.db' AS aux", "DETACH aux",
    "SELECT CASE a WHEN 1 THEN 'x' ELSE 'y' END, iif(a, 1, 2), a || b, -a, ~a, a << 1 FROM t",
    "SELECT x'00ff', X'', 1e-3, 0xFF, 'it''s', \"a\", [a], `a` FROM t",
]


@pytest.mark.parametrize("sql", VALID)
def test_valid_sqlite_parses(sql):
    con = sqlite3.connect(":memory:")
    con.executescript("CREATE TABLE t(a UNIQUE, b, c); CREATE TABLE u(a, b, c)")
    con.execute("EXPLAIN " + sql)  # SQLite accepts it
    assert parse_one(sql) is not None
