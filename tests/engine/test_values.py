"""engine.values, differential against the stdlib sqlite3 (SQLite 3.40)."""

import math
import sqlite3

import pytest
from hypothesis import given, settings, strategies as st

from engine import values as V

SETTINGS = settings(max_examples=300, deadline=None)


@pytest.fixture(scope="module")
def db():
    conn = sqlite3.connect(":memory:")
    conn.text_factory = lambda b: b.decode("utf-8", "replace")
    yield conn
    conn.close()


# --- strategies -------------------------------------------------------------

ints = st.one_of(
    st.integers(min_value=V.INT64_MIN, max_value=V.INT64_MAX),
    st.sampled_from([0, 1, -1, V.INT64_MIN, V.INT64_MAX, V.INT64_MAX - 1, 2**53 + 1, 2**51]),
)
floats = st.one_of(
    st.floats(allow_nan=False),
    st.sampled_from([0.0, -0.0, 1.0, 0.5, 1e20, 1e15, 1e14, 2.0**63, -2.0**63, 2.0**51,
                     math.inf, -math.inf, 3.0, 1e-5, 123456789012345678.0]),
)
_space = st.sampled_from(["", " ", "  ", "\t", "\n", "\x0b", "\x0c", "\r"])
_digits = st.text(alphabet="0123456789", max_size=22)
numeric_text = st.builds(
    lambda lead, sign, whole, dot, frac, exp, trail, junk: (
        lead + sign + whole + (("." + frac) if dot else "") + exp + trail + junk),
    _space, st.sampled_from(["", "+", "-"]), _digits, st.booleans(),
    st.text(alphabet="0123456789", max_size=6),
    st.sampled_from(["", "e", "E5", "e+3", "e-2", "e400", "e-400", "e+", "e18", "e19"]),
    _space, st.sampled_from(["", "", "", "x", "abc", " 1", ".", "e", "0x1"]),
)
texts = st.one_of(numeric_text, st.text(max_size=8),
                  st.sampled_from(["", "0x10", "Inf", "nan", "1_0", "- 5", "٣", "."]))
blobs = st.one_of(st.binary(max_size=6), numeric_text.map(lambda s: s.encode()))
values = st.one_of(st.none(), ints, floats, texts, blobs)


def same(a, b):
    """Type-strict equality of SQLite values (-0.0 == 0.0 as SQLite compares)."""
    return type(a) is type(b) and a == b


# --- affinity ---------------------------------------------------------------

_type_words = st.sampled_from([
    "INT", "INTEGER", "BIGINT", "CHAR", "VARCHAR", "CLOB", "TEXT", "BLOB", "REAL",
    "FLOAT", "FLOATING", "POINT", "DOUBLE", "PRECISION", "NUMERIC", "DECIMAL", "DATE",
    "STRING", "BOOLEAN", "X", "CHARINT", "TEXTBLOB", "BLOBTEXT", "REALBLOB", "BLOBREAL",
    "DOUBLEINT", "FLOATTEXT"])


@SETTINGS
@given(st.lists(_type_words, min_size=1, max_size=3).map(" ".join))
def test_affinity_of_matches_sqlite(db, decltype):
    db.execute("DROP TABLE IF EXISTS aff")
    db.execute(f"CREATE TABLE aff(c {decltype})")
    db.execute("INSERT INTO aff VALUES ('1.0')")
    stored = db.execute("SELECT typeof(c) FROM aff").fetchone()[0]
    cast_type = db.execute(f"SELECT typeof(CAST('1.5' AS {decltype}))").fetchone()[0]
    aff = V.affinity_of(decltype)
    expected_stored = {V.INTEGER: "integer", V.NUMERIC: "integer", V.REAL: "real",
                       V.TEXT: "text", V.BLOB: "text"}[aff]
    expected_cast = {V.INTEGER: "integer", V.NUMERIC: "real", V.REAL: "real",
                     V.TEXT: "text", V.BLOB: "blob"}[aff]
    assert (stored, cast_type) == (expected_stored, expected_cast)


