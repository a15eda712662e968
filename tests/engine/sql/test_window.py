"""Window functions, differential against stdlib sqlite3 (the oracle)."""

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import turso_stream

ROWS = [(1, 1, 1), (1, 2, None), (2, 2, "a"), (None, 3, 2.5), (2, 5, 7), (1, 5, -3),
        (3, 7, 7), (None, 8, None)]


def _pair(rows=ROWS):
    out = []
    for mod in (sqlite3, turso_stream):
        c = mod.connect(":memory:")
        c.execute("create table t(a, b, x)")
        c.executemany("insert into t values (?, ?, ?)", rows)
        out.append(c)
    return out


def _typed(rows):
    return [tuple((type(v).__name__, v) for v in r) for r in rows]


def _run(conn, sql):
    try:
        return "ok", _typed(conn.execute(sql).fetchall())
    except sqlite3.Error as exc:
        return "error", str(exc)
    except turso_stream.Error as exc:
        return "error", str(exc)


def _same(sql, rows=ROWS, ordered=None):
    lite, ours = _pair(rows)
    want, got = _run(lite, sql), _run(ours, sql)
    if ordered is None:
        ordered = "order by" in sql.lower().rsplit(")", 1)[-1]
    if want[0] == "ok" and got[0] == "ok" and not ordered:
        want, got = ("ok", sorted(want[1], key=repr)), ("ok", sorted(got[1], key=repr))
    assert got == want, sql
    return want


# -- named tests: each function ---------------------------------------------------------------

@pytest.mark.parametrize("call", [
    "row_number()", "rank()", "dense_rank()", "percent_rank()", "cume_dist()",
    "ntile(3)", "ntile(1)", "ntile(20)", "lag(x)", "lag(x, 2)", "lag(x, 2, 'd')", "lag(x, -1)",
    "lead(x)", "lead(x, 3, 0)", "first_value(x)", "last_value(x)", "nth_value(x, 2)",
    "nth_value(x, 5)", "count(*)", "count(x)", "sum(x)", "total(x)", "avg(x)", "min(x)",
    "max(x)", "group_concat(x)", "group_concat(x, '-')"])
@pytest.mark.parametrize("over", ["()", "(order by b)", "(partition by a order by b)",
                                  "(partition by a)", "(order by a desc, b)"])
def test_each_function(call, over):
    _same(f"select a, b, x, {call} over {over} from t order by b, a, x")


@pytest.mark.parametrize("frame", [
    "rows between unbounded preceding and current row",
    "rows between 1 preceding and 1 following",
    "rows between 2 preceding and 1 preceding",
    "rows between 1 following and 3 following",
    "rows between current row and unbounded following",
    "rows 2 preceding",
    "groups between 1 preceding and 1 following",
    "groups between current row and 2 following",
    "groups between unbounded preceding and 1 preceding",
    "range between 1 preceding and 2 following",
    "range between current row and unbounded following",
    "range between 2.5 preceding and current row",
    "range between 1 following and 4 following",
    "range unbounded preceding",
])
@pytest.mark.parametrize("exclude", ["", " exclude no others", " exclude current row",
                                     " exclude group", " exclude ties"])
@pytest.mark.parametrize("order", ["b", "b desc", "a nulls last", "a desc nulls first"])
def test_frames(frame, exclude, order):
    calls = ("sum(b)", "count(*)", "group_concat(b)", "first_value(b)", "last_value(b)",
             "nth_value(b, 2)", "min(b)", "max(b)")
    cols = ", ".join(f"{c} over (order by {order} {frame}{exclude})" for c in calls)
    _same(f"select a, b, {cols} from t")


def test_default_frames():
    _same("select b, sum(b) over (order by a), sum(b) over (), sum(b) over (partition by a)"
          " from t")


def test_named_windows_and_chaining():
    _same("select b, sum(b) over w, rank() over w, count(*) over (w2 rows 1 preceding) "
          "from t window w as (partition by a order by b), w2 as (order by b)")
    _same("select b, sum(b) over (w order by b) from t window w as (partition by a)")
    _same("select sum(x) over w from t window w as (order by a), w as (order by b)")


def test_filter_on_window_aggregates():
    _same("select b, sum(b) filter (where x > 1) over (order by b), count(*) filter "
          "(where a = 1) over () from t")


def test_windows_in_order_by_and_limit():
    _same("select b from t order by row_number() over (order by b desc) limit 4")
    _same("select b, rank() over (order by a) as r from t order by r, b limit 3 offset 1")


def test_windows_over_group_by():
    _same("select a, count(*), sum(count(*)) over (order by a), rank() over "
          "(order by sum(b) desc) from t group by a having count(*) > 0 order by a")
    _same("select a, sum(sum(b)) over () from t group by a")


def test_distinct_after_windows():
    _same("select distinct a, count(*) over (partition by a) from t")


def test_subquery_and_expression_over_windows():
    _same("select b, 10 * rank() over (order by a) + row_number() over (order by b) from t")
    _same("select * from (select b, rank() over (order by a) as r from t) where r > 2")


def test_user_window_function():
    class WSum:
        def __init__(self):
            self.s = 0

        def step(self, x):
            self.s += x or 0

        def inverse(self, x):
            self.s -= x or 0

        def value(self):
            return self.s

        def finalize(self):
            return self.s

    class Legacy:
        def __init__(self):
            self.s = 0

        def step(self, x):
            self.s += 1

        def finalize(self):
            return self.s

    results = []
    for conn in _pair():
        conn.create_window_function("wsum", 1, WSum)
        conn.create_aggregate("legacy", 1, Legacy)
        out = [_run(conn, q) for q in (
            "select b, wsum(b) over (order by b rows 1 preceding) from t",
            "select wsum(b) from t",
            "select wsum(b) over (order by b rows between 1 preceding and 1 following"
            " exclude current row) from t",
            "select legacy(b) over () from t")]
        results.append(out)
    assert results[0] == results[1]
    assert results[1][3] == ("error", "legacy() may not be used as a window function")
    conn = turso_stream.connect(":memory:")
    conn.create_window_function("wsum", 1, None)
    with pytest.raises(turso_stream.OperationalError):
        conn.execute("select wsum(1) over ()")


