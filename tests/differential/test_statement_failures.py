"""What a failing write statement leaves behind, compared with sqlite3: the rows it
wrote before the error (kept or undone), changes(), total_changes(),
last_insert_rowid(), and whether the transaction is still open.

A constraint violation is resolved by its conflict action; an error that is no
constraint violation (a datatype mismatch: a text INTEGER PRIMARY KEY) undoes the
statement inside an explicit transaction only when SQLite ran it under a statement
journal (engine/sql/compiler/statement_journal.py), and rolls an autocommit
statement back whatever the clause."""

from __future__ import annotations

import sqlite3

import pytest

import turso_stream

MODES = ["", "OR ABORT", "OR FAIL", "OR IGNORE", "OR REPLACE", "OR ROLLBACK"]
PROBES = ["SELECT * FROM t ORDER BY a",
          "SELECT changes(), total_changes(), last_insert_rowid()"]


def _state(conn):
    out = [conn.execute(q).fetchall() for q in PROBES]
    out.append(conn.in_transaction)
    return out


def _outcome(conn, sql, params=None):
    try:
        if params is None:
            conn.execute(sql)
        else:
            conn.executemany(sql, params)
        return "ok"
    except (sqlite3.Error, turso_stream.Error) as exc:
        return (type(exc).__name__, str(exc))


def _compare(setup, statements, explicit=True):
    """Run ``setup`` then each statement on both engines; after each, the error and
    the probes must agree."""
    ours = turso_stream.connect(":memory:", isolation_level=None)
    theirs = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for sql in setup:
            theirs.execute(sql)
            ours.execute(sql)
        if explicit:
            theirs.execute("BEGIN")
            ours.execute("BEGIN")
        for item in statements:
            sql, params = item if isinstance(item, tuple) else (item, None)
            expected = (_outcome(theirs, sql, params), _state(theirs))
            actual = (_outcome(ours, sql, params), _state(ours))
            assert actual == expected, f"{sql}\nours:   {actual}\nsqlite: {expected}"
    finally:
        ours.close()
        theirs.close()


TABLES = [
    "CREATE TABLE t(a INTEGER PRIMARY KEY, b)",
    "CREATE TABLE t(a INTEGER PRIMARY KEY, b NOT NULL)",
    "CREATE TABLE t(a INTEGER PRIMARY KEY ON CONFLICT REPLACE, b)",
    "CREATE TABLE t(a INTEGER PRIMARY KEY ON CONFLICT REPLACE, b NOT NULL DEFAULT 4)",
    "CREATE TABLE t(a INTEGER PRIMARY KEY ON CONFLICT REPLACE, b CHECK (b <> 'z'))",
    "CREATE TABLE t(a INTEGER PRIMARY KEY ON CONFLICT REPLACE, b CHECK (a <> 99))",
    "CREATE TABLE t(a INTEGER PRIMARY KEY ON CONFLICT FAIL, b UNIQUE)",
    "CREATE TABLE t(a INTEGER PRIMARY KEY ON CONFLICT IGNORE, b UNIQUE ON CONFLICT REPLACE)",
]
INSERTS = [
    "INSERT {m} INTO t VALUES (1, 'a'), ('x', 'b')",
    "INSERT {m} INTO t(b, a) SELECT 'a', 1 UNION ALL SELECT 'b', 'x'",
    "INSERT {m} INTO t VALUES (7, 'a'), ('x', 'b') ON CONFLICT DO NOTHING",
    "INSERT {m} INTO t VALUES (7, 'a'), ('x', 'b') ON CONFLICT(a) DO NOTHING",
]
UPDATES = [
    "UPDATE {m} t SET a = CASE a WHEN 1 THEN 5 ELSE 'x' END",
    "UPDATE {m} t SET a = CASE a WHEN 1 THEN 5 ELSE 'x' END, b = b",
]


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("mode", MODES)
def test_datatype_mismatch_inside_transaction(table, mode):
    """A text rowid in the second row: the first row stays unless the statement had
    a statement journal (an ABORT-resolved check, REPLACE's second NOT NULL pass)."""
    _compare([table], [s.format(m=mode) for s in INSERTS])
    _compare([table, "INSERT INTO t VALUES (1, 'a'), (2, 'b')"],
             [s.format(m=mode) for s in UPDATES])


