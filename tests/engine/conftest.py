"""Fixtures shared by the engine's transaction, isolation, constraint and catalog tests.

Helpers are handed out as fixtures (``--import-mode=importlib`` makes a
conftest module awkward to import from test files).
"""

from __future__ import annotations

import sqlite3

import pytest

from engine.database import Database


def _make_db(*ddl: str, rows: dict | None = None, compiler=None) -> Database:
    """A fresh in-memory Database with tables ``ddl`` and committed ``rows``."""
    db = Database(":memory:", compiler=compiler)
    txn = db.begin("IMMEDIATE")
    for sql in ddl:
        txn.create_table(sql)
    for table, table_rows in (rows or {}).items():
        for row in table_rows:
            txn.insert(table, row)
    txn.commit()
    db._check()
    return db


def _committed(db: Database, table: str) -> dict:
    """``{key: row}`` of ``table`` as a new snapshot sees it (reads end their txn)."""
    txn = db.begin("DEFERRED")
    try:
        return dict(txn.scan(table))
    finally:
        txn.rollback()


def _assert_quiescent(db: Database) -> None:
    """No transaction is active: no version history is retained anywhere and every
    index holds exactly one entry per live row."""
    db._check()
    assert not db._active, list(db._active)
    for t in db.tables.values():
        v = t.versions
        assert v.history == {}, (t.name, v.history)
        assert v.begins == {}, (t.name, v.begins)
        for ix in t.indexes:
            expected = sum(1 for key, row in v.rows.items() if ix.key_of(row, key) is not None)
            assert len(ix) == expected, (ix.schema.name, len(ix), expected)


def _sqlite_error(ddl, statements):
    """Run ``statements`` (``(sql, params)``) on stdlib sqlite3 after ``ddl``;
    return ``(class, message)`` of the last statement's error, or None."""
    con = sqlite3.connect(":memory:")
    try:
        for sql in ([ddl] if isinstance(ddl, str) else ddl):
            con.execute(sql)
        err = None
        for sql, params in statements:
            err = None
            try:
                con.execute(sql, params)
            except sqlite3.Error as exc:
                err = (type(exc), str(exc))
        return err
    finally:
        con.close()


@pytest.fixture
def make_db():
    """Factory: ``make_db(*create_table_sql, rows={table: [row, ...]}, compiler=None)``."""
    return _make_db


@pytest.fixture
def committed():
    """``committed(db, table) -> {key: row}`` at a fresh snapshot."""
    return _committed


@pytest.fixture
def assert_quiescent():
    """``assert_quiescent(db)``: no history/begins retained, indexes exact, _check() passes."""
    return _assert_quiescent


@pytest.fixture
def sqlite_error():
    """``sqlite_error(ddl, [(sql, params), ...]) -> (exc class, message) | None``."""
    return _sqlite_error
