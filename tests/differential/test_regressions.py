"""Shrunk examples the differential suite found, each fixed in the engine; every test
compares turso_stream with sqlite3 on the same statements."""

from __future__ import annotations

import sqlite3

import pytest

import turso_stream
from oracle import Pair, Shape


def check_all(setup, queries):
    pair = Pair()
    try:
        for sql in setup:
            pair.setup(sql)
        for sql in queries:
            pair.check(sql, Shape())
    finally:
        pair.close()


T1_T2 = [
    "CREATE TABLE t1(a, b)",
    "INSERT INTO t1 VALUES (NULL, NULL), (1, 2)",
    "CREATE TABLE t2(a, c)",
    "INSERT INTO t2 VALUES (1, 1), (3, 3), (NULL, 5)",
]


def test_aggregate_filter_clause():
    """agg(...) FILTER (WHERE ...) was rejected as an unsupported expression."""
    check_all(T1_T2, [
        "SELECT count(DISTINCT NULL) FILTER (WHERE NULL) FROM t1",
        "SELECT count(a) FILTER (WHERE b) FROM t1",
        "SELECT a, count(DISTINCT a) FILTER (WHERE b), sum(b) FILTER (WHERE b > 1) FROM t1 GROUP BY a",
        "SELECT a FROM t1 GROUP BY a HAVING count(*) FILTER (WHERE b) >= 0 ORDER BY count(*) FILTER (WHERE 1)",
        "SELECT abs(a) FILTER (WHERE b) FROM t1",              # error: not an aggregate
        "SELECT * FROM t1 WHERE count(a) FILTER (WHERE b)",    # error: misuse
    ])


def test_where_not_pushed_below_right_join():
    """A WHERE conjunct was pushed into the RIGHT/FULL join (or the scan before it), so
    NULL-padded rows escaped it."""
    check_all(T1_T2, [
        "SELECT * FROM t1 AS x0 RIGHT JOIN t1 AS x1 ON NULL WHERE NULL",
        "SELECT * FROM t1 AS x0 RIGHT JOIN t2 AS x1 ON x0.a = x1.a WHERE x0.a IS NULL",
        "SELECT * FROM t1 AS x0 RIGHT JOIN t2 AS x1 ON x0.a = x1.a WHERE x0.b = 2",
        "SELECT * FROM t1 AS x0 FULL JOIN t2 AS x1 ON x0.a = x1.a WHERE x0.a IS NULL OR x1.c = 3",
        "SELECT * FROM t1 AS x0 JOIN t1 AS x2 ON 1 RIGHT JOIN t2 AS x1 ON x0.a = x1.a WHERE x2.b IS NULL",
    ])


def test_using_columns_of_right_and_full_joins():
    """USING/NATURAL with RIGHT/FULL joins: the merged column reads the right table
    (RIGHT) or the coalesce of both (FULL), in ``*`` too; an ambiguous left column is an
    error; a later USING joins on the coalesce of every left table holding it."""
    check_all(T1_T2, [
        "SELECT x0.a, x1.a, a, x0.* FROM t1 AS x0 RIGHT JOIN t2 AS x1 USING (a)",
        "SELECT x0.a, x1.a, a, x0.*, * FROM t1 AS x0 FULL JOIN t2 AS x1 USING (a)",
        "SELECT a, * FROM t1 AS x0 NATURAL FULL JOIN t2 AS x1",
        "SELECT (SELECT a) FROM t1 AS x0 FULL JOIN t2 USING (a)",
        "SELECT * FROM t1 AS x0 RIGHT JOIN t2 AS x1 USING (a) JOIN t2 AS x2 USING (a)",
        "SELECT * FROM t1 AS x0 JOIN t2 AS x1 ON 1 RIGHT JOIN t2 AS x2 USING (a)",
        "SELECT * FROM t1 AS x0 NATURAL RIGHT JOIN t2 AS x1 NATURAL JOIN t2 AS x2",
    ])


@pytest.mark.parametrize("expr", [
    "0 NOT LIKE 'a%'", "'b' NOT LIKE 'a%'", "NULL NOT LIKE 'a'",
    "'a_' NOT LIKE 'a!_' ESCAPE '!'", "'ab' NOT LIKE 'a!_' ESCAPE '!'",
    "'a_b' LIKE 'a!_b' ESCAPE '!'", "'axb' LIKE 'a!_b' ESCAPE '!'", "'ab' LIKE 'a' ESCAPE NULL",
    "'a' LIKE 'a' ESCAPE 'xy'",
])
def test_not_like_and_escape(expr):
    """NOT LIKE evaluated as LIKE (sqlglot marks it with ``negate``), and any ESCAPE
    clause raised a TypeError."""
    check_all([], [f"SELECT {expr}"])


@pytest.mark.parametrize("expr", [
    "CAST(1 AS NUMERIC)", "CAST((NULL IS NULL) AS NUMERIC)", "CAST('1.0' AS NUMERIC)",
    "CAST(1.0 AS NUMERIC)", "CAST('12abc' AS DECIMAL(10,2))", "CAST(' 3 ' AS UNSIGNED BIG INT)",
    "CAST('4.0' AS MONEY)", "CAST(1 AS BOOLEAN)", "CAST('1e3' AS NUMERIC)", "CAST(5 AS VARCHAR(2))",
])
def test_cast_uses_the_type_name_as_written(expr):
    """CAST(1 AS NUMERIC) gave 1.0: sqlglot rewrote NUMERIC to DECIMAL/REAL before the
    affinity was taken from the type name."""
    check_all([], [f"SELECT {expr}"])


def test_unary_plus_drops_affinity():
    """sqlglot dropped unary ``+``, so ``+t`` compared with t's TEXT affinity."""
    check_all(["CREATE TABLE v(t TEXT COLLATE NOCASE)", "INSERT INTO v VALUES ('-1'), ('A')"], [
        "SELECT 0 <= t, 0 <= +t, 0 <= (+t COLLATE BINARY), +t = 'a', +5, +'a', + -3 FROM v",
        "SELECT (0 BETWEEN NULL AND ((+v.t) COLLATE BINARY)) FROM v",
    ])


DML_SETUP = [
    "CREATE TABLE d(id INTEGER PRIMARY KEY, u UNIQUE, c INTEGER NOT NULL DEFAULT 5 CHECK (c < 50))",
    "CREATE TABLE src(p, q)",
    "INSERT INTO src VALUES (1, 'a'), (2, 'B'), (NULL, 3.5), (2, x'00')",
]


@pytest.mark.parametrize("statements", [
    # OR FAIL keeps the rows written before the failing one (it was undone like ABORT)
    ["INSERT OR FAIL INTO d(id) SELECT p FROM src"],
    ["insert or fail into d(c) values (1), (99)"],
    ["INSERT INTO d(id) VALUES (1), (2)", "UPDATE OR FAIL d SET c = 40 + id * 5"],
    # lower-case conflict clauses were ignored (compared against upper-case names)
    ["insert or ignore into d(id) values (1), (1), (2)"],
    ["insert into d(id, u) values (1, 'x')", "insert or replace into d(id, u) values (2, 'x')"],
    # OR IGNORE does not ignore a datatype mismatch
    ["INSERT OR IGNORE INTO d(id) SELECT q FROM src"],
    # DEFAULT VALUES took the (empty) value list as a whole row
    ["INSERT INTO d DEFAULT VALUES RETURNING *", "INSERT INTO d DEFAULT VALUES"],
    # OR REPLACE: NULL into a NOT NULL column with a DEFAULT takes the default
    ["INSERT INTO d(id) VALUES (NULL)", "INSERT OR REPLACE INTO d(id, c) SELECT p, p FROM src RETURNING *"],
    ["INSERT INTO d(id) VALUES (3)", "UPDATE OR REPLACE d SET c = NULL RETURNING c"],
])
def test_dml_conflict_resolution(statements):
    pair = Pair()
    try:
        for sql in DML_SETUP:
            pair.setup(sql)
        for sql in statements:
            pair.check(sql, Shape())
            pair.check("SELECT rowid, * FROM d", Shape())
    finally:
        pair.close()


