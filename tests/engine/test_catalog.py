"""The catalog's DDL parser against what stdlib sqlite3 reports for the same text:
PRAGMA table_info / index_list / index_xinfo, type affinity observed through
typeof(), rowid-alias rules, automatic index names, and CREATE-time errors."""

from __future__ import annotations

import sqlite3

import pytest

from engine.catalog import auto_indexes, parse_create_index, parse_create_table
from engine.database import Database
from engine.errors import OperationalError
from engine.values import affinity_of, typeof

TABLES = [
    "CREATE TABLE t(a, b INT, c TEXT NOT NULL, d REAL DEFAULT 1.5, e BLOB)",
    "CREATE TABLE t(id INTEGER PRIMARY KEY, name VARCHAR(20) NOT NULL DEFAULT 'x', n NUMERIC)",
    "CREATE TABLE t(a, b, c, PRIMARY KEY(b, a))",
    "CREATE TABLE t(a INT PRIMARY KEY, b UNIQUE, c DECIMAL(10, 5) UNIQUE)",
    "CREATE TABLE t(a TEXT, b INTEGER, c, PRIMARY KEY(a, b)) WITHOUT ROWID",
    "CREATE TABLE t(\"Quoted Col\" \"weird type\", [br] TEXT, `bt` INT, 'sq' 'str type')",
    "CREATE TABLE t(a UNSIGNED BIG INT, b DOUBLE PRECISION, c CHARACTER VARYING(5), d)",
    "CREATE TABLE t(a INTEGER NOT NULL PRIMARY KEY ON CONFLICT REPLACE, b COLLATE NOCASE)",
    "CREATE TABLE t(a INTEGER, b TEXT, c ANY, d BLOB, e REAL, f INT) STRICT",
    "CREATE TABLE t(a INT CONSTRAINT nn NOT NULL CONSTRAINT u UNIQUE, b REFERENCES p(x) ON DELETE CASCADE)",
    "CREATE TABLE IF NOT EXISTS main.t(a DEFAULT -1, b DEFAULT (1 + 2), c DEFAULT CURRENT_TIMESTAMP, "
    "d DEFAULT ((3)), e DEFAULT +4, f DEFAULT 'x')",
    "CREATE TABLE t(a, b UNIQUE, c, PRIMARY KEY(c), UNIQUE(a), UNIQUE(b, c))",
    "CREATE TEMP TABLE t(a PRIMARY KEY DESC, b)",
]


def sqlite_table(ddl):
    con = sqlite3.connect(":memory:")
    con.execute(ddl)
    info = con.execute("PRAGMA table_info(t)").fetchall()
    schema = "temp" if " TEMP " in ddl else "main"
    indexes = con.execute(f"PRAGMA {schema}.index_list(t)").fetchall()
    index_cols = {row[1]: [r[2] for r in con.execute(f"PRAGMA {schema}.index_info({row[1]!r})")]
                  for row in indexes}
    con.close()
    return info, indexes, index_cols


@pytest.mark.parametrize("ddl", TABLES)
def test_table_info_matches_sqlite(ddl):
    """(cid, name, type, notnull, dflt_value, pk) for every column, as PRAGMA table_info."""
    info, _indexes, _cols = sqlite_table(ddl)
    schema = parse_create_table(ddl)
    ours = []
    for cid, col in enumerate(schema.columns):
        pk = schema.primary_key.index(cid) + 1 if cid in schema.primary_key else 0
        ours.append((cid, col.name, col.decltype, int(col.not_null), col.default_sql, pk))
    assert ours == [tuple(r) for r in info]
    assert schema.name == "t"
    assert schema.without_rowid == ("WITHOUT ROWID" in ddl)
    assert schema.strict == ddl.endswith("STRICT")


@pytest.mark.parametrize("ddl", TABLES)
def test_automatic_index_names_and_columns_match_sqlite(ddl):
    _info, indexes, index_cols = sqlite_table(ddl)
    schema = parse_create_table(ddl)
    ours = {ix.name: ([schema.columns[p.column].name for p in ix.columns], ix.origin)
            for ix in auto_indexes(schema)}
    theirs = {name: (index_cols[name], origin) for _seq, name, _u, origin, _p in indexes}
    if schema.without_rowid:
        # A WITHOUT ROWID table's primary key is our storage key, not an index.
        theirs = {k: v for k, v in theirs.items() if v[1] != "pk"}
    assert ours == theirs
    assert all(ix.unique and ix.sql is None for ix in auto_indexes(schema))


# ---------------------------------------------------------------------------
# Affinity
# ---------------------------------------------------------------------------

DECLTYPES = ["", "INT", "integer", "TINYINT", "BIGINT UNSIGNED", "VARCHAR(10)", "NCHAR(55)",
             "CHARACTER(20)", "TEXT", "CLOB", "BLOB", "REAL", "DOUBLE", "DOUBLE PRECISION",
             "FLOAT", "NUMERIC", "DECIMAL(10,5)", "BOOLEAN", "DATE", "DATETIME", "POINT",
             "STRING", "FLOATING POINT", "CHARINT", "BLOBBY", "xyz", "ANY", "INTERVAL"]
