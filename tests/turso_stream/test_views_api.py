"""Materialized views through the DB-API: iterdump, backup, the shell, types."""

from __future__ import annotations

import io
import sqlite3

import turso_stream
from turso_stream.shell.core import Shell


def _conn():
    conn = turso_stream.connect(":memory:")
    conn.executescript("""
        CREATE TABLE t(a INTEGER, b TEXT, c REAL);
        INSERT INTO t VALUES (1,'x',1.5),(2,'y',2.5),(3,'x',NULL);
        CREATE MATERIALIZED VIEW g AS
            SELECT b, sum(a), avg(a), total(c), count(c), max(c) FROM t GROUP BY b;
        CREATE MATERIALIZED VIEW g2 AS SELECT b FROM g WHERE "sum(a)" > 2;
    """)
    conn.commit()
    return conn


def test_value_types_are_sqlite3s():
    conn = _conn()
    oracle = sqlite3.connect(":memory:")
    oracle.executescript("""
        CREATE TABLE t(a INTEGER, b TEXT, c REAL);
        INSERT INTO t VALUES (1,'x',1.5),(2,'y',2.5),(3,'x',NULL);
        CREATE VIEW g AS SELECT b, sum(a), avg(a), total(c), count(c), max(c) FROM t GROUP BY b;
    """)
    ours = sorted(conn.execute("SELECT * FROM g").fetchall())
    theirs = sorted(oracle.execute("SELECT * FROM g").fetchall())
    assert ours == theirs
    assert [[type(v) for v in r] for r in ours] == [[type(v) for v in r] for r in theirs]


def test_iterdump_recreates_views_after_their_tables():
    conn = _conn()
    lines = list(conn.iterdump())
    creates = [i for i, line in enumerate(lines) if line.startswith("CREATE")]
    assert lines[creates[-2]].startswith("CREATE MATERIALIZED VIEW g AS")
    assert lines[creates[-1]].startswith("CREATE MATERIALIZED VIEW g2 AS")
    assert max(i for i, line in enumerate(lines) if line.startswith("INSERT")) < creates[-2]
    copy = turso_stream.connect(":memory:")
    copy.executescript("\n".join(lines))
    assert sorted(copy.execute("SELECT * FROM g2").fetchall()) == [("x",)]
    copy.execute("INSERT INTO t VALUES (5,'y',0)")
    assert sorted(copy.execute("SELECT * FROM g2").fetchall()) == [("x",), ("y",)]


def test_backup_into_sqlite3_writes_plain_views():
    conn = _conn()
    target = sqlite3.connect(":memory:")
    conn.backup(target)
    assert sorted(target.execute("SELECT * FROM g2").fetchall()) == [("x",)]
    sql = target.execute("SELECT sql FROM sqlite_schema WHERE name = 'g'").fetchone()[0]
    assert sql.startswith("CREATE VIEW g AS")


def test_shell_schema_and_population_progress():
    out, err = io.StringIO(), io.StringIO()
    shell = Shell(":memory:", stdout=out, stderr=err)
    shell.interactive = True
    shell.conn.execute("CREATE TABLE big(a INTEGER)")
    shell.conn.executemany("INSERT INTO big VALUES (?)", [(i,) for i in range(45_000)])
    shell.run_sql("CREATE MATERIALIZED VIEW m AS SELECT a FROM big WHERE a > 10;", 1, False)
    assert "Populating m: 44%" in err.getvalue()
    shell.meta(".schema m")
    assert "CREATE MATERIALIZED VIEW m AS SELECT a FROM big WHERE a > 10\n/* m(a) */;" in out.getvalue()
    assert shell.conn.execute("SELECT count(*) FROM m").fetchall() == [(44_989,)]
    shell.close()