def test_in_list_values_have_no_affinity():
    """``a IN (x, y)`` is ``a = +x OR a = +y``: a column in the list lent its affinity."""
    check_all(["CREATE TABLE v(i INTEGER, t TEXT)", "INSERT INTO v VALUES (0, '1')"], [
        "SELECT lower(i) IN (NULL, i), lower(i) IN (i), '0' IN (i, 5), i IN ('0'), t IN (1),"
        " 1 IN (t), '1' IN (t), i IN (t, '0') FROM v",
        "SELECT NULL FROM v WHERE (lower(v.i) IN (NULL, NULL, v.i))",
    ])


def test_replace_with_a_pattern_starting_with_nul():
    """replace(x, X'00', y): SQLite sees an empty C string and returns x itself."""
    check_all([], ["SELECT replace(0, x'00', NULL), replace(0, x'00', 'z'), replace('abc', x'00', 'z'),"
                   " typeof(replace(0, x'00', NULL)), replace(x'6100', x'0061', 'q'),"
                   " replace('a', x'0061', 'q')"])


@pytest.mark.parametrize("indexed", [False, True])
@pytest.mark.parametrize("decls", [("INTEGER", "TEXT"), ("INTEGER", "TEXT COLLATE NOCASE"),
                                   ("TEXT COLLATE NOCASE", "TEXT COLLATE RTRIM"), ("INTEGER", "")])
def test_join_equality_collation_and_index_affinity(decls, indexed):
    """A BINARY column's collation was taken for "none", so the other side's NOCASE won;
    hash and index joins took the inner side's collation instead of the left operand's;
    an index probe was used where the comparison converts values unlike the index."""
    setup = [f"CREATE TABLE t1(a {decls[0]}, b)", f"CREATE TABLE t2(a {decls[1]}, c)"]
    for v in ("1", "'1'", "1.0", "'a'", "'A'", "'a '", "x'61'", "NULL", "' 1'"):
        setup += [f"INSERT INTO t1 VALUES ({v}, 0)", f"INSERT INTO t2 VALUES ({v}, 0)"]
    if indexed:
        setup += ["CREATE INDEX i1 ON t1(a)", "CREATE INDEX i2 ON t2(a)"]
    check_all(setup, [
        "SELECT x2.a, x3.a FROM t1 AS x2 NATURAL JOIN t2 AS x3",
        "SELECT x2.a, x3.a FROM t1 AS x2 JOIN t2 AS x3 ON x3.a = x2.a",
        "SELECT x2.a, x3.a FROM t1 AS x2 LEFT JOIN t2 AS x3 ON x2.a = x3.a",
        "SELECT t1.a = t2.a, t2.a = t1.a, +t1.a = t2.a FROM t1, t2",
    ])


def test_update_or_replace_rereads_rows_by_key():
    """UPDATE OR REPLACE updated a row it had already deleted (from its old image): SQLite
    keeps only the rowids and updates whatever row holds the key when it gets there."""
    check_all(["CREATE TABLE d(id INTEGER PRIMARY KEY, u UNIQUE)",
               "INSERT INTO d VALUES (1, NULL), (2, '0'), (5, 'x')",
               "CREATE TABLE e(k UNIQUE, v)", "INSERT INTO e VALUES (1, 'a'), (2, 'b'), (3, 'c')"], [
        "UPDATE OR REPLACE d SET id = id + 1 RETURNING *", "SELECT * FROM d",
        "UPDATE OR REPLACE e SET k = k + 1", "SELECT rowid, * FROM e",
    ])


def test_group_by_a_non_integer_literal_is_a_constant():
    """Only integer literals are GROUP BY ordinals; 0.5 groups everything together."""
    import sqlite3 as std
    import turso_stream
    for module in (std, turso_stream):
        conn = module.connect(":memory:")
        conn.execute("CREATE TABLE t(a)")
        conn.execute("INSERT INTO t VALUES (1), (2)")
        assert conn.execute("SELECT count(*) FROM t GROUP BY 0.5").fetchall() == [(2,)]


def test_likely_drops_affinity_and_column_collation():
    """likely()/unlikely()/likelihood() are function calls to SQLite's comparisons: no
    affinity and no column collation (an explicit COLLATE in the argument still counts).
    Found as ``likely(v.i) IN (NULL, rtrim(v.i, v.t))`` returning a row."""
    check_all(["CREATE TABLE v(i INTEGER, t TEXT, tn TEXT COLLATE NOCASE)",
               "INSERT INTO v VALUES (1, '1', 'a'), (5, 'a', 'B'), (0, '0 ', NULL)"], [
        "SELECT i FROM v WHERE likely(v.i) IN (NULL, rtrim(v.i, v.t))",
        "SELECT likely(i) = '1', '1' = unlikely(i), likelihood(t, 0.5) = 1, likely(i) = t,"
        " likely(tn) = 'A', 'A' = likely(tn), likely(tn) > 'b', likely('a' COLLATE NOCASE) = 'A',"
        " likely(i) BETWEEN '0' AND '2', likely(i) IN ('1', 'x'), likely(t) IN (1, 2),"
        " likely(tn) IN (NULL, 'A'), likely(i) NOT IN ('1', NULL), +likely(tn) = 'A' FROM v",
        "SELECT tn FROM v ORDER BY likely(tn)",
    ])


def test_in_list_collation_is_the_left_operands():
    """``x IN (list)`` compares under x's collation only; the list's columns and COLLATEs
    do not count, except that SQLite's parser rewrites ``x IN (e)`` with e constant (no
    column, function or subquery) into ``x = +e``, where e's COLLATE does."""
    check_all(["CREATE TABLE v(i INTEGER, t TEXT, tn TEXT COLLATE NOCASE)",
               "INSERT INTO v VALUES (1, '1', 'a')"], [
        "SELECT 'A' IN (tn, 'x'), 'A' IN (tn), 'A' IN (+tn), tn IN ('A', 'x'),"
        " 'A' IN ('a' COLLATE NOCASE, 'b'), 'A' IN ('a' COLLATE NOCASE),"
        " 'A' IN (('a' COLLATE NOCASE) || ''), 'A' IN ((SELECT 'a' COLLATE NOCASE)),"
        " 'A' IN (CASE WHEN 1 THEN 'a' COLLATE NOCASE END), 'A' IN (1 + 1, 'a' COLLATE NOCASE),"
        " 'A' IN (lower('a' COLLATE NOCASE)), 'A' COLLATE NOCASE IN (likely(tn)) FROM v",
    ])


def test_in_list_index_probes_follow_in_semantics():
    """An index probe for ``col IN (...)`` gave the list values their own affinity, and
    one for ``col IN ('a' COLLATE NOCASE)`` ignored the rewrite to ``col = +'a' ...``."""
    check_all(["CREATE TABLE a(t TEXT, n)", "INSERT INTO a VALUES ('1', '1'), ('2', 2)",
               "CREATE TABLE b(x, y INTEGER, z TEXT)", "CREATE INDEX bz ON b(z)",
               "CREATE INDEX by ON b(y)",
               "INSERT INTO b VALUES (1, 1, 'a'), ('1', 2, 'A'), (2, '2', 'b'), ('a', 3, '1'),"
               " ('A', 4, 2)"], [
        "SELECT t, (SELECT count(*) FROM b WHERE b.z IN (a.n, 'q')) FROM a",
        "SELECT t, (SELECT count(*) FROM b WHERE b.y IN (a.t, 'q')) FROM a",
        "SELECT * FROM b WHERE z IN ('a' COLLATE NOCASE)",
        "SELECT * FROM b WHERE y IN (CAST(2 AS TEXT))",
    ])