@pytest.mark.parametrize("sql", [
    "select rank() from t",
    "select * from t where rank() over () > 0",
    "select a from t group by rank() over ()",
    "select count(*) from t having rank() over () > 0",
    "select sum(rank() over ()) from t",
    "select ntile(0) over () from t",
    "select ntile(-1) over () from t",
    "select ntile(null) over () from t",
    "select ntile(1, 2) over () from t",
    "select sum(x) over (rows -1 preceding) from t",
    "select sum(x) over (rows between current row and -1 following) from t",
    "select sum(x) over (rows 1.5 preceding) from t",
    "select sum(x) over (order by a range -1 preceding) from t",
    "select sum(x) over (range 1 preceding) from t",
    "select sum(x) over (order by a, b range 1 preceding) from t",
    "select sum(x) over w from t",
    "select sum(x) over (w order by a) from t window w as (order by b)",
    "select sum(x) over (w order by b) from t window w as (rows 1 preceding)",
    "select nth_value(x, 0) over () from t",
    "select nth_value(x, 1.5) over () from t",
    "select nth_value(x, null) over () from t",
    "select sum(distinct x) over () from t",
    "select count(*) over (rows between 1 following and 1 preceding) from t",
    "select count(*) over (rows between current row and 1 preceding) from t",
    "select row_number(1) over () from t",
    "select abs(x) over () from t",
    "select rank() filter (where 1) over () from t",
    "select nosuch(x) over () from t",
    "select sum(a) over (order by a range between 1 preceding and 'a' following) from t",
])
def test_errors(sql):
    kind, _ = _same(sql)
    assert kind == "error"


# -- differential: random data and random window specs -----------------------------------------

# No REAL equals an INTEGER here: which of two equal values of different storage
# classes min()/max() return depends on the order SQLite feeds tied rows, which no
# query fixes (a frame without ORDER BY, peers); 1 vs 1.0 is covered by named tests.
_values = st.one_of(st.none(), st.integers(-3, 3), st.sampled_from([0.5, 1.5, -2.5]),
                    st.sampled_from(["a", "B", "b", ""]))
_rows = st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 2)), _values,
                           st.one_of(st.none(), st.integers(-4, 4))), max_size=9)


_SENSITIVE = ["row_number()", "ntile(2)", "lag(b)", "lead(b, 2, 'z')", "first_value(b)",
              "last_value(b)", "nth_value(b, 2)", "group_concat(b)"]
_INSENSITIVE = ["rank()", "dense_rank()", "percent_rank()", "cume_dist()", "count(*)",
                "count(b)", "sum(x)", "avg(x)", "total(b)", "min(b)", "max(b)",
                "sum(x) filter (where b > 0)"]


@st.composite
def _window_call(draw):
    """A window call whose result does not depend on how peers are ordered (that is
    unspecified): order-sensitive functions and ROWS frames get a rowid tiebreak."""
    order = draw(st.sampled_from(["", "order by x", "order by x desc", "order by b, x",
                                  "order by a nulls last, x desc"]))
    partition = draw(st.sampled_from(["", "partition by a", "partition by x % 2"]))
    kind = draw(st.sampled_from(["rows", "groups", "range", None]))
    range_offsets = kind == "range" and order in ("order by x", "order by x desc")
    sensitive = not range_offsets and draw(st.booleans())
    func = draw(st.sampled_from(_SENSITIVE if sensitive else _INSENSITIVE))
    if sensitive or kind == "rows":
        order = (order + ", rowid") if order else "order by rowid"
    if kind == "groups" and not partition and not order:
        order = "order by x"  # the parser reads a leading GROUPS as a window name (gap)
    spec = ""
    if kind is not None:
        bounds = ["unbounded preceding", "1 preceding", "current row", "2 following",
                  "0 preceding", "unbounded following"]
        start = draw(st.integers(0, 4))
        end = draw(st.integers(max(start, 2), 5))
        if kind == "range" and not range_offsets:
            start, end = 0, 2
        spec = f"{kind} between {bounds[start]} and {bounds[end]}"
        spec += draw(st.sampled_from(["", " exclude current row", " exclude group",
                                      " exclude ties"]))
    return f"{func} over ({partition} {order} {spec})"


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(rows=_rows, calls=st.lists(_window_call(), min_size=1, max_size=3))
def test_differential_random(rows, calls):
    _same("select a, b, x, " + ", ".join(calls) + " from t", rows=rows, ordered=False)


def test_min_max_of_equal_int_and_real_follow_sqlite_frame_rules():
    """A frame with a moving start returns the last-added of equal values; a frame
    growing from UNBOUNDED PRECEDING the first (ordered by rowid: no ties)."""
    rows = [(None, 1, None), (None, 1.0, None), (None, 1, None), (None, 2, None),
            (None, 1.0, None)]
    for frame in ("rows between 1 preceding and current row",
                  "rows between unbounded preceding and current row",
                  "rows between current row and 1 following",
                  "rows between 2 preceding and 2 following",
                  "range between current row and unbounded following"):
        for agg in ("min", "max"):
            _same(f"select b, {agg}(b) over (order by rowid {frame}) from t order by rowid",
                  rows=rows)
