"""SQLite values: storage classes, type affinity, conversions, ordering, collations.

Values are Python ``None`` (NULL), ``int`` (64-bit range), ``float`` (REAL, never
NaN: SQLite turns NaN into NULL), ``str`` (TEXT) and ``bytes`` (BLOB).

Every rule here follows "Datatypes In SQLite" (datatype3.html) and the behaviour
of SQLite 3.40's ``sqlite3AtoF`` / ``sqlite3Atoi64`` / ``applyAffinity`` /
``sqlite3VdbeMemCast``; the tests check each one against the stdlib ``sqlite3``.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Callable

TEXT, NUMERIC, INTEGER, REAL, BLOB = "TEXT", "NUMERIC", "INTEGER", "REAL", "BLOB"

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
_TWO63 = 1 << 63
_TWO51 = 1 << 51

# sqlite3Isspace: space, \t, \n, \v, \f, \r (no Unicode spaces).
_SQL_SPACE = " \t\n\v\f\r"

# The longest numeric prefix sqlite3AtoF accepts: sign, digits, optional
# fraction, optional exponent (only when it has digits). ASCII digits only.
_NUMBER_PREFIX = re.compile(
    r"[ \t\n\v\f\r]*([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE][+-]?[0-9]+)?")


# ---------------------------------------------------------------------------
# Affinity


def affinity_of(decltype: str | None) -> str:
    """The affinity of a column declared with type ``decltype`` (datatype3 3.1).

    Scans the name as ``sqlite3AffinityType`` does, so precedence matches SQLite
    exactly: "INT" anywhere wins at once; "CHAR"/"CLOB"/"TEXT" give TEXT; "BLOB"
    gives BLOB unless TEXT was already chosen; "REAL"/"FLOA"/"DOUB" give REAL if
    nothing else matched; otherwise NUMERIC. An absent or empty type gives BLOB.
    O(len(decltype)).
    """
    if not decltype:
        return BLOB
    name = decltype.lower()
    aff = NUMERIC
    for i in range(3, len(name) + 1):
        if name[i - 3:i] == "int":
            return INTEGER
        if i < 4:
            continue
        last4 = name[i - 4:i]
        if last4 in ("char", "clob", "text"):
            aff = TEXT
        elif last4 == "blob" and aff in (NUMERIC, REAL):
            aff = BLOB
        elif last4 in ("real", "floa", "doub") and aff == NUMERIC:
            aff = REAL
    return aff


_ATOF_SIG_LIMIT = (INT64_MAX - 9) // 10


def sqlite_atof(literal: str) -> float:
    """The REAL value of a numeric literal (sign, digits, '.', exponent) exactly
    as SQLite 3.40's ``sqlite3AtoF`` computes it: at most ~18 significant digits
    go into an int64 significand ``s``, and ``s`` is scaled by a power of ten
    held in an 80-bit long double, then rounded to double. That is not always
    the correctly rounded value Python's float() gives, so we emulate it; when
    no scaling is needed the result is exact and float() is used."""
    sign = -1 if literal[:1] == "-" else 1
    body = literal.lstrip("+-")
    mantissa, _, exp_text = body.replace("E", "e").partition("e")
    whole, _, frac = mantissa.partition(".")
    s, d = 0, 0
    for i, ch in enumerate(whole):
        s = s * 10 + (ord(ch) - 48)
        if s >= _ATOF_SIG_LIMIT:
            d = len(whole) - i - 1  # remaining digits are dropped
            frac = ""
            break
    for ch in frac:
        if s >= _ATOF_SIG_LIMIT:
            break
        s = s * 10 + (ord(ch) - 48)
        d -= 1
    e = int(exp_text) if exp_text else 0
    e = max(-10000, min(10000, e)) + d
    if s == 0:
        return -0.0 if sign < 0 else 0.0
    esign = 1 if e >= 0 else -1
    e = abs(e)
    while e > 0:
        if esign > 0:
            if s >= INT64_MAX // 10:
                break
            s *= 10
        else:
            if s % 10:
                break
            s //= 10
        e -= 1
    s *= sign
    if e == 0:
        return float(s)
    if _LD is None:  # pragma: no cover - numpy is a project dependency
        return float(literal)
    ls = _LD(s)
    scale = _LD(1.0)
    if e > 307:
        if e >= 342:
            return 0.0 * s if esign < 0 else math.copysign(math.inf, s)
        while e % 308:
            scale *= _LD(10.0)
            e -= 1
        if esign < 0:
            return float(float(ls / scale) / 1.0e308)
        return float(float(ls * scale) * 1.0e308)
    while e % 22:
        scale *= _LD(10.0)
        e -= 1
    while e > 0:
        scale *= _LD(1.0e22)
        e -= 22
    return float(ls / scale if esign < 0 else ls * scale)


def _integer_affinity(r: float):
    """``sqlite3VdbeIntegerAffinity``: an integral REAL strictly inside int64 becomes int."""
    if r.is_integer() and -_TWO63 < r < _TWO63:
        return int(r)
    return r


def _text_as_number(s: str):
    """The number a TEXT value is, if the whole text (spaces aside) is a numeric
    literal, else None. Integer literals out of int64 range become REAL; a real
    literal with an integral value inside int64 becomes INTEGER (NUMERIC affinity,
    datatype3 3.0 "'3.0e+5' is stored as the integer 300000")."""
    m = _NUMBER_PREFIX.match(s)
    sign, whole, frac = m.group(1), m.group(2), m.group(3)
    if not whole and not frac:
        return None
    if m.end() != len(s) and s[m.end():].strip(_SQL_SPACE):
        return None
    literal = s[m.start(1):m.end()]
    if frac is None and m.end(2) == m.end():
        value = int(literal)
        if INT64_MIN <= value <= INT64_MAX:
            return value
    return _integer_affinity(sqlite_atof(literal))


def apply_affinity(value, affinity: str):
    """``value`` converted as when stored in a column of ``affinity`` (datatype3 3.4).

    TEXT renders numbers as text. NUMERIC and INTEGER turn well-formed numeric
    text (surrounding spaces allowed, no hex) into INTEGER or REAL and integral
    REALs into INTEGER. REAL does the same and then forces a REAL (and, as the
    record format stores integral reals as integers, -0.0 comes back as 0.0).
    BLOBs and NULLs are never converted. O(len(text)).
    """
    t = type(value)
    if affinity == BLOB or value is None or t is bytes:
        return value
    if affinity == TEXT:
        if t is str:
            return value
        return to_text(value)
    if t is str:
        number = _text_as_number(value)
        if number is None:
            return value
        value, t = number, type(number)
    if affinity == REAL:
        return float(value) if value != 0 else 0.0
    if t is float:
        return _integer_affinity(value)
    return value


def typeof(value) -> str:
    """SQLite's ``typeof()``: 'null', 'integer', 'real', 'text' or 'blob'. O(1)."""
    if value is None:
        return "null"
    t = type(value)
    if t is int or t is bool:
        return "integer"
    if t is float:
        return "real"
    if t is str:
        return "text"
    if t is bytes or t is bytearray or t is memoryview:
        return "blob"
    raise TypeError(f"not an SQLite value: {value!r}")


