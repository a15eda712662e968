"""Hermitage isolation tests (after github.com/ept/hermitage), rewritten against the
engine API: two or three transactions interleaved step by step in one thread.

Every test starts from Hermitage's table ``test(id, value)`` holding (1, 10), (2, 20).

What each mode must give:

* Plain transactions (DEFERRED / IMMEDIATE / EXCLUSIVE) are *serializable*, the
  SQLite way: one writer at a time. IMMEDIATE takes the write lock at BEGIN, so a
  second IMMEDIATE (or any plain write) meets ``DatabaseLockedError`` after its
  timeout; a DEFERRED transaction reads a stable snapshot and, at its first
  write, either waits for the lock or - if someone committed after its
  snapshot - fails with ``DatabaseLockedError`` (SQLITE_BUSY_SNAPSHOT), so it
  can never write on the basis of stale reads. Every anomaly below is prevented.
* BEGIN CONCURRENT is *snapshot isolation* (first-committer-wins at COMMIT).
  SI prevents G0, G1a, G1b, G1c, OTV, PMP (reads are from the snapshot; a
  predicate-driven write to a changed row conflicts), P4 lost update, and
  G-single read skew (including its write variants, which conflict). SI
  *permits* G2-item write skew and G2 (predicate anti-dependency cycles): two
  transactions that read overlapping data and write disjoint rows both commit.
"""

from __future__ import annotations

import threading

import pytest

from engine.errors import DatabaseLockedError, OperationalError, WriteConflictError

SHORT = 0.05  # lock-wait timeout for the transaction expected to be blocked

DDL = "CREATE TABLE test(id INTEGER PRIMARY KEY, value INT)"


@pytest.fixture
def db(make_db, assert_quiescent):
    d = make_db(DDL, rows={"test": [(1, 10), (2, 20)]})
    yield d
    assert_quiescent(d)


def values(txn) -> dict:
    """``{id: value}`` as ``txn`` sees the test table."""
    return {k: row[1] for k, row in txn.scan("test")}


def where(txn, pred) -> list:
    """Hermitage's ``select * from test where <pred>`` as a list of rows."""
    return [row for _k, row in txn.scan("test") if pred(row[1])]


def final(db) -> dict:
    txn = db.begin("DEFERRED")
    try:
        return values(txn)
    finally:
        txn.rollback()


def set_value(txn, id_, value):
    txn.update("test", id_, (id_, value))


# ---------------------------------------------------------------------------
# G0: write cycles (dirty writes)
# ---------------------------------------------------------------------------


def test_g0_concurrent(db):
    """SI prevents G0: T2 buffered writes to rows T1 also wrote; T1 commits first,
    so T2's COMMIT fails and none of T2's writes appear."""
    t1, t2 = db.begin("CONCURRENT"), db.begin("CONCURRENT")
    set_value(t1, 1, 11)
    set_value(t2, 1, 12)
    set_value(t1, 2, 21)
    t1.commit()
    assert values(t2) == {1: 12, 2: 20}  # T2 sees only its own write
    set_value(t2, 2, 22)
    with pytest.raises(WriteConflictError):
        t2.commit()
    assert not t2.active
    assert final(db) == {1: 11, 2: 21}


@pytest.mark.parametrize("mode", ["DEFERRED", "IMMEDIATE"])
def test_g0_plain_second_writer_is_locked_out(db, mode):
    """Plain mode: T2's first write (or IMMEDIATE begin) cannot proceed while T1 writes."""
    t1 = db.begin(mode)
    set_value(t1, 1, 11)
    if mode == "IMMEDIATE":
        with pytest.raises(DatabaseLockedError, match="database is locked"):
            db.begin("IMMEDIATE", timeout=SHORT)
        t2 = None
    else:
        t2 = db.begin("DEFERRED", timeout=SHORT)
        with pytest.raises(DatabaseLockedError):
            set_value(t2, 1, 12)
    set_value(t1, 2, 21)
    t1.commit()
    if t2 is not None:
        # The lock is free now, but T2's snapshot is stale: BUSY_SNAPSHOT.
        with pytest.raises(DatabaseLockedError):
            set_value(t2, 2, 22)
        assert values(t2) == {1: 10, 2: 20}
        t2.rollback()
    assert final(db) == {1: 11, 2: 21}


# ---------------------------------------------------------------------------
# G1a / G1b / G1c: aborted reads, intermediate reads, circular information flow
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["DEFERRED", "CONCURRENT"])
def test_g1a_aborted_reads(db, mode):
    """No mode lets T2 see a value T1 wrote and then rolled back."""
    t1 = db.begin("IMMEDIATE" if mode == "DEFERRED" else "CONCURRENT")
    set_value(t1, 1, 101)
    set_value(t1, 2, 101)
    t2 = db.begin(mode)
    assert values(t2) == {1: 10, 2: 20}
    t1.rollback()
    assert values(t2) == {1: 10, 2: 20}
    t2.commit()
    assert final(db) == {1: 10, 2: 20}


