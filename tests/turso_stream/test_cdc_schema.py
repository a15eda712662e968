"""CDC of schema changes: DDL recorded as ``sqlite_schema`` rows, as Turso records it.

Our own expectations are asserted unconditionally (decoded records, plus bytes
captured from pyturso 0.8.3); when the ``turso`` package is importable the same
workloads also run on it and the rows are compared live, byte for byte except
the sqlite_schema rowid and rootpage (pyturso's schema holds an extra internal
table, so its numbers differ; we check they name the same objects consistently).
"""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

import turso_stream
from engine.cdc import SCHEMA_COLUMNS, alter_statements, column_map, decode_record, encode_record
from engine.catalog import parse_create_table
from turso_stream.cdc import debezium_envelope

MODES = ["id", "before", "after", "full"]

# Every DDL kind pyturso records, each statement in autocommit. The texts are in
# the form pyturso re-renders CREATE text to, so the records can match exactly.
WORKLOAD = [
    "CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)",
    "INSERT INTO t VALUES (1, 'x')",
    "CREATE INDEX ti ON t (b)",
    "ALTER TABLE t ADD COLUMN c INT",
    "ALTER TABLE t DROP COLUMN c",
    "DROP INDEX ti",
    "CREATE TABLE q (x, y UNIQUE, z)",
    "CREATE INDEX qz ON q (z)",
    "DROP TABLE q",
    "DROP TABLE t",
]

_T0 = ("table", "t", "t", 6, "CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)")
_T1 = ("table", "t", "t", 6, "CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, c INT)")
_TI = ("index", "ti", "t", 7, "CREATE INDEX ti ON t (b)")
_Q = ("table", "q", "q", 7, "CREATE TABLE q (x, y UNIQUE, z)")
_QZ = ("index", "qz", "q", 9, "CREATE INDEX qz ON q (z)")
_C = (2, None, None, None, None, None)  # a commit row
# Our rows for WORKLOAD in mode full: (change_type, table_name, id, before, after,
# updates), records decoded. ids: sqlite_schema numbers (1-4 are the CDC tables).
OURS_FULL = [
    (1, "sqlite_schema", 5, None, _T0, None), _C,
    (1, "t", 1, None, (1, "x"), None), _C,
    (1, "sqlite_schema", 6, None, _TI, None), _C,
    (0, "sqlite_schema", 5, _T0, _T1,
     (0, 0, 0, 0, 1, None, None, None, None, "ALTER TABLE t ADD COLUMN c INT")), _C,
    (0, "sqlite_schema", 5, _T1, _T0,
     (0, 0, 0, 0, 1, None, None, None, None, "ALTER TABLE t DROP COLUMN c")), _C,
    (-1, "sqlite_schema", 6, _TI, None, None), _C,
    (1, "sqlite_schema", 6, None, _Q, None), _C,  # its auto-index is not recorded
    (1, "sqlite_schema", 8, None, _QZ, None), _C,
    (-1, "sqlite_schema", 6, _Q, None, None), _C,  # qz goes with it, unrecorded
    (-1, "sqlite_schema", 5, _T0, None, None), _C,
]
# Bytes pyturso 0.8.3 wrote for the ADD COLUMN change (updates needs no renumbering)
# and for the CREATE TABLE t record (its rootpage is 7 where ours is 6).
PYTURSO_ADD_COLUMN_UPDATES = (b"\x0b\x08\x08\x08\x08\t\x00\x00\x00\x00"
                              b"IALTER TABLE t ADD COLUMN c INT")
PYTURSO_CREATE_T = (b"\x06\x17\x0f\x0f\x01itablett\x07"
                    b"CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)")


def _expected(mode: str) -> list:
    """OURS_FULL as ``mode`` records it (before/after/updates dropped)."""
    return [(kind, table, rid,
             before if mode in ("before", "full") else None,
             after if mode in ("after", "full") else None,
             updates if mode == "full" else None)
            for kind, table, rid, before, after, updates in OURS_FULL]


def _raw_rows(conn, mode: str, statements) -> list:
    conn.execute(f"PRAGMA capture_data_changes_conn('{mode}')")
    for sql in statements:
        conn.execute(sql)
    return [tuple(r) for r in conn.execute(
        "SELECT change_id, change_type, table_name, id, before, after, updates "
        "FROM turso_cdc ORDER BY change_id").fetchall()]


def _decoded(rows) -> list:
    return [(kind, table, rid) + tuple(None if b is None else decode_record(b)
                                       for b in (before, after, updates))
            for _cid, kind, table, rid, before, after, updates in rows]


