"""SQLite's date and time functions: date, time, datetime, julianday, unixepoch, strftime.

Behaviour is SQLite 3.40's ``date.c``, reproduced rule for rule so that results
match to the last digit: a time value is held as an integer count of
milliseconds since the julian-day epoch (``ijd``), broken down into
year/month/day and hour/minute/second on demand, with C's truncating integer
division wherever SQLite divides.  Invalid input of any kind gives NULL.

Statement clock
---------------
SQLite evaluates ``'now'`` once per statement: every call within one statement
sees the same instant.  The evaluator gets the same behaviour by running each
statement inside ``with statement_clock():`` (or ``statement_clock(ijd_ms)`` to
pin a chosen instant, e.g. in tests).  Outside such a block each call reads the
wall clock.  All functions here are registered ``time_dependent=True`` because
``'now'`` (or calling them with no time value) reads that clock.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import struct
import time as _time

from engine.sql.functions.registry import SqlFunctionError, scalar
from engine.values import to_text

# --------------------------------------------------------------------------
# Constants of the julian-day calendar (milliseconds)
# --------------------------------------------------------------------------

MS_PER_DAY = 86_400_000
HALF_DAY_MS = 43_200_000
MAX_IJD = 464_269_060_799_999          # 9999-12-31 23:59:59.999
UNIX_EPOCH_IJD = 210_866_760_000_000   # 1970-01-01 00:00:00 as ijd
UNIX_EPOCH_SECONDS = 210_866_760_000   # the same, in seconds


def _cdiv(a: int, b: int) -> int:
    """C's integer division: the quotient truncated toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _cmod(a: int, b: int) -> int:
    """C's remainder: takes the sign of the dividend."""
    return a - b * _cdiv(a, b)


def _as_int32(x: int) -> int:
    """``x`` converted to a 32-bit C int (two's-complement wrap-around)."""
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x >= (1 << 31) else x


def _f32(x: float) -> float:
    """``x`` rounded to single precision (SQLite's modifier limits are C floats)."""
    return struct.unpack("f", struct.pack("f", x))[0]


# --------------------------------------------------------------------------
# The statement clock
# --------------------------------------------------------------------------

_STATEMENT_IJD: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "turso_stream_statement_ijd", default=None)


def wall_clock_ijd() -> int:
    """The current wall-clock time as julian-day milliseconds (SQLite's unix VFS rule)."""
    return UNIX_EPOCH_IJD + _time.time_ns() // 1_000_000


def now_ijd() -> int:
    """'now' for the current statement: the pinned statement instant, else the wall clock."""
    pinned = _STATEMENT_IJD.get()
    return wall_clock_ijd() if pinned is None else pinned


@contextlib.contextmanager
def statement_clock(ijd_ms: int | None = None):
    """Pin 'now' for the duration of one statement.

    ``ijd_ms`` is the instant as julian-day milliseconds; None reads the wall
    clock once on entry.  Nested blocks restore the outer instant on exit.
    """
    token = _STATEMENT_IJD.set(wall_clock_ijd() if ijd_ms is None else ijd_ms)
    try:
        yield
    finally:
        _STATEMENT_IJD.reset(token)


def pin_statement_clock():
    """Pin 'now' to the wall clock until ``unpin_statement_clock(token)``: the
    allocation-free form of ``statement_clock()`` for the statement hot path."""
    return _STATEMENT_IJD.set(wall_clock_ijd())


def unpin_statement_clock(token) -> None:
    _STATEMENT_IJD.reset(token)


def statement_clock_var() -> contextvars.ContextVar:
    """The context variable holding the pinned statement instant (julian-day ms or
    None), for a caller that pins it inline on a hot path: ``token = var.set(ijd)``
    then ``var.reset(token)``, as pin/unpin_statement_clock do."""
    return _STATEMENT_IJD


# --------------------------------------------------------------------------
# The broken-down time value (SQLite's struct DateTime)
# --------------------------------------------------------------------------