def test_affinity_of_documented_examples():
    assert V.affinity_of("FLOATING POINT") == V.INTEGER
    assert V.affinity_of("STRING") == V.NUMERIC
    assert V.affinity_of("VARCHAR(255)") == V.TEXT
    assert V.affinity_of("DOUBLE PRECISION") == V.REAL
    assert V.affinity_of(None) == V.BLOB
    assert V.affinity_of("") == V.BLOB


@pytest.fixture(scope="module")
def affinity_table(db):
    db.execute("CREATE TABLE IF NOT EXISTS at(n NUMERIC, i INTEGER, r REAL, t TEXT, b BLOB)")
    return db


@SETTINGS
@given(values)
def test_apply_affinity_matches_sqlite_storage(affinity_table, value):
    db = affinity_table
    db.execute("DELETE FROM at")
    db.execute("INSERT INTO at VALUES (?,?,?,?,?)", (value,) * 5)
    row = db.execute("SELECT n, i, r, t, b FROM at").fetchone()
    for stored, aff in zip(row, [V.NUMERIC, V.INTEGER, V.REAL, V.TEXT, V.BLOB]):
        ours = V.apply_affinity(value, aff)
        assert same(ours, stored), (value, aff, ours, stored)


@pytest.mark.parametrize("text,expected", [
    ("12", 12), (" 12 ", 12), ("1.0", 1), ("1e3", 1000), ("0x10", "0x10"),
    ("3.0e+5", 300000), ("9223372036854775808", 9.223372036854776e18), ("", ""),
    ("1e18", 10**18), ("1e19", 1e19), ("12abc", "12abc"), ("-0.0", 0), (".5", 0.5)])
def test_numeric_affinity_examples(text, expected):
    assert same(V.apply_affinity(text, V.NUMERIC), expected)


# --- casts and conversions --------------------------------------------------

@SETTINGS
@given(values)
def test_casts_match_sqlite(db, value):
    row = db.execute(
        "SELECT CAST(? AS INTEGER), CAST(? AS REAL), CAST(? AS NUMERIC), "
        "CAST(? AS TEXT), CAST(? AS BLOB), CAST(? AS foo), CAST(? AS VARCHAR(3))",
        (value,) * 7).fetchone()
    ours = (V.to_integer(value), V.to_real(value), V.to_numeric(value),
            V.to_text(value), V.to_blob(value), V.cast(value, "foo"),
            V.cast(value, "VARCHAR(3)"))
    for a, b, name in zip(ours, row, ["int", "real", "numeric", "text", "blob", "foo", "vc"]):
        if name == "real" and isinstance(b, float) and b == 0.0:
            assert same(a, b) and math.copysign(1, a) == math.copysign(1, b), (value, a, b)
        else:
            assert same(a, b), (name, value, a, b)


@pytest.mark.parametrize("r,text", [
    (1.0, "1.0"), (1e20, "1.0e+20"), (0.1, "0.1"), (math.inf, "Inf"), (-math.inf, "-Inf"),
    (0.1 + 0.2, "0.3"), (1e15, "1.0e+15"), (1e14, "100000000000000.0"), (-0.0, "0.0"),
    (1.5e-7, "1.5e-07"), (123456789012345678.0, "1.23456789012346e+17")])
def test_real_to_text_examples(r, text):
    assert V.to_text(r) == text


@SETTINGS
@given(values)
def test_numeric_for_arith_matches_sqlite(db, value):
    got, kind = db.execute("SELECT ? + 0, typeof(? + 0)", (value, value)).fetchone()
    ours = V.numeric_for_arith(value)
    if ours is not None:
        ours = ours + 0
    assert same(ours, got), (value, ours, got)
    assert V.typeof(ours) == kind


