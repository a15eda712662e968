"""CDC: Turso's pragma and turso_cdc table, the Python feed, trimming, Debezium export."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import turso_stream
from engine.cdc import decode_record, encode_record, updates_record
from turso_stream.cdc import Change, debezium_envelope

WORKLOAD = [
    "INSERT INTO t VALUES(1,'x',2.5)",
    "INSERT INTO t VALUES(2,'z',NULL)",
    "UPDATE t SET b='y' WHERE a=1",
    "DELETE FROM t WHERE a=1",
]

# pyturso 0.8.3's turso_cdc rows for WORKLOAD (each statement in autocommit), without
# change_time and change_txn_id: (change_id, change_type, table_name, id, before,
# after, updates). Captured by running that library; compared live when installed.
_R1 = b"\x04\t\x0f\x07x@\x04\x00\x00\x00\x00\x00\x00"
_R1Y = b"\x04\t\x0f\x07y@\x04\x00\x00\x00\x00\x00\x00"
_R2 = b"\x04\x01\x0f\x00\x02z"
_UPD = b"\x07\x08\t\x08\x00\x0f\x00y"
TURSO_FULL = [
    (1, 1, "t", 1, None, _R1, None), (2, 2, None, None, None, None, None),
    (3, 1, "t", 2, None, _R2, None), (4, 2, None, None, None, None, None),
    (5, 0, "t", 1, _R1, _R1Y, _UPD), (6, 2, None, None, None, None, None),
    (7, -1, "t", 1, _R1Y, None, None), (8, 2, None, None, None, None, None),
]


def _expected(mode: str) -> list:
    """TURSO_FULL as another mode records it (before/after/updates dropped)."""
    out = []
    for cid, kind, table, rid, before, after, updates in TURSO_FULL:
        out.append((cid, kind, table, rid,
                    before if mode in ("before", "full") else None,
                    after if mode in ("after", "full") else None,
                    updates if mode == "full" else None))
    return out


def _run_workload(conn, mode: str) -> list:
    conn.execute("CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c REAL)")
    conn.execute(f"PRAGMA capture_data_changes_conn('{mode}')")
    for sql in WORKLOAD:
        conn.execute(sql)
    rows = conn.execute("SELECT * FROM turso_cdc ORDER BY change_id").fetchall()
    return [(r[0], r[3], r[4], r[5], r[6], r[7], r[8]) for r in rows]


@pytest.mark.parametrize("mode", ["id", "before", "after", "full"])
def test_modes_match_turso_rows(mode):
    conn = turso_stream.connect(":memory:", isolation_level=None)
    assert _run_workload(conn, mode) == _expected(mode)
    assert conn.execute("PRAGMA capture_data_changes_conn").fetchall() == \
        [(mode, "turso_cdc", "v2")]
    assert conn.execute("SELECT * FROM turso_cdc_version").fetchall() == [("turso_cdc", "v2")]


@pytest.mark.parametrize("mode", ["id", "full"])
def test_modes_match_pyturso_live(mode):
    turso = pytest.importorskip("turso")
    theirs = turso.connect(":memory:", isolation_level=None)
    ours = turso_stream.connect(":memory:", isolation_level=None)
    assert _run_workload(ours, mode) == _run_workload(theirs, mode)
    cols = [d[0] for d in ours.execute("SELECT * FROM turso_cdc").description]
    assert cols == [d[0] for d in theirs.execute("SELECT * FROM turso_cdc").description]


def test_schema_and_pragma_shapes():
    conn = turso_stream.connect(":memory:", isolation_level=None)
    assert conn.execute("PRAGMA capture_data_changes_conn").fetchall() == [("off", None, None)]
    conn.execute("PRAGMA capture_data_changes_conn('after,my_feed')")
    sql = conn.execute("SELECT sql FROM sqlite_schema WHERE name='my_feed'").fetchone()[0]
    assert "change_id INTEGER PRIMARY KEY AUTOINCREMENT" in sql
    conn.execute("CREATE TABLE t(a)")
    conn.execute("INSERT INTO t VALUES (5)")
    assert conn.execute("SELECT change_type, table_name FROM my_feed").fetchall() == \
        [(1, "sqlite_schema"), (2, None), (1, "t"), (2, None)]  # DDL: test_cdc_schema.py
    with pytest.raises(turso_stream.OperationalError, match="capture_data_changes_conn"):
        conn.execute("PRAGMA capture_data_changes_conn('sometimes')")
    conn.execute("CREATE TABLE notcdc(x)")
    with pytest.raises(turso_stream.OperationalError, match="not a CDC table"):
        conn.execute("PRAGMA capture_data_changes_conn('full,notcdc')")


def test_json_functions():
    conn = turso_stream.connect(":memory:", isolation_level=None)
    _run_workload(conn, "full")
    got = conn.execute(
        "SELECT change_id, bin_record_json_object(table_columns_json_array('t'), before),"
        " bin_record_json_object(table_columns_json_array('t'), after)"
        " FROM turso_cdc WHERE table_name='t'").fetchall()
    assert got == [
        (1, None, '{"a":1,"b":"x","c":2.5}'),
        (3, None, '{"a":2,"b":"z","c":null}'),
        (5, '{"a":1,"b":"x","c":2.5}', '{"a":1,"b":"y","c":2.5}'),
        (7, '{"a":1,"b":"y","c":2.5}', None),
    ]
    assert conn.execute("SELECT table_columns_json_array('t')").fetchone() == ('["a","b","c"]',)
    with pytest.raises(turso_stream.OperationalError, match="no such table"):
        conn.execute("SELECT table_columns_json_array('nope')").fetchall()


_values = st.one_of(
    st.none(), st.integers(-(1 << 63), (1 << 63) - 1),
    st.floats(allow_nan=False), st.text(max_size=80), st.binary(max_size=300))


@settings(max_examples=200, deadline=None)
@given(st.lists(_values, max_size=70))
def test_record_round_trip(values):
    blob = encode_record(values)
    assert decode_record(blob) == tuple(values)
    assert [type(v) for v in decode_record(blob)] == [type(v) for v in values]


def test_record_known_bytes_and_updates():
    assert encode_record((1, "x", 2.5)) == _R1
    assert encode_record((2, "z", None)) == _R2
    assert updates_record((1, "x", 2.5), (1, "y", 2.5)) == _UPD
    assert decode_record(_UPD) == (0, 1, 0, None, "y", None)
    with pytest.raises(turso_stream.OperationalError, match="malformed"):
        decode_record(b"\x05\x0f\x0f\x0f")


def test_net_effect_per_transaction_and_rollback():
    conn = turso_stream.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t(a INTEGER PRIMARY KEY, b)")
    conn.execute("PRAGMA capture_data_changes_conn('full')")
    conn.execute("BEGIN")
    conn.execute("INSERT INTO t VALUES (1, 'a')")
    conn.execute("UPDATE t SET b = 'b' WHERE a = 1")
    conn.execute("INSERT INTO t VALUES (2, 'gone')")
    conn.execute("DELETE FROM t WHERE a = 2")
    conn.execute("COMMIT")
    conn.execute("BEGIN")
    conn.execute("INSERT INTO t VALUES (3, 'rolled back')")
    conn.execute("ROLLBACK")
    got = [(c.kind, c.id, c.after) for c in conn.changes()]
    assert got == [("insert", 1, (1, "b"))]
    assert conn.execute("SELECT count(*) FROM turso_cdc").fetchone() == (2,)


def test_capture_is_per_connection_feed_is_shared(tmp_path):
    path = str(tmp_path / "feed.db")
    a = turso_stream.connect(path, isolation_level=None)
    b = turso_stream.connect(path, isolation_level=None)
    a.execute("CREATE TABLE t(x)")
    a.execute("PRAGMA capture_data_changes_conn('after')")
    a.execute("INSERT INTO t VALUES ('from a')")
    b.execute("INSERT INTO t VALUES ('from b')")  # b captures nothing
    assert [c.after for c in b.changes()] == [("from a",)]
    b.execute("PRAGMA capture_data_changes_conn('id')")
    b.execute("INSERT INTO t VALUES ('b again')")
    kinds = [(c.table, c.after) for c in a.changes()]
    assert kinds == [("t", ("from a",)), ("t", None)]
    a.close()
    b.close()


def test_tables_filter_and_since():
    conn = turso_stream.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t(x)")
    conn.execute("CREATE TABLE u(y)")
    conn.execute("PRAGMA capture_data_changes_conn('full')")
    for i in range(5):
        conn.execute("INSERT INTO t VALUES (?)", (i,))
        conn.execute("INSERT INTO U VALUES (?)", (i,))
    only_u = list(conn.changes(tables=["U"]))
    assert [c.after for c in only_u] == [(i,) for i in range(5)]
    assert {c.table for c in only_u} == {"u"}
    mid = only_u[2].change_id
    assert [c.after for c in conn.changes(since=mid)] == \
        [(3,), (3,), (4,), (4,)]


def test_batches_and_trimmed_gaps(monkeypatch):
    from turso_stream import cdc
    monkeypatch.setattr(cdc, "BATCH", 7)
    conn = turso_stream.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t(x)")
    conn.execute("PRAGMA capture_data_changes_conn('after')")
    conn.execute("BEGIN")
    for i in range(50):
        conn.execute("INSERT INTO t VALUES (?)", (i,))
    conn.execute("COMMIT")
    conn.execute("INSERT INTO t VALUES ('last')")
    assert [c.after[0] for c in conn.changes()] == list(range(50)) + ["last"]
    assert conn.trim_changes(45) == 44
    assert [c.after[0] for c in conn.changes()] == list(range(44, 50)) + ["last"]
    assert [c.change_id for c in conn.changes(since=3)][0] == 45


def test_trim_never_reuses_ids_across_restart(tmp_path):
    path = str(tmp_path / "trim.db")
    conn = turso_stream.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE t(x)")
    conn.execute("PRAGMA capture_data_changes_conn('id')")
    for i in range(3):
        conn.execute("INSERT INTO t VALUES (?)", (i,))
    last = max(c.change_id for c in conn.changes())
    assert conn.trim_changes(last + 100) == 6  # everything, commit rows included
    assert list(conn.changes()) == []
    conn.close()
    conn = turso_stream.connect(path, isolation_level=None)
    conn.execute("PRAGMA capture_data_changes_conn('id')")
    conn.execute("INSERT INTO t VALUES ('after restart')")
    ids = [c.change_id for c in conn.changes()]
    assert ids == [last + 2]  # last + 1 was the commit row of the last transaction
    conn.execute("BEGIN")
    with pytest.raises(turso_stream.OperationalError, match="open transaction"):
        conn.trim_changes(10)
    conn.execute("ROLLBACK")
    conn.close()


def test_resume_after_restart_and_checkpoint_readable_by_sqlite(tmp_path):
    path = str(tmp_path / "resume.db")
    conn = turso_stream.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE t(a INTEGER PRIMARY KEY, b)")
    conn.execute("PRAGMA capture_data_changes_conn('full')")
    for i in range(10):
        conn.execute("INSERT INTO t VALUES (?, ?)", (i, f"v{i}"))
    seen = list(conn.changes())
    last = seen[4].change_id
    conn.close()  # checkpoint: turso_cdc goes into the SQLite file
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT count(*) FROM turso_cdc WHERE change_type = 1").fetchone() == (10,)
    raw.close()
    conn = turso_stream.connect(path, isolation_level=None)
    conn.execute("PRAGMA capture_data_changes_conn('full')")
    conn.execute("UPDATE t SET b = 'new' WHERE a = 9")
    resumed = list(conn.changes(since=last))
    assert [c.change_id for c in resumed] == [c.change_id for c in seen[5:]] + \
        [resumed[-1].change_id]
    assert resumed[-1].before == (9, "v9") and resumed[-1].after == (9, "new")
    conn.close()


def test_concurrent_writers_get_ids_in_commit_order(tmp_path):
    path = str(tmp_path / "conc.db")
    setup = turso_stream.connect(path, isolation_level=None)
    setup.execute("CREATE TABLE t(a INTEGER PRIMARY KEY, who, n)")
    commits = []
    order_lock = threading.Lock()
    errors = []

    def writer(who: int):
        conn = turso_stream.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA capture_data_changes_conn('after')")
        for n in range(40):
            while True:
                conn.execute("BEGIN CONCURRENT")
                conn.execute("INSERT INTO t(who, n) VALUES (?, ?)", (who, n))
                conn.execute("INSERT INTO t(who, n) VALUES (?, ?)", (who, n))
                try:
                    with order_lock:  # record commit order as the engine sees it
                        conn.execute("COMMIT")
                        commits.append((who, n))
                    break
                except turso_stream.OperationalError as exc:
                    conn.execute("ROLLBACK")
                    if "conflict" not in str(exc).lower() and "locked" not in str(exc):
                        errors.append(exc)
                        return
        conn.close()

    threads = [threading.Thread(target=writer, args=(w,)) for w in (1, 2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    changes = list(setup.changes())
    rows = setup.execute("SELECT change_id, change_txn_id, change_type FROM turso_cdc "
                         "ORDER BY change_id").fetchall()
    txn_ids = [r[1] for r in rows]
    assert txn_ids == sorted(txn_ids)
    # Each transaction's rows are contiguous and closed by its commit row.
    for i in range(0, len(rows), 3):
        assert [r[2] for r in rows[i:i + 3]] == [1, 1, 2]
        assert rows[i][1] == rows[i + 2][1]
    pairs = [c.after[1:] for c in changes][::2]
    assert pairs == [tuple(p) for p in commits]
    setup.close()


def test_debezium_envelopes():
    conn = turso_stream.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c BLOB)")
    conn.execute("PRAGMA capture_data_changes_conn('full')")
    conn.execute("INSERT INTO t VALUES (1, 'x', x'00ff')")
    conn.execute("UPDATE t SET b = 'y'")
    conn.execute("DELETE FROM t")
    events = list(conn.changes_debezium())
    assert [e["op"] for e in events] == ["c", "u", "d"]
    create, update, delete = events
    assert create["before"] is None and create["after"] == {"a": 1, "b": "x", "c": "AP8="}
    assert update["before"]["b"] == "x" and update["after"]["b"] == "y"
    assert delete["after"] is None and delete["before"] == {"a": 1, "b": "y", "c": "AP8="}
    for e in events:
        assert set(e) == {"before", "after", "source", "op", "ts_ms", "transaction"}
        src = e["source"]
        assert src["table"] == "t" and src["connector"] == "turso_stream"
        assert isinstance(src["txn_id"], int) and src["ts_ms"] % 1000 == 0
        assert e["transaction"]["id"] == str(src["txn_id"])
        json.dumps(e)  # serializable as is
    assert len({e["source"]["txn_id"] for e in events}) == 3


def test_change_record_helpers():
    ch = Change(7, 100, 3, 0, "t", 1, (1, "a"), (1, "b"), ("k", "v"))
    assert (ch.kind, ch.op) == ("update", "u")
    assert ch.before_dict == {"k": 1, "v": "a"} and ch.after_dict == {"k": 1, "v": "b"}
    env = debezium_envelope(ch, name="db", now_ms=5)
    assert env["ts_ms"] == 5 and env["source"]["ts_ms"] == 100_000
    assert env["source"]["change_id"] == 7


def test_without_rowid_ids():
    conn = turso_stream.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE w(k TEXT, j INTEGER, v, PRIMARY KEY(k, j)) WITHOUT ROWID")
    conn.execute("CREATE TABLE s(k TEXT PRIMARY KEY, v) WITHOUT ROWID")
    conn.execute("PRAGMA capture_data_changes_conn('full')")
    conn.execute("INSERT INTO w VALUES ('a', 2, 'x')")
    conn.execute("INSERT INTO s VALUES ('key', 'x')")
    conn.execute("UPDATE s SET v = 'y'")
    got = [(c.table, c.kind, c.id) for c in conn.changes()]
    assert got == [("w", "insert", '["a",2]'), ("s", "insert", "key"), ("s", "update", "key")]


def _ids(conn, table="turso_cdc"):
    return [r[0] for r in conn.execute(f"SELECT change_id FROM {table} ORDER BY 1")]


def test_raw_delete_by_another_connection_never_rewinds_ids(tmp_path):
    """Capture leaves sqlite_sequence alone while the table's largest key is the
    high-water mark; any commit deleting CDC rows (here a plain DELETE from a
    connection that does not capture) records the mark first, so ids go on after
    a restart and in sqlite3's view of the checkpointed file."""
    path = str(tmp_path / "raw.db")
    a = turso_stream.connect(path, isolation_level=None)
    b = turso_stream.connect(path, isolation_level=None)
    a.execute("CREATE TABLE t(x)")
    a.execute("PRAGMA capture_data_changes_conn('id')")
    for i in range(4):
        a.execute("INSERT INTO t VALUES (?)", (i,))
    top = max(_ids(a))
    assert top == 8
    seq = a.execute("SELECT seq FROM sqlite_sequence WHERE name = 'turso_cdc'").fetchone()
    assert seq is not None and seq[0] <= top  # written once, then left behind
    b.execute("DELETE FROM turso_cdc")
    assert b.execute("SELECT seq FROM sqlite_sequence WHERE name = 'turso_cdc'"
                     ).fetchone() == (top,)
    a.execute("INSERT INTO t VALUES ('same process')")
    assert _ids(a) == [top + 1, top + 2]
    b.execute("DELETE FROM turso_cdc WHERE change_id > ?", (top,))
    a.close()
    b.close()
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT seq FROM sqlite_sequence WHERE name = 'turso_cdc'"
                       ).fetchone() == (top + 2,)
    raw.close()
    conn = turso_stream.connect(path, isolation_level=None)
    conn.execute("PRAGMA capture_data_changes_conn('id')")
    conn.execute("INSERT INTO t VALUES ('after restart')")
    assert _ids(conn) == [top + 3, top + 4]
    conn.close()


