"""The change feed in Python: read, resume, trim and export ``turso_cdc``.

Capture is switched on per connection with Turso's pragma (see ``engine.cdc``)::

    conn.execute("PRAGMA capture_data_changes_conn('full')")

and the feed is database-wide and durable. A consumer keeps the last
``change_id`` it processed and resumes from it, after a restart or a crash::

    for change in conn.changes(since=last_id, tables={"orders"}):
        handle(change)          # change.kind, change.table, change.after_dict, ...
        last_id = change.change_id

``changes`` yields only commits that are durable (it never shows a change a crash
could take back, so a resumed consumer sees each committed change exactly once, in
commit order). It reads what is there now and stops; call it again to poll (the
``turso_stream.signals.table_changed`` signal for the CDC table tells when).

``trim_changes(conn, before_change_id)`` deletes older history; change_ids are
never reused. ``changes_debezium`` yields the same changes as Debezium envelopes
(``{"before", "after", "source", "op", "ts_ms", "transaction"}``) for Kafka and
similar pipelines; BLOB values are base64 text, as Debezium's default encodes bytes.

Schema changes (CREATE/DROP/ALTER of tables, indexes, views, triggers) are changes
of table ``sqlite_schema`` (Turso's convention; see ``engine.cdc.schema_changes``),
in the same ordered feed: ``change.is_schema``, ``change.before_dict`` /
``after_dict`` keyed by ``type, name, tbl_name, rootpage, sql``, and
``change.ddl`` the statement that replays it. A ``tables`` filter passes a schema
change when it names ``sqlite_schema`` or the table the object belongs to.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable, Iterator

import attrs

from engine.cdc import (CDC_TABLE, COMMIT, DELETE, INSERT, SCHEMA_COLUMNS, SCHEMA_TABLE, UPDATE,
                        decode_record, durable_ts, sql_name)
from engine.catalog import parse_create_table
from engine.errors import OperationalError

__all__ = ["Change", "changes", "trim_changes", "changes_debezium", "debezium_envelope"]

_KINDS = {INSERT: "insert", UPDATE: "update", DELETE: "delete"}
_OPS = {INSERT: "c", UPDATE: "u", DELETE: "d"}
BATCH = 1000  # CDC rows read per snapshot


@attrs.frozen(slots=True)
class Change:
    """One captured row change (a row of ``turso_cdc``, decoded).

    ``type`` is Turso's code (1 insert, 0 update, -1 delete); ``before``/``after``
    are the row's values in column order (None when the capture mode did not
    record them); ``columns`` are the table's column names in today's schema
    (``SCHEMA_COLUMNS`` for a schema change); ``updates`` is Turso's updates
    record decoded (mode full, updates only): N changed-flags, then N values.
    """

    change_id: int
    change_time: int
    txn_id: int
    type: int
    table: str
    id: object
    before: tuple | None
    after: tuple | None
    columns: tuple = ()
    updates: tuple | None = None

    @property
    def is_schema(self) -> bool:
        """True for a schema change (a row of ``sqlite_schema``)."""
        return self.table == SCHEMA_TABLE

    @property
    def ddl(self) -> str | None:
        """For a schema change, the statement that replays it (as Turso's sync engine
        replays one): an insert's CREATE text, ``DROP <type> <name>`` for a delete,
        an update's ALTER TABLE statement(s). None for a row change, or when the
        capture mode did not record what it needs (after / before / full)."""
        if self.table != SCHEMA_TABLE:
            return None
        if self.type == INSERT:
            return None if self.after is None else self.after[4]
        if self.type == DELETE:
            if self.before is None:
                return None
            kind, sql = self.before[0], self.before[4] or ""
            if kind == "view" and sql[:24].upper().startswith("CREATE MATERIALIZED VIEW"):
                kind = "materialized view"
            return f"DROP {kind.upper()} {sql_name(self.before[1])}"
        if self.updates is None or len(self.updates) != 10 or not self.updates[4]:
            return None
        return self.updates[9]

    @property
    def kind(self) -> str:
        """'insert', 'update' or 'delete'."""
        return _KINDS[self.type]

    @property
    def op(self) -> str:
        """Debezium's operation letter: c, u or d."""
        return _OPS[self.type]

    @property
    def before_dict(self) -> dict | None:
        """``before`` keyed by column name (None when not captured)."""
        return _as_dict(self.columns, self.before)

    @property
    def after_dict(self) -> dict | None:
        """``after`` keyed by column name (None when not captured)."""
        return _as_dict(self.columns, self.after)


def _wanted(change_row, wanted) -> bool:
    """Does the ``tables`` filter pass this CDC row? A schema change passes when
    the filter names ``sqlite_schema`` or the object's table (before or after)."""
    name = change_row[4]
    if name is None:
        return False
    lname = name.lower()
    if lname in wanted:
        return True
    if lname != SCHEMA_TABLE:
        return False
    for blob in (change_row[6], change_row[7]):
        if blob is not None:
            tbl = decode_record(blob)[2]
            if isinstance(tbl, str) and tbl.lower() in wanted:
                return True
    return False


def _as_dict(columns, values):
    if values is None:
        return None
    return {(columns[i] if i < len(columns) else str(i)): v for i, v in enumerate(values)}


