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


def test_reader_beginning_during_a_simple_commit_keeps_its_snapshot(monkeypatch):
    """The one-frame commit path decides "no other snapshot" before taking the state
    lock; a reader that begins in between must still read the state before the
    commit (its versions kept), not rows overwritten in place."""
    import engine.database as database

    db = Database()
    with db.begin() as txn:
        txn.create_table("CREATE TABLE acct(id INTEGER PRIMARY KEY, balance INTEGER)")
        txn.insert("acct", (1, 100))
        txn.insert("acct", (2, 100))
    readers = []
    real_changeset = database.ChangeSet

    def changeset_then_reader(*args):
        if not readers:
            readers.append(db.begin())   # after the check, before the install
        return real_changeset(*args)

    monkeypatch.setattr(database, "ChangeSet", changeset_then_reader)
    txn = db.begin("IMMEDIATE")
    txn.update("acct", 1, (1, 50))
    txn.update("acct", 2, (2, 150))
    txn.commit()
    monkeypatch.setattr(database, "ChangeSet", real_changeset)
    reader = readers[0]
    assert [row for _k, row in reader.scan("acct")] == [(1, 100), (2, 100)]
    reader.rollback()
    with db.begin() as after:
        assert [row for _k, row in after.scan("acct")] == [(1, 50), (2, 150)]
    db._check()