# ---------------------------------------------------------------------------
# Conversions (CAST and implicit conversions)


try:  # SQLite formats REALs with x87 80-bit long doubles; numpy exposes that type.
    import numpy as _np
    _LD = _np.longdouble if _np.finfo(_np.longdouble).nmant >= 63 else None
except ImportError:  # pragma: no cover - numpy is a project dependency
    _LD = None

_ROUNDERS = (5.0e-01, 5.0e-02, 5.0e-03, 5.0e-04, 5.0e-05, 5.0e-06, 5.0e-07, 5.0e-08,
             5.0e-09, 5.0e-10)


def format_real(value: float, conversion: str, precision: int = 6, *,
                alternate: bool = False, altform2: bool = False, sign: str = "") -> str:
    """A REAL rendered exactly as SQLite 3.40's printf renders ``%f``/``%e``/``%g``
    (``conversion`` 'f', 'e', 'E', 'g' or 'G'), without width padding.

    Reproduces ``sqlite3_str_vappendf``: the value is normalised into [1, 10) in
    80-bit long double, rounded by adding 0.5*10**-precision, and digits are
    peeled off with at most 16 significant digits (26 with the ``!`` flag,
    ``altform2``), later ones printed as '0'. So it agrees with C's printf except
    on exact/near ties and beyond 16 digits, where SQLite's quirks are kept.
    ``sign`` is printed for non-negative values ('+' or ' ' flags). O(precision).
    """
    value = float(value)
    upper = conversion in "EG"
    xtype = conversion.lower()
    if value != value:
        return "NaN"
    prefix = sign
    if value < 0.0:
        value = -value
        prefix = "-"
    if xtype == "g" and precision > 0:
        precision -= 1
    idx = precision & 0xFFF
    rounder = _ROUNDERS[idx % 10]
    while idx >= 10:
        rounder *= 1.0e-10
        idx -= 10
    ld = _LD if _LD is not None else float
    real = ld(value)
    if xtype == "f":
        ex = math.frexp(value)[1] - 1 if value != 0.0 else -1023
        if value == math.inf:
            ex = 1024
        if precision + int(ex / 3) < 15:
            rounder = float(rounder + real * ld(3e-16))
        real = real + ld(rounder)
    exp = 0
    if real > 0.0:
        scale = ld(1.0)
        while real >= ld(1e100) * scale and exp <= 350:
            scale *= ld(1e100)
            exp += 100
        while real >= ld(1e10) * scale and exp <= 350:
            scale *= ld(1e10)
            exp += 10
        while real >= ld(10.0) * scale and exp <= 350:
            scale *= ld(10.0)
            exp += 1
        real = real / scale
        while real < ld(1e-8):
            real = real * ld(1.0e8)
            exp -= 8
        while real < ld(1.0):
            real = real * ld(10.0)
            exp -= 1
        if exp > 350:
            return prefix + "Inf"
    if xtype != "f":
        real = real + ld(rounder)
        if real >= ld(10.0):
            real = real * ld(0.1)
            exp += 1
    if xtype == "g":
        rtz = not alternate
        if exp < -4 or exp > precision:
            xtype = "e"
        else:
            precision -= exp
            xtype = "f"
    else:
        rtz = altform2
    e2 = 0 if xtype == "e" else exp
    significant = 16 + 10 * altform2
    flag_dp = precision > 0 or alternate or altform2
    out = [prefix]
    append = out.append

    def digit():
        nonlocal real, significant
        if significant <= 0:
            return "0"
        significant -= 1
        d = int(real)
        real = (real - ld(d)) * ld(10.0)
        return chr(48 + d)

    if e2 < 0:
        append("0")
    else:
        for _ in range(e2 + 1):
            append(digit())
    if flag_dp:
        append(".")
    e2 += 1
    while e2 < 0:
        append("0")
        precision -= 1
        e2 += 1
    for _ in range(precision):
        append(digit())
    text = "".join(out)
    if rtz and flag_dp:
        text = text.rstrip("0")
        if text.endswith("."):
            text = text + "0" if altform2 else text[:-1]
    if xtype == "e":
        text += ("E" if upper else "e") + ("-" if exp < 0 else "+") + "%02d" % abs(exp)
    return text