def _ours(mode: str, statements=WORKLOAD) -> list:
    return _raw_rows(turso_stream.connect(":memory:", isolation_level=None), mode, statements)


@pytest.mark.parametrize("mode", MODES)
def test_each_ddl_kind_in_each_mode(mode):
    rows = _ours(mode)
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    assert _decoded(rows) == _expected(mode)
    blobs = {(r[0], col): r[col] for r in rows for col in (4, 5, 6)}
    if mode in ("after", "full"):
        # pyturso's bytes with its rootpage (7) where ours is 6: identical otherwise
        theirs = decode_record(PYTURSO_CREATE_T)
        assert encode_record(theirs[:3] + (6,) + theirs[4:]) == blobs[(1, 5)]
    if mode == "full":
        assert blobs[(7, 6)] == PYTURSO_ADD_COLUMN_UPDATES


def _normalized(rows) -> list:
    """Rows with sqlite_schema ids and rootpages replaced by the order in which
    they first appear (each database numbers its own schema)."""
    ids, pages = {}, {}
    out = []
    for cid, kind, table, rid, before, after, updates in rows:
        recs = [None if b is None else decode_record(b) for b in (before, after)]
        if table == "sqlite_schema":
            rid = ids.setdefault(rid, len(ids))
            recs = [None if r is None else r[:3] + (pages.setdefault(r[3], len(pages)),) + r[4:]
                    for r in recs]
        out.append((cid, kind, table, rid, recs[0], recs[1], updates))
    return out


def _same_bytes_but_rootpage(ours, theirs) -> None:
    """Each of our record blobs equals pyturso's once its rootpage is put in ours."""
    for a, b in zip(ours, theirs):
        for col in (4, 5):
            if a[col] is None or b[col] is None:
                assert a[col] is b[col] is None
                continue
            mine = decode_record(a[col])
            if a[2] == "sqlite_schema":
                mine = mine[:3] + (decode_record(b[col])[3],) + mine[4:]
            assert encode_record(mine) == b[col]
        assert a[6] == b[6]


@pytest.mark.parametrize("mode", MODES)
def test_matches_pyturso_live(mode):
    turso = pytest.importorskip("turso")
    theirs = _raw_rows(turso.connect(":memory:", isolation_level=None), mode, WORKLOAD)
    ours = _ours(mode)
    assert _normalized(ours) == _normalized(theirs)
    _same_bytes_but_rootpage(ours, theirs)


def test_create_table_with_constraints_matches_pyturso():
    statements = ["CREATE TABLE t (x, y, z UNIQUE, q, PRIMARY KEY (x, y))",
                  "CREATE INDEX t_q ON t (q)", "DROP TABLE t"]
    ours = _ours("full", statements)
    assert [(r[1], r[2]) for r in ours] == [
        (1, "sqlite_schema"), (2, None), (1, "sqlite_schema"), (2, None),
        (-1, "sqlite_schema"), (2, None)]
    assert decode_record(ours[0][5])[4] == statements[0]
    turso = pytest.importorskip("turso")
    theirs = _raw_rows(turso.connect(":memory:", isolation_level=None), "full", statements)
    assert _normalized(ours) == _normalized(theirs)
    _same_bytes_but_rootpage(ours, theirs)


def _conn(mode="full"):
    conn = turso_stream.connect(":memory:", isolation_level=None)
    conn.execute(f"PRAGMA capture_data_changes_conn('{mode}')")
    return conn


def _feed(conn):
    return conn.execute("SELECT change_id, change_txn_id, change_type, table_name, id "
                        "FROM turso_cdc ORDER BY change_id").fetchall()