def test_trim_inside_a_capturing_transaction_and_custom_table():
    conn = turso_stream.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t(x)")
    conn.execute("PRAGMA capture_data_changes_conn('id,feed')")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.execute("INSERT INTO t VALUES (2)")
    assert _ids(conn, "feed") == [1, 2, 3, 4]
    conn.execute("BEGIN")
    conn.execute("DELETE FROM feed")
    conn.execute("INSERT INTO t VALUES (3)")
    conn.execute("COMMIT")
    assert _ids(conn, "feed") == [5, 6]  # the trim is not captured; ids go on
    conn.execute("DELETE FROM feed")
    conn.execute("INSERT INTO t VALUES (4)")
    assert _ids(conn, "feed") == [7, 8]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["write", "write2", "trim_all", "trim_old", "trim_new",
                                 "reopen", "rollback"]), max_size=25))
def test_change_ids_strictly_increase_through_trims_and_restarts(tmp_path_factory, ops):
    """Every change_id ever observed is larger than every earlier one, whatever
    trims (from a non-capturing connection) and restarts happen in between."""
    path = str(tmp_path_factory.mktemp("ids") / "ids.db")
    writer = turso_stream.connect(path, isolation_level=None)
    writer.execute("CREATE TABLE t(x)")
    writer.execute("PRAGMA capture_data_changes_conn('id')")
    other = turso_stream.connect(path, isolation_level=None)
    seen = 0
    for op in ops:
        if op in ("write", "write2", "rollback"):
            writer.execute("BEGIN")
            writer.execute("INSERT INTO t VALUES (1)")
            if op == "write2":
                writer.execute("INSERT INTO t VALUES (2)")
            writer.execute("ROLLBACK" if op == "rollback" else "COMMIT")
            new = [i for i in _ids(writer) if i > seen]
            if op == "rollback":
                assert new == []
                continue
            assert len(new) == (3 if op == "write2" else 2)
            assert new[0] > seen
            seen = new[-1]
        elif op == "trim_all":
            other.execute("DELETE FROM turso_cdc")
        elif op == "trim_old":
            other.trim_changes(seen)
        elif op == "trim_new":
            other.execute("DELETE FROM turso_cdc WHERE change_id > ?", (seen - 2,))
        else:
            writer.close()
            other.close()
            writer = turso_stream.connect(path, isolation_level=None)
            writer.execute("PRAGMA capture_data_changes_conn('id')")
            other = turso_stream.connect(path, isolation_level=None)
        assert all(i <= seen for i in _ids(writer))
    writer.close()
    other.close()
