"""A short tour of the engine: MVCC snapshots, BEGIN CONCURRENT, durability, the file format.

Run with ``turso-stream demo [DIR]`` (or ``python -m turso_stream demo``). It creates
a database in DIR (a temporary directory by default), and prints what happens.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile

from engine.database import Database
from engine.errors import WriteConflictError


def run(directory: str | None = None, out=print) -> str:
    """Run the tour; returns the database path."""
    directory = directory or tempfile.mkdtemp(prefix="turso_stream_demo_")
    path = os.path.join(directory, "demo.db")
    db = Database(path)
    db.durable_hooks.append(lambda cs: out(
        f"  [commit {cs.ts}] " + ", ".join(
            f"{name}: +{sum(a is not None for _k, _b, a in rows)} "
            f"-{sum(b is not None for _k, b, _a in rows)}" for name, rows in cs.tables.items())))

    out(f"database: {path}")
    with db.begin("IMMEDIATE") as txn:
        txn.create_table("CREATE TABLE accounts(id INTEGER PRIMARY KEY, owner TEXT NOT NULL "
                         "UNIQUE, balance INTEGER NOT NULL)")
        txn.create_index("CREATE INDEX accounts_balance ON accounts(balance)")
        for owner, balance in [("alice", 100), ("bob", 50), ("carol", 75)]:
            txn.insert("accounts", (None, owner, balance))

    reader = db.begin()  # a snapshot: it will not see later commits
    with db.begin() as txn:
        txn.update("accounts", 1, (1, "alice", 90))
        txn.update("accounts", 2, (2, "bob", 60))
    fresh = db.begin()
    out(f"old snapshot still sees alice with {reader.get('accounts', 1)[2]}; "
        f"a new one sees {fresh.get('accounts', 1)[2]}")
    reader.rollback()
    fresh.rollback()

    out("two BEGIN CONCURRENT writers on different rows both commit:")
    a, b = db.begin("CONCURRENT"), db.begin("CONCURRENT")
    a.update("accounts", 1, (1, "alice", 80))
    b.update("accounts", 3, (3, "carol", 85))
    a.commit()
    b.commit()
    out("two on the same row: the second committer gets a clear conflict:")
    a, b = db.begin("CONCURRENT"), db.begin("CONCURRENT")
    a.update("accounts", 2, (2, "bob", 1))
    b.update("accounts", 2, (2, "bob", 2))
    a.commit()
    try:
        b.commit()
    except WriteConflictError as exc:
        out(f"  WriteConflictError: {exc}")
    db.close()

    out("closed: the file is an ordinary SQLite database; stdlib sqlite3 reads it:")
    with sqlite3.connect(path) as conn:
        for row in conn.execute("SELECT id, owner, balance FROM accounts ORDER BY id"):
            out(f"  {row}")
    conn.close()
    db = Database(path)
    with db.begin() as txn:
        total = sum(row[2] for _k, row in txn.scan("accounts"))
    out(f"reopened with the engine: total balance {total}")
    db.close()
    return path
