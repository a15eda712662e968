"""Durability round trips on the real file system.

* engine -> SQLite file: every table shape and storage class written by the
  engine reads back through the stdlib ``sqlite3`` exactly as the same writes
  made directly in SQLite (rows, types, schema SQL, indexes, integrity_check);
* SQLite file -> engine -> SQLite file: an existing database (sparse and
  negative rowids, WITHOUT ROWID, indexes, a view) opens, is modified and is
  written back equal to SQLite doing the same modifications;
* recovery: reopening after a kill-like close (no checkpoint) replays the log,
  a torn tail is discarded, a damaged frame followed by good ones is refused;
* the lock file keeps a second writer out, in this process and in another;
* ``:memory:`` touches no file; every synchronous level recovers.
"""

from __future__ import annotations

import math
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.database import Database
from engine.errors import DatabaseError, IntegrityError, OperationalError
from engine.storage import FRAME_HEADER_SIZE, HEADER_SIZE, SYNC_FULL, SYNC_NORMAL, SYNC_OFF

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
META = "_turso_stream_meta"

# Values of every storage class, including the edges of each.
VALUES = [
    None, 0, 1, -1, 2 ** 31, -(2 ** 31) - 1, 2 ** 53 + 1, 2 ** 63 - 1, -(2 ** 63),
    0.0, 1.5, -2.25e-300, 1e308, -1e308, 0.1, 3.0, float("inf"), float("-inf"), 5e-324,
    "", "plain", "héllo wörld", "日本語テキスト", "emoji 😀🎉", "a\x00b", "12", " 7 ", "1e3",
    "0x10", "NULL", b"", b"\x00\xff", bytes(range(256)), b"12",
]

SCHEMA = [
    "CREATE TABLE plain(a, b TEXT, c REAL, d INTEGER, e BLOB, f NUMERIC)",
    "CREATE TABLE ipk(id INTEGER PRIMARY KEY, name TEXT COLLATE NOCASE UNIQUE, v)",
    "CREATE TABLE wr(a TEXT, b INTEGER, c, PRIMARY KEY(a, b)) WITHOUT ROWID",
    "CREATE INDEX plain_b ON plain(b COLLATE NOCASE)",
    "CREATE INDEX plain_cd ON plain(c, d DESC)",
    "CREATE UNIQUE INDEX wr_cb ON wr(c, b)",
]


# ----------------------------------------------------------------------------- helpers

def create_schema(txn, statements=SCHEMA):
    for sql in statements:
        if sql.startswith("CREATE TABLE"):
            txn.create_table(sql)
        else:
            txn.create_index(sql)


def abandon(db: Database) -> None:
    """Kill-like close: the log file is closed and the lock released, no checkpoint."""
    db.closed = True
    db._log.close()
    db._lock_file.release()