@pytest.mark.parametrize("mode", MODES)
def test_datatype_mismatch_in_autocommit_and_executemany(mode):
    """Autocommit: the failing statement is rolled back whatever its clause;
    executemany's earlier parameter sets are statements of their own and stay."""
    many = (f"INSERT {mode} INTO t VALUES (?, ?)", [(10, "a"), ("y", "b"), (12, "c")])
    _compare(["CREATE TABLE t(a INTEGER PRIMARY KEY, b)"],
             [f"INSERT {mode} INTO t VALUES (1, 'a'), ('x', 'b'), (3, 'c')", many],
             explicit=False)
    _compare(["CREATE TABLE t(a INTEGER PRIMARY KEY, b)"],
             [f"INSERT {mode} INTO t VALUES (1, 'a'), ('x', 'b'), (3, 'c')", many])


FK_SETUPS = [
    ["CREATE TABLE p(id INTEGER PRIMARY KEY)", "INSERT INTO p VALUES (1), (5), (2)",
     "CREATE TABLE t(a INTEGER PRIMARY KEY, b REFERENCES p(id))"],
    ["CREATE TABLE p(id INTEGER PRIMARY KEY)", "INSERT INTO p VALUES (1), (5), (2)",
     "CREATE TABLE t(a INTEGER PRIMARY KEY, b REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED)"],
    ["CREATE TABLE t(a INTEGER PRIMARY KEY, b)", "CREATE TABLE c(x REFERENCES t(a))"],
    ["CREATE TABLE t(a INTEGER PRIMARY KEY, b)",
     "CREATE TABLE c(x REFERENCES t(a) ON UPDATE CASCADE ON DELETE CASCADE)"],
    ["CREATE TABLE t(a INTEGER PRIMARY KEY, b)", "CREATE TABLE log(x)",
     "CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO log VALUES (new.a); END"],
    ["CREATE TABLE t(a INTEGER PRIMARY KEY, b)", "CREATE TABLE log(x)",
     "CREATE TRIGGER tr AFTER UPDATE ON t BEGIN INSERT INTO log VALUES (new.a); END"],
]


@pytest.mark.parametrize("fk", ["ON", "OFF"])
@pytest.mark.parametrize("setup", range(len(FK_SETUPS)))
@pytest.mark.parametrize("mode", ["", "OR FAIL", "OR IGNORE", "OR REPLACE"])
def test_datatype_mismatch_with_foreign_keys_and_triggers(fk, setup, mode):
    """Immediate foreign keys the statement checks (and REPLACE on a table in a foreign
    key) give it a statement journal; triggers do under ABORT."""
    base = [f"PRAGMA foreign_keys={fk}"] + FK_SETUPS[setup]
    _compare(base, [f"INSERT {mode} INTO t VALUES (1, 1), ('x', 2)"])
    _compare(base + ["INSERT INTO t VALUES (1, 1), (2, 2)"],
             [f"UPDATE {mode} t SET a = CASE a WHEN 1 THEN 5 ELSE 'x' END"])


def test_changes_after_foreign_key_failures():
    """A statement failing its foreign key check counts no changes: changes() is 0 and
    total_changes() leaves its rows out, immediate and deferred, executemany too."""
    setup = ["PRAGMA foreign_keys=ON", "CREATE TABLE p(id INTEGER PRIMARY KEY)",
             "CREATE TABLE c(x REFERENCES p(id))",
             "CREATE TABLE d(x REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED)",
             "INSERT INTO p VALUES (1), (2)", "CREATE TABLE t(a)"]
    statements = [
        "INSERT INTO c VALUES (1), (5)", "INSERT INTO c VALUES (7)", "DELETE FROM p",
        "INSERT INTO c VALUES (1)", "UPDATE c SET x = 9", "INSERT INTO d VALUES (1), (5)",
        ("INSERT INTO c VALUES (?)", [(1,), (8,)]), "INSERT OR FAIL INTO c VALUES (1), (5)",
        "INSERT OR IGNORE INTO c VALUES (2), (5)",
    ]
    _compare(setup, statements, explicit=False)
    _compare(setup, statements + ["INSERT INTO d VALUES (1), (5)", "COMMIT"])


