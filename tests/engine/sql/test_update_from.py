"""UPDATE ... FROM (SQLite 3.33+) against stdlib sqlite3."""

from __future__ import annotations

import sqlite3

import pytest

from engine.database import Database
from engine.sql.session import Session

SETUP = """
CREATE TABLE t(id INTEGER PRIMARY KEY, a, b TEXT);
CREATE TABLE o(id, x, y);
CREATE TABLE p(y, z);
CREATE TABLE w(k TEXT PRIMARY KEY, v) WITHOUT ROWID;
CREATE TABLE log(m);
CREATE TRIGGER tu AFTER UPDATE ON t BEGIN INSERT INTO log VALUES (old.a || '->' || new.a); END;
INSERT INTO t VALUES (1, 1, 'one'), (2, 2, 'two'), (3, 3, 'three'), (4, NULL, 'four');
INSERT INTO o VALUES (1, 10, 'a'), (2, 20, 'b'), (5, 50, 'c'), (3, NULL, 'a');
INSERT INTO p VALUES ('a', 100), ('b', 200);
INSERT INTO w VALUES ('one', 0), ('two', 0), ('nine', 0);
"""

CASES = [
    "UPDATE t SET a = o.x + t.a FROM o WHERE t.id = o.id",
    "UPDATE t AS z SET a = x, b = upper(z.b) FROM o WHERE z.id = o.id AND o.x > 10",
    "UPDATE t SET a = p.z FROM o JOIN p ON o.y = p.y WHERE o.id = t.id",
    "UPDATE t SET a = m.total FROM (SELECT id, sum(x) AS total FROM o GROUP BY id) AS m "
    "WHERE m.id = t.id",
    "UPDATE t SET a = -1 FROM o WHERE o.id = t.id + 100",
    "UPDATE w SET v = t.id FROM t WHERE t.b = w.k",
    "UPDATE t SET a = nope.x FROM o WHERE o.id = t.id",
    "UPDATE t SET a = o.x FROM o WHERE id = 1",
    "UPDATE t SET a = o.x FROM o, p WHERE o.id = t.id AND p.y = o.y AND p.z > 150",
    "UPDATE t SET a = o.x FROM o LEFT JOIN p ON p.y = o.y WHERE o.id = t.id AND p.z IS NULL",
]


def _outcome(execute, sql):
    try:
        execute(sql)
        return None
    except Exception as exc:
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("sql", CASES)
def test_update_from_matches_sqlite(sql):
    ref = sqlite3.connect(":memory:", isolation_level=None)
    ref.executescript(SETUP)
    ses = Session(Database())
    ses.executescript(SETUP)
    want = _outcome(ref.execute, sql)
    assert _outcome(ses.execute, sql) == want
    if want is None:
        assert ses.changes == ref.execute("SELECT changes()").fetchone()[0]
    for table in ("t", "w", "log"):
        q = f"SELECT * FROM {table} ORDER BY 1"
        assert ses.execute(q).rows == ref.execute(q).fetchall(), (sql, table)
    ses.db._check()


def test_update_from_returning_and_parameters():
    ref = sqlite3.connect(":memory:", isolation_level=None)
    ref.executescript(SETUP)
    ses = Session(Database())
    ses.executescript(SETUP)
    sql = "UPDATE t SET a = o.x * ? FROM o WHERE o.id = t.id AND o.x IS NOT NULL RETURNING id, a"
    assert sorted(ses.execute(sql, (3,)).rows) == sorted(ref.execute(sql, (3,)).fetchall()) \
        == [(1, 30), (2, 60)]