def test_views_triggers_materialized_views_and_rename():
    conn = _conn()
    conn.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)")
    conn.execute("CREATE INDEX ti ON t (b)")
    conn.execute("CREATE VIEW v AS SELECT b FROM t")
    conn.execute("CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END")
    conn.execute("CREATE MATERIALIZED VIEW mv AS SELECT b, count(*) AS n FROM t GROUP BY b")
    conn.execute("INSERT INTO t VALUES (1, 'x')")
    start = _feed(conn)[-1][0]
    conn.execute("ALTER TABLE t RENAME TO u")
    changes = list(conn.changes(since=start))
    # One update of the table's row: the index, view and trigger texts the rename
    # rewrote are implied by it (replaying the ALTER rewrites them), the rows unchanged.
    assert [(c.kind, c.table, c.before[1], c.after[1]) for c in changes] == \
        [("update", "sqlite_schema", "t", "u")]
    assert changes[0].ddl == "ALTER TABLE t RENAME TO u"
    assert changes[0].after[4] == 'CREATE TABLE "u" (a INTEGER PRIMARY KEY, b TEXT)'
    assert changes[0].updates[:5] == (0, 1, 1, 0, 1)
    conn.execute("DROP VIEW v")
    conn.execute("DROP MATERIALIZED VIEW mv")
    conn.execute("DROP TABLE u")  # takes index ti and trigger tr with it
    kinds = [(c.kind, c.before[0], c.before[1], c.ddl) for c in conn.changes(since=start + 2)]
    assert kinds == [("delete", "view", "v", "DROP VIEW v"),
                     ("delete", "view", "mv", "DROP MATERIALIZED VIEW mv"),
                     ("delete", "table", "u", "DROP TABLE u")]
    created = [c.after[:2] for c in conn.changes() if c.is_schema and c.kind == "insert"]
    assert created == [("table", "t"), ("index", "ti"), ("view", "v"), ("trigger", "tr"),
                       ("view", "mv")]


def test_rolled_back_ddl_leaves_no_rows():
    conn = _conn()
    conn.execute("CREATE TABLE keep (a)")
    before = _feed(conn)
    conn.execute("BEGIN")
    conn.execute("CREATE TABLE gone (a)")
    conn.execute("INSERT INTO gone VALUES (1)")
    conn.execute("CREATE INDEX gi ON gone (a)")
    conn.execute("ALTER TABLE keep ADD COLUMN b")
    conn.execute("ROLLBACK")
    assert _feed(conn) == before
    conn.execute("BEGIN")
    conn.execute("CREATE TABLE kept (a)")
    conn.execute("SAVEPOINT s")
    conn.execute("CREATE TABLE undone (a)")
    conn.execute("DROP TABLE keep")
    conn.execute("ROLLBACK TO s")
    conn.execute("RELEASE s")
    conn.execute("COMMIT")
    new = [c for c in conn.changes(since=before[-1][0])]
    assert [(c.kind, c.after[1]) for c in new] == [("insert", "kept")]


def test_ddl_and_dml_in_one_transaction_share_txn_id_and_order():
    conn = _conn()
    conn.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)")
    conn.execute("INSERT INTO t VALUES (1, 'x'), (2, 'y'), (4, 'w')")
    start = _feed(conn)[-1][0]
    conn.execute("BEGIN")
    conn.execute("INSERT INTO t VALUES (3, 'z')")
    conn.execute("UPDATE t SET b = 'X' WHERE a = 1")
    conn.execute("DELETE FROM t WHERE a = 2")
    conn.execute("ALTER TABLE t ADD COLUMN c DEFAULT 7")
    conn.execute("UPDATE t SET c = 8 WHERE a = 1")
    conn.execute("CREATE TABLE s (k)")
    conn.execute("INSERT INTO s VALUES ('new')")
    conn.execute("CREATE INDEX sk ON s (k)")
    conn.execute("COMMIT")
    feed = [r for r in _feed(conn) if r[0] > start]
    assert len({r[1] for r in feed}) == 1  # one change_txn_id
    assert [r[2] for r in feed][-1] == 2 and [r[2] for r in feed].count(2) == 1
    got = [(c.kind, c.table, c.id, c.before, c.after) for c in conn.changes(since=start)]
    t_new = 'CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, c DEFAULT 7)'
    assert got[0][:3] == ("update", "sqlite_schema", 5) and got[0][4][4] == t_new
    assert [(k, t, i) for k, t, i, _b, _a in got[1:3]] == \
        [("insert", "sqlite_schema", 6), ("insert", "sqlite_schema", 7)]
    # Rows of the ALTERed table, before images in its new shape (the DEFAULT filled in);
    # row 4, only reshaped by the ALTER, is no change. Then the new table's row.
    assert got[3:] == [
        ("update", "t", 1, (1, "x", 7), (1, "X", 8)),
        ("delete", "t", 2, (2, "y", 7), None),
        ("insert", "t", 3, None, (3, "z", 7)),
        ("insert", "s", 1, None, ("new",)),
    ]


