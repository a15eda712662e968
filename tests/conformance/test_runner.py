"""Tests of the sqllogictest runner (slt.py) and the corpus run on sqlite3.

The unit tests feed small hand-written scripts to the runner on stdlib
``sqlite3`` and check parsing, rendering, sorting, hashing, labels,
conditions, halt and failure reporting.  The corpus tests run every file of
the corpus on ``sqlite3`` and demand zero failures, which validates the
runner against the results SQLite itself recorded.
"""

import ctypes
import ctypes.util
import hashlib
import math
import os
import pathlib
import sqlite3
import sys
import textwrap
import types
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

import slt


def run(script: str, engine: str = slt.ENGINE_NAME) -> slt.Report:
    return slt.run_text(textwrap.dedent(script), slt.connect_sqlite3, engine=engine)


def md5_lines(values):
    return hashlib.md5("".join(v + "\n" for v in values).encode()).hexdigest()


# ---------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------


def test_parse_records_comments_and_crlf():
    text = ("# leading comment\r\n"
            "statement ok\r\n"
            "CREATE TABLE t(a,\r\n"
            "# a comment inside the SQL is dropped\r\n"
            "b)\r\n"
            "   \r\n"
            "skipif mysql # trailing words are ignored\r\n"
            "onlyif sqlite\r\n"
            "query IT rowsort label-7\r\n"
            "SELECT a, b FROM t\r\n"
            "----\r\n"
            "1\r\n"
            "x\r\n"
            "\r\n"
            "query R\r\n"
            "SELECT 1.5\r\n"
            "\r\n"
            "hash-threshold 3\r\n"
            "\r\n"
            "halt\r\n")
    records = slt.parse(text)
    statement, query, bare, threshold, halt = records
    assert isinstance(statement, slt.Statement) and statement.expect_ok
    assert statement.sql == "CREATE TABLE t(a,\nb)" and statement.line == 2
    assert query.types == "IT" and query.sort == "rowsort" and query.label == "label-7"
    assert query.sql == "SELECT a, b FROM t" and query.expected == ["1", "x"]
    assert [(c.skip, c.engine) for c in query.conditions] == [(True, "mysql"), (False, "sqlite")]
    assert query.line == 9
    assert bare.sort == "nosort" and bare.label == "" and bare.expected == []
    assert (threshold.kind, threshold.arg) == ("hash-threshold", 3)
    assert halt.kind == "halt" and halt.line == 20


def test_parse_rejects_malformed_records():
    records = slt.parse("frobnicate\nSELECT 1\n\nquery IX\nSELECT 1\n\n"
                        "query I bogus\nSELECT 1\n\nstatement maybe\nSELECT 1\n")
    assert [type(r) for r in records] == [slt.Malformed] * 4
    report = run("frobnicate\nSELECT 1\n")
    assert report.failed == 1 and "unknown record type" in report.failures[0].message


def test_condition_matching_is_case_insensitive():
    assert slt.Condition(True, "SQLite").excludes("sqlite")
    assert not slt.Condition(False, "SQLITE").excludes("sqlite")
    assert slt.Condition(False, "mysql").excludes("sqlite")
    assert not slt.Condition(True, "mysql").excludes("sqlite")


def test_split_statements_respects_strings_and_triggers():
    sql = ("CREATE TABLE t(x);\nINSERT INTO t VALUES('a;b');\n"
           "CREATE TRIGGER r AFTER INSERT ON t BEGIN SELECT 1; SELECT 2; END;\n"
           "SELECT 3")
    parts = slt.split_statements(sql)
    assert len(parts) == 4
    assert "'a;b'" in parts[1] and parts[2].strip().endswith("END;")
    assert slt.split_statements("SELECT 1") == ["SELECT 1"]
    assert slt.split_statements(" ;; ") == []


# ---------------------------------------------------------------------------
# Statements
# ---------------------------------------------------------------------------


def test_statement_ok_and_error_outcomes():
    report = run("""\
        statement ok
        CREATE TABLE t(x INTEGER PRIMARY KEY)

        statement error
        CREATE TABLE t(y)

        statement ok
        INSERT INTO nosuch VALUES(1)

        statement error
        INSERT INTO t VALUES(1)
        """)
    assert (report.passed, report.failed, report.skipped) == (2, 2, 0)
    first, second = report.failures
    assert first.line == 7 and "statement failed" in first.message
    assert "no such table" in first.message
    assert second.line == 10 and "error was expected" in second.message


