"""``PRAGMA capture_data_changes_conn`` and the durable horizon of the feed."""

from __future__ import annotations

from engine.cdc.capture import register
from engine.cdc.config import (CDC_COLUMNS, CDC_VERSION, VERSION_SQL, VERSION_TABLE,
                               cdc_table_sql, parse_setting)
from engine.errors import OperationalError

def pragma_capture(session, value):
    """Read or set the session's capture mode; enabling creates the CDC tables."""
    from engine.sql.session import Result
    cols = ("mode", "table", "version")
    if value is None:
        cfg = session.cdc
        if cfg is None:
            return Result(cols, [("off", None, None)])
        return Result(cols, [(cfg.mode, cfg.table, CDC_VERSION)])
    cfg = parse_setting(value)
    if cfg is not None:
        _ensure_tables(session, cfg.table)
        register(session.db, cfg.table)
    session.cdc = cfg
    if session.txn is not None:
        session.txn.cdc = cfg
    return Result(None, [])


def durable_ts(db) -> int:
    """The newest commit timestamp known durable together with every earlier one.

    ``Database`` advances ``_delivered_ts`` after each commit's after-commit hooks
    and sets ``_delivering_ts`` before running them (the commit is durable by
    then), so a hook or signal receiver reading the feed sees its own commit. O(1).
    """
    return max(db._delivered_ts, db._delivering_ts)


def _ensure_tables(session, name: str) -> None:
    """Create the CDC table and turso_cdc_version if missing (in the open
    transaction when there is one, else in a transaction of their own)."""
    txn = session.txn
    if txn is None and session.explicit:
        txn = session._ensure_txn()
    cat = txn.catalog if txn is not None else session.db.catalog
    existing = cat.table(name)
    if existing is not None:
        _check_cdc_schema(existing)
        if cat.table(VERSION_TABLE) is not None:
            return
    own = txn is None
    if own:
        txn = session.begin_own("IMMEDIATE")
    try:
        if txn.catalog.table(name) is None:
            txn.create_table(cdc_table_sql(name))
        if txn.catalog.table(VERSION_TABLE) is None:
            txn.create_table(VERSION_SQL)
        txn.insert(VERSION_TABLE, (name, CDC_VERSION), conflict="IGNORE")
    except BaseException:
        if own:
            txn.rollback()
        raise
    if own:
        txn.commit()
    session._cache.clear()


def _check_cdc_schema(schema) -> None:
    """An existing CDC table must have Turso's 9 columns keyed by change_id."""
    if len(schema.columns) != len(CDC_COLUMNS) or schema.rowid_alias != 0:
        raise OperationalError(
            f"table {schema.name} exists but is not a CDC table "
            f"(expected columns {', '.join(CDC_COLUMNS)})")
