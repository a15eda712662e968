"""ALTER TABLE against stdlib sqlite3: stored schema text, rows, errors, recovery.

Every script runs in both engines; after each statement the ``sqlite_schema``
rows, the contents of every table and the error (class and message) must match.
"""

from __future__ import annotations

import sqlite3

import pytest

from engine.database import Database
from engine.sql.session import SCHEMA_COMPILER, Session

SETUP = """
CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT UNIQUE, c, d REFERENCES t(b), e CHECK (e > 0), f);
CREATE INDEX t_cb ON t(c, b);
CREATE INDEX t_part ON t(f) WHERE d IS NOT NULL;
CREATE VIEW v AS SELECT a, b FROM t WHERE c > 1;
CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET c = new.b WHERE a = new.a; END;
CREATE TABLE o(x REFERENCES t(b), y);
CREATE TABLE w(k TEXT PRIMARY KEY, v, n INTEGER) WITHOUT ROWID;
INSERT INTO t VALUES (1, 'x', 2, NULL, 4, 5), (2, 'y', 3, 'x', 1, NULL);
INSERT INTO o VALUES ('x', 1);
INSERT INTO w VALUES ('a', 1, 2), ('b', NULL, 3);
"""

STATEMENTS = [
    # RENAME COLUMN
    "ALTER TABLE t RENAME COLUMN b TO bb",
    "ALTER TABLE t RENAME c TO \"c c\"",
    "ALTER TABLE t RENAME COLUMN zz TO y",
    "ALTER TABLE t RENAME COLUMN a TO bb",
    "ALTER TABLE w RENAME v TO value",
    # RENAME TO
    "ALTER TABLE t RENAME TO o",
    "ALTER TABLE t RENAME TO t_cb",
    "ALTER TABLE nope RENAME TO z",
    "ALTER TABLE t RENAME TO \"new t\"",
    "ALTER TABLE w RENAME TO sqlite_w",
    "ALTER TABLE v RENAME TO vv",
    "ALTER TABLE w RENAME TO ww",
    # ADD COLUMN
    "ALTER TABLE \"new t\" ADD COLUMN g INTEGER DEFAULT '7'",
    "ALTER TABLE \"new t\" ADD h",
    "ALTER TABLE \"new t\" ADD COLUMN h",
    "ALTER TABLE \"new t\" ADD COLUMN p PRIMARY KEY",
    "ALTER TABLE \"new t\" ADD COLUMN q UNIQUE",
    "ALTER TABLE \"new t\" ADD COLUMN r NOT NULL",
    "ALTER TABLE \"new t\" ADD COLUMN r NOT NULL DEFAULT 'r'",
    "ALTER TABLE \"new t\" ADD COLUMN s DEFAULT (1 + 1)",
    "ALTER TABLE \"new t\" ADD COLUMN s DEFAULT CURRENT_TIME",
    "ALTER TABLE \"new t\" ADD COLUMN s DEFAULT -3.5",
    "ALTER TABLE \"new t\" ADD COLUMN u CHECK (u > 0) DEFAULT 0",
    "ALTER TABLE \"new t\" ADD COLUMN u TEXT COLLATE NOCASE",
    "ALTER TABLE v ADD COLUMN z",
    "ALTER TABLE ww ADD COLUMN extra REAL DEFAULT 1",
    # DROP COLUMN
    "ALTER TABLE \"new t\" DROP COLUMN a",
    "ALTER TABLE \"new t\" DROP COLUMN bb",
    "ALTER TABLE \"new t\" DROP COLUMN \"c c\"",
    "ALTER TABLE \"new t\" DROP COLUMN f",
    "ALTER TABLE \"new t\" DROP COLUMN e",
    "ALTER TABLE \"new t\" DROP COLUMN zz",
    "ALTER TABLE \"new t\" DROP COLUMN u",
    "ALTER TABLE \"new t\" DROP h",
    "ALTER TABLE ww DROP COLUMN k",
    "ALTER TABLE ww DROP COLUMN n",
    "ALTER TABLE v DROP COLUMN a",
    "ALTER TABLE sqlite_master RENAME TO m",
    "CREATE TABLE single(only_col)",
    "ALTER TABLE single DROP COLUMN only_col",
    "ALTER TABLE single RENAME TO single2",
]


def _state(run):
    schema = run("SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY name")
    out = [schema]
    for _type, name, _tbl, _sql in schema:
        if _type in ("table", "view"):
            q = name.replace('"', '""')
            out.append(sorted(run(f'SELECT * FROM "{q}"'), key=repr))
    return out


def _outcome(fn, sql):
    try:
        fn(sql)
        return None
    except Exception as exc:  # compared: class and message
        return type(exc).__name__, str(exc)


@pytest.fixture
def pair():
    ref = sqlite3.connect(":memory:", isolation_level=None)
    ref.executescript(SETUP)
    ses = Session(Database())
    ses.executescript(SETUP)
    return ref, ses


def test_each_statement_matches_sqlite(pair):
    ref, ses = pair
    for sql in STATEMENTS:
        want = _outcome(ref.execute, sql)
        got = _outcome(ses.execute, sql)
        assert got == want, sql
        assert _state(lambda q: ses.execute(q).rows) == \
            _state(lambda q: ref.execute(q).fetchall()), sql
        ses.db._check()