def test_statement_runs_every_sql_statement_and_transactions_work():
    report = run("""\
        statement ok
        CREATE TABLE t(x); INSERT INTO t VALUES(1); INSERT INTO t VALUES(2);

        statement ok
        BEGIN

        statement ok
        INSERT INTO t VALUES(3)

        statement ok
        ROLLBACK

        statement ok
        CREATE TRIGGER r AFTER INSERT ON t BEGIN INSERT INTO t VALUES(NEW.x * 10); END;

        statement ok
        INSERT INTO t SELECT 5 WHERE NOT EXISTS (SELECT 1 FROM t WHERE x = 5)

        query I rowsort
        SELECT x FROM t
        ----
        1
        2
        5
        50
        """)
    assert report.failed == 0, report.format()
    assert report.passed == 7


class _CrashingCursor:
    def __init__(self, cursor):
        self._cursor = cursor

    def execute(self, sql):
        if "boom" in sql:
            raise TypeError("engine bug")
        return self._cursor.execute(sql)

    def __getattr__(self, name):
        return getattr(self._cursor, name)


class _CrashingConnection:
    """Wraps sqlite3 and raises a non-DB-API exception for SQL with 'boom'."""

    def __init__(self):
        self._db = slt.connect_sqlite3()
        self.Error = sqlite3.Error

    def cursor(self):
        return _CrashingCursor(self._db.cursor())

    def close(self):
        self._db.close()


def test_engine_crash_is_never_an_expected_error():
    report = slt.run_text("statement error\nSELECT 'boom'\n\n"
                          "query I\nSELECT 'boom'\n----\n1\n\n"
                          "statement error\nSELECT nosuchfunction()\n",
                          _CrashingConnection)
    assert (report.passed, report.failed) == (1, 2)
    assert all("engine crashed: TypeError" in f.message for f in report.failures)


# ---------------------------------------------------------------------------
# Queries: comparison, sorting, hashing, labels
# ---------------------------------------------------------------------------

SETUP = """\
statement ok
CREATE TABLE t(a INTEGER, b TEXT)

statement ok
INSERT INTO t VALUES(2, 'z'), (1, 'a b'), (1, 'z'), (3, NULL), (10, '')

"""


def run_with_setup(script: str) -> slt.Report:
    return run(SETUP + textwrap.dedent(script))


def test_wrong_expected_value_is_reported_with_line_sql_and_values():
    report = run_with_setup("""\
        query IT nosort
        SELECT a, b FROM t WHERE a = 2
        ----
        2
        y
        """)
    assert report.failed == 1 and report.passed == 2
    failure = report.failures[0]
    assert failure.line == 7 and failure.message == "wrong result"
    assert failure.sql == "SELECT a, b FROM t WHERE a = 2"
    assert failure.expected == "2\ny" and failure.got == "2\nz"
    text = report.format()
    assert "<script>:7: wrong result" in text and "SELECT a, b FROM t WHERE a = 2" in text
    assert "2 | y" in text and "2 | z" in text


def test_value_count_must_match_exactly():
    report = run_with_setup("""\
        query I rowsort
        SELECT a FROM t WHERE a < 3
        ----
        1
        1
        """)
    assert report.failed == 1


def test_nosort_keeps_engine_order():
    ordered = "query I nosort\nSELECT a FROM t ORDER BY a DESC LIMIT 3\n----\n10\n3\n2\n"
    swapped = "query I nosort\nSELECT a FROM t ORDER BY a DESC LIMIT 3\n----\n3\n10\n2\n"
    assert run(SETUP + ordered).failed == 0
    assert run(SETUP + swapped).failed == 1


def test_rowsort_compares_column_by_column():
    # Column-wise strcmp puts ('1','a b') before ('1','z') and '10' after
    # '1'; NULL and (empty) sort as their rendered text.
    report = run_with_setup("""\
        query IT rowsort
        SELECT a, b FROM t WHERE a <> 2
        ----
        1
        a b
        1
        z
        10
        (empty)
        3
        NULL
        """)
    assert report.failed == 0, report.format()
    # ('a', 'z') sorts before ('a b', 'c') column-wise, after it as joined text
    report = run("query TT rowsort\nSELECT * FROM (VALUES ('a b', 'c'), ('a', 'z'))\n"
                 "----\na\nz\na b\nc\n")
    assert report.failed == 0, report.format()