def test_changes_filter_debezium_and_column_names():
    conn = _conn()
    conn.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)")
    conn.execute("CREATE TABLE other (z)")
    conn.execute("INSERT INTO t VALUES (1, 'x')")
    conn.execute("ALTER TABLE t ADD COLUMN c")
    conn.execute("INSERT INTO t VALUES (2, 'y', 3)")
    conn.execute("CREATE INDEX tb ON t (b)")
    conn.execute("DROP TABLE t")
    mine = list(conn.changes(tables={"t"}))  # the table's rows and its own DDL
    assert [(c.table, c.kind) for c in mine] == [
        ("sqlite_schema", "insert"), ("t", "insert"), ("sqlite_schema", "update"),
        ("t", "insert"), ("sqlite_schema", "insert"), ("sqlite_schema", "delete")]
    # columns follow the schema changes in the feed, though t no longer exists
    assert mine[1].after_dict == {"a": 1, "b": "x"}
    assert mine[3].after_dict == {"a": 2, "b": "y", "c": 3}
    assert mine[2].before_dict["sql"] == "CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)"
    assert tuple(mine[2].after_dict) == SCHEMA_COLUMNS
    assert [c.ddl for c in mine if c.is_schema] == [
        "CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)", "ALTER TABLE t ADD COLUMN c",
        "CREATE INDEX tb ON t (b)", "DROP TABLE t"]
    assert [c.after[1] for c in conn.changes(tables={"sqlite_schema"}) if c.after] == \
        ["t", "other", "t", "tb"]
    env = debezium_envelope(mine[2], now_ms=5)
    assert env["op"] == "u" and env["source"]["table"] == "sqlite_schema"
    assert env["source"]["query"] == "ALTER TABLE t ADD COLUMN c"
    assert env["after"]["sql"].endswith("b TEXT, c)") and env["before"]["type"] == "table"
    assert "query" not in debezium_envelope(mine[1], now_ms=5)["source"]
    envs = list(conn.changes_debezium(tables={"sqlite_schema"}))
    assert [e["op"] for e in envs] == ["c", "c", "u", "c", "d"]


def test_ddl_needs_its_mode_for_ddl_text():
    conn = _conn("id")
    conn.execute("CREATE TABLE t (a)")
    conn.execute("ALTER TABLE t ADD COLUMN b")
    assert [(c.kind, c.ddl) for c in conn.changes()] == [("insert", None), ("update", None)]


def test_resume_after_restart_sees_ddl_once_in_order(tmp_path):
    path = str(tmp_path / "db")
    conn = turso_stream.connect(path, isolation_level=None)
    conn.execute("PRAGMA capture_data_changes_conn('full')")
    conn.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b)")
    conn.execute("INSERT INTO t VALUES (1, 'x')")
    seen = [c.change_id for c in conn.changes()]
    conn.execute("CREATE INDEX tb ON t (b)")
    conn.execute("ALTER TABLE t ADD COLUMN c")
    conn.close()
    conn = turso_stream.connect(path, isolation_level=None)
    conn.execute("PRAGMA capture_data_changes_conn('full')")
    conn.execute("DROP INDEX tb")
    conn.execute("INSERT INTO t VALUES (2, 'y', 1)")
    rest = list(conn.changes(since=seen[-1]))
    assert [(c.table, c.kind) for c in rest] == [
        ("sqlite_schema", "insert"), ("sqlite_schema", "update"),
        ("sqlite_schema", "delete"), ("t", "insert")]
    everything = [c.change_id for c in conn.changes()]
    assert seen + [c.change_id for c in rest] == everything
    assert [c.txn_id for c in conn.changes()] == sorted(c.txn_id for c in conn.changes())
    assert rest[2].before[1] == "tb"  # the index dropped after the restart
    conn.close()


# -- helpers ---------------------------------------------------------------------------------

def test_column_map_and_alter_statements():
    def schema(sql):
        return parse_create_table(sql)
    old = schema("CREATE TABLE t (a, b INT, c TEXT)")
    assert column_map(old, schema("CREATE TABLE t (a, c TEXT)")) == [0, 2]
    assert column_map(old, schema("CREATE TABLE t (a, bb INT, c TEXT, d REAL)")) == \
        [0, 1, 2, None]
    assert alter_statements(old, schema('CREATE TABLE "my t" (a, bb INT, c TEXT, d REAL)')) \
        == ['ALTER TABLE t RENAME TO "my t"', 'ALTER TABLE "my t" RENAME COLUMN b TO bb',
            'ALTER TABLE "my t" ADD COLUMN d REAL']
    assert alter_statements(old, schema("CREATE TABLE t (a, \"order\", c TEXT)")) == \
        ['ALTER TABLE t RENAME COLUMN b TO "order"']
    assert alter_statements(old, schema("CREATE TABLE t (a, b INT)")) == \
        ["ALTER TABLE t DROP COLUMN c"]