@pytest.mark.parametrize("mode", ["DEFERRED", "CONCURRENT"])
def test_g1b_intermediate_reads(db, mode):
    """T2 never sees T1's intermediate value 101, nor (snapshot) its final 11."""
    t1 = db.begin("IMMEDIATE" if mode == "DEFERRED" else "CONCURRENT")
    set_value(t1, 1, 101)
    t2 = db.begin(mode)
    assert where(t2, lambda v: v % 5 == 0) == [(1, 10), (2, 20)]
    set_value(t1, 1, 11)
    t1.commit()
    assert where(t2, lambda v: v % 3 == 0) == []
    assert values(t2) == {1: 10, 2: 20}
    t2.commit()
    assert final(db) == {1: 11, 2: 20}


def test_g1c_concurrent(db):
    """SI prevents G1c: each transaction reads the other's row at its snapshot
    (not the other's uncommitted write), and disjoint writes both commit."""
    t1, t2 = db.begin("CONCURRENT"), db.begin("CONCURRENT")
    set_value(t1, 1, 11)
    set_value(t2, 2, 22)
    assert t1.get("test", 2) == (2, 20)
    assert t2.get("test", 1) == (1, 10)
    t1.commit()
    t2.commit()
    assert final(db) == {1: 11, 2: 22}


def test_g1c_plain(db):
    """Plain: T2 cannot write while T1 holds the write lock; after T1's commit
    T2's snapshot is stale, so it never commits a write based on old reads."""
    t1, t2 = db.begin("DEFERRED"), db.begin("DEFERRED", timeout=SHORT)
    set_value(t1, 1, 11)
    with pytest.raises(DatabaseLockedError):
        set_value(t2, 2, 22)
    assert t1.get("test", 2) == (2, 20)
    assert t2.get("test", 1) == (1, 10)
    t1.commit()
    with pytest.raises(DatabaseLockedError):
        set_value(t2, 2, 22)
    t2.rollback()
    assert final(db) == {1: 11, 2: 20}


# ---------------------------------------------------------------------------
# OTV: observed transaction vanishes
# ---------------------------------------------------------------------------


def test_otv_concurrent(db):
    """T3 sees T1's committed values and never T2's, which loses at COMMIT."""
    t1, t2 = db.begin("CONCURRENT"), db.begin("CONCURRENT")
    set_value(t1, 1, 11)
    set_value(t1, 2, 19)
    set_value(t2, 1, 12)
    t1.commit()
    t3 = db.begin("CONCURRENT")
    assert t3.get("test", 1) == (1, 11)
    set_value(t2, 2, 18)
    assert t3.get("test", 2) == (2, 19)
    with pytest.raises(WriteConflictError):
        t2.commit()
    assert values(t3) == {1: 11, 2: 19}
    t3.commit()
    assert final(db) == {1: 11, 2: 19}


def test_otv_plain(db):
    t1 = db.begin("IMMEDIATE")
    set_value(t1, 1, 11)
    set_value(t1, 2, 19)
    t2 = db.begin("DEFERRED", timeout=SHORT)
    with pytest.raises(DatabaseLockedError):
        set_value(t2, 1, 12)
    t1.commit()
    t3 = db.begin("DEFERRED")
    assert values(t3) == {1: 11, 2: 19}
    with pytest.raises(DatabaseLockedError):  # stale snapshot
        set_value(t2, 2, 18)
    t2.rollback()
    assert values(t3) == {1: 11, 2: 19}
    t3.commit()


# ---------------------------------------------------------------------------
# PMP: predicate-many-preceders
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["DEFERRED", "CONCURRENT"])
def test_pmp_reads(db, mode):
    """A predicate read repeated after another commit returns the same (empty) set."""
    t1 = db.begin(mode)
    assert where(t1, lambda v: v == 30) == []
    t2 = db.begin("IMMEDIATE" if mode == "DEFERRED" else "CONCURRENT")
    t2.insert("test", (3, 30))
    t2.commit()
    assert where(t1, lambda v: v % 3 == 0) == []
    t1.commit()
    assert final(db) == {1: 10, 2: 20, 3: 30}


def test_pmp_write_concurrent(db):
    """T2 deletes 'where value = 20' using its snapshot: that row was changed by
    T1 (now 30) after T2's snapshot, so T2 conflicts instead of deleting it."""
    t1, t2 = db.begin("CONCURRENT"), db.begin("CONCURRENT")
    for k, row in list(t1.scan("test")):
        t1.update("test", k, (k, row[1] + 10))
    assert where(t2, lambda v: v == 20) == [(2, 20)]
    t1.commit()
    for row in where(t2, lambda v: v == 20):
        t2.delete("test", row[0])
    with pytest.raises(WriteConflictError):
        t2.commit()
    assert final(db) == {1: 20, 2: 30}


