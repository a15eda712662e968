"""The database write lock: one plain writer at a time (SQLite's RESERVED lock)."""

from __future__ import annotations

import threading
import time


class WriteLock:
    """An owner-tracking lock with a timeout, fair enough for a busy handler.

    Acquired by a plain transaction at its first write (held until it ends) and
    by a BEGIN CONCURRENT transaction only for the duration of its COMMIT.
    """

    __slots__ = ("_cond", "owner")

    def __init__(self):
        self._cond = threading.Condition(threading.Lock())
        self.owner = None

    def acquire(self, owner, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the lock; True if ``owner`` holds it."""
        with self._cond:
            if self.owner is owner:
                return True
            deadline = time.monotonic() + max(timeout, 0.0)
            while self.owner is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            self.owner = owner
            return True

    def release(self, owner) -> None:
        with self._cond:
            if self.owner is owner:
                self.owner = None
                self._cond.notify()