def test_explicit_collate_carries_through_operators_and_functions():
    """SQLite's EP_Collate: a COLLATE anywhere inside an expression (not inside a
    subquery) is the whole expression's collation; a column's collation passes only
    through CAST and unary plus; a scalar subquery lends none."""
    check_all(["CREATE TABLE v(i INTEGER, t TEXT, tn TEXT COLLATE NOCASE)",
               "INSERT INTO v VALUES (1, '1', 'a')"], [
        "SELECT lower('a' COLLATE NOCASE) = 'A', ('a' COLLATE NOCASE || '') = 'A',"
        " ('' || 'a' COLLATE NOCASE) = 'A', coalesce(NULL, 'a' COLLATE NOCASE) = 'A',"
        " CASE WHEN 1 THEN 'a' COLLATE NOCASE END = 'A', substr('abc', 1, 1 COLLATE NOCASE) = 'A',"
        " CAST('a' COLLATE NOCASE AS TEXT) = 'A', CAST(tn AS TEXT) = 'A', lower(tn) = 'a',"
        " iif(1, 'a' COLLATE NOCASE, 'b') = 'A', ifnull(NULL, 'a' COLLATE NOCASE) = 'A',"
        " lower('a' COLLATE RTRIM || 'b' COLLATE NOCASE) = 'AB',"
        " json_extract('{\"a\":\"x\"}' COLLATE NOCASE, '$.a') = 'X',"
        " (SELECT tn) = 'A', (SELECT 'a' COLLATE NOCASE) = 'A', 'A' = (SELECT tn FROM v),"
        " tn IN (SELECT 'A' COLLATE BINARY), 'A' IN (SELECT tn FROM v) FROM v",
        "SELECT max(tn COLLATE NOCASE) = 'A', count(t COLLATE NOCASE) || 'a' = '1A' FROM v",
    ])


def test_scalar_min_max_nullif_use_the_first_collation():
    """Scalar min()/max()/nullif() compare under the first argument's collation that
    has one (a column's or an explicit COLLATE), as SQLITE_FUNC_NEEDCOLL functions."""
    check_all(["CREATE TABLE v(i INTEGER, t TEXT, tn TEXT COLLATE NOCASE)",
               "INSERT INTO v VALUES (1, '1', 'a')"], [
        "SELECT max(tn, 'B'), min(tn, 'B'), max('B', tn), max('B', t, tn),"
        " max(t, 'B' COLLATE NOCASE), nullif(tn, 'A'), nullif('A', tn),"
        " nullif('A', 'a' COLLATE NOCASE), min('a', 'A' COLLATE NOCASE), max(NULL, tn) FROM v",
    ])


def test_in_a_parenthesized_subquery_is_a_one_element_list():
    """``x IN ((SELECT ...))`` is a list of one scalar subquery (its first row), not an
    IN over the subquery's rows."""
    check_all(["CREATE TABLE v(i INTEGER, tn TEXT COLLATE NOCASE)", "INSERT INTO v VALUES (1, 'a')"], [
        "SELECT 2 IN ((SELECT 1 UNION SELECT 2)), 2 IN (((SELECT 1 UNION SELECT 2))),"
        " 2 NOT IN ((SELECT 1 UNION SELECT 2)), NULL IN ((SELECT 1 WHERE 0)),"
        " 1 IN ((SELECT 1 WHERE 0)), i IN ((SELECT '1')), 'A' IN ((SELECT 'a' COLLATE NOCASE)),"
        " 2 IN (SELECT 1 UNION SELECT 2) FROM v",
    ])


def test_like_and_glob_read_text_up_to_nul():
    """LIKE/GLOB (operators and functions) see text as C strings: cut at the first NUL.
    Found as ``(rtrim(v.r, 0) GLOB '[^a]*') BETWEEN (NULL + NULL) AND 0`` over X'00'."""
    check_all(["CREATE TABLE v(r REAL)", "INSERT INTO v VALUES (NULL), (x'00')"], [
        "SELECT ((rtrim(v.r, 0) GLOB '[^a]*') BETWEEN (NULL + NULL) AND 0) FROM v",
        "SELECT char(0) GLOB '', 'a' || char(0) || 'b' GLOB 'a', 'a' || char(0) || 'b' GLOB 'a*b',"
        " 'a' || char(0) || 'b' LIKE 'a', 'a' || char(0) || 'b' NOT LIKE 'a%b',"
        " 'a' LIKE 'a' || char(0) || 'b' ESCAPE 'x', like('a' || char(0) || 'b', 'a'),"
        " glob('a' || char(0) || 'b', 'a'), x'610062' GLOB 'a'",
    ])


def test_comparisons_under_a_user_collation():
    """A collation registered with create_collation: comparisons raised "no such
    collation sequence" (ORDER BY already used it)."""
    import sqlite3 as std
    import turso_stream
    sql = ("SELECT 'a' < 'b' COLLATE rev, 'b' IN ('a' COLLATE rev, 'b'), max('a' COLLATE rev, 'b'),"
           " 'x' COLLATE rev > 'y', NULL < 'a' COLLATE rev")
    results = []
    for module in (std, turso_stream):
        conn = module.connect(":memory:")
        conn.create_collation("rev", lambda x, y: (x < y) - (x > y))
        results.append(conn.execute(sql).fetchall())
    assert results[0] == results[1]


COMPOUND_COLLATIONS = [
    "CREATE TABLE t(a, b TEXT COLLATE NOCASE)",
    "CREATE TABLE u(b, c TEXT COLLATE RTRIM)",
    "INSERT INTO t VALUES ('A', 'x'), ('b', 'X'), ('a ', 'Y'), (1, 1.0), (1.0, 1)",
    "INSERT INTO u VALUES ('a', 'a '), ('B', 'b'), ('c', 'A'), (1.0, 1)",
]


@pytest.mark.parametrize("op", ["UNION", "UNION ALL", "INTERSECT", "EXCEPT"])
@pytest.mark.parametrize("left", ["a", "a || ''", "upper(a)", "b", "a COLLATE RTRIM"])
@pytest.mark.parametrize("right", ["b", "b COLLATE NOCASE", "c", "b || ''"])
def test_compound_collation_is_the_first_arm_that_has_one(op, left, right):
    """A compound column's collation (duplicates, ORDER BY) is the first arm's that has
    one: a left expression without COLLATE takes the right arm's COLLATE or declared
    collation (multiSelectCollSeq). A FROM item reading the compound sees the left
    arm's. Which equal row survives: with ORDER BY (a merge) a UNION keeps the right
    arm's first, INTERSECT/EXCEPT the left's first; without, the last one."""
    from oracle import OrderTerm
    pair = Pair()
    try:
        for sql in COMPOUND_COLLATIONS:
            pair.setup(sql)
        compound = f"SELECT {left} AS x FROM t {op} SELECT {right} FROM u"
        pair.check(compound, Shape())
        for order in ("1", "1 DESC"):
            # ties are decided under the coarsest collation; rows must still match
            pair.check(f"{compound} ORDER BY {order}",
                       Shape(order=[OrderTerm(0, None)]))
        pair.check(f"SELECT x FROM ({compound}) ORDER BY x", Shape(order=[OrderTerm(0, None)]))
        pair.check(f"SELECT DISTINCT x FROM ({compound})", Shape())
        pair.check(f"SELECT {left} FROM t UNION ALL SELECT 'zz' {op} SELECT {right} FROM u "
                   "ORDER BY 1", Shape(order=[OrderTerm(0, None)]))
        pair.check(f"SELECT {left} FROM t {op} SELECT {right} FROM u UNION SELECT 'X' "
                   "ORDER BY 1", Shape(order=[OrderTerm(0, None)]))
    finally:
        pair.close()


