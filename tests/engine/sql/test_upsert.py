"""UPSERT (INSERT ... ON CONFLICT) against stdlib sqlite3: rows, changes, errors."""

from __future__ import annotations

import sqlite3

import pytest

from engine.database import Database
from engine.sql.session import Session

BASE = ("CREATE TABLE t(a INTEGER PRIMARY KEY, b UNIQUE, c UNIQUE, d);"
        "INSERT INTO t VALUES (1, 1, 1, 0), (2, 2, 2, 0);")
PARTIAL = ("CREATE TABLE t(a, b); CREATE UNIQUE INDEX ia ON t(a) WHERE b > 0;"
           "INSERT INTO t VALUES (1, 2);")
PAIR = "CREATE TABLE t(a, b, n DEFAULT 0, UNIQUE(a, b)); INSERT INTO t VALUES (1, 2, 0);"
WR = ("CREATE TABLE t(k TEXT PRIMARY KEY, v INTEGER, hits INTEGER DEFAULT 1) WITHOUT ROWID;"
      "INSERT INTO t VALUES ('a', 1, 1);")
TRIG = (BASE + "CREATE TABLE log(m);"
        "CREATE TRIGGER tu AFTER UPDATE ON t BEGIN INSERT INTO log VALUES ('u' || new.d); END;"
        "CREATE TRIGGER ti AFTER INSERT ON t BEGIN INSERT INTO log VALUES ('i' || new.a); END;")

CASES = [
    (BASE, "INSERT INTO t VALUES (1, 2, 3, 9) ON CONFLICT(b) DO UPDATE SET d = excluded.d"),
    (BASE, "INSERT INTO t VALUES (1, 2, 3, 9) ON CONFLICT(a) DO UPDATE SET d = excluded.d"),
    (BASE, "INSERT INTO t VALUES (3, 2, 1, 9) ON CONFLICT(c) DO UPDATE SET d = excluded.d"),
    (BASE, "INSERT INTO t VALUES (3, 2, 1, 9) ON CONFLICT(c) DO NOTHING"),
    (BASE, "INSERT INTO t VALUES (3, 2, 1, 9) ON CONFLICT DO NOTHING"),
    (BASE, "INSERT INTO t VALUES (3, 2, 5, 9) ON CONFLICT(c) DO NOTHING"),
    (BASE, "INSERT INTO t VALUES (3, 2, 1, 9) ON CONFLICT(b) DO UPDATE SET c = 1"),
    (BASE, "INSERT INTO t VALUES (3, 2, 1, 9) ON CONFLICT(b) DO UPDATE SET c = 5 WHERE d > 0"),
    (BASE, "INSERT INTO t VALUES (3, 2, 1, 9) ON CONFLICT(d) DO NOTHING"),
    (BASE, "INSERT OR REPLACE INTO t VALUES (3, 2, 1, 9) ON CONFLICT(b) DO NOTHING"),
    (BASE, "INSERT OR IGNORE INTO t VALUES (3, 5, 1, 9) ON CONFLICT(b) DO NOTHING"),
    (BASE, "INSERT INTO t VALUES (3, 2, 7, 9), (4, 2, 8, 9) "
           "ON CONFLICT(b) DO UPDATE SET d = d + excluded.d"),
    (BASE, "INSERT INTO t VALUES (3, 2, 7, 9) ON CONFLICT(b) WHERE d > 0 DO NOTHING"),
    (BASE, "INSERT INTO t VALUES (1, 5, 6, 9) "
           "ON CONFLICT(a) DO UPDATE SET b = excluded.b, d = t.d + 1 + excluded.a"),
    (BASE, "INSERT INTO t SELECT 1, 5, 6, 9 WHERE true ON CONFLICT(a) DO UPDATE SET b = excluded.b"),
    (BASE, "INSERT INTO t VALUES (1, 5, 6, 9) ON CONFLICT(a) DO UPDATE SET (b, c) = (10, 11)"),
    (BASE, "INSERT INTO t VALUES (1, NULL, 6, 9) ON CONFLICT(a) DO UPDATE SET d = 'x'"),
    (BASE, "INSERT INTO t VALUES (5, 1, 6, 9) ON CONFLICT(b) DO UPDATE SET a = 7"),
    (BASE, "INSERT INTO t AS x VALUES (1, 5, 6, 9) ON CONFLICT(a) DO UPDATE SET d = x.d - 1"),
    (PAIR, "INSERT INTO t VALUES (1, 2, 0) ON CONFLICT(b, a) DO UPDATE SET n = n + 1"),
    (PAIR, "INSERT INTO t VALUES (1, 2, 0) ON CONFLICT(a) DO UPDATE SET n = n + 1"),
    (PARTIAL, "INSERT INTO t VALUES (1, 2) ON CONFLICT(a) WHERE b > 0 DO UPDATE SET a = 10"),
    (PARTIAL, "INSERT INTO t VALUES (1, 2) ON CONFLICT(a) DO UPDATE SET a = 10"),
    (PARTIAL, "INSERT INTO t VALUES (1, -2) ON CONFLICT(a) WHERE b > 0 DO UPDATE SET a = 10"),
    (WR, "INSERT INTO t VALUES ('a', 5, 1) ON CONFLICT(k) DO UPDATE SET hits = hits + 1, "
         "v = excluded.v"),
    (WR, "INSERT INTO t(k, v) VALUES ('b', 5), ('a', '7') "
         "ON CONFLICT DO UPDATE SET v = excluded.v + 1"),
    (TRIG, "INSERT INTO t VALUES (1, 7, 7, 4), (3, 3, 3, 3) ON CONFLICT(a) DO UPDATE SET d = 5"),
]


