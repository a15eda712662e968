"""Adapters, converters (PARSE_DECLTYPES / PARSE_COLNAMES) and text_factory vs sqlite3."""

from __future__ import annotations

import datetime
import decimal
import sqlite3

import pytest

import turso_stream
from turso_stream import adapters as adapters_module  # noqa: F401 - the module is importable
from turso_stream.adapters import (
    colname_converter_name, decltype_converter_name, strip_colname_type)

MODULES = (sqlite3, turso_stream)


def outcome(fn):
    try:
        return ("ok", fn())
    except Exception as exc:  # noqa: BLE001
        return ("err", type(exc).__name__, str(exc))


def typed(rows):
    return [tuple((type(v).__name__, v) for v in r) for r in rows]


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)


class Conforming:
    def __conform__(self, protocol):
        if protocol is sqlite3.PrepareProtocol:
            return "conformed"
        return None


@pytest.fixture
def registered():
    """Register the same adapters/converters in both modules; remove them afterwards."""
    for m in MODULES:
        m.register_adapter(Point, lambda p: f"{p.x};{p.y}")
        m.register_adapter(decimal.Decimal, str)
        m.register_converter("point", lambda b: Point(*map(float, b.split(b";"))))
        m.register_converter("Upper", lambda b: b.decode().upper())
        m.register_converter("raw", lambda b: ("raw", b))
    yield
    for m in MODULES:
        m.adapters.pop((Point, sqlite3.PrepareProtocol), None)
        m.adapters.pop((decimal.Decimal, sqlite3.PrepareProtocol), None)
        for name in ("POINT", "UPPER", "RAW"):
            m.converters.pop(name, None)


def scenario_values(m, detect_types, sql):
    conn = m.connect(":memory:", detect_types=detect_types)
    conn.execute("create table t(p point, u upper, r raw(10), d date, ts timestamp, n)")
    conn.execute("insert into t values (?, ?, ?, ?, ?, ?)", (
        Point(1, 2), "abc", 7, datetime.date(2024, 2, 29),
        datetime.datetime(2024, 1, 2, 3, 4, 5, 678), decimal.Decimal("1.5")))
    conn.execute("insert into t values (NULL, 2.5, x'00ff', NULL, '2024-01-02 03:04:05', ?)",
                 (Conforming(),))
    cur = conn.execute(sql)
    return cur.description, typed(cur.fetchall())


QUERIES = [
    "select * from t",
    "select p, u as renamed, r, t.d, ts, n from t",
    "select p as \"p [upper]\", u as \"u [raw]\", p \"q [POINT]\", d as \"d [nosuch]\", "
    "n as \"n[upper]\" from t",
    "select u || '' as x, 1 as \"one [raw]\" from t",
    "select x.p, y.* from t as x join t as y on x.rowid = y.rowid",
    "select count(*) as \"c [raw]\" from t",
]


@pytest.mark.parametrize("detect", [0, sqlite3.PARSE_DECLTYPES, sqlite3.PARSE_COLNAMES,
                                    sqlite3.PARSE_DECLTYPES | sqlite3.PARSE_COLNAMES])
@pytest.mark.parametrize("sql", QUERIES)
def test_converters_match_sqlite3(registered, detect, sql):
    expected, actual = (scenario_values(m, detect, sql) for m in MODULES)
    assert actual == expected


def test_adapters_dispatch_on_exact_type_and_conform(registered):
    class SubPoint(Point):
        pass

    got = []
    for m in MODULES:
        conn = m.connect(":memory:")
        got.append([
            outcome(lambda: conn.execute("select ? as v", (Point(3, 4),)).fetchall()),
            outcome(lambda: conn.execute("select ? as v", (SubPoint(3, 4),)).fetchall()),
            outcome(lambda: conn.execute("select ? as v", (Conforming(),)).fetchall()),
            outcome(lambda: conn.execute("select :v as v", {"v": Point(5, 6)}).fetchall()),
            outcome(lambda: conn.execute("select ? as v", (True,)).fetchall()),
            outcome(lambda: conn.execute("select ? as v", (bytearray(b"ab"),)).fetchall()),
            outcome(lambda: conn.execute("select ? as v", (memoryview(b"cd"),)).fetchall()),
        ])
    assert got[1] == got[0]