LAZY = [
    "CREATE TABLE t1(a INTEGER, b INTEGER, c INTEGER)",
    "INSERT INTO t1 VALUES (NULL, NULL, NULL), (x'', 3, NULL), (NULL, -9223372036854775808, NULL)",
]
OVERFLOW = "(SELECT count(*) FILTER (WHERE abs(x3.b)) AS a FROM t1 AS x3)"


def test_what_sqlite_never_evaluates_raises_nothing():
    """abs(-9223372036854775808) overflows, but SQLite never runs the derived table
    holding it when: LIMIT is 0; a constant WHERE (or inner join ON) term is false,
    which it tests before its loops; a WHERE term on the first table (a correlated
    IN subquery too) removes every row before the join reads the derived table."""
    check_all(LAZY, [
        f"SELECT * FROM {OVERFLOW} LIMIT 0",
        f"SELECT a FROM {OVERFLOW} UNION SELECT 1 ORDER BY 1 LIMIT 0 OFFSET 1",
        f"SELECT * FROM {OVERFLOW} AS q WHERE NULL",
        f"SELECT count(*) FROM t1 JOIN {OVERFLOW} AS q ON NULL",
        f"SELECT count(*) FROM t1 JOIN {OVERFLOW} AS q ON 0 AND t1.a = q.a",
        f"SELECT * FROM t1 AS x1 LEFT JOIN {OVERFLOW} AS x2 USING (a) "
        "WHERE CAST(x1.b AS INT) IN (SELECT s4.c FROM t1 AS s4 WHERE CAST(x1.a AS REAL))",
        # evaluated after all: both fail
        f"SELECT * FROM {OVERFLOW} WHERE 1",
        f"SELECT count(*) FROM t1 LEFT JOIN {OVERFLOW} AS q ON NULL",
    ])


def test_where_terms_with_subqueries_pushed_to_the_right_join_step():
    """A WHERE term whose subquery reads an outer table stays at (or after) that
    table's join step; a name the subquery binds itself (even the same alias, deeper
    down) is the subquery's own."""
    check_all(["CREATE TABLE t(k, x)", "INSERT INTO t VALUES (1, 1), (2, 2), (3, NULL)"], [
        "SELECT a.k, b.k FROM t AS a JOIN t AS b ON a.k <= b.k WHERE EXISTS (SELECT 1 FROM "
        "t AS c WHERE c.k = b.k AND EXISTS (SELECT 1 FROM t AS b WHERE b.k = 1))",
        "SELECT a.k, b.k FROM t AS a JOIN t AS b ON a.k <= b.k "
        "WHERE b.x IN (SELECT c.x FROM t AS c WHERE c.k = a.k)",
        "SELECT a.k, b.k FROM t AS a LEFT JOIN t AS b ON a.k < b.k "
        "WHERE a.k IN (SELECT c.x FROM t AS c WHERE c.k > 1)",
        "SELECT a.k FROM t AS a, t AS b WHERE a.k IN (SELECT k FROM t WHERE x = b.x)",
        "SELECT a.k FROM t AS a, t AS b WHERE a.k IN (SELECT k FROM t AS z WHERE z.x = b.x AND k > 1)",
        "SELECT a.k FROM t AS a, t AS b WHERE (SELECT count(*) FROM t AS b WHERE b.k < a.k) = 1",
    ])


def test_distinct_compound_row_order_and_order_by_collate():
    """A compound that removes duplicates emits its rows in ascending order of every
    column (SQLite's ephemeral index / merge); an ORDER BY term's own COLLATE sorts
    (it was ignored: BINARY order), stably on top of that order. Compared in order."""
    import sqlite3

    import turso_stream

    queries = [
        "SELECT 'a' AS a UNION SELECT 'B' UNION SELECT 'A' ORDER BY 1 COLLATE NOCASE",
        "SELECT 'a', 1 UNION SELECT 'A', 2 UNION SELECT 'A', 0 ORDER BY 1 COLLATE NOCASE DESC",
        "SELECT 1, 'a' UNION SELECT 1, 'A' UNION SELECT 1, 'B' ORDER BY 1 DESC",
        "SELECT 1, 'a' UNION ALL SELECT 1, 'A' UNION ALL SELECT 1, 'B' ORDER BY 1 DESC",
        "SELECT 3 UNION SELECT 1 UNION SELECT 2",
        "SELECT 'b' UNION SELECT NULL UNION SELECT 1 UNION SELECT x'00' UNION SELECT 2.5",
        "SELECT 3 UNION SELECT 1 UNION ALL SELECT 0",
        "SELECT 'B' COLLATE NOCASE UNION SELECT 'a' UNION SELECT 'A'",
        "SELECT 5 EXCEPT SELECT 1 UNION SELECT 4 UNION SELECT 7 LIMIT 2",
        "SELECT 'x ' AS a UNION SELECT 'X' ORDER BY 1 COLLATE RTRIM",
        "SELECT b FROM u INTERSECT SELECT b FROM u ORDER BY 1 COLLATE NOCASE",
    ]
    setup = ["CREATE TABLE u(b TEXT)", "INSERT INTO u VALUES ('b'), ('A'), ('a'), ('B'), (NULL)"]
    ours, theirs = turso_stream.connect(":memory:"), sqlite3.connect(":memory:")
    for sql in setup:
        ours.execute(sql)
        theirs.execute(sql)
    for sql in queries:
        assert ours.execute(sql).fetchall() == theirs.execute(sql).fetchall(), sql


@pytest.mark.parametrize("first, second", [
    ("a", "'0'"), ("b", "0"), ("n", "'3.0'"), ("r", "'3'"), ("r", "3"), ("x", "'3'"),
    ("CAST(a AS TEXT)", "0"), ("'q'", "0")])
def test_materialized_compound_from_item_takes_first_arm_affinity(first, second):
    """A compound subquery SQLite materializes (any FROM item but a first one that is
    alone or followed by CROSS/LEFT JOIN) stores its rows with its first arm's column
    affinities ('0' from the second arm reads as 0 under an INTEGER first arm); run
    as a co-routine only REAL applies (integers read as REAL)."""
    setup = ["CREATE TABLE t1(a INTEGER, b TEXT, r REAL, n NUMERIC, x)",
             "INSERT INTO t1 VALUES (5, '7', 1.5, '8', 9)",
             "CREATE TABLE one(z)", "INSERT INTO one VALUES (1)"]
    froms = ["(SELECT {f} AS c0 FROM t1 {op} SELECT {s}) AS q, one",
             "one, (SELECT {f} AS c0 FROM t1 {op} SELECT {s}) AS q",
             "(SELECT {f} AS c0 FROM t1 {op} SELECT {s}) AS q CROSS JOIN one",
             "(SELECT {f} AS c0 FROM t1 {op} SELECT {s}) AS q LEFT JOIN one",
             "(SELECT {f} AS c0 FROM t1 {op} SELECT {s}) AS q JOIN one",
             "(SELECT {f} AS c0 FROM t1 {op} SELECT {s}) AS q",
             "(SELECT {f} AS c0 FROM t1 {op} SELECT {s}) AS q RIGHT JOIN one",
             "one LEFT JOIN (SELECT {f} AS c0 FROM t1 {op} SELECT {s}) AS q"]
    check_all(setup, [f"SELECT typeof(c0), c0 FROM {frm.format(f=first, s=second, op=op)}"
                      for frm in froms for op in ("UNION ALL", "UNION")]
              + [f"WITH q AS (SELECT {first} AS c0 FROM t1 UNION ALL SELECT {second}) "
                 f"SELECT typeof(c0), c0 FROM q{tail}" for tail in ("", ", one")])


