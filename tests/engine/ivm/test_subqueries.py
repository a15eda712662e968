"""Subquery expressions in materialized views (engine.ivm.subqueries).

Each view is driven directly: its circuit is stepped with the Z-set deltas of a
random sequence of inserts/deletes/updates, the output deltas are integrated,
and after every step the contents must equal what stdlib sqlite3 returns for
the same SELECT on the same data (type-strict multiset comparison).
"""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import turso_stream
from dbsp import ZSet
from engine.database import open_database
from engine.errors import NotSupportedError, OperationalError
from engine.ivm import compile_view
from engine.sql.parse import parse_one
from engine.sql.session import Session

SCHEMA = [
    "create table t(a int, b text, c real, f)",
    "create table u(a int, d text, e int)",
    "create table v(x int, y text, g)",
]

# Stored forms (what each column's affinity leaves in SQLite), so the model's rows
# and SQLite's rows are the same values.
MIXED = st.sampled_from([None, 1, 1.0, "1", "x", 2, b"\x01"])
COLUMNS = {
    "t": [st.sampled_from([None, 1, 2, 3]), st.sampled_from([None, "x", "y", "1", "2"]),
          st.sampled_from([None, 0.5, 1.0, 2.5]), MIXED],
    "u": [st.sampled_from([None, 1, 2, 3]), st.sampled_from([None, "x", "y", "1"]),
          st.sampled_from([None, 0, 1, 2, 3])],
    "v": [st.sampled_from([None, 0, 1, 2]), st.sampled_from([None, "x", "y", "1"]), MIXED],
}

QUERIES = [
    # EXISTS / NOT EXISTS, correlated by equality (hash join) and by a theta predicate
    "select a, b from t where exists (select 1 from u where u.a = t.a)",
    "select a, c from t where not exists (select * from u where u.a = t.a and u.e > t.c)",
    "select a, exists (select 1 from u where u.e < t.a) from t",
    "select a from t where exists (select 1 from u where u.a = t.a limit 1 offset 1)",
    # scalar subqueries: aggregates over an empty group, first row, ORDER BY ... LIMIT
    "select a, (select count(*) from u where u.a = t.a) from t",
    "select a, (select sum(e) from u where u.a = t.a) as s from t",
    "select a, (select count(distinct d) from u where u.a = t.a and u.e is not null) from t",
    "select a, (select max(d) from u where u.e < t.a) from t",
    "select a, (select d from u where u.a = t.a order by e desc, d limit 1) from t",
    "select a, (select e from u where u.a = t.a order by e limit 1 offset 1) from t",
    "select a, c from t where c > (select avg(e) from u where u.a = t.a)",
    "select a, (select count(*) from u) from t",
    "select a, (select e from u union select x from v order by 1 desc limit 1), "
    "a in (select x from v except select e from u) from t",
    "select a, (select d from u order by d desc limit 1) from t",
    "select f, (select typeof(t.f) || '!') from t",
    "select a, (select count(*) from u where u.a = t.a group by u.a) from t",
    # IN / NOT IN: three-valued with NULLs, affinity and collation of the comparison
    "select a, a in (select a from u) from t",
    "select a, a not in (select e from u where e is not null or d = 'x') from t",
    "select b, b in (select e from u) from t",
    "select typeof(f), f, f in (select g from v) from t",
    "select typeof(f), f, f not in (select g from v where v.x = t.a) from t",
    "select b, b in (select d from u where u.a = t.a) from t",
    "select b, b collate nocase in (select y from v) from t",
    "select a from t where a in (select a from u group by a having count(*) > 1)",
    # positions: CASE, OR, NOT, HAVING, select list of an aggregate, aggregate arguments
    "select a, case when exists (select 1 from u where u.a = t.a) then 'y' else 'n' end "
    "from t where a = 1 or a in (select e from u)",
    "select a from t where not (a in (select e from u where u.d = t.b))",
    "select a, count(*) from t group by a "
    "having count(*) > (select count(*) from u where u.a = t.a)",
    "select a, count(*), (select count(*) from u where u.a = t.a) from t group by a",
    "select sum((select count(*) from u where u.a = t.a)), count(*) from t",
    "select b, count(*) from t where a in (select e from u) group by b",
    # nesting, correlation across two levels, joins in the outer and inner query
    "select a from t where exists (select 1 from u where u.a = t.a and "
    "exists (select 1 from v where v.x = u.e and v.y = t.b))",
    "select a, (select count(*) from u where u.a = t.a and u.e in "
    "(select x from v where v.y = t.b)) from t",
    "select t.a, v.y from t join v on t.a = v.x "
    "where exists (select 1 from u where u.e = v.x and u.d = t.b)",
    "select a, (select count(*) from u join v on u.e = v.x where u.a = t.a) from t",
    "select a, b from t where b = (select d from u where u.a = t.a order by d limit 1)",
    "select a, b from t where b = (select e from u where u.a = t.a order by e limit 1)",
    "select distinct a from t where (select count(*) from u where u.a = t.a) > 0",
    "select a, b from t order by (select count(*) from u where u.a = t.a) desc, a, b limit 2",
    "select (select count(*) from u where u.a = t.a) as n, count(*) from t group by n",
    # ON clauses, inner and outer joins
    "select t.a, u.d from t left join u on u.a = t.a and u.e in (select x from v)",
    "select t.a, u.d from t join u on u.a = t.a and "
    "exists (select 1 from v where v.x = u.e and v.y = t.b)",
    "select t.a, v.x from t right join v on v.x = t.a and "
    "t.b not in (select d from u where u.e = v.x)",
    "select t.a, u.e from t full join u on (select count(*) from v where v.x = u.e) = t.a",
]


