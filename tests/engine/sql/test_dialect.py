"""The TursoSQLite dialect: each SQLite construct parses into an AST carrying its meaning."""

import pytest
from sqlglot import exp

from engine.sql.dialect import (
    AnalyzeStmt, CreateTrigger, Explain, Pragma, Reindex, Release, Savepoint, TursoSQLite,
    Vacuum, Variable,
)
from engine.sql.parse import parse_one


def p(sql):
    return parse_one(sql)


def roundtrip(sql):
    """Generated SQL parses back to an equal AST."""
    tree = p(sql)
    again = p(tree.sql(dialect=TursoSQLite))
    assert again == tree, (tree.sql(dialect=TursoSQLite), repr(tree), repr(again))
    return tree


@pytest.mark.parametrize("sql,kind", [
    ("BEGIN", "DEFERRED"), ("BEGIN TRANSACTION", "DEFERRED"), ("BEGIN DEFERRED", "DEFERRED"),
    ("BEGIN IMMEDIATE TRANSACTION", "IMMEDIATE"), ("begin exclusive", "EXCLUSIVE"),
    ("BEGIN CONCURRENT", "CONCURRENT"),
])
def test_begin_kinds(sql, kind):
    tree = roundtrip(sql)
    assert isinstance(tree, exp.Transaction) and tree.args["kind"] == kind


@pytest.mark.parametrize("sql", ["COMMIT", "COMMIT TRANSACTION", "END", "END TRANSACTION"])
def test_commit_and_end(sql):
    assert isinstance(roundtrip(sql), exp.Commit)


def test_rollback_forms():
    assert roundtrip("ROLLBACK").args.get("savepoint") is None
    assert roundtrip("ROLLBACK TRANSACTION").args.get("savepoint") is None
    for sql in ("ROLLBACK TO sp", "ROLLBACK TO SAVEPOINT sp", "ROLLBACK TRANSACTION TO SAVEPOINT sp"):
        tree = roundtrip(sql)
        assert isinstance(tree, exp.Rollback) and tree.args["savepoint"].name == "sp"


def test_savepoint_and_release():
    tree = roundtrip("SAVEPOINT a1")
    assert isinstance(tree, Savepoint) and tree.this.name == "a1"
    for sql in ("RELEASE a1", "RELEASE SAVEPOINT a1"):
        tree = roundtrip(sql)
        assert isinstance(tree, Release) and tree.this.name == "a1"


def test_table_options():
    assert roundtrip("CREATE TABLE t(a INTEGER PRIMARY KEY, b) STRICT").args.get("strict") is True
    tree = roundtrip("CREATE TABLE t(a PRIMARY KEY, b) WITHOUT ROWID")
    assert tree.args.get("without_rowid") is True and not tree.args.get("strict")
    tree = roundtrip("CREATE TABLE t(a INT PRIMARY KEY, b) STRICT, WITHOUT ROWID")
    assert tree.args.get("strict") and tree.args.get("without_rowid")
    assert not p("CREATE TABLE t(a)").args.get("strict")


def test_temp_table():
    tree = roundtrip("CREATE TEMP TABLE t(a)")
    assert tree.args.get("temporary") is True and tree.args["kind"] == "TABLE"


def test_explain():
    tree = roundtrip("EXPLAIN QUERY PLAN SELECT a FROM t")
    assert isinstance(tree, Explain) and tree.args["query_plan"] and isinstance(tree.this, exp.Select)
    tree = roundtrip("EXPLAIN DELETE FROM t")
    assert not tree.args["query_plan"] and isinstance(tree.this, exp.Delete)


def test_vacuum_reindex_analyze():
    assert roundtrip("VACUUM") == Vacuum()
    tree = roundtrip("VACUUM main INTO 'x.db'")
    assert tree.this.name == "main" and tree.args["into"].this == "x.db"
    assert roundtrip("VACUUM INTO 'y.db'").this is None
    assert isinstance(roundtrip("REINDEX"), Reindex)
    assert roundtrip("REINDEX main.i").this.db == "main"
    assert roundtrip("ANALYZE t").this.name == "t"
    assert isinstance(roundtrip("ANALYZE"), AnalyzeStmt)


