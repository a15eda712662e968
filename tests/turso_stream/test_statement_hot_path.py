"""The per-statement fast paths behave as sqlite3 does.

Connection/Cursor.execute inline their guards and parameter checks, the session
remembers parsed statements and binds plain tuples without calls, and a plain
one-row INSERT has its own run (parameters, literals or expressions as its row).
Each test runs the same statements on stdlib sqlite3 and turso_stream and compares
everything observable: rows, rowcount, lastrowid, changes(), total_changes, errors.
"""

from __future__ import annotations

import datetime
import sqlite3
import threading

import pytest
from hypothesis import given, settings, strategies as st

import turso_stream


def _both(isolation_level=None):
    return (sqlite3.connect(":memory:", isolation_level=isolation_level),
            turso_stream.connect(":memory:", isolation_level=isolation_level))


def _outcome(conn, sql, params=()):
    """What one execute shows: rows, rowcount, lastrowid, changes, or the error."""
    try:
        cur = conn.execute(sql, params)
        rows = cur.fetchall()
    except Exception as exc:  # noqa: BLE001 - the error class and text are compared
        return ("error", type(exc).__name__, str(exc),
                conn.execute("SELECT changes()").fetchone()[0], conn.total_changes)
    return (rows, cur.rowcount, cur.lastrowid,
            conn.execute("SELECT changes()").fetchone()[0], conn.total_changes)


def _run_both(statements, isolation_level=None):
    theirs, ours = _both(isolation_level)
    for sql, params in statements:
        assert _outcome(ours, sql, params) == _outcome(theirs, sql, params), sql
    final = "SELECT rowid, * FROM t ORDER BY rowid"
    assert ours.execute(final).fetchall() == theirs.execute(final).fetchall()
    assert ours.in_transaction == theirs.in_transaction


SCHEMA = ("CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT NOT NULL, c REAL UNIQUE)", ())

VALUE = st.one_of(st.none(), st.integers(-3, 3), st.sampled_from(["x", "y", "3", ""]),
                  st.sampled_from([1.5, 2.0, -0.0]), st.sampled_from([b"", b"ab"]))
INSERTS = st.sampled_from([
    "INSERT INTO t VALUES (?, ?, ?)",
    "INSERT OR IGNORE INTO t VALUES (?, ?, ?)",
    "INSERT OR REPLACE INTO t VALUES (?, ?, ?)",
    "INSERT OR FAIL INTO t VALUES (?, ?, ?)",
    "INSERT INTO t VALUES (?1, ?2, ?3)",
    "INSERT INTO t VALUES (?3, ?2, ?1)",
    "INSERT INTO t VALUES (?, ? || 'z', ?)",
    "INSERT INTO t(a, b, c) VALUES (?, ?, ?)",
])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(INSERTS, st.tuples(VALUE, VALUE, VALUE)), min_size=1, max_size=8),
       st.sampled_from([None, ""]))
def test_one_row_inserts_match_sqlite3(rows, isolation_level):
    """Parameters as the row, reordered, computed; every conflict clause; autocommit
    and the implicit BEGIN of legacy mode: the same rows, counts and errors."""
    _run_both([SCHEMA] + rows, isolation_level)


def test_literal_rows_and_conflicts():
    _run_both([SCHEMA,
               ("INSERT INTO t VALUES (1, 'a', 1.0)", ()),
               ("INSERT INTO t VALUES (1, 'b', 2.0)", ()),          # PRIMARY KEY
               ("INSERT INTO t VALUES (NULL, NULL, 3.0)", ()),      # NOT NULL
               ("INSERT OR IGNORE INTO t VALUES (1, 'c', 4.0)", ()),
               ("INSERT INTO t VALUES (NULL, 'd', 5.0)", ()),
               ("INSERT INTO t VALUES (-1, 'e', NULL)", ()),
               ("INSERT INTO t VALUES ('x', 'f', 6.0)", ())])       # datatype mismatch


def test_insert_into_a_table_without_rowid_keeps_last_rowid():
    theirs, ours = _both()
    for conn in (theirs, ours):
        conn.execute("CREATE TABLE w(k TEXT PRIMARY KEY, v) WITHOUT ROWID")
        conn.execute("CREATE TABLE r(x)")
        conn.execute("INSERT INTO r VALUES (?)", (7,))
    for sql, params in [("INSERT INTO w VALUES (?, ?)", ("k", 1)),
                        ("INSERT INTO w VALUES (?, ?)", ("k", 2)),
                        ("INSERT INTO w VALUES ('j', 3)", ())]:
        assert _outcome(ours, sql, params) == _outcome(theirs, sql, params)


def test_bind_errors_and_non_plain_values():
    theirs, ours = _both()
    cases = [("INSERT INTO t VALUES (?, ?, ?)", (1, "a")),
             ("INSERT INTO t VALUES (?, ?, ?)", (1, "a", 2.0, 4)),
             ("INSERT INTO t VALUES (?, ?, ?)", [2, "b", 3.0]),
             ("INSERT INTO t VALUES (?, ?, ?)", (True, bytearray(b"b"), 4.0)),
             ("INSERT INTO t VALUES (:a, :b, :c)", {"a": 5, "b": "c", "c": 6.0}),
             ("INSERT INTO t VALUES (?, ?, ?)", (2 ** 63 - 1, "max", 7.0)),
             ("INSERT INTO t VALUES (?, ?, ?)", (-2 ** 63, "min", 8.0)),
             ("INSERT INTO t VALUES (?, ?, ?)", (object(), "o", 9.0))]
    for conn in (theirs, ours):
        conn.execute(SCHEMA[0])
    for sql, params in cases:
        assert _outcome(ours, sql, params) == _outcome(theirs, sql, params)
    for big in (2 ** 63, -2 ** 63 - 1):
        for conn in (theirs, ours):
            with pytest.raises(OverflowError):
                conn.execute("INSERT INTO t VALUES (?, 'big', NULL)", (big,))


