"""SQLite's core scalar functions (lang_corefunc.html), as in SQLite 3.40's func.c.

Arguments are converted the way the C functions call ``sqlite3_value_text``
(``to_text``), ``sqlite3_value_int64`` (``to_integer``) and
``sqlite3_value_double`` (``to_real``). Functions SQLite 3.40 lacks (unhex,
concat, concat_ws, string_agg) are deliberately absent.
"""

from __future__ import annotations

import os
import random as _random

from engine.sql.functions.registry import SqlFunctionError, VARIADIC, scalar
from engine.sql import operators
from engine.values import (
    INT64_MIN, compare, format_real, is_true, numeric_value, to_blob, to_integer, to_real,
    to_text, typeof as _typeof, _atof)

SQLITE_VERSION = "3.40.1"

_ASCII_UPPER = {c: c - 32 for c in range(ord("a"), ord("z") + 1)}
_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def _int32(value) -> int:
    """``sqlite3_value_int``: the int64 value truncated (wrapped) to a C int."""
    v = to_integer(value) & 0xFFFFFFFF
    return v - (1 << 32) if v >= (1 << 31) else v


def _wrong_args(name: str):
    return SqlFunctionError(f"wrong number of arguments to function {name}()")


# --- NULL handling and choice ---------------------------------------------

@scalar("coalesce", VARIADIC)
def coalesce(*args):
    """The first non-NULL argument (at least two arguments)."""
    if len(args) < 2:
        raise _wrong_args("coalesce")
    for a in args:
        if a is not None:
            return a
    return None


@scalar("ifnull", 2)
def ifnull(a, b):
    """``a`` unless it is NULL, else ``b``."""
    return b if a is None else a


@scalar("iif", 3)
def iif(cond, then, otherwise):
    """``then`` if ``cond`` is true, else ``otherwise`` (NULL is not true)."""
    return then if is_true(cond) else otherwise


@scalar("nullif", 2)
def nullif(a, b):
    """NULL if ``a`` equals ``b`` (BINARY), else ``a``."""
    if a is not None and b is not None and compare(a, b) == 0:
        return None
    return a


@scalar("likely", 1)
def likely(x):
    """``x`` unchanged (a planner hint)."""
    return x


@scalar("unlikely", 1)
def unlikely(x):
    """``x`` unchanged (a planner hint)."""
    return x


@scalar("likelihood", 2)
def likelihood(x, probability):
    """``x`` unchanged; ``probability`` must be a REAL literal in [0.0, 1.0]
    (SQLite checks it at prepare time, so the evaluator should call this then)."""
    if type(probability) is not float or not 0.0 <= probability <= 1.0:
        raise SqlFunctionError(
            "second argument to likelihood() must be a constant between 0.0 and 1.0")
    return x


def _minmax(args, want_max: bool):
    """Multi-argument max()/min(): NULL if any argument is NULL. O(n)."""
    if len(args) < 2:
        raise _wrong_args("max" if want_max else "min")
    best = args[0]
    if best is None:
        return None
    for a in args[1:]:
        if a is None:
            return None
        c = compare(best, a)
        # minmaxFunc: max keeps the first of equals, min takes the last.
        if (c < 0) if want_max else (c >= 0):
            best = a
    return best


@scalar("max", VARIADIC)
def max_(*args):
    """Scalar max(X, Y, ...): the largest argument in SQLite's ordering."""
    return _minmax(args, True)


@scalar("min", VARIADIC)
def min_(*args):
    """Scalar min(X, Y, ...): the smallest argument in SQLite's ordering."""
    return _minmax(args, False)


# --- numbers ----------------------------------------------------------------

@scalar("abs", 1)
def abs_(x):
    """Absolute value: INTEGER stays INTEGER ("integer overflow" for the minimum
    int64); everything else becomes REAL via its REAL value."""
    if x is None:
        return None
    if type(x) is int:
        if x == INT64_MIN:
            raise SqlFunctionError("integer overflow")
        return -x if x < 0 else x
    r = to_real(x)
    return -r if r < 0 else r


@scalar("round", 1)
def round1(x):
    """round(X): to 0 decimal places, as a REAL."""
    return round2(x, 0)


@scalar("round", 2)
def round2(x, digits):
    """round(X, Y) as SQLite 3.40 does it: Y is clamped to [0, 30]; Y = 0 rounds
    half away from zero through an int64; otherwise X is printed with "%.*f"
    (SQLite's printf, 16 significant digits) and read back. |X| >= 2**52 is
    returned unchanged (it has no fraction)."""
    if x is None or digits is None:
        return None
    n = max(0, min(30, _int32(digits)))
    r = to_real(x)
    if r < -4503599627370496.0 or r > 4503599627370496.0:
        return r
    if n == 0:
        return float(int(r + (-0.5 if r < 0 else 0.5)))
    return _atof(format_real(r, "f", n))