class DateTime:
    """One time value while it is parsed and modified.

    ``ijd`` is valid when ``valid_jd``; Y/M/D when ``valid_ymd``; h/m/s when
    ``valid_hms``; ``tz`` (minutes east of UTC) is pending when ``valid_tz``.
    ``raw_s`` marks a bare number whose meaning (julian day or unix time) a
    following modifier may still decide; ``s`` then holds that number.
    """

    __slots__ = ("ijd", "Y", "M", "D", "h", "m", "tz", "s", "valid_jd", "raw_s",
                 "valid_ymd", "valid_hms", "valid_tz", "tz_set", "is_error")

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        """All fields zero/false (SQLite's memset)."""
        self.ijd = 0
        self.Y = self.M = self.D = 0
        self.h = self.m = self.tz = 0
        self.s = 0.0
        self.valid_jd = self.raw_s = self.valid_ymd = False
        self.valid_hms = self.valid_tz = self.tz_set = self.is_error = False

    def copy(self) -> "DateTime":
        """A field-for-field copy."""
        other = DateTime.__new__(DateTime)
        for name in DateTime.__slots__:
            setattr(other, name, getattr(self, name))
        return other

    def _check(self) -> None:
        """Assert the invariants that hold between operations."""
        if self.valid_jd and not self.is_error:
            assert isinstance(self.ijd, int)
        if self.valid_hms:
            assert 0 <= self.h <= 24 and 0 <= self.m <= 59 and self.s >= 0.0
        if self.is_error:
            assert not self.valid_ymd or self.Y == 2000


def _set_error(p: DateTime) -> None:
    """Mark ``p`` as invalid (SQLite's datetimeError)."""
    p.reset()
    p.is_error = True


def valid_julian_day(ijd: int) -> bool:
    """True when ``ijd`` lies in 0000-... julian day 0 .. 9999-12-31 23:59:59.999."""
    return 0 <= ijd <= MAX_IJD


def compute_jd(p: DateTime) -> None:
    """Fill ``p.ijd`` from Y/M/D and h/m/s (Meeus' algorithm, as SQLite's computeJD).

    A missing date means 2000-01-01; a year outside -4713..9999 or an unresolved
    raw number is an error.  A pending timezone is applied and then forgotten
    with the broken-down fields.
    """
    if p.valid_jd:
        return
    if p.valid_ymd:
        Y, M, D = p.Y, p.M, p.D
    else:
        Y, M, D = 2000, 1, 1
    if Y < -4713 or Y > 9999 or p.raw_s:
        _set_error(p)
        return
    if M <= 2:
        Y -= 1
        M += 12
    A = _cdiv(Y, 100)
    B = 2 - A + _cdiv(A, 4)
    X1 = _cdiv(36525 * (Y + 4716), 100)
    X2 = _cdiv(306001 * (M + 1), 10000)
    p.ijd = int((X1 + X2 + D + B - 1524.5) * 86400000)
    p.valid_jd = True
    if p.valid_hms:
        p.ijd += p.h * 3600000 + p.m * 60000 + int(p.s * 1000 + 0.5)
        if p.valid_tz:
            p.ijd -= p.tz * 60000
            p.valid_ymd = False
            p.valid_hms = False
            p.valid_tz = False


def compute_ymd(p: DateTime) -> None:
    """Fill Y/M/D from ``p.ijd`` (SQLite's computeYMD); out-of-range is an error."""
    if p.valid_ymd:
        return
    if not p.valid_jd:
        p.Y, p.M, p.D = 2000, 1, 1
    elif not valid_julian_day(p.ijd):
        _set_error(p)
        return
    else:
        Z = (p.ijd + HALF_DAY_MS) // MS_PER_DAY
        A = int((Z - 1867216.25) / 36524.25)
        A = Z + 1 + A - _cdiv(A, 4)
        B = A + 1524
        C = int((B - 122.1) / 365.25)
        D = (36525 * (C & 32767)) // 100
        E = int((B - D) / 30.6001)
        X1 = int(30.6001 * E)
        p.D = B - D - X1
        p.M = E - 1 if E < 14 else E - 13
        p.Y = C - 4716 if p.M > 2 else C - 4715
    p.valid_ymd = True


