"""Materialized views end to end through the SQL session (engine.ivm.maintainer).

sqlite3 with the same statements and a plain ``CREATE VIEW`` is the oracle for
every row, column name and value type.
"""

from __future__ import annotations

import sqlite3
import threading

import pytest

import turso_stream
from engine.errors import OperationalError

SETUP = [
    "CREATE TABLE t(a INTEGER, b TEXT, c REAL)",
    "CREATE TABLE u(a INTEGER, d TEXT)",
    "INSERT INTO t VALUES (1,'x',2.0),(2,'y',0.5),(3,'x',3.0),(4,NULL,1.5)",
    "INSERT INTO u VALUES (1,'p'),(3,'q'),(3,'r'),(9,'s')",
]

VIEWS = {
    "filt": "SELECT a, b FROM t WHERE c > 1",
    "grp": "SELECT b, count(*), sum(a) AS s, avg(c), min(a), max(c), total(a) FROM t GROUP BY b",
    "jn": "SELECT t.a, u.d, t.c FROM t JOIN u ON t.a = u.a",
    "lj": "SELECT t.a, u.d FROM t LEFT JOIN u ON t.a = u.a",
    "expr": "SELECT a + 1, upper(b), a * c FROM t",
    "agg": "SELECT count(*), sum(c) FROM t",
    "dst": "SELECT DISTINCT b FROM t",
}

DML = [
    "INSERT INTO t VALUES (5,'y',9.0)",
    "UPDATE t SET c = c * 2 WHERE a <= 2",
    "DELETE FROM t WHERE a = 3",
    "INSERT INTO u VALUES (5,'z'),(2,'w')",
    "UPDATE t SET b = 'x' WHERE b IS NULL",
    "DELETE FROM u WHERE d = 'p'",
    "UPDATE t SET a = a + 10",
]


def _pair():
    ours = turso_stream.connect(":memory:", isolation_level=None)
    oracle = sqlite3.connect(":memory:", isolation_level=None)
    for sql in SETUP:
        ours.execute(sql)
        oracle.execute(sql)
    return ours, oracle


def _rows(conn, sql, params=()):
    return sorted(conn.execute(sql, params).fetchall(), key=repr)


def _typed(rows):
    return [tuple((type(v).__name__, v) for v in r) for r in rows]


def _check(conn):
    maintainer = conn._session.views
    maintainer._check()


def test_views_follow_dml_like_sqlite_plain_views():
    ours, oracle = _pair()
    for name, q in VIEWS.items():
        ours.execute(f"CREATE MATERIALIZED VIEW {name} AS {q}")
        oracle.execute(f"CREATE VIEW {name} AS {q}")
    for step in [None] + DML:
        if step:
            ours.execute(step)
            oracle.execute(step)
        for name in VIEWS:
            assert _typed(_rows(ours, f"SELECT * FROM {name}")) == \
                _typed(_rows(oracle, f"SELECT * FROM {name}")), (step, name)
        _check(ours)


def test_column_names_and_table_info_match_sqlite():
    ours, oracle = _pair()
    q = "SELECT upper(b), b AS bb, count(*), sum(a)+1, sum(a) s FROM t GROUP BY b"
    ours.execute(f"CREATE MATERIALIZED VIEW v AS {q}")
    oracle.execute(f"CREATE VIEW v AS {q}")
    ours.execute("CREATE MATERIALIZED VIEW w(p, q) AS SELECT a, b FROM t")
    oracle.execute("CREATE VIEW w(p, q) AS SELECT a, b FROM t")
    for name in ("v", "w"):
        cur_o, cur_s = ours.execute(f"SELECT * FROM {name}"), oracle.execute(f"SELECT * FROM {name}")
        assert [d[0] for d in cur_o.description] == [d[0] for d in cur_s.description]
        info = [r[1] for r in ours.execute(f"PRAGMA table_info({name})")]
        assert info == [r[1] for r in oracle.execute(f"PRAGMA table_info({name})")]


