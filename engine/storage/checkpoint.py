"""Checkpoint: the committed state written as an ordinary SQLite database file.

``<db>`` is a real SQLite file that the stdlib ``sqlite3`` module (or DB Browser,
Datasette, the sqlite3 shell) opens and reads: same tables, indexes, rows. It is
built in memory through ``sqlite3`` (``Connection.serialize``), then written
through the engine's ``FileSystem`` to ``<db>-tmp``, fsynced, and renamed over
``<db>``; so every byte goes through the fault-injectable I/O layer and a crash
leaves either the old or the new file. A table ``_turso_stream_meta`` records the
commit timestamp the file reflects; recovery replays only later log frames.

Cost: O(database size) per checkpoint. Checkpoints run when the log outgrows
the database file (amortized O(1) per logged byte) and on close.

Loading is the reverse: read the file's bytes through the FileSystem,
``deserialize`` them into an in-memory ``sqlite3`` connection, and import the
schema (``sqlite_schema``) and every row, so an existing SQLite database opens
here unchanged.
"""

from __future__ import annotations

import sqlite3

from engine.catalog import parse_create_table
from engine.errors import DatabaseError

META_TABLE = "_turso_stream_meta"
_BATCH = 10_000
# A materialized view is written as the plain view sqlite3 can read (same rows);
# the meta table marks it (key 'materialized_view', value its name) for load_image.
_MATERIALIZED = "CREATE MATERIALIZED VIEW "
_PLAIN = "CREATE VIEW "


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# Fields of the SQLite file header a database keeps (PRAGMA of the same name): logged
# when set, written into every checkpoint image, read back on open.
HEADER_FIELDS = ("user_version", "application_id")


def build_image(catalog, tables, schema_entries, ts: int, header: dict | None = None) -> bytes:
    """Serialize the committed state at ``ts`` into SQLite database bytes.

    ``tables`` maps name.lower() -> engine Table (its latest versions are the
    state at ``ts``: the caller holds the write lock). ``schema_entries`` are
    ``(type, name, tbl_name, sql)`` in creation order.
    """
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        deferred = []
        materialized = []
        for type_, name, _tbl, sql in schema_entries:
            if type_ == "view" and sql.startswith(_MATERIALIZED):
                sql = _PLAIN + sql[len(_MATERIALIZED):]
                materialized.append(("materialized_view", name))
            if name.lower() == "sqlite_sequence":
                continue  # SQLite made it with the first AUTOINCREMENT table
            if type_ == "table":
                conn.execute(sql)
                _copy_rows(conn, tables[name.lower()])
            else:
                deferred.append(sql)
        if "sqlite_sequence" in tables:
            # Copying rows advanced SQLite's own sequence; ours is the truth.
            conn.execute("DELETE FROM sqlite_sequence")
            _copy_rows(conn, tables["sqlite_sequence"])
        for sql in deferred:  # indexes after the data (faster), then views, triggers
            conn.execute(sql)
        conn.execute(f"CREATE TABLE {META_TABLE}(key TEXT, value)")
        conn.executemany(f"INSERT INTO {META_TABLE} VALUES (?, ?)",
                         [("checkpoint_ts", ts), ("format", 1)] + materialized)
        for field, value in (header or {}).items():  # the file header's (HEADER_FIELDS)
            conn.execute(f"PRAGMA {field} = {int(value)}")
        conn.execute("COMMIT")
        return conn.serialize()
    finally:
        conn.close()


def _copy_rows(conn, table) -> None:
    schema = table.schema
    cols = [i for i, c in enumerate(schema.columns) if not c.generated_sql]
    names = [_quote(schema.columns[i].name) for i in cols]
    with_rowid = not schema.without_rowid and schema.rowid_alias is None
    if with_rowid:
        names.insert(0, "rowid")
    marks = ", ".join("?" * len(names))
    sql = f"INSERT INTO {_quote(schema.name)}({', '.join(names)}) VALUES ({marks})"
    rows = table.versions.rows
    full = len(cols) == len(schema.columns)
    if with_rowid:
        data = ((k,) + (r if full else tuple(r[i] for i in cols)) for k, r in rows.items())
    else:
        data = (r if full else tuple(r[i] for i in cols) for r in rows.values())
    conn.executemany(sql, data)


def load_image(data: bytes, header: dict | None = None):
    """Read a SQLite database image: ``(schema_entries, rows_by_table, checkpoint_ts)``.

    ``rows_by_table[name.lower()]`` is a list of ``(rowid_or_None, row)``.
    Tables named ``sqlite_*`` (internal) and the meta table are not imported.
    ``header``, if given, receives the file header's ``HEADER_FIELDS``.
    """
    conn = sqlite3.connect(":memory:")
    try:
        try:
            conn.deserialize(data)
            entries = conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY rowid").fetchall()
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(str(exc)) from None
        schema, rows, ts = [], {}, 0
        if header is not None:
            for field in HEADER_FIELDS:
                header[field] = conn.execute(f"PRAGMA {field}").fetchone()[0]
        materialized = set()
        if any(e[1] == META_TABLE for e in entries):
            meta = conn.execute(f"SELECT key, value FROM {META_TABLE}").fetchall()
            ts = dict(meta).get("checkpoint_ts", 0)
            materialized = {v.lower() for k, v in meta if k == "materialized_view"}
        for type_, name, tbl, sql in entries:
            if name == META_TABLE:
                continue
            if type_ == "view" and name.lower() in materialized and sql.startswith(_PLAIN):
                sql = _MATERIALIZED + sql[len(_PLAIN):]
            if (name.startswith("sqlite_") and name != "sqlite_sequence") or sql is None:
                continue
            schema.append((type_, name, tbl, sql))
            if type_ == "table":
                without_rowid = parse_create_table(sql).without_rowid
                rows[name.lower()] = _read_rows(conn, name, without_rowid)
        return schema, rows, ts
    finally:
        conn.close()


def _read_rows(conn, name: str, without_rowid: bool):
    """Every row of table ``name`` as ``(rowid or None, row)`` in storage order."""
    q = _quote(name)
    if without_rowid:
        return [(None, tuple(r)) for r in conn.execute(f"SELECT * FROM {q}")]
    info = conn.execute(f"PRAGMA table_xinfo({q})").fetchall()
    cols = ", ".join(_quote(c[1]) for c in info)
    for rowid_name in ("rowid", "_rowid_", "oid"):
        if all(c[1].lower() != rowid_name for c in info):
            cur = conn.execute(f"SELECT {rowid_name}, {cols} FROM {q}")
            return [(r[0], r[1:]) for r in cur]
    raise DatabaseError(f"cannot read the rowids of table {name}")
