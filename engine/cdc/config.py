"""CDC settings and names: Turso's table layout, capture modes, the
connection's ``CaptureConfig``."""

from __future__ import annotations

from engine.errors import OperationalError

CDC_TABLE = "turso_cdc"
VERSION_TABLE = "turso_cdc_version"
CDC_VERSION = "v2"
SEQUENCE_TABLE = "sqlite_sequence"
# Tables whose writes are never captured (the feed's own bookkeeping).
SKIP_TABLES = frozenset(("turso_cdc_version", "sqlite_sequence"))
MODES = ("off", "id", "before", "after", "full")
INSERT, UPDATE, DELETE, COMMIT = 1, 0, -1, 2

CDC_COLUMNS = ("change_id", "change_time", "change_txn_id", "change_type", "table_name",
               "id", "before", "after", "updates")
VERSION_SQL = ("CREATE TABLE turso_cdc_version "
               "(table_name TEXT PRIMARY KEY, version TEXT NOT NULL)")


def cdc_table_sql(name: str) -> str:
    """The CREATE TABLE of a CDC table named ``name`` (Turso's exact columns)."""
    quoted = '"' + name.replace('"', '""') + '"' if not name.isidentifier() else name
    return (f"CREATE TABLE {quoted} (change_id INTEGER PRIMARY KEY AUTOINCREMENT, "
            f"change_time INTEGER, change_txn_id INTEGER, change_type INTEGER, "
            f'table_name TEXT, id, "before" BLOB, "after" BLOB, updates BLOB)')


class CaptureConfig:
    """A connection's capture setting: ``mode`` (id/before/after/full) and CDC table."""

    __slots__ = ("mode", "table", "key", "want_before", "want_after", "want_updates")

    def __init__(self, mode: str, table: str = CDC_TABLE):
        if mode not in MODES or mode == "off":
            raise OperationalError(f"unknown capture_data_changes_conn mode: {mode}")
        self.mode = mode
        self.table = table
        self.key = table.lower()  # the CDC table's key in Database.tables
        self.want_before = mode in ("before", "full")
        self.want_after = mode in ("after", "full")
        self.want_updates = mode == "full"

    def __repr__(self):
        return f"CaptureConfig({self.mode!r}, {self.table!r})"


def parse_setting(value) -> CaptureConfig | None:
    """``'mode[,table]'`` -> CaptureConfig, or None for 'off'. Raises on a bad mode."""
    text = str(value).strip()
    mode, _, table = text.partition(",")
    mode = mode.strip().lower()
    table = table.strip() or CDC_TABLE
    if mode == "off":
        return None
    return CaptureConfig(mode, table)