def test_parameters_kinds_and_numbers():
    tree = roundtrip("SELECT ?, ?5, :a, @b, $c, ?, :a")
    vs = list(tree.find_all(Variable))
    got = [(v.args["this"], v.args["kind"], v.args.get("name"), v.args["number"]) for v in vs]
    assert got == [("?", "?", None, 1), ("?5", "?NNN", None, 5), (":a", ":", ":a", 6),
                   ("@b", "@", "@b", 7), ("$c", "$", "$c", 8), ("?", "?", None, 9), (":a", ":", ":a", 6)]
    assert all(isinstance(v, exp.Placeholder) for v in vs)


def test_parameters_in_dml():
    tree = p("INSERT INTO t(a, b) VALUES (?, ?) ")
    assert [v.args["number"] for v in tree.find_all(Variable)] == [1, 2]
    tree = p("UPDATE t SET a = :x WHERE b = :y AND c = :x")
    assert sorted({v.args["number"] for v in tree.find_all(Variable)}) == [1, 2]


def test_tcl_parameter_is_a_named_parameter():
    v = p("SELECT $a::b").find(Variable)
    assert v.args["kind"] == "$" and v.args["name"] == "$a::b"


def test_create_trigger():
    sql = ("CREATE TEMP TRIGGER IF NOT EXISTS tr BEFORE UPDATE OF a, b ON t FOR EACH ROW "
           "WHEN new.a > 1 BEGIN UPDATE u SET x = new.a; DELETE FROM u WHERE x = old.a; "
           "SELECT CASE WHEN 1 THEN 2 END; END")
    tree = roundtrip(sql)
    assert isinstance(tree, CreateTrigger)
    a = tree.args
    assert a["temporary"] and a["exists"] and a["timing"] == "BEFORE" and a["event"] == "UPDATE"
    assert [c.name for c in a["columns"]] == ["a", "b"] and a["table"].name == "t"
    assert a["for_each_row"] and isinstance(a["when"], exp.GT)
    assert [type(s) for s in a["body"]] == [exp.Update, exp.Delete, exp.Select]


def test_create_trigger_instead_of_insert():
    tree = roundtrip("CREATE TRIGGER tr INSTEAD OF INSERT ON v BEGIN INSERT INTO t VALUES (new.a); END")
    assert tree.args["timing"] == "INSTEAD OF" and tree.args["event"] == "INSERT"
    assert not tree.args["temporary"] and len(tree.args["body"]) == 1


@pytest.mark.parametrize("sql,alt", [
    ("REPLACE INTO t VALUES (1)", "REPLACE"), ("INSERT OR REPLACE INTO t VALUES (1)", "REPLACE"),
    ("INSERT OR IGNORE INTO t VALUES (1)", "IGNORE"), ("INSERT OR ABORT INTO t VALUES (1)", "ABORT"),
    ("INSERT OR FAIL INTO t VALUES (1)", "FAIL"), ("INSERT OR ROLLBACK INTO t VALUES (1)", "ROLLBACK"),
])
def test_insert_alternatives(sql, alt):
    tree = roundtrip(sql)
    assert isinstance(tree, exp.Insert) and tree.args["alternative"] == alt


def test_update_or():
    tree = roundtrip("UPDATE OR IGNORE t SET a = 1 WHERE b = 2")
    assert isinstance(tree, exp.Update) and tree.args["alternative"] == "IGNORE"


def test_replace_function_still_a_function():
    call = p("SELECT replace(a, 'x', 'y') FROM t").expressions[0]
    assert isinstance(call, exp.Anonymous) and call.name.lower() == "replace"
    assert len(call.expressions) == 3


def test_function_calls_keep_name_and_arguments():
    for sql, name, nargs in [("strftime('%Y', x)", "strftime", 2), ("json_extract(a, '$.b')",
                             "json_extract", 2), ("substr(x, 1, 2)", "substr", 3),
                             ("max(a, b)", "max", 2), ("count(*)", "count", 1)]:
        call = p(f"SELECT {sql}").expressions[0]
        assert isinstance(call, exp.Anonymous), sql
        assert call.name.lower() == name and len(call.expressions) == nargs, sql