def test_group_key_lookup_is_an_index_search():
    ours, _ = _pair()
    ours.execute("CREATE MATERIALIZED VIEW g AS SELECT b, count(*) n FROM t GROUP BY b")
    plan = [r[3] for r in ours.execute("EXPLAIN QUERY PLAN SELECT n FROM g WHERE b = ?", ("x",))]
    assert any(p.startswith("SEARCH g USING INDEX") for p in plan), plan
    assert ours.execute("SELECT n FROM g WHERE b = ?", ("x",)).fetchall() == [(2,)]
    ours.execute("INSERT INTO t VALUES (7,'x',0)")
    assert ours.execute("SELECT n FROM g WHERE b = ?", ("x",)).fetchall() == [(3,)]


def test_read_your_own_writes_and_rollback():
    ours, _ = _pair()
    ours.execute("CREATE MATERIALIZED VIEW g AS SELECT b, count(*) n FROM t GROUP BY b")
    before = _rows(ours, "SELECT * FROM g")
    ours.execute("BEGIN")
    ours.execute("INSERT INTO t VALUES (8,'new',1)")
    assert ("new", 1) in _rows(ours, "SELECT * FROM g")
    plan = [r[3] for r in ours.execute("EXPLAIN QUERY PLAN SELECT * FROM g")]
    assert any("t" in p.split() for p in plan), plan  # evaluated over t, not the store
    ours.execute("ROLLBACK")
    assert _rows(ours, "SELECT * FROM g") == before
    plan = [r[3] for r in ours.execute("EXPLAIN QUERY PLAN SELECT * FROM g")]
    assert plan == ["SCAN g"]
    _check(ours)


def test_failed_statement_leaves_views_unchanged():
    ours, _ = _pair()
    ours.execute("CREATE TABLE k(id INTEGER PRIMARY KEY, v TEXT UNIQUE)")
    ours.execute("CREATE MATERIALIZED VIEW kv AS SELECT v, count(*) FROM k GROUP BY v")
    ours.execute("INSERT INTO k VALUES (1, 'a')")
    with pytest.raises(sqlite3.IntegrityError):
        ours.execute("INSERT INTO k VALUES (2, 'b'), (3, 'c'), (4, 'a')")
    assert _rows(ours, "SELECT * FROM kv") == [("a", 1)]
    ours.execute("BEGIN")
    ours.execute("INSERT INTO k VALUES (5, 'e')")
    with pytest.raises(sqlite3.IntegrityError):
        ours.execute("INSERT INTO k VALUES (6, 'f'), (7, 'a')")
    ours.execute("COMMIT")
    assert _rows(ours, "SELECT * FROM kv") == [("a", 1), ("e", 1)]
    _check(ours)


def test_begin_concurrent_writers_apply_in_commit_order():
    ours, _ = _pair()
    ours.execute("CREATE MATERIALIZED VIEW g AS SELECT b, count(*), sum(a) FROM t GROUP BY b")
    db = ours._session.db
    from engine.sql.session import Session
    s1, s2 = Session(db), Session(db)
    s1.execute("BEGIN CONCURRENT")
    s2.execute("BEGIN CONCURRENT")
    s1.execute("INSERT INTO t VALUES (100,'x',1)")
    s2.execute("INSERT INTO t VALUES (200,'y',1)")
    s2.execute("COMMIT")
    s1.execute("COMMIT")
    assert _rows(ours, "SELECT * FROM g") == _rows(ours, "SELECT b, count(*), sum(a) FROM t GROUP BY b")
    _check(ours)


def test_views_over_views_three_levels():
    ours, oracle = _pair()
    chain = [("v1", "SELECT a, b, c FROM t WHERE c > 0.6"),
             ("v2", "SELECT b, count(*) AS n, sum(a) AS s FROM v1 GROUP BY b"),
             ("v3", "SELECT v2.b, v2.n, u.d FROM v2 JOIN u ON v2.s = u.a")]
    for name, q in chain:
        ours.execute(f"CREATE MATERIALIZED VIEW {name} AS {q}")
        oracle.execute(f"CREATE VIEW {name} AS {q}")
    for step in DML + ["INSERT INTO u VALUES (14,'deep'),(33,'deeper')"]:
        ours.execute(step)
        oracle.execute(step)
        for name, _q in chain:
            assert _rows(ours, f"SELECT * FROM {name}") == _rows(oracle, f"SELECT * FROM {name}"), \
                (step, name)
    _check(ours)