@scalar("sign", 1)
def sign(x):
    """-1, 0 or +1 for a numeric argument; NULL for NULL and non-numeric text."""
    number = numeric_value(x)
    if number is None:
        return None
    return -1 if number < 0 else (1 if number > 0 else 0)


@scalar("random", 0, deterministic=False)
def random_():
    """A pseudo-random 64-bit signed integer."""
    return _random.getrandbits(64) - (1 << 63)


@scalar("randomblob", 1, deterministic=False)
def randomblob(n):
    """``n`` random bytes (at least one)."""
    if n is None:
        n = 1
    return os.urandom(max(1, to_integer(n)))


@scalar("zeroblob", 1)
def zeroblob(n):
    """A BLOB of ``n`` zero bytes (negative n gives an empty BLOB)."""
    if n is None:
        n = 0
    return bytes(max(0, to_integer(n)))


# --- text -------------------------------------------------------------------

@scalar("length", 1)
def length(x):
    """Characters before the first NUL for text (and numbers' text), bytes for BLOBs."""
    if x is None:
        return None
    if type(x) is bytes:
        return len(x)
    s = to_text(x)
    nul = s.find("\x00")
    return len(s) if nul < 0 else nul


@scalar("lower", 1)
def lower(x):
    """ASCII-only lower case (SQLite without ICU)."""
    if x is None:
        return None
    s = to_text(x)
    return s.lower() if s.isascii() else s.translate(_ASCII_LOWER)


@scalar("upper", 1)
def upper(x):
    """ASCII-only upper case (SQLite without ICU)."""
    if x is None:
        return None
    s = to_text(x)
    return s.upper() if s.isascii() else s.translate(_ASCII_UPPER)


def _trim(x, chars, left: bool, right: bool):
    if x is None:
        return None
    s = to_text(x)
    if chars is None:
        return None
    # SQLite reads the set as a C string: it ends at the first NUL.
    chars = to_text(chars).split("\x00", 1)[0]
    if left:
        s = s.lstrip(chars)
    if right:
        s = s.rstrip(chars)
    return s


@scalar("trim", 1)
def trim1(x):
    """Remove spaces from both ends."""
    return _trim(x, " ", True, True)


@scalar("trim", 2)
def trim2(x, chars):
    """Remove any of ``chars`` from both ends."""
    return _trim(x, chars, True, True)


@scalar("ltrim", 1)
def ltrim1(x):
    """Remove leading spaces."""
    return _trim(x, " ", True, False)


@scalar("ltrim", 2)
def ltrim2(x, chars):
    """Remove any of ``chars`` from the start."""
    return _trim(x, chars, True, False)


@scalar("rtrim", 1)
def rtrim1(x):
    """Remove trailing spaces."""
    return _trim(x, " ", False, True)


@scalar("rtrim", 2)
def rtrim2(x, chars):
    """Remove any of ``chars`` from the end."""
    return _trim(x, chars, False, True)


@scalar("replace", 3)
def replace(x, pattern, replacement):
    """Every occurrence of ``pattern`` in ``x`` replaced; an empty pattern returns
    ``x`` itself (unconverted), as SQLite does. O(len(x))."""
    if x is None or pattern is None:
        return None
    p = to_text(pattern)
    if p[:1] in ("", "\x00"):  # an empty C string (a NUL first byte too): x itself
        # (a BLOB x was turned into text by value_text)
        return to_text(x) if type(x) is bytes else x
    if replacement is None:
        return None
    return to_text(x).replace(p, to_text(replacement))


@scalar("instr", 2)
def instr(haystack, needle):
    """1-based position of ``needle`` in ``haystack`` (bytes if both are BLOBs,
    else characters); 0 if absent; 1 for an empty needle."""
    if haystack is None or needle is None:
        return None
    if type(haystack) is bytes and type(needle) is bytes:
        if not needle:
            return 1
        return haystack.find(needle) + 1
    n = to_text(needle)
    if not n:
        return 1
    return to_text(haystack).find(n) + 1


def _substr(x, start, count):
    """substr() following func.c's substrFunc index arithmetic; ``count`` None
    means "to the end". Text is read as a C string (sqlite3_value_text walked to
    its NUL), so it ends at the first NUL character; BLOBs keep every byte."""
    if x is None or start is None:
        return None
    data = x if type(x) is bytes else to_text(x).split("\x00", 1)[0]
    if data == b"":  # sqlite3_value_blob gives a NULL pointer for an empty BLOB
        return None
    size = len(data)
    p1 = _int32(start)
    negative = False
    if count is None:
        p2 = 1_000_000_000  # SQLITE_LIMIT_LENGTH, the default length when Z is absent
    else:
        p2 = _int32(count)
        if p2 < 0:
            p2, negative = -p2, True
    if p1 < 0:
        p1 += size
        if p1 < 0:
            p2 = max(0, p2 + p1)
            p1 = 0
    elif p1 > 0:
        p1 -= 1
    elif p2 > 0:
        p2 -= 1
    if negative:
        p1 -= p2
        if p1 < 0:
            p2 += p1
            p1 = 0
    return data[p1:p1 + p2]