def _real_to_text(r: float) -> str:
    """``"%!.15g"`` as SQLite renders a REAL as TEXT: 15 significant digits, always
    a decimal point ('1.0', '1.0e+20'), 'Inf'/'-Inf', no sign on -0.0.

    Fast path: C's correctly rounded ``%.15g`` agrees with SQLite except near a
    rounding tie at the 16th digit; those (rare) cases take ``format_real``.
    """
    if r == 0.0:
        return "0.0"
    if r == math.inf:
        return "Inf"
    if r == -math.inf:
        return "-Inf"
    tail = ("%.19e" % r)[16 + (r < 0):20 + (r < 0)]  # digits 16-19
    # SQLite's long double scaling drifts by up to ~1e-17 relative (more for
    # huge or tiny exponents), so near-ties and extreme magnitudes take the
    # exact emulation.
    if _LD is not None and ("4700" <= tail <= "5300" or not 1e-200 < abs(r) < 1e200):
        return format_real(r, "g", 15, altform2=True)
    s = "%.15g" % r
    if "e" in s:
        mantissa, exponent = s.split("e")
        if "." not in mantissa:
            s = mantissa + ".0e" + exponent
    elif "." not in s:
        s += ".0"
    return s


def to_text(value) -> str | None:
    """How SQLite renders ``value`` as TEXT (CAST AS TEXT, ``||``, text functions).

    Integers in decimal, REALs with ``%!.15g``, BLOBs decoded as UTF-8 (invalid
    bytes become U+FFFD, since Python text cannot hold them). O(size).
    """
    t = type(value)
    if t is str or value is None:
        return value
    if t is int:
        return str(value)
    if t is float:
        return _real_to_text(value)
    if t is bytes:
        return value.decode("utf-8", "replace")
    if t is bool:
        return str(int(value))
    return to_text(bytes(value))