def test_json_arrows_keep_their_raw_right_operand():
    arrow = p("SELECT a -> 'b', a ->> '$.c', a -> 2").expressions
    assert isinstance(arrow[0], exp.JSONExtract) and arrow[0].expression.this == "b"
    assert isinstance(arrow[1], exp.JSONExtractScalar) and arrow[1].expression.this == "$.c"
    assert arrow[2].expression.this == "2" and not arrow[2].expression.is_string


def test_default_values_upsert_returning():
    assert roundtrip("INSERT INTO t DEFAULT VALUES").args["default"] is True
    tree = roundtrip("INSERT INTO t VALUES (1) ON CONFLICT (a) DO UPDATE SET b = excluded.b WHERE b > 1")
    conflict = tree.args["conflict"]
    assert conflict.args["action"] is not None and conflict.args["conflict_keys"][0].name == "a"
    assert any(c.table == "excluded" for c in conflict.find_all(exp.Column))
    tree = roundtrip("INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING")
    assert "NOTHING" in tree.args["conflict"].sql().upper()
    for sql in ("INSERT INTO t VALUES (1) RETURNING a", "UPDATE t SET a = 1 RETURNING *",
                "DELETE FROM t WHERE a = 1 RETURNING a, b"):
        assert roundtrip(sql).args["returning"] is not None


def test_update_from():
    tree = roundtrip("UPDATE t SET a = u.a FROM u WHERE t.id = u.id")
    assert tree.args["from_"].this.name == "u"


def test_materialized_view():
    tree = roundtrip("CREATE MATERIALIZED VIEW IF NOT EXISTS v(x) AS SELECT a FROM t")
    assert tree.args["kind"] == "VIEW" and tree.args["materialized"] is True and tree.args["exists"]
    assert not p("CREATE VIEW v AS SELECT 1").args.get("materialized")


def test_pragmas():
    tree = roundtrip("PRAGMA user_version")
    assert isinstance(tree, Pragma) and tree.args["name"] == "user_version" and tree.args.get("value") is None
    tree = roundtrip("PRAGMA main.cache_size = -2000")
    assert tree.args["schema"] == "main" and tree.args["name"] == "cache_size"
    assert tree.args["value"].sql() == "-2000"
    tree = roundtrip("PRAGMA table_info(t)")
    assert tree.args["call"] and tree.args["value"].name == "t"
    assert roundtrip("PRAGMA journal_mode = 'wal'").args["value"].is_string
    assert roundtrip("PRAGMA foreign_keys = ON").args["value"].name == "ON"


def test_window_frames_groups_exclude():
    tree = roundtrip("SELECT sum(a) OVER (ORDER BY b GROUPS BETWEEN 1 PRECEDING AND CURRENT ROW "
                     "EXCLUDE TIES) FROM t")
    spec = tree.find(exp.WindowSpec)
    assert spec.args["kind"] == "GROUPS" and "TIES" in str(spec.args.get("exclude")).upper()


def test_nulls_first_last():
    tree = roundtrip("SELECT a FROM t ORDER BY a NULLS LAST, b DESC NULLS FIRST")
    first, second = tree.args["order"].expressions
    assert first.args["nulls_first"] is False and second.args["desc"] and second.args["nulls_first"]


def test_operators():
    tree = roundtrip("SELECT a IS DISTINCT FROM b, a -> '$.x', a ->> '$.y', a GLOB 'x*', "
                     "a LIKE 'x' ESCAPE '!', CAST(a AS TEXT), x'ab', a COLLATE NOCASE")
    kinds = [type(e) for e in tree.expressions]
    assert kinds[0] is exp.NullSafeNEQ and kinds[1] is exp.JSONExtract
    assert kinds[2] is exp.JSONExtractScalar and kinds[3] is exp.Glob and kinds[4] is exp.Escape
    assert tree.expressions[5].to.this == exp.DType.TEXT
    assert tree.expressions[6].this == "ab" and isinstance(tree.expressions[7], exp.Collate)


