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


@pytest.mark.parametrize("value", ["5", "-3", "'12abc'", "'x'", "4294967297", "2147483647", "1.9"])
def test_user_version_values_match_sqlite(value):
    ref = sqlite3.connect(":memory:")
    ses = Session(Database())
    sql = f"PRAGMA user_version = {value}"
    ref.execute(sql)
    ses.execute(sql)
    assert ses.execute("PRAGMA user_version").rows == \
        ref.execute("PRAGMA user_version").fetchall()


def test_user_version_is_transactional():
    ses = Session(Database())
    ses.execute("PRAGMA user_version = 1")
    ses.execute("BEGIN")
    ses.execute("PRAGMA user_version = 2")
    assert ses.execute("PRAGMA user_version").rows == [(2,)]
    ses.execute("ROLLBACK")
    assert ses.execute("PRAGMA user_version").rows == [(1,)]
    ses.execute("BEGIN")
    ses.execute("SAVEPOINT s")
    ses.execute("PRAGMA user_version = 3")
    ses.execute("ROLLBACK TO s")
    ses.execute("COMMIT")
    assert ses.execute("PRAGMA user_version").rows == [(1,)]


@pytest.mark.parametrize("checkpoint", [False, True])
def test_user_version_survives_crash_and_checkpoint(tmp_path, checkpoint):
    path = str(tmp_path / "uv.db")
    db = Database(path, compiler=SCHEMA_COMPILER)
    ses = Session(db)
    ses.execute("CREATE TABLE t(a)")
    ses.execute("PRAGMA user_version = 41")
    if checkpoint:
        db.checkpoint()
    ses.execute("PRAGMA user_version = 42")
    _kill(db)
    db = Database(path, compiler=SCHEMA_COMPILER)
    assert Session(db).execute("PRAGMA user_version").rows == [(42,)]
    db.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone() == (42,)
    conn.close()


def test_user_version_of_existing_sqlite_file_is_read(tmp_path):
    path = str(tmp_path / "ext.db")
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t(a)")
    conn.execute("PRAGMA user_version = 9")
    conn.commit()
    conn.close()
    db = Database(path, compiler=SCHEMA_COMPILER)
    assert Session(db).execute("PRAGMA user_version").rows == [(9,)]
    db.close()