def _atoi64(s: str) -> int:
    """``sqlite3Atoi64`` on a prefix: leading spaces, sign, digits; saturates."""
    m = _NUMBER_PREFIX.match(s)
    digits = m.group(2)
    if not digits:
        return 0
    value = int(digits)
    if m.group(1) == "-":
        value = -value
    if value > INT64_MAX:
        return INT64_MAX
    if value < INT64_MIN:
        return INT64_MIN
    return value


def _atof(s: str) -> float:
    """``sqlite3AtoF`` on a prefix: the longest numeric prefix as a REAL, else 0.0."""
    m = _NUMBER_PREFIX.match(s)
    if not m.group(2) and not m.group(3):
        return -0.0 if m.group(1) == "-" else 0.0  # sign times zero digits
    return sqlite_atof(s[m.start(1):m.end()])


def real_to_int(r: float) -> int:
    """A REAL truncated toward zero, saturating at the int64 bounds (NaN -> 0)."""
    if r != r:
        return 0
    if r <= -9.223372036854775808e18:
        return INT64_MIN
    if r >= 9.223372036854775808e18:
        return INT64_MAX
    return int(r)


def to_integer(value) -> int | None:
    """CAST(value AS INTEGER): text by integer prefix ('12abc' -> 12, '1e3' -> 1),
    reals truncated toward zero with int64 saturation, blobs as their text."""
    t = type(value)
    if t is int or value is None:
        return value
    if t is float:
        return real_to_int(value)
    if t is str:
        return _atoi64(value)
    return _atoi64(to_text(value))


def to_real(value) -> float | None:
    """CAST(value AS REAL): text by the longest numeric prefix (else 0.0)."""
    t = type(value)
    if t is float or value is None:
        return value
    if t is int:
        return float(value)
    if t is str:
        return _atof(value)
    return _atof(to_text(value))


def _text_to_numeric(s: str):
    """``sqlite3VdbeMemNumerify`` on text: an integer prefix that fits stays INTEGER;
    otherwise the REAL prefix, made INTEGER when exactly integral within 2**51."""
    m = _NUMBER_PREFIX.match(s)
    whole, frac = m.group(2), m.group(3)
    if not whole and not frac:
        return 0
    literal = s[m.start(1):m.end()]
    if frac is None and m.end(2) == m.end():
        value = int(literal)
        if INT64_MIN <= value <= INT64_MAX:
            return value
    r = sqlite_atof(literal)
    if r == 0.0:
        return 0
    if r.is_integer() and -_TWO51 <= r < _TWO51:
        return int(r)
    return r


def to_numeric(value) -> int | float | None:
    """CAST(value AS NUMERIC): numbers unchanged, text/blob by numeric prefix."""
    t = type(value)
    if t is int or t is float or value is None:
        return value
    if t is str:
        return _text_to_numeric(value)
    return _text_to_numeric(to_text(value))


def to_blob(value) -> bytes | None:
    """CAST(value AS BLOB): text as UTF-8 bytes, numbers as the bytes of their text."""
    t = type(value)
    if t is bytes or value is None:
        return value
    if t is str:
        return value.encode("utf-8")
    if t is int or t is float or t is bool:
        return to_text(value).encode("ascii")
    return bytes(value)