# -- replaying the feed into SQLite rebuilds schema and data ---------------------------------

_DDL = st.sampled_from([
    "CREATE TABLE IF NOT EXISTS {t} (a INTEGER PRIMARY KEY, b TEXT)",
    "DROP TABLE IF EXISTS {t}",
    "ALTER TABLE {t} ADD COLUMN c{n} DEFAULT {n}",
    "ALTER TABLE {t} RENAME TO {u}",
    "ALTER TABLE {t} RENAME COLUMN b TO b{n}",
    "CREATE INDEX IF NOT EXISTS i{n} ON {t} (a)",
    "CREATE VIEW IF NOT EXISTS v{n} AS SELECT * FROM {t}",
    "ALTER TABLE {t} DROP COLUMN c{n}",
    "DROP INDEX IF EXISTS i{n}",
    "DROP VIEW IF EXISTS v{n}",
    "CREATE TRIGGER IF NOT EXISTS g{n} AFTER INSERT ON {t} BEGIN SELECT 1; END",
    "CREATE TABLE IF NOT EXISTS {t} (a INTEGER PRIMARY KEY, b TEXT, c{n} UNIQUE)",
    "CREATE TABLE IF NOT EXISTS {t} (a INTEGER PRIMARY KEY, b REFERENCES {u} (b))",
    "INSERT INTO {t} (a) VALUES ({n})",
    "UPDATE {t} SET a = a + 100 WHERE a = {n}",
    "DELETE FROM {t} WHERE a % 3 = {n} % 3",
    "UPDATE {t} SET b = 'u{n}' WHERE a % 2 = {n} % 2",
])
_STEP = st.tuples(_DDL, st.sampled_from(["t1", "t2"]), st.sampled_from(["t1", "t2", "t3"]),
                  st.integers(0, 9), st.booleans())


def _apply(mirror, change) -> None:
    """Replay one change into a stdlib sqlite3 database."""
    if change.is_schema:
        mirror.executescript(change.ddl)  # an update's ALTERs may be several statements
        return
    q = '"' + change.table + '"'
    if change.kind in ("update", "delete"):
        mirror.execute(f"DELETE FROM {q} WHERE rowid = ?", (change.id,))
    if change.kind in ("insert", "update"):
        marks = ", ".join("?" * (len(change.after) + 1))
        mirror.execute(f"INSERT INTO {q} (rowid, {', '.join(change.columns)}) VALUES ({marks})",
                       (change.id,) + change.after)


def _contents(conn) -> dict:
    schema = sorted((r[0], r[1], r[2]) for r in conn.execute(
        "SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL "
        "AND name NOT LIKE 'turso_cdc%' AND name != 'sqlite_sequence'"))
    rows = {name: sorted(conn.execute(f'SELECT rowid, * FROM "{name}"').fetchall())
            for typ, name, _sql in schema if typ == "table"}
    return {"schema": schema, "rows": rows}


@settings(max_examples=int(__import__("os").environ.get("CDC_EXAMPLES", 40)), deadline=None)
@given(st.lists(st.lists(_STEP, min_size=1, max_size=4), min_size=1, max_size=6))
def test_replaying_the_feed_rebuilds_the_database(transactions):
    conn = _conn()
    for t in ("t1", "t2"):
        conn.execute(f"CREATE TABLE {t} (a INTEGER PRIMARY KEY, b TEXT, c0 DEFAULT 'd')")
        conn.execute(f"INSERT INTO {t} (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z'), (5, 'w')")
    for steps in transactions:
        conn.execute("BEGIN")
        for template, t, u, n, keep in steps:
            try:
                conn.execute("SAVEPOINT s")
                conn.execute(template.format(t=t, u=u, n=n))
                conn.execute("RELEASE s" if keep else "ROLLBACK TO s")
                if not keep:
                    conn.execute("RELEASE s")
            except turso_stream.Error:
                conn.execute("ROLLBACK TO s")
                conn.execute("RELEASE s")
        conn.execute("COMMIT")
    mirror = sqlite3.connect(":memory:", isolation_level=None)
    for change in conn.changes():
        event(f"{change.kind} {'schema' if change.is_schema else 'row'}")
        try:
            _apply(mirror, change)
        except sqlite3.OperationalError as exc:
            # Our RENAME accepts a schema holding a view over a dropped table; SQLite's
            # refuses ("error in view v0: no such table"): an ALTER difference, not CDC's.
            assume("error in view" not in str(exc))
            raise
    assert _contents(mirror) == _contents(conn)
