"""Differential tests: engine.sql.functions.datetime_fns against stdlib sqlite3 (3.40)."""

from __future__ import annotations

import os
import sqlite3
import time

import pytest
from hypothesis import given, settings, strategies as st

from engine.sql.functions import datetime_fns as dt
from engine.sql.functions.registry import lookup_scalar

CONN = sqlite3.connect(":memory:")
FUNCTIONS = ("date", "time", "datetime", "julianday", "unixepoch")


def oracle(name: str, args: tuple):
    """(value, typeof) of ``name(args...)`` evaluated by sqlite3."""
    marks = ", ".join("?" * len(args))
    return CONN.execute(f"SELECT {name}({marks}), typeof({name}({marks}))", args + args).fetchone()


def _typeof(value):
    from engine.values import typeof
    return typeof(value)


def assert_same(name: str, *args):
    expected_value, expected_type = oracle(name, args)
    value = lookup_scalar(name, len(args)).fn(*args)
    assert (value, _typeof(value)) == (expected_value, expected_type), (name, args)


def assert_all_same(*args):
    for name in FUNCTIONS:
        assert_same(name, *args)


# --------------------------------------------------------------------------
# Hand-picked cases
# --------------------------------------------------------------------------

TIME_VALUES = [
    "2000-01-01", "2000-01-01 12:34", "2000-01-01 12:34:56", "2000-01-01T12:34:56.789",
    "2000-01-01 12:34:56.7895", "2000-01-01 00:00:00.0005", "2000-01-01 00:00:00.0004",
    "2023-02-31", "2023-02-29 10:00", "-0044-03-15", "-4713-11-24 12:00:00",
    "-4713-11-24 11:59:59", "9999-12-31 23:59:59.999", "10000-01-01", "0000-01-01",
    "2000-01-01 24:00:00", "2000-01-01 23:60", "12:00", "12:00:30.5", "24:00", "25:00",
    "2000-01-01T12:00Z", "2000-01-01 12:00 +01:00", "2000-01-01 12:00-14:00",
    "2000-01-01 12:00+15:00", "12:00+01:00", "12:00 z ", "2000-01-01  T 12:00",
    "2000-1-01", "2000-01-01x", "2000-01-01 12", "now", "NOW ", "5", " 5 ", ".5", "5.", ".",
    "1e3", "1e400", "2451545", "2451545.25", "-1", "5373484.49", "5373484.5", "0x10",
    "", " ", "abc", "2000-01-01 12:00:00.", "2000-01-01 12:00:00.x",
    0, 1, 2451545, 2451545.5, -1, 5373484.5, 1600000000, -210866760000, 1e300,
    None, b"2000-01-01", b"", "2000-01-01\x0012:00",
]

MODIFIERS = [
    "+1 day", "-1 days", "1 day", "+1.5 days", "+1 month", "-1 month", "+13 months", "-13 months",
    "+1 year", "-1.5 years", "+1.5 months", "+1 hour", "+90 minutes", "+3600 seconds",
    "+0.0005 seconds", "-0.0005 seconds", "5 days ", " +1 day", "+1 dayss", "+1  days",
    "+1 fortnight", "+1 d", "+5373485 days", "+5373484 days", "-5373484 days",
    "+01:30", "-01:30:15.5", "+1:30", "+25:00", "+24:00", "-00:00:00.001", "+12:00Z",
    "start of month", "start of year", "start of day", "START OF DAY", "start of week",
    "weekday 0", "weekday 3", "weekday 6", "weekday 7", "weekday 3.0", "weekday 3.5",
    "weekday  3 ", "weekday", "unixepoch", "julianday", "auto", "utc", "localtime",
    "UnixEpoch", "subsec", "ceiling", "", "x", 5, 1.5, None,
]


@pytest.mark.parametrize("value", TIME_VALUES, ids=repr)
def test_time_values(value):
    with dt.statement_clock():
        if value in ("now", "NOW "):
            return  # the clock cases are checked in test_now_*
        assert_all_same(value)


@pytest.mark.parametrize("modifier", MODIFIERS, ids=repr)
@pytest.mark.parametrize("value", ["2000-01-31 10:20:30.456", 2451545.25, 1600000000,
                                   "-4713-11-24 12:00", "9999-12-31 23:59:59", "12:34"],
                         ids=repr)