def test_postfix_null_tests():
    e1, e2, e3 = p("SELECT a ISNULL, a NOTNULL, a NOT NULL").expressions
    assert isinstance(e1, exp.Is) and isinstance(e1.expression, exp.Null)
    for e in (e2, e3):
        assert isinstance(e, exp.Not) and isinstance(e.this, exp.Is)


def test_row_values_in_table_recursive_values():
    eq = p("SELECT (a, b) = (1, 2) FROM t").expressions[0]
    assert isinstance(eq.this, exp.Tuple) and len(eq.expression.expressions) == 2
    assert p("SELECT 1 IN t").expressions[0].args["field"].name == "t"
    tree = roundtrip("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5) SELECT x FROM c")
    assert tree.args["with_"].args["recursive"]
    assert len(roundtrip("VALUES (1, 2), (3, 4)").expressions) == 2


def test_column_definitions():
    tree = roundtrip("CREATE TABLE t(a DEFAULT (1 + 2), b INTEGER PRIMARY KEY AUTOINCREMENT, "
                     "c GENERATED ALWAYS AS (a + 1) STORED, d AS (a * 2), e VARYING CHARACTER(10) "
                     "NOT NULL ON CONFLICT IGNORE, CHECK (a > 0), "
                     "FOREIGN KEY (a) REFERENCES u(x) ON DELETE CASCADE)")
    cols = {c.name: c for c in tree.this.expressions if isinstance(c, exp.ColumnDef)}
    assert isinstance(cols["a"].find(exp.DefaultColumnConstraint).this, exp.Paren)
    b = cols["b"]
    assert b.args["declared_type"] == "INTEGER"
    pk = b.find(exp.PrimaryKeyColumnConstraint)
    assert pk is not None and pk.args.get("autoincrement")
    c = cols["c"].find(exp.ComputedColumnConstraint)
    assert c.args["persisted"] and isinstance(c.this, exp.Add)
    d = cols["d"].find(exp.ComputedColumnConstraint)
    assert not d.args["persisted"] and cols["d"].args.get("declared_type") is None
    assert cols["e"].args["declared_type"] == "VARYING CHARACTER(10)"
    assert cols["e"].find(exp.NotNullColumnConstraint).args["conflict"] == "IGNORE"
    assert tree.find(exp.CheckColumnConstraint) is not None
    fk = tree.find(exp.ForeignKey)
    assert "CASCADE" in fk.sql().upper()


def test_unique_on_conflict():
    tree = roundtrip("CREATE TABLE t(a UNIQUE ON CONFLICT REPLACE)")
    assert tree.find(exp.UniqueColumnConstraint).args["conflict"] == "REPLACE"


def test_indexes():
    tree = roundtrip("CREATE UNIQUE INDEX IF NOT EXISTS i ON t(a COLLATE NOCASE DESC, b) WHERE a > 0")
    assert tree.args["unique"] and tree.args["exists"]
    index = tree.this
    first = index.args["params"].args["columns"][0]
    assert first.args["desc"] and isinstance(first.this, exp.Collate)
    assert isinstance(index.args["params"].args["where"].this, exp.GT)


def test_create_table_as_and_alter():
    tree = roundtrip("CREATE TABLE t2 AS SELECT * FROM t")
    assert isinstance(tree.expression, exp.Select)
    assert isinstance(roundtrip("ALTER TABLE t RENAME TO u").args["actions"][0], exp.AlterRename)
    add = roundtrip("ALTER TABLE t ADD COLUMN c TEXT").args["actions"][0]
    assert isinstance(add, exp.ColumnDef) and add.args["declared_type"] == "TEXT"
    drop = roundtrip("ALTER TABLE t DROP COLUMN c").args["actions"][0]
    assert isinstance(drop, exp.Drop)
    ren = roundtrip("ALTER TABLE t RENAME COLUMN a TO b").args["actions"][0]
    assert isinstance(ren, exp.RenameColumn) and ren.args["to"].name == "b"


def test_dot_number_literal():
    lit = p("SELECT .5").expressions[0]
    assert isinstance(lit, exp.Literal) and lit.this == ".5"


def test_star_has_no_alias():
    from engine.sql.parse import SqlSyntaxError
    with pytest.raises(SqlSyntaxError, match='near "x"'):
        p("SELECT * x FROM t")