def compute_hms(p: DateTime) -> None:
    """Fill h/m/s from ``p.ijd`` (SQLite's computeHMS)."""
    if p.valid_hms:
        return
    compute_jd(p)
    ms = _cmod(p.ijd + HALF_DAY_MS, MS_PER_DAY)
    s = ms / 1000.0
    whole = int(s)
    s -= whole
    p.h = _cdiv(whole, 3600)
    whole -= p.h * 3600
    p.m = _cdiv(whole, 60)
    p.s = s + (whole - p.m * 60)
    p.raw_s = False
    p.valid_hms = True


def compute_ymd_hms(p: DateTime) -> None:
    compute_ymd(p)
    compute_hms(p)


def _clear_ymd_hms_tz(p: DateTime) -> None:
    p.valid_ymd = p.valid_hms = p.valid_tz = False


# --------------------------------------------------------------------------
# Parsing time values
# --------------------------------------------------------------------------

_SPACE = " \t\n\v\f\r"
_NUMBER_RE = re.compile(r"[ \t\n\v\f\r]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t\n\v\f\r]*\Z")


def sqlite_atof(text: str) -> float | None:
    """The value of ``text`` if all of it is a decimal number (SQLite's sqlite3AtoF > 0), else None.

    Leading and trailing ASCII whitespace is allowed; hex, 'inf' and 'nan' are not.
    """
    if _NUMBER_RE.match(text) is None:
        return None
    return float(text.strip(_SPACE))


def _digits(text: str, pos: int, width: int, lo: int, hi: int) -> int | None:
    """The ``width``-digit number at ``pos`` if it is in lo..hi, else None (one getDigits field)."""
    field = text[pos:pos + width]
    if len(field) != width or not all("0" <= ch <= "9" for ch in field):
        return None
    value = int(field)
    return value if lo <= value <= hi else None


def _at(text: str, pos: int) -> str:
    """The character at ``pos``, or '' past the end (C's NUL terminator)."""
    return text[pos] if pos < len(text) else ""


def _parse_timezone(text: str, pos: int, p: DateTime) -> bool:
    """Parse an optional ``[+-]HH:MM`` or ``Z`` suffix; True on failure (parseTimezone)."""
    n = len(text)
    while pos < n and text[pos] in _SPACE:
        pos += 1
    p.tz = 0
    c = _at(text, pos)
    if c in ("-", "+"):
        sign = -1 if c == "-" else 1
        hours = _digits(text, pos + 1, 2, 0, 14)
        if hours is None or _at(text, pos + 3) != ":":
            return True
        minutes = _digits(text, pos + 4, 2, 0, 59)
        if minutes is None:
            return True
        pos += 6
        p.tz = sign * (minutes + hours * 60)
    elif c in ("Z", "z"):
        pos += 1
    else:
        return c != ""
    while pos < n and text[pos] in _SPACE:
        pos += 1
    p.tz_set = True
    return pos != n


def parse_hh_mm_ss(text: str, pos: int, p: DateTime) -> bool:
    """Parse ``HH:MM[:SS[.FFF...]][tz]`` at ``pos``; True on failure (parseHhMmSs)."""
    h = _digits(text, pos, 2, 0, 24)
    if h is None or _at(text, pos + 2) != ":":
        return True
    m = _digits(text, pos + 3, 2, 0, 59)
    if m is None:
        return True
    pos += 5
    ms = 0.0
    if _at(text, pos) == ":":
        s = _digits(text, pos + 1, 2, 0, 59)
        if s is None:
            return True
        pos += 3
        if _at(text, pos) == "." and _at(text, pos + 1).isdigit() and _at(text, pos + 1) <= "9":
            scale = 1.0
            pos += 1
            while pos < len(text) and "0" <= text[pos] <= "9":
                ms = ms * 10.0 + (ord(text[pos]) - 48)
                scale *= 10.0
                pos += 1
            ms /= scale
    else:
        s = 0
    p.valid_jd = False
    p.raw_s = False
    p.valid_hms = True
    p.h, p.m, p.s = h, m, s + ms
    if _parse_timezone(text, pos, p):
        return True
    p.valid_tz = p.tz != 0
    return False


