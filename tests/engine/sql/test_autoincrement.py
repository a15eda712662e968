"""PRAGMA user_version (durable) and AUTOINCREMENT with sqlite_sequence, against sqlite3."""

from __future__ import annotations

import sqlite3

import pytest

from engine.database import Database
from engine.sql.session import SCHEMA_COMPILER, Session


def _kill(db):
    """Kill-like close: nothing checkpointed, the log must carry everything."""
    db.closed = True
    db._log.close()
    db._lock_file.release()


HEADER = pytest.mark.parametrize("field", ["user_version", "application_id"])


@HEADER
@pytest.mark.parametrize("value", ["5", "-3", "'12abc'", "'x'", "4294967297", "2147483647", "1.9"])
def test_header_field_values_match_sqlite(field, value):
    ref = sqlite3.connect(":memory:")
    ses = Session(Database())
    sql = f"PRAGMA {field} = {value}"
    ref.execute(sql)
    ses.execute(sql)
    assert ses.execute(f"PRAGMA {field}").rows == ref.execute(f"PRAGMA {field}").fetchall()


@HEADER
def test_header_field_is_transactional(field):
    ses = Session(Database())
    ses.execute(f"PRAGMA {field} = 1")
    ses.execute("BEGIN")
    ses.execute(f"PRAGMA {field} = 2")
    assert ses.execute(f"PRAGMA {field}").rows == [(2,)]
    ses.execute("ROLLBACK")
    assert ses.execute(f"PRAGMA {field}").rows == [(1,)]
    ses.execute("BEGIN")
    ses.execute("SAVEPOINT s")
    ses.execute(f"PRAGMA {field} = 3")
    ses.execute("ROLLBACK TO s")
    ses.execute("COMMIT")
    assert ses.execute(f"PRAGMA {field}").rows == [(1,)]


@HEADER
@pytest.mark.parametrize("checkpoint", [False, True])
def test_header_field_survives_crash_and_checkpoint(tmp_path, field, checkpoint):
    path = str(tmp_path / "uv.db")
    db = Database(path, compiler=SCHEMA_COMPILER)
    ses = Session(db)
    ses.execute("CREATE TABLE t(a)")
    ses.execute(f"PRAGMA {field} = 41")
    if checkpoint:
        db.checkpoint()
    ses.execute(f"PRAGMA {field} = 42")
    _kill(db)
    db = Database(path, compiler=SCHEMA_COMPILER)
    assert Session(db).execute(f"PRAGMA {field}").rows == [(42,)]
    db.close()
    conn = sqlite3.connect(path)
    assert conn.execute(f"PRAGMA {field}").fetchone() == (42,)
    conn.close()


def test_header_of_existing_sqlite_file_is_read_and_kept(tmp_path):
    """A file another program made (a GeoPackage's application_id, a schema
    version in user_version) keeps its header through our checkpoints: we used to
    write application_id 0."""
    path = str(tmp_path / "ext.db")
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t(a)")
    conn.execute("PRAGMA user_version = 9")
    conn.execute("PRAGMA application_id = 1196444487")  # 'GPKG'
    conn.commit()
    conn.close()
    db = Database(path, compiler=SCHEMA_COMPILER)
    ses = Session(db)
    assert ses.execute("PRAGMA user_version").rows == [(9,)]
    assert ses.execute("PRAGMA application_id").rows == [(1196444487,)]
    ses.execute("INSERT INTO t VALUES (1)")
    db.close()  # checkpoints
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA application_id").fetchone() == (1196444487,)
    assert conn.execute("PRAGMA user_version").fetchone() == (9,)
    conn.close()


AUTOINC_SCRIPT = [
    "CREATE TABLE t(id INTEGER PRIMARY KEY AUTOINCREMENT, v)",
    "INSERT INTO t VALUES (-5, 'neg')",
    "INSERT INTO t(v) VALUES ('a')",
    "UPDATE t SET id = 100 WHERE id = 1",
    "INSERT INTO t(v) VALUES ('b')",
    "DELETE FROM t",
    "INSERT INTO t(v) VALUES ('c')",
    "BEGIN",
    "INSERT INTO t(v) VALUES ('rolled back')",
    "ROLLBACK",
    "CREATE TABLE u(id INTEGER PRIMARY KEY AUTOINCREMENT, w)",
    "INSERT INTO u(w) VALUES (1), (2)",
    "ALTER TABLE u RENAME TO u2",
    "INSERT INTO u2(w) VALUES (3)",
    "DROP TABLE sqlite_sequence",
    "ALTER TABLE sqlite_sequence RENAME TO s",
    "CREATE TABLE sqlite_sequence(x)",
    "DROP TABLE u2",
    "UPDATE sqlite_sequence SET seq = 1000 WHERE name = 't'",
    "INSERT INTO t(v) VALUES ('after 1000')",
    "INSERT INTO t VALUES (9223372036854775807, 'max')",
    "INSERT INTO t(v) VALUES ('full')",
    "CREATE TABLE x(a INT PRIMARY KEY AUTOINCREMENT)",
    "INSERT OR REPLACE INTO t VALUES (2, 'replaced')",
]


def _outcome(execute, sql):
    try:
        execute(sql)
        return None
    except Exception as exc:
        return type(exc).__name__, str(exc)


def test_autoincrement_matches_sqlite():
    ref = sqlite3.connect(":memory:", isolation_level=None)
    ses = Session(Database())
    for sql in AUTOINC_SCRIPT:
        assert _outcome(ses.execute, sql) == _outcome(ref.execute, sql), sql
        for q in ("SELECT type, name, tbl_name, sql FROM sqlite_schema",
                  "SELECT * FROM sqlite_sequence ORDER BY name", "SELECT * FROM t ORDER BY id"):
            assert ses.execute(q).rows == ref.execute(q).fetchall(), (sql, q)
    ses.db._check()


def test_sqlite_sequence_survives_crash_and_checkpoint(tmp_path):
    path = str(tmp_path / "seq.db")
    db = Database(path, compiler=SCHEMA_COMPILER)
    ses = Session(db)
    ses.execute("CREATE TABLE t(id INTEGER PRIMARY KEY AUTOINCREMENT, v)")
    ses.execute("INSERT INTO t(v) VALUES ('a'), ('b'), ('c')")
    ses.execute("DELETE FROM t WHERE id = 3")
    _kill(db)
    db = Database(path, compiler=SCHEMA_COMPILER)
    ses = Session(db)
    assert ses.execute("SELECT * FROM sqlite_sequence").rows == [("t", 3)]
    ses.execute("INSERT INTO t(v) VALUES ('d')")
    assert ses.execute("SELECT max(id) FROM t").rows == [(4,)]
    ses.execute("DELETE FROM t WHERE id = 4")
    db.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT * FROM sqlite_sequence").fetchall() == [("t", 4)]
    conn.execute("INSERT INTO t(v) VALUES ('e')")
    assert conn.execute("SELECT max(id) FROM t").fetchone() == (5,)
    conn.commit()
    conn.close()
    db = Database(path, compiler=SCHEMA_COMPILER)
    ses = Session(db)
    ses.execute("INSERT INTO t(v) VALUES ('f')")
    assert ses.execute("SELECT id, v FROM t ORDER BY id").rows == [(1, "a"), (2, "b"), (5, "e"),
                                                                  (6, "f")]
    assert ses.execute("SELECT name FROM sqlite_schema").rows == [("t",), ("sqlite_sequence",)]
    db.close()
