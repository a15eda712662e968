"""A compiled view stepped by hand against stdlib sqlite3 running the same SELECT.

``OracleHarness(setup_sql, queries)`` creates the tables in an engine ``Session``
(for the schema the compiler reads) and in sqlite3; ``apply(ops)`` runs one tick
of row operations (insert/delete/update by rowid) on the sqlite3 tables and feeds
the same changes, as Z-set deltas of ``row + (rowid,)``, to every compiled view;
``check()`` compares each view's integrated contents with sqlite3's result as a
type-strict multiset (1 and 1.0 are different values here, as in SQLite).
Used by test_windows.py and test_recursive_views.py.
"""

from __future__ import annotations

import sqlite3
from collections import Counter

from hypothesis import strategies as st

from dbsp import ZSet
from engine.database import open_database
from engine.ivm import compile_view
from engine.sql.parse import parse_one
from engine.sql.session import Session


def strict(row) -> tuple:
    """A row as a type-strict, hashable tuple."""
    return tuple((type(v).__name__, v) for v in row)


class OracleHarness:
    """Tables in sqlite3 plus views compiled from ``queries`` and maintained by hand."""

    def __init__(self, setup_sql: list[str], queries: list[str]):
        self.session = Session(open_database())
        self.oracle = sqlite3.connect(":memory:", isolation_level=None)
        for sql in setup_sql:
            self.session.execute(sql)
            self.oracle.execute(sql)
        self.session._ensure_txn()
        self.queries = queries
        self.views = [compile_view(self.session, parse_one(q)) for q in queries]
        self.contents = [Counter() for _ in queries]
        self.rows: dict[str, dict[int, tuple]] = {}   # table -> rowid -> row
        self.next_rowid = 1
        self.step({})

    def step(self, deltas: dict) -> None:
        for view, contents in zip(self.views, self.contents):
            for row, weight in view.step(deltas).items():
                key = strict(row)
                contents[key] += weight
                if not contents[key]:
                    del contents[key]
            view.circuit._check()

    def apply(self, ops) -> None:
        """One tick: ``ops`` are ``("ins", table, row)``, ``("del", table, n)`` and
        ``("upd", table, n, row)`` (``n`` picks an existing row by position)."""
        deltas: dict[str, ZSet] = {}
        for op in ops:
            table = op[1]
            rows = self.rows.setdefault(table, {})
            delta = deltas.setdefault(table, ZSet())
            if op[0] == "ins":
                rowid = self.next_rowid
                self.next_rowid += 1
                rows[rowid] = op[2]
                self._insert(table, rowid, op[2])
                delta.add_row(op[2] + (rowid,), 1)
                continue
            if not rows:
                continue
            rowid = sorted(rows)[op[2] % len(rows)]
            old = rows.pop(rowid)
            delta.add_row(old + (rowid,), -1)
            self.oracle.execute(f"DELETE FROM {table} WHERE rowid = ?", (rowid,))
            if op[0] == "upd":
                rows[rowid] = op[3]
                self._insert(table, rowid, op[3])
                delta.add_row(op[3] + (rowid,), 1)
        self.step(deltas)

    def _insert(self, table, rowid, row):
        marks = ", ".join("?" * (len(row) + 1))
        self.oracle.execute(f"INSERT INTO {table}(rowid, {self._columns(table)}) "
                            f"VALUES ({marks})", (rowid,) + row)

    def _columns(self, table):
        info = self.oracle.execute(f"PRAGMA table_info({table})").fetchall()
        return ", ".join(c[1] for c in info)

    def check(self) -> None:
        for query, contents in zip(self.queries, self.contents):
            bad = {k: w for k, w in contents.items() if w < 0}
            assert not bad, (query, bad)
            expected = Counter(strict(r) for r in self.oracle.execute(query).fetchall())
            assert contents == expected, (query, sorted(contents - expected, key=repr),
                                          sorted(expected - contents, key=repr))


def tick_ops(table: str, row_strategy, max_ops: int = 3):
    """A strategy for one tick's operations on ``table``."""
    op = st.one_of(
        st.tuples(st.just("ins"), st.just(table), row_strategy),
        st.tuples(st.just("del"), st.just(table), st.integers(0, 50)),
        st.tuples(st.just("upd"), st.just(table), st.integers(0, 50), row_strategy))
    return st.lists(op, min_size=1, max_size=max_ops)
