"""engine.sql.operators, differential against the stdlib sqlite3 (SQLite 3.40)."""

import math
import sqlite3

import pytest
from hypothesis import given, settings, strategies as st

from engine import values as V
from engine.sql import operators as O

SETTINGS = settings(max_examples=250, deadline=None)


@pytest.fixture(scope="module")
def db():
    conn = sqlite3.connect(":memory:")
    conn.text_factory = lambda b: b.decode("utf-8", "replace")
    yield conn
    conn.close()


ints = st.one_of(
    st.integers(V.INT64_MIN, V.INT64_MAX), st.integers(-70, 70),
    st.sampled_from([V.INT64_MIN, V.INT64_MAX, V.INT64_MIN + 1, V.INT64_MAX - 1, -1, 0, 2**32]))
floats = st.one_of(st.floats(allow_nan=False, min_value=-1e6, max_value=1e6),
                   st.floats(allow_nan=False),
                   st.sampled_from([0.0, -0.0, math.inf, -math.inf, 0.5, -2.5, 1e19, 2.0**63]))
# SQLite 3.40's text-to-real conversion is not correctly rounded at extreme
# exponents (ours is), so numeric text stays within a moderate range.
numeric_texts = st.one_of(ints.map(str), st.floats(-1e200, 1e200).filter(
    lambda f: f == 0 or abs(f) > 1e-200).map(repr), st.sampled_from(
    ["", "3abc", "1.5x", "1e3", " 12 ", "0x10", "abc", "-", "9223372036854775808", "1.0", "-0"]))
blobs = st.one_of(st.binary(max_size=3), numeric_texts.map(str.encode))
operands = st.one_of(st.none(), ints, floats, numeric_texts, blobs)


def same(a, b):
    return type(a) is type(b) and (a == b or (a != a and b != b))


def oracle(db, sql, *args):
    return db.execute("SELECT " + sql, args).fetchone()[0]


BINARY = [("+", O.add), ("-", O.sub), ("*", O.mul), ("/", O.div), ("%", O.mod),
          ("&", O.bitand), ("|", O.bitor), ("<<", O.lshift), (">>", O.rshift), ("||", O.concat)]


@SETTINGS
@given(operands, operands)
def test_binary_operators_match_sqlite(db, a, b):
    for op, fn in BINARY:
        expected = oracle(db, f"? {op} ?", a, b)
        assert same(fn(a, b), expected), (a, op, b, fn(a, b), expected)


@SETTINGS
@given(operands)
def test_unary_operators_match_sqlite(db, a):
    assert same(O.neg(a), oracle(db, "- ?", a))
    assert same(O.bitnot(a), oracle(db, "~ ?", a))
    assert same(O.not_(a), oracle(db, "NOT ?", a))


@pytest.mark.parametrize("expr,fn,args", [
    ("9223372036854775807 + 1", O.add, (V.INT64_MAX, 1)),
    ("-9223372036854775808 / -1", O.div, (V.INT64_MIN, -1)),
    ("-9223372036854775808 % -1", O.mod, (V.INT64_MIN, -1)),
    ("'1e3' % 7", O.mod, ("1e3", 7)),
    ("5.5 % 2", O.mod, (5.5, 2)),
    ("5 % 0.5", O.mod, (5, 0.5)),
    ("1 << 64", O.lshift, (1, 64)),
    ("-8 >> 100", O.rshift, (-8, 100)),
    ("8 >> -1", O.rshift, (8, -1)),
    ("1 << 63", O.lshift, (1, 63)),
    ("1e308 * 10 - 1e308 * 10", O.sub, (math.inf, math.inf)),
])
def test_operator_edge_cases(db, expr, fn, args):
    assert same(fn(*args), oracle(db, expr))


comparable = st.one_of(st.none(), ints, floats,
                       st.text(alphabet="aAbB _\t1.é", max_size=4), st.binary(max_size=2))
CMP = [("=", O.eq), ("<>", O.ne), ("<", O.lt), ("<=", O.le), (">", O.gt), (">=", O.ge),
       ("IS", O.is_), ("IS NOT", O.is_not)]


