"""Foreign keys (PRAGMA foreign_keys = ON) against stdlib sqlite3: actions, errors,
deferred constraints, foreign_key_list and foreign_key_check."""

from __future__ import annotations

import sqlite3

import pytest

from engine.database import Database
from engine.sql.session import Session

SCHEMA = """
CREATE TABLE p(id INTEGER PRIMARY KEY, code TEXT UNIQUE, note);
CREATE TABLE c_noact(x REFERENCES p(id), y);
CREATE TABLE c_cascade(x REFERENCES p(id) ON DELETE CASCADE ON UPDATE CASCADE, y);
CREATE TABLE c_null(x REFERENCES p ON DELETE SET NULL ON UPDATE SET NULL);
CREATE TABLE c_default(x DEFAULT 1 REFERENCES p(id) ON DELETE SET DEFAULT);
CREATE TABLE c_restrict(code REFERENCES p(code) ON DELETE RESTRICT ON UPDATE RESTRICT);
CREATE TABLE grand(z REFERENCES c_cascade(y) ON DELETE CASCADE);
CREATE UNIQUE INDEX c_cascade_y ON c_cascade(y);
CREATE TABLE d(x REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED);
INSERT INTO p VALUES (1, 'one', NULL), (2, 'two', NULL), (3, 'three', NULL);
"""

STATEMENTS = [
    "PRAGMA foreign_keys = ON",
    "INSERT INTO c_noact VALUES (1, 'a')",
    "INSERT INTO c_noact VALUES (9, 'bad')",
    "INSERT INTO c_noact VALUES (NULL, 'null ok')",
    "INSERT INTO c_noact VALUES ('1', 'text one')",
    "DELETE FROM p WHERE id = 1",
    "UPDATE c_noact SET x = 7 WHERE y = 'a'",
    "INSERT INTO c_cascade VALUES (2, 'b'), (2, 'b2')",
    "INSERT INTO grand VALUES ('b'), ('b2')",
    "UPDATE p SET id = 20 WHERE id = 2",
    "INSERT INTO c_null VALUES (3)",
    "INSERT INTO c_default VALUES (3)",
    "INSERT INTO c_restrict VALUES ('three')",
    "DELETE FROM p WHERE id = 3",
    "UPDATE p SET code = 'THREE' WHERE id = 3",
    "UPDATE p SET note = 'x' WHERE id = 3",
    "DELETE FROM c_restrict",
    "DELETE FROM p WHERE id = 3",
    "DELETE FROM p WHERE id = 20",
    "INSERT INTO d VALUES (99)",
    "BEGIN",
    "INSERT INTO d VALUES (42)",
    "COMMIT",
    "INSERT INTO p(id, code) VALUES (42, 'forty-two')",
    "COMMIT",
    "INSERT INTO c_noact VALUES (5, 'still bad')",
    "PRAGMA foreign_keys = OFF",
    "INSERT INTO c_noact VALUES (5, 'allowed when off')",
    "DELETE FROM p WHERE id = 42",
]


def _outcome(execute, sql):
    try:
        execute(sql)
        return None
    except Exception as exc:
        return type(exc).__name__, str(exc)


def _tables(run):
    names = [r[0] for r in run("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY 1")]
    return {n: sorted(run(f"SELECT * FROM {n}"), key=repr) for n in names}


def test_foreign_keys_match_sqlite():
    ref = sqlite3.connect(":memory:", isolation_level=None)
    ref.executescript(SCHEMA)
    ses = Session(Database())
    ses.executescript(SCHEMA)
    for sql in STATEMENTS:
        assert _outcome(ses.execute, sql) == _outcome(ref.execute, sql), sql
        assert _tables(lambda q: ses.execute(q).rows) == \
            _tables(lambda q: ref.execute(q).fetchall()), sql
        assert ses.in_transaction == ref.in_transaction, sql
        for q in ("PRAGMA foreign_keys", "PRAGMA foreign_key_check",
                  "PRAGMA foreign_key_check(c_noact)"):
            # Across tables SQLite's order follows its schema hash table: compare sorted.
            assert sorted(ses.execute(q).rows) == sorted(ref.execute(q).fetchall()), (sql, q)
    ses.db._check()


def test_foreign_key_list_matches_sqlite():
    ref = sqlite3.connect(":memory:")
    ref.executescript(SCHEMA + "CREATE TABLE multi(a, b, c REFERENCES p, FOREIGN KEY (a, b) "
                               "REFERENCES pair(x, y) ON UPDATE CASCADE);")
    ses = Session(Database())
    ses.executescript(SCHEMA + "CREATE TABLE multi(a, b, c REFERENCES p, FOREIGN KEY (a, b) "
                               "REFERENCES pair(x, y) ON UPDATE CASCADE);")
    for t in ("c_noact", "c_cascade", "c_null", "c_restrict", "d", "multi", "p"):
        q = f"PRAGMA foreign_key_list({t})"
        assert ses.execute(q).rows == ref.execute(q).fetchall(), t


def test_mismatch_and_missing_parent_errors():
    script = ("CREATE TABLE q(a, b); CREATE TABLE r(x REFERENCES q(a));"
              "CREATE TABLE s(x REFERENCES nowhere(id));")
    ref = sqlite3.connect(":memory:", isolation_level=None)
    ses = Session(Database())
    for conn_exec, run_script in ((ref.execute, ref.executescript),
                                  (ses.execute, ses.executescript)):
        run_script(script)
        conn_exec("PRAGMA foreign_keys = ON")
    for sql in ("INSERT INTO r VALUES (1)", "INSERT INTO s VALUES (1)",
                "INSERT INTO s VALUES (NULL)"):
        assert _outcome(ses.execute, sql) == _outcome(ref.execute, sql), sql


def test_failed_deferred_commit_keeps_transaction_open():
    ses = Session(Database())
    ses.executescript(SCHEMA)
    ses.execute("PRAGMA foreign_keys = ON")
    ses.execute("BEGIN")
    ses.execute("INSERT INTO d VALUES (77)")
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY constraint failed"):
        ses.execute("COMMIT")
    assert ses.in_transaction
    ses.execute("DELETE FROM d WHERE x = 77")
    ses.execute("COMMIT")
    assert ses.execute("SELECT count(*) FROM d").rows == [(0,)]