def parse_yyyy_mm_dd(text: str, p: DateTime) -> bool:
    """Parse ``[-]YYYY-MM-DD[( |T)time]``; True on failure (parseYyyyMmDd)."""
    pos = 0
    neg = text.startswith("-")
    if neg:
        pos = 1
    Y = _digits(text, pos, 4, 0, 14712)
    if Y is None or _at(text, pos + 4) != "-":
        return True
    M = _digits(text, pos + 5, 2, 1, 12)
    if M is None or _at(text, pos + 7) != "-":
        return True
    D = _digits(text, pos + 8, 2, 1, 31)
    if D is None:
        return True
    pos += 10
    n = len(text)
    while pos < n and (text[pos] in _SPACE or text[pos] == "T"):
        pos += 1
    if not parse_hh_mm_ss(text, pos, p):
        pass
    elif pos == n:
        p.valid_hms = False
    else:
        return True
    p.valid_jd = False
    p.valid_ymd = True
    p.Y = -Y if neg else Y
    p.M, p.D = M, D
    if p.valid_tz:
        compute_jd(p)
    return False


def _set_raw_number(p: DateTime, r: float) -> None:
    """A bare number: a julian day if in range, kept raw for 'unixepoch'/'auto'."""
    p.s = r
    p.raw_s = True
    if 0.0 <= r < 5373484.5:
        p.ijd = int(r * 86400000.0 + 0.5)
        p.valid_jd = True


def parse_date_or_time(text: str, p: DateTime) -> bool:
    """Parse any time-value text into ``p``; True on failure (parseDateOrTime)."""
    if not parse_yyyy_mm_dd(text, p):
        return False
    if not parse_hh_mm_ss(text, 0, p):
        return False
    if text.lower() == "now":
        p.ijd = now_ijd()
        if p.ijd > 0:
            p.valid_jd = True
            return False
        return True
    r = sqlite_atof(text)
    if r is None:
        return True
    _set_raw_number(p, r)
    return False


# --------------------------------------------------------------------------
# Modifiers
# --------------------------------------------------------------------------

# (name without the plural 's', limit on |NNN| as a C float, seconds per unit)
_UNITS = (
    ("second", _f32(4.6427e+14), 1.0),
    ("minute", _f32(7.7379e+12), 60.0),
    ("hour", _f32(1.2897e+11), 3600.0),
    ("day", _f32(5373485.0), 86400.0),
    ("month", _f32(176546.0), 2592000.0),
    ("year", _f32(14713.0), 31536000.0),
)


def _to_localtime(p: DateTime) -> None:
    """Move UTC instant ``p`` to local wall-clock time (SQLite's toLocaltime).

    Instants outside 1970-01-01 .. 2038-01-18 are converted in an equivalent
    year (same leap cycle) near 2000 and mapped back, as SQLite does.  Raises
    _LocalTimeUnavailable when the C library cannot convert.
    """
    compute_jd(p)
    if p.ijd < 210866760000000 or p.ijd > 213014145600000:
        x = p.copy()
        compute_ymd_hms(x)
        year_diff = (2000 + _cmod(x.Y, 4)) - x.Y
        x.Y += year_diff
        x.valid_jd = False
        compute_jd(x)
        t = _cdiv(x.ijd, 1000) - UNIX_EPOCH_SECONDS
    else:
        year_diff = 0
        t = _cdiv(p.ijd, 1000) - UNIX_EPOCH_SECONDS
    try:
        local = _time.localtime(t)
    except (OverflowError, OSError, ValueError):
        raise _LocalTimeUnavailable() from None
    p.Y = local.tm_year - year_diff
    p.M, p.D = local.tm_mon, local.tm_mday
    p.h, p.m = local.tm_hour, local.tm_min
    p.s = local.tm_sec + _cmod(p.ijd, 1000) * 0.001
    p.valid_ymd = p.valid_hms = True
    p.valid_jd = p.raw_s = False
    p.tz = 0
    p.is_error = False


