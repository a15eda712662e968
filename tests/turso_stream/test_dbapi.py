"""Differential tests: the same DB-API scenario against stdlib sqlite3 and turso_stream."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import turso_stream
from turso_stream import registry

MODULES = (sqlite3, turso_stream)


def both(scenario):
    """Run ``scenario(module)`` on both modules; return (sqlite3's, turso_stream's) results."""
    return tuple(scenario(m) for m in MODULES)


def same(scenario):
    expected, actual = both(scenario)
    assert actual == expected
    return actual


def outcome(fn):
    """What ``fn()`` did: ('ok', value) or ('err', class name, message)."""
    try:
        return ("ok", fn())
    except Exception as exc:  # noqa: BLE001 - recording the error is the point
        return ("err", type(exc).__name__, str(exc))


def typed(rows):
    return [tuple((type(v).__name__, v) for v in r) for r in rows]


# -- module attributes --------------------------------------------------------------------------


def test_module_attributes_match_sqlite3():
    for name in ("apilevel", "paramstyle", "threadsafety", "sqlite_version",
                 "sqlite_version_info", "version", "PARSE_DECLTYPES", "PARSE_COLNAMES",
                 "Binary", "Date", "Time", "Timestamp", "PrepareProtocol", "SQLITE_OK",
                 "SQLITE_DENY"):
        assert getattr(turso_stream, name) == getattr(sqlite3, name), name
    for name in ("Warning", "Error", "InterfaceError", "DatabaseError", "DataError",
                 "OperationalError", "IntegrityError", "InternalError", "ProgrammingError",
                 "NotSupportedError"):
        assert getattr(turso_stream, name) is getattr(sqlite3, name)
        assert getattr(turso_stream.Connection, name) is getattr(sqlite3, name)
    assert turso_stream.paramstyle == "qmark"
    assert turso_stream.DateFromTicks(0) == sqlite3.DateFromTicks(0)
    assert turso_stream.TimeFromTicks(3661) == sqlite3.TimeFromTicks(3661)
    assert turso_stream.TimestampFromTicks(86400) == sqlite3.TimestampFromTicks(86400)


@pytest.mark.parametrize("text", ["select 1;", "select 1", "select ';", "create trigger t "
                                  "after insert on x begin select 1; end;", "-- x\n;", ""])
def test_complete_statement_matches(text):
    assert turso_stream.complete_statement(text) == sqlite3.complete_statement(text)


# -- results, types, description ------------------------------------------------------------------

SETUP = """
create table t(a integer primary key, b text, c real, d blob, e);
insert into t(b, c, d, e) values ('x', 1.5, x'00ff', 10);
insert into t(b, c, d, e) values (NULL, 2, NULL, 'text');
insert into t(b, c, d, e) values ('it''s', -0.25, x'', 2.0);
"""

QUERIES = [
    ("select * from t order by a", ()),
    ("select a, b as name, c from t where a > ?", (1,)),
    ("select count(*) as n, sum(c) as s, max(b) as m from t", ()),
    ("select e, typeof(e) as ty from t order by a", ()),
    ("select b from t where b = :b", {"b": "x"}),
    ("select a from t where 0", ()),
    ("select d from t order by a desc", ()),
]


@pytest.mark.parametrize("sql,params", QUERIES)
def test_query_results_types_and_description(sql, params):
    def scenario(m):
        conn = m.connect(":memory:")
        conn.executescript(SETUP)
        cur = conn.execute(sql, params)
        return cur.description, cur.rowcount, typed(cur.fetchall())
    same(scenario)


@pytest.mark.parametrize("sql", ["select 1+1, (a), a+0 from t", "select ? from t"])
def test_expression_column_names(sql):
    def scenario(m):
        conn = m.connect(":memory:")
        conn.execute("create table t(a)")
        conn.execute("insert into t values (1)")
        cur = conn.execute(sql, (1,) if "?" in sql else ())
        return cur.description, cur.fetchall()
    same(scenario)


def test_rowcount_and_lastrowid_across_statement_kinds():
    def scenario(m):
        conn = m.connect(":memory:")
        cur = conn.cursor()
        log = [(cur.rowcount, cur.lastrowid, cur.description)]
        for sql, params in [
                ("create table t(a integer primary key, b)", ()),
                ("insert into t(b) values (?), (?)", (1, 2)),
                ("select * from t", ()),
                ("update t set b = b + 1", ()),
                ("update t set b = 0 where a > 100", ()),
                ("replace into t(a, b) values (1, 9)", ()),
                ("delete from t where a = 2", ()),
                ("  /* c */ -- x\n insert into t(b) values (5)", ()),
                ("insert into t(b) values (9) returning a, b", ()),
                ("select 1 as x", ()),
                ("drop table t", ())]:
            cur.execute(sql, params)
            log.append((sql, cur.rowcount, cur.lastrowid, cur.description))
        other = conn.cursor()
        log.append(("fresh cursor", other.lastrowid, other.rowcount))
        other.execute("select 2 as y")
        log.append(("other after select", other.lastrowid))
        return log
    same(scenario)


def test_returning_rowcount_appears_when_rows_are_exhausted():
    def scenario(m):
        conn = m.connect(":memory:")
        conn.execute("create table t(a integer primary key, b)")
        conn.executemany("insert into t(b) values (?)", [(i,) for i in range(3)])
        cur = conn.execute("delete from t where b >= 1 returning a")
        log = [cur.rowcount, cur.fetchone(), cur.rowcount, cur.fetchone(), cur.rowcount,
               cur.fetchone(), cur.rowcount]
        cur.execute("delete from t where b > 100 returning a")
        log += [cur.rowcount, cur.fetchall()]
        return log
    same(scenario)


def test_executemany_rowcount_sum_and_generators():
    def scenario(m):
        conn = m.connect(":memory:")
        cur = conn.cursor()
        cur.execute("create table t(a integer primary key, b)")
        cur.executemany("insert into t(b) values (?)", ((i,) for i in range(5)))
        log = [cur.rowcount, cur.lastrowid]
        cur.executemany("update t set b = -b where a <= ?", [(1,), (3,)])
        log.append(cur.rowcount)
        cur.executemany("delete from t where a = :a", [{"a": 5}, {"a": 99}])
        log.append(cur.rowcount)
        cur.executemany("insert into t(b) values (?)", [])
        log.append(cur.rowcount)
        log.append(conn.execute("select * from t").fetchall())
        return log
    same(scenario)


def test_fetchmany_arraysize_and_iteration():
    def scenario(m):
        conn = m.connect(":memory:")
        conn.execute("create table t(a)")
        conn.executemany("insert into t values (?)", [(i,) for i in range(7)])
        cur = conn.execute("select a from t order by a")
        log = [cur.arraysize, cur.fetchone(), cur.fetchmany(), cur.fetchmany(2)]
        cur.arraysize = 3
        log += [cur.fetchmany(), list(cur), cur.fetchone(), cur.fetchmany(), cur.fetchall()]
        cur.execute("select a from t where a < 2")
        log.append([r for r in cur])
        log.append(conn.cursor().fetchall())
        return log
    same(scenario)


# -- transactions -------------------------------------------------------------------------------


def _transaction_trace(m, isolation_level):
    conn = m.connect(":memory:", isolation_level=isolation_level)
    trace = []
    conn.set_trace_callback(trace.append)
    log = [conn.isolation_level, conn.in_transaction]
    conn.execute("create table t(a)")
    log.append(conn.in_transaction)
    conn.execute("select * from t")
    log.append(conn.in_transaction)
    conn.execute("insert into t values (1)")
    log.append(conn.in_transaction)
    conn.execute("update t set a = 2")
    log.append(conn.in_transaction)
    conn.rollback()
    log.append((conn.in_transaction, conn.execute("select * from t").fetchall()))
    conn.execute("insert into t values (3)")
    conn.commit()
    conn.commit()
    conn.rollback()
    log.append((conn.in_transaction, conn.total_changes))
    conn.execute("begin")
    conn.execute("insert into t values (4)")
    log.append(conn.in_transaction)
    conn.isolation_level = None
    log.append((conn.isolation_level, conn.in_transaction))
    conn.execute("delete from t where a = 3")
    log.append(conn.in_transaction)
    log.append(conn.execute("select * from t order by a").fetchall())
    return log, trace


@pytest.mark.parametrize("level", ["", "DEFERRED", "IMMEDIATE", "EXCLUSIVE", None])
def test_implicit_begin_and_transaction_transitions(level):
    same(lambda m: _transaction_trace(m, level))


def test_isolation_level_setter_normalizes_and_validates():
    def scenario(m):
        conn = m.connect(":memory:")
        log = []
        for value in ("deferred", "Immediate", "", None, "foo", 5):
            r = outcome(lambda: setattr(conn, "isolation_level", value))
            log.append((r, conn.isolation_level))
        return log
    same(scenario)


def test_executescript_commits_pending_transaction_first():
    def scenario(m):
        conn = m.connect(":memory:")
        conn.execute("create table t(a)")
        conn.execute("insert into t values (1)")
        log = [conn.in_transaction]
        conn.executescript("insert into t values (2); begin; insert into t values (3);")
        log.append(conn.in_transaction)
        conn.rollback()
        log.append(conn.execute("select a from t order by a").fetchall())
        return log
    same(scenario)


def test_with_connection_commits_or_rolls_back_and_stays_open():
    def scenario(m):
        conn = m.connect(":memory:")
        conn.execute("create table t(a unique)")
        with conn:
            conn.execute("insert into t values (1)")
        log = [conn.in_transaction]
        with pytest.raises(m.IntegrityError):
            with conn:
                conn.execute("insert into t values (2)")
                conn.execute("insert into t values (1)")
        log.append(conn.in_transaction)
        with pytest.raises(KeyError):
            with conn:
                conn.execute("insert into t values (5)")
                raise KeyError("boom")
        log.append(conn.execute("select a from t").fetchall())
        with conn as same_conn:
            log.append(same_conn is conn)
        return log
    assert same(scenario)[-2] == [(1,)]


def test_autocommit_true_emulates_python_312():
    conn = turso_stream.connect(":memory:", autocommit=True)
    conn.execute("create table t(a)")
    conn.execute("insert into t values (1)")
    assert not conn.in_transaction  # no implicit BEGIN
    conn.rollback()  # a no-op
    assert conn.execute("select count(*) from t").fetchone() == (1,)
    conn.execute("begin")
    conn.execute("insert into t values (2)")
    conn.commit()  # a no-op in autocommit mode: the transaction stays open
    assert conn.in_transaction
    conn.autocommit = False  # already in a transaction: nothing happens
    conn.autocommit = True   # commits
    assert not conn.in_transaction
    assert conn.execute("select count(*) from t").fetchone() == (2,)


def test_autocommit_false_is_always_in_a_transaction():
    conn = turso_stream.connect(":memory:", autocommit=False)
    assert conn.autocommit is False and conn.in_transaction
    conn.execute("create table t(a)")
    conn.execute("insert into t values (1)")
    conn.rollback()
    assert conn.in_transaction
    with pytest.raises(sqlite3.OperationalError, match="no such table: t"):
        conn.execute("select * from t")  # the CREATE was rolled back too
    conn.execute("create table u(a)")
    conn.execute("insert into u values (1)")
    conn.commit()
    assert conn.in_transaction
    conn.executescript("insert into u values (2)")  # no implicit COMMIT in this mode
    assert conn.in_transaction
    conn.rollback()
    assert conn.execute("select a from u").fetchall() == [(1,)]
    with pytest.raises(ValueError, match="autocommit must be True, False"):
        conn.autocommit = 2
    conn.autocommit = turso_stream.LEGACY_TRANSACTION_CONTROL
    assert conn.autocommit == -1


def test_autocommit_false_close_rolls_back(tmp_path):
    path = str(tmp_path / "a.db")
    conn = turso_stream.connect(path, autocommit=False)
    conn.execute("create table t(a)")
    conn.commit()
    conn.execute("insert into t values (1)")
    conn.close()
    conn = turso_stream.connect(path)
    assert conn.execute("select count(*) from t").fetchone() == (0,)
    conn.close()


# -- functions, aggregates, collations, trace ------------------------------------------------------


class _Sum:
    def __init__(self):
        self.total = 0

    def step(self, v):
        self.total += v

    def finalize(self):
        return self.total * 10


def test_user_functions():
    def scenario(m):
        conn = m.connect(":memory:")
        conn.create_function("twice", 1, lambda v: v * 2, deterministic=True)
        conn.create_function("nargs", -1, lambda *a: len(a))
        conn.execute("create table t(a, s)")
        conn.executemany("insert into t values (?, ?)", [(1, "a"), (2, "c"), (3, "b")])
        return [
            conn.execute("select twice(a) as x, nargs(a, a, 1) as n from t order by a").fetchall(),
        ]
    same(scenario)


def test_user_aggregate():
    def scenario(m):
        conn = m.connect(":memory:")
        conn.create_aggregate("tensum", 1, _Sum)
        conn.execute("create table t(a)")
        conn.executemany("insert into t values (?)", [(1,), (2,)])
        return conn.execute("select tensum(a) as s from t").fetchall()
    assert same(scenario) == [(30,)]


def test_user_collation():
    def scenario(m):
        conn = m.connect(":memory:")
        conn.create_collation("rev", lambda a, b: (a < b) - (a > b))
        conn.execute("create table t(s)")
        conn.executemany("insert into t values (?)", [("a",), ("c",), ("b",)])
        return conn.execute("select s from t order by s collate rev").fetchall()
    assert same(scenario) == [("c",), ("b",), ("a",)]


def test_trace_callback_sees_expanded_sql_and_survives_errors():
    def scenario(m):
        conn = m.connect(":memory:")
        seen = []
        conn.set_trace_callback(seen.append)
        conn.execute("create table t(a, b)")
        conn.execute("insert into t values (?, ?)", (1.5, "o'k"))
        conn.execute("select * from t where a = ? and b = ?", (None, b"\x01"))
        conn.commit()
        conn.set_trace_callback(lambda s: 1 / 0)
        conn.execute("select 1 as one")
        conn.set_trace_callback(None)
        conn.execute("select 2 as two")
        return seen
    same(scenario)


def test_trace_expands_named_parameters():
    def scenario(m):
        conn = m.connect(":memory:")
        seen = []
        conn.set_trace_callback(seen.append)
        conn.execute("select :b as b, :a as a, :b as c", {"a": 1, "b": "x"})
        return seen
    same(scenario)


# -- cursors and connections ----------------------------------------------------------------------


def test_cursor_factory_row_factory_and_connection_attribute():
    class MyCursor(turso_stream.Cursor):
        pass

    conn = turso_stream.connect(":memory:")
    cur = conn.cursor(MyCursor)
    assert isinstance(cur, MyCursor) and cur.connection is conn
    with pytest.raises(TypeError, match="factory must return a cursor"):
        conn.cursor(lambda c: object())
    conn.row_factory = lambda cursor, row: {d[0]: v for d, v in zip(cursor.description, row)}
    assert conn.execute("select 1 as x").fetchone() == {"x": 1}
    assert cur.execute("select 1 as x").fetchone() == (1,)  # row_factory copied at creation
    cur.setinputsizes([1])
    cur.setoutputsize(1)
    conn.row_factory = sqlite3.Row  # the stdlib's Row class works too
    row = conn.execute("select 7 as x").fetchone()
    assert row["X"] == 7 and row.keys() == ["x"]


def test_connection_subclass_factory():
    class MyConnection(turso_stream.Connection):
        marker = "mine"

    conn = turso_stream.connect(":memory:", factory=MyConnection)
    assert isinstance(conn, MyConnection) and conn.execute("select 1").fetchone() == (1,)


def test_check_same_thread_enforced_with_sqlite3_message():
    def scenario(m):
        conn = m.connect(":memory:")
        errors = []

        def use():
            r = outcome(lambda: conn.execute("select 1"))
            errors.append((r[0], r[1], r[2].split(" The object")[0]))
        t = threading.Thread(target=use)
        t.start()
        t.join()
        return errors
    same(scenario)
    conn = turso_stream.connect(":memory:", check_same_thread=False)
    out = []
    t = threading.Thread(target=lambda: out.append(conn.execute("select 5").fetchone()))
    t.start()
    t.join()
    assert out == [(5,)]


def test_memory_databases_are_private():
    a = turso_stream.connect(":memory:")
    b = turso_stream.connect(":memory:")
    a.execute("create table t(a)")
    with pytest.raises(sqlite3.OperationalError, match="no such table: t"):
        b.execute("select * from t")


def test_two_connections_to_one_file_share_commits(tmp_path):
    path = str(tmp_path / "shared.db")
    a = turso_stream.connect(path)
    b = turso_stream.connect(os.path.join(str(tmp_path), ".", "shared.db"))
    assert a._db is b._db and registry.open_count(path) == 2
    a.execute("create table t(a)")
    a.execute("insert into t values (1)")
    assert b.execute("select count(*) from t").fetchone() == (0,)  # not committed yet
    a.commit()
    assert b.execute("select count(*) from t").fetchone() == (1,)
    b.execute("insert into t values (2)")
    b.commit()
    assert a.execute("select a from t order by a").fetchall() == [(1,), (2,)]
    a.close()
    registry._check()
    assert registry.open_count(path) == 1 and not b._db.closed
    b.close()
    assert registry.open_count(path) == 0
    registry._check()
    # The file is an ordinary SQLite database once the last connection closes.
    plain = sqlite3.connect(path)
    assert plain.execute("select a from t order by a").fetchall() == [(1,), (2,)]
    plain.close()
    c = turso_stream.connect(path)
    assert c.execute("select count(*) from t").fetchone() == (2,)
    c.close()


def test_second_process_gets_clear_operational_error(tmp_path):
    path = str(tmp_path / "locked.db")
    conn = turso_stream.connect(path)
    conn.execute("create table t(a)")
    code = (
        "import sys, sqlite3, turso_stream\n"
        "try:\n"
        "    turso_stream.connect(sys.argv[1])\n"
        "except sqlite3.OperationalError as e:\n"
        "    print('OperationalError:', e)\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True,
                         cwd=root, timeout=60, env={**os.environ, "PYTHONPATH": root})
    assert out.stdout.startswith("OperationalError: database is locked"), out.stderr
    conn.close()


def test_uri_filenames(tmp_path):
    path = tmp_path / "u.db"
    conn = turso_stream.connect(f"file:{path}?mode=rwc", uri=True)
    conn.execute("create table t(a)")
    conn.close()
    assert turso_stream.connect(f"file:{path}?mode=rw", uri=True).execute(
        "select count(*) from t").fetchone() == (0,)
    with pytest.raises(sqlite3.OperationalError, match="unable to open database file"):
        turso_stream.connect(f"file:{tmp_path / 'missing.db'}?mode=rw", uri=True)
    with pytest.raises(sqlite3.OperationalError, match="no such access mode: bogus"):
        turso_stream.connect(f"file:{path}?mode=bogus", uri=True)
    with pytest.raises(sqlite3.OperationalError, match="unable to open database file"):
        turso_stream.connect(f"file:{tmp_path / 'missing.db'}?mode=ro", uri=True)
    a = turso_stream.connect("file:mem1?mode=memory&cache=shared", uri=True)
    b = turso_stream.connect("file:mem1?mode=memory&cache=shared", uri=True)
    c = turso_stream.connect("file:mem2?mode=memory", uri=True)
    a.execute("create table shared(x)")
    assert b.execute("select count(*) from shared").fetchone() == (0,)
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        c.execute("select * from shared")
    for conn in (a, b, c):
        conn.close()
    assert registry.open_count(str(path)) == 0


def test_close_is_idempotent_and_releases(tmp_path):
    conn = turso_stream.connect(str(tmp_path / "c.db"))
    conn.close()
    conn.close()
    assert registry.open_count(str(tmp_path / "c.db")) == 0


# -- backup, serialize ------------------------------------------------------------------------------


def _populated(m):
    conn = m.connect(":memory:")
    conn.executescript("""
        create table t(a integer primary key, b text, c);
        create table plain(x, y);
        create index t_b on t(b);
        create view v as select a, b from t where a > 1;
        insert into t values (1, 'one', 1.5), (5, 'five', x'0102'), (9, NULL, 'z');
        insert into plain values (1, 2), (3, 4);
        delete from plain where x = 1;
        insert into plain values (5, 6);
    """)
    return conn


def _contents(conn):
    return {
        "t": conn.execute("select rowid, * from t order by a").fetchall(),
        "plain": conn.execute("select rowid, * from plain order by rowid").fetchall(),
        "v": conn.execute("select * from v order by a").fetchall(),
        "dump": list(conn.iterdump()),
    }


@pytest.mark.parametrize("target_module", MODULES)
def test_backup_into_sqlite3_and_turso_stream(target_module):
    source = _populated(turso_stream)
    target = target_module.connect(":memory:")
    target.execute("create table junk(z)")
    calls = []
    source.backup(target, pages=1, progress=lambda *a: calls.append(a))
    assert _contents(target) == _contents(source) == _contents(_populated(sqlite3))
    assert calls[-1] == (0, 0, 5) and len(calls) == 5
    with pytest.raises(sqlite3.OperationalError, match="no such table: junk"):
        target.execute("select * from junk")


def test_backup_errors():
    source = _populated(turso_stream)
    with pytest.raises(TypeError):
        source.backup(object())
    with pytest.raises(ValueError, match="same connection"):
        source.backup(source)
    target = sqlite3.connect(":memory:")
    target.execute("create table x(a)")
    target.execute("insert into x values (1)")
    with pytest.raises(sqlite3.OperationalError, match="target is in transaction"):
        source.backup(target)


def test_serialize_deserialize_round_trip():
    source = _populated(turso_stream)
    image = source.serialize()
    plain = sqlite3.connect(":memory:")
    plain.deserialize(image)
    assert plain.execute("select * from t order by a").fetchall() == \
        source.execute("select * from t order by a").fetchall()
    fresh = turso_stream.connect(":memory:")
    fresh.deserialize(image)
    assert _contents(fresh) == _contents(source)


# -- properties -----------------------------------------------------------------------------------

values = st.one_of(
    st.none(), st.integers(-(1 << 63), (1 << 63) - 1),
    st.floats(allow_nan=False), st.text(max_size=8), st.binary(max_size=8))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(values, values), max_size=12), st.integers(0, 12))
def test_random_rows_round_trip_like_sqlite3(rows, cut):
    def scenario(m):
        conn = m.connect(":memory:")
        conn.execute("create table t(a, b)")
        cur = conn.executemany("insert into t values (?, ?)", rows)
        log = [cur.rowcount]
        cur = conn.execute("delete from t where rowid > ?", (cut,))
        log.append(cur.rowcount)
        conn.commit()
        log.append(typed(conn.execute("select rowid, a, b from t order by rowid").fetchall()))
        return log
    same(scenario)


_READ_ONLY_SCRIPT = [
    "BEGIN IMMEDIATE", "ROLLBACK", "BEGIN", "INSERT INTO t VALUES (2)", "SELECT * FROM t",
    "COMMIT", "PRAGMA query_only = 0", "INSERT INTO t VALUES (1)", "PRAGMA query_only",
    "DELETE FROM t WHERE 0", "UPDATE t SET a = a WHERE 0", "CREATE INDEX i ON t(a)",
    "VACUUM", "REINDEX", "ANALYZE", "PRAGMA user_version", "PRAGMA user_version = 3",
    "CREATE VIEW v AS SELECT 1", "DROP TABLE t", "ALTER TABLE t ADD COLUMN b",
    "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END", "SELECT count(*) FROM t",
]
_QUERY_ONLY_SCRIPT = [
    "PRAGMA query_only = 1", "PRAGMA query_only", "INSERT INTO t VALUES (1)",
    "BEGIN IMMEDIATE", "BEGIN", "SELECT count(*) FROM t", "PRAGMA query_only = off",
    "INSERT INTO t VALUES (5)", "PRAGMA query_only = on", "INSERT INTO t VALUES (6)", "COMMIT",
    "PRAGMA user_version = 3", "PRAGMA query_only = 0", "SELECT count(*) FROM t",
]


def _outcomes(conn, script):
    out = []
    for sql in script:
        try:
            out.append(conn.execute(sql).fetchall())
        except sqlite3.Error as exc:
            out.append((next(c.__name__ for c in type(exc).__mro__
                             if c.__module__ == "sqlite3"), str(exc)))
    return out


@pytest.mark.parametrize("how", ["uri mode=ro", "PRAGMA query_only"])
def test_read_only_connections_behave_as_sqlite3s(tmp_path, how):
    """A ``mode=ro`` connection and ``PRAGMA query_only`` refuse every writing
    statement at its start ("attempt to write a readonly database"), even one that
    would change no row; query_only refuses BEGIN IMMEDIATE too. Nothing changes."""
    results = []
    for module in (sqlite3, turso_stream):
        path = tmp_path / f"{module.__name__}.db"
        setup = module.connect(path)
        setup.execute("CREATE TABLE t(a)")
        setup.execute("INSERT INTO t VALUES (1)")
        setup.commit()
        setup.close()
        if how == "uri mode=ro":
            conn = module.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
            results.append(_outcomes(conn, _READ_ONLY_SCRIPT))
        else:
            conn = module.connect(path, isolation_level=None)
            results.append(_outcomes(conn, _QUERY_ONLY_SCRIPT))
        conn.close()
        check = sqlite3.connect(path)
        results[-1].append(check.execute("SELECT * FROM t ORDER BY a").fetchall())
        check.close()
    assert results[1] == results[0]


def test_read_only_connection_reads_a_writers_commits(tmp_path):
    path = tmp_path / "shared.db"
    writer = turso_stream.connect(path, isolation_level=None)
    writer.execute("CREATE TABLE t(a)")
    reader = turso_stream.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    got = []
    handle = reader.subscribe("SELECT count(*) FROM t", callback=got.append)
    writer.execute("INSERT INTO t VALUES (1)")
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (1,)
    for attempt in (lambda: reader.executemany("INSERT INTO t VALUES (?)", [(2,), (3,)]),
                    lambda: reader.execute("PRAGMA capture_data_changes_conn('full')")):
        with pytest.raises(sqlite3.OperationalError, match="readonly database"):
            attempt()
    handle.unsubscribe()
    assert writer.execute("SELECT count(*) FROM t").fetchone() == (1,)
    reader.close()
    writer.close()