def changes(conn, since: int = 0, tables: Iterable[str] | None = None,
            cdc_table: str = CDC_TABLE) -> Iterator[Change]:
    """Yield the captured changes with ``change_id > since``, in change_id order.

    Only durable commits are read; commit markers (type 2) are skipped. ``tables``
    limits the feed to those table names (case-insensitive). Reads in batches of
    ``BATCH`` rows, each at a fresh snapshot: O(log n + k) per batch.
    """
    db = conn._db
    wanted = None if tables is None else {t.lower() for t in tables}
    lo = int(since) + 1
    while True:
        txn = db.begin()
        try:
            if txn.catalog.table(cdc_table) is None:
                return
            limit = durable_ts(db)
            # Skip trimmed ranges: start at the first stored id >= lo.
            first = next(iter(txn.table(cdc_table).versions.rows.irange(lo)), None)
            if first is None:
                return
            lo = max(lo, first)
            batch = list(txn.scan(cdc_table, lo, lo + BATCH - 1))
            columns_of = _columns_reader(txn)
        finally:
            txn.rollback()
        for change_id, row in batch:
            if row[2] > limit:
                return  # not durable yet: stop before it (later ids are later commits)
            kind = row[3]
            if kind == COMMIT:
                continue
            name = row[4]
            if name == SCHEMA_TABLE and row[7] is not None:
                columns_of.learn(decode_record(row[7]))
            if wanted is not None and not _wanted(row, wanted):
                continue
            yield Change(change_id, row[1], row[2], kind, name, row[5],
                         None if row[6] is None else decode_record(row[6]),
                         None if row[7] is None else decode_record(row[7]),
                         columns_of(name),
                         None if row[8] is None else decode_record(row[8]))
        lo += BATCH


def _columns_reader(txn):
    """A cached ``table name -> column names`` lookup in ``txn``'s catalog;
    ``.learn(schema_row)`` records a table's columns from a schema change's after
    image, so rows after an ALTER or of a since-dropped table are named as that
    change left the table (rows before the first schema change a read meets are
    named by today's schema; extra values by position)."""
    cache = {}
    catalog = txn.catalog

    def learn(schema_row):
        if schema_row[0] == "table" and isinstance(schema_row[4], str):
            try:
                schema = parse_create_table(schema_row[4])
            except OperationalError:
                return
            cache[schema_row[1]] = tuple(c.name for c in schema.columns)

    def columns_of(name):
        cols = cache.get(name)
        if cols is None and name == SCHEMA_TABLE:
            cols = SCHEMA_COLUMNS
        if cols is None:
            t = catalog.table(name) if name is not None else None
            cols = cache[name] = tuple(c.name for c in t.columns) if t is not None else ()
        return cols
    columns_of.learn = learn
    return columns_of


def trim_changes(conn, before_change_id: int, cdc_table: str = CDC_TABLE) -> int:
    """Delete captured history with ``change_id < before_change_id``; return how many
    rows went. Later change_ids are unaffected and never reused (AUTOINCREMENT).
    One write transaction: O(k log n) for k rows deleted."""
    if conn.in_transaction:
        raise OperationalError("cannot trim the change feed inside an open transaction")
    db = conn._db
    txn = db.begin("IMMEDIATE", conn._session.timeout)
    try:
        if txn.catalog.table(cdc_table) is None:
            txn.rollback()
            return 0
        keys = [k for k, _row in txn.scan(cdc_table, None, int(before_change_id) - 1)]
        for k in keys:
            txn.delete(cdc_table, k)
    except BaseException:
        txn.rollback()
        raise
    txn.commit()
    return len(keys)


def _debezium_value(v):
    if isinstance(v, bytes):
        return base64.b64encode(v).decode("ascii")
    return v


def _debezium_row(columns, values):
    if values is None:
        return None
    return {(columns[i] if i < len(columns) else str(i)): _debezium_value(v)
            for i, v in enumerate(values)}


def debezium_envelope(change: Change, *, name: str = "turso_stream",
                      now_ms: int | None = None) -> dict:
    """``change`` as a Debezium change-event value (the envelope Kafka consumers read).

    ``source.ts_ms`` is the commit time (second precision, as ``turso_cdc`` stores
    it); the top-level ``ts_ms`` is when the event was produced.

    A schema change is an ordinary row event of table ``sqlite_schema`` (op c/u/d,
    before/after keyed by type, name, tbl_name, rootpage, sql) with the replaying
    statement in ``source.query`` (the field Debezium's MySQL connector fills with
    ``include.query``). Debezium's own schema-change topic carries a different
    shape (``{"source", "databaseName", "schemaName", "ddl", "tableChanges"}`` with
    parsed column definitions); we do not emit that: one envelope shape on one
    ordered stream keeps DDL in commit order with the rows around it.
    """
    from turso_stream import __version__
    source = {
        "version": __version__, "connector": "turso_stream", "name": name,
        "ts_ms": change.change_time * 1000, "snapshot": "false", "db": "main",
        "table": change.table, "txn_id": change.txn_id, "change_id": change.change_id,
    }
    if change.is_schema:
        source["query"] = change.ddl
    return {
        "before": _debezium_row(change.columns, change.before),
        "after": _debezium_row(change.columns, change.after),
        "source": source,
        "op": change.op,
        "ts_ms": int(time.time() * 1000) if now_ms is None else now_ms,
        "transaction": {"id": str(change.txn_id)},
    }


def changes_debezium(conn, since: int = 0, tables: Iterable[str] | None = None,
                     cdc_table: str = CDC_TABLE) -> Iterator[dict]:
    """``changes(...)`` as Debezium envelopes (see ``debezium_envelope``)."""
    name = conn._db.path
    for change in changes(conn, since, tables, cdc_table):
        yield debezium_envelope(change, name=name)
