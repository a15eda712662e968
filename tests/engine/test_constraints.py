"""Constraints and bad input: every failure raises the sqlite3 exception class with
SQLite's exact message (stdlib sqlite3 is the oracle, run on the same schema and
statement), and a failed call changes nothing in its transaction.
OR IGNORE / OR REPLACE conflict resolution is compared with sqlite3 on random
statement sequences."""

from __future__ import annotations

import copy
import operator
import re
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.database import Database
from engine.errors import IntegrityError, NotSupportedError, OperationalError
from engine.values import typeof


class ComparisonCompiler:
    """Test double for the SQL layer's expression compiler.

    Understands only ``<column> <op> <integer>`` with op in = <> != < <= > >=
    (SQLite semantics for NULL: the result is NULL, which a CHECK accepts), and
    raises ValueError for anything else, so it can never silently misjudge a row.
    """

    _OPS = {"=": operator.eq, "==": operator.eq, "<>": operator.ne, "!=": operator.ne,
            "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
    _PATTERN = re.compile(r"^\s*(\w+)\s*(==|=|<>|!=|<=|>=|<|>)\s*(-?\d+)\s*$")

    def row_function(self, sql, table):
        m = self._PATTERN.match(sql)
        if m is None:
            raise ValueError(f"test compiler cannot compile {sql!r}")
        pos = table.column(m.group(1))
        if pos is None:
            raise ValueError(f"no column {m.group(1)!r}")
        op, const = self._OPS[m.group(2)], int(m.group(3))

        def check(row, rowid):
            v = row[pos]
            if v is None:
                return None
            return int(op(v, const))

        return check

    def constant(self, sql):
        raise ValueError(f"test compiler has no constants ({sql!r})")


def tagged(value):
    """A value with its SQLite storage class, for type-strict comparison."""
    return (typeof(value), value)


def sqlite_state(con, table, without_rowid=False):
    cols = "*" if without_rowid else "rowid, *"
    return sorted(tuple(tagged(v) for v in r)
                  for r in con.execute(f"SELECT {cols} FROM {table}"))


def engine_state(txn, table):
    t = txn.table(table)
    if t.without_rowid:
        return sorted(tuple(tagged(v) for v in row) for _k, row in txn.scan(table))
    return sorted((tagged(k),) + tuple(tagged(v) for v in row) for k, row in txn.scan(table))


def txn_fingerprint(txn):
    """Everything a failed call must leave untouched in a transaction."""
    return (copy.deepcopy(txn.writes),
            {k: list(v) for k, v in txn.local_index.items()},
            dict(txn.next_rowid))


class Pair:
    """The same schema in stdlib sqlite3 (inside BEGIN) and in one open engine txn."""

    def __init__(self, ddl, compiler=None):
        self.con = sqlite3.connect(":memory:", isolation_level=None)
        self.con.execute(ddl)
        self.con.execute("BEGIN")
        self.db = Database(":memory:", compiler=compiler)
        setup = self.db.begin("IMMEDIATE")
        self.table = setup.create_table(ddl).name
        setup.commit()
        self.txn = self.db.begin("DEFERRED")
        self.ncols = len(self.txn.table(self.table).schema.columns)
        self.without_rowid = self.txn.table(self.table).without_rowid

    def insert(self, row, conflict="ABORT"):
        """Insert into both; return (sqlite error, engine error), each None or (class, msg)."""
        marks = ", ".join("?" * self.ncols)
        sql = f"INSERT OR {conflict} INTO {self.table} VALUES ({marks})"
        return self._both(lambda: self.con.execute(sql, row),
                          lambda: self.txn.insert(self.table, row, conflict=conflict))

    def update_by_rowid(self, key, row, conflict="ABORT"):
        names = self.txn.table(self.table).schema.column_names
        sets = ", ".join(f"{n} = ?" for n in names)
        sql = f"UPDATE OR {conflict} {self.table} SET {sets} WHERE rowid = ?"
        return self._both(lambda: self.con.execute(sql, tuple(row) + (key,)),
                          lambda: self.txn.update(self.table, key, row, conflict=conflict))

    def _both(self, run_sqlite, run_engine):
        errs = []
        for run in (run_sqlite, run_engine):
            try:
                run()
                errs.append(None)
            except sqlite3.Error as exc:
                errs.append((type(exc), str(exc)))
        return tuple(errs)

    def check_same(self):
        assert engine_state(self.txn, self.table) == \
            sqlite_state(self.con, self.table, self.without_rowid)
        self.db._check()


def expect_failure(pair, call, message, cls=IntegrityError):
    """``call()`` fails identically in both engines and leaves the txn untouched."""
    before_rows = engine_state(pair.txn, pair.table)
    before = txn_fingerprint(pair.txn)
    sqlite_err, engine_err = call()
    assert sqlite_err == (cls, message), sqlite_err  # the oracle agrees with the test
    assert engine_err == sqlite_err
    assert txn_fingerprint(pair.txn) == before
    assert engine_state(pair.txn, pair.table) == before_rows
    assert pair.txn.active
    pair.check_same()


IPK = "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT NOT NULL, b UNIQUE)"


@pytest.fixture
def ipk():
    pair = Pair(IPK)
    for row in [(None, "x", 1), (None, "y", 2), (10, "z", 3)]:
        assert pair.insert(row) == (None, None)
    return pair


def test_not_null_on_insert_and_update(ipk):
    expect_failure(ipk, lambda: ipk.insert((None, None, 5)), "NOT NULL constraint failed: t.a")
    expect_failure(ipk, lambda: ipk.update_by_rowid(2, (2, None, 2)),
                   "NOT NULL constraint failed: t.a")


def test_not_null_is_checked_before_unique(ipk):
    expect_failure(ipk, lambda: ipk.insert((1, None, 1)), "NOT NULL constraint failed: t.a")


def test_duplicate_unique_key_on_insert_and_update(ipk):
    expect_failure(ipk, lambda: ipk.insert((None, "w", 1)), "UNIQUE constraint failed: t.b")
    expect_failure(ipk, lambda: ipk.insert((None, "w", 1.0)), "UNIQUE constraint failed: t.b")
    expect_failure(ipk, lambda: ipk.update_by_rowid(10, (10, "z", 2)),
                   "UNIQUE constraint failed: t.b")
    # NULLs never collide; text '1' is not the integer 1 (b has no affinity).
    assert ipk.insert((None, "n1", None)) == (None, None)
    assert ipk.insert((None, "n2", None)) == (None, None)
    assert ipk.insert((None, "s", "1")) == (None, None)
    ipk.check_same()


def test_duplicate_integer_primary_key(ipk):
    expect_failure(ipk, lambda: ipk.insert((10, "w", 9)), "UNIQUE constraint failed: t.id")
    expect_failure(ipk, lambda: ipk.insert(("10", "w", 9)), "UNIQUE constraint failed: t.id")
    expect_failure(ipk, lambda: ipk.update_by_rowid(1, (2, "x", 1)),
                   "UNIQUE constraint failed: t.id")


@pytest.mark.parametrize("bad", ["abc", 2.5, b"1", "1.5", "7x", ""])
def test_datatype_mismatch_on_integer_primary_key(ipk, bad):
    expect_failure(ipk, lambda: ipk.insert((bad, "w", 99)), "datatype mismatch")
    expect_failure(ipk, lambda: ipk.update_by_rowid(1, (bad, "x", 1)), "datatype mismatch")


def test_update_of_integer_primary_key_to_null_is_a_datatype_mismatch(ipk):
    expect_failure(ipk, lambda: ipk.update_by_rowid(1, (None, "x", 1)), "datatype mismatch")


@pytest.mark.parametrize("good", ["7", 8.0, " 9", "11 ", "+12"])
def test_integer_valued_keys_are_accepted(ipk, good):
    assert ipk.insert((good, "w", 50)) == (None, None)
    ipk.check_same()


def test_without_rowid_duplicate_primary_key():
    pair = Pair("CREATE TABLE w(a, b TEXT, c, PRIMARY KEY(a, b)) WITHOUT ROWID")
    assert pair.insert((1, "x", 1)) == (None, None)
    assert pair.insert((1, "y", 1)) == (None, None)
    expect_failure(pair, lambda: pair.insert((1, "x", 2)), "UNIQUE constraint failed: w.a, w.b")
    expect_failure(pair, lambda: pair.insert((1.0, "x", 2)), "UNIQUE constraint failed: w.a, w.b")
    expect_failure(pair, lambda: pair.insert((None, "q", 2)), "NOT NULL constraint failed: w.a")
    # b has TEXT affinity: the integer 5 is stored as '5', colliding with '5'.
    assert pair.insert((2, "5", 0)) == (None, None)
    expect_failure(pair, lambda: pair.insert((2, 5, 0)), "UNIQUE constraint failed: w.a, w.b")


def test_non_integer_primary_key_on_rowid_table():
    pair = Pair("CREATE TABLE p(k TEXT PRIMARY KEY, v)")
    assert pair.insert(("a", 1)) == (None, None)
    expect_failure(pair, lambda: pair.insert(("a", 2)), "UNIQUE constraint failed: p.k")
    # A rowid table's non-INTEGER primary key may be NULL (SQLite's legacy quirk).
    assert pair.insert((None, 3)) == (None, None)
    assert pair.insert((None, 4)) == (None, None)
    pair.check_same()


def test_composite_unique_constraint():
    pair = Pair("CREATE TABLE u(a, b, c, UNIQUE(a, b))")
    assert pair.insert((1, 1, 0)) == (None, None)
    assert pair.insert((1, 2, 0)) == (None, None)
    assert pair.insert((1, None, 0)) == (None, None)
    assert pair.insert((1, None, 0)) == (None, None)
    expect_failure(pair, lambda: pair.insert((1, 2, 5)), "UNIQUE constraint failed: u.a, u.b")


CHECKED = ("CREATE TABLE c(a INT NOT NULL CHECK(a > 0), b INT, "
           "CONSTRAINT small CHECK(b < 100), CHECK (b<>3))")


def test_check_constraints_with_test_compiler():
    pair = Pair(CHECKED, compiler=ComparisonCompiler())
    assert pair.insert((1, 1)) == (None, None)
    assert pair.insert((2, None)) == (None, None)  # NULL passes a CHECK
    expect_failure(pair, lambda: pair.insert((0, 1)), "CHECK constraint failed: a > 0")
    expect_failure(pair, lambda: pair.insert((5, 100)), "CHECK constraint failed: small")
    expect_failure(pair, lambda: pair.insert((5, 3)), "CHECK constraint failed: b<>3")
    expect_failure(pair, lambda: pair.insert((None, 3)), "NOT NULL constraint failed: c.a")
    expect_failure(pair, lambda: pair.update_by_rowid(1, (-1, 1)),
                   "CHECK constraint failed: a > 0")


def test_check_without_compiler_is_a_clear_error():
    db = Database(":memory:")
    txn = db.begin("IMMEDIATE")
    with pytest.raises(NotSupportedError, match="CHECK constraints"):
        txn.create_table(CHECKED)
    assert "c" not in txn.tables
    txn.rollback()


STRICT = "CREATE TABLE s(i INTEGER, n INT, r REAL, t TEXT, b BLOB, x ANY) STRICT"


@pytest.mark.parametrize("row, message", [
    (("abc", 1, 1.0, "t", b"", 1), "cannot store TEXT value in INTEGER column s.i"),
    ((1.5, 1, 1.0, "t", b"", 1), "cannot store REAL value in INTEGER column s.i"),
    ((1, b"\x00", 1.0, "t", b"", 1), "cannot store BLOB value in INT column s.n"),
    ((1, 1, "x", "t", b"", 1), "cannot store TEXT value in REAL column s.r"),
    ((1, 1, 1.0, b"t", b"", 1), "cannot store BLOB value in TEXT column s.t"),
    ((1, 1, 1.0, "t", "b", 1), "cannot store TEXT value in BLOB column s.b"),
    ((1, 1, 1.0, "t", 7, 1), "cannot store INT value in BLOB column s.b"),
])
def test_strict_type_errors(row, message):
    pair = Pair(STRICT)
    assert pair.insert((1, 2, 3.5, "ok", b"\x01", "any")) == (None, None)
    expect_failure(pair, lambda: pair.insert(row), message)


def test_strict_conversions_match_sqlite():
    pair = Pair(STRICT)
    for row in [("12", "13", 4, 5, b"", "7"), (1.0, 2.0, "2.5", 3.5, None, 1.5),
                (None, None, None, None, None, None), (" 12 ", 1, " 1e3", "x", b"", b"y")]:
        assert pair.insert(row) == (None, None)
    pair.check_same()


def test_wrong_number_of_values():
    pair = Pair(IPK)
    with pytest.raises(OperationalError,
                       match="table t has 3 columns but 2 values were supplied"):
        pair.txn.insert("t", (None, "x"))
    assert pair.txn.writes == {}


# ---------------------------------------------------------------------------
# OR IGNORE / OR REPLACE against sqlite3
# ---------------------------------------------------------------------------

CONFLICT_DDL = "CREATE TABLE t(id INTEGER PRIMARY KEY, a UNIQUE, b UNIQUE, c)"
STATEMENTS = st.lists(
    st.tuples(st.sampled_from(["insert", "update"]),
              st.sampled_from(["ABORT", "IGNORE", "REPLACE"]),
              st.one_of(st.none(), st.integers(1, 6)),   # id (insert) / target rowid (update)
              st.one_of(st.none(), st.integers(0, 3)),   # a
              st.one_of(st.none(), st.integers(0, 3)),   # b
              st.integers(1, 6)),                         # new id for update
    min_size=1, max_size=25)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(STATEMENTS)
def test_conflict_resolution_matches_sqlite(statements):
    pair = Pair(CONFLICT_DDL)
    for n, (kind, conflict, key, a, b, new_id) in enumerate(statements):
        if kind == "insert":
            errs = pair.insert((key, a, b, n), conflict)
        else:
            if key is None or pair.txn.get("t", key) is None:
                continue
            errs = pair.update_by_rowid(key, (new_id, a, b, n), conflict)
        assert errs[1] == errs[0], (kind, conflict, key, a, b, new_id)
        pair.check_same()


def test_ignore_returns_none_and_replace_deletes_every_conflicting_row():
    pair = Pair(CONFLICT_DDL)
    for row in [(1, 1, 1, "r1"), (2, 2, 2, "r2"), (3, 3, 3, "r3")]:
        pair.insert(row)
    assert pair.txn.insert("t", (9, 1, 9, "ign"), conflict="IGNORE") is None
    pair.con.execute("INSERT OR IGNORE INTO t VALUES (9, 1, 9, 'ign')")
    assert pair.insert((4, 1, 2, "rep"), "REPLACE") == (None, None)
    assert engine_state(pair.txn, "t") == sqlite_state(pair.con, "t")
    assert [row for _k, row in pair.txn.scan("t")] == [(3, 3, 3, "r3"), (4, 1, 2, "rep")]
    pair.db._check()


@pytest.mark.parametrize("ddl, extra", [
    ("CREATE TABLE t(id INTEGER PRIMARY KEY, a UNIQUE, b UNIQUE)", ()),
    ("CREATE TABLE t(a PRIMARY KEY, b UNIQUE)", ()),
    ("CREATE TABLE t(a UNIQUE, b PRIMARY KEY, c UNIQUE)", ()),
    ("CREATE TABLE t(a, b UNIQUE, c, PRIMARY KEY(c), UNIQUE(a))", ()),
    ("CREATE TABLE t(a, b, c)", ("CREATE UNIQUE INDEX i1 ON t(a)", "CREATE UNIQUE INDEX i2 ON t(b)")),
    ("CREATE TABLE t(a UNIQUE, b, c UNIQUE)", ("CREATE UNIQUE INDEX i2 ON t(b)",)),
])
def test_row_violating_several_unique_constraints_reports_sqlites_choice(ddl, extra):
    """SQLite checks the rowid first, then indexes newest first; the message names
    the first violated one."""
    pair = Pair(ddl)
    w = pair.db.begin("IMMEDIATE")
    pair.txn.rollback()
    for sql in extra:
        pair.con.execute(sql)
        w.create_index(sql)
    w.commit()
    pair.txn = pair.db.begin("DEFERRED")
    first = (1, 1, 1)[:pair.ncols]
    assert pair.insert(first) == (None, None)
    sqlite_err, engine_err = pair.insert(first)
    assert sqlite_err is not None and engine_err == sqlite_err
