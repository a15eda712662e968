"""Triggers against stdlib sqlite3: BEFORE/AFTER/INSTEAD OF, WHEN, UPDATE OF, RAISE."""

import sqlite3

import pytest

import turso_stream

SCRIPTS = {
    "row_triggers": [
        "CREATE TABLE t(id INTEGER PRIMARY KEY, a)", "CREATE TABLE log(ev, x, y)",
        "CREATE TRIGGER ti AFTER INSERT ON t BEGIN INSERT INTO log VALUES ('i', new.id, new.a); END",
        "CREATE TRIGGER tu AFTER UPDATE OF a ON t WHEN new.a > 5 BEGIN "
        "INSERT INTO log VALUES ('u', old.a, new.a); END",
        "CREATE TRIGGER td BEFORE DELETE ON t BEGIN INSERT INTO log VALUES ('d', old.id, old.a); "
        "SELECT RAISE(IGNORE) WHERE old.a = 21; END",
        "CREATE TRIGGER tb BEFORE INSERT ON t WHEN new.a < 0 BEGIN SELECT RAISE(ABORT, 'negative'); END",
        "INSERT INTO t(a) VALUES (1), (2), (7)", "UPDATE t SET a = a * 3", "DELETE FROM t",
        "SELECT * FROM t", "SELECT * FROM log", "SELECT changes(), total_changes(), last_insert_rowid()",
        "INSERT INTO t(a) VALUES (-1)", "SELECT count(*) FROM t",
        "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'",
        "DROP TRIGGER tu", "DROP TRIGGER tu", "DROP TRIGGER IF EXISTS tu",
        "SELECT RAISE(IGNORE)",
    ],
    "instead_of": [
        "CREATE TABLE t(id INTEGER PRIMARY KEY, a, b)",
        "CREATE VIEW v AS SELECT id, a, b, a + b AS s FROM t",
        "CREATE TRIGGER vi INSTEAD OF INSERT ON v BEGIN "
        "INSERT INTO t(a, b) VALUES (new.a, coalesce(new.b, 0)); END",
        "CREATE TRIGGER vu INSTEAD OF UPDATE OF a ON v BEGIN "
        "UPDATE t SET a = new.a * 10 WHERE id = old.id; END",
        "CREATE TRIGGER vd INSTEAD OF DELETE ON v WHEN old.a > 50 BEGIN "
        "DELETE FROM t WHERE id = old.id; END",
        "INSERT INTO v(a, b) VALUES (1, 2), (3, NULL)", "INSERT INTO v(a) SELECT a + 100 FROM t",
        "UPDATE v SET a = a + 1 WHERE s > 2", "UPDATE v SET b = 5", "DELETE FROM v",
        "SELECT * FROM t", "SELECT * FROM v",
        "CREATE TRIGGER bad BEFORE INSERT ON v BEGIN SELECT 1; END",
        "CREATE TRIGGER bad2 INSTEAD OF INSERT ON t BEGIN SELECT 1; END",
        "INSERT INTO v(zz) VALUES (1)", "CREATE TRIGGER x AFTER INSERT ON nope BEGIN SELECT 1; END",
    ],
}


def _run(module, script):
    conn = module.connect(":memory:", isolation_level=None)
    out = []
    for sql in script:
        try:
            out.append(("ok", conn.execute(sql).fetchall()))
        except sqlite3.Error as exc:
            out.append((type(exc).__name__, str(exc)))
    return out


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_triggers_match_sqlite(name):
    ours, theirs = _run(turso_stream, SCRIPTS[name]), _run(sqlite3, SCRIPTS[name])
    for sql, a, b in zip(SCRIPTS[name], ours, theirs):
        assert a == b, sql


def test_trigger_does_not_fire_itself_recursively():
    script = ["CREATE TABLE c(n)", "INSERT INTO c VALUES (0)",
              "CREATE TRIGGER again AFTER UPDATE ON c BEGIN UPDATE c SET n = n + 1; END",
              "UPDATE c SET n = 10", "SELECT n FROM c"]
    assert _run(turso_stream, script) == _run(sqlite3, script)
    assert _run(turso_stream, script)[-1] == ("ok", [(11,)])


def test_raise_rollback_ends_the_transaction_and_abort_keeps_it():
    for kind, in_txn in (("ROLLBACK", False), ("ABORT", True), ("FAIL", True)):
        script = ["CREATE TABLE t(a)", f"CREATE TRIGGER r BEFORE INSERT ON t WHEN new.a = 2 "
                  f"BEGIN SELECT RAISE({kind}, 'stop'); END", "BEGIN", "INSERT INTO t VALUES (1)",
                  "INSERT INTO t VALUES (2)"]
        conns = []
        for module in (turso_stream, sqlite3):
            conn = module.connect(":memory:", isolation_level=None)
            for sql in script[:-1]:
                conn.execute(sql)
            with pytest.raises(sqlite3.IntegrityError, match="stop"):
                conn.execute(script[-1])
            conns.append((conn.in_transaction, conn.execute("SELECT * FROM t").fetchall()))
        assert conns[0] == conns[1], kind
        assert conns[0][0] is in_txn