def _run(setup, sql, conn_exec, script):
    script(setup)
    try:
        out = conn_exec(sql)
        err = None
    except Exception as exc:
        out, err = None, (type(exc).__name__, str(exc))
    tables = [r[0] for r in conn_exec("SELECT name FROM sqlite_schema WHERE type = 'table' "
                                      "ORDER BY name")]
    rows = {name: conn_exec(f"SELECT * FROM {name} ORDER BY 1") for name in tables}
    return err, rows, out


@pytest.mark.parametrize("setup,sql", CASES)
def test_upsert_matches_sqlite(setup, sql):
    ref = sqlite3.connect(":memory:", isolation_level=None)
    ses = Session(Database())
    want = _run(setup, sql, lambda q: ref.execute(q).fetchall(), ref.executescript)
    want_changes = ref.total_changes
    got = _run(setup, sql, lambda q: ses.execute(q).rows, ses.executescript)
    assert got[:2] == want[:2]
    if want[0] is None:
        assert ses.total_changes == want_changes
    ses.db._check()


def test_upsert_returning_matches_sqlite():
    sql = ("INSERT INTO t VALUES (1, 5, 6, 9), (3, 3, 3, 3) ON CONFLICT(a) "
           "DO UPDATE SET d = excluded.d * 10 RETURNING a, d")
    ref = sqlite3.connect(":memory:", isolation_level=None)
    ref.executescript(BASE)
    ses = Session(Database())
    ses.executescript(BASE)
    assert ses.execute(sql).rows == ref.execute(sql).fetchall() == [(1, 90), (3, 3)]


def test_upsert_with_parameters_and_counter():
    ses = Session(Database())
    ses.execute("CREATE TABLE hits(page TEXT PRIMARY KEY, n INTEGER NOT NULL)")
    for page in ["a", "b", "a", "a", "c", "b"]:
        ses.execute("INSERT INTO hits VALUES (?, 1) ON CONFLICT(page) DO UPDATE SET n = n + 1",
                    (page,))
    assert ses.execute("SELECT * FROM hits ORDER BY page").rows == [("a", 3), ("b", 2), ("c", 1)]