def test_new_rowid_after_an_ignored_insert_and_a_negative_key():
    """In a transaction, an insert that failed (OR IGNORE on a CHECK) left the next
    rowid cached at 1 (an empty table's first); a negative key inserted next became
    the max, and the following new rowid must be max + 1 (0), not 1."""
    import sqlite3

    import turso_stream

    setup = "CREATE TABLE d(id INTEGER PRIMARY KEY, c INTEGER NOT NULL DEFAULT 0 CHECK (c < 100))"
    runs = [
        ["BEGIN", "INSERT OR IGNORE INTO d(c) VALUES ('zz')",
         "INSERT INTO d(id) VALUES (-1), (NULL) RETURNING id"],
        ["BEGIN", "INSERT OR IGNORE INTO d(c) VALUES ('zz')",
         "INSERT INTO d(id) VALUES (0), (-3), (NULL) RETURNING id"],
        ["BEGIN", "INSERT OR IGNORE INTO d(c) VALUES ('zz')",
         "INSERT INTO d(id) VALUES (-3), (NULL), (NULL) RETURNING id"],
    ]
    for statements in runs:
        results = []
        for module in (sqlite3, turso_stream):
            conn = module.connect(":memory:", isolation_level=None)
            conn.execute(setup)
            results.append([conn.execute(s).fetchall() for s in statements])
        assert results[0] == results[1], statements


@pytest.mark.parametrize("first, second", [
    ("a AS c FROM t1", "b FROM t2"), ("b AS c FROM t2", "a FROM t1"),
    ("a AS c FROM t1", "'5'"), ("r AS c FROM t3", "'2'"), ("n AS c FROM t3", "'3'"),
    ("b AS c FROM t2", "5")])
@pytest.mark.parametrize("compound", ["{f} UNION {s}", "{f} EXCEPT {s}",
                                      "{f} UNION ALL {s} LIMIT 9", "{f} UNION {s} ORDER BY 1"])
def test_compound_from_item_column_compares_with_first_arm_affinity(first, second, compound):
    """A compound subquery's column has its first arm's affinity in comparisons
    (c = 5 matches the text '5' of an INTEGER-first compound). Not covered: SQLite
    pushes WHERE terms into the arms of a UNION ALL without LIMIT, where each arm's
    own affinity applies."""
    setup = ["CREATE TABLE t1(a INTEGER)", "CREATE TABLE t2(b TEXT)",
             "CREATE TABLE t3(r REAL, n NUMERIC, x)", "INSERT INTO t1 VALUES (1)",
             "INSERT INTO t2 VALUES ('5'), ('x'), ('1')", "INSERT INTO t3 VALUES (2.0, '3', '4')"]
    inner = "SELECT " + compound.format(f=first, s="SELECT " + second)
    check_all(setup, [
        f"SELECT * FROM ({inner}) WHERE c = 5",
        f"SELECT * FROM ({inner}) WHERE c = '5'",
        f"SELECT * FROM ({inner}) WHERE c IN (1, 2, 3, 4, 5)",
        f"SELECT count(*) FROM ({inner}) WHERE c = 2",
        f"WITH w AS ({inner}) SELECT * FROM w WHERE c = 5",
        f"SELECT * FROM ({inner}) JOIN t1 ON c = t1.a",
        f"SELECT typeof(c), c FROM ({inner}), t1",
    ])


def test_recursive_cte_column_compares_with_setup_affinity():
    """A recursive CTE's queued rows are not stored through its columns' affinities
    (the setup's), but comparisons apply them: '1' from a later step equals the
    INTEGER 1 of a join partner. Read through a join, SQLite materializes the CTE and
    the rows take those affinities; read alone they keep their own types. (Both
    operands of a numeric comparison are converted unless both are stored columns.)"""
    setup = ["CREATE TABLE t1(a INTEGER, b, c INTEGER)",
             "INSERT INTO t1 VALUES (-2, NULL, 1), (NULL, '1', -2)"]
    cte = "WITH RECURSIVE r(y) AS (SELECT a FROM t1 WHERE a = -2 UNION SELECT '1' FROM r LIMIT 2) "
    check_all(setup, [
        "WITH RECURSIVE r(x, y) AS (SELECT (typeof(s2.a) || s2.a), s2.a FROM t1 AS s2 UNION "
        "SELECT r.x, e1.b FROM r JOIN t1 AS e1 ON r.y = e1.c) SELECT x, y FROM r",
        cte + "SELECT * FROM r JOIN t1 AS e1 ON r.y = e1.c",
        cte + "SELECT y, typeof(y) FROM r",
        cte + "SELECT * FROM r WHERE y = 1",
        cte + "SELECT r.y = e1.c FROM r, t1 AS e1",
    ])


def test_materialized_subquery_reading_a_compound_column_takes_its_affinity():
    """A subquery SQLite materializes stores its rows through its columns' affinities;
    a column read from a compound has the compound's first-arm affinity, so the text
    '7' of a later arm reads as 7 through a join (and stays text when the subquery
    runs as a co-routine, or when an expression of it has no affinity)."""
    setup = ["CREATE TABLE t1(a INTEGER, b INTEGER)", "INSERT INTO t1 VALUES (0, NULL)"]
    inner = "(SELECT a AS c0 FROM t1 UNION SELECT '7') AS q"
    check_all(setup, [
        f"SELECT x.c0, typeof(x.c0) FROM t1, (SELECT q.c0 AS c0 FROM {inner}) AS x",
        f"SELECT x.c0, typeof(x.c0) FROM (SELECT q.c0 AS c0 FROM {inner}) AS x",
        f"SELECT x.c0, typeof(x.c0) FROM t1, (SELECT DISTINCT q.c0 AS c0 FROM {inner}) AS x",
        f"SELECT x.c0, typeof(x.c0) FROM t1, (SELECT q.c0 || '' AS c0 FROM {inner}) AS x",
        "SELECT * FROM t1 AS x1 JOIN t1 AS x2 USING (a) JOIN (SELECT q.c0 AS a, q.c1 AS b, "
        "q.c2 AS c FROM (SELECT x4.a AS c0, count(DISTINCT NULL) FILTER (WHERE NULL) AS c1, "
        "count(DISTINCT NULL) FILTER (WHERE NULL) AS c2 FROM t1 AS x4 CROSS JOIN t1 AS x5 "
        "GROUP BY x4.a, x4.b HAVING count(DISTINCT NULL) FILTER (WHERE NULL) > 0 UNION "
        "SELECT DISTINCT lower(x6.a) AS c0, NULL AS c1, NULL AS c2 FROM t1 AS x6 ORDER BY 1) "
        "AS q) AS x3 ON 1",
    ])


def test_real_literals_convert_as_sqlite3AtoF():
    """A REAL literal in SQL text was float(text), the correctly rounded value;
    SQLite converts with sqlite3AtoF (an int64 significand scaled in long double),
    one ulp away for these (found by the shell's random rendering test)."""
    check_all([], [
        "SELECT 3.4800074557535114e-307, 3.4800074557535114e-307 = 3.480007455753511e-307",
        "SELECT typeof(1e400), -1e400, 1e-400, .5, 5., 9223372036854775808",
        "SELECT quote(3.4800074557535114e-307), printf('%!.20e', 3.4800074557535114e-307)",
    ])


