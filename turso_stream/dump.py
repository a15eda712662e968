"""``Connection.iterdump()`` and ``Connection.backup()``.

``iterdump`` produces the same text as Python 3.11's ``sqlite3`` iterdump: one
``BEGIN TRANSACTION;``, then for each table in name order its CREATE statement
and one ``INSERT INTO "t" VALUES(...)`` per row (values rendered by SQL
``quote()``, run through the engine exactly as the stdlib runs it through
SQLite), then the CREATE statements of indexes, triggers and views, then
``COMMIT;``. The schema comes from the engine's catalog (it has no
``sqlite_master`` table to query).

``backup`` copies a whole database into another connection, either ours or a
stdlib ``sqlite3.Connection``, replacing what the target held. Rowids are
preserved for rowid tables, as a page-level SQLite backup would.
"""

from __future__ import annotations

import sqlite3 as _sqlite3

from engine.database import Database
from engine.errors import OperationalError

__all__ = ["iterdump", "backup", "copy_database", "schema_entries"]


_MATERIALIZED = "CREATE MATERIALIZED VIEW "


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


from engine.sql.functions.core import quote_value  # noqa: E402  (SQLite's quote())


def schema_entries(conn) -> list:
    """``(type, name, tbl_name, sql)`` of every schema object with SQL text, for one
    of our connections or a stdlib sqlite3 one, in schema order."""
    from turso_stream.dbapi import Connection
    if isinstance(conn, Connection):
        return [e for e in Database.schema_entries(conn._catalog()) if e[3] is not None]
    rows = conn.execute(
        'SELECT "type", "name", "tbl_name", "sql" FROM "sqlite_master" '
        'WHERE "sql" NOT NULL').fetchall()
    return [tuple(r) for r in rows]


def iterdump(conn):
    """Yield the dump lines of ``conn`` (see module docstring). O(rows)."""
    cursor = conn.cursor()
    cursor.row_factory = None
    entries = schema_entries(conn)
    yield "BEGIN TRANSACTION;"
    tables = sorted((e for e in entries if e[0] == "table"), key=lambda e: e[1])
    sequence = []
    for _type, name, _tbl, sql in tables:
        if name == "sqlite_sequence":
            # As sqlite3's iterdump: the AUTOINCREMENT counters are restored last.
            sequence = ['DELETE FROM "sqlite_sequence";'] + [
                f'INSERT INTO "sqlite_sequence" VALUES({quote_value(t)},{seq});'
                for t, seq in cursor.execute('SELECT * FROM "sqlite_sequence"').fetchall()]
            continue
        if name.startswith("sqlite_"):
            continue
        yield f"{sql};"
        columns = _column_names(cursor, name)
        ident = name.replace('"', '""')
        values = ",".join("'||quote(" + _quote_ident(c) + ")||'" for c in columns)
        query = f"SELECT 'INSERT INTO \"{ident}\" VALUES({values})' FROM \"{ident}\";"
        for (line,) in cursor.execute(query).fetchall():
            yield f"{line};"
    for type_, _name, _tbl, sql in entries:
        if type_ in ("index", "trigger", "view"):
            yield f"{sql};"
    yield from sequence
    yield "COMMIT;"


def _column_names(cursor, table: str) -> list:
    rows = cursor.execute(f"PRAGMA table_info({_quote_ident(table)})").fetchall()
    return [str(r[1]) for r in rows]


def _table_is_rowid(conn, name: str) -> bool:
    from turso_stream.dbapi import Connection
    if isinstance(conn, Connection):
        schema = conn._catalog().table(name)
        return schema is not None and not schema.without_rowid
    try:
        conn.execute(f"SELECT rowid FROM {_quote_ident(name)} LIMIT 0")
    except _sqlite3.OperationalError:
        return False
    return True


def _clear(target) -> None:
    """Drop every view, trigger and table (indexes go with their tables) of ``target``."""
    order = {"view": 0, "trigger": 1, "table": 2}
    for type_, name, _tbl, _sql in sorted(
            (e for e in schema_entries(target) if e[0] in order and not
             e[1].startswith("sqlite_")), key=lambda e: order[e[0]]):
        target.execute(f"DROP {type_.upper()} IF EXISTS {_quote_ident(name)}")


def copy_database(source, target, *, pages: int = -1, progress=None) -> None:
    """Replace ``target``'s contents with ``source``'s, inside one target transaction.

    ``source`` is one of our connections or a ``_SqliteSource``-like object with a
    ``conn`` attribute holding a stdlib connection. Rows go across in steps of
    ``pages`` rows (all at once when ``pages <= 0``); ``progress(0, remaining, total)``
    runs after each step. O(rows).
    """
    reader = getattr(source, "conn", source)
    entries = [e for e in schema_entries(reader) if not e[1].startswith("sqlite_")]
    tables = [e for e in entries if e[0] == "table"]
    plans = []
    total = 0
    for _type, name, _tbl, _sql in tables:
        columns = _column_names(reader.cursor(), name)
        rowid = _table_is_rowid(reader, name)
        select_cols = (["rowid"] if rowid else []) + [_quote_ident(c) for c in columns]
        rows = reader.execute(
            f"SELECT {', '.join(select_cols)} FROM {_quote_ident(name)}").fetchall()
        insert_cols = (["rowid"] if rowid else []) + [_quote_ident(c) for c in columns]
        insert = (f"INSERT INTO {_quote_ident(name)}({', '.join(insert_cols)}) "
                  f"VALUES({', '.join('?' * len(insert_cols))})")
        plans.append((insert, [tuple(r) for r in rows]))
        total += len(rows)
    target.execute("BEGIN")
    try:
        _clear(target)
        for _type, _name, _tbl, sql in tables:
            target.execute(sql)
        remaining = total
        step = pages if pages > 0 else max(total, 1)
        for insert, rows in plans:
            for start in range(0, len(rows), step):
                chunk = rows[start:start + step]
                target.executemany(insert, chunk)
                remaining -= len(chunk)
                if progress is not None and pages > 0:
                    progress(0, remaining, total)
        plain_target = isinstance(target, _sqlite3.Connection)
        for type_, _name, _tbl, sql in entries:
            if type_ != "table":
                if plain_target and sql.startswith(_MATERIALIZED):
                    # sqlite3 has no materialized views: the plain view gives the same rows
                    sql = "CREATE VIEW " + sql[len(_MATERIALIZED):]
                target.execute(sql)
        target.execute("COMMIT")
    except BaseException:
        if target.in_transaction:
            target.execute("ROLLBACK")
        raise
    if progress is not None and pages <= 0:
        progress(0, 0, total)


def backup(source, target, *, pages: int = -1, progress=None) -> None:
    """``Connection.backup``: copy ``source`` (ours) into ``target`` (ours or sqlite3's).

    Raises TypeError for another kind of target, ValueError for the same connection
    and OperationalError("target is in transaction") as sqlite3 does.
    """
    from turso_stream.dbapi import Connection
    if not isinstance(target, (Connection, _sqlite3.Connection)):
        raise TypeError(
            f"backup() argument 'target' must be turso_stream.Connection or "
            f"sqlite3.Connection, not {type(target).__name__}")
    if target is source:
        raise ValueError("target cannot be the same connection instance")
    if target.in_transaction:
        raise OperationalError("target is in transaction")
    if progress is not None and not callable(progress):
        raise TypeError("progress argument must be a callable")
    if isinstance(target, Connection) and target._db is source._db:
        raise OperationalError("source and target are the same database")
    copy_database(source, target, pages=pages, progress=progress)
