"""A short tour: sqlite3's interface, live views, subscriptions, concurrent writers,
the change feed and the SQLite file format.

Run with ``turso-stream demo [DIR]`` (or ``python -m turso_stream demo``). It creates
a database in DIR (a temporary directory by default) and prints what happens.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading

import turso_stream


def run(directory: str | None = None, out=print) -> str:
    """Run the tour; returns the database path."""
    directory = directory or tempfile.mkdtemp(prefix="turso_stream_demo_")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "demo.db")
    out(f"database: {path}")
    conn = turso_stream.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("CREATE TABLE orders(id INTEGER PRIMARY KEY, customer TEXT NOT NULL, "
                 "total INTEGER NOT NULL)")
    conn.executemany("INSERT INTO orders(customer, total) VALUES (?, ?)",
                     [("ann", 30), ("bob", 12), ("ann", 5)])

    out("a materialized view, kept current by every commit:")
    conn.execute("CREATE MATERIALIZED VIEW revenue AS SELECT customer, sum(total) AS total, "
                 "count(*) AS orders FROM orders GROUP BY customer")
    _show(out, conn, "SELECT * FROM revenue ORDER BY customer")
    plan = conn.execute("EXPLAIN QUERY PLAN SELECT * FROM revenue WHERE customer = 'ann'")
    out(f"  a point read is an index lookup: {plan.fetchone()[3]}")

    out("a subscription: the current result, then one change per commit that touches it:")
    delivered = threading.Condition()
    changes = []

    def on_change(change):
        with delivered:
            changes.append(change)
            out(f"  [commit {change.commit_id}] +{change.inserted} -{change.deleted}")
            delivered.notify_all()
    handle = conn.subscribe("SELECT total, orders FROM revenue WHERE customer = ?",
                            ("ann",), on_change)
    _wait(delivered, changes, 1)
    conn.execute("INSERT INTO orders(customer, total) VALUES ('ann', 20)")
    conn.execute("INSERT INTO orders(customer, total) VALUES ('bob', 1)")  # not ann's: silent
    conn.execute("DELETE FROM orders WHERE id = 1")
    _wait(delivered, changes, 3)
    handle.unsubscribe()

    out("two BEGIN CONCURRENT writers on different rows both commit; on the same row the")
    out("second committer gets a clear conflict and the first one's work stands:")
    a = turso_stream.connect(path, isolation_level=None)
    b = turso_stream.connect(path, isolation_level=None)
    for first, second in ((2, 3), (2, 2)):
        a.execute("BEGIN CONCURRENT")
        b.execute("BEGIN CONCURRENT")
        a.execute("UPDATE orders SET total = total + 1 WHERE id = ?", (first,))
        b.execute("UPDATE orders SET total = total + 1 WHERE id = ?", (second,))
        a.execute("COMMIT")
        try:
            b.execute("COMMIT")
            out(f"  rows {first} and {second}: both committed")
        except turso_stream.OperationalError as exc:
            if b.in_transaction:
                b.execute("ROLLBACK")
            out(f"  rows {first} and {second}: {type(exc).__name__}: {exc}")
    a.close()
    b.close()

    out("the change feed (PRAGMA capture_data_changes_conn, Turso's turso_cdc table):")
    conn.execute("PRAGMA capture_data_changes_conn('full')")
    conn.execute("UPDATE orders SET total = 99 WHERE customer = 'bob'")
    for change in conn.changes(since=0, tables=["orders"]):
        out(f"  change {change.change_id}: {change.kind} orders id={change.id} "
            f"after={change.after_dict}")
    conn.close()

    out("closed: the file is an ordinary SQLite database; stdlib sqlite3 reads it,")
    out("the view included:")
    with sqlite3.connect(path) as std:
        _show(out, std, "SELECT * FROM revenue ORDER BY customer")
    std.close()
    conn = turso_stream.connect(path)
    out("reopened: the view is rebuilt from the tables")
    _show(out, conn, "SELECT * FROM revenue ORDER BY customer")
    conn.close()
    return path


def _show(out, conn, sql):
    for row in conn.execute(sql):
        out(f"  {tuple(row)}")


def _wait(cond, items, n, timeout=5.0):
    with cond:
        cond.wait_for(lambda: len(items) >= n, timeout)
