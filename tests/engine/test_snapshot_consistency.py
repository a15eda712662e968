"""Readers that begin while commits are being installed see whole commits only.

A writer moves money between accounts in multi-row transactions (the total never
changes); reader threads start transactions at arbitrary moments and sum every
balance. A snapshot taken between the first installed version of a commit and its
publication would see a total off by the amount in flight.
"""

from __future__ import annotations

import random
import threading

from engine.database import Database

ACCOUNTS = 50
TOTAL = ACCOUNTS * 100


def test_concurrent_readers_never_see_half_a_commit():
    """Table scans and index scans, each in its own reader thread."""
    db = Database()
    with db.begin() as txn:
        txn.create_table("CREATE TABLE acct(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)")
        txn.create_index("CREATE INDEX acct_balance ON acct(balance)")
        for i in range(ACCOUNTS):
            txn.insert("acct", (i + 1, 100))
    stop = threading.Event()
    bad: list = []

    def writer():
        rng = random.Random(7)
        for _ in range(1500):
            a, b = rng.sample(range(1, ACCOUNTS + 1), 2)
            amount = rng.randint(1, 20)
            with db.begin("IMMEDIATE") as txn:
                ra, rb = txn.get("acct", a), txn.get("acct", b)
                txn.update("acct", a, (a, ra[1] - amount))
                txn.update("acct", b, (b, rb[1] + amount))
        stop.set()

    def reader(through_index: bool):
        while not stop.is_set():
            txn = db.begin()
            rows = txn.index_scan("acct_balance") if through_index else txn.scan("acct")
            total = sum(row[1] for _key, row in rows)
            txn.rollback()
            if total != TOTAL:
                bad.append(total)

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=reader, args=(i % 2 == 1,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert not bad, f"{len(bad)} snapshots saw a partial commit, e.g. total {bad[0]}"
    db._check()
    with db.begin() as txn:
        assert sum(row[1] for _k, row in txn.scan("acct")) == TOTAL


def test_row_returning_to_an_old_key_under_an_old_snapshot_keeps_one_index_entry():
    """100 -> 105 -> 100 while an old reader pins the first version: the index must
    not hold (100, row) twice, during or after garbage collection."""
    db = Database()
    with db.begin() as txn:
        txn.create_table("CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER)")
        txn.create_index("CREATE INDEX tv ON t(v)")
        txn.insert("t", (1, 100))
    old = db.begin()
    for value in (105, 100):
        with db.begin() as txn:
            txn.update("t", 1, (1, value))
    db._check()
    with db.begin() as txn:
        assert [row for _k, row in txn.index_scan("tv")] == [(1, 100)]
    assert [row for _k, row in old.index_scan("tv")] == [(1, 100)]
    old.rollback()
    db._check()
    index = db.tables["t"].indexes[-1]
    assert len(index) == 1
