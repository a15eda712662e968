"""The database write lock: one plain writer at a time (SQLite's RESERVED lock)."""

from __future__ import annotations

import threading


class WriteLock:
    """An owner-tracking lock with a timeout (SQLite's busy timeout).

    Acquired by a plain transaction at its first write (held until it ends) and
    by a BEGIN CONCURRENT transaction only for the duration of its COMMIT.
    Re-acquiring by the owner is a no-op. Backed by one ``threading.Lock``,
    whose timed acquire is a single C call on the uncontended path.
    """

    __slots__ = ("mutex", "owner")

    def __init__(self):
        # The underlying lock. The hot paths (a transaction's first write, the
        # simple commit) take and release it inline, keeping ``owner`` in step.
        self.mutex = threading.Lock()
        self.owner = None

    def acquire(self, owner, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the lock; True if ``owner`` holds it."""
        if self.owner is owner:
            return True
        if not self.mutex.acquire(True, max(timeout, 0.0)):
            return False
        self.owner = owner
        return True

    def release(self, owner) -> None:
        if self.owner is owner:
            self.owner = None
            self.mutex.release()
