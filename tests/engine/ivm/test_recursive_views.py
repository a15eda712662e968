"""WITH RECURSIVE in materialized views (engine.ivm.recursion) against sqlite3.

Each view is stepped through random inserts, deletes and updates of its tables and
must equal sqlite3's result of the same SELECT after every tick (type-strict
multisets). UNION ALL recursions run over acyclic data (SQLite would loop forever
on a cycle; the view reports an error instead, tested separately).
"""

from __future__ import annotations

import os
import sqlite3
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import turso_stream
from engine.errors import NotSupportedError, OperationalError
from engine.ivm import recursion

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from oracle_harness import OracleHarness, tick_ops  # noqa: E402

SETTINGS = settings(max_examples=int(os.environ.get("REC_EXAMPLES", 15)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SETUP = ["CREATE TABLE e(a INTEGER, b INTEGER)",
         "CREATE TABLE tree(id INTEGER, parent INTEGER, name TEXT)"]

NODES = st.integers(0, 5)
ANY_EDGES = st.tuples(NODES, NODES)
DAG_EDGES = st.tuples(NODES, NODES).filter(lambda r: r[0] < r[1])
# parent < id: no cycles, so every path from a root ends.
TREE_ROWS = st.tuples(st.integers(1, 6), st.one_of(st.none(), st.integers(0, 5)),
                      st.sampled_from(["a", "b", "c"])).filter(
                          lambda r: r[1] is None or r[1] < r[0])

SET_QUERIES = [
    # transitive closure (cycles welcome under UNION)
    "WITH RECURSIVE tc(x, y) AS (SELECT a, b FROM e UNION "
    "SELECT tc.x, e.b FROM tc JOIN e ON tc.y = e.a) SELECT * FROM tc",
    # reachability from node 0, comma join with the condition in WHERE
    "WITH RECURSIVE reach(n) AS (SELECT 0 UNION SELECT e.b FROM reach, e WHERE e.a = reach.n) "
    "SELECT n FROM reach",
    # a theta join step and an aggregate over the fixed point
    "WITH RECURSIVE up(x, y) AS (SELECT a, b FROM e UNION "
    "SELECT up.x, e.b FROM up JOIN e ON e.a > up.y AND e.b > e.a) "
    "SELECT x, count(*), max(y) FROM up GROUP BY x",
    # the CTE joined back to a table outside it; DISTINCT step is redundant under UNION
    "WITH RECURSIVE tc(x, y) AS (SELECT a, b FROM e UNION "
    "SELECT DISTINCT tc.x, e.b FROM e JOIN tc ON tc.y = e.a) "
    "SELECT tc.x, e.b FROM tc JOIN e ON e.a = tc.y WHERE tc.x <> e.b",
]

BAG_QUERIES = [
    # counting paths in a DAG (a multiset: one row per path)
    "WITH RECURSIVE p(x, y, len) AS (SELECT a, b, 1 FROM e UNION ALL "
    "SELECT p.x, e.b, p.len + 1 FROM p JOIN e ON p.y = e.a) SELECT * FROM p",
    "WITH RECURSIVE p(x, y) AS (SELECT a, b FROM e UNION ALL "
    "SELECT p.x, e.b FROM p, e WHERE p.y = e.a) SELECT x, y, count(*) FROM p GROUP BY x, y",
    # a counter seeded by table rows
    "WITH RECURSIVE cnt(x) AS (SELECT a FROM e UNION ALL SELECT x + 1 FROM cnt WHERE x < 6) "
    "SELECT x FROM cnt",
    # two recursive steps and a compound setup
    "WITH RECURSIVE r(x, y) AS (SELECT a, b FROM e WHERE a < 2 UNION SELECT 0, 0 UNION ALL "
    "SELECT x + 1, y FROM r WHERE x < 3 UNION ALL SELECT x, y + 1 FROM r WHERE y < 3) "
    "SELECT * FROM r",
    # a constant-only counter joined to a table
    "WITH RECURSIVE cnt(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM cnt WHERE x < 4) "
    "SELECT cnt.x, e.b FROM cnt JOIN e ON e.a = cnt.x",
]

TREE_QUERIES = [
    "WITH RECURSIVE path(id, p, depth) AS ("
    "SELECT id, name, 0 FROM tree WHERE parent IS NULL UNION ALL "
    "SELECT t.id, path.p || '/' || t.name, depth + 1 FROM tree AS t JOIN path "
    "ON t.parent = path.id) SELECT * FROM path",
    "WITH RECURSIVE sub(id) AS (SELECT 1 UNION SELECT tree.id FROM tree JOIN sub "
    "ON tree.parent = sub.id) SELECT count(*), sum(id) FROM sub",
]


def _run(queries, table, rows, ticks):
    h = OracleHarness(SETUP, queries)
    h.check()
    for ops in ticks:
        h.apply(ops)
        h.check()


@pytest.mark.parametrize("query", SET_QUERIES)
@SETTINGS
@given(ticks=st.lists(tick_ops("e", ANY_EDGES), min_size=1, max_size=6))
def test_union_recursion_matches_sqlite(query, ticks):
    _run([query], "e", ANY_EDGES, ticks)


@pytest.mark.parametrize("query", BAG_QUERIES)
@SETTINGS
@given(ticks=st.lists(tick_ops("e", DAG_EDGES), min_size=1, max_size=6))
def test_union_all_recursion_matches_sqlite(query, ticks):
    _run([query], "e", DAG_EDGES, ticks)


@pytest.mark.parametrize("query", TREE_QUERIES)
@SETTINGS
@given(ticks=st.lists(tick_ops("tree", TREE_ROWS), min_size=1, max_size=6))
def test_tree_paths_match_sqlite(query, ticks):
    _run([query], "tree", TREE_ROWS, ticks)


def test_counter_without_tables():
    h = OracleHarness(SETUP, [
        "WITH RECURSIVE cnt(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM cnt WHERE x < 50) "
        "SELECT x FROM cnt",
        "WITH RECURSIVE fib(a, b) AS (VALUES (0, 1) UNION ALL SELECT b, a + b FROM fib "
        "WHERE b < 1000) SELECT a FROM fib"])
    h.check()
    assert sum(h.contents[0].values()) == 50


def test_closure_work_is_independent_of_untouched_components():
    q = ("WITH RECURSIVE tc(x, y) AS (SELECT a, b FROM e UNION "
         "SELECT tc.x, e.b FROM tc JOIN e ON tc.y = e.a) SELECT * FROM tc")

    def work_for_one_edge(components):
        h = OracleHarness(SETUP, [q])
        h.apply([("ins", "e", (100 * k + i, 100 * k + i + 1))
                 for k in range(components) for i in range(3)])
        view = h.views[0]
        view.work.reset()
        h.apply([("ins", "e", (3, 4))])  # extends component 0
        h.check()
        return view.work.rows + view.work.lookups, view.work.scans

    assert work_for_one_edge(3) == work_for_one_edge(60)


@pytest.mark.parametrize("query, message", [
    ("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT r.x + 1 FROM r, r AS r2 "
     "WHERE r.x < 5) SELECT * FROM r", "multiple references to recursive table: r"),
    ("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT max(x) + 1 FROM r WHERE x < 5) "
     "SELECT * FROM r", "recursive aggregate queries not supported"),
    ("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r GROUP BY x) "
     "SELECT * FROM r", "recursive aggregate queries not supported"),
    ("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT row_number() OVER () + x FROM r "
     "WHERE x < 3) SELECT * FROM r", "cannot use window functions in recursive queries"),
    ("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM (SELECT x FROM r) "
     "WHERE x < 5) SELECT * FROM r", "circular reference: r"),
    ("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 5 "
     "AND x IN (SELECT x FROM r)) SELECT * FROM r", "multiple recursive references: r"),
    ("WITH RECURSIVE r(x) AS (SELECT x FROM r UNION ALL SELECT 1) SELECT * FROM r",
     "circular reference: r"),
    ("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 3 "
     "EXCEPT SELECT 2) SELECT * FROM r", "circular reference: r"),
    ("WITH RECURSIVE r(x) AS (SELECT 1 UNION SELECT x + 1 FROM r WHERE x < 3 UNION ALL "
     "SELECT x + 10 FROM r WHERE x < 3) SELECT * FROM r", "circular reference: r"),
    ("WITH RECURSIVE r(x) AS (SELECT 1, 2 UNION ALL SELECT x + 1 FROM r WHERE x < 3) "
     "SELECT * FROM r", "table r has 2 values for 1 columns"),
    ("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1, 2 FROM r WHERE x < 3) "
     "SELECT * FROM r", "SELECTs to the left and right of UNION ALL do not have the same "
     "number of result columns"),
])
def test_errors_match_sqlite(query, message):
    oracle = sqlite3.connect(":memory:")
    with pytest.raises(sqlite3.OperationalError, match=message):
        oracle.execute(query)
    with pytest.raises(OperationalError, match=message):
        OracleHarness(SETUP, [query])


@pytest.mark.parametrize("query, what", [
    ("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 3 "
     "ORDER BY 1 LIMIT 5) SELECT * FROM r", "ORDER BY/LIMIT"),
    ("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT e.b FROM r LEFT JOIN e "
     "ON e.a = r.x) SELECT * FROM r", "LEFT JOIN in the recursive step"),
    ("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT DISTINCT x + 1 FROM r WHERE x < 3) "
     "SELECT * FROM r", "SELECT DISTINCT in the recursive step"),
    ("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 3 "
     "AND EXISTS (SELECT 1 FROM e)) SELECT * FROM r", "subquery expressions"),
])
def test_unsupported_forms_say_so(query, what):
    with pytest.raises(NotSupportedError, match=f"not supported.*{what}"):
        OracleHarness(SETUP, [query])


def test_endless_union_all_is_an_error_not_a_hang(monkeypatch):
    monkeypatch.setattr(recursion, "MAX_ITERATIONS", 200)
    q = ("WITH RECURSIVE p(x, y) AS (SELECT a, b FROM e UNION ALL "
         "SELECT p.x, e.b FROM p JOIN e ON p.y = e.a) SELECT * FROM p")
    h = OracleHarness(SETUP, [q])
    h.apply([("ins", "e", (1, 2))])
    with pytest.raises(OperationalError, match="recursive CTE p did not reach a fixed point "
                       "within 200 iterations"):
        h.apply([("ins", "e", (2, 1))])
    with pytest.raises(OperationalError, match="UNION ALL recursion never ends"):
        OracleHarness(SETUP, ["WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                              "SELECT x FROM c"])


def test_recursive_views_through_sql_follow_dml():
    ours = turso_stream.connect(":memory:", isolation_level=None)
    oracle = sqlite3.connect(":memory:", isolation_level=None)
    views = {
        "tc": "WITH RECURSIVE tc(x, y) AS (SELECT a, b FROM e UNION "
              "SELECT tc.x, e.b FROM tc JOIN e ON tc.y = e.a) SELECT x, y FROM tc",
        "paths": "WITH RECURSIVE p(x, y) AS (SELECT a, b FROM e UNION ALL "
                 "SELECT p.x, e.b FROM p JOIN e ON p.y = e.a) "
                 "SELECT x, y, count(*) AS n FROM p GROUP BY x, y",
        "cnt": "WITH RECURSIVE c(x) AS (SELECT min(a) FROM e UNION ALL "
               "SELECT x + 1 FROM c WHERE x < 5) SELECT x FROM c",
    }
    for conn in (ours, oracle):
        conn.execute(SETUP[0])
        conn.execute("INSERT INTO e VALUES (1, 2), (2, 3), (1, 3)")
    for name, q in views.items():
        ours.execute(f"CREATE MATERIALIZED VIEW {name} AS {q}")
        oracle.execute(f"CREATE VIEW {name} AS {q}")
    dml = ["INSERT INTO e VALUES (3, 4), (0, 1)",
           "DELETE FROM e WHERE a = 2",
           "UPDATE e SET b = b + 1 WHERE a = 0",
           "DELETE FROM e"]
    for step in [None] + dml:
        if step:
            ours.execute(step)
            oracle.execute(step)
        for name in views:
            got = sorted(ours.execute(f"SELECT * FROM {name}").fetchall(), key=repr)
            want = sorted(oracle.execute(f"SELECT * FROM {name}").fetchall(), key=repr)
            assert got == want, (step, name)