def _modifier_auto(p: DateTime, idx: int) -> bool:
    if idx > 1:
        return True
    if not p.raw_s or p.valid_jd:
        p.raw_s = False
        return False
    if -210866760000 <= p.s <= 253402300799:
        p.ijd = int(p.s * 1000.0 + 210866760000000.0 + 0.5)
        _clear_ymd_hms_tz(p)
        p.valid_jd = True
        p.raw_s = False
        return False
    return True


def _modifier_unixepoch(p: DateTime, idx: int) -> bool:
    if idx > 1:
        return True
    r = p.s * 1000.0 + 210866760000000.0
    if 0.0 <= r < 464269060800000.0:
        _clear_ymd_hms_tz(p)
        p.ijd = int(r + 0.5)
        p.valid_jd = True
        p.raw_s = False
        return False
    return True


def _modifier_utc(p: DateTime) -> bool:
    """Local wall-clock time -> UTC: iterate a guess until its local time matches."""
    if p.tz_set:
        return False
    compute_jd(p)
    guess = original = p.ijd
    error = 0
    tries = 0
    while True:
        guess -= error
        probe = DateTime()
        probe.ijd = guess
        probe.valid_jd = True
        _to_localtime(probe)
        compute_jd(probe)
        error = _as_int32(probe.ijd - original)  # SQLite 3.40 keeps the error in a C int
        if not error or tries >= 3:
            break
        tries += 1
    p.reset()
    p.ijd = guess
    p.valid_jd = True
    p.tz_set = True
    return False


def _modifier_weekday(p: DateTime, arg: str) -> bool:
    r = sqlite_atof(arg)
    if r is None or not (0 <= r < 7) or int(r) != r:
        return True
    n = int(r)
    compute_ymd_hms(p)
    p.valid_tz = False
    p.valid_jd = False
    compute_jd(p)
    z = _cmod(_cdiv(p.ijd + 129600000, MS_PER_DAY), 7)
    if z > n:
        z -= 7
    p.ijd += (n - z) * MS_PER_DAY
    _clear_ymd_hms_tz(p)
    return False


def _modifier_start_of(p: DateTime, unit: str) -> bool:
    if not p.valid_jd and not p.valid_ymd and not p.valid_hms:
        return True
    compute_ymd(p)
    p.valid_hms = True
    p.h = p.m = 0
    p.s = 0.0
    p.raw_s = False
    p.valid_tz = False
    p.valid_jd = False
    unit = unit.lower()
    if unit == "month":
        p.D = 1
        return False
    if unit == "year":
        p.M = p.D = 1
        return False
    return unit != "day"


def _modifier_time_offset(p: DateTime, z: str) -> bool:
    """``(+|-)HH:MM[:SS[.FFF]]``: shift by a time of day (at most 24 hours)."""
    tx = DateTime()
    start = 0 if z[0].isdigit() else 1
    if parse_hh_mm_ss(z, start, tx):
        return True
    compute_jd(tx)
    tx.ijd -= HALF_DAY_MS
    day = _cdiv(tx.ijd, MS_PER_DAY)
    tx.ijd -= day * MS_PER_DAY
    if z[0] == "-":
        tx.ijd = -tx.ijd
    compute_jd(p)
    _clear_ymd_hms_tz(p)
    p.ijd += tx.ijd
    return False