PROBES = ["12", " 12 ", "12.0", "1e3", "12abc", "0x10", 12, 12.0, 12.5, b"\x01", None,
          "9223372036854775808", "-0", "3.0e0"]


def test_affinity_matches_sqlite_storage():
    """What each declared type's affinity stores, checked value by value against
    sqlite3's typeof() and value, both directly and through an engine insert."""
    cols = ", ".join(f'c{i} {t}' for i, t in enumerate(DECLTYPES))
    ddl = f"CREATE TABLE aff({cols})"
    con = sqlite3.connect(":memory:")
    con.execute(ddl)
    db = Database(":memory:")
    txn = db.begin("IMMEDIATE")
    txn.create_table(ddl)
    marks = ", ".join("?" * len(DECLTYPES))
    for probe in PROBES:
        row = (probe,) * len(DECLTYPES)
        con.execute(f"INSERT INTO aff VALUES ({marks})", row)
        txn.insert("aff", row)
    selects = ", ".join(f"c{i}, typeof(c{i})" for i in range(len(DECLTYPES)))
    theirs = con.execute(f"SELECT {selects} FROM aff ORDER BY rowid").fetchall()
    ours = [row for _k, row in txn.scan("aff")]
    for probe, srow, orow in zip(PROBES, theirs, ours):
        for i, decl in enumerate(DECLTYPES):
            want = (srow[2 * i], srow[2 * i + 1])
            got = (orow[i], typeof(orow[i]))
            assert got == want, (decl, affinity_of(decl), probe)
    txn.commit()
    db._check()


@pytest.mark.parametrize("decl, expected", [
    ("", "BLOB"), ("INT", "INTEGER"), ("VARCHAR", "TEXT"), ("BLOB", "BLOB"),
    ("REAL", "REAL"), ("FLOATING POINT", "INTEGER"), ("CHARINT", "INTEGER"),
    ("STRING", "NUMERIC"), ("DOUBLE", "REAL"), ("CLOB", "TEXT"), ("DECIMAL", "NUMERIC"),
])
def test_affinity_rules_in_order(decl, expected):
    """datatype3.html section 3.1: INT, then CHAR/CLOB/TEXT, then BLOB or none, then
    REAL/FLOA/DOUB, else NUMERIC - first match wins."""
    assert affinity_of(decl) == expected


# ---------------------------------------------------------------------------
# Rowid alias rules
# ---------------------------------------------------------------------------

ALIAS_CASES = [
    ("CREATE TABLE t(a INTEGER PRIMARY KEY, b)", True),
    ("CREATE TABLE t(a integer primary key asc, b)", True),
    ("CREATE TABLE t(a INT PRIMARY KEY, b)", False),
    ("CREATE TABLE t(a BIGINT PRIMARY KEY, b)", False),
    ("CREATE TABLE t(a INTEGER PRIMARY KEY DESC, b)", False),  # SQLite's documented quirk
    ("CREATE TABLE t(a INTEGER, b, PRIMARY KEY(a DESC))", True),
    ("CREATE TABLE t(a INTEGER, b, PRIMARY KEY(a))", True),
    ("CREATE TABLE t(a INTEGER, b INTEGER, PRIMARY KEY(a, b))", False),
    ("CREATE TABLE t(a INTEGER PRIMARY KEY, b) WITHOUT ROWID", False),
    ("CREATE TABLE t(a UNSIGNED INTEGER PRIMARY KEY, b)", False),
]


def sqlite_has_alias(ddl):
    """In SQLite an alias column reads back the rowid when NULL is inserted."""
    con = sqlite3.connect(":memory:")
    con.execute(ddl)
    try:
        con.execute("INSERT INTO t(a, b) VALUES (NULL, 5)")
    except sqlite3.IntegrityError:
        return False  # NOT NULL primary key (WITHOUT ROWID)
    return con.execute("SELECT a FROM t").fetchone()[0] is not None


@pytest.mark.parametrize("ddl, alias", ALIAS_CASES)
def test_rowid_alias_rules(ddl, alias):
    assert sqlite_has_alias(ddl) == alias  # the oracle agrees with the table
    schema = parse_create_table(ddl)
    assert (schema.rowid_alias == 0) == alias
    if not alias:
        assert schema.rowid_alias is None


# ---------------------------------------------------------------------------
# CREATE INDEX
# ---------------------------------------------------------------------------

BASE = "CREATE TABLE t(a, b TEXT COLLATE NOCASE, c)"
INDEXES = [
    "CREATE INDEX i ON t(a)",
    "CREATE UNIQUE INDEX i ON t(b, a DESC)",
    "CREATE INDEX IF NOT EXISTS i ON t(c COLLATE RTRIM, b)",
    "CREATE INDEX i ON t(a + c, b)",
    "CREATE INDEX i ON t(b) WHERE a > 0",
    'CREATE INDEX "i" ON t("a" ASC, [c] DESC)',
]


