"""turso_stream: an embedded reactive SQL database speaking SQLite's dialect.

The package is a drop-in for the stdlib ``sqlite3`` module (DB-API 2.0)::

    import turso_stream as sqlite3
    conn = sqlite3.connect("app.db")

The exception classes are the stdlib's own, so ``except sqlite3.Error`` clauses
written against either module catch ours.
"""

from __future__ import annotations

import datetime as _datetime
import sqlite3 as _sqlite3
import time as _time

from engine.errors import (
    DatabaseError, DataError, Error, IntegrityError, InterfaceError, InternalError,
    NotSupportedError, OperationalError, ProgrammingError, Warning)
from engine.sql.split import is_complete as _is_complete
from turso_stream.adapters import (
    PARSE_COLNAMES, PARSE_DECLTYPES, PrepareProtocol, adapt, adapters, converters,
    register_adapter, register_converter)
from turso_stream.dbapi import (
    LEGACY_TRANSACTION_CONTROL, Connection, Cursor, connect, enable_callback_tracebacks)
from turso_stream.row import Row
from turso_stream import cdc, signals  # noqa: E402,F401 - the change feed, blinker signals

__version__ = "0.1.0"

apilevel = "2.0"
paramstyle = "qmark"
threadsafety = _sqlite3.threadsafety
# We mimic the stdlib's SQLite, so we report its version.
sqlite_version = _sqlite3.sqlite_version
sqlite_version_info = _sqlite3.sqlite_version_info
version = _sqlite3.version
version_info = _sqlite3.version_info

Binary = memoryview
Date = _datetime.date
Time = _datetime.time
Timestamp = _datetime.datetime


def DateFromTicks(ticks):
    """The local date of the Unix time ``ticks`` (DB-API)."""
    return Date(*_time.localtime(ticks)[:3])


def TimeFromTicks(ticks):
    """The local time of day of the Unix time ``ticks`` (DB-API)."""
    return Time(*_time.localtime(ticks)[3:6])


def TimestampFromTicks(ticks):
    """The local date and time of the Unix time ``ticks`` (DB-API)."""
    return Timestamp(*_time.localtime(ticks)[:6])


def complete_statement(statement: str) -> bool:
    """True if ``statement`` ends with a complete SQL statement (sqlite3's rule)."""
    if not isinstance(statement, str):
        raise TypeError(
            f"complete_statement() argument 'statement' must be str, "
            f"not {type(statement).__name__}")
    return _is_complete(statement)


def enable_shared_cache(enable):
    """Accepted for compatibility; every connection to a file already shares one engine."""


# SQLITE_* constants (authorizer action codes, error codes), the stdlib's values.
globals().update({name: getattr(_sqlite3, name) for name in dir(_sqlite3)
                  if name.startswith("SQLITE_")})

__all__ = [
    "connect", "Connection", "Cursor", "Row", "complete_statement",
    "register_adapter", "register_converter", "adapt", "adapters", "converters",
    "enable_callback_tracebacks", "PARSE_DECLTYPES", "PARSE_COLNAMES", "PrepareProtocol",
    "LEGACY_TRANSACTION_CONTROL", "apilevel", "paramstyle", "threadsafety",
    "sqlite_version", "sqlite_version_info", "version", "version_info", "Binary", "Date",
    "Time", "Timestamp", "DateFromTicks", "TimeFromTicks", "TimestampFromTicks",
    "Warning", "Error", "InterfaceError", "DatabaseError", "DataError", "OperationalError",
    "IntegrityError", "InternalError", "ProgrammingError", "NotSupportedError",
]
