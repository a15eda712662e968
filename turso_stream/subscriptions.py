"""Query subscriptions: a callback (or an async iterator) told of every change.

``handle = conn.subscribe(sql, params=(), callback=fn)``: ``fn`` first receives
the current result (a ``Change`` with ``initial=True`` and every row in
``inserted``), then one ``Change`` per commit that changes the result:
``inserted`` and ``deleted`` rows (an UPDATE is a deleted old row plus an
inserted new row), ``updated`` pairs ``(old, new)`` for results with a key
(the GROUP BY columns), the commit's ``commit_id`` (its timestamp) and
``time``, and ``rows()`` for the subscription's current rows.
``handle.unsubscribe()`` stops delivery; the handle is a context manager.
``async for change in conn.watch(sql, params)`` is the asyncio form.

Delivery rules (engine side in ``engine.ivm.subscriptions``):

* callbacks run after the commit is durable and its locks are released, in
  commit order, never concurrently for one subscription (each subscription
  is a serial queue drained by a few shared worker threads);
* a callback that raises is logged (logger ``turso_stream.subscriptions``)
  and isolated: other subscribers, later changes and the commit are unaffected;
* a slow subscriber never blocks writers: its queue is bounded
  (``MAX_PENDING`` changes); past the bound, new changes are *coalesced* into
  the newest pending one (their deltas summed: the subscriber still sees
  every net change, in fewer, larger steps, with the latest commit id);
* subscriptions to the same SQL with different parameters share one circuit
  (parameters in WHERE, HAVING, LIMIT, an inner JOIN's ON, FROM subqueries and
  CTEs); where they cannot be shared (a compound arm, WITH RECURSIVE, an outer
  join's ON, a window frame), each distinct binding gets its own circuit,
  shared by that binding's subscribers, with the same delivery rules.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import logging
import threading
import time

from dbsp import ZSet

log = logging.getLogger("turso_stream.subscriptions")

MAX_PENDING = 1000   # changes queued per subscription before coalescing
_WORKERS = 4


class Change:
    """One delivery: the change of a subscription's result at one commit."""

    __slots__ = ("inserted", "deleted", "commit_id", "time", "initial", "_handle",
                 "_delta")

    def __init__(self, handle, delta: ZSet, commit_id, time, initial=False):
        self._handle = handle
        self._delta = delta
        self.commit_id = commit_id
        self.time = time
        self.initial = initial
        inserted, deleted = [], []
        for row, weight in delta.items():
            if weight > 0:
                inserted.extend([row] * weight)
            else:
                deleted.extend([row] * -weight)
        self.inserted = inserted
        self.deleted = deleted

    @property
    def updated(self) -> list:
        """``(old, new)`` row pairs with the same key (the result's GROUP BY
        columns); empty when the result has no key."""
        keys = self._handle.key_columns
        if not keys:
            return []
        old = {tuple(r[i] for i in keys): r for r in self.deleted}
        pairs = []
        for new in self.inserted:
            before = old.get(tuple(new[i] for i in keys))
            if before is not None:
                pairs.append((before, new))
        return pairs

    def rows(self) -> list:
        """The subscription's current rows (as of the latest delivered commit)."""
        return self._handle.rows()

    def _merge(self, later: "Change") -> None:
        """Coalesce ``later`` into this pending change (overflow policy)."""
        delta = self._delta + later._delta
        merged = Change(self._handle, delta, later.commit_id, later.time, self.initial)
        for name in ("inserted", "deleted", "commit_id", "time", "_delta"):
            setattr(self, name, getattr(merged, name))

    def __repr__(self) -> str:
        return (f"Change(commit_id={self.commit_id}, inserted={self.inserted!r}, "
                f"deleted={self.deleted!r}{', initial=True' if self.initial else ''})")


class SubscriptionHandle:
    """What ``Connection.subscribe`` returns (see module docstring)."""

    def __init__(self, hub, callback, dispatcher):
        self._hub = hub
        self._callback = callback
        self._dispatcher = dispatcher
        self._sub = None
        self._queue: collections.deque = collections.deque()
        self._lock = threading.Lock()
        self._scheduled = False
        self.delivered = 0

    @property
    def columns(self) -> list[str]:
        """Result column names, as sqlite3's ``cursor.description`` names them."""
        return list(self._sub.query.names)

    @property
    def key_columns(self) -> tuple:
        return self._sub.key_columns

    @property
    def active(self) -> bool:
        return self._sub is not None and self._sub.active

    def rows(self) -> list:
        """The current result rows (a copy)."""
        with self._hub.db._state_lock:
            return self._sub.rows()

    def unsubscribe(self) -> None:
        """Stop delivery (idempotent); changes already queued are dropped."""
        if self._sub is not None:
            self._hub.unsubscribe(self._sub)
        with self._lock:
            self._queue.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.unsubscribe()
        return False

    # -- delivery (called by the dispatcher) --------------------------------------------------

    def _start(self, sub, ts, rows) -> None:
        """Under the state lock: queue the initial result before any later commit's."""
        self._sub = sub
        self._dispatcher.enqueue(self, Change(self, ZSet.from_rows(rows), ts, None, True))


