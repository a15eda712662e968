"""Encoding of one commit as a log-frame payload (redo records, whole-row images).

A payload is ``marshal`` (format 2 or 4, both stable since Python 3.4) of::

    (RECORD_VERSION, ts, wall_time, schema, tables)

* ``schema``: None when the commit changed no schema; else the complete list of
  ``(type, name, tbl_name, sql)`` schema entries after the commit, in creation
  order (explicit indexes, views and triggers; auto-indexes derive from tables),
  plus the ``renames`` list of ``(old, new)`` table names.
* ``tables``: ``[(table_name, [(key, row_or_None), ...]), ...]``: the after-image
  of every written row, keyed by rowid (or by the primary-key values of a
  WITHOUT ROWID table). Replaying a record is idempotent: it *sets* rows.
  A rowid table's rows may be given as the dict ``{rowid: row_or_None}``
  instead of the list of pairs (the same pairs, in the same order: the
  transaction's write set as it is; marshal encodes a dict in about half the
  time of the list it would first have to build); ``decode_commit`` returns
  pairs either way.

marshal is chosen for speed (C, no per-object Python code) and because it
decodes only plain values; every frame is CRC-checked before decoding.
"""

from __future__ import annotations

import marshal

RECORD_VERSION = 1
_SMALL_ROWS = 8
_dumps = marshal.dumps


def encode_commit(ts: int, wall_time: float, schema, tables) -> bytes:
    """The payload for commit ``ts``. O(size of the write set).

    A small record (a few rows, no schema: the autocommit statement, with its
    CDC rows) is written in marshal format 2, which skips format 3+'s
    object-sharing table and so encodes such records in about two thirds of the
    time; large ones in format 4, whose shared references and short strings
    make them smaller and faster. ``marshal.loads`` reads every format.
    """
    small = schema is None and sum(len(ops) for _name, ops in tables) <= _SMALL_ROWS
    return _dumps((RECORD_VERSION, ts, wall_time, schema, tables), 2 if small else 4)


def encode_one_table(ts: int, wall_time: float, table: str, writes: dict) -> bytes:
    """The payload of a commit that wrote one rowid table and no schema (the
    autocommit statement), from its write set ``{rowid: row_or_None}``, which
    is encoded as it is (see the module docstring). O(size of the write set)."""
    return _dumps((RECORD_VERSION, ts, wall_time, None, [(table, writes)]),
                  2 if len(writes) <= _SMALL_ROWS else 4)


def decode_commit(payload: bytes):
    """``(ts, wall_time, schema, tables)`` from a payload written by ``encode_commit``."""
    record = marshal.loads(payload)
    if not isinstance(record, tuple) or len(record) != 5 or record[0] != RECORD_VERSION:
        raise ValueError("unrecognized commit record")
    tables = record[4]
    for i, (name, ops) in enumerate(tables):
        if type(ops) is dict:
            tables[i] = (name, list(ops.items()))
    return record[1], record[2], record[3], tables
