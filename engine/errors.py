"""The engine's error classes: exactly the stdlib ``sqlite3`` exception hierarchy.

Users replace ``import sqlite3`` with ``import turso_stream as sqlite3`` and keep
their ``except sqlite3.IntegrityError`` clauses, so the engine raises the very
classes the stdlib module defines (an ``except`` written against either module
catches ours). Errors of our own kinds subclass the sqlite3 class a SQLite user
would expect for them.
"""

from __future__ import annotations

import sqlite3 as _sqlite3

Warning = _sqlite3.Warning
Error = _sqlite3.Error
InterfaceError = _sqlite3.InterfaceError
DatabaseError = _sqlite3.DatabaseError
DataError = _sqlite3.DataError
OperationalError = _sqlite3.OperationalError
IntegrityError = _sqlite3.IntegrityError
InternalError = _sqlite3.InternalError
ProgrammingError = _sqlite3.ProgrammingError
NotSupportedError = _sqlite3.NotSupportedError


class WriteConflictError(OperationalError):
    """A ``BEGIN CONCURRENT`` transaction lost a write-write race at COMMIT.

    Another transaction committed a change to the same row (or the same unique
    key) after this transaction's snapshot was taken. The losing transaction is
    rolled back; the winner is unharmed. Retrying the transaction is safe.
    """

    def __init__(self, table: str, key, what: str = "row"):
        self.table = table
        self.key = key
        super().__init__(
            f"write-write conflict on {table} {what} {key!r}: a concurrent "
            f"transaction committed a change to it first; transaction rolled back")


class DatabaseLockedError(OperationalError):
    """Another writer holds the write lock (SQLite's SQLITE_BUSY)."""

    def __init__(self, message: str = "database is locked"):
        super().__init__(message)


def unsupported(feature: str) -> NotSupportedError:
    """The error for a feature the engine does not implement, naming it."""
    return NotSupportedError(f"not supported by turso_stream: {feature}")