def test_changes_after_failing_deletes():
    """A DELETE stopped by RAISE(ABORT) counts no changes; by RAISE(FAIL) it keeps and
    counts the rows deleted before (autocommit and inside a transaction)."""
    setup = ["CREATE TABLE t(a)", "CREATE TABLE u(a)", "INSERT INTO t VALUES (1), (2), (3)",
             "INSERT INTO u VALUES (1), (2), (3)",
             "CREATE TRIGGER td BEFORE DELETE ON t WHEN old.a = 2 "
             "BEGIN SELECT RAISE(ABORT, 'no'); END",
             "CREATE TRIGGER tf BEFORE DELETE ON u WHEN old.a = 2 "
             "BEGIN SELECT RAISE(FAIL, 'no'); END"]
    statements = ["DELETE FROM t", "INSERT INTO u VALUES (5)", "DELETE FROM u",
                  "INSERT INTO u VALUES (7)", "DELETE FROM t WHERE a = 2",
                  "DELETE FROM u WHERE a <> 2", "DELETE FROM u"]
    _compare(setup, statements, explicit=False)
    _compare(setup, statements)


FUNCTION_TABLES = [
    "CREATE TABLE t(a INTEGER PRIMARY KEY, b)",
    "CREATE TABLE t(a INTEGER PRIMARY KEY, b DEFAULT (abs(-3)))",
    "CREATE TABLE t(a INTEGER PRIMARY KEY, b DEFAULT (coalesce(NULL, 3)))",
    "CREATE TABLE t(a INTEGER PRIMARY KEY, b CHECK (length(b) < 9))",
    "CREATE TABLE t(a INTEGER PRIMARY KEY, b CHECK (b IS NOT 5))",
]
FUNCTION_STATEMENTS = [
    "INSERT OR FAIL INTO t(a, b) VALUES (NULL, NULL), ('x', NULL){r}",
    "INSERT OR FAIL INTO t(a) VALUES (NULL), ('x'){r}",
    "INSERT OR FAIL INTO t(a, b) VALUES (NULL, upper('a')), ('x', NULL){r}",
    "INSERT OR FAIL INTO t(a, b) VALUES (NULL, 'a' LIKE 'b'), ('x', NULL){r}",
    "INSERT OR IGNORE INTO t(a, b) SELECT NULL, count(*) UNION ALL SELECT 'x', 2{r}",
    "UPDATE OR FAIL t SET a = CASE a WHEN 1 THEN 9 ELSE 'x' END{r}",
    "UPDATE OR FAIL t SET a = CASE a WHEN 1 THEN 9 ELSE 'x' END WHERE abs(a) > 0{r}",
]


@pytest.mark.parametrize("table", FUNCTION_TABLES)
@pytest.mark.parametrize("statement", FUNCTION_STATEMENTS)
@pytest.mark.parametrize("returning", ["", " RETURNING a", " RETURNING typeof(b)",
                                       " RETURNING coalesce(b, 1)"])
def test_function_calls_give_a_statement_journal(table, statement, returning):
    """Any function SQLite calls (not the inline coalesce/ifnull/iif, not aggregates)
    may raise, so the statement gets a journal: in its text, RETURNING, a DEFAULT
    it fills in, a CHECK it tests, an index expression."""
    sql = statement.format(r=returning)
    setup = [table, "INSERT INTO t(a, b) VALUES (1, 1), (2, 2)"] if sql.startswith("UPDATE") \
        else [table]
    _compare(setup, [sql])
    _compare(setup + ["CREATE INDEX ti ON t(b) WHERE abs(b) > 0"], [sql])