def test_drop_view_and_drop_table_it_reads():
    ours, oracle = _pair()
    for conn, kw in ((ours, "MATERIALIZED VIEW"), (oracle, "VIEW")):
        conn.execute(f"CREATE {kw} v AS SELECT a FROM t")
        conn.execute("DROP TABLE t")
        with pytest.raises(sqlite3.OperationalError, match="no such table: (main.)?t"):
            conn.execute("SELECT * FROM v")
        conn.execute("CREATE TABLE t(a)")
        conn.execute("INSERT INTO t VALUES (42)")
        assert conn.execute("SELECT * FROM v").fetchall() == [(42,)]
        conn.execute("DROP VIEW v")
        with pytest.raises(sqlite3.OperationalError, match="no such table: v"):
            conn.execute("SELECT * FROM v")
        conn.execute("DROP VIEW IF EXISTS v")
    assert "\x00view:v" not in ours._session.db.tables
    _check(ours)


@pytest.mark.parametrize("query, message", [
    ("SELECT a, random() FROM t", "random"),
    ("SELECT * FROM nope", "no such table: nope"),
    # which row stands for a NOCASE group is arbitrary: refused, never approximated
    ("SELECT DISTINCT b COLLATE NOCASE FROM t", "not supported"),
])
def test_create_errors_change_nothing(query, message):
    ours, _ = _pair()
    before = ours.execute("SELECT * FROM sqlite_schema").fetchall()
    with pytest.raises(sqlite3.Error, match=message):
        ours.execute(f"CREATE MATERIALIZED VIEW bad AS {query}")
    assert ours.execute("SELECT * FROM sqlite_schema").fetchall() == before
    assert not ours._session.views.views


def test_maintenance_error_marks_the_view_failed_not_the_commit():
    ours, oracle = _pair()
    ours.execute("CREATE TABLE big(x INTEGER)")
    ours.execute("CREATE MATERIALIZED VIEW s AS SELECT sum(x) FROM big")
    ours.execute("CREATE MATERIALIZED VIEW s2 AS SELECT * FROM s")
    ours.execute("INSERT INTO big VALUES (9223372036854775807)")
    ours.execute("INSERT INTO big VALUES (1)")  # SUM overflows: the commit stands
    assert ours.execute("SELECT count(*) FROM big").fetchall() == [(2,)]
    for name in ("s", "s2"):
        with pytest.raises(sqlite3.OperationalError, match=f"materialized view {name} .*"):
            ours.execute(f"SELECT * FROM {name}")
    with pytest.raises(sqlite3.OperationalError, match="integer overflow"):
        ours.execute("SELECT * FROM s")
    ours.execute("INSERT INTO big VALUES (2)")  # later commits still work
    ours.execute("DROP VIEW s2")
    ours.execute("DROP VIEW s")
    assert ours.execute("SELECT name FROM sqlite_schema WHERE type='view'").fetchall() == []


def test_writes_to_a_view_are_refused():
    ours, _ = _pair()
    ours.execute("CREATE MATERIALIZED VIEW v AS SELECT a FROM t")
    for sql in ("INSERT INTO v VALUES (1)", "UPDATE v SET a = 1", "DELETE FROM v"):
        with pytest.raises(sqlite3.OperationalError, match="cannot modify v because it is a view"):
            ours.execute(sql)


def test_update_to_equal_value_of_other_type_reaches_the_view():
    ours, oracle = _pair()
    for conn, kw in ((ours, "MATERIALIZED VIEW"), (oracle, "VIEW")):
        conn.execute("CREATE TABLE z(k INTEGER PRIMARY KEY, v)")
        conn.execute("INSERT INTO z VALUES (1, 1)")
        conn.execute(f"CREATE {kw} zv AS SELECT v, typeof(v) FROM z")
        conn.execute("UPDATE z SET v = 1.0")
        conn.execute("UPDATE z SET k = k")  # an identical rewrite
    assert _typed(_rows(ours, "SELECT * FROM zv")) == _typed(_rows(oracle, "SELECT * FROM zv"))
    assert _rows(ours, "SELECT * FROM zv") == [(1.0, "real")]