def test_valuesort_sorts_all_values():
    report = run_with_setup("""\
        query II valuesort
        SELECT a, a * 7 FROM t WHERE a < 3
        ----
        1
        1
        14
        2
        7
        7
        """)
    assert report.failed == 0, report.format()


def test_results_over_threshold_are_hashed():
    values = [str(i) for i in range(1, 10)]  # 9 values > default threshold 8
    good = f"9 values hashing to {md5_lines(values)}"
    script = ("query I nosort\nWITH RECURSIVE c(i) AS (SELECT 1 UNION ALL "
              "SELECT i + 1 FROM c WHERE i < 9) SELECT i FROM c\n----\n{}\n")
    assert run(script.format(good)).failed == 0
    assert run(script.format(good.replace("9 values", "8 values"))).failed == 1
    bad = run(script.format("9 values hashing to " + "0" * 32))
    assert bad.failed == 1 and bad.failures[0].message == "wrong result hash"
    assert good in bad.failures[0].got
    # over the threshold, plain values are not accepted (as in the reference)
    assert run(script.format("\n".join(values))).failed == 1


def test_hash_threshold_record_changes_the_expected_form():
    values = ["1", "2", "3"]
    query = "query I rowsort\nSELECT column1 FROM (VALUES (3), (1), (2))\n----\n{}\n\n"
    hashed = query.format(f"3 values hashing to {md5_lines(values)}")
    plain = query.format("\n".join(values))
    assert run(plain + "hash-threshold 2\n\n" + hashed).failed == 0
    assert run("hash-threshold 2\n\n" + plain).failed == 1
    nine = ("query I nosort\nWITH RECURSIVE c(i) AS (SELECT 1 UNION ALL "
            "SELECT i + 1 FROM c WHERE i < 9) SELECT i FROM c\n----\n"
            + "\n".join(str(i) for i in range(1, 10)) + "\n")
    assert run(nine).failed == 1  # default threshold 8 wants the hash line
    assert run("hash-threshold 0\n\n" + nine).failed == 0  # 0 disables hashing


def test_labels_must_agree():
    report = run_with_setup("""\
        query I rowsort label-1
        SELECT a FROM t WHERE a < 3
        ----
        1
        1
        2

        query I rowsort label-1
        SELECT a FROM t WHERE a <= 2
        ----
        1
        1
        2

        query I rowsort label-1
        SELECT a FROM t WHERE a > 2
        ----
        10
        3
        """)
    assert (report.passed, report.failed) == (4, 1)
    failure = report.failures[0]
    assert failure.line == 21 and "label-1" in failure.message
    assert "does not agree" in failure.message


def test_skipped_labelled_query_contributes_its_expected_hash():
    skipped = ("onlyif mysql\nquery I nosort label-9\nSELECT 99\n----\n{}\n\n"
               "query I nosort label-9\nSELECT 1\n----\n1\n")
    assert run(skipped.format("1")).failed == 0
    report = run(skipped.format("2"))
    assert report.failed == 1 and "label-9" in report.failures[0].message
    assert report.skipped == 1


def test_skipif_and_onlyif():
    report = run("""\
        skipif sqlite
        statement ok
        THIS IS NOT SQL

        onlyif mysql
        query I
        SELECT 1
        ----
        2

        onlyif SQLite
        query I
        SELECT 1
        ----
        1

        skipif mysql
        skipif mssql
        query I
        SELECT 2
        ----
        2
        """)
    assert (report.passed, report.failed, report.skipped) == (2, 0, 2)
    assert run("onlyif mysql\nstatement ok\nSELECT 1\n", engine="mysql").passed == 1


def test_halt_stops_the_script_unless_excluded():
    script = """\
        onlyif mysql
        halt

        query I
        SELECT 1
        ----
        1

        halt

        query I
        SELECT 1
        ----
        999
        """
    report = run(script)
    assert (report.passed, report.failed) == (1, 0)
    assert report.halted_at == 9
    assert "halted at line 9" in report.summary()


def test_column_count_mismatch_fails():
    report = run("query II\nSELECT 1\n----\n1\n1\n")
    assert report.failed == 1 and "wrong number of result columns" in report.failures[0].message