def _modifier_amount(p: DateTime, z: str) -> bool:
    """``NNN units`` or ``(+|-)HH:MM...``: add an amount of time (SQLite's numeric modifiers)."""
    n = 1
    length = len(z)
    while n < length and z[n] != ":" and z[n] not in _SPACE:
        n += 1
    r = sqlite_atof(z[:n])
    if r is None:
        return True
    if n < length and z[n] == ":":
        return _modifier_time_offset(p, z)
    rest = z[n:].lstrip(_SPACE)
    if len(rest) > 10 or len(rest) < 3:
        return True
    if rest[-1] in "sS":
        rest = rest[:-1]
    compute_jd(p)
    failed = True
    rounder = -0.5 if r < 0 else 0.5
    rest = rest.lower()
    for name, limit, seconds in _UNITS:
        if rest == name and -limit < r < limit:
            if name == "month":
                compute_ymd_hms(p)
                p.M += int(r)
                x = _cdiv(p.M - 1, 12) if p.M > 0 else _cdiv(p.M - 12, 12)
                p.Y += x
                p.M -= x * 12
                p.valid_jd = False
                r -= int(r)
            elif name == "year":
                compute_ymd_hms(p)
                p.Y += int(r)
                p.valid_jd = False
                r -= int(r)
            compute_jd(p)
            p.ijd += int(r * 1000.0 * seconds + rounder)
            failed = False
            break
    _clear_ymd_hms_tz(p)
    return failed


class _LocalTimeUnavailable(Exception):
    """The C library could not convert to local time; SQLite reports an error."""


def apply_modifier(p: DateTime, z: str, idx: int) -> bool:
    """Apply modifier text ``z`` (argument number ``idx``, 1 = first) to ``p``; True on failure.

    Implements SQLite 3.40's parseModifier: NNN days/hours/minutes/seconds/
    months/years, (+|-)HH:MM[:SS.SSS], start of day/month/year, weekday N,
    unixepoch, julianday, auto, localtime, utc.
    """
    if not z:
        return True
    first = z[0].lower()
    lower = z.lower()
    if first == "a":
        return lower != "auto" or _modifier_auto(p, idx)
    if first == "j":
        if lower != "julianday" or idx > 1:
            return True
        if p.valid_jd and p.raw_s:
            p.raw_s = False
            return False
        return True
    if first == "l":
        if lower != "localtime":
            return True
        _to_localtime(p)
        return False
    if first == "u":
        if lower == "unixepoch" and p.raw_s:
            return _modifier_unixepoch(p, idx)
        if lower == "utc":
            return _modifier_utc(p)
        return True
    if first == "w":
        return not lower.startswith("weekday ") or _modifier_weekday(p, z[8:])
    if first == "s":
        return not lower.startswith("start of ") or _modifier_start_of(p, z[9:])
    if first in "+-0123456789":
        return _modifier_amount(p, z)
    return True


# --------------------------------------------------------------------------
# Evaluating the arguments of a date function
# --------------------------------------------------------------------------