@scalar("substr", 2)
def substr2(x, start):
    """substr(X, Y): from 1-based position Y (negative counts from the end)."""
    return _substr(x, start, None)


@scalar("substr", 3)
def substr3(x, start, count):
    """substr(X, Y, Z): Z characters (bytes for BLOBs); negative Z takes the |Z|
    before position Y."""
    if count is None:
        return None
    return _substr(x, start, count)


scalar("substring", 2)(substr2)
scalar("substring", 3)(substr3)


@scalar("char", VARIADIC)
def char(*codes):
    """The text of the given code points; invalid ones become U+FFFD."""
    out = []
    for c in codes:
        v = to_integer(c) if c is not None else 0
        out.append(chr(v) if 0 <= v <= 0x10FFFF else "\ufffd")
    return "".join(out)


@scalar("unicode", 1)
def unicode(x):
    """Code point of the first character; NULL for NULL or empty text."""
    if x is None:
        return None
    s = to_text(x)
    return ord(s[0]) if s and s[0] != "\x00" else None  # C string: NUL ends it


@scalar("hex", 1)
def hex_(x):
    """Upper-case hex of the value's bytes (text as UTF-8; NULL gives '')."""
    if x is None:
        return ""
    return to_blob(x).hex().upper()


def quote_value(x) -> str:
    """An SQL literal for ``x`` (quote()): NULL, numbers, 'text', X'BLOB'. A REAL
    that "%!.15g" does not round-trip is written with "%!.20e"."""
    if x is None:
        return "NULL"
    t = type(x)
    if t is int:
        return str(x)
    if t is float:
        text = to_text(x)
        if _atof(text) != x:
            text = format_real(x, "e", 20, altform2=True)
        return text
    if t is bytes:
        return "X'" + x.hex().upper() + "'"
    # SQLite renders the text as a C string: it ends at the first NUL.
    return "'" + to_text(x).split("\x00", 1)[0].replace("'", "''") + "'"


@scalar("quote", 1)
def quote(x):
    """The value as an SQL literal."""
    return quote_value(x)


@scalar("typeof", 1)
def typeof(x):
    """'null', 'integer', 'real', 'text' or 'blob'."""
    return _typeof(x)


@scalar("like", 2)
def like2(pattern, value):
    """like(P, X) = X LIKE P."""
    return operators.like(pattern, value)


@scalar("like", 3)
def like3(pattern, value, escape):
    """like(P, X, E) = X LIKE P ESCAPE E."""
    return operators.like(pattern, value, escape, has_escape=True)


@scalar("glob", 2)
def glob(pattern, value):
    """glob(P, X) = X GLOB P."""
    return operators.glob(pattern, value)


# soundex: letter -> digit code (vowels, H, W, Y: 0), per func.c's iCode table.
_SOUNDEX = {}
for _letters, _code in (("AEIOUHWY", 0), ("BFPV", 1), ("CGJKQSXZ", 2), ("DT", 3),
                        ("L", 4), ("MN", 5), ("R", 6)):
    for _ch in _letters:
        _SOUNDEX[ord(_ch)] = _SOUNDEX[ord(_ch.lower())] = _code


@scalar("soundex", 1)
def soundex(x):
    """The Soundex code of ``x`` ('?000' when it has no ASCII letter); works on
    UTF-8 bytes, each byte's low 7 bits indexing the code table, as func.c."""
    data = to_text(x).encode("utf-8").split(b"\x00", 1)[0] if x is not None else b""
    i = 0
    while i < len(data) and not (65 <= data[i] <= 90 or 97 <= data[i] <= 122):
        i += 1
    if i == len(data):
        return "?000"
    prev = _SOUNDEX.get(data[i] & 0x7F, 0)
    out = [chr(data[i]).upper()]
    while len(out) < 4 and i < len(data):
        code = _SOUNDEX.get(data[i] & 0x7F, 0)
        if code > 0:
            if code != prev:
                prev = code
                out.append(chr(48 + code))
        else:
            prev = 0
        i += 1
    return "".join(out).ljust(4, "0")


@scalar("sqlite_version", 0)
def sqlite_version():
    """The SQLite version whose dialect and semantics this engine follows."""
    return SQLITE_VERSION
