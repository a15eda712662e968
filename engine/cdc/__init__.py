"""Change data capture (CDC): Turso's ``turso_cdc`` feed, written inside the commit.

Surface (Turso Database's, so its users' tools keep working):

* ``PRAGMA capture_data_changes_conn('off|id|before|after|full[,table]')`` turns
  capture on for *this connection's* writes; the query form returns
  ``(mode, table, version)``. Enabling creates the CDC table (default
  ``turso_cdc``) and ``turso_cdc_version`` when missing.
* The CDC table (an ordinary table, checkpointed into the SQLite file)::

      change_id INTEGER PRIMARY KEY AUTOINCREMENT, change_time INTEGER,
      change_txn_id INTEGER, change_type INTEGER, table_name TEXT, id,
      before BLOB, after BLOB, updates BLOB

  ``change_type``: 1 insert, 0 update, -1 delete, 2 the end of a transaction.
  ``before``/``after`` are SQLite records (fileformat2.html, "Record Format") of the
  row's columns in declared order: ``before`` in modes before/full, ``after`` in
  after/full. ``updates`` (mode full, updates only) is a record of 2N values: N
  flags (1 = column changed), then the N new values (NULL where unchanged).
* ``table_columns_json_array(table)`` and ``bin_record_json_object(columns, blob)``
  read a record as a JSON object (a BLOB value becomes its hex text; Turso refuses).

Semantics (ours, stricter than a per-statement log):

* One CDC row per row a transaction changed, with its net effect (a row inserted
  then updated in one transaction is one insert; inserted then deleted: nothing),
  then one commit row. ``change_txn_id`` is the commit timestamp: durable,
  unique, increasing in commit order.
* ``capture`` runs in ``Database._apply_commit`` under the write lock, before the
  log frame is encoded: CDC rows are logged and installed with the changes they
  describe (one frame, atomic), ``change_id`` increases in commit order even for
  BEGIN CONCURRENT writers, and a rolled-back transaction leaves nothing.
* change_ids are never reused (AUTOINCREMENT): the same commit advances the CDC
  table's ``sqlite_sequence`` row, so trimming the history never rewinds them.
* Schema changes are rows of table ``sqlite_schema`` (Turso's convention), before
  the transaction's row changes: a record ``(type, name, tbl_name, rootpage, sql)``,
  ``id`` the object's sqlite_schema number; CREATE = insert, DROP = delete, ALTER
  TABLE = update whose ``updates`` carries the ALTER statement in the sql slot
  (``schema_changes``). Differences from pyturso 0.8.3, which we cannot or choose
  not to remove: ``sql`` is the text as written (SQLite's rule; pyturso stores its
  re-rendered ``CREATE TABLE t (a, b)``); ``id``/``rootpage`` number our schema
  (pyturso's has an extra internal AUTOINCREMENT table, so its numbers are one
  higher in a fresh database); views, triggers, materialized views and RENAMEs
  are recorded (pyturso records none); CREATE TABLE ... AS SELECT records its
  rows; several ALTERs of one table in one transaction are one update whose
  statement text lists them ("; "-separated, rebuilt from the schemas).
  Rows an ALTER TABLE only reshapes (ADD/DROP COLUMN) are not changes.

Modules: ``config`` (names, modes, ``CaptureConfig``), ``capture`` (the commit-time
capture), ``feed`` (the deferred feed: CDC rows written when first read),
``record`` (SQLite's record format), ``schema`` (schema changes), ``functions``
(JSON readers), ``pragma`` (the PRAGMA and the durable horizon).
"""

from engine.cdc.capture import capture, guard_sequence, register, registered_tables
from engine.cdc.config import (CDC_COLUMNS, CDC_TABLE, CDC_VERSION, COMMIT, DELETE, INSERT,
                               MODES, UPDATE, VERSION_SQL, VERSION_TABLE, CaptureConfig,
                               cdc_table_sql, parse_setting)
from engine.cdc.functions import install_functions, record_json_object
from engine.cdc.pragma import durable_ts, pragma_capture
from engine.cdc.record import decode_record, encode_record, update_records, updates_record
from engine.cdc.schema import (SCHEMA_COLUMNS, SCHEMA_TABLE, alter_statements, column_map,
                               schema_changes, sql_name)

__all__ = [
    "CDC_COLUMNS", "CDC_TABLE", "CDC_VERSION", "COMMIT", "DELETE", "INSERT", "MODES",
    "SCHEMA_COLUMNS", "SCHEMA_TABLE", "UPDATE", "VERSION_SQL", "VERSION_TABLE",
    "CaptureConfig", "alter_statements", "capture", "cdc_table_sql", "column_map",
    "decode_record", "durable_ts", "encode_record", "guard_sequence", "install_functions",
    "parse_setting", "pragma_capture", "record_json_object", "register",
    "registered_tables", "schema_changes", "sql_name", "update_records", "updates_record",
]