def test_single_modifier(value, modifier):
    assert_all_same(value, modifier)


@pytest.mark.parametrize("args", [
    (1600000000, "unixepoch", "start of day"),
    (1600000000, "auto", "+1 day"),
    (2451545, "auto"), (1600000000.5, "auto"), (-1, "auto"), (1e12, "auto"),
    (1600000000, "+1 day", "auto"), (5, "+1 day", "julianday"), (5, "julianday", "+1 day"),
    (0, "unixepoch", "unixepoch"), ("2000-01-01", "unixepoch"),
    ("1600000000", "unixepoch"), ("2451545", "julianday"),
    ("2000-01-31", "+1 month", "start of month"),
    ("2000-01-15", "-13 months", "weekday 0"),
    ("2000-01-01 12:00 +05:00", "utc"), ("2000-01-01 12:00 +05:00", "start of day"),
    ("2000-03-31", "-1 month", "-1 year"), ("2000-02-29", "+1 year"),
    ("2000-01-01", "+14712 years"), ("2000-01-01", "-6713 years"),
    ("2000-01-01", "+176545 months"), ("2000-01-01", "+176546 months"),
    ("2000-01-01", "+464269060800 seconds"), ("2000-01-01", "-1e18 seconds"),
    (1e300, "start of day"), (-5, "start of day"),
])
def test_modifier_chains(args):
    assert_all_same(*args)


STRFTIME_FORMATS = [
    "%d", "%f", "%H", "%j", "%J", "%m", "%M", "%s", "%S", "%w", "%W", "%Y", "%%",
    "%Y-%m-%dT%H:%M:%f", "plain", "", "%", "abc%", "%e", "%k", "%F", "%u", "%V", "%G",
    "%a", "100%% %d", "%W%j%w",
]


@pytest.mark.parametrize("fmt", STRFTIME_FORMATS, ids=repr)
@pytest.mark.parametrize("value", ["2000-01-01", "2001-12-31 23:59:59.9999", "-0044-03-15 01:02:03",
                                   "-4713-11-24 12:00:00", "2024-06-09 05:06:07.089", 2451545.123456789,
                                   "9999-12-31 23:59:59.999", None, "junk"], ids=repr)
def test_strftime(fmt, value):
    assert_same("strftime", fmt, value)


def test_strftime_arities():
    assert lookup_scalar("strftime", 0).fn() is None
    assert_same("strftime", None, "2000-01-01")
    assert_same("strftime", 5, "2000-01-01")
    assert_same("strftime", "%Y", "2000-01-01", "+1 year", "start of year")


# --------------------------------------------------------------------------
# Randomized differential tests
# --------------------------------------------------------------------------

fraction = st.one_of(st.just(""), st.integers(0, 10 ** 6).map(lambda n: "." + str(n)))
seconds = st.one_of(st.just(""), st.tuples(st.integers(0, 61), fraction).map(
    lambda t: ":%02d%s" % t))
zone = st.sampled_from(["", "Z", "z", " +01:00", "-05:30", "+14:00", "-14:59", "+15:00", " Z "])
clock = st.tuples(st.integers(0, 25), st.integers(0, 61), seconds, zone).map(
    lambda t: "%02d:%02d%s%s" % t)
date_text = st.tuples(
    st.sampled_from(["", "-"]), st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32),
    st.sampled_from(["", " ", "T", "  "]), st.one_of(st.just(""), clock),
).map(lambda t: "%s%04d-%02d-%02d" % t[:4] + (t[4] + t[5] if t[5] else ""))
numeric = st.one_of(
    st.floats(-1e6, 5.4e6, allow_nan=False),
    st.integers(-10 ** 12, 10 ** 12),
    st.floats(allow_nan=False, allow_infinity=False),
)
time_value = st.one_of(date_text, clock, numeric, numeric.map(str),
                       st.text(alphabet="0123456789-+:. TZe", max_size=12))

unit = st.sampled_from(["second", "seconds", "minute", "minutes", "hour", "hours", "day", "days",
                        "month", "months", "year", "years", "DAYS", "week"])
