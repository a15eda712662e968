"""Child process of the SIGKILL test: commit forever, report each commit.

Usage: ``python tests/engine/crash_child.py <dir> [seed]`` with PYTHONPATH at the
repository root. Opens ``<dir>/kill.db`` with SYNC_FULL (creating its tables on
first use) and commits in a loop: random inserts, updates and deletes over a
rowid table with an index, an INTEGER PRIMARY KEY table and a WITHOUT ROWID
table. Every commit also sets ``meta.n`` to its commit number, so a reopened
database says which commit it reflects.

For each commit it prints, flushed, two lines (on stdout):

    attempt <n> <digest>   before COMMIT: the state digest the commit will produce
    ack <n> <digest>       after COMMIT returned (the commit is acknowledged)

``digest`` is `state_digest` of every table, a multiset hash kept incrementally.
The parent kills this process with SIGKILL at a random moment and checks the
reopened database is in the state of some commit ``n`` with
``last ack <= n <= last attempt`` and that state's digest.
"""

from __future__ import annotations

import hashlib
import os
import random
import sys

from engine.database import Database
from engine.storage import SYNC_FULL

DDL = [
    "CREATE TABLE meta(id INTEGER PRIMARY KEY, n INTEGER NOT NULL)",
    "CREATE TABLE events(kind TEXT, amount INTEGER, body BLOB)",
    "CREATE INDEX events_kind ON events(kind, amount)",
    "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT COLLATE NOCASE UNIQUE, score REAL)",
    "CREATE TABLE tags(tag TEXT, owner INTEGER, note, PRIMARY KEY(tag, owner)) WITHOUT ROWID",
]
TABLES = ("meta", "events", "people", "tags")
DB_NAME = "kill.db"
CHECKPOINT_BYTES = 48 << 10  # small: checkpoints happen (and get killed) during the run
_MASK = (1 << 64) - 1


def row_hash(table: str, row: tuple) -> int:
    """A 64-bit hash of one stored row (type-sensitive through repr)."""
    digest = hashlib.blake2b(repr((table, row)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def state_digest(db: Database) -> tuple[int, int]:
    """``(meta.n, multiset hash of every row of every table)``; (0, 0) when empty."""
    if "meta" not in db.tables:
        return 0, 0
    txn = db.begin()
    try:
        total = 0
        for table in TABLES:
            for _key, row in txn.scan(table):
                total = (total + row_hash(table, row)) & _MASK
        meta = txn.get("meta", 1)
        return (meta[1] if meta else 0), total
    finally:
        txn.rollback()


class Committer:
    """Random commits over the tables, tracking the state digest incrementally."""

    def __init__(self, db: Database, seed: int):
        self.db = db
        self.n, self.digest = state_digest(db)
        self.seed = seed

    def _set(self, txn, table: str, key, old, new) -> None:
        if old is not None:
            self.pending = (self.pending - row_hash(table, old)) & _MASK
        if new is not None:
            self.pending = (self.pending + row_hash(table, new)) & _MASK

    def _insert(self, txn, table: str, row) -> None:
        key = txn.insert(table, row, conflict="IGNORE")
        if key is not None:
            self._set(txn, table, key, None, txn.get(table, key))

    def _random_op(self, txn, rng: random.Random) -> None:
        table = rng.choice(TABLES[1:])
        keys = [k for k, _ in txn.scan(table)]
        r = rng.random()
        if not keys or r < 0.55 - len(keys) / 400:
            if table == "events":
                self._insert(txn, table, (rng.choice("abcde"), rng.randrange(-50, 50),
                                          rng.randbytes(rng.randrange(64))))
            elif table == "people":
                self._insert(txn, table, (None, f"p{rng.randrange(500)}", rng.random()))
            else:
                self._insert(txn, table, (rng.choice(("x", "y", "z")), rng.randrange(100),
                                          rng.choice((None, "note", 7, 2.5))))
            return
        key = rng.choice(keys)
        old = txn.get(table, key)
        if r < 0.8:
            if table == "events":
                new = (old[0], old[1] + 1, old[2])
            elif table == "people":
                new = (old[0], old[1], old[2] + 1.0)
            else:
                new = (old[0], old[1], f"n{self.n}")
            new_key = txn.update(table, key, new)
            self._set(txn, table, key, old, txn.get(table, new_key))
        else:
            txn.delete(table, key)
            self._set(txn, table, key, old, None)

    def commit_one(self, out) -> None:
        """One commit: random writes + meta.n; report attempt, commit, report ack."""
        n = self.n + 1
        rng = random.Random(self.seed * 1_000_003 + n)
        txn = self.db.begin("IMMEDIATE")
        self.pending = self.digest
        if n == 1:
            for sql in DDL:
                (txn.create_table if sql.startswith("CREATE TABLE") else txn.create_index)(sql)
        old_meta = txn.get("meta", 1)
        if old_meta is None:
            txn.insert("meta", (1, n))
        else:
            txn.update("meta", 1, (1, n))
        self._set(txn, "meta", 1, old_meta, txn.get("meta", 1))
        for _ in range(rng.choice((1, 1, 2, 4, 8))):
            self._random_op(txn, rng)
        out.write(f"attempt {n} {self.pending}\n")
        out.flush()
        txn.commit()
        self.n, self.digest = n, self.pending
        out.write(f"ack {n} {self.digest}\n")
        out.flush()


def main() -> None:
    directory = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else os.getpid()
    db = Database(os.path.join(directory, DB_NAME), synchronous=SYNC_FULL,
                  checkpoint_bytes=CHECKPOINT_BYTES)
    committer = Committer(db, seed)
    out = sys.stdout
    out.write(f"open {committer.n} {committer.digest}\n")
    out.flush()
    while True:
        committer.commit_one(out)


if __name__ == "__main__":
    main()
