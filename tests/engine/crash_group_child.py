"""Child process of the group-commit SIGKILL test: several threads commit at once.

Usage: ``python tests/engine/crash_group_child.py <dir> <threads>`` with PYTHONPATH
at the repository root. Opens ``<dir>/group.db`` with SYNC_FULL and starts
``threads`` writer threads. Writer ``w`` commits rows ``(w, 1), (w, 2), ...`` into
``acks(writer, seq)``, one row per IMMEDIATE transaction, continuing after the
highest ``seq`` the database already holds for it; so concurrent committers share
fsyncs (group commit). After each commit returns it prints, flushed,

    ack <writer> <seq>

The parent kills the process with SIGKILL at a random moment and checks, after
reopening, that each writer's rows are exactly ``1..k`` with ``k`` at least its
last acknowledged ``seq`` and at most one more (the commit in flight).
"""

from __future__ import annotations

import os
import sys
import threading

from engine.database import Database
from engine.storage import SYNC_FULL

DB_NAME = "group.db"
DDL = "CREATE TABLE acks(writer INTEGER NOT NULL, seq INTEGER NOT NULL)"


def highest_seqs(db: Database) -> dict[int, list[int]]:
    """Every writer's committed seqs, sorted."""
    txn = db.begin()
    try:
        out: dict[int, list[int]] = {}
        if "acks" in db.tables:
            for _key, (writer, seq) in txn.scan("acks"):
                out.setdefault(writer, []).append(seq)
        return {w: sorted(s) for w, s in out.items()}
    finally:
        txn.rollback()


def main() -> None:
    directory, threads = sys.argv[1], int(sys.argv[2])
    db = Database(os.path.join(directory, DB_NAME), synchronous=SYNC_FULL,
                  checkpoint_bytes=64 << 10)
    if "acks" not in db.tables:
        with db.begin("IMMEDIATE") as txn:
            txn.create_table(DDL)
    start = highest_seqs(db)
    out_lock = threading.Lock()
    out = sys.stdout
    out.write("open\n")
    out.flush()

    def writer(w: int) -> None:
        seq = start.get(w, [0])[-1]
        while True:
            seq += 1
            txn = db.begin("IMMEDIATE", timeout=30)
            txn.insert("acks", (w, seq))
            txn.commit()
            with out_lock:
                out.write(f"ack {w} {seq}\n")
                out.flush()

    for w in range(threads):
        threading.Thread(target=writer, args=(w,), daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