def test_pmp_write_plain(db):
    t1, t2 = db.begin("DEFERRED"), db.begin("DEFERRED", timeout=SHORT)
    for k, row in list(t1.scan("test")):
        t1.update("test", k, (k, row[1] + 10))
    assert where(t2, lambda v: v == 20) == [(2, 20)]
    t1.commit()
    with pytest.raises(DatabaseLockedError):
        t2.delete("test", 2)
    t2.rollback()
    assert final(db) == {1: 20, 2: 30}


# ---------------------------------------------------------------------------
# P4: lost update
# ---------------------------------------------------------------------------


def test_p4_lost_update_concurrent(db):
    t1, t2 = db.begin("CONCURRENT"), db.begin("CONCURRENT")
    assert t1.get("test", 1) == (1, 10)
    assert t2.get("test", 1) == (1, 10)
    set_value(t1, 1, 11)
    set_value(t2, 1, 11)
    t1.commit()
    with pytest.raises(WriteConflictError) as info:
        t2.commit()
    assert info.value.table == "test" and info.value.key == 1
    assert final(db) == {1: 11, 2: 20}


@pytest.mark.parametrize("first", ["DEFERRED", "IMMEDIATE"])
def test_p4_lost_update_plain(db, first):
    """The second read-modify-write cannot write after the first commits."""
    t1 = db.begin(first)
    t2 = db.begin("DEFERRED", timeout=SHORT) if first == "DEFERRED" else None
    assert t1.get("test", 1) == (1, 10)
    if t2 is not None:
        assert t2.get("test", 1) == (1, 10)
    set_value(t1, 1, t1.get("test", 1)[1] + 1)
    if t2 is None:
        with pytest.raises(DatabaseLockedError):
            db.begin("IMMEDIATE", timeout=SHORT)
    else:
        with pytest.raises(DatabaseLockedError):
            set_value(t2, 1, t2.get("test", 1)[1] + 1)
    t1.commit()
    if t2 is not None:
        with pytest.raises(DatabaseLockedError):
            set_value(t2, 1, t2.get("test", 1)[1] + 1)
        t2.rollback()
    t3 = db.begin("IMMEDIATE")  # the retry, serialised after T1
    set_value(t3, 1, t3.get("test", 1)[1] + 1)
    t3.commit()
    assert final(db) == {1: 12, 2: 20}


def test_plain_writer_waits_for_lock_then_proceeds(db):
    """A plain writer with a generous timeout waits for the holder rather than failing."""
    t1 = db.begin("IMMEDIATE")
    set_value(t1, 1, 11)
    got = []

    def second():
        t2 = db.begin("IMMEDIATE", timeout=5.0)
        got.append(t2.get("test", 1))
        set_value(t2, 1, t2.get("test", 1)[1] + 1)
        t2.commit()

    th = threading.Thread(target=second)
    th.start()
    th.join(0.1)
    assert th.is_alive()  # blocked on the write lock
    t1.commit()
    th.join(5.0)
    assert not th.is_alive()
    assert got == [(1, 11)]  # its snapshot was taken after the lock was granted
    assert final(db) == {1: 12, 2: 20}


# ---------------------------------------------------------------------------
# G-single: read skew
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["DEFERRED", "CONCURRENT"])
def test_g_single_read_skew(db, mode):
    """T1 reads x before and y after T2's commit: it still sees x + y == 30."""
    t1 = db.begin(mode)
    assert t1.get("test", 1) == (1, 10)
    t2 = db.begin("IMMEDIATE" if mode == "DEFERRED" else "CONCURRENT")
    assert values(t2) == {1: 10, 2: 20}
    set_value(t2, 1, 12)
    set_value(t2, 2, 18)
    t2.commit()
    assert t1.get("test", 2) == (2, 20)
    t1.commit()
    assert final(db) == {1: 12, 2: 18}


@pytest.mark.parametrize("mode", ["DEFERRED", "CONCURRENT"])
def test_g_single_dependencies(db, mode):
    t1 = db.begin(mode)
    assert where(t1, lambda v: v % 5 == 0) == [(1, 10), (2, 20)]
    t2 = db.begin("IMMEDIATE" if mode == "DEFERRED" else "CONCURRENT")
    for row in where(t2, lambda v: v == 10):
        set_value(t2, row[0], 12)
    t2.commit()
    assert where(t1, lambda v: v % 3 == 0) == []
    t1.commit()


