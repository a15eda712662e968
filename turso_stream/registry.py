"""One shared ``Database`` per file per process.

SQLite lets many connections of one process open the same file; here they must
share one in-memory engine (``Database``), since the engine holds the file's lock
and all its rows. The registry maps a file's real path to its Database and a count
of connections using it; the Database closes when the last one is released.
``:memory:`` databases are private per connection, except named shared-cache
memory databases (``file:name?mode=memory&cache=shared``), which are keyed by name.
"""

from __future__ import annotations

import os
import threading

from engine.database import Database
from engine.sql.session import SCHEMA_COMPILER

__all__ = ["acquire", "release", "open_count"]

# Reentrant: a Connection garbage-collected while this thread holds the lock (its
# __del__ releases its database) must not deadlock the thread against itself.
_lock = threading.RLock()
_open: dict = {}   # key -> [Database, refcount]


def _key(path: str) -> str:
    return os.path.realpath(path)


def acquire(path: str, *, shared_memory_name: str | None = None) -> Database:
    """The Database for ``path`` (opening it on first use), with one more user.

    ``path == ":memory:"`` gives a new private database unless ``shared_memory_name``
    names a shared one. Opening errors (e.g. another process holds the file) propagate
    and leave the registry unchanged. O(1) plus the cost of opening.
    """
    if shared_memory_name is None and path == ":memory:":
        return Database(":memory:", compiler=SCHEMA_COMPILER)
    key = ("memory:" + shared_memory_name) if shared_memory_name is not None else _key(path)
    with _lock:
        entry = _open.get(key)
        if entry is None or entry[0].closed:
            # The schema compiler from the start: recovery builds CHECK constraints,
            # expression indexes and generated columns before any session exists.
            db = Database(":memory:" if shared_memory_name is not None else key,
                          compiler=SCHEMA_COMPILER)
            entry = _open[key] = [db, 0]
        entry[1] += 1
        return entry[0]


def release(db: Database) -> None:
    """One user fewer of ``db``; the last release closes it (checkpointing files)."""
    with _lock:  # closing under the lock: a re-open must not race the file lock
        for key, entry in _open.items():
            if entry[0] is db:
                entry[1] -= 1
                if entry[1] > 0:
                    return
                del _open[key]
                break
        db.close()


def open_count(path: str) -> int:
    """How many connections share the database at ``path`` (0 if not open)."""
    with _lock:
        entry = _open.get(_key(path))
        return entry[1] if entry is not None else 0


def _check() -> None:
    """Assert the registry's invariants: positive counts, open databases."""
    with _lock:
        for key, (db, count) in _open.items():
            assert count > 0, key
            assert not db.closed, key