def _value_text(value) -> str | None:
    """A function argument as SQLite's sqlite3_value_text sees it (None for NULL)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
        nul = text.find("\x00")
        return text if nul < 0 else text[:nul]
    if isinstance(value, str):
        nul = value.find("\x00")
        return value if nul < 0 else value[:nul]
    return to_text(value)


def time_value(args) -> DateTime | None:
    """The time value described by ``args`` (time value then modifiers), or None if invalid.

    No arguments means 'now' (SQLite's isDate).  Raises SqlFunctionError when
    local time is unavailable.
    """
    p = DateTime()
    if not args:
        p.ijd = now_ijd()
        p.valid_jd = True
        return p
    first = args[0]
    if isinstance(first, (int, float)) and not isinstance(first, bool):
        _set_raw_number(p, float(first))
    else:
        text = _value_text(first)
        if text is None or parse_date_or_time(text, p):
            return None
    try:
        for idx in range(1, len(args)):
            text = _value_text(args[idx])
            if text is None or apply_modifier(p, text, idx):
                return None
    except _LocalTimeUnavailable:
        raise SqlFunctionError("local time unavailable") from None
    compute_jd(p)
    if p.is_error or not valid_julian_day(p.ijd):
        return None
    return p


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------

def _format_date(p: DateTime) -> str:
    year = p.Y
    text = "%04d-%02d-%02d" % (abs(year) % 10000, p.M, p.D)
    return "-" + text if year < 0 else text


def _format_time(p: DateTime) -> str:
    return "%02d:%02d:%02d" % (p.h, p.m, int(p.s))


@scalar("julianday", time_dependent=True)
def julianday(*args):
    """julianday(time-value, modifier...) -> REAL days since noon, 4714-11-24 BC."""
    p = time_value(args)
    return None if p is None else p.ijd / 86400000.0


@scalar("unixepoch", time_dependent=True)
def unixepoch(*args):
    """unixepoch(time-value, modifier...) -> INTEGER seconds since 1970 (truncated)."""
    p = time_value(args)
    return None if p is None else p.ijd // 1000 - UNIX_EPOCH_SECONDS


@scalar("datetime", time_dependent=True)
def datetime_(*args):
    """datetime(time-value, modifier...) -> TEXT 'YYYY-MM-DD HH:MM:SS'."""
    p = time_value(args)
    if p is None:
        return None
    compute_ymd_hms(p)
    return _format_date(p) + " " + _format_time(p)


@scalar("date", time_dependent=True)
def date(*args):
    """date(time-value, modifier...) -> TEXT 'YYYY-MM-DD'."""
    p = time_value(args)
    if p is None:
        return None
    compute_ymd(p)
    return _format_date(p)


@scalar("time", time_dependent=True)
def time(*args):
    """time(time-value, modifier...) -> TEXT 'HH:MM:SS'."""
    p = time_value(args)
    if p is None:
        return None
    compute_hms(p)
    return _format_time(p)


_STRFTIME_CODES = frozenset("dfHjJmMsSwWY%")


def _day_of_year(p: DateTime) -> int:
    """Days since 1 January of p's year (0-based), as SQLite's %j/%W compute it."""
    y = p.copy()
    y.valid_jd = False
    y.M = y.D = 1
    compute_jd(y)
    return _cdiv(p.ijd - y.ijd + HALF_DAY_MS, MS_PER_DAY)


def _strftime_field(p: DateTime, code: str) -> str:
    """The text of one %-directive of strftime."""
    if code == "d":
        return "%02d" % p.D
    if code == "f":
        return "%06.3f" % min(p.s, 59.999)
    if code == "H":
        return "%02d" % p.h
    if code == "j":
        return "%03d" % (_day_of_year(p) + 1)
    if code == "W":
        weekday = _cmod(_cdiv(p.ijd + HALF_DAY_MS, MS_PER_DAY), 7)  # 0 = Monday
        return "%02d" % _cdiv(_day_of_year(p) + 7 - weekday, 7)
    if code == "J":
        return "%.16g" % (p.ijd / 86400000.0)
    if code == "m":
        return "%02d" % p.M
    if code == "M":
        return "%02d" % p.m
    if code == "s":
        return str(p.ijd // 1000 - UNIX_EPOCH_SECONDS)
    if code == "S":
        return "%02d" % int(p.s)
    if code == "w":
        return str(_cmod(_cdiv(p.ijd + 129600000, MS_PER_DAY), 7))
    if code == "Y":
        return "%04d" % p.Y
    return "%"


@scalar("strftime", time_dependent=True)
def strftime(*args):
    """strftime(format, time-value, modifier...) -> TEXT.

    Directives of SQLite 3.40: %d %f %H %j %J %m %M %s %S %w %W %Y %%; any
    other directive (or a trailing '%') makes the result NULL.  O(len(format)).
    """
    if not args:
        return None
    fmt = _value_text(args[0])
    if fmt is None:
        return None
    n = len(fmt)
    i = 0
    while i < n:
        if fmt[i] == "%":
            if i + 1 >= n or fmt[i + 1] not in _STRFTIME_CODES:
                return None
            i += 1
        i += 1
    p = time_value(args[1:])
    if p is None:
        return None
    compute_jd(p)
    compute_ymd_hms(p)
    out = []
    i = 0
    while i < n:
        ch = fmt[i]
        if ch != "%":
            out.append(ch)
        else:
            i += 1
            out.append(_strftime_field(p, fmt[i]))
        i += 1
    return "".join(out)