def user_schema(conn) -> list:
    """``sqlite_schema`` rows other than our meta table, sorted."""
    return sorted(conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name != ?", (META,)))


def table_rows(conn, table: str) -> list:
    """Every row of ``table`` with its key and each value's type, in key order."""
    info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
    cols = [c[1] for c in info]
    without_rowid = conn.execute(
        "SELECT sql FROM sqlite_schema WHERE name = ?", (table,)).fetchone()[0].upper() \
        .endswith("WITHOUT ROWID")
    typed = ", ".join(f'"{c}", typeof("{c}")' for c in cols)
    if without_rowid:
        pk = ", ".join(f'"{c[1]}"' for c in sorted((c for c in info if c[5]), key=lambda c: c[5]))
        return conn.execute(f'SELECT {typed} FROM "{table}" ORDER BY {pk}').fetchall()
    return conn.execute(f'SELECT rowid, {typed} FROM "{table}" ORDER BY rowid').fetchall()


def engine_rows(db: Database, table: str) -> list:
    txn = db.begin()
    try:
        return [row for _key, row in txn.scan(table)]
    finally:
        txn.rollback()


def engine_items(db: Database, table: str) -> list:
    txn = db.begin()
    try:
        return list(txn.scan(table))
    finally:
        txn.rollback()


def same_values(a, b) -> bool:
    """Tuples equal value by value, with type and the sign of zero respected."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if type(x) is not type(y):
            return False
        if isinstance(x, float) and (math.copysign(1, x) != math.copysign(1, y) or x != y):
            return False
        if x != y:
            return False
    return True


def assert_rows_equal(got: list, want: list, what: str) -> None:
    assert len(got) == len(want), f"{what}: {len(got)} rows, expected {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        assert same_values(g, w), f"{what}: row {i}: {g!r} != {w!r}"


def check_sqlite_file(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    return conn


# ----------------------------------------------------------------------------- engine -> sqlite

def _write_everything(db: Database, ref: sqlite3.Connection) -> None:
    """The same writes through the engine and, as SQL, into the reference ``ref``."""
    txn = db.begin("IMMEDIATE")
    create_schema(txn)
    txn.commit()
    for sql in SCHEMA:
        ref.execute(sql)
    with db.begin("IMMEDIATE") as txn:
        for i, v in enumerate(VALUES):
            key = txn.insert("plain", (v, v, v, v, v, v))
            ref.execute("INSERT INTO plain(rowid, a, b, c, d, e, f) VALUES (?,?,?,?,?,?,?)",
                        (key, v, v, v, v, v, v))
            name = None if v is None else f"name{i}"
            key = txn.insert("ipk", (None, name, v))
            ref.execute("INSERT INTO ipk VALUES (?,?,?)", (key, name, v))
            txn.insert("wr", (f"k{i % 5}", i, v))
            ref.execute("INSERT INTO wr VALUES (?,?,?)", (f"k{i % 5}", i, v))
    # Sparse rowids, updates (one moving a row to a new rowid) and deletes.
    with db.begin("IMMEDIATE") as txn:
        txn.insert("plain", ("far", "x", 1, 2, b"y", "3"), rowid=2 ** 62)
        ref.execute("INSERT INTO plain(rowid, a, b, c, d, e, f) VALUES (?,?,?,?,?,?,?)",
                    (2 ** 62, "far", "x", 1, 2, b"y", "3"))
        txn.insert("plain", ("neg", "y", 2, 3, None, 4.5), rowid=-5)
        ref.execute("INSERT INTO plain(rowid, a, b, c, d, e, f) VALUES (?,?,?,?,?,?,?)",
                    (-5, "neg", "y", 2, 3, None, 4.5))
        txn.delete("plain", 3)
        ref.execute("DELETE FROM plain WHERE rowid = 3")
        txn.update("plain", 4, ("upd", "Z", "2.5", "17", "blob?", "1e2"))
        ref.execute("UPDATE plain SET a=?, b=?, c=?, d=?, e=?, f=? WHERE rowid=4",
                    ("upd", "Z", "2.5", "17", "blob?", "1e2"))
        txn.update("ipk", 2, (1000, "Moved", "m"))
        ref.execute("UPDATE ipk SET id=1000, name='Moved', v='m' WHERE id=2")
        txn.delete("ipk", 5)
        ref.execute("DELETE FROM ipk WHERE id = 5")
        t = txn.table("wr")
        key = t.pk_key(("k1", 1, None))
        txn.delete("wr", key)
        ref.execute("DELETE FROM wr WHERE a='k1' AND b=1")
    ref.commit()


def test_engine_file_reads_back_in_sqlite(tmp_path):
    path = str(tmp_path / "e.db")
    ref = sqlite3.connect(":memory:")
    db = Database(path)
    _write_everything(db, ref)
    db._check()
    before = {t: engine_items(db, t) for t in ("plain", "ipk", "wr")}
    db.close()
    assert not os.path.exists(path + "-tmp")

    conn = check_sqlite_file(path)
    assert user_schema(conn) == user_schema(ref)
    for table in ("plain", "ipk", "wr"):
        assert_rows_equal(table_rows(conn, table), table_rows(ref, table), table)
        assert conn.execute(f"PRAGMA index_list({table})").fetchall() == \
            ref.execute(f"PRAGMA index_list({table})").fetchall(), table
    # The indexes work in SQLite: lookups through them agree with the reference.
    for sql in ("SELECT rowid FROM plain INDEXED BY plain_b WHERE b = 'PLAIN' COLLATE NOCASE",
                "SELECT id FROM ipk WHERE name = 'NAME7'",
                "SELECT a, b FROM wr INDEXED BY wr_cb WHERE c = 'emoji 😀🎉'"):
        assert conn.execute(sql).fetchall() == ref.execute(sql).fetchall(), sql
        assert conn.execute(sql).fetchall(), sql
    conn.close()

    db = Database(path)
    db._check()
    for table, items in before.items():
        got = engine_items(db, table)
        assert [k for k, _r in got] == [k for k, _r in items], table
        assert_rows_equal([r for _k, r in got], [r for _k, r in items], table)
    # The rebuilt NOCASE UNIQUE index still enforces its constraint.
    txn = db.begin()
    with pytest.raises(IntegrityError, match="UNIQUE constraint failed: ipk.name"):
        txn.insert("ipk", (None, "NAME7", 1))
    txn.rollback()
    db.close()


_value = st.one_of(
    st.none(),
    st.integers(-(2 ** 63), 2 ** 63 - 1),
    st.floats(allow_nan=False),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
    st.binary(max_size=12),
    st.sampled_from(["12", "-3.5", " 4 ", "1e400", "9223372036854775808", "0x1"]),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(_value, _value, _value, _value, _value), max_size=30))
def test_random_values_round_trip(tmp_path, rows):
    """Any SQLite values: engine -> close -> sqlite3 equals SQLite storing them itself,
    and engine -> close -> engine gives back exactly what was committed."""
    directory = tmp_path / f"d{len(os.listdir(tmp_path))}"
    directory.mkdir()
    path = str(directory / "r.db")
    sql = "CREATE TABLE t(a, b TEXT, c REAL, d INTEGER, e NUMERIC)"
    ref = sqlite3.connect(":memory:")
    ref.execute(sql)
    db = Database(path, synchronous=SYNC_OFF)
    with db.begin() as txn:
        txn.create_table(sql)
        for row in rows:
            key = txn.insert("t", row)
            ref.execute("INSERT INTO t(rowid, a, b, c, d, e) VALUES (?,?,?,?,?,?)", (key,) + row)
    committed = engine_items(db, "t")
    db.close()
    conn = check_sqlite_file(path)
    assert_rows_equal(table_rows(conn, "t"), table_rows(ref, "t"), f"rows {rows!r}")
    conn.close()
    db = Database(path, synchronous=SYNC_OFF)
    got = engine_items(db, "t")
    assert [k for k, _ in got] == [k for k, _ in committed]
    assert_rows_equal([r for _, r in got], [r for _, r in committed], "reopened")
    db.close()


# ----------------------------------------------------------------------------- sqlite -> engine

SQLITE_SCHEMA = [
    "CREATE TABLE s(a INTEGER, b TEXT)",
    "CREATE TABLE p(id INTEGER PRIMARY KEY, x UNIQUE, y REAL)",
    "CREATE TABLE w(k TEXT PRIMARY KEY COLLATE NOCASE, v) WITHOUT ROWID",
    "CREATE INDEX s_b ON s(b)",
    "CREATE INDEX w_v ON w(v DESC, k)",
    "CREATE VIEW sv AS SELECT a, b FROM s WHERE a > 0",
]


def _make_sqlite_db(path: str) -> None:
    conn = sqlite3.connect(path)
    for sql in SQLITE_SCHEMA:
        conn.execute(sql)
    conn.executemany("INSERT INTO s(rowid, a, b) VALUES (?,?,?)",
                     [(1, 1, "one"), (5, 5, "five"), (1000, -3, None), (2 ** 62, 7, "big"),
                      (-9, 0, "negative rowid")])
    conn.executemany("INSERT INTO p VALUES (?,?,?)",
                     [(3, "c", 1), (17, None, None), (900, b"\x01", 2.5), (-4, 4.25, "7")])
    conn.executemany("INSERT INTO w VALUES (?,?)",
                     [("Apple", 1), ("banana", None), ("cherry", b"x"), ("date", "d")])
    # Sparse rowids with holes from deletions too.
    conn.execute("DELETE FROM s WHERE rowid = 5")
    conn.commit()
    conn.close()


def _modify(txn_or_conn, engine: bool) -> None:
    """Identical modifications through the engine API or as SQL."""
    if engine:
        txn = txn_or_conn
        assert txn.insert("s", (8, "eight")) == 2 ** 62 + 1  # SQLite: max(rowid) + 1
        txn.update("s", 1000, (42, "updated"))
        txn.delete("s", -9)
        assert txn.insert("p", (None, "new", 3)) == 901
        txn.update("p", 17, (18, "moved", None))
        w = txn.table("w")
        txn.delete("w", w.pk_key(("BANANA", None)))
        txn.insert("w", ("elder", 5))
        txn.update("w", w.pk_key(("apple", None)), ("Apple", "changed"))
    else:
        conn = txn_or_conn
        conn.execute("INSERT INTO s(a, b) VALUES (8, 'eight')")
        conn.execute("UPDATE s SET a = 42, b = 'updated' WHERE rowid = 1000")
        conn.execute("DELETE FROM s WHERE rowid = -9")
        conn.execute("INSERT INTO p(x, y) VALUES ('new', 3)")
        conn.execute("UPDATE p SET id = 18, x = 'moved', y = NULL WHERE id = 17")
        conn.execute("DELETE FROM w WHERE k = 'BANANA'")
        conn.execute("INSERT INTO w VALUES ('elder', 5)")
        conn.execute("UPDATE w SET v = 'changed' WHERE k = 'apple'")
        conn.commit()


def test_sqlite_file_opens_in_engine_and_writes_back(tmp_path):
    path = str(tmp_path / "s.db")
    ref_path = str(tmp_path / "ref.db")
    _make_sqlite_db(path)
    shutil.copy(path, ref_path)
    ref = sqlite3.connect(ref_path)

    db = Database(path)
    db._check()
    for table in ("s", "p", "w"):
        want = [r[1::2] if not table == "w" else r[0::2] for r in table_rows(ref, table)]
        want = [tuple(r) for r in want]
        assert_rows_equal(engine_rows(db, table), want, f"{table} as loaded")
    assert [k for k, _ in engine_items(db, "s")] == [-9, 1, 1000, 2 ** 62]
    with db.begin("IMMEDIATE") as txn:
        _modify(txn, engine=True)
    db._check()
    db.close()
    _modify(ref, engine=False)

    conn = check_sqlite_file(path)
    assert user_schema(conn) == user_schema(ref)
    for table in ("s", "p", "w"):
        assert_rows_equal(table_rows(conn, table), table_rows(ref, table), table)
    assert conn.execute("SELECT * FROM sv ORDER BY a").fetchall() == \
        ref.execute("SELECT * FROM sv ORDER BY a").fetchall()
    conn.close()


# ----------------------------------------------------------------------------- recovery

def _commit_rows(db: Database, start: int, n: int) -> None:
    for i in range(start, start + n):
        with db.begin() as txn:
            txn.insert("t", (i, f"v{i}"))


def _new_db(path: str, **kwargs) -> Database:
    db = Database(path, **kwargs)
    with db.begin() as txn:
        txn.create_table("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
        txn.create_index("CREATE INDEX t_v ON t(v)")
    return db


def _ids(db: Database) -> list:
    return [k for k, _ in engine_items(db, "t")]


@pytest.mark.parametrize("sync", [SYNC_OFF, SYNC_NORMAL, SYNC_FULL])
def test_reopen_without_checkpoint_replays_log(tmp_path, sync):
    path = str(tmp_path / "k.db")
    db = _new_db(path, synchronous=sync)
    _commit_rows(db, 1, 10)
    abandon(db)
    assert not os.path.exists(path), "no checkpoint ran, so no database file"
    db = Database(path, synchronous=sync)
    db._check()
    assert _ids(db) == list(range(1, 11))
    # A checkpoint, more commits, another kill: only later frames are replayed.
    db.checkpoint()
    assert os.path.getsize(path + "-log") == HEADER_SIZE
    _commit_rows(db, 11, 5)
    with db.begin() as txn:
        txn.delete("t", 3)
        txn.update("t", 4, (4, "four"))
    abandon(db)
    db = Database(path, synchronous=sync)
    db._check()
    assert _ids(db) == [1, 2] + list(range(4, 16))
    assert engine_rows(db, "t")[2] == (4, "four")
    # The index was rebuilt from the replayed rows.
    txn = db.begin()
    from engine.values import sort_key
    hits = [k for k, _row in txn.index_scan("t_v", prefix=(sort_key("four"),))]
    txn.rollback()
    assert hits == [4]
    db.close()
    conn = check_sqlite_file(path)
    assert [r[0] for r in conn.execute("SELECT id FROM t")] == [1, 2] + list(range(4, 16))
    conn.close()


@pytest.mark.parametrize("sync", [SYNC_OFF, SYNC_NORMAL, SYNC_FULL])
def test_every_sync_level_recovers_after_clean_close(tmp_path, sync):
    path = str(tmp_path / "c.db")
    db = _new_db(path, synchronous=sync)
    _commit_rows(db, 1, 20)
    db.close()
    assert os.path.getsize(path + "-log") == HEADER_SIZE  # close checkpointed
    db = Database(path, synchronous=sync)
    assert _ids(db) == list(range(1, 21))
    _commit_rows(db, 21, 3)
    db.close()
    db = Database(path, synchronous=sync)
    assert _ids(db) == list(range(1, 24))
    db._check()
    db.close()


def _frame_offsets(log_bytes: bytes) -> list:
    offsets, pos = [], HEADER_SIZE
    while pos < len(log_bytes):
        offsets.append(pos)
        length = int.from_bytes(log_bytes[pos + 4:pos + 8], "little")
        pos += FRAME_HEADER_SIZE + length
    return offsets


def test_corrupt_frame_in_the_middle_is_refused(tmp_path):
    path = str(tmp_path / "m.db")
    db = _new_db(path)
    _commit_rows(db, 1, 4)
    abandon(db)
    with open(path + "-log", "r+b") as f:
        data = f.read()
        offsets = _frame_offsets(data)
        assert len(offsets) == 5
        f.seek(offsets[2] + FRAME_HEADER_SIZE + 3)
        f.write(bytes([data[offsets[2] + FRAME_HEADER_SIZE + 3] ^ 0x40]))
    for _attempt in range(2):  # the failed open released the lock: same error again
        with pytest.raises(DatabaseError, match="malformed") as info:
            Database(path)
        assert not isinstance(info.value, OperationalError)


@pytest.mark.parametrize("damage", ["cut", "garbage", "zeros"])
def test_torn_tail_is_recovered(tmp_path, damage):
    path = str(tmp_path / "t.db")
    db = _new_db(path)
    _commit_rows(db, 1, 4)
    abandon(db)
    log_path = path + "-log"
    data = open(log_path, "rb").read()
    last = _frame_offsets(data)[-1]
    if damage == "cut":
        data = data[:last + FRAME_HEADER_SIZE + 2]
        want = [1, 2, 3]
    elif damage == "garbage":
        data = data[:last + 5] + b"\x9e" * 40
        want = [1, 2, 3]
    else:  # a file system that extended the file but never wrote the bytes
        data = data + bytes(100)
        want = [1, 2, 3, 4]
    with open(log_path, "wb") as f:
        f.write(data)
    db = Database(path)
    db._check()
    assert _ids(db) == want
    _commit_rows(db, 10, 1)  # the log is writable after the torn tail was cut
    abandon(db)
    db = Database(path)
    assert _ids(db) == want + [10]
    db.close()


# ----------------------------------------------------------------------------- locking, memory

def test_second_database_on_same_path_is_locked(tmp_path):
    path = str(tmp_path / "l.db")
    db = _new_db(path)
    with pytest.raises(OperationalError, match="locked"):
        Database(path)
    with pytest.raises(OperationalError, match="locked"):
        Database(os.path.join(str(tmp_path), ".", "l.db"))  # same file, other spelling
    db.close()
    again = Database(path)  # released on close
    again.close()


_CHILD_OPEN = """
import sys
from engine.database import Database
try:
    db = Database(sys.argv[1])
except Exception as exc:
    print(type(exc).__name__, exc)
else:
    print("opened", len(list(db.begin().scan("t"))))
    db.close()
"""


def _open_in_child(path: str) -> str:
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    out = subprocess.run([sys.executable, "-c", _CHILD_OPEN, path], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_second_process_is_locked_out(tmp_path):
    path = str(tmp_path / "p.db")
    db = _new_db(path)
    _commit_rows(db, 1, 3)
    line = _open_in_child(path)
    assert line.startswith("OperationalError") and "locked" in line, line
    db.close()
    assert _open_in_child(path) == "opened 3"


def test_memory_database_creates_no_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in (":memory:", ""):
        db = Database(name)
        _commit_rows_table(db)
        db.checkpoint()
        db._check()
        db.close()
    assert os.listdir(tmp_path) == []


def _commit_rows_table(db: Database) -> None:
    with db.begin() as txn:
        txn.create_table("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
    _commit_rows(db, 1, 5)
    assert _ids(db) == [1, 2, 3, 4, 5]


def test_without_rowid_insert_then_delete_in_one_transaction(tmp_path):
    """Regression: a row inserted and deleted by the same commit is not logged
    (its log key would come from a row that never existed)."""
    path = str(tmp_path / "w.db")
    db = Database(path)
    with db.begin() as txn:
        txn.create_table("CREATE TABLE kv(k TEXT PRIMARY KEY, v) WITHOUT ROWID")
        txn.insert("kv", ("keep", 1))
    with db.begin() as txn:
        txn.insert("kv", ("gone", 2))
        txn.delete("kv", txn.table("kv").pk_key(("gone", None)))
        txn.update("kv", txn.table("kv").pk_key(("keep", None)), ("keep", 3))
    abandon(db)
    db = Database(path)
    db._check()
    assert engine_rows(db, "kv") == [("keep", 3)]
    db.close()