def test_indexes_work_after_alter(pair):
    ref, ses = pair
    script = [
        "ALTER TABLE t ADD COLUMN g DEFAULT 9",
        "ALTER TABLE t RENAME COLUMN c TO cc",
        "INSERT INTO t(a, b, cc, e) VALUES (3, 'z', 7, 1)",
        "ALTER TABLE t DROP COLUMN e",
    ]
    for sql in script:
        ref.execute(sql)
        ses.execute(sql)
    for q in ["SELECT a, g FROM t WHERE cc = 7", "SELECT a FROM t WHERE b = 'y'",
              "SELECT * FROM t ORDER BY cc, b", "SELECT * FROM v"]:
        assert ses.execute(q).rows == ref.execute(q).fetchall(), q
    # The UNIQUE index still enforces after the rebuild.
    assert _outcome(ses.execute, "INSERT INTO t(b) VALUES ('z')") == \
        _outcome(ref.execute, "INSERT INTO t(b) VALUES ('z')") == \
        ("IntegrityError", "UNIQUE constraint failed: t.b")
    ses.db._check()


def test_alter_inside_transaction_rolls_back(pair):
    ref, ses = pair
    for conn_exec in (ref.execute, ses.execute):
        conn_exec("BEGIN")
        conn_exec("INSERT INTO t(a, b, e) VALUES (10, 'q', 1)")
        conn_exec("SAVEPOINT s")
        conn_exec("ALTER TABLE t ADD COLUMN g DEFAULT 1")
        conn_exec("ALTER TABLE t RENAME TO t2")
        conn_exec("DELETE FROM t2 WHERE a = 1")
        conn_exec("ROLLBACK TO s")
        conn_exec("UPDATE t SET c = 5 WHERE a = 10")
        conn_exec("COMMIT")
    assert _state(lambda q: ses.execute(q).rows) == _state(lambda q: ref.execute(q).fetchall())
    ses.db._check()


def test_failed_alter_in_autocommit_changes_nothing(pair):
    ref, ses = pair
    before = _state(lambda q: ses.execute(q).rows)
    with pytest.raises(sqlite3.OperationalError, match="CHECK constraint failed"):
        ses.execute("ALTER TABLE t ADD COLUMN u CHECK (u > 5) DEFAULT 1")
    assert _state(lambda q: ses.execute(q).rows) == before


def test_drop_column_used_by_table_foreign_key_is_refused():
    script = ("CREATE TABLE p(id INTEGER PRIMARY KEY);"
              "CREATE TABLE t(a, d, FOREIGN KEY (d) REFERENCES p(id));")
    ref = sqlite3.connect(":memory:")
    ses = Session(Database())
    ref.executescript(script)
    ses.executescript(script)
    for sql in ("ALTER TABLE t DROP COLUMN d", "ALTER TABLE t RENAME COLUMN d TO dd",
                "ALTER TABLE p RENAME COLUMN id TO pid"):
        assert _outcome(ses.execute, sql) == _outcome(ref.execute, sql), sql
        assert _state(lambda q: ses.execute(q).rows) == \
            _state(lambda q: ref.execute(q).fetchall()), sql


def test_view_broken_by_drop_column_is_refused():
    ref = sqlite3.connect(":memory:")
    ses = Session(Database())
    script = "CREATE TABLE t(a, b); CREATE VIEW vb AS SELECT b FROM t;"
    ref.executescript(script)
    ses.executescript(script)
    sql = "ALTER TABLE t DROP COLUMN b"
    assert _outcome(ses.execute, sql) == _outcome(ref.execute, sql)
    assert ses.execute("SELECT sql FROM sqlite_schema WHERE name = 't'").rows == \
        [("CREATE TABLE t(a, b)",)]


@pytest.mark.parametrize("checkpoint", [False, True])
def test_alter_survives_crash_and_reopen(tmp_path, checkpoint):
    path = str(tmp_path / "alter.db")
    db = Database(path)
    ses = Session(db)
    ses.executescript(SETUP)
    if checkpoint:
        db.checkpoint()
    for sql in ["ALTER TABLE t RENAME TO t2", "ALTER TABLE t2 RENAME COLUMN c TO cc",
                "ALTER TABLE t2 ADD COLUMN g DEFAULT 'g'", "ALTER TABLE t2 DROP COLUMN e",
                "INSERT INTO t2(a, b, f) VALUES (5, 'n', 3)", "ALTER TABLE w RENAME TO w2",
                "DELETE FROM w2 WHERE k = 'a'", "ALTER TABLE w2 ADD COLUMN z"]:
        ses.execute(sql)
    want = _state(lambda q: ses.execute(q).rows)
    # Kill-like close: no checkpoint, the log must carry everything.
    db.closed = True
    db._log.close()
    db._lock_file.release()
    db2 = Database(path, compiler=SCHEMA_COMPILER)
    ses2 = Session(db2)
    db2._check()
    assert _state(lambda q: ses2.execute(q).rows) == want
    assert ses2.execute("SELECT a FROM t2 WHERE cc = 'y'").rows == [(2,)]
    db2.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT sql FROM sqlite_schema WHERE name = 't2'").fetchone()[0] == \
        'CREATE TABLE "t2"(a INTEGER PRIMARY KEY, b TEXT UNIQUE, cc, d REFERENCES "t2"(b), ' \
        "f, g DEFAULT 'g')"
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert conn.execute("SELECT * FROM w2").fetchall() == [("b", None, 3, None)]
    conn.close()