def test_from_item_alias_takes_no_column_list():
    """``FROM (VALUES (1)) AS v(x)`` was accepted; SQLite's grammar has no column
    list on a FROM alias (only a CTE's name has one): near "(": syntax error."""
    check_all(["CREATE TABLE t(a)"], [
        "SELECT * FROM (VALUES (1)) AS v(x)",
        "SELECT * FROM (SELECT 1) v(x)",
        "SELECT * FROM t AS u(x)",
        "SELECT * FROM json_each('[1]') AS j(a)",
        "WITH v(x) AS (SELECT * FROM (SELECT 1) w(y)) SELECT * FROM v",
        "WITH v(x) AS (SELECT 1), w(y, z) AS (SELECT 1, 2) SELECT * FROM v, w",
    ])


def _exact_rows(setup, queries):
    """Each query's rows, in order and with their types, from sqlite3 and from us."""
    import sqlite3

    import turso_stream
    out = []
    for module in (sqlite3, turso_stream):
        conn = module.connect(":memory:")
        for sql in setup:
            conn.execute(sql)
        out.append([[tuple((type(v).__name__, v) for v in row)
                     for row in conn.execute(sql).fetchall()] for sql in queries])
        conn.close()
    return out


def test_group_by_emits_groups_in_key_order_with_first_row_bare_columns():
    """Groups came out in first-seen order with the last row's bare columns; SQLite
    3.40 emits them in GROUP BY key order (its sorter) and reads bare columns from
    a group's first row (updateAccumulator's regAcc). Visible without ORDER BY, and
    to window functions over groups: peers' running sums add in that order (the
    view invariant suite found 0.0099...787 against sqlite3's 0.0100...009)."""
    setup = ["CREATE TABLE t(a INTEGER PRIMARY KEY, b, c)",
             "INSERT INTO t VALUES (1, 3, 0.5), (2, 1, 'x'), (3, 'x', NULL), (4, NULL, 1.51),"
             " (5, 2, -2), (6, 1.5, 7), (7, x'7a', 1), (8, 'X', 2), (9, 1.0, 3)"]
    theirs, ours = _exact_rows(setup, [
        "SELECT b, count(*) FROM t GROUP BY b",
        "SELECT b, count(*) FROM t GROUP BY b COLLATE NOCASE",
        "SELECT b, a FROM t GROUP BY a % 3",
        "SELECT b, a, count(*) FILTER (WHERE a > 2) FROM t GROUP BY a % 3",
        "SELECT a % 2, b % 2, count(*) FROM t GROUP BY b % 2, a % 2",
        "SELECT b, sum(a) FROM t",
        "SELECT b, max(a) FROM t GROUP BY a % 2",
        "SELECT a % 3, sum(c) OVER (ORDER BY NULL) FROM t GROUP BY a % 3",
        "SELECT b, sum(c || c) OVER (ORDER BY a % 1) FROM t GROUP BY b",
    ])
    assert ours == theirs


def test_written_exclude_no_others_recomputes_each_frame():
    """``EXCLUDE NO OTHERS`` means the default frame, yet written out it makes SQLite
    recompute every row's frame with a fresh accumulator (window.c's full scan when
    eExclude is set), so sum() over a frame of integers is an integer although a
    REAL passed through the sliding frame before; we slid (found by the view
    invariant suite: 0.0 against sqlite3's 0)."""
    setup = ["CREATE TABLE t(x, o)",
             "INSERT INTO t VALUES (1.5, 1), (2, 2), (3, 3), (4, 3), (x'00', 4), (5, 5)"]
    frames = ["RANGE BETWEEN CURRENT ROW AND CURRENT ROW",
              "ROWS BETWEEN 1 PRECEDING AND CURRENT ROW",
              "GROUPS BETWEEN CURRENT ROW AND 1 FOLLOWING"]
    queries = [f"SELECT o, sum(x) OVER (ORDER BY o {frame}{exclude}), "
               f"avg(x) OVER (ORDER BY o {frame}{exclude}), "
               f"total(x) OVER (ORDER BY o {frame}{exclude}) FROM t ORDER BY o, x"
               for frame in frames for exclude in ("", " EXCLUDE NO OTHERS")]
    theirs, ours = _exact_rows(setup, queries)
    assert ours == theirs


def test_grouped_aggregates_step_group_by_group_in_key_order():
    """SQLite sorts rows by the GROUP BY key, then steps each group's aggregates over
    its rows in scan order: a function in an aggregate's argument sees the rows in
    that order (we stepped in scan order across all groups)."""
    import sqlite3

    import turso_stream
    seen = []
    for module in (sqlite3, turso_stream):
        conn = module.connect(":memory:")
        calls = []
        conn.create_function("rec", 1, lambda v: calls.append(v) or v)
        conn.execute("CREATE TABLE t(g, v)")
        conn.executemany("INSERT INTO t VALUES (?, ?)",
                         [(3, 1), (1, 2), (2, 3), (1, 4), (3, 5), (None, 6), ("a", 7)])
        rows = conn.execute("SELECT g, sum(rec(v)), count(*) FROM t GROUP BY g").fetchall()
        seen.append((rows, calls))
        conn.close()
    assert seen[1] == seen[0]
    assert seen[0][1] == [6, 2, 4, 3, 1, 5, 7]


_ROWID_SETUP = ["CREATE TABLE t1(id INTEGER PRIMARY KEY, x REAL, y INTEGER)",
                "CREATE INDEX t1y ON t1(y)",
                "WITH RECURSIVE n(i) AS (SELECT -50 UNION ALL SELECT i + 1 FROM n "
                "WHERE i < 3000) INSERT INTO t1 SELECT i, i * 0.5, i % 7 FROM n"]


def test_order_by_rowid_walks_the_table_in_rowid_order():
    """``ORDER BY id DESC LIMIT k`` sorted the whole table; SQLite walks the table
    backward and stops after k rows (also under a rowid range: keyset pagination).
    Same rows, same plans (no temp b-tree)."""
    queries = [
        "SELECT id FROM t1 ORDER BY id DESC LIMIT 3",
        "SELECT * FROM t1 ORDER BY rowid LIMIT 3 OFFSET 2",
        "SELECT * FROM t1 WHERE id < 1000 ORDER BY id DESC LIMIT 5",
        "SELECT id AS k, x FROM t1 WHERE id >= 2990.5 AND x > 1496 ORDER BY k DESC",
        "SELECT oid FROM t1 WHERE x > 100 ORDER BY 1 LIMIT 4",
        "SELECT id FROM t1 WHERE y = 3 ORDER BY id DESC LIMIT 2",
        "SELECT id FROM t1 ORDER BY id COLLATE NOCASE DESC NULLS FIRST LIMIT 2",
        "SELECT id FROM t1 WHERE id < NULL ORDER BY id",
    ]
    theirs, ours = _exact_rows(_ROWID_SETUP, queries)
    assert ours == theirs
    plans_theirs, plans_ours = _exact_rows(
        _ROWID_SETUP, ["EXPLAIN QUERY PLAN " + q for q in queries[:5]])
    detail = [[row[3] for row in plans] for plans in plans_theirs]
    assert [[row[3] for row in plans] for plans in plans_ours] == detail