def cast(value, type_name: str):
    """CAST(value AS type_name); the type name maps to an affinity as for a column,
    except that an empty name means NUMERIC (as in SQLite's CAST)."""
    affinity = affinity_of(type_name) if type_name else NUMERIC
    if affinity == TEXT:
        return to_text(value)
    if affinity == INTEGER:
        return to_integer(value)
    if affinity == REAL:
        return to_real(value)
    if affinity == BLOB:
        return to_blob(value)
    return to_numeric(value)


def _text_for_arith(s: str):
    """The number a text operand of an arithmetic operator is (``numericType``):
    a prefix with a decimal point or exponent is REAL; an integer prefix is
    INTEGER when it fits int64, else REAL; no numeric prefix is 0."""
    m = _NUMBER_PREFIX.match(s)
    whole, frac = m.group(2), m.group(3)
    if not whole and not frac:
        return 0
    literal = s[m.start(1):m.end()]
    if frac is None and m.end(2) == m.end():
        value = int(literal)
        if INT64_MIN <= value <= INT64_MAX:
            return value
    return sqlite_atof(literal)


def numeric_for_arith(value):
    """How an operand of + - * / % converts: numbers unchanged, text by prefix
    ('3abc' -> 3, '' -> 0, '1.5x' -> 1.5, '1.0' -> 1.0), blobs via their text,
    None stays None. O(len(text))."""
    t = type(value)
    if t is int or t is float or value is None:
        return value
    if t is str:
        return _text_for_arith(value)
    if t is bool:
        return int(value)
    return _text_for_arith(to_text(value))


def is_true(value) -> bool | None:
    """Truth of a value in WHERE/CASE/AND/OR/NOT: None for NULL, otherwise
    whether its REAL value (``sqlite3VdbeRealValue``) is non-zero."""
    if value is None:
        return None
    t = type(value)
    if t is int or t is float:
        return value != 0
    return to_real(value) != 0.0


# ---------------------------------------------------------------------------
# Collations and ordering

# ASCII-only case folding, as SQLite's NOCASE (sqlite3UpperToLower).
_ASCII_FOLD = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def _fold_nocase(s: str) -> str:
    return s.lower() if s.isascii() else s.translate(_ASCII_FOLD)


def _rtrim(s: str) -> str:
    return s.rstrip(" ")


