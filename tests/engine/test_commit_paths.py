"""The simple commit path (``Database._commit`` itself: rowid tables, write lock,
no other snapshot) against the general one (``_commit_general``): same change
sets, same state, same log replay, with and without CDC."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.cdc import VERSION_SQL, CaptureConfig, cdc_table_sql
from engine.database import Database
from engine.errors import IntegrityError
from engine.storage import SYNC_OFF

TABLES = ("CREATE TABLE plain(a INT, b TEXT)",
          "CREATE TABLE keyed(k INTEGER PRIMARY KEY, v INT NOT NULL, w TEXT UNIQUE)",
          "CREATE TABLE wr(k INT PRIMARY KEY, v INT) WITHOUT ROWID")


class GeneralOnly(Database):
    """A Database whose every commit takes the general path."""

    simple_commits = False


class CountingFast(Database):
    """A Database counting the commits that took the simple path (the others
    call ``_commit_general``)."""

    commits = general = 0

    @property
    def fast(self):
        return self.commits - self.general

    def _commit(self, txn):
        self.commits += 1
        return super()._commit(txn)

    def _commit_general(self, txn):
        self.general += 1
        return super()._commit_general(txn)


OPS = st.lists(st.tuples(
    st.sampled_from(["insert", "update", "delete", "two_tables", "rollback", "reader",
                     "bad_insert", "cdc_id", "cdc_full", "trim_feed"]),
    st.sampled_from(["plain", "keyed", "wr"]),
    st.integers(0, 6), st.integers(-3, 3)), min_size=1, max_size=40)


def _run(db: Database, ops) -> list:
    """Apply ``ops`` as autocommit-style transactions; return what the commit hook saw."""
    seen = []

    def timeless(entry):  # a CDC row's change_time is wall-clock seconds
        return entry[:1] + tuple(None if r is None else r[:1] + r[2:] for r in entry[1:])

    db.commit_hooks.append(lambda ch: seen.append((ch.ts, {
        k: sorted(repr(timeless(e) if k == "turso_cdc" else e) for e in v)
        for k, v in ch.tables.items()})))
    for op, table, key, value in ops:
        reader = db.begin() if op == "reader" else None  # a second live snapshot
        txn = db.begin()
        if op.startswith("cdc_"):
            txn.cdc = CaptureConfig(op[4:])
        try:
            if op == "trim_feed":
                for k, _row in list(txn.scan("turso_cdc"))[:3]:
                    txn.delete("turso_cdc", k)
            elif op in ("insert", "reader", "cdc_id", "cdc_full"):
                row = {"plain": (value, f"s{key}"), "keyed": (None, value, None),
                       "wr": (key, value)}[table]
                txn.insert(table, row, conflict="REPLACE")
            elif op == "bad_insert":
                txn.insert("keyed", (None, None, "x"))
            elif op == "update":
                for k, row in list(txn.scan(table))[:2]:
                    txn.update(table, k, row[:-1] + (value,))
            elif op == "delete":
                for k, _row in list(txn.scan(table))[key % 3:key % 3 + 1]:
                    txn.delete(table, k)
            elif op == "two_tables":
                txn.insert("plain", (value, "t"))
                txn.insert("keyed", (None, value, f"w{key}{value}"), conflict="REPLACE")
            if op == "rollback":
                txn.insert("plain", (value, "gone"))
                txn.rollback()
            else:
                txn.commit()
        except IntegrityError:
            txn.rollback()
        finally:
            if reader is not None:
                reader.rollback()
        db._check()
    return seen


def _state(db: Database) -> dict:
    txn = db.begin()
    try:
        state = {name: list(txn.scan(name))
                 for name in ("plain", "keyed", "wr", "sqlite_sequence")}
        # change_time is wall-clock seconds: equal across the two runs only by luck
        state["turso_cdc"] = [(k, row[:1] + row[2:]) for k, row in txn.scan("turso_cdc")]
        return state
    finally:
        txn.rollback()


def _make(cls, path):
    db = cls(path, synchronous=SYNC_OFF)
    with db.begin("IMMEDIATE") as txn:
        for sql in TABLES + (cdc_table_sql("turso_cdc"), VERSION_SQL):
            txn.create_table(sql)
        txn.create_index("CREATE INDEX keyed_v ON keyed(v)")
    return db


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_single_table_path_matches_the_general_path(tmp_path_factory, ops):
    d = tmp_path_factory.mktemp("paths")
    fast = _make(CountingFast, str(d / "fast.db"))
    general = _make(GeneralOnly, str(d / "general.db"))
    assert _run(fast, ops) == _run(general, ops)
    state = _state(fast)
    assert state == _state(general)
    fast.close()
    general.close()
    # The log frames of both paths replay to the same state.
    for path in ("fast.db", "general.db"):
        db = Database(str(d / path))
        assert _state(db) == state
        db.close()


def test_autocommit_single_row_writes_take_the_simple_path(tmp_path):
    db = _make(CountingFast, str(tmp_path / "x.db"))
    for i in range(5):
        with db.begin() as txn:
            txn.insert("keyed", (None, i, None))
    assert db.fast == 5
    with db.begin() as txn:  # CDC rows join the commit: still the simple path
        txn.cdc = CaptureConfig("full")
        txn.insert("keyed", (None, 7, None))
    assert db.fast == 6
    # (change_id, change_txn_id, change_type, ...): the insert, then the commit row
    assert [row[2] for _k, row in _state(db)["turso_cdc"]] == [1, 2]
    reader = db.begin()  # another live snapshot: versions must be kept (general path)
    with db.begin() as txn:
        txn.insert("keyed", (None, 9, None))
    assert db.fast == 6
    assert len(list(reader.scan("keyed"))) == 6
    reader.rollback()
    db.close()
    reopened = Database(str(tmp_path / "x.db"))
    assert [row[1] for _k, row in _state(reopened)["keyed"]] == [0, 1, 2, 3, 4, 7, 9]
    reopened.close()