@SETTINGS
@given(comparable, comparable, st.sampled_from(["BINARY", "NOCASE", "RTRIM"]))
def test_comparisons_match_sqlite_without_affinity(db, a, b, collation):
    for op, fn in CMP:
        expected = oracle(db, f"? {op} ? COLLATE {collation}", a, b)
        assert fn(a, b, collation) == expected, (a, op, b)


@SETTINGS
@given(comparable, comparable)
def test_three_valued_logic_matches_sqlite(db, a, b):
    assert O.and_(a, b) == oracle(db, "? AND ?", a, b)
    assert O.or_(a, b) == oracle(db, "? OR ?", a, b)


AFFS = {"n": V.NUMERIC, "i": V.INTEGER, "r": V.REAL, "t": V.TEXT, "b": V.BLOB}


@SETTINGS
@given(operands, operands, st.sampled_from(list(AFFS) + [None]),
       st.sampled_from(list(AFFS) + [None]))
def test_comparison_affinity_matches_sqlite(db, a, b, col_a, col_b):
    """Columns of each affinity (or bare expressions: None) compared with '<' and '='."""
    db.execute("DROP TABLE IF EXISTS ca")
    db.execute("CREATE TABLE ca(n NUMERIC, i INTEGER, r REAL, t TEXT, b BLOB, x)")
    db.execute("INSERT INTO ca VALUES (?,?,?,?,?,NULL)", (None,) * 5)
    sets, params = [], []
    if col_a:
        sets.append(f"{col_a} = ?"); params.append(a)
    if col_b and col_b != col_a:
        sets.append(f"{col_b} = ?"); params.append(b)
    if col_b == col_a and col_a:
        b = a
    if sets:
        db.execute("UPDATE ca SET " + ", ".join(sets), params)
    left = col_a or "?"
    right = col_b or "?"
    args = ([] if col_a else [a]) + ([] if col_b else [b])
    got = db.execute(f"SELECT {left} < {right}, {left} = {right} FROM ca", args * 2).fetchone()
    # our side: stored values take the column affinity, then comparison affinity
    sa = V.apply_affinity(a, AFFS[col_a]) if col_a else a
    sb = V.apply_affinity(b, AFFS[col_b]) if col_b else b
    aff = O.comparison_affinity(AFFS.get(col_a), AFFS.get(col_b))
    ca, cb = O.apply_comparison_affinity(sa, aff), O.apply_comparison_affinity(sb, aff)
    assert (O.lt(ca, cb), O.eq(ca, cb)) == got, (sa, sb, aff)


like_text = st.text(alphabet="aAbB%_\\xé\n", max_size=6)


@SETTINGS
@given(like_text, like_text)
def test_like_matches_sqlite(db, pattern, value):
    assert O.like(pattern, value) == oracle(db, "? LIKE ?", value, pattern)
    assert O.like(pattern, value, "\\") == oracle(db, "? LIKE ? ESCAPE '\\'", value, pattern)
    assert O.like(pattern, value, "%") == oracle(db, "? LIKE ? ESCAPE '%'", value, pattern)


@SETTINGS
@given(st.text(alphabet="ab*?[]^-z", max_size=7), st.text(alphabet="ab]^-zA", max_size=4))
def test_glob_matches_sqlite(db, pattern, value):
    assert O.glob(pattern, value) == oracle(db, "? GLOB ?", value, pattern)


def test_like_glob_nulls_blobs_and_escape_errors(db):
    assert O.like(None, "a") is None and O.like("a", None) is None
    assert O.like("a", "a", None, has_escape=True) is None
    assert O.like(5, 5) == 1
    assert O.like("A", b"A") == oracle(db, "x'41' LIKE 'A'") == 0
    assert O.glob("A", b"A") == oracle(db, "x'41' GLOB 'A'") == 0
    with pytest.raises(O.OperatorError, match="ESCAPE expression must be a single character"):
        O.like("a%", "abc", "ab")
    assert O.like("ab\\", "ab", "\\") == 0