class CollationError(LookupError):
    """An unknown collation was named; ``message`` is SQLite's text."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Collations:
    """A registry of collating sequences by case-insensitive name.

    Built-ins BINARY, NOCASE and RTRIM are implemented as text transforms (so a
    sort key is a plain string); a user collation is a ``cmp(a, b) -> int`` and
    its keys go through ``functools.cmp_to_key``.
    """

    _BUILTIN_TRANSFORMS = {"binary": None, "nocase": _fold_nocase, "rtrim": _rtrim}

    def __init__(self):
        self._user: dict[str, Callable[[str, str], int]] = {}
        self._user_keys: dict[str, Callable] = {}

    def register(self, name: str, fn: Callable[[str, str], int] | None) -> None:
        """Register (or with ``fn=None`` remove) the user collation ``name``."""
        lname = name.lower()
        if fn is None:
            self._user.pop(lname, None)
            self._user_keys.pop(lname, None)
            return
        if not callable(fn):
            raise TypeError("parameter must be callable")
        self._user[lname] = fn
        self._user_keys[lname] = functools.cmp_to_key(fn)

    def exists(self, name: str) -> bool:
        """Whether ``name`` names a built-in or registered collation."""
        lname = name.lower()
        return lname in self._user or lname in self._BUILTIN_TRANSFORMS

    def text_key(self, name: str) -> Callable | None:
        """A function from text to an orderable key for collation ``name``
        (None for BINARY, where the text itself is the key). User collations
        shadow built-ins of the same name, as in ``sqlite3_create_collation``."""
        lname = name.lower()
        user = self._user_keys.get(lname)
        if user is not None:
            return user
        try:
            return self._BUILTIN_TRANSFORMS[lname]
        except KeyError:
            raise CollationError(f"no such collation sequence: {name}") from None

    def compare_text(self, name: str, a: str, b: str) -> int:
        """-1/0/1 comparing two texts under collation ``name``."""
        lname = name.lower()
        user = self._user.get(lname)
        if user is not None:
            r = user(a, b)
            return (r > 0) - (r < 0)
        transform = self.text_key(name)
        if transform is not None:
            a, b = transform(a), transform(b)
        return (a > b) - (a < b)


default_collations = Collations()


def register_collation(name: str, fn: Callable[[str, str], int] | None) -> None:
    """Register (or remove, with None) a user collation in the default registry."""
    default_collations.register(name, fn)


# Storage-class ranks in SQLite's ordering: NULL < numbers < TEXT < BLOB.
_RANK = {type(None): 0, int: 1, bool: 1, float: 1, str: 2, bytes: 3}


def register_text_type(cls) -> None:
    """Let a ``str`` subclass (the JSON subtype's JsonText) order and compare as TEXT."""
    _RANK[cls] = 2


def sort_key(value, collation: str = "BINARY", collations: Collations | None = None):
    """A Python-orderable key consistent with SQLite's ordering of values:
    NULL < INTEGER/REAL (numerically, exactly: Python compares int and float
    exactly) < TEXT (by collation) < BLOB (memcmp). Python's str order is code
    point order, which equals UTF-8 byte order (memcmp). O(1) for BINARY numbers,
    O(len) for text under NOCASE/RTRIM. For many keys under one collation, use
    ``sort_key_function`` (resolves the collation once)."""
    t = type(value)
    if t is str:
        if collation == "BINARY":
            return (2, value)
        transform = (collations or default_collations).text_key(collation)
        return (2, value if transform is None else transform(value))
    return (_RANK[t], value) if value is not None else (0, 0)


def sort_key_function(collation: str = "BINARY", collations: Collations | None = None):
    """A one-argument key function for ``sorted``/indexes under ``collation``,
    with the collation resolved once (the hot-path form of ``sort_key``)."""
    transform = (collations or default_collations).text_key(collation)
    rank = _RANK

    if transform is None:
        def key(value):
            if value is None:
                return (0, 0)
            return (rank[type(value)], value)
    else:
        def key(value):
            if value is None:
                return (0, 0)
            if type(value) is str:
                return (2, transform(value))
            return (rank[type(value)], value)
    return key


def compare(a, b, collation: str = "BINARY", collations: Collations | None = None) -> int:
    """-1, 0 or 1 ordering ``a`` and ``b`` as SQLite does (see ``sort_key``).
    No affinity is applied: callers pass already-converted operands."""
    ra = 0 if a is None else _RANK[type(a)]
    rb = 0 if b is None else _RANK[type(b)]
    if ra != rb:
        return -1 if ra < rb else 1
    if ra == 0:
        return 0
    if ra == 2 and collation != "BINARY" and collation.upper() != "BINARY":
        return (collations or default_collations).compare_text(collation, a, b)
    return (a > b) - (a < b)


def numeric_value(value):
    """``sqlite3_value_numeric_type``: the number a value is, or None when it is
    not numeric. Numbers are themselves; text that is entirely a numeric literal
    (spaces allowed) becomes INTEGER (integer syntax, in range) or REAL (without
    the integral-REAL-to-INTEGER step); anything else (other text, BLOB, NULL)
    gives None. Used by the math functions, which return NULL on non-numbers."""
    t = type(value)
    if t is int or t is float:
        return value
    if t is not str:
        return None
    m = _NUMBER_PREFIX.match(value)
    whole, frac = m.group(2), m.group(3)
    if not whole and not frac:
        return None
    if m.end() != len(value) and value[m.end():].strip(_SQL_SPACE):
        return None
    literal = value[m.start(1):m.end()]
    if frac is None and m.end(2) == m.end():
        number = int(literal)
        if INT64_MIN <= number <= INT64_MAX:
            return number
    return sqlite_atof(literal)