def test_rowid_range_bounds_are_exact_for_numbers_and_loose_otherwise():
    """A rowid range reads only the rows its bounds allow and, when every bound is a
    finite number, no longer tests its own terms on each row: the bounds must then
    be exact (``rowid > 10.5`` is ``rowid >= 11``; text that is no number, blobs,
    NULL and infinities keep the per-row test)."""
    queries = [f"SELECT count(*), min(id), max(id) FROM t1 WHERE {cond}" for cond in (
        "id > 10", "id > 10.0 AND id <= 20", "id < -10.5", "id >= -10.5 AND id < -9.5",
        "id > 'abc'", "id < 'abc'", "id > '2990'", "id > 1e999", "id < 1e999",
        "id > -1e999 AND id < 5", "id >= 9.999999999999999e18", "5 < id AND id < 7",
        "id > x'00'", "id BETWEEN 5 AND 2", "id BETWEEN 2.5 AND 5.5", "id > 2999 - 5",
        "+id > 10", "rowid <= 2 AND _rowid_ >= -2 AND y > 0")]
    theirs, ours = _exact_rows(_ROWID_SETUP, queries)
    assert ours == theirs


def test_with_clause_on_insert_update_delete():
    """``WITH ... INSERT/UPDATE/DELETE`` ignored its CTEs ("no such table: n"); they
    are in scope for the whole statement. In a trigger body SQLite's grammar has
    WITH only on a SELECT: near "insert": syntax error."""
    setup = ["CREATE TABLE t(a)", "CREATE TABLE u(b)"]
    queries = [
        "WITH n AS (SELECT 1) INSERT INTO t SELECT * FROM n",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3) "
        "INSERT INTO t SELECT i FROM n",
        "WITH n(i) AS (SELECT 3) UPDATE t SET a = a + (SELECT i FROM n) WHERE a > 1",
        "WITH n(i) AS (SELECT 4) DELETE FROM t WHERE a IN (SELECT i FROM n)",
        "WITH n(i) AS (SELECT 10) INSERT INTO t VALUES ((SELECT i FROM n))",
        "WITH n(i) AS (SELECT 10) DELETE FROM t WHERE a = (SELECT i FROM n) RETURNING a",
        "SELECT * FROM t ORDER BY a",
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN "
        "WITH x(v) AS (SELECT new.a) INSERT INTO u SELECT v FROM x; END",
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN "
        "INSERT INTO u WITH x(v) AS (SELECT new.a) SELECT v FROM x; END",
        "INSERT INTO t VALUES (7)",
        "SELECT * FROM u",
    ]
    import sqlite3

    import turso_stream
    results = []
    for module in (sqlite3, turso_stream):
        conn = module.connect(":memory:", isolation_level=None)
        for sql in setup:
            conn.execute(sql)
        out = []
        for sql in queries:
            try:
                out.append(conn.execute(sql).fetchall())
            except sqlite3.Error as exc:
                out.append((type(exc).__name__, str(exc)))
        results.append(out)
        conn.close()
    assert results[1] == results[0]


def test_upsert_after_a_from_clause_is_a_join_constraint():
    """SQLite's parsing ambiguity (lang_upsert.html): ``INSERT ... SELECT ... FROM t
    ON CONFLICT ...`` reads the ON as a join constraint and fails near "DO"; a
    WHERE (or GROUP BY, ORDER BY, LIMIT) ends the FROM clause. We accepted it."""
    setup = ["CREATE TABLE t(a PRIMARY KEY)", "CREATE TABLE s(b)", "INSERT INTO s VALUES (1)"]
    check_all(setup, [
        "INSERT INTO t SELECT b FROM s ON CONFLICT DO NOTHING",
        "INSERT INTO t SELECT b FROM s ON CONFLICT(a) DO NOTHING",
        "INSERT INTO t SELECT b FROM s AS x ON CONFLICT DO UPDATE SET a = 1",
        "INSERT INTO t SELECT b FROM s UNION SELECT b FROM s ON CONFLICT DO NOTHING",
        "INSERT INTO t SELECT b FROM s WHERE true ON CONFLICT DO NOTHING",
        "INSERT INTO t SELECT b FROM s UNION SELECT 2 ON CONFLICT DO NOTHING",
        "INSERT INTO t SELECT b FROM s LIMIT 1 ON CONFLICT(a) DO UPDATE SET a = a + 10",
        "SELECT * FROM t",
    ])


def test_correlated_ctes_read_the_outer_row():
    """A CTE may read its owner's outer row (a correlated subquery's, a trigger's
    NEW): we planned CTEs without the outer scope ("no such column: t.a")."""
    setup = ["CREATE TABLE t(a)", "INSERT INTO t VALUES (1), (2), (3)", "CREATE TABLE u(b)",
             "CREATE TRIGGER tr AFTER INSERT ON t BEGIN "
             "INSERT INTO u WITH x(v) AS (SELECT new.a * 100) SELECT v FROM x; END",
             "INSERT INTO t VALUES (4)"]
    check_all(setup, [
        "SELECT a, (WITH c AS (SELECT t.a * 10 AS v) SELECT v FROM c) FROM t",
        "SELECT a, (WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r "
        "WHERE i < t.a) SELECT sum(i) FROM r) FROM t",
        "SELECT * FROM t WHERE EXISTS (WITH c AS (SELECT t.a AS v) SELECT 1 FROM c "
        "WHERE v % 2 = 0)",
        "SELECT a FROM t WHERE a IN (WITH c(v) AS (SELECT t.a UNION SELECT 3) "
        "SELECT v FROM c)",
        "SELECT * FROM u",
    ])


def test_pragmas_users_reach_for():
    """PRAGMA busy_timeout was ignored (no row, and no effect on the wait);
    page_size, encoding, auto_vacuum, freelist_count, locking_mode, integrity_check
    and quick_check returned nothing; table_info spelled standard types as written
    (SQLite 3.37+ upper-cases ANY, BLOB, INT, INTEGER, REAL, TEXT)."""
    import sqlite3

    import turso_stream
    script = ["CREATE TABLE t(a integer PRIMARY KEY, b varchar(10), c Text, d int, e MyType)",
              "CREATE VIEW v AS SELECT a, c FROM t",
              "PRAGMA busy_timeout", "PRAGMA busy_timeout = 100", "PRAGMA busy_timeout",
              "PRAGMA busy_timeout = -5", "PRAGMA busy_timeout = 2500",
              "PRAGMA page_size", "PRAGMA encoding", "PRAGMA auto_vacuum",
              "PRAGMA freelist_count", "PRAGMA locking_mode", "PRAGMA integrity_check",
              "PRAGMA quick_check", "PRAGMA table_info(t)", "PRAGMA table_xinfo(t)",
              "PRAGMA table_info(v)"]
    results = []
    for module in (sqlite3, turso_stream):
        conn = module.connect(":memory:", timeout=1.0)
        out = []
        for sql in script:
            cur = conn.execute(sql)
            out.append((cur.fetchall(), [d[0] for d in cur.description or ()]))
        results.append(out)
        conn.close()
    assert results[1] == results[0]


def test_pragma_functions_read_as_tables():
    """``pragma_<name>(arg)`` in FROM (SQLite's eponymous pragma tables, what schema
    tools join with sqlite_schema) was "no such table"."""
    setup = ["CREATE TABLE t(a integer PRIMARY KEY, b text NOT NULL DEFAULT 'x')",
             "CREATE INDEX ti ON t(b)", "CREATE TABLE u(x REFERENCES t(a))"]
    check_all(setup, [
        "SELECT * FROM pragma_table_info('t')",
        "SELECT name, arg, schema FROM pragma_table_info('t')",
        "SELECT m.name, p.name, p.type FROM sqlite_master m JOIN pragma_table_info(m.name) p "
        "WHERE m.type = 'table'",
        "SELECT * FROM pragma_index_list('t')",
        "SELECT * FROM pragma_foreign_key_list('u')",
        "SELECT * FROM pragma_table_info",
        "SELECT * FROM pragma_table_info('nope')",
        "SELECT * FROM pragma_user_version",
        "SELECT * FROM pragma_nope",
        "SELECT count(*) FROM pragma_table_info('t') WHERE pk",
    ])