amount = st.one_of(st.integers(-20000, 20000), st.floats(-1e5, 1e5, allow_nan=False).map(
    lambda r: round(r, 3)))
modifier = st.one_of(
    st.tuples(st.sampled_from(["", "+", "-"]), amount, unit).map(
        lambda t: "%s%s %s" % (t[0], abs(t[1]) if t[0] else t[1], t[2])),
    st.sampled_from(["start of day", "start of month", "start of year", "unixepoch", "julianday",
                     "auto", "utc", "localtime", "weekday 0", "weekday 1", "weekday 5", "weekday 6"]),
    st.tuples(st.sampled_from(["+", "-", ""]), clock).map("".join),
    st.text(alphabet="0123456789+-: .dayhourst", max_size=10),
)


@settings(max_examples=400, deadline=None)
@given(time_value, st.lists(modifier, max_size=3))
def test_random_time_values_and_modifiers(value, modifiers):
    assert_all_same(value, *modifiers)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="%dfHjJmMsSwWYx-:", max_size=10), time_value, st.lists(modifier, max_size=2))
def test_random_strftime(fmt, value, modifiers):
    assert_same("strftime", fmt, value, *modifiers)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, dt.MAX_IJD))
def test_every_instant_round_trips(ijd):
    """Any julian-day millisecond renders exactly as sqlite3 renders it."""
    for name in ("datetime", "strftime"):
        args = (ijd / 86400000.0,) if name == "datetime" else ("%Y-%m-%d %H:%M:%f %j %W %w %s", ijd / 86400000.0)
        assert_same(name, *args)


# --------------------------------------------------------------------------
# 'now' and the statement clock; local time
# --------------------------------------------------------------------------

def test_now_is_stable_within_a_statement_clock():
    with dt.statement_clock():
        first = dt.julianday("now")
        time.sleep(0.005)
        assert dt.julianday("now") == first
        assert dt.julianday() == first
        assert dt.unixepoch() == dt.unixepoch("now")


def test_now_pinned_instant():
    pinned = dt.UNIX_EPOCH_IJD + 1_600_000_000_123
    with dt.statement_clock(pinned):
        assert dt.datetime_("now") == "2020-09-13 12:26:40"
        assert dt.strftime("%f") == "40.123"
        assert dt.unixepoch() == 1_600_000_000
        with dt.statement_clock(dt.UNIX_EPOCH_IJD):
            assert dt.date() == "1970-01-01"
        assert dt.unixepoch("NOW") == 1_600_000_000


def test_now_matches_sqlite_wall_clock():
    ours_now = dt.unixepoch("now")
    theirs = CONN.execute("SELECT unixepoch('now')").fetchone()[0]
    assert abs(ours_now - theirs) <= 2


def test_registered_time_dependent():
    for name in FUNCTIONS + ("strftime",):
        entry = lookup_scalar(name, 3)
        assert entry is not None and entry.time_dependent


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe",
                                  "Europe/London"])
def test_localtime_and_utc_follow_tz(zone):
    saved = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        for value in ["2000-01-01 12:00", "2021-03-14 07:30", "2021-11-07 05:59:59", "1969-07-20 20:17",
                      "2040-06-01", "2021-03-28 01:30", 1600000000.0, "2000-01-01 12:00 +02:00"]:
            for mods in (("localtime",), ("utc",), ("localtime", "utc"), ("utc", "localtime"),
                         ("localtime", "start of day", "utc"), ("localtime", "localtime"), ("utc", "utc")):
                assert_all_same(value, *mods)
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


def test_datetime_check_invariants():
    p = dt.DateTime()
    assert not dt.parse_date_or_time("2000-01-02 03:04:05.5 +01:00", p)
    p._check()
    dt.compute_ymd_hms(p)
    p._check()
    assert (p.Y, p.M, p.D, p.h, p.m, p.s) == (2000, 1, 2, 2, 4, 5.5)
    assert not dt.apply_modifier(p, "+1 month", 1)
    p._check()
    dt.compute_ymd_hms(p)
    assert (p.Y, p.M, p.D) == (2000, 2, 2)