@pytest.mark.parametrize("sql", INDEXES)
def test_create_index_matches_index_xinfo(sql):
    con = sqlite3.connect(":memory:")
    con.execute(BASE)
    con.execute(sql)
    # (seqno, cid, name, desc, coll, key) for key columns only
    xinfo = [r for r in con.execute("PRAGMA index_xinfo(i)") if r[5] == 1]
    partial = con.execute("PRAGMA index_list(t)").fetchone()[4]
    unique = con.execute("PRAGMA index_list(t)").fetchone()[2]
    table = parse_create_table(BASE)
    ix = parse_create_index(sql, lambda n: table if n.lower() == "t" else None)
    assert ix.name == "i" and ix.table == "t" and ix.origin == "c" and ix.sql == sql
    assert int(ix.unique) == unique
    assert (ix.where_sql is not None) == bool(partial)
    ours = [(p.column if p.column is not None else -2, int(p.desc), p.collation)
            for p in ix.columns]
    assert ours == [(r[1], r[3], r[4]) for r in xinfo]


def test_create_index_errors_match_sqlite():
    table = parse_create_table(BASE)
    lookup = lambda n: table if n.lower() == "t" else None  # noqa: E731
    cases = ["CREATE INDEX i ON nope(a)", "CREATE INDEX i ON t(zz)", "CREATE INDEX i ON t()",
             "CREATE INDEX i ON t(a,)"]
    for sql in cases:
        con = sqlite3.connect(":memory:")
        con.execute(BASE)
        with pytest.raises(sqlite3.OperationalError) as theirs:
            con.execute(sql)
        with pytest.raises(OperationalError) as ours:
            parse_create_index(sql, lookup)
        assert str(ours.value) == str(theirs.value), sql


# ---------------------------------------------------------------------------
# CREATE-time errors
# ---------------------------------------------------------------------------

BAD_TABLES = [
    "CREATE TABLE t(a, b, A)",
    "CREATE TABLE t(a PRIMARY KEY, b PRIMARY KEY)",
    "CREATE TABLE t(a PRIMARY KEY, b, PRIMARY KEY(b))",
    "CREATE TABLE t(a, b) WITHOUT ROWID",
    "CREATE TABLE t(a INT PRIMARY KEY AUTOINCREMENT)",
    "CREATE TABLE t(a FOO) STRICT",
    "CREATE TABLE t(a) STRICT",
    "CREATE TABLE t(a, PRIMARY KEY(zz))",
    "CREATE TABLE t(a, UNIQUE(zz))",
    "CREATE TABLE t()",
    "CREATE TABLE t(a) WITHOUT FOO",
    "CREATE TABLE t(a",
    "CREATE TABLE t(a $)",
]


@pytest.mark.parametrize("ddl", BAD_TABLES)
def test_create_table_errors_match_sqlite(ddl):
    con = sqlite3.connect(":memory:")
    with pytest.raises(sqlite3.Error) as theirs:
        con.execute(ddl)
    with pytest.raises(sqlite3.Error) as ours:
        # STRICT type checking happens when the engine compiles the table.
        schema = parse_create_table(ddl)
        db = Database(":memory:")
        db.begin("IMMEDIATE").create_table(ddl)
        assert schema is not None
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value) == str(theirs.value)


def test_reserved_and_duplicate_names_through_a_transaction():
    db = Database(":memory:")
    txn = db.begin("IMMEDIATE")
    txn.create_table("CREATE TABLE t(a)")
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t(a)")
    for sql in ["CREATE TABLE sqlite_x(a)", "CREATE TABLE T(b)"]:
        with pytest.raises(sqlite3.OperationalError) as theirs:
            con.execute(sql)
        with pytest.raises(OperationalError) as ours:
            txn.create_table(sql)
        assert str(ours.value) == str(theirs.value)
    assert txn.create_table("CREATE TABLE t(z)", if_not_exists=True) is None
    txn.commit()
    db._check()
    assert db.catalog.table("T").column_names == ("a",)


def test_name_clashes_between_tables_and_indexes_match_sqlite():
    db = Database(":memory:")
    txn = db.begin("IMMEDIATE")
    con = sqlite3.connect(":memory:")
    for sql in ["CREATE TABLE kv(x)", "CREATE INDEX ix ON kv(x)"]:
        con.execute(sql)
        (txn.create_table if "TABLE" in sql else txn.create_index)(sql)
    for sql in ["CREATE TABLE ix(a)", "CREATE INDEX kv ON kv(x)", "CREATE INDEX IX ON kv(x)",
                "CREATE TABLE KV(a)"]:
        with pytest.raises(sqlite3.OperationalError) as theirs:
            con.execute(sql)
        with pytest.raises(OperationalError) as ours:
            (txn.create_table if "TABLE" in sql else txn.create_index)(sql)
        assert str(ours.value) == str(theirs.value)
    txn.rollback()
