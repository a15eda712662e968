"""In-process commit notifications as blinker signals.

Three signals, each sent with the database's path as sender (``":memory:"`` for
in-memory databases), after the commit is durable and the write lock released,
in commit order, from the committing thread::

    from turso_stream import signals

    @signals.commit.connect
    def on_commit(path, changes, ts, txn_id, time, tables):
        ...  # tables: {table name (lowercase): rows changed}; changes: the ChangeSet

    signals.table_changed.connect(lambda path, table, delta, ts, rows: ...,
                                  sender="/data/app.db")   # only this database

* ``commit(path, changes=ChangeSet, ts=, txn_id=, time=, tables={name: count})``
* ``table_changed(path, table=, delta=[(row, +1|-1), ...], rows=[(key, before,
  after), ...], ts=)``: once per table the commit wrote (the CDC table included,
  so a feed consumer can wait for new changes instead of polling).
* ``view_changed(path, view=, delta=, ts=)``: once per materialized view whose
  contents changed, when the commit's change set carries view deltas
  (``ChangeSet.views``, filled by the view maintainer).

Differences from plain blinker, on purpose:

* receivers are held **strongly** unless ``weak=True`` is passed (blinker's weak
  default silently drops a lambda or a nested function once the caller's
  reference goes away);
* a receiver that raises is logged (logger ``turso_stream.signals``) and the
  other receivers still run; the commit is long finished and unaffected.

Signals cost nothing until a receiver connects: only then is an after-commit
observer attached to the open databases (and to those opened later).
"""

from __future__ import annotations

import logging
import weakref

import blinker
from blinker import ANY

__all__ = ["Signal", "commit", "table_changed", "view_changed", "watch"]

log = logging.getLogger("turso_stream.signals")


class Signal(blinker.Signal):
    """A blinker Signal with strong references by default and isolated receivers."""

    def connect(self, receiver, sender=ANY, weak: bool = False):
        """Connect ``receiver`` (held strongly unless ``weak``); returns it."""
        result = super().connect(receiver, sender, weak)
        _attach_all()
        return result

    def send(self, sender=None, /, **kwargs):
        """Call every receiver for ``sender``; one that raises is logged, the rest
        still run. Returns ``[(receiver, result)]`` for those that returned."""
        if self.is_muted or not self.receivers:
            return []
        results = []
        for receiver in self.receivers_for(sender):
            try:
                results.append((receiver, receiver(sender, **kwargs)))
            except Exception:  # noqa: BLE001 - isolation is the contract
                log.exception("receiver %r of signal %r failed", receiver, self.name)
        return results


_namespace: dict[str, Signal] = {}


def _signal(name: str, doc: str) -> Signal:
    s = _namespace[name] = Signal(doc)
    s.name = name
    return s


commit = _signal("commit", "Sent after each durable commit, with its change set.")
table_changed = _signal("table_changed", "Sent per table a commit changed, with its delta.")
view_changed = _signal("view_changed", "Sent per materialized view a commit changed.")

_databases: weakref.WeakSet = weakref.WeakSet()


def _any_receivers() -> bool:
    return bool(commit.receivers or table_changed.receivers or view_changed.receivers)


def watch(db) -> None:
    """Register ``db`` (an engine Database) as a source of signals; the observer is
    attached now if any receiver is connected, else when the first one connects."""
    _databases.add(db)
    if _any_receivers():
        _attach(db)


def _attach_all() -> None:
    for db in list(_databases):
        _attach(db)
        db.forget_watches()  # a new receiver may read tables the last answer left out


def _attach(db) -> None:
    # The view maintainer hands views' deltas to after-commit observers only while
    # someone listens (engine.ivm.maintainer: Database.view_deltas_wanted).
    db.view_deltas_wanted = lambda: bool(view_changed.receivers)
    hooks = db.durable_hooks
    for hook in hooks:
        if getattr(hook, "_turso_signals", False):
            return
    hooks.append(_observer(db.path))


def _observer(path: str):
    """The after-commit hook sending the three signals for one database."""

    def on_durable_commit(changes) -> None:
        tables = changes.tables
        ts = changes.ts
        if commit.receivers:
            commit.send(path, changes=changes, ts=ts, txn_id=changes.txn_id,
                        time=changes.time,
                        tables={name: len(rows) for name, rows in tables.items()})
        if table_changed.receivers:
            for name, rows in tables.items():
                if rows:
                    table_changed.send(path, table=name, delta=changes.delta(name),
                                       rows=rows, ts=ts)
        views = getattr(changes, "views", None)
        if views and view_changed.receivers:
            for name, delta in views.items():
                view_changed.send(path, view=name, delta=delta, ts=ts)

    def watches(_table: str) -> bool:
        """``Database.watches_table``: commit and table_changed receivers see every
        table's rows (the CDC table's too); view_changed ones none."""
        return bool(commit.receivers or table_changed.receivers)

    on_durable_commit._turso_signals = True
    on_durable_commit.watches = watches
    return on_durable_commit