def _typed(rows):
    """Rows as sorted lists of (type name, value): a type-strict multiset."""
    return sorted((tuple((type(v).__name__, v) for v in row) for row in rows), key=repr)


class Model:
    """The same tables in our compiled views (Z-set deltas) and in sqlite3."""

    def __init__(self, queries):
        self.db = open_database()
        self.session = Session(self.db)
        for ddl in SCHEMA:
            self.session.execute(ddl)
        self.session._ensure_txn()
        self.views = [(q, compile_view(self.session, parse_one(q))) for q in queries]
        self.contents = [ZSet() for _ in queries]
        self.oracle = sqlite3.connect(":memory:")
        for ddl in SCHEMA:
            self.oracle.execute(ddl)
        self.rows = {"t": {}, "u": {}, "v": {}}
        self.next_rowid = 1

    def apply(self, ops):
        """Apply one batch of ``(table, op, rowid pick, row)`` changes, step every view
        with the batch's deltas, and compare with sqlite3.

        As a commit's ChangeSet does, the batch collapses to each row's first before
        and last after image; an update to a Python-equal value of another type
        (1 -> 1.0) goes to a second tick, as the view maintainer feeds it, since one
        Z-set would cancel it."""
        before = {}
        for table, op, pick, row in ops:
            rows = self.rows[table]
            if op == "insert" or not rows:
                rowid, self.next_rowid = self.next_rowid, self.next_rowid + 1
                before.setdefault((table, rowid), None)
                rows[rowid] = row
                self._insert(table, rowid, row)
                continue
            rowid = sorted(rows)[pick % len(rows)]
            before.setdefault((table, rowid), rows[rowid])
            self.oracle.execute(f"delete from {table} where rowid = ?", (rowid,))
            if op == "delete":
                del rows[rowid]
            else:
                rows[rowid] = row
                self._insert(table, rowid, row)
        main, retyped = {}, {}
        for (table, rowid), old in before.items():
            new = self.rows[table].get(rowid)
            if old is not None and new is not None and old == new:
                if list(map(type, old)) == list(map(type, new)):
                    continue
                main.setdefault(table, ZSet()).add_row(old + (rowid,), -1)
                retyped.setdefault(table, ZSet()).add_row(new + (rowid,), 1)
                continue
            if old is not None:
                main.setdefault(table, ZSet()).add_row(old + (rowid,), -1)
            if new is not None:
                main.setdefault(table, ZSet()).add_row(new + (rowid,), 1)
        for i, (sql, view) in enumerate(self.views):
            for tick in (main, retyped):
                out = view.step(tick)
                out._check()
                self.contents[i].add(out)
            view.circuit._check()
            expected = self.oracle.execute(sql).fetchall()
            assert _typed(self.contents[i].rows()) == _typed(expected), sql

    def _insert(self, table, rowid, row):
        marks = ",".join("?" * (len(row) + 1))
        self.oracle.execute(f"insert into {table}(rowid, {_COLUMN_NAMES[table]}) "
                            f"values ({marks})", (rowid,) + row)


_COLUMN_NAMES = {"t": "a, b, c, f", "u": "a, d, e", "v": "x, y, g"}


def _row(table):
    return st.tuples(*COLUMNS[table])


OP = st.sampled_from(["t", "u", "v"]).flatmap(lambda table: st.tuples(
    st.just(table), st.sampled_from(["insert", "insert", "delete", "update"]),
    st.integers(0, 50), _row(table)))
BATCHES = st.lists(st.lists(OP, min_size=1, max_size=4), min_size=1, max_size=10)


@pytest.mark.parametrize("sql", QUERIES)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=BATCHES)
def test_subquery_view_matches_sqlite(sql, batches):
    model = Model([sql])
    for batch in batches:
        model.apply(batch)


def test_all_forms_together_on_a_long_history():
    """Every query at once over one longer fixed history (a regression anchor)."""
    import random
    rnd = random.Random(5)
    model = Model(QUERIES)
    values = {
        "t": ([None, 1, 2, 3], [None, "x", "y", "1", "2"], [None, 0.5, 1.0, 2.5],
              [None, 1, 1.0, "1", "x", 2]),
        "u": ([None, 1, 2, 3], [None, "x", "y", "1"], [None, 0, 1, 2, 3]),
        "v": ([None, 0, 1, 2], [None, "x", "y", "1"], [None, 1, 1.0, "1", "x"]),
    }
    for _step in range(40):
        batch = []
        for _ in range(rnd.randint(1, 5)):
            table = rnd.choice("tuv")
            row = tuple(rnd.choice(col) for col in values[table])
            batch.append((table, rnd.choice(["insert", "insert", "delete", "update"]),
                          rnd.randint(0, 50), row))
        model.apply(batch)