@SETTINGS
@given(values)
def test_is_true_matches_sqlite(db, value):
    got = db.execute("SELECT CASE WHEN ? THEN 1 WHEN NOT ? THEN 0 END", (value, value)).fetchone()[0]
    ours = V.is_true(value)
    assert (None if ours is None else int(ours)) == got


@SETTINGS
@given(values)
def test_typeof_matches_sqlite(db, value):
    assert V.typeof(value) == db.execute("SELECT typeof(?)", (value,)).fetchone()[0]


def test_cast_empty_type_is_numeric_and_blob_names():
    assert same(V.cast("12x", ""), 12)
    assert same(V.cast(12, "blobby"), b"12")
    assert same(V.cast(1e20, "INT"), V.INT64_MAX)
    assert same(V.cast(-math.inf, "INT"), V.INT64_MIN)


# --- ordering and collations ------------------------------------------------

comparable = st.one_of(ints, floats, st.text(alphabet="aAbB _zZ\t é", max_size=4), st.binary(max_size=3))


@SETTINGS
@given(comparable, comparable, st.sampled_from(["BINARY", "NOCASE", "RTRIM"]))
def test_compare_matches_sqlite(db, a, b, collation):
    got = db.execute(f"SELECT (? > ? COLLATE {collation}) - (? < ? COLLATE {collation})",
                     (a, b, a, b)).fetchone()[0]
    assert V.compare(a, b, collation) == got
    ka, kb = V.sort_key(a, collation), V.sort_key(b, collation)
    assert ((ka > kb) - (ka < kb)) == got


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), comparable), max_size=12),
       st.sampled_from(["BINARY", "NOCASE", "RTRIM"]))
def test_order_by_matches_sqlite(db, items, collation):
    db.execute("DROP TABLE IF EXISTS ob")
    db.execute("CREATE TABLE ob(x)")
    db.executemany("INSERT INTO ob VALUES (?)", [(x,) for x in items])
    got = [r[0] for r in db.execute(f"SELECT x FROM ob ORDER BY x COLLATE {collation}")]
    key = V.sort_key_function(collation)
    ours = sorted(items, key=key)
    assert [key(x) for x in got] == [key(x) for x in ours]


def test_user_collation_registration():
    reg = V.Collations()
    reg.register("Reverse", lambda a, b: (a < b) - (a > b))
    assert reg.compare_text("REVERSE", "a", "b") == 1
    key = V.sort_key_function("reverse", reg)
    assert sorted(["a", "c", "b", 1, None], key=key) == [None, 1, "c", "b", "a"]
    reg.register("reverse", None)
    with pytest.raises(V.CollationError, match="no such collation sequence: reverse"):
        V.sort_key_function("reverse", reg)
    V.register_collation("len_first", lambda a, b: len(a) - len(b))
    try:
        assert V.compare("zz", "aaa", "LEN_FIRST") == -1
        assert V.sort_key("zz", "len_first") < V.sort_key("aaa", "len_first")
    finally:
        V.register_collation("len_first", None)
    assert not V.default_collations.exists("len_first")


reals = st.one_of(floats, st.integers(10**14, 10**15 - 1).map(lambda m: float(f"{m}5e{m % 500 - 310}")))


@SETTINGS
@given(reals)
def test_real_to_text_matches_sqlite_including_ties(db, r):
    assert V.to_text(r) == db.execute("SELECT CAST(? AS TEXT)", (r,)).fetchone()[0]


@settings(max_examples=150, deadline=None)
@given(reals, st.sampled_from("feEgG"), st.integers(0, 25), st.booleans(), st.booleans())
def test_format_real_matches_sqlite_printf(db, r, conv, precision, alternate, altform2):
    flags = ("#" if alternate else "") + ("!" if altform2 else "")
    expected = db.execute("SELECT printf(?, ?)", (f"%{flags}.{precision}{conv}", r)).fetchone()[0]
    assert V.format_real(r, conv, precision, alternate=alternate, altform2=altform2) == expected