def test_runtime_error_reads_as_end_of_rows_but_prepare_error_fails():
    # slt_sqlite.c stops at the first failing sqlite3_step: an integer
    # overflow in sum() yields an empty result; an unknown table fails.
    report = run("""\
        statement ok
        CREATE TABLE t(x INTEGER)

        statement ok
        INSERT INTO t VALUES(9223372036854775807), (1)

        query I nosort
        SELECT sum(x) FROM t
        ----

        query I nosort
        SELECT sum(x) FROM nosuch
        ----
        """)
    assert (report.passed, report.failed) == (3, 1)
    assert "no such table" in report.failures[0].message


class _FailingAfterTwoRows:
    """A cursor whose result stream raises a DB-API error after two rows
    (stdlib sqlite3 itself steps one row ahead, so it would lose row 2)."""

    description = (("x",),)

    def execute(self, sql):
        return self

    def __iter__(self):
        yield (1,)
        yield (2,)
        raise sqlite3.OperationalError("integer overflow")


class _FailingConnection:
    Error = sqlite3.Error

    def cursor(self):
        return _FailingAfterTwoRows()

    def close(self):
        pass


def test_runtime_error_after_some_rows_keeps_them():
    report = slt.run_text("query I nosort\nSELECT x FROM t\n----\n1\n2\n",
                          _FailingConnection)
    assert (report.passed, report.failed) == (1, 0), report.format()
    report = slt.run_text("query I nosort\nSELECT x FROM t\n----\n1\n2\n3\n",
                          _FailingConnection)
    assert report.failed == 1 and report.failures[0].got == "1\n2"


class _OddValueCursor(_FailingAfterTwoRows):
    def __iter__(self):
        yield (object(),)


class _OddValueConnection(_FailingConnection):
    def cursor(self):
        return _OddValueCursor()


def test_value_of_a_type_sqlite_lacks_is_a_failure():
    report = slt.run_text("query I nosort\nSELECT x FROM t\n----\n1\n", _OddValueConnection)
    assert report.failed == 1 and "cannot render result value" in report.failures[0].message


# ---------------------------------------------------------------------------
# Value rendering
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def renderer():
    rendering = slt.ValueRenderer()
    yield rendering
    rendering.close()


def test_render_text_column(renderer):
    rows = [(None,), ("",), ("tab\there",), ("é",), ("a\x00b",), (b"x\x01y",),
            (12,), (1.0,), (1e20,), (0.1,), ("~\x7f",)]
    assert renderer.render(rows, "T") == [
        "NULL", "(empty)", "tab@here", "@@", "a", "x@y",
        "12", "1.0", "1.0e+20", "0.1", "~@"]


def test_render_integer_column(renderer):
    rows = [(7,), (-3.9,), (3.9,), ("12abc",), (" 42 ",), ("abc",), ("1e3",),
            (2**31,), (2**32 + 5,), (-(2**31) - 1,), (1e300,), (-1e300,), (b"17",), (None,)]
    assert renderer.render(rows, "I") == [
        "7", "-3", "3", "12", "42", "0", "1",
        "-2147483648", "5", "2147483647", "-1", "0", "17", "NULL"]


def test_render_real_column(renderer):
    rows = [(1,), (2.5,), ("12abc",), ("x",), (0.0625,), (-0.0,), (-0.0001,),
            (2**63,), (math.inf,), (-math.inf,), (12345678901234.567,), (b"3.25",)]
    assert renderer.render(rows, "R") == [
        "1.000", "2.500", "12.000", "0.000", "0.063", "0.000", "-0.000",
        "9223372036854776000.000", "Inf", "-Inf", "12345678901234.570", "3.250"]


def test_render_mixed_row(renderer):
    assert renderer.render([(1, "a", 1.5), (None, None, None)], "ITR") == [
        "1", "a", "1.500", "NULL", "NULL", "NULL"]