# -- errors and unsupported forms -------------------------------------------------------

@pytest.fixture
def session():
    s = Session(open_database())
    for ddl in SCHEMA:
        s.execute(ddl)
    s._ensure_txn()
    return s


@pytest.mark.parametrize("sql", [
    "select a, (select a, d from u) from t",
    "select a from t where a in (select a, d from u where u.a = t.a)",
    "select a from t where a in u",
])
def test_subselect_with_several_columns_is_sqlites_error(session, sql):
    oracle = sqlite3.connect(":memory:")
    for ddl in SCHEMA:
        oracle.execute(ddl)
    with pytest.raises(sqlite3.OperationalError) as expected:
        oracle.execute(sql)
    with pytest.raises(OperationalError, match="sub-select returns"):
        compile_view(session, parse_one(sql))
    with pytest.raises(OperationalError) as got:
        compile_view(session, parse_one(sql))
    assert str(got.value) == str(expected.value)


def test_unknown_column_in_subquery_is_no_such_column(session):
    with pytest.raises(OperationalError, match="no such column: zz"):
        compile_view(session, parse_one("select a from t where exists (select zz from u)"))


@pytest.mark.parametrize("sql, what", [
    ("select a from t group by a having exists (select 1 from u where u.e = t.c)",
     "bare column"),
    ("select a, (select count(t.a) from u) from t", "aggregate of outer columns"),
    ("select a from t where exists (select 1 from u join v on v.x = t.a)",
     "correlated reference"),
    ("select a from t where exists (select 1 from u where u.a = t.a "
     "union select 1 from v where v.x = t.a)", "correlated compound"),
])
def test_unsupported_forms_raise_clearly(session, sql, what):
    with pytest.raises(NotSupportedError, match=what):
        compile_view(session, parse_one(sql))


def test_correlated_equality_is_a_hash_join(session):
    view = compile_view(session, parse_one(
        "select a from t where exists (select 1 from u where u.a = t.a)"))
    assert "correlated subquery: hash join with its bindings" in view.explain
    # cost of a change is proportional to it: one new u row touches one binding
    step = view.step({"t": ZSet.from_rows([(i, "x", 1.0, None, i) for i in range(1, 201)]),
                      "u": ZSet.from_rows([(i, "d", 0, i) for i in range(1, 201, 2)])})
    assert len(step) == 100
    before = view.work.rows
    out = view.step({"u": ZSet.from_rows([(2, "d", 0, 500)])})
    assert out == ZSet.from_rows([(2,)])
    assert view.work.rows - before < 60


# -- end to end through SQL ----------------------------------------------------------------

def test_materialized_view_with_subqueries_end_to_end():
    con = turso_stream.connect(":memory:")
    con.execute("create table t(a int, b text)")
    con.execute("create table u(a int, d text)")
    con.executemany("insert into t values (?, ?)", [(1, "x"), (2, "y"), (None, "z")])
    con.execute("create materialized view mv as select a, "
                "(select count(*) from u where u.a = t.a) as n, "
                "a in (select a from u) as i, "
                "exists (select 1 from u where u.d = t.b) as e from t")
    con.commit()
    oracle = sqlite3.connect(":memory:")
    oracle.execute("create table t(a int, b text)")
    oracle.execute("create table u(a int, d text)")
    oracle.executemany("insert into t values (?, ?)", [(1, "x"), (2, "y"), (None, "z")])
    select = ("select a, (select count(*) from u where u.a = t.a), a in (select a from u), "
              "exists (select 1 from u where u.d = t.b) from t")
    for stmt, args in [("insert into u values (?, ?)", (1, "y")),
                       ("insert into u values (?, ?)", (None, "q")),
                       ("update u set a = 2 where d = 'y'", ()),
                       ("delete from u where a is null", ()),
                       ("insert into t values (?, ?)", (2, "q"))]:
        con.execute(stmt, args)
        con.commit()
        oracle.execute(stmt, args)
        got = con.execute("select * from mv").fetchall()
        assert _typed(got) == _typed(oracle.execute(select).fetchall()), stmt


def test_view_over_nested_correlated_subqueries_end_to_end():
    con = turso_stream.connect(":memory:")
    for ddl in SCHEMA:
        con.execute(ddl)
    con.execute("create materialized view mv as select a from t where exists "
                "(select 1 from u where u.a = t.a and u.e in (select x from v where v.y = t.b))")
    con.execute("insert into t values (1, 'x', 1.0, null)")
    con.execute("insert into u values (1, 'd', 5)")
    con.commit()
    assert con.execute("select * from mv").fetchall() == []
    con.execute("insert into v values (5, 'x', null)")
    con.commit()
    assert con.execute("select * from mv").fetchall() == [(1,)]
    con.execute("update v set y = 'nope'")
    con.commit()
    assert con.execute("select * from mv").fetchall() == []
