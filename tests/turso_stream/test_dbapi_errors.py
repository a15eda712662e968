"""Bad input: each error has sqlite3's class and message, and leaves the data unchanged."""

from __future__ import annotations

import sqlite3

import pytest

import turso_stream

MODULES = (sqlite3, turso_stream)


def outcome(fn):
    try:
        return ("ok", fn())
    except Exception as exc:  # noqa: BLE001 - recording the error is the point
        return ("err", type(exc).__name__, str(exc))


def fresh(m):
    conn = m.connect(":memory:")
    conn.executescript("""
        create table t(a integer primary key, b text not null, c unique, check (a < 1000));
        insert into t values (1, 'x', 10);
        insert into t values (2, 'y', 20);
    """)
    return conn


def contents(conn):
    return conn.execute("select * from t order by a").fetchall()


def compare(action, *, in_transaction=False):
    """Run ``action(conn)`` on both modules after setup; compare the outcome and the data
    left behind (also after a rollback when ``in_transaction``)."""
    results = []
    for m in MODULES:
        conn = fresh(m)
        if in_transaction:
            conn.execute("insert into t values (3, 'z', 30)")
        r = outcome(lambda: action(conn))
        after = [contents(conn), conn.in_transaction]
        conn.rollback()
        after.append(contents(conn))
        results.append((r, after))
    assert results[1] == results[0]
    return results[1]


BAD_SQL = [
    "select * FORM t",
    "selct * from t",
    "select * from",
    "insert into t values (",
    "select 'abc",
    "select * from nosuch",
    "select nosuch from t",
    "insert into t(a, b) values (1)",
    "select * from t where a = = 1",
    "update t set b = 'q' where",
    "create table t(a)",
    "drop table nosuch",
]


@pytest.mark.parametrize("sql", BAD_SQL)
@pytest.mark.parametrize("in_transaction", [False, True])
def test_malformed_or_invalid_sql(sql, in_transaction):
    r = compare(lambda conn: conn.execute(sql), in_transaction=in_transaction)
    assert r[0][0] == "err"


def test_syntax_error_message_shape():
    r = compare(lambda conn: conn.execute("select * FORM t"))
    assert r[0] == ("err", "OperationalError", 'near "FORM": syntax error')


BINDINGS = [
    ("select * from t where a = ?", ()),
    ("select * from t where a = ?", (1, 2)),
    ("select * from t where a = ? and b = ?", [1]),
    ("select * from t where a = :a", {"b": 1}),
    ("select * from t where a = ?", {"a": 1}),
    ("select * from t where a = :a", (1,)),
    ("select * from t where a = ?", 5),
    ("select * from t where a = ?", None),
    ("select * from t where a = ?", "1"),
    ("select * from t where a = ?", (object(),)),
    ("select * from t where a = ?", ([1],)),
    ("select * from t where a = ?", (1 << 70,)),
    ("insert into t values (?, ?, ?)", (5, "ok", 50)),
    ("insert into t values (:a, :b, :c)", {"a": 6, "b": "ok"}),
]


@pytest.mark.parametrize("sql,params", BINDINGS)
def test_wrong_parameter_count_names_and_types(sql, params):
    compare(lambda conn: conn.execute(sql, params).fetchall())


CONSTRAINTS = [
    "insert into t values (1, 'dup', 99)",
    "insert into t values (7, NULL, 70)",
    "insert into t values (8, 'c', 10)",
    "insert into t values (5000, 'big', 1)",
    "update t set c = 10 where a = 2",
    "update t set b = NULL",
    "insert into t values (9, 'ok', 90), (10, 'dup', 10)",
]


@pytest.mark.parametrize("sql", CONSTRAINTS)
@pytest.mark.parametrize("in_transaction", [False, True])
def test_constraint_violations_are_integrity_errors(sql, in_transaction):
    r = compare(lambda conn: conn.execute(sql), in_transaction=in_transaction)
    assert r[0][:2] == ("err", "IntegrityError")


def test_executemany_stops_at_first_failure_keeping_earlier_rows_in_txn():
    def action(conn):
        conn.executemany("insert into t values (?, 'm', ?)", [(11, 110), (12, 10), (13, 130)])
    compare(action)


def test_two_statements_in_execute():
    for sql in ("select 1; select 2", "insert into t values (4, 'q', 40); select 1",
                "select 1; -- fine\n"):
        compare(lambda conn: conn.execute(sql).fetchall())


def test_executemany_rejects_queries():
    for sql in ("select * from t where a = ?", "values (?)",
                "with x as (select ?) select * from x"):
        r = compare(lambda conn: conn.executemany(sql, [(1,)]))
        assert r[0] == ("err", "ProgrammingError",
                        "executemany() can only execute DML statements.")


def test_user_function_that_raises():
    def action(conn):
        conn.create_function("boom", 1, lambda v: 1 / 0)
        return conn.execute("select boom(a) from t").fetchall()
    r = compare(action)
    assert r[0] == ("err", "OperationalError", "user-defined function raised exception")