def _exact_half_up(value: float) -> str:
    return format(Decimal(value).quantize(Decimal("0.001"), rounding="ROUND_HALF_UP"), "f")


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_format_real3_matches_sqlite_printf_away_from_ties(value):
    # SQLite rounds half away from zero; its 3.40 printf (long double
    # arithmetic, inexact from about 13 significant digits) agrees with the
    # exact rounding on moderate values away from a hair of a tie.
    scaled = Decimal(abs(value)) * 1000
    if abs(scaled - scaled.to_integral_value(rounding="ROUND_FLOOR") - Decimal("0.5")) < Decimal("1e-6"):
        return
    with sqlite3.connect(":memory:") as db:
        expected = db.execute("SELECT printf('%.3f', ?)", (value,)).fetchone()[0]
    assert slt.format_real3(value) == expected
    if value >= 0 or slt.format_real3(value) != "-0.000":
        assert slt.format_real3(value).lstrip("-") == _exact_half_up(abs(value))


def test_format_real3_rounds_to_16_significant_digits():
    assert slt.format_real3(-9223372036854775808.0) == "-9223372036854776000.000"
    assert slt.format_real3(-18446744073709551616.0) == "-18446744073709550000.000"
    assert slt.format_real3(1e300).startswith("1000000000000000000000")
    assert set(slt.format_real3(1e300)[1:-4]) == {"0"}
    assert slt.format_real3(999.9995) == "1000.000"
    assert slt.format_real3(0.0625) == "0.063"  # C's %.3f says 0.062


class _CApi:
    """The real sqlite3_column_* routines, through ctypes, as the reference
    driver calls them."""

    def __init__(self, lib):
        self.lib = lib
        lib.sqlite3_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
        lib.sqlite3_prepare_v2.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                           ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
        for name in ("sqlite3_step", "sqlite3_finalize", "sqlite3_close"):
            getattr(lib, name).argtypes = [ctypes.c_void_p]
        lib.sqlite3_column_text.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.sqlite3_column_text.restype = ctypes.c_char_p
        lib.sqlite3_column_int.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.sqlite3_column_int.restype = ctypes.c_int
        lib.sqlite3_column_double.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.sqlite3_column_double.restype = ctypes.c_double
        self.db = ctypes.c_void_p()
        assert lib.sqlite3_open(b":memory:", ctypes.byref(self.db)) == 0

    def columns(self, literal: str = "?", value=None):
        """(text, int, double) of ``SELECT literal``, ``?`` bound to
        ``value`` with the sqlite3_bind_* routine of its type."""
        lib = self.lib
        stmt = ctypes.c_void_p()
        sql = f"SELECT {literal}".encode()
        assert lib.sqlite3_prepare_v2(self.db, sql, -1, ctypes.byref(stmt), None) == 0
        try:
            if literal == "?":
                self._bind(stmt, value)
            assert lib.sqlite3_step(stmt) == 100  # SQLITE_ROW
            return (lib.sqlite3_column_text(stmt, 0), lib.sqlite3_column_int(stmt, 0),
                    lib.sqlite3_column_double(stmt, 0))
        finally:
            lib.sqlite3_finalize(stmt)

    def _bind(self, stmt, value):
        lib, transient = self.lib, ctypes.c_void_p(-1)  # SQLITE_TRANSIENT
        if isinstance(value, int):
            lib.sqlite3_bind_int64.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int64]
            rc = lib.sqlite3_bind_int64(stmt, 1, value)
        elif isinstance(value, float):
            lib.sqlite3_bind_double.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_double]
            rc = lib.sqlite3_bind_double(stmt, 1, value)
        else:
            data = value.encode()
            lib.sqlite3_bind_text.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p,
                                              ctypes.c_int, ctypes.c_void_p]
            rc = lib.sqlite3_bind_text(stmt, 1, data, len(data), transient)
        assert rc == 0


@pytest.fixture(scope="module")
def capi():
    name = ctypes.util.find_library("sqlite3")
    if name is None:
        pytest.skip("libsqlite3 shared library not found for the ctypes oracle")
    api = _CApi(ctypes.CDLL(name))
    yield api
    api.lib.sqlite3_close(api.db)


LITERALS = [
    "1", "-7", "2147483648", "4294967301", "-2147483649", "9223372036854775807",
    "1.0", "-3.99", "1e20", "1e300", "-1e300", "0.1", "1.0/3", "2.0/3*1e15", "-0.0",
    "'12abc'", "' 42 '", "'abc'", "'1e3'", "'-12.5x'", "'0x1A'", "'99999999999999999999'",
    "'tab\tz'", "'é'", "x'41420043'", "x'3132'", "''", "'  '",
]