def test_compound_joined_as_a_from_item_takes_its_first_arms_affinities():
    """A compound SQLite materializes (joined to another item) stores its rows with
    its first arm's column affinities; a lone one only reads integers as REAL. The
    view holds sqlite3's plain-view rows, typed, before and after an insert."""
    setup = """
        CREATE TABLE t(a INTEGER, b TEXT, r REAL);
        CREATE TABLE one(z);
        INSERT INTO t VALUES (5, '7', 1.5);
        INSERT INTO one VALUES (1);
    """
    views = {
        "j": "SELECT typeof(c0) AS ty, c0 FROM (SELECT a AS c0 FROM t UNION ALL "
             "SELECT b FROM t) AS q, one",
        "k": "SELECT typeof(c0) AS ty, c0 FROM one JOIN (SELECT b AS c0 FROM t UNION "
             "SELECT a FROM t) AS q ON 1",
        "lone": "SELECT typeof(c0) AS ty, c0 FROM (SELECT a AS c0 FROM t UNION ALL "
                "SELECT b FROM t) AS q",
        "real": "SELECT typeof(c0) AS ty, c0 FROM (SELECT r AS c0 FROM t UNION ALL "
                "SELECT a FROM t) AS q CROSS JOIN one",
    }
    conn, oracle = turso_stream.connect(":memory:"), sqlite3.connect(":memory:")
    conn.executescript(setup)
    oracle.executescript(setup)
    for name, sql in views.items():
        conn.execute(f"CREATE MATERIALIZED VIEW {name} AS {sql}")
        oracle.execute(f"CREATE VIEW {name} AS {sql}")
    for step in ("INSERT INTO t VALUES ('8', 9, 2.0)", None):
        for name in views:
            ours = sorted(conn.execute(f"SELECT * FROM {name}").fetchall(), key=repr)
            theirs = sorted(oracle.execute(f"SELECT * FROM {name}").fetchall(), key=repr)
            assert ours == theirs, name
        if step:
            conn.execute(step)
            conn.commit()
            oracle.execute(step)
    assert ("integer", 7) in conn.execute("SELECT * FROM j").fetchall()


def test_plain_view_over_a_compound_inside_a_materialized_view():
    """A plain view over a compound, read by a materialized view, behaves as in a
    query: its column compares with the first arm's affinity and, joined, its rows
    take that affinity."""
    setup = """
        CREATE TABLE t1(a INTEGER); CREATE TABLE t2(b TEXT);
        INSERT INTO t1 VALUES (1); INSERT INTO t2 VALUES ('5'), ('1');
        CREATE VIEW u AS SELECT a AS c FROM t1 UNION SELECT b FROM t2;
    """
    queries = ["SELECT * FROM u WHERE c = 5", "SELECT * FROM u JOIN t1 ON u.c = t1.a",
               "SELECT typeof(c), c FROM u, t1"]
    for i, sql in enumerate(queries):
        conn, oracle = turso_stream.connect(":memory:"), sqlite3.connect(":memory:")
        conn.executescript(setup)
        oracle.executescript(setup)
        conn.execute(f"CREATE MATERIALIZED VIEW m{i} AS {sql}")
        theirs = sorted(oracle.execute(sql).fetchall(), key=repr)
        assert sorted(conn.execute(f"SELECT * FROM m{i}").fetchall(), key=repr) == theirs, sql
        assert sorted(conn.execute(sql).fetchall(), key=repr) == theirs, sql


def _view_beside_mirror(create: str, query: str, statements):
    """A materialized view of ``query`` and an sqlite3 mirror fed the same
    ``statements``; after each, yields ``(sqlite3's rows, our query's rows, the
    view's rows)``."""
    conn = turso_stream.connect(":memory:", isolation_level=None)
    mirror = sqlite3.connect(":memory:")
    for c in (conn, mirror):
        c.execute(create)
    conn.execute(f"CREATE MATERIALIZED VIEW v AS {query}")
    for sql in statements:
        conn.execute(sql)
        mirror.execute(sql)
        yield (mirror.execute(query).fetchall(), conn.execute(query).fetchall(),
               conn.execute("SELECT * FROM v").fetchall())