class Dispatcher:
    """Serial per-subscription queues drained by a few shared worker threads.

    A committer's cost per notified subscription is a deque append and, when a
    worker is idle, one lock release to wake it (a ThreadPoolExecutor.submit,
    with its Future, cost the committing thread 4 us more). Subscriptions with
    queued changes wait in ``_ready``; a worker drains one subscription's queue
    at a time, so one subscription's callbacks never run concurrently and run in
    commit order. Workers are daemon threads started on first use; at interpreter
    exit ``_drain_at_exit`` lets them finish what is queued (at most 5 s).
    """

    def __init__(self, max_pending: int = MAX_PENDING, workers: int = _WORKERS):
        self.max_pending = max_pending
        self._workers = workers
        self._started = 0
        self._mutex = threading.Lock()     # guards _ready, _idle and _started
        self._ready: collections.deque = collections.deque()  # handles to drain
        self._idle: list = []              # wake locks of sleeping workers
        self._busy = 0                     # workers draining a handle

    def deliver(self, notifications) -> None:
        """The hub's after-commit sink: queue each notification (commit order)."""
        for note in notifications:
            handle = note.subscription.owner
            if note.subscription.active:
                self.enqueue(handle, Change(handle, note.delta, note.ts, note.time))

    def enqueue(self, handle: SubscriptionHandle, change: Change) -> None:
        with handle._lock:
            queue = handle._queue
            if len(queue) >= self.max_pending:
                queue[-1]._merge(change)
            else:
                queue.append(change)
            if handle._scheduled:
                return
            handle._scheduled = True
        with self._mutex:
            self._ready.append(handle)
            if self._idle:
                self._idle.pop().release()
            elif self._started < self._workers:
                self._started += 1
                threading.Thread(target=self._work, name=f"turso-sub-{self._started}",
                                 daemon=True).start()

    def _work(self) -> None:
        """A worker: drain ready subscriptions; sleep on a lock of its own when none."""
        wake = threading.Lock()
        wake.acquire()
        mutex, ready = self._mutex, self._ready
        while True:
            mutex.acquire()
            if not ready:
                self._idle.append(wake)
                mutex.release()
                wake.acquire()
                continue
            handle = ready.popleft()
            self._busy += 1
            mutex.release()
            try:
                self._drain(handle)
            finally:
                with mutex:
                    self._busy -= 1

    @staticmethod
    def _drain(handle: SubscriptionHandle) -> None:
        while True:
            with handle._lock:
                if not handle._queue or not handle.active:
                    handle._queue.clear()
                    handle._scheduled = False
                    return
                change = handle._queue.popleft()
            try:
                handle._callback(change)
            except Exception:  # noqa: BLE001 - a subscriber's bug stays its own
                log.exception("subscription callback %r raised", handle._callback)
            handle.delivered += 1

    def pending(self) -> bool:
        """Whether any subscription has changes queued or being delivered."""
        with self._mutex:
            return bool(self._ready) or self._busy > 0


def _drain_at_exit() -> None:
    """At interpreter exit, give queued deliveries up to 5 s to run (workers are
    daemon threads; ThreadPoolExecutor, used before, joined them likewise)."""
    deadline = time.monotonic() + 5.0
    for d in list(_dispatchers.values()):
        while d.pending() and time.monotonic() < deadline:
            time.sleep(0.005)


_dispatchers: dict = {}
_dispatchers_lock = threading.Lock()
atexit.register(_drain_at_exit)


def dispatcher_for(hub) -> Dispatcher:
    """The dispatcher of a hub (one per database), installed as its sink."""
    with _dispatchers_lock:
        d = _dispatchers.get(id(hub))
        if d is None or hub.deliver != d.deliver:
            d = _dispatchers[id(hub)] = Dispatcher()
            hub.deliver = d.deliver
        return d


async def watch(subscribe, sql, params):
    """``async for change in conn.watch(...)``: changes bridged into the running loop
    with ``call_soon_threadsafe`` (the event loop never blocks on a commit)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    handle = subscribe(sql, params, lambda change: loop.call_soon_threadsafe(
        queue.put_nowait, change))
    try:
        while True:
            yield await queue.get()
    finally:
        handle.unsubscribe()
