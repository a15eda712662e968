"""Window functions in materialized views (engine.ivm.windows) against sqlite3.

Every query's compiled view is stepped through random inserts, deletes and
updates; after each tick its integrated contents must equal sqlite3's result of
the same SELECT as a type-strict multiset. Peers keep scan order (rowid order),
so row_number over ties is checked too.
"""

from __future__ import annotations

import os
import sqlite3
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import turso_stream
from engine.errors import OperationalError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from oracle_harness import OracleHarness, tick_ops  # noqa: E402

SETTINGS = settings(max_examples=int(os.environ.get("WIN_EXAMPLES", 12)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SETUP = ["CREATE TABLE t(g TEXT, v INTEGER, w REAL)",
         "CREATE TABLE u(g TEXT COLLATE NOCASE, v)"]

T_ROWS = st.tuples(st.sampled_from(["x", "y", "z", None]),
                   st.one_of(st.none(), st.integers(0, 4)),
                   st.sampled_from([0.5, 1.0, 2.25, -1.5]))
U_ROWS = st.tuples(st.sampled_from(["a", "A", "b"]),
                   st.one_of(st.integers(0, 3), st.sampled_from(["3", "q", 1.5])))

QUERIES = [
    # ranking functions, with ties broken in scan order
    "SELECT g, v, row_number() OVER (PARTITION BY g ORDER BY v) FROM t",
    "SELECT v, w, row_number() OVER () FROM t",
    "SELECT v, rank() OVER (ORDER BY v), dense_rank() OVER (ORDER BY v) FROM t",
    "SELECT g, v, percent_rank() OVER (PARTITION BY g ORDER BY v), "
    "cume_dist() OVER (PARTITION BY g ORDER BY v) FROM t",
    "SELECT v, ntile(3) OVER (ORDER BY v DESC) FROM t",
    # value functions
    "SELECT g, v, lag(v) OVER (PARTITION BY g ORDER BY v), "
    "lead(v, 2, -1) OVER (PARTITION BY g ORDER BY v) FROM t",
    "SELECT v, first_value(w) OVER win, last_value(w) OVER win, nth_value(w, 2) OVER win "
    "FROM t WINDOW win AS (ORDER BY v ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING)",
    # aggregate windows over every frame kind
    "SELECT g, v, sum(v) OVER (PARTITION BY g ORDER BY v) FROM t",
    "SELECT v, sum(w) OVER (ORDER BY v ROWS BETWEEN 2 PRECEDING AND CURRENT ROW), "
    "count(*) OVER (ORDER BY v ROWS UNBOUNDED PRECEDING) FROM t",
    "SELECT v, total(w) OVER (ORDER BY v RANGE BETWEEN 1 PRECEDING AND 1 FOLLOWING) FROM t",
    "SELECT v, max(w) OVER (ORDER BY v GROUPS BETWEEN 1 PRECEDING AND CURRENT ROW "
    "EXCLUDE TIES), min(w) OVER (ORDER BY v GROUPS 1 PRECEDING) FROM t",
    "SELECT g, avg(v) OVER (PARTITION BY g), count(v) OVER (PARTITION BY g) FROM t",
    "SELECT g, group_concat(v) OVER (PARTITION BY g ORDER BY v "
    "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) FROM t",
    # several windows, different partitions (common prefix / none)
    "SELECT g, v, w, row_number() OVER (PARTITION BY g, v ORDER BY w), "
    "sum(w) OVER (PARTITION BY g) FROM t",
    "SELECT g, v, rank() OVER (PARTITION BY g ORDER BY v), rank() OVER (ORDER BY w) FROM t",
    # windows over GROUP BY results, in expressions, with WHERE, DISTINCT, LIMIT
    "SELECT g, count(*), rank() OVER (ORDER BY count(*) DESC), "
    "sum(sum(v)) OVER (ORDER BY g) FROM t GROUP BY g",
    "SELECT v, row_number() OVER (ORDER BY w) * 10 + 1 AS r FROM t WHERE v IS NOT NULL",
    "SELECT DISTINCT g, count(*) OVER (PARTITION BY g) FROM t",
    "SELECT v, row_number() OVER (ORDER BY v) FROM t ORDER BY 2 LIMIT 3",
    "SELECT v, sum(v) FILTER (WHERE w > 0) OVER (ORDER BY v) FROM t",
]


@pytest.mark.parametrize("query", QUERIES)
@SETTINGS
@given(ticks=st.lists(tick_ops("t", T_ROWS), min_size=1, max_size=6))
def test_window_view_matches_sqlite_after_every_tick(query, ticks):
    h = OracleHarness(SETUP, [query])
    h.check()
    for ops in ticks:
        h.apply(ops)
        h.check()


U_QUERIES = [
    # a NOCASE partition key: 'a' and 'A' are one partition
    "SELECT g, v, row_number() OVER (PARTITION BY g ORDER BY v) FROM u",
    "SELECT g, count(*) OVER (PARTITION BY g), max(v) OVER (PARTITION BY g ORDER BY v) FROM u",
]


@pytest.mark.parametrize("query", U_QUERIES)
@SETTINGS
@given(ticks=st.lists(tick_ops("u", U_ROWS), min_size=1, max_size=6))
def test_collation_and_mixed_types_match_sqlite(query, ticks):
    h = OracleHarness(SETUP, [query])
    for ops in ticks:
        h.apply(ops)
        h.check()


def test_join_then_window_matches_sqlite():
    q = ("SELECT t.g, u.v, row_number() OVER (PARTITION BY t.g ORDER BY t.v, u.v) "
         "FROM t JOIN u ON t.v = u.v")
    h = OracleHarness(SETUP, [q])
    h.apply([("ins", "t", ("x", 1, 1.0)), ("ins", "t", ("y", 2, 0.5)),
             ("ins", "u", ("a", 1)), ("ins", "u", ("b", 2)), ("ins", "u", ("a", 2))])
    h.check()
    h.apply([("ins", "t", ("x", 2, 3.0)), ("del", "u", 0)])
    h.check()


def test_only_touched_partitions_are_recomputed():
    h = OracleHarness(SETUP, ["SELECT g, v, rank() OVER (PARTITION BY g ORDER BY v) FROM t"])
    h.apply([("ins", "t", (f"p{i}", j, 1.0)) for i in range(50) for j in range(4)])
    view = h.views[0]
    view.work.reset()
    h.apply([("ins", "t", ("p7", 9, 1.0))])
    h.check()
    # the Window operator reads the 5 rows of partition p7, not the other 200
    assert view.work.rows < 30, view.work.rows
    assert "PARTITION BY g" in " ".join(view.explain)


def test_explain_says_an_unpartitioned_window_recomputes_everything():
    h = OracleHarness(SETUP, ["SELECT v, sum(v) OVER (ORDER BY v) FROM t",
                              "SELECT v, sum(v) OVER (PARTITION BY g), "
                              "sum(v) OVER (PARTITION BY v) FROM t"])
    for view in h.views:
        assert any("every change recomputes it" in line for line in view.explain)


@pytest.mark.parametrize("query, message", [
    ("SELECT row_number() OVER nope FROM t", "no such window: nope"),
    ("SELECT ntile() OVER () FROM t", "wrong number of arguments to function ntile()"),
    ("SELECT rank() FILTER (WHERE v > 1) OVER () FROM t",
     "FILTER clause may only be used with aggregate window functions"),
    ("SELECT v, sum(v) OVER (ORDER BY v, w RANGE 1 PRECEDING) FROM t",
     "RANGE with offset PRECEDING/FOLLOWING requires one ORDER BY expression"),
])
def test_definition_errors_match_sqlite(query, message):
    oracle = sqlite3.connect(":memory:")
    for sql in SETUP:
        oracle.execute(sql)
    with pytest.raises(sqlite3.OperationalError, match=message):
        oracle.execute(query)
    with pytest.raises(OperationalError, match=message):
        OracleHarness(SETUP, [query])


def test_runtime_error_in_a_partition_is_raised_at_the_step():
    h = OracleHarness(SETUP, ["SELECT ntile(v) OVER (PARTITION BY g) FROM t"])
    h.apply([("ins", "t", ("x", 2, 1.0))])
    with pytest.raises(OperationalError, match="argument of ntile must be a positive integer"):
        h.apply([("ins", "t", ("y", 0, 1.0))])


def test_window_views_through_sql_follow_dml():
    ours = turso_stream.connect(":memory:", isolation_level=None)
    oracle = sqlite3.connect(":memory:", isolation_level=None)
    views = {
        "ranked": "SELECT g, v, rank() OVER (PARTITION BY g ORDER BY v DESC) AS r FROM t",
        "running": "SELECT v, w, sum(w) OVER (ORDER BY v, w ROWS UNBOUNDED PRECEDING) FROM t",
        "topg": "SELECT g, count(*) AS n, row_number() OVER (ORDER BY count(*) DESC, g) FROM t "
                "GROUP BY g",
    }
    for conn in (ours, oracle):
        conn.execute(SETUP[0])
        conn.execute("INSERT INTO t VALUES ('x', 1, 1.0), ('y', 2, 2.0), ('x', 3, 0.5)")
    for name, q in views.items():
        ours.execute(f"CREATE MATERIALIZED VIEW {name} AS {q}")
        oracle.execute(f"CREATE VIEW {name} AS {q}")
    dml = ["INSERT INTO t VALUES ('y', 5, 1.5), ('z', 0, 9.0)",
           "UPDATE t SET v = v + 1 WHERE g = 'x'",
           "DELETE FROM t WHERE v = 2",
           "UPDATE t SET g = 'x'"]
    for step in [None] + dml:
        if step:
            ours.execute(step)
            oracle.execute(step)
        for name in views:
            got = sorted(ours.execute(f"SELECT * FROM {name}").fetchall(), key=repr)
            want = sorted(oracle.execute(f"SELECT * FROM {name}").fetchall(), key=repr)
            assert got == want, (step, name)
