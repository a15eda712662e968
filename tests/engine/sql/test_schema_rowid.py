"""sqlite_schema / sqlite_master / sqlite_temp_schema have a rowid, as in SQLite: the
object's number, max + 1 when it was created (a DDL history compared with sqlite3),
which is also the ``id`` the CDC feed gives the object's schema changes."""

from __future__ import annotations

import sqlite3

import turso_stream

STEPS = [
    "CREATE TABLE a(x PRIMARY KEY, y UNIQUE)", "CREATE TABLE b(x)", "CREATE INDEX bi ON b(x)",
    "CREATE TABLE c(x)", "DROP TABLE b", "CREATE TABLE d(x)", "ALTER TABLE a RENAME TO a2",
    "ALTER TABLE c ADD COLUMN y", "ALTER TABLE c RENAME COLUMN x TO z",
    "CREATE TRIGGER tg AFTER INSERT ON c BEGIN SELECT 1; END", "DROP TABLE d",
    "CREATE VIEW v AS SELECT 1", "CREATE UNIQUE INDEX ci ON c(z)", "DROP TRIGGER tg",
    "CREATE TABLE e(x)", "CREATE TEMP VIEW tv AS SELECT 2", "CREATE TEMP VIEW tv2 AS SELECT 2",
    "DROP VIEW tv", "CREATE TEMP VIEW tv3 AS SELECT 2", "ALTER TABLE c DROP COLUMN y",
]
PROBES = [
    "SELECT rowid, type, name, tbl_name FROM sqlite_schema ORDER BY rowid",
    "SELECT oid, _rowid_, name FROM sqlite_master ORDER BY 1 DESC",
    "SELECT s.rowid, s.name FROM main.sqlite_schema AS s WHERE s.rowid >= 2 ORDER BY s.rowid",
    "SELECT max(rowid), count(*) FROM sqlite_master",
    "SELECT rowid, name FROM sqlite_temp_schema ORDER BY rowid",
    "SELECT * FROM sqlite_schema ORDER BY rowid LIMIT 1",
]


def test_schema_rowids_match_sqlite_through_ddl():
    ours = turso_stream.connect(":memory:", isolation_level=None)
    theirs = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for step in STEPS:
            theirs.execute(step)
            ours.execute(step)
            for probe in PROBES:
                want = theirs.execute(probe).fetchall()
                got = ours.execute(probe).fetchall()
                assert got == want, f"after {step}: {probe}\nours:   {got}\nsqlite: {want}"
    finally:
        ours.close()
        theirs.close()


def test_schema_rowid_is_the_cdc_schema_id():
    conn = turso_stream.connect(":memory:", isolation_level=None)
    try:
        conn.execute("PRAGMA capture_data_changes_conn('full')")
        for sql in ("CREATE TABLE a(x UNIQUE)", "CREATE TABLE b(y)", "CREATE INDEX bi ON b(y)",
                    "DROP TABLE a", "CREATE VIEW v AS SELECT 1"):
            conn.execute(sql)
        rowids = dict(conn.execute("SELECT name, rowid FROM sqlite_schema").fetchall())
        inserted = [i for kind, i in conn.execute(
            "SELECT change_type, id FROM turso_cdc WHERE table_name = 'sqlite_schema' "
            "ORDER BY change_id").fetchall() if kind == 1]
        # b, bi and v are live: each one's CDC insert id is its sqlite_schema rowid
        assert [rowids["b"], rowids["bi"], rowids["v"]] == inserted[-3:]
        assert len(set(rowids.values())) == len(rowids)
    finally:
        conn.close()
