"""Transactions: snapshots, own writes, rollback, savepoints, DDL, rowids, threads,
CONCURRENT conflicts, garbage collection, and a model-checked random interleaving."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import (
    DatabaseLockedError, IntegrityError, NotSupportedError, OperationalError, ProgrammingError,
    WriteConflictError)
from engine.values import sort_key

KV = "CREATE TABLE kv(k INTEGER PRIMARY KEY, v INT, tag TEXT UNIQUE)"
KV_INDEX = "CREATE INDEX kv_v ON kv(v)"


@pytest.fixture
def db(make_db, assert_quiescent):
    d = make_db(KV, rows={"kv": [(1, 10, "a"), (2, 20, "b"), (3, 10, "c")]})
    txn = d.begin("IMMEDIATE")
    txn.create_index(KV_INDEX)
    txn.commit()
    yield d
    assert_quiescent(d)


def by_v(txn, v) -> list:
    """Rows with kv.v == v through the index, in index order."""
    return [row for _k, row in txn.index_scan("kv_v", prefix=(sort_key(v),))]


# ---------------------------------------------------------------------------
# Snapshots and own writes
# ---------------------------------------------------------------------------


def test_reader_snapshot_never_changes(db):
    reader = db.begin("DEFERRED")
    before = list(reader.scan("kv"))
    before_index = list(reader.index_scan("kv_v"))
    for i in range(3):
        w = db.begin("IMMEDIATE")
        w.update("kv", 1, (1, 100 + i, "a"))
        w.delete("kv", 2) if i == 0 else w.insert("kv", (None, 10, f"n{i}"))
        w.commit()
        db._check()
        assert list(reader.scan("kv")) == before
        assert list(reader.index_scan("kv_v")) == before_index
        assert reader.get("kv", 2) == (2, 20, "b")
        assert list(reader.scan("kv", reverse=True)) == before[::-1]
        assert list(reader.scan("kv", lo=2, hi=3)) == before[1:]
    assert by_v(reader, 10) == [(1, 10, "a"), (3, 10, "c")]
    reader.rollback()


def test_index_scan_at_old_snapshot_returns_old_rows(db):
    old = db.begin("DEFERRED")
    w = db.begin("IMMEDIATE")
    w.update("kv", 1, (1, 20, "a"))   # moves row 1 from v=10 to v=20
    w.update("kv", 2, (2, 10, "b"))   # and row 2 the other way
    w.commit()
    new = db.begin("DEFERRED")
    assert by_v(old, 10) == [(1, 10, "a"), (3, 10, "c")]
    assert by_v(old, 20) == [(2, 20, "b")]
    assert by_v(new, 10) == [(2, 10, "b"), (3, 10, "c")]
    assert by_v(new, 20) == [(1, 20, "a")]
    lo_hi = [r for _k, r in old.index_scan("kv_v", lo=sort_key(15), hi=sort_key(25))]
    assert lo_hi == [(2, 20, "b")]
    old.rollback()
    new.rollback()


def test_read_your_own_writes_and_isolation_from_others(db):
    w = db.begin("DEFERRED")
    other = db.begin("DEFERRED")
    assert w.insert("kv", (None, 30, "d")) == 4
    w.update("kv", 1, (1, 11, "a"))
    assert w.delete("kv", 2) == (2, 20, "b")
    assert w.get("kv", 4) == (4, 30, "d")
    assert w.get("kv", 2) is None
    assert [k for k, _r in w.scan("kv")] == [1, 3, 4]
    assert [k for k, _r in w.scan("kv", reverse=True)] == [4, 3, 1]
    assert by_v(w, 30) == [(4, 30, "d")]
    assert by_v(w, 20) == []
    assert by_v(w, 11) == [(1, 11, "a")]
    assert dict(other.scan("kv")) == {1: (1, 10, "a"), 2: (2, 20, "b"), 3: (3, 10, "c")}
    assert by_v(other, 20) == [(2, 20, "b")]
    changes = w.commit()
    assert sorted(changes.tables["kv"]) == [
        (1, (1, 10, "a"), (1, 11, "a")), (2, (2, 20, "b"), None), (4, None, (4, 30, "d"))]
    assert other.get("kv", 4) is None
    other.rollback()


def test_rollback_discards_everything(db, committed):
    before = committed(db, "kv")
    w = db.begin("IMMEDIATE")
    w.insert("kv", (None, 5, "z"))
    w.update("kv", 1, (1, 99, "a"))
    w.delete("kv", 3)
    w.rollback()
    assert not w.active
    assert committed(db, "kv") == before
    r = db.begin()
    assert by_v(r, 99) == [] and by_v(r, 5) == []
    r.rollback()
    w.rollback()  # idempotent
    with pytest.raises(ProgrammingError):
        w.insert("kv", (None, 1, "q"))
    with pytest.raises(ProgrammingError):
        w.commit()


def test_read_only_commit_returns_none_and_frees_snapshot(db):
    for mode in ("DEFERRED", "CONCURRENT", "IMMEDIATE"):
        txn = db.begin(mode)
        assert txn.get("kv", 1) == (1, 10, "a")
        assert txn.commit() is None
    assert not db._active


def test_context_manager_commits_or_rolls_back(db, committed):
    with db.begin("IMMEDIATE") as txn:
        txn.insert("kv", (None, 1, "cm"))
    assert committed(db, "kv")[4] == (4, 1, "cm")
    with pytest.raises(ZeroDivisionError):
        with db.begin("IMMEDIATE") as txn:
            txn.insert("kv", (None, 2, "cm2"))
            1 / 0
    assert 5 not in committed(db, "kv")


# ---------------------------------------------------------------------------
# Savepoints
# ---------------------------------------------------------------------------


def test_nested_savepoints(db, committed):
    w = db.begin("IMMEDIATE")
    w.savepoint("outer")
    w.insert("kv", (10, 1, "x"))
    w.savepoint("inner")
    w.insert("kv", (11, 1, "y"))
    w.update("kv", 10, (10, 2, "x"))
    w.rollback_to("inner")
    assert w.get("kv", 10) == (10, 1, "x") and w.get("kv", 11) is None
    assert by_v(w, 1) == [(10, 1, "x")] and by_v(w, 2) == []
    # ROLLBACK TO leaves the savepoint open: it can be rolled back to again.
    w.insert("kv", (12, 1, "z"))
    w.rollback_to("inner")
    assert w.get("kv", 12) is None
    w.rollback_to("outer")
    assert w.get("kv", 10) is None
    with pytest.raises(OperationalError, match="no such savepoint: inner"):
        w.rollback_to("inner")  # rolled back past it
    w.insert("kv", (13, 3, "w"))
    w.release("OUTER")  # names are case-insensitive
    with pytest.raises(OperationalError, match="no such savepoint: outer"):
        w.release("outer")
    w.commit()
    got = committed(db, "kv")
    assert got[13] == (13, 3, "w") and 10 not in got and 11 not in got


def test_release_keeps_writes_and_forgets_later_savepoints(db, committed):
    w = db.begin("IMMEDIATE")
    w.savepoint("a")
    w.insert("kv", (20, 1, "p"))
    w.savepoint("b")
    w.insert("kv", (21, 1, "q"))
    w.release("a")  # releases b too
    with pytest.raises(OperationalError, match="no such savepoint: b"):
        w.rollback_to("b")
    w.commit()
    got = committed(db, "kv")
    assert got[20] == (20, 1, "p") and got[21] == (21, 1, "q")


def test_savepoint_with_same_name_shadows(db):
    w = db.begin("IMMEDIATE")
    w.savepoint("s")
    w.insert("kv", (30, 1, "s1"))
    w.savepoint("s")
    w.insert("kv", (31, 1, "s2"))
    w.rollback_to("s")  # the innermost "s"
    assert w.get("kv", 30) is not None and w.get("kv", 31) is None
    w.release("s")
    w.rollback_to("s")  # now the outer one
    assert w.get("kv", 30) is None
    w.rollback()


def test_rollback_to_undoes_ddl_and_unique_index_state(db, committed):
    w = db.begin("IMMEDIATE")
    w.savepoint("s")
    w.create_table("CREATE TABLE extra(x UNIQUE)")
    w.insert("extra", (1,))
    w.drop_table("kv")
    with pytest.raises(OperationalError, match="no such table: kv"):
        w.get("kv", 1)
    w.rollback_to("s")
    with pytest.raises(OperationalError, match="no such table: extra"):
        w.get("extra", 1)
    assert w.get("kv", 1) == (1, 10, "a")
    # The unique key "a" still belongs to row 1; a rolled-back update must not
    # leave a stale local index entry behind.
    w.savepoint("t")
    w.update("kv", 1, (1, 10, "changed"))
    w.rollback_to("t")
    with pytest.raises(IntegrityError, match=r"UNIQUE constraint failed: kv\.tag"):
        w.insert("kv", (None, 0, "a"))
    assert w.insert("kv", (None, 0, "changed")) == 4
    w.commit()
    assert "extra" not in db.tables
    assert committed(db, "kv")[4] == (4, 0, "changed")


# ---------------------------------------------------------------------------
# DDL in transactions
# ---------------------------------------------------------------------------


def test_ddl_is_transactional(db, committed):
    w = db.begin("IMMEDIATE")
    w.create_table("CREATE TABLE t2(a, b)")
    w.insert("t2", (1, 2))
    w.create_index("CREATE INDEX t2a ON t2(a)")
    other = db.begin("DEFERRED")
    with pytest.raises(OperationalError, match="no such table: t2"):
        other.get("t2", 1)
    w.rollback()
    assert "t2" not in db.tables and db.catalog.index("t2a") is None
    with pytest.raises(OperationalError, match="no such table: t2"):
        other.scan("t2").__next__()
    other.rollback()

    version = db.catalog.version
    w = db.begin("IMMEDIATE")
    w.create_table("CREATE TABLE t2(a, b)")
    w.insert("t2", (1, 2))
    changes = w.commit()
    assert changes.catalog_changed and db.catalog.version > version
    assert committed(db, "t2") == {1: (1, 2)}


def test_drop_table_rollback_restores_rows_and_indexes(db, committed):
    before = committed(db, "kv")
    reader = db.begin("DEFERRED")
    w = db.begin("IMMEDIATE")
    w.drop_table("kv")
    w.rollback()
    assert committed(db, "kv") == before
    w = db.begin("IMMEDIATE")
    w.drop_table("kv")
    w.commit()
    assert "kv" not in db.tables and db.catalog.index("kv_v") is None
    # The reader's snapshot still has the table and its rows.
    assert dict(reader.scan("kv")) == before
    assert by_v(reader, 10) == [(1, 10, "a"), (3, 10, "c")]
    reader.rollback()


def test_create_index_rollback_and_duplicate_names(db):
    w = db.begin("IMMEDIATE")
    with pytest.raises(OperationalError, match="index kv_v already exists"):
        w.create_index("CREATE INDEX kv_v ON kv(tag)")
    w.create_index("CREATE INDEX kv_v ON kv(tag)", if_not_exists=True)  # no-op
    with pytest.raises(OperationalError, match="table KV already exists"):
        w.create_table("CREATE TABLE KV(x)")
    with pytest.raises(IntegrityError, match=r"UNIQUE constraint failed: kv\.v"):
        w.create_index("CREATE UNIQUE INDEX kv_vu ON kv(v)")
    w.create_index("CREATE INDEX kv_tag ON kv(tag)")
    w.drop_index("kv_v")
    w.rollback()
    assert db.catalog.index("kv_v") is not None and db.catalog.index("kv_tag") is None
    w = db.begin("IMMEDIATE")
    with pytest.raises(OperationalError, match="cannot be dropped"):
        w.drop_index("sqlite_autoindex_kv_1")
    w.rollback()


def test_create_index_covers_committed_rows_and_own_writes(db, committed):
    w = db.begin("IMMEDIATE")
    w.insert("kv", (None, 10, "own"))
    w.delete("kv", 3)
    w.update("kv", 2, (2, 20, "bb"))
    w.create_index("CREATE INDEX kv_tag ON kv(tag)")
    tags = [row[2] for _k, row in w.index_scan("kv_tag")]
    assert tags == ["a", "bb", "own"]
    w.commit()
    r = db.begin()
    assert [row[2] for _k, row in r.index_scan("kv_tag")] == ["a", "bb", "own"]
    assert [row[2] for _k, row in r.index_scan("kv_tag", prefix=(sort_key("bb"),))] == ["bb"]
    r.rollback()


def test_ddl_inside_concurrent_is_unsupported(db):
    c = db.begin("CONCURRENT")
    with pytest.raises(NotSupportedError, match="BEGIN CONCURRENT"):
        c.create_table("CREATE TABLE nope(x)")
    c.rollback()


def test_concurrent_commit_after_schema_change_conflicts(db, committed):
    c = db.begin("CONCURRENT")
    c.update("kv", 1, (1, 11, "a"))
    w = db.begin("IMMEDIATE")
    w.create_table("CREATE TABLE other(x)")
    w.commit()
    with pytest.raises(WriteConflictError, match="schema"):
        c.commit()
    assert committed(db, "kv")[1] == (1, 10, "a")


# ---------------------------------------------------------------------------
# Rowid allocation (SQLite: one more than the largest rowid in the table)
# ---------------------------------------------------------------------------


def _sqlite_rowids(statements):
    con = sqlite3.connect(":memory:", isolation_level=None)
    con.execute("CREATE TABLE r(id INTEGER PRIMARY KEY, x UNIQUE)")
    con.execute("BEGIN")
    for sql, params in statements:
        try:
            con.execute(sql, params)
        except sqlite3.IntegrityError:
            pass
    return [r[0] for r in con.execute("SELECT id FROM r ORDER BY id")]


@pytest.mark.parametrize("script", [
    # (op, id, x): ins = insert (id None = new rowid), del = delete by id
    [("ins", None, 1), ("ins", None, 2), ("ins", None, 3), ("del", 3, None), ("ins", None, 4)],
    [("ins", None, 1), ("ins", 10, 2), ("ins", None, 3)],
    [("ins", None, 1), ("ins", 2, 2), ("ins", None, 3)],
    [("ins", None, 1), ("ins", None, 1), ("ins", None, 2)],   # failed insert consumes nothing
    [("ins", 5, 1), ("del", 5, None), ("ins", None, 2), ("ins", -3, 3), ("ins", None, 4)],
    [("ins", None, 1), ("ins", None, 2), ("del", 1, None), ("ins", None, 3)],
])
def test_rowid_allocation_matches_sqlite(make_db, script):
    db = make_db("CREATE TABLE r(id INTEGER PRIMARY KEY, x UNIQUE)")
    w = db.begin("IMMEDIATE")
    statements = []
    for op, id_, x in script:
        if op == "ins":
            statements.append(("INSERT INTO r VALUES (?, ?)", (id_, x)))
            try:
                w.insert("r", (id_, x))
            except IntegrityError:
                pass
        else:
            statements.append(("DELETE FROM r WHERE id = ?", (id_,)))
            w.delete("r", id_)
    assert [k for k, _r in w.scan("r")] == _sqlite_rowids(statements)
    w.commit()
    db._check()


def test_rowid_reused_after_committed_delete_of_max(make_db):
    db = make_db("CREATE TABLE r(a)", rows={"r": [(1,), (2,), (3,)]})
    w = db.begin("IMMEDIATE")
    w.delete("r", 3)
    w.commit()
    w = db.begin("IMMEDIATE")
    assert w.insert("r", ("again",)) == 3
    assert w.insert("r", ("next",), rowid=None) == 4
    assert w.insert("r", ("explicit",), rowid=100) == 100
    assert w.insert("r", ("after",)) == 101
    w.commit()
    db._check()


def test_concurrent_inserters_never_share_a_new_rowid(make_db, committed):
    db = make_db("CREATE TABLE r(a)")
    a, b = db.begin("CONCURRENT"), db.begin("CONCURRENT")
    keys = [a.insert("r", ("a1",)), b.insert("r", ("b1",)),
            a.insert("r", ("a2",)), b.insert("r", ("b2",))]
    assert len(set(keys)) == 4
    a.commit()
    b.commit()
    assert sorted(r[0] for r in committed(db, "r").values()) == ["a1", "a2", "b1", "b2"]


def test_concurrent_failed_insert_reuses_its_reserved_rowid(make_db):
    db = make_db("CREATE TABLE r(a NOT NULL)")
    c = db.begin("CONCURRENT")
    with pytest.raises(IntegrityError):
        c.insert("r", (None,))
    assert c.insert("r", ("ok",)) == 1
    c.commit()


# ---------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------


def _run_threads(target, n):
    errors = []

    def wrapped(i):
        try:
            target(i)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert errors == []
    assert not any(th.is_alive() for th in threads)


def test_immediate_writers_in_threads_are_serialised(make_db, committed, assert_quiescent):
    db = make_db("CREATE TABLE counter(id INTEGER PRIMARY KEY, n INT)",
                 "CREATE TABLE log(id INTEGER PRIMARY KEY, who INT, i INT)",
                 rows={"counter": [(1, 0)]})
    per_thread, n_threads = 25, 4

    def work(who):
        for i in range(per_thread):
            txn = db.begin("IMMEDIATE", timeout=10.0)
            n = txn.get("counter", 1)[1]
            txn.update("counter", 1, (1, n + 1))
            txn.insert("log", (None, who, i))
            txn.commit()

    _run_threads(work, n_threads)
    assert committed(db, "counter") == {1: (1, per_thread * n_threads)}
    log_rows = committed(db, "log")
    assert sorted((r[1], r[2]) for r in log_rows.values()) == \
        sorted((w, i) for w in range(n_threads) for i in range(per_thread))
    assert sorted(log_rows) == list(range(1, per_thread * n_threads + 1))
    assert_quiescent(db)


def test_concurrent_writers_on_disjoint_rows_all_commit(make_db, committed, assert_quiescent):
    n_threads, per_thread = 4, 20
    db = make_db("CREATE TABLE acct(id INTEGER PRIMARY KEY, n INT)",
                 "CREATE TABLE ev(id INTEGER PRIMARY KEY, who INT)",
                 rows={"acct": [(i, 0) for i in range(n_threads)]})

    def work(who):
        for _ in range(per_thread):
            txn = db.begin("CONCURRENT", timeout=10.0)
            txn.update("acct", who, (who, txn.get("acct", who)[1] + 1))
            txn.insert("ev", (None, who))
            txn.commit()

    _run_threads(work, n_threads)
    assert committed(db, "acct") == {i: (i, per_thread) for i in range(n_threads)}
    assert len(committed(db, "ev")) == n_threads * per_thread
    assert_quiescent(db)


# ---------------------------------------------------------------------------
# CONCURRENT conflicts
# ---------------------------------------------------------------------------


def test_same_row_conflict_names_table_and_key_and_keeps_winner(db, committed):
    a, b = db.begin("CONCURRENT"), db.begin("CONCURRENT")
    a.update("kv", 2, (2, 21, "b"))
    b.update("kv", 2, (2, 22, "b"))
    b.insert("kv", (None, 7, "loser-only"))
    a.commit()
    with pytest.raises(WriteConflictError) as info:
        b.commit()
    msg = str(info.value)
    assert "kv" in msg and "2" in msg and "write-write conflict" in msg
    assert isinstance(info.value, OperationalError)
    assert not b.active
    got = committed(db, "kv")
    assert got[2] == (2, 21, "b")
    assert all(r[2] != "loser-only" for r in got.values())


def test_delete_versus_update_conflicts(db, committed):
    a, b = db.begin("CONCURRENT"), db.begin("CONCURRENT")
    a.delete("kv", 3)
    b.update("kv", 3, (3, 33, "c"))
    b.commit()
    with pytest.raises(WriteConflictError):
        a.commit()
    assert committed(db, "kv")[3] == (3, 33, "c")


def test_unique_key_conflict_between_concurrent_inserts(db, committed):
    a, b = db.begin("CONCURRENT"), db.begin("CONCURRENT")
    ka = a.insert("kv", (None, 1, "same"))
    kb = b.insert("kv", (None, 2, "same"))
    assert ka != kb
    a.commit()
    with pytest.raises(WriteConflictError, match="unique key") as info:
        b.commit()
    assert "kv" in str(info.value) and "same" in str(info.value)
    rows = [r for r in committed(db, "kv").values() if r[2] == "same"]
    assert rows == [(ka, 1, "same")]


def test_unique_value_freed_by_concurrent_delete_is_reusable_after_commit(db, committed):
    a = db.begin("CONCURRENT")
    a.delete("kv", 1)  # frees tag "a"
    a.commit()
    b = db.begin("CONCURRENT")
    assert b.insert("kv", (None, 0, "a")) is not None
    b.commit()
    assert sorted(r[2] for r in committed(db, "kv").values()) == ["a", "b", "c"]


# ---------------------------------------------------------------------------
# Garbage collection
# ---------------------------------------------------------------------------


def test_history_is_kept_while_needed_and_collected_after(db, assert_quiescent):
    t = db.tables["kv"]
    reader = db.begin("DEFERRED")
    for i in range(5):
        w = db.begin("IMMEDIATE")
        w.update("kv", 1, (1, 100 + i, "a"))
        w.delete("kv", 2) if i == 0 else None
        w.commit()
    assert t.versions.history  # the reader still needs row 1's old versions
    assert reader.get("kv", 1) == (1, 10, "a") and reader.get("kv", 2) == (2, 20, "b")
    db._check()
    reader.rollback()
    assert_quiescent(db)
    assert len(t.versions) == 2


def test_history_collected_in_order_with_overlapping_readers(db, assert_quiescent):
    r1 = db.begin("DEFERRED")
    w = db.begin("IMMEDIATE")
    w.update("kv", 1, (1, 11, "a"))
    w.commit()
    r2 = db.begin("DEFERRED")
    w = db.begin("IMMEDIATE")
    w.update("kv", 1, (1, 12, "a"))
    w.commit()
    r1.rollback()  # r2 still needs version 11
    assert r2.get("kv", 1) == (1, 11, "a") and by_v(r2, 11) == [(1, 11, "a")]
    db._check()
    r2.rollback()
    assert_quiescent(db)


# ---------------------------------------------------------------------------
# Random interleavings checked against a model
# ---------------------------------------------------------------------------

MODES = ("DEFERRED", "IMMEDIATE", "CONCURRENT")
OPS = st.lists(
    st.tuples(st.sampled_from(["begin", "read", "put", "add", "delete", "commit", "rollback"]),
              st.integers(0, 2), st.integers(1, 5), st.integers(0, 3)),
    min_size=1, max_size=40)


class _Model:
    """Committed states by commit ts, the last commit touching each key, and the lock."""

    def __init__(self, db):
        self.states = {db.last_ts: {}}
        self.last_ts = db.last_ts
        self.touched: dict[int, int] = {}
        self.lock_owner = None

    def view(self, slot) -> dict:
        out = dict(self.states[slot["snap"]])
        for k, v in slot["writes"].items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = v
        return out


def _check_reads(txn, expected: dict):
    assert dict(txn.scan("m")) == {k: (k, v) for k, v in expected.items()}
    via_index = [row for _k, row in txn.index_scan("m_v")]
    assert via_index == sorted(((k, v) for k, v in expected.items()), key=lambda r: (r[1], r[0]))


def _can_write(model, s, slot, txn, outcome) -> bool:
    """Run ``outcome()`` (a write) and check the lock rules; True if it was allowed."""
    if txn.mode == "CONCURRENT" or model.lock_owner == s:
        outcome()
        return True
    blocked = model.lock_owner is not None or slot["snap"] != model.last_ts
    if blocked:
        with pytest.raises(DatabaseLockedError):
            outcome()
        return False
    outcome()
    model.lock_owner = s
    return True


def _commit(model, s, slot, txn):
    writes = slot["writes"]
    if not writes:
        assert txn.commit() is None
        return
    if txn.mode == "CONCURRENT":
        if model.lock_owner is not None:
            with pytest.raises(DatabaseLockedError):
                txn.commit()
            return
        if any(model.touched.get(k, -1) > slot["snap"] for k in writes):
            with pytest.raises(WriteConflictError):
                txn.commit()
            return
    changes = txn.commit()
    base = model.states[model.last_ts]
    new = dict(base)
    expected_changes = []
    for k, v in writes.items():
        before = base.get(k)
        if v is None:
            new.pop(k, None)
        else:
            new[k] = v
        if before is None and v is None:
            continue
        model.touched[k] = model.last_ts + 1
        expected_changes.append((k, None if before is None else (k, before),
                                 None if v is None else (k, v)))
    model.last_ts += 1
    model.states[model.last_ts] = new
    assert changes.ts == model.last_ts
    assert sorted(changes.tables.get("m", [])) == sorted(expected_changes)


def _run_ops(db, ops):
    model = _Model(db)
    slots: list = [None, None, None]
    for kind, s, key, val in ops:
        slot = slots[s]
        if kind == "begin":
            if slot is not None:
                continue
            mode = MODES[val % 3]
            if mode == "IMMEDIATE" and model.lock_owner is not None:
                with pytest.raises(DatabaseLockedError):
                    db.begin(mode, timeout=0)
                continue
            txn = db.begin(mode, timeout=0)
            slots[s] = {"txn": txn, "snap": model.last_ts, "writes": {}}
            assert txn.snapshot_ts == model.last_ts
            if mode == "IMMEDIATE":
                model.lock_owner = s
        elif slot is None:
            continue
        else:
            txn = slot["txn"]
            view = model.view(slot)
            if kind == "read":
                _check_reads(txn, view)
            elif kind == "put":
                if key in view:
                    op = lambda: txn.update("m", key, (key, val))  # noqa: E731
                else:
                    op = lambda: txn.insert("m", (key, val))  # noqa: E731
                if _can_write(model, s, slot, txn, op):
                    slot["writes"][key] = val
            elif kind == "add":
                got = []
                if _can_write(model, s, slot, txn, lambda: got.append(txn.insert("m", (None, val)))):
                    new_key = got[0]
                    if view:
                        assert new_key > max(view)
                    if txn.mode != "CONCURRENT":
                        assert new_key == max(view, default=0) + 1
                    slot["writes"][new_key] = val
            elif kind == "delete":
                if key not in view:
                    continue
                if _can_write(model, s, slot, txn, lambda: txn.delete("m", key)):
                    slot["writes"][key] = None
            else:
                if kind == "commit":
                    _commit(model, s, slot, txn)
                else:
                    txn.rollback()
                assert not txn.active
                if model.lock_owner == s:
                    model.lock_owner = None
                slots[s] = None
        db._check()
    for slot in slots:
        if slot is not None:
            slot["txn"].rollback()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(OPS)
def test_random_interleavings_match_model(make_db, assert_quiescent, ops):
    db = make_db("CREATE TABLE m(k INTEGER PRIMARY KEY, v INT)")
    w = db.begin("IMMEDIATE")
    w.create_index("CREATE INDEX m_v ON m(v)")
    w.commit()
    _run_ops(db, ops)
    assert_quiescent(db)