def test_snapshot_reader_in_another_thread_never_sees_views_out_of_step():
    ours, _ = _pair()
    ours.execute("CREATE MATERIALIZED VIEW n AS SELECT count(*) c, sum(a) s FROM t")
    db = ours._session.db
    from engine.sql.session import Session
    reader = Session(db)
    reader.execute("BEGIN")
    first = reader.execute("SELECT * FROM n").rows
    stop = threading.Event()
    errors = []

    def write():
        w = Session(db)
        for i in range(200):
            w.execute("INSERT INTO t VALUES (?, 'w', 1)", (i,))
        stop.set()

    def check():
        r = Session(db)
        while not stop.is_set():
            r.execute("BEGIN")
            view = r.execute("SELECT * FROM n").rows
            base = r.execute("SELECT count(*), sum(a) FROM t").rows
            r.execute("COMMIT")
            if view != base:
                errors.append((view, base))

    threads = [threading.Thread(target=write), threading.Thread(target=check)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert reader.execute("SELECT * FROM n").rows == first  # its snapshot's version
    reader.execute("COMMIT")
    assert reader.execute("SELECT c FROM n").rows == [(4 + 200,)]
    _check(ours)


@pytest.mark.parametrize("view", [
    "SELECT a, b FROM big WHERE a % 7 = 0",
    "SELECT b, count(*), sum(a) FROM big GROUP BY b",
    "SELECT big.a, dim.name FROM big JOIN dim ON big.b = dim.id",
])
def test_one_row_commit_does_work_proportional_to_the_change(view):
    conn = turso_stream.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE big(a INTEGER, b INTEGER)")
    conn.execute("CREATE TABLE dim(id INTEGER PRIMARY KEY, name TEXT)")
    conn.executemany("INSERT INTO big VALUES (?, ?)", [(i, i % 100) for i in range(10_000)])
    conn.executemany("INSERT INTO dim VALUES (?, ?)", [(i, f"n{i}") for i in range(100)])
    conn.execute(f"CREATE MATERIALIZED VIEW v AS {view}")
    compiled = conn._session.views.views["v"].compiled
    compiled.work.reset()
    conn.execute("INSERT INTO big VALUES (70007, 7)")
    work = compiled.work.snapshot()
    assert work["rows"] < 50 and work["scans"] == 0, work
    assert conn.execute("SELECT count(*) FROM v").fetchall() == \
        conn.execute(f"SELECT count(*) FROM ({view})").fetchall()


def test_population_reports_progress():
    conn = turso_stream.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE big(a INTEGER)")
    conn.executemany("INSERT INTO big VALUES (?)", [(i,) for i in range(50_000)])
    seen = []
    conn._session.views.progress = lambda name, done, total: seen.append((name, done, total))
    conn.execute("CREATE MATERIALIZED VIEW v AS SELECT a FROM big WHERE a % 2 = 0")
    assert seen[-1] == ("v", 50_000, 50_000)
    assert len(seen) >= 2 and all(a[1] < b[1] for a, b in zip(seen, seen[1:]))
    assert conn.execute("SELECT count(*) FROM v").fetchall() == [(25_000,)]


def test_view_created_in_a_transaction_reads_its_select_until_commit():
    ours, _ = _pair()
    ours.execute("BEGIN")
    ours.execute("CREATE MATERIALIZED VIEW v AS SELECT count(*) FROM t")
    ours.execute("INSERT INTO t VALUES (10,'q',1)")
    assert ours.execute("SELECT * FROM v").fetchall() == [(5,)]
    ours.execute("COMMIT")
    assert ours.execute("SELECT * FROM v").fetchall() == [(5,)]
    ours.execute("INSERT INTO t VALUES (11,'q',1)")
    assert ours.execute("SELECT * FROM v").fetchall() == [(6,)]
    _check(ours)
