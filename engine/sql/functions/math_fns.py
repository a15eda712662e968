"""SQLite's built-in math functions (lang_mathfunc.html, func.c, SQLite 3.40
compiled with SQLITE_ENABLE_MATH_FUNCTIONS, as the stdlib sqlite3 is).

Arguments must be numeric (``sqlite3_value_numeric_type``: numbers, or text
that is wholly a number); anything else gives NULL. Results are REAL; a NaN
result (domain error) is NULL; overflow gives +/-Inf as C's libm does.
"""

from __future__ import annotations

import math

from engine.sql.functions.registry import scalar
from engine.values import numeric_value, to_real

_INF = math.inf
_LN10 = 2.302585092994045684017991454684364208
_LN2 = 0.693147180559945309417232121458176568


def _real_arg(x):
    number = numeric_value(x)
    return None if number is None else float(number)


def _checked(r: float):
    return None if r != r else r


def _math1(name: str, fn, *, overflow=None):
    """Register a one-argument REAL function; ``overflow(x)`` gives the libm result
    when Python raises OverflowError."""

    def sql_fn(x):
        r = _real_arg(x)
        if r is None:
            return None
        try:
            return _checked(fn(r))
        except ValueError:  # domain error: libm returns NaN
            return None
        except OverflowError:
            return overflow(r) if overflow else _INF

    sql_fn.__name__ = name
    sql_fn.__doc__ = f"{name}(X) as C's {fn.__name__}(), NULL on a domain error."
    scalar(name, 1)(sql_fn)
    return sql_fn


def _copysign_inf(r: float) -> float:
    return math.copysign(_INF, r)


def _atanh(r: float) -> float:
    if r == 1.0 or r == -1.0:
        return math.copysign(_INF, r)
    return math.atanh(r)


for _name, _fn, _ovf in [
        ("acos", math.acos, None), ("asin", math.asin, None), ("atan", math.atan, None),
        ("acosh", math.acosh, None), ("asinh", math.asinh, None), ("atanh", _atanh, None),
        ("cos", math.cos, None), ("sin", math.sin, None), ("tan", math.tan, None),
        ("cosh", math.cosh, None), ("sinh", math.sinh, _copysign_inf), ("tanh", math.tanh, None),
        ("exp", math.exp, None), ("sqrt", math.sqrt, None),
        ("degrees", math.degrees, _copysign_inf), ("radians", math.radians, None)]:
    _math1(_name, _fn, overflow=_ovf)


def _integral(name: str, fn):
    """ceil/floor/trunc: an INTEGER argument is returned as INTEGER, a REAL as REAL."""

    def sql_fn(x):
        number = numeric_value(x)
        if number is None:
            return None
        if type(number) is int:
            return number
        if number != number or number in (_INF, -_INF):
            return number
        return float(fn(number))

    sql_fn.__name__ = name
    sql_fn.__doc__ = f"{name}(X): INTEGER unchanged, REAL through C's {name}()."
    scalar(name, 1)(sql_fn)


_integral("ceil", math.ceil)
_integral("ceiling", math.ceil)
_integral("floor", math.floor)
_integral("trunc", math.trunc)


def _log_positive(x):
    r = _real_arg(x)
    return None if r is None or r <= 0.0 else r


@scalar("ln", 1)
def ln(x):
    """Natural logarithm; NULL for x <= 0."""
    r = _log_positive(x)
    return None if r is None else (math.log(r) if r != _INF else _INF)


@scalar("log", 1)
def log1(x):
    """Base-10 logarithm as SQLite computes it: ln(x) / M_LN10; NULL for x <= 0."""
    r = _log_positive(x)
    return None if r is None else (math.log(r) / _LN10 if r != _INF else _INF)


scalar("log10", 1)(log1)


@scalar("log2", 1)
def log2(x):
    """Base-2 logarithm as SQLite computes it: ln(x) / M_LN2; NULL for x <= 0."""
    r = _log_positive(x)
    return None if r is None else (math.log(r) / _LN2 if r != _INF else _INF)


@scalar("log", 2)
def log_base(base, x):
    """log(B, X) = ln(X) / ln(B); NULL when ln(B) <= 0 or X <= 0."""
    b = _log_positive(base)
    if b is None:
        return None
    lb = math.log(b) if b != _INF else _INF
    if lb <= 0.0:
        return None
    # func.c re-checks the type of the *first* argument here, so X itself is
    # only converted with sqlite3_value_double (text by prefix, NULL as 0.0).
    r = to_real(x) if x is not None else 0.0
    if r <= 0.0:
        return None
    lx = math.log(r) if r != _INF else _INF
    return _checked(lx / lb)


def _math2(name: str, fn):
    """Register a two-argument REAL function (atan2, pow, mod)."""

    def sql_fn(x, y):
        a, b = _real_arg(x), _real_arg(y)
        if a is None or b is None:
            return None
        try:
            return _checked(fn(a, b))
        except ValueError:
            return None
        except (OverflowError, ZeroDivisionError):
            return _pow_overflow(a, b)

    sql_fn.__name__ = name
    sql_fn.__doc__ = f"{name}(X, Y) as C's libm, NULL on a domain error."
    scalar(name, 2)(sql_fn)


def _pow_overflow(a: float, b: float) -> float:
    """pow() overflow/pole results as C's pow(): +/-Inf (negative only for a
    negative base, or -0.0 base, with an odd integer exponent)."""
    odd = b.is_integer() and int(b) % 2 == 1
    negative = math.copysign(1.0, a) < 0
    return -_INF if (negative and odd) else _INF


def _c_pow(a: float, b: float) -> float:
    """C's pow(): pow(+/-0, negative) is a pole (+/-Inf), not a domain error."""
    if a == 0.0 and b < 0.0:
        return _pow_overflow(a, b)
    return math.pow(a, b)


_math2("atan2", math.atan2)
_math2("mod", math.fmod)
_math2("pow", _c_pow)
_math2("power", _c_pow)
_math2("mod", math.fmod)


@scalar("pi", 0)
def pi():
    """The constant pi."""
    return math.pi