@pytest.mark.parametrize("expr", [
    "substr(lower(x'00'), 0)", "substr('a' || char(0) || 'b', 1)",
    "substr('a' || char(0) || 'b', -1)", "substr('a' || char(0) || 'b', 2, 5)",
    "substr(char(0) || 'b', -3, 2)", "substr(x'610062', -1)",
])
def test_substr_reads_text_up_to_its_first_nul(expr):
    """substr() on text containing NUL returned characters past it; SQLite's
    substrFunc walks sqlite3_value_text as a C string, so text ends at its first NUL
    (BLOBs keep every byte)."""
    check_all([], [f"SELECT {expr}"])


def test_exclude_no_others_recomputes_each_frame():
    """An explicit EXCLUDE NO OTHERS was treated as no EXCLUDE clause, so sum() slid
    with inverse() and kept a REAL that had left the frame (-2.0); SQLite's
    eExclude is TK_NO there and each frame is summed afresh (windowFullScan): -2."""
    setup = ["CREATE TABLE t1(a INTEGER, b INTEGER)",
             "INSERT INTO t1 VALUES (-2, 1), (0.25, 2), (3, 3), (5, 4)"]
    theirs, ours = _exact_rows(setup, [
        "SELECT a, sum(a) OVER (ORDER BY a DESC ROWS BETWEEN 0 PRECEDING AND 0 PRECEDING"
        " EXCLUDE NO OTHERS) FROM t1 ORDER BY b",
        "SELECT a, sum(a) OVER (ORDER BY b ROWS 1 PRECEDING EXCLUDE NO OTHERS),"
        " sum(a) OVER (ORDER BY b ROWS 1 PRECEDING) FROM t1 ORDER BY b",
        "SELECT a, sum(a) OVER (ORDER BY a RANGE BETWEEN 1 PRECEDING AND 1 FOLLOWING"
        " EXCLUDE NO OTHERS) FROM t1 ORDER BY b",
    ])
    assert ours == theirs


def test_each_window_sorts_the_rows_of_the_window_after_it():
    """Every distinct window sorted the rows from scan order; SQLite nests them
    (sqlite3WindowRewrite): the last window sorts the scanned rows, each earlier one
    re-sorts the rows of the one after it, and the first one's order is the output
    order. Windows differing only in frame are distinct (sqlite3WindowCompare, with
    the built-ins' fixed frames). Seen as group_concat order, and as an integer
    overflow in sum(a) OVER () when the big value came before a REAL."""
    setup = ["CREATE TABLE t(a, b)", "INSERT INTO t VALUES (1, 'c'), (2, 'a'), (3, 'b'), (4, 'a')"]
    theirs, ours = _exact_rows(setup, [
        "SELECT a, group_concat(a) OVER (), count(*) OVER (PARTITION BY b) FROM t",
        "SELECT a, count(*) OVER (PARTITION BY b), group_concat(a) OVER () FROM t",
        "SELECT a, group_concat(a) OVER (), count(*) OVER (PARTITION BY b),"
        " sum(a) OVER (ORDER BY a DESC) FROM t",
        "SELECT a, group_concat(a) OVER (PARTITION BY b), count(*) OVER (ORDER BY a DESC),"
        " group_concat(a) OVER (PARTITION BY b ROWS BETWEEN UNBOUNDED PRECEDING"
        " AND UNBOUNDED FOLLOWING) FROM t",
        "SELECT a, group_concat(a) OVER (PARTITION BY b), count(*) OVER (ORDER BY a DESC),"
        " group_concat(a) OVER (PARTITION BY b RANGE UNBOUNDED PRECEDING) FROM t",
        "SELECT a, group_concat(a) OVER (PARTITION BY b), row_number() OVER (ORDER BY a DESC),"
        " rank() OVER (ORDER BY a DESC), group_concat(a) OVER (PARTITION BY b ORDER BY NULL)"
        " FROM t",
    ])
    assert ours == theirs
    check_all(["CREATE TABLE t(a, b)",
               "INSERT INTO t VALUES (1, 'x'), (2.5, x'00'), ('7', '7'),"
               " (9223372036854775807, 'a')"],
              ["SELECT sum(a) OVER (), avg(a) OVER (PARTITION BY b) FROM t"])


def test_window_terms_and_frame_offsets_may_be_bound_parameters():
    """Window definitions were keyed by their PARTITION BY / ORDER BY terms (and
    frame offsets) rendered without the engine's dialect, so a bound parameter
    there raised sqlglot's ValueError."""
    out = []
    for module in (sqlite3, turso_stream):
        conn = module.connect(":memory:")
        conn.execute("CREATE TABLE t(a)")
        conn.execute("INSERT INTO t VALUES (1), (2), (3)")
        out.append(conn.execute(
            "SELECT a, sum(a) OVER (ORDER BY a ROWS ? PRECEDING),"
            " group_concat(a) OVER (ORDER BY a ROWS ?2 PRECEDING),"
            " sum(a) OVER (PARTITION BY a > ?1 ORDER BY a + ?2) FROM t", (1, 0)).fetchall())
        conn.close()
    assert out[1] == out[0]


def test_connection_pragmas_read_as_sqlite3_and_refuse_what_we_lack():
    """PRAGMAs that change results (case_sensitive_like, recursive_triggers,
    ignore_check_constraints, defer_foreign_keys, count_changes, legacy_alter_table,
    reverse_unordered_selects) were silently ignored when turned on: they are refused
    with NotSupportedError, and every read form answers as sqlite3 does; cache and
    temp-file hints are kept and read back."""
    import sqlite3

    import pytest

    import turso_stream
    script = ["PRAGMA cache_size", "PRAGMA cache_size = 5000", "PRAGMA cache_size",
              "PRAGMA cache_size = 'abc'", "PRAGMA cache_size", "PRAGMA temp_store",
              "PRAGMA temp_store = MEMORY", "PRAGMA temp_store", "PRAGMA temp_store = bogus",
              "PRAGMA temp_store", "PRAGMA cache_spill", "PRAGMA recursive_triggers",
              "PRAGMA recursive_triggers = off", "PRAGMA case_sensitive_like",
              "PRAGMA case_sensitive_like = 0", "PRAGMA ignore_check_constraints",
              "PRAGMA defer_foreign_keys", "PRAGMA count_changes", "PRAGMA legacy_alter_table",
              "PRAGMA reverse_unordered_selects", "PRAGMA automatic_index",
              "PRAGMA automatic_index = off", "PRAGMA automatic_index",
              "PRAGMA cell_size_check", "PRAGMA trusted_schema"]
    results = []
    for module in (sqlite3, turso_stream):
        conn = module.connect(":memory:")
        results.append([conn.execute(sql).fetchall() for sql in script])
        conn.close()
    assert results[1] == results[0]
    conn = turso_stream.connect(":memory:")
    for sql in ("PRAGMA case_sensitive_like = 1", "PRAGMA recursive_triggers = on",
                "PRAGMA ignore_check_constraints = yes", "PRAGMA defer_foreign_keys = 1",
                "PRAGMA count_changes = 1", "PRAGMA legacy_alter_table = 1",
                "PRAGMA reverse_unordered_selects = 1"):
        with pytest.raises(turso_stream.NotSupportedError, match="not supported"):
            conn.execute(sql)
    assert conn.execute("PRAGMA recursive_triggers").fetchall() == [(0,)]