@pytest.mark.parametrize("literal", LITERALS)
def test_rendering_matches_the_c_driver(capi, renderer, literal):
    text, integer, double = capi.columns(literal)
    with sqlite3.connect(":memory:") as db:
        value = db.execute(f"SELECT {literal}").fetchone()[0]
    expected_text = "(empty)" if not text else text.translate(slt._UNPRINTABLE).decode("ascii")
    assert renderer.text(value) == expected_text
    assert renderer.integer(value) == str(integer)
    assert renderer.real(value) == slt.format_real3(double)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.integers(min_value=-2**63, max_value=2**63 - 1),
                 st.floats(allow_nan=False, allow_infinity=False),
                 st.text(alphabet="0123456789+-.eE x", max_size=12)))
def test_rendering_matches_the_c_driver_on_random_values(capi, renderer, value):
    text, integer, double = capi.columns(value=value)
    assert renderer.integer(value) == str(integer)
    assert renderer.real(value) == slt.format_real3(double)
    expected_text = "(empty)" if not text else text.decode("ascii")
    assert renderer.text(value) == expected_text


def test_sort_and_hash_helpers():
    assert slt.sort_values(["b", "1", "a", "2"], 2, "rowsort") == ["a", "2", "b", "1"]
    assert slt.sort_values(["b", "1", "a", "2"], 2, "valuesort") == ["1", "2", "a", "b"]
    assert slt.sort_values(["b", "a"], 1, "nosort") == ["b", "a"]
    assert slt.hash_values([]) == hashlib.md5(b"").hexdigest()
    assert slt.hash_values(["1", "x"]) == hashlib.md5(b"1\nx\n").hexdigest()


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def test_cli_prints_a_report_per_file(tmp_path, capsys):
    good = tmp_path / "good.test"
    good.write_text("query I\nSELECT 1\n----\n1\n")
    bad = tmp_path / "sub" / "bad.test"
    bad.parent.mkdir()
    bad.write_text("query I\nSELECT 1\n----\n2\n")
    assert slt.main([str(good)]) == 0
    assert slt.main(["--engine", "sqlite3", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "good.test: 1 passed, 0 failed" in out
    assert "bad.test: 0 passed, 1 failed" in out and "bad.test:1: wrong result" in out
    assert "TOTAL (sqlite3): 1 passed, 1 failed, 0 skipped" in out


def test_cli_engine_turso_stream_fails_clearly_when_unavailable(monkeypatch):
    monkeypatch.setitem(sys.modules, "turso_stream", None)  # import fails
    with pytest.raises(SystemExit, match="cannot import the turso_stream engine"):
        slt.engine_connector("turso_stream")
    monkeypatch.setitem(sys.modules, "turso_stream", types.ModuleType("turso_stream"))
    with pytest.raises(SystemExit, match="has no connect"):
        slt.engine_connector("turso_stream")


def test_cli_engine_turso_stream_opens_autocommit(monkeypatch):
    calls = []
    fake = types.ModuleType("turso_stream")

    def connect(database, **options):
        calls.append((database, options))
        return slt.connect_sqlite3()
    fake.connect = connect
    monkeypatch.setitem(sys.modules, "turso_stream", fake)
    connection = slt.engine_connector("turso_stream")()
    connection.close()
    assert calls == [(":memory:", {"isolation_level": None})]


# ---------------------------------------------------------------------------
# The corpus on stdlib sqlite3
# ---------------------------------------------------------------------------


def _corpus_files():
    root = pathlib.Path(slt.corpus_dir())
    if not root.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(
            reason=f"sqllogictest corpus not found at {root} (set {slt.CORPUS_ENV})"))]
    return [pytest.param(path, id=str(path.relative_to(root)))
            for path in sorted(root.rglob("*.test"))]


@pytest.mark.parametrize("path", _corpus_files())
def test_corpus_file_passes_on_sqlite3(path):
    report = slt.run_file(path, slt.connect_sqlite3)
    print(report.summary())
    assert report.failed == 0, report.format()
    assert report.passed > 0


def test_corpus_has_the_expected_files(slt_dir):
    names = {p.relative_to(slt_dir).as_posix() for p in slt_dir.rglob("*.test")}
    assert {"select1.test", "evidence/in1.test", "random/slt_good_0.test"} <= names