def test_user_function_raising_inside_a_write_changes_nothing():
    def action(conn):
        conn.create_function("boom", 1, lambda v: 1 / 0 if v == 2 else v)
        conn.execute("update t set c = boom(a)")
    compare(action)
    compare(action, in_transaction=True)


def test_user_function_returning_unsupported_type():
    def action(conn):
        conn.create_function("bad", 0, lambda: object())
        return conn.execute("select bad()").fetchall()
    compare(action)


def test_closed_connection():
    for m in MODULES:
        conn = fresh(m)
        cur = conn.execute("select * from t")
        conn.close()
        for use in (lambda: conn.execute("select 1"), lambda: conn.cursor(),
                    lambda: conn.commit(), lambda: conn.rollback(), lambda: cur.fetchall(),
                    lambda: cur.fetchone(), lambda: conn.in_transaction,
                    lambda: conn.total_changes, lambda: conn.executescript("select 1"),
                    lambda: conn.create_function("f", 0, lambda: 1), lambda: conn.__enter__()):
            assert outcome(use) == ("err", "ProgrammingError",
                                    "Cannot operate on a closed database."), m
        conn.close()  # idempotent


def test_closed_cursor():
    results = []
    for m in MODULES:
        conn = fresh(m)
        cur = conn.execute("select * from t")
        cur.close()
        results.append([outcome(f) for f in (
            lambda: cur.execute("select 1"), lambda: cur.fetchone(), lambda: cur.fetchall(),
            lambda: cur.fetchmany(), lambda: cur.executemany("insert into t values (?)", []),
            lambda: cur.executescript("select 1"), lambda: next(iter(cur)))])
        assert conn.execute("select count(*) from t").fetchone() == (2,)
    assert results[1] == results[0]
    assert results[1][0] == ("err", "ProgrammingError", "Cannot operate on a closed cursor.")


def test_non_string_sql_is_type_error():
    for m in MODULES:
        conn = fresh(m)
        with pytest.raises(TypeError):
            conn.execute(5)
        with pytest.raises(TypeError):
            conn.executescript(b"select 1")
        with pytest.raises(ValueError):
            conn.executescript("select 1;\x00select 2")


def test_executescript_stops_at_first_error_keeping_earlier_statements():
    def action(conn):
        conn.executescript("insert into t values (5, 'a', 50); insert into t values (1, 'b', 1);"
                           " insert into t values (6, 'c', 60);")
    r = compare(action)
    assert r[0][:2] == ("err", "IntegrityError") and (5, "a", 50) in r[1][0]


def test_commit_and_rollback_statement_errors():
    compare(lambda conn: conn.execute("commit"))
    compare(lambda conn: conn.execute("rollback"))
    compare(lambda conn: (conn.execute("begin"), conn.execute("begin")))


@pytest.mark.parametrize("call", [
    lambda c: c.set_authorizer(lambda *a: 0),
    lambda c: c.set_progress_handler(lambda: 0, 10),
    lambda c: c.blobopen("t", "b", 1),
    lambda c: c.interrupt(),
    lambda c: c.getlimit(0),
    lambda c: c.setlimit(0, 1),
    lambda c: c.backup(turso_stream.connect(":memory:"), name="temp"),
])
def test_unsupported_features_say_what(call):
    conn = fresh(turso_stream)
    with pytest.raises(sqlite3.NotSupportedError, match="not supported by turso_stream: "):
        call(conn)
    assert contents(conn) == [(1, "x", 10), (2, "y", 20)]


def test_clearing_hooks_is_accepted():
    conn = fresh(turso_stream)
    conn.set_authorizer(None)
    conn.set_progress_handler(None, 100)
    conn.set_trace_callback(None)
    assert contents(conn) == [(1, "x", 10), (2, "y", 20)]


def test_narg_validation():
    conn = fresh(turso_stream)
    with pytest.raises(sqlite3.ProgrammingError):
        conn.create_function("f", 200, lambda: 1)


def test_unopenable_path_is_sqlite3s_operational_error(tmp_path):
    import sqlite3 as std
    import turso_stream
    path = str(tmp_path / "missing-dir" / "x.db")
    for module in (std, turso_stream):
        with pytest.raises(module.OperationalError, match="unable to open database file"):
            module.connect(path)


def test_rowcount_is_minus_one_after_a_failed_statement():
    """sqlite3 leaves a cursor whose execute()/executemany() raised at rowcount -1."""
    for module in (sqlite3, turso_stream):
        conn = module.connect(":memory:")
        conn.execute("CREATE TABLE t(a UNIQUE)")
        conn.execute("INSERT INTO t VALUES (1)")
        cur = conn.cursor()
        cur.execute("UPDATE t SET a = 2")
        assert cur.rowcount == 1
        with pytest.raises(module.IntegrityError):
            cur.execute("INSERT INTO t VALUES (2)")
        assert cur.rowcount == -1, module.__name__
        cur.execute("UPDATE t SET a = 3")
        with pytest.raises(module.IntegrityError):
            cur.executemany("INSERT INTO t VALUES (?)", [(5,), (3,)])
        assert cur.rowcount == -1, module.__name__
