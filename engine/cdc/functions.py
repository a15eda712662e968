"""SQL functions that read CDC records as JSON (Turso's
``table_columns_json_array`` and ``bin_record_json_object``)."""

from __future__ import annotations

import json

from engine.cdc.record import decode_record
from engine.errors import OperationalError



def json_value(v):
    """A value as JSON can hold it: a BLOB as its hex text, NaN as null."""
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, float) and v != v:
        return None
    return v


def pk_id(row, pk):
    """The ``id`` of a WITHOUT ROWID row: its primary key value, or a JSON array."""
    if len(pk) == 1:
        return row[pk[0]]
    return json.dumps([json_value(row[i]) for i in pk], separators=(",", ":"))


def record_json_object(columns, blob) -> str | None:
    """``bin_record_json_object``: a record as ``{"column": value, ...}`` JSON text.

    ``columns`` is a JSON array of names (``table_columns_json_array``); extra
    values (a record written before columns were dropped) are named by position.
    """
    if blob is None:
        return None
    names = json.loads(columns) if isinstance(columns, str) else list(columns or ())
    values = decode_record(blob)
    obj = {}
    for i, v in enumerate(values):
        obj[names[i] if i < len(names) else str(i)] = json_value(v)
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def install_functions(session) -> None:
    """Give ``session`` the SQL functions that read CDC records as JSON.

    ``table_columns_json_array(t)`` needs the session's catalog, so these are
    per-session functions (looked up before the built-ins, like user functions).
    """
    def table_columns_json_array(name):
        txn = session.txn
        cat = txn.catalog if txn is not None else session.db.catalog
        t = cat.table(str(name)) if name is not None else None
        if t is None:
            raise OperationalError(f"no such table: {name}")
        return json.dumps([c.name for c in t.columns], separators=(",", ":"))

    session._functions[("table_columns_json_array", 1)] = table_columns_json_array
    session._functions[("bin_record_json_object", 2)] = record_json_object