def test_window_over_groups_adds_peers_in_group_key_order():
    """A window over GROUP BY rows sums its peers in the order SQLite emits groups
    (by key): the view's peer order read the GROUP BY terms from the wrong slots
    (all NULL), so peers summed in arrival order and the float sum drifted
    (0.009999999999999787 against sqlite3's 0.010000000000000009)."""
    query = ("SELECT a || a AS k, sum(a || a) OVER (ORDER BY NULL) AS s "
             "FROM t2 GROUP BY a || a")
    for expected, ours, view in _view_beside_mirror(
            "CREATE TABLE t2(a, b INTEGER)", query,
            ("INSERT INTO t2(a) VALUES (0.5), (NULL), (1.5)", "INSERT INTO t2(a) VALUES (-2)")):
        assert ours == expected
        assert sorted(view, key=repr) == sorted(expected, key=repr)
    assert expected[0][1] == 0.010000000000000009


def test_view_window_with_exclude_no_others_sums_each_frame_afresh():
    """A view's sum() OVER a sliding frame with EXCLUDE NO OTHERS kept the REAL
    flag of a row that had left the frame (-2.0 against sqlite3's -2): an explicit
    NO OTHERS makes SQLite recompute each frame from a fresh aggregate."""
    query = ("SELECT a, sum(a) OVER (ORDER BY a DESC ROWS BETWEEN 0 PRECEDING AND "
             "0 PRECEDING EXCLUDE NO OTHERS) AS s FROM t1 GROUP BY a")
    for theirs, _ours, view in _view_beside_mirror(
            "CREATE TABLE t1(a INTEGER, b INTEGER)", query,
            ("INSERT INTO t1(a) VALUES (-2)", "INSERT INTO t1(a) VALUES (0.25)")):
        expected = sorted(theirs, key=repr)
        got = sorted(view, key=repr)
        assert [[type(v) for v in r] for r in got] == [[type(v) for v in r] for r in expected]
        assert got == expected
    assert (-2, -2) in expected


def test_materialized_view_read_as_a_from_item_like_its_plain_view():
    """A materialized view over a compound or a recursive CTE, read by a query or
    another materialized view, exposed its stored rows as conforming table columns:
    joined (SQLite materializes the view there), its values did not take the first
    arm's affinities ('-2' TEXT), and its columns compared as if every value had
    them, so ``j.b = p.c0`` matched -2 = -2 where sqlite3 finds no row."""
    setup = """
        CREATE TABLE t1(a, b); CREATE TABLE t2(a INTEGER, b TEXT);
        CREATE MATERIALIZED VIEW rec AS WITH RECURSIVE r(x, y, n) AS (
            SELECT b, a, 0 FROM t2 UNION SELECT y, y || 'a', n + 1 FROM r WHERE n < 1)
            SELECT x AS c0, y AS c1, n AS c2 FROM r;
        CREATE MATERIALIZED VIEW cmp AS SELECT b AS c0, a AS c1 FROM t2
            UNION SELECT a, b FROM t1;
    """
    readers = ["SELECT p.c0, typeof(p.c0), j.b FROM {v} AS p JOIN t1 AS j ON j.b = p.c0",
               "SELECT p.c0, typeof(p.c0), typeof(p.c1) FROM {v} AS p, t1 AS j",
               "SELECT c0, typeof(c0) FROM {v} WHERE c0 = 7"]
    queries = [r.format(v=v) for r in readers for v in ("rec", "cmp")]
    conn, oracle = turso_stream.connect(":memory:"), sqlite3.connect(":memory:")
    conn.executescript(setup)
    oracle.executescript(setup.replace("MATERIALIZED VIEW", "VIEW"))
    for i, sql in enumerate(queries):
        conn.execute(f"CREATE MATERIALIZED VIEW m{i} AS {sql}")
    for step in ("INSERT INTO t2 VALUES (-2, NULL), (5, '7')",
                 "INSERT INTO t1 VALUES (NULL, -2), (1, '5'), (7, 5), (5, 2.0)"):
        conn.execute(step)
        conn.commit()
        oracle.execute(step)
        for i, sql in enumerate(queries):
            theirs = sorted(oracle.execute(sql).fetchall(), key=repr)
            assert sorted(conn.execute(sql).fetchall(), key=repr) == theirs, sql
            assert sorted(conn.execute(f"SELECT * FROM m{i}").fetchall(), key=repr) == \
                theirs, sql
    assert all(row[2] != -2 for row in conn.execute("SELECT * FROM m0"))