def test_adapt_function_matches_sqlite3(registered):
    for m in MODULES:
        assert m.adapt(Point(1, 2)) == "1;2"
        assert m.adapt(Conforming()) == "conformed"
        assert m.adapt(object, sqlite3.PrepareProtocol, "alt") == "alt"
        with pytest.raises(sqlite3.ProgrammingError, match="can't adapt"):
            m.adapt(object())


def test_adapter_for_a_base_type_applies_to_every_value():
    original = dict(turso_stream.adapters)
    try:
        got = []
        for m in MODULES:
            m.register_adapter(int, lambda v: v * 100)
            conn = m.connect(":memory:")
            got.append(conn.execute("select ? as a, ? as b", (3, "s")).fetchall())
            m.adapters.pop((int, sqlite3.PrepareProtocol))
        assert got[1] == got[0] == [(300, "s")]
    finally:
        turso_stream.adapters.clear()
        turso_stream.adapters.update(original)
        from turso_stream.adapters import _state
        _state["base_type_adapted"] = False


def test_default_date_and_timestamp_round_trip():
    got = []
    for m in MODULES:
        conn = m.connect(":memory:", detect_types=m.PARSE_DECLTYPES)
        conn.execute("create table t(d date, ts timestamp)")
        conn.execute("insert into t values (?, ?)", (
            datetime.date(2020, 5, 17), datetime.datetime(2020, 5, 17, 8, 30, 0, 123000)))
        conn.execute("insert into t values ('2021-01-01', '2021-01-01 00:00:00')")
        got.append(typed(conn.execute("select d, ts from t").fetchall()))
    assert got[1] == got[0]
    assert got[1][0][0] == ("date", datetime.date(2020, 5, 17))


@pytest.mark.parametrize("factory", [str, bytes, bytearray, lambda b: b.decode() + "!"])
def test_text_factory(factory):
    got = []
    for m in MODULES:
        conn = m.connect(":memory:")
        conn.text_factory = factory
        got.append(typed(conn.execute("select 'héllo', 1, x'00', NULL, 1.5").fetchall()))
    assert got[1] == got[0]


def test_helper_parsers():
    assert colname_converter_name("x [date]") == "date"
    assert colname_converter_name("x [date") is None
    assert colname_converter_name("plain") is None
    assert strip_colname_type("x [date]") == "x"
    assert strip_colname_type("x[date]") == "x"
    assert strip_colname_type("[date]") == ""
    assert decltype_converter_name("VARCHAR(10)") == "VARCHAR"
    assert decltype_converter_name("unsigned big int") == "unsigned"
    assert decltype_converter_name(None) is None


def test_register_converter_requires_str():
    with pytest.raises(TypeError):
        turso_stream.register_converter(b"x", str)


def test_parse_decltypes_through_views_and_subqueries():
    """Declared types follow plain column references through views and subqueries, as
    sqlite3_column_decltype does, so converters apply there too."""
    import sqlite3 as std
    import turso_stream
    out = []
    for module in (std, turso_stream):
        module.register_converter("point", lambda b: tuple(map(float, b.split(b";"))))
        conn = module.connect(":memory:", detect_types=module.PARSE_DECLTYPES)
        conn.execute("CREATE TABLE t(p point, n)")
        conn.execute("INSERT INTO t VALUES ('1;2', 3)")
        conn.execute("CREATE VIEW v AS SELECT p, n FROM t")
        out.append([conn.execute(q).fetchall() for q in (
            "SELECT * FROM v", "SELECT p FROM (SELECT p FROM t)", "SELECT p || '' FROM t")])
    assert out[0] == out[1] == [[((1.0, 2.0), 3)], [((1.0, 2.0),)], [("1;2",)]]
