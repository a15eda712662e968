"""Encoding of one commit as a log-frame payload (redo records, whole-row images).

A payload is ``marshal`` (format 4, stable since Python 3.4) of::

    (RECORD_VERSION, ts, wall_time, schema, tables)

* ``schema``: None when the commit changed no schema; else the complete list of
  ``(type, name, tbl_name, sql)`` schema entries after the commit, in creation
  order (explicit indexes, views and triggers; auto-indexes derive from tables),
  plus the ``renames`` list of ``(old, new)`` table names.
* ``tables``: ``[(table_name, [(key, row_or_None), ...]), ...]``: the after-image
  of every written row, keyed by rowid (or by the primary-key values of a
  WITHOUT ROWID table). Replaying a record is idempotent: it *sets* rows.

marshal is chosen for speed (C, no per-object Python code) and because it
decodes only plain values; every frame is CRC-checked before decoding.
"""

from __future__ import annotations

import marshal

RECORD_VERSION = 1


def encode_commit(ts: int, wall_time: float, schema, tables) -> bytes:
    """The payload for commit ``ts``. O(size of the write set)."""
    return marshal.dumps((RECORD_VERSION, ts, wall_time, schema, tables), 4)


def decode_commit(payload: bytes):
    """``(ts, wall_time, schema, tables)`` from a payload written by ``encode_commit``."""
    record = marshal.loads(payload)
    if not isinstance(record, tuple) or len(record) != 5 or record[0] != RECORD_VERSION:
        raise ValueError("unrecognized commit record")
    return record[1], record[2], record[3], record[4]