def test_registered_adapter_applies_on_the_fast_path():
    turso_stream.register_adapter(datetime.date, lambda d: d.isoformat())
    ours = turso_stream.connect(":memory:")
    ours.execute("CREATE TABLE d(x)")
    ours.execute("INSERT INTO d VALUES (?)", (datetime.date(2024, 1, 2),))
    assert ours.execute("SELECT x, typeof(x) FROM d").fetchall() == [("2024-01-02", "text")]


def test_schema_change_recompiles_the_cached_insert():
    theirs, ours = _both()
    for conn in (theirs, ours):
        conn.execute("CREATE TABLE t(a, b)")
        conn.execute("INSERT INTO t VALUES (?, ?)", (1, 2))
        conn.execute("ALTER TABLE t ADD COLUMN c DEFAULT 9")
    for sql, params in [("INSERT INTO t VALUES (?, ?)", (3, 4)),
                        ("INSERT INTO t VALUES (?, ?, ?)", (5, 6, 7)),
                        ("SELECT * FROM t WHERE rowid = ?", (2,))]:
        assert _outcome(ours, sql, params) == _outcome(theirs, sql, params)


def test_select_description_and_rows_are_per_cursor():
    ours = turso_stream.connect(":memory:")
    ours.execute("CREATE TABLE t(a, b)")
    ours.execute("INSERT INTO t VALUES (1, 2)")
    first = ours.execute("SELECT a, b FROM t WHERE rowid = ?", (1,))
    second = ours.execute("SELECT a, b FROM t WHERE rowid = ?", (1,))
    assert first.description == (("a",) + (None,) * 6, ("b",) + (None,) * 6)
    assert first.description == second.description
    assert first.fetchall() == [(1, 2)] and second.fetchone() == (1, 2)
    assert first.fetchall() == [] and second.fetchall() == []


def test_guards_raise_in_sqlite3_order():
    ours = turso_stream.connect(":memory:")
    cur = ours.cursor()
    cur.close()
    with pytest.raises(turso_stream.ProgrammingError, match="closed cursor"):
        cur.execute("SELECT 1")
    errors = []

    def elsewhere():
        try:
            ours.execute("SELECT 1")
        except turso_stream.ProgrammingError as exc:
            errors.append(str(exc))
    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert errors and "same thread" in errors[0]
    ours.close()
    with pytest.raises(turso_stream.ProgrammingError, match="closed database"):
        ours.execute("SELECT 1")


def test_a_subclass_cursor_method_is_used_by_execute():
    made = []

    class MyCursor(turso_stream.Cursor):
        pass

    class MyConnection(turso_stream.Connection):
        def cursor(self, factory=None):
            cur = super().cursor(MyCursor)
            made.append(cur)
            return cur

    conn = turso_stream.connect(":memory:", factory=MyConnection)
    cur = conn.execute("SELECT 1")
    assert isinstance(cur, MyCursor) and made == [cur] and cur.fetchall() == [(1,)]


def test_now_is_one_instant_per_statement():
    ours = turso_stream.connect(":memory:")
    ours.execute("CREATE TABLE n(a, b)")
    for _ in range(3):
        ours.execute("INSERT INTO n VALUES (strftime('%f', 'now'), strftime('%f', 'now'))")
    assert all(a == b for a, b in ours.execute("SELECT a, b FROM n"))


def test_same_text_dml_and_query_stay_distinct_after_many_texts():
    """The DML-text, description and parsed-statement caches are bounded: well past
    their size, statements still report the right rowcount and rows."""
    ours = turso_stream.connect(":memory:", cached_statements=4)
    ours.execute("CREATE TABLE t(a)")
    for i in range(700):
        assert ours.execute(f"INSERT INTO t VALUES ({i})").rowcount == 1
        cur = ours.execute(f"SELECT a AS c{i % 600} FROM t WHERE rowid = ?", (i + 1,))
        assert cur.rowcount == -1 and cur.description[0][0] == f"c{i % 600}"
        assert cur.fetchall() == [(i,)]
    assert ours.total_changes == 700


def test_ddl_leaves_changes_as_they_were():
    """SQLite counts changes only for INSERT/UPDATE/DELETE: DDL keeps changes()."""
    stmts = ["CREATE TABLE t(a, b)", "INSERT INTO t VALUES (1, 2), (3, 4)",
             "CREATE INDEX i ON t(a)", "CREATE VIEW v AS SELECT * FROM t",
             "ALTER TABLE t ADD COLUMN c", "ALTER TABLE t RENAME COLUMN c TO d",
             "ALTER TABLE t DROP COLUMN d", "ALTER TABLE t RENAME TO u",
             "CREATE TABLE w AS SELECT * FROM u", "DROP VIEW v", "DROP INDEX i",
             "DROP TABLE w", "CREATE TRIGGER tr AFTER INSERT ON u BEGIN SELECT 1; END"]
    theirs, ours = _both()
    for sql in stmts:
        assert _outcome(ours, sql) == _outcome(theirs, sql), sql