def test_g_single_write_concurrent(db):
    """T1 deletes 'where value = 20' at its snapshot; T2 changed that row: conflict."""
    t1, t2 = db.begin("CONCURRENT"), db.begin("CONCURRENT")
    assert t1.get("test", 1) == (1, 10)
    assert values(t2) == {1: 10, 2: 20}
    set_value(t2, 1, 12)
    set_value(t2, 2, 18)
    t2.commit()
    for row in where(t1, lambda v: v == 20):
        t1.delete("test", row[0])
    with pytest.raises(WriteConflictError):
        t1.commit()
    assert final(db) == {1: 12, 2: 18}


def test_g_single_write_plain(db):
    t1 = db.begin("DEFERRED", timeout=SHORT)
    assert t1.get("test", 1) == (1, 10)
    t2 = db.begin("IMMEDIATE")
    set_value(t2, 1, 12)
    set_value(t2, 2, 18)
    t2.commit()
    with pytest.raises(DatabaseLockedError):
        t1.delete("test", 2)
    t1.rollback()
    assert final(db) == {1: 12, 2: 18}


# ---------------------------------------------------------------------------
# G2-item (write skew) and G2 (anti-dependency cycles): permitted by SI
# ---------------------------------------------------------------------------


def test_g2_item_write_skew_permitted_by_concurrent(db):
    """SI permits write skew: both read {10, 20}, write disjoint rows, both commit;
    no serial order of T1, T2 produces the final state (11, 21)."""
    t1, t2 = db.begin("CONCURRENT"), db.begin("CONCURRENT")
    assert values(t1) == {1: 10, 2: 20}
    assert values(t2) == {1: 10, 2: 20}
    set_value(t1, 1, 11)
    set_value(t2, 2, 21)
    t1.commit()
    t2.commit()
    assert final(db) == {1: 11, 2: 21}


def test_g2_item_write_skew_prevented_by_plain(db):
    t1, t2 = db.begin("DEFERRED"), db.begin("DEFERRED", timeout=SHORT)
    assert values(t1) == values(t2) == {1: 10, 2: 20}
    set_value(t1, 1, 11)
    with pytest.raises(DatabaseLockedError):
        set_value(t2, 2, 21)
    t1.commit()
    with pytest.raises(DatabaseLockedError):
        set_value(t2, 2, 21)
    t2.rollback()
    assert final(db) == {1: 11, 2: 20}


def test_g2_predicate_cycle_permitted_by_concurrent(db):
    """SI permits G2: both see no row with value % 3 == 0, both insert one."""
    t1, t2 = db.begin("CONCURRENT"), db.begin("CONCURRENT")
    assert where(t1, lambda v: v % 3 == 0) == []
    assert where(t2, lambda v: v % 3 == 0) == []
    t1.insert("test", (3, 30))
    t2.insert("test", (4, 42))
    t1.commit()
    t2.commit()
    assert final(db) == {1: 10, 2: 20, 3: 30, 4: 42}


def test_g2_predicate_cycle_prevented_by_plain(db):
    t1, t2 = db.begin("DEFERRED"), db.begin("DEFERRED", timeout=SHORT)
    assert where(t1, lambda v: v % 3 == 0) == where(t2, lambda v: v % 3 == 0) == []
    t1.insert("test", (3, 30))
    with pytest.raises(DatabaseLockedError):
        t2.insert("test", (4, 42))
    t1.commit()
    with pytest.raises(DatabaseLockedError):
        t2.insert("test", (4, 42))
    t2.rollback()
    assert final(db) == {1: 10, 2: 20, 3: 30}


# ---------------------------------------------------------------------------
# Mode plumbing
# ---------------------------------------------------------------------------


def test_exclusive_behaves_as_immediate_and_readers_still_read(db):
    t1 = db.begin("EXCLUSIVE")
    set_value(t1, 1, 11)
    reader = db.begin("DEFERRED")
    assert values(reader) == {1: 10, 2: 20}  # WAL semantics: readers never blocked
    with pytest.raises(DatabaseLockedError):
        db.begin("EXCLUSIVE", timeout=SHORT)
    t1.commit()
    reader.rollback()


def test_concurrent_commit_waits_out_a_plain_writer(db):
    """A CONCURRENT commit needs the write lock briefly: while an IMMEDIATE writer
    holds it, the commit times out with DatabaseLockedError."""
    c = db.begin("CONCURRENT", timeout=SHORT)
    set_value(c, 2, 22)
    holder = db.begin("IMMEDIATE")
    with pytest.raises(DatabaseLockedError):
        c.commit()
    assert not c.active  # the engine ends a transaction whose COMMIT failed
    holder.rollback()
    assert final(db) == {1: 10, 2: 20}


def test_unknown_mode_is_a_syntax_error(db):
    with pytest.raises(OperationalError, match='near "SERIALIZABLE": syntax error'):
        db.begin("SERIALIZABLE")
