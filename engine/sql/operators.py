"""SQLite's operators as pure functions over SQLite values.

Arithmetic follows the VDBE opcodes OP_Add/OP_Subtract/OP_Multiply/OP_Divide/
OP_Remainder (sqlite3 vdbe.c): operands convert with ``numeric_for_arith``;
two INTEGERs give an INTEGER unless int64 overflows (then REAL); division or
remainder by zero and NaN results give NULL. Comparisons take operands whose
comparison affinity ("Datatypes In SQLite" 4.2) was already applied.
"""

from __future__ import annotations

import functools
import re

from engine.values import (
    INTEGER, NUMERIC, REAL, TEXT, INT64_MAX, INT64_MIN, apply_affinity, compare,
    is_true, numeric_for_arith, to_blob, to_integer, to_text)


class OperatorError(Exception):
    """An operator rejected its operands; ``message`` is SQLite's error text."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --- arithmetic -------------------------------------------------------------

def _real_result(r: float):
    """A REAL result; NaN (e.g. inf - inf) is NULL in SQLite."""
    return None if r != r else r


def add(a, b):
    """``a + b``. O(1)."""
    x = numeric_for_arith(a)
    y = numeric_for_arith(b)
    if x is None or y is None:
        return None
    if type(x) is int and type(y) is int:
        r = x + y
        if INT64_MIN <= r <= INT64_MAX:
            return r
    return _real_result(float(x) + float(y))


def sub(a, b):
    """``a - b``. O(1)."""
    x = numeric_for_arith(a)
    y = numeric_for_arith(b)
    if x is None or y is None:
        return None
    if type(x) is int and type(y) is int:
        r = x - y
        if INT64_MIN <= r <= INT64_MAX:
            return r
    return _real_result(float(x) - float(y))


def mul(a, b):
    """``a * b``. O(1)."""
    x = numeric_for_arith(a)
    y = numeric_for_arith(b)
    if x is None or y is None:
        return None
    if type(x) is int and type(y) is int:
        r = x * y
        if INT64_MIN <= r <= INT64_MAX:
            return r
    return _real_result(float(x) * float(y))


def div(a, b):
    """``a / b``: INTEGER division truncates toward zero; by zero is NULL;
    INT64_MIN / -1 overflows into REAL. O(1)."""
    x = numeric_for_arith(a)
    y = numeric_for_arith(b)
    if x is None or y is None:
        return None
    if type(x) is int and type(y) is int:
        if y == 0:
            return None
        if not (x == INT64_MIN and y == -1):
            q = abs(x) // abs(y)
            return q if (x < 0) == (y < 0) else -q
    fy = float(y)
    if fy == 0.0:
        return None
    return _real_result(float(x) / fy)


def mod(a, b):
    """``a % b``: C remainder (sign of the dividend) on INTEGERs. If either side
    is REAL, SQLite converts both original operands to INTEGER (text by integer
    prefix: '1e3' % 7 is 1.0) and returns the remainder as a REAL. Zero divisor
    is NULL. O(1)."""
    x = numeric_for_arith(a)
    y = numeric_for_arith(b)
    if x is None or y is None:
        return None
    both_int = type(x) is int and type(y) is int
    if not both_int:
        x, y = to_integer(a), to_integer(b)
    if y == 0:
        return None
    if y == -1:
        y = 1
    r = abs(x) % abs(y)
    if x < 0:
        r = -r
    return r if both_int else float(r)


def neg(a):
    """Unary minus on a non-literal: SQLite computes ``0 - a``. O(1)."""
    return sub(0, a)


def pos(a):
    """Unary plus: the operand unchanged (no conversion)."""
    return a


# --- bitwise ----------------------------------------------------------------

def _wrap64(v: int) -> int:
    """Two's-complement wrap of ``v`` into int64."""
    v &= 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v >= (1 << 63) else v


def bitand(a, b):
    """``a & b`` on the operands' INTEGER values."""
    if a is None or b is None:
        return None
    return to_integer(a) & to_integer(b)


def bitor(a, b):
    """``a | b`` on the operands' INTEGER values."""
    if a is None or b is None:
        return None
    return to_integer(a) | to_integer(b)


def bitnot(a):
    """``~a`` on the operand's INTEGER value."""
    if a is None:
        return None
    return ~to_integer(a)


def _shift(value: int, amount: int, left: bool) -> int:
    """OP_ShiftLeft/OP_ShiftRight: a negative amount shifts the other way;
    64 or more bits gives 0 (or -1 for a right shift of a negative)."""
    if amount < 0:
        left = not left
        amount = -amount if amount > -64 else 64
    if amount >= 64:
        return 0 if (value >= 0 or left) else -1
    if left:
        return _wrap64(value << amount)
    return value >> amount


def lshift(a, b):
    """``a << b``."""
    if a is None or b is None:
        return None
    return _shift(to_integer(a), to_integer(b), True)


def rshift(a, b):
    """``a >> b`` (arithmetic shift)."""
    if a is None or b is None:
        return None
    return _shift(to_integer(a), to_integer(b), False)


# --- text -------------------------------------------------------------------

def concat(a, b):
    """``a || b``: NULL if either is NULL, else the concatenated TEXT renderings."""
    if a is None or b is None:
        return None
    if type(a) is bytes or type(b) is bytes:  # join bytes first: halves of a UTF-8 char
        return (to_blob(a) + to_blob(b)).decode("utf-8", "replace")
    return to_text(a) + to_text(b)


# --- comparison -------------------------------------------------------------

def comparison_affinity(left: str | None, right: str | None) -> str | None:
    """The affinity applied to both operands of a comparison (datatype3 4.2,
    ``sqlite3CompareAffinity``). Arguments are the operands' affinities: a
    column's (TEXT, NUMERIC, INTEGER, REAL, BLOB) or None for an expression
    without affinity. Returns NUMERIC, TEXT, or None (no conversion)."""
    numeric = (NUMERIC, INTEGER, REAL)
    if left is not None and right is not None:
        return NUMERIC if (left in numeric or right in numeric) else None
    aff = left if left is not None else right
    if aff in numeric:
        return NUMERIC
    if aff == TEXT:
        return TEXT
    return None


def apply_comparison_affinity(value, affinity: str | None):
    """An operand converted for comparison: NUMERIC turns well-formed numeric
    text into a number; TEXT renders numbers as text; None changes nothing."""
    if affinity is None or value is None:
        return value
    if affinity == TEXT:
        t = type(value)
        return to_text(value) if (t is int or t is float) else value
    if type(value) is str:
        return apply_affinity(value, NUMERIC)
    return value


def eq(a, b, collation="BINARY"):
    """``a = b`` -> 1, 0 or None (NULL operand)."""
    if a is None or b is None:
        return None
    return 1 if compare(a, b, collation) == 0 else 0


def ne(a, b, collation="BINARY"):
    """``a <> b`` -> 1, 0 or None."""
    if a is None or b is None:
        return None
    return 1 if compare(a, b, collation) != 0 else 0


def lt(a, b, collation="BINARY"):
    """``a < b`` -> 1, 0 or None."""
    if a is None or b is None:
        return None
    return 1 if compare(a, b, collation) < 0 else 0


def le(a, b, collation="BINARY"):
    """``a <= b`` -> 1, 0 or None."""
    if a is None or b is None:
        return None
    return 1 if compare(a, b, collation) <= 0 else 0


def gt(a, b, collation="BINARY"):
    """``a > b`` -> 1, 0 or None."""
    if a is None or b is None:
        return None
    return 1 if compare(a, b, collation) > 0 else 0


def ge(a, b, collation="BINARY"):
    """``a >= b`` -> 1, 0 or None."""
    if a is None or b is None:
        return None
    return 1 if compare(a, b, collation) >= 0 else 0


def is_(a, b, collation="BINARY"):
    """``a IS b``: NULL-safe equality, always 1 or 0."""
    if a is None or b is None:
        return 1 if a is None and b is None else 0
    return 1 if compare(a, b, collation) == 0 else 0


def is_not(a, b, collation="BINARY"):
    """``a IS NOT b``: NULL-safe inequality, always 1 or 0."""
    return 1 - is_(a, b, collation)


# --- boolean (three-valued) -------------------------------------------------

def and_(a, b):
    """``a AND b``: 0 if either is false, NULL if either is NULL, else 1."""
    x, y = is_true(a), is_true(b)
    if x is False or y is False:
        return 0
    if x is None or y is None:
        return None
    return 1


def or_(a, b):
    """``a OR b``: 1 if either is true, NULL if either is NULL, else 0."""
    x, y = is_true(a), is_true(b)
    if x or y:
        return 1
    if x is None or y is None:
        return None
    return 0


def not_(a):
    """``NOT a``: NULL stays NULL."""
    x = is_true(a)
    if x is None:
        return None
    return 0 if x else 1


# --- LIKE and GLOB ----------------------------------------------------------

@functools.lru_cache(maxsize=256)
def _like_regex(pattern: str, escape: str | None):
    """Compile a LIKE pattern: '%' any run, '_' one character, ASCII-only case
    folding (re.ASCII | re.IGNORECASE). An escape equal to '%' or '_' disables
    that wildcard, as in ``likeFunc``; a trailing escape never matches."""
    parts = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == escape:
            if i >= n:
                return None
            parts.append(re.escape(pattern[i]))
            i += 1
        elif c == "%":
            parts.append(".*")
        elif c == "_":
            parts.append(".")
        else:
            parts.append(re.escape(c))
    return re.compile("".join(parts), re.ASCII | re.IGNORECASE | re.DOTALL)


def _glob_set(pattern: str, i: int):
    """Translate a GLOB '[...]' set starting after '[' at ``i``; returns
    (regex, next index) or (None, _) when the set is unterminated."""
    n = len(pattern)
    invert = False
    if i < n and pattern[i] == "^":
        invert = True
        i += 1
    members = []
    if i < n and pattern[i] == "]":
        members.append(re.escape("]"))
        i += 1
    prior = None
    while i < n and pattern[i] != "]":
        c = pattern[i]
        if c == "-" and prior is not None and i + 1 < n and pattern[i + 1] != "]":
            hi = pattern[i + 1]
            if prior <= hi:
                members.append(re.escape(prior) + "-" + re.escape(hi))
            prior = None
            i += 2
            continue
        members.append(re.escape(c))
        prior = c
        i += 1
    if i >= n:
        return None, i
    if not members:
        return ("." if invert else "(?!)"), i + 1
    return "[" + ("^" if invert else "") + "".join(members) + "]", i + 1


@functools.lru_cache(maxsize=256)
def _glob_regex(pattern: str):
    """Compile a GLOB pattern: '*', '?', '[...]' and '[^...]', case-sensitive."""
    parts = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            parts.append(".*")
        elif c == "?":
            parts.append(".")
        elif c == "[":
            piece, i = _glob_set(pattern, i)
            if piece is None:
                parts.append("(?!)")
                break
            parts.append(piece)
        else:
            parts.append(re.escape(c))
    return re.compile("".join(parts), re.DOTALL)


def like(pattern, value, escape=None, *, has_escape=False):
    """``value LIKE pattern [ESCAPE escape]`` -> 1, 0 or None.

    Pass ``has_escape=True`` when an ESCAPE clause was given (so a NULL escape
    yields NULL). This SQLite build does not match BLOBs (0). The cost is one
    regex match; patterns are compiled once and cached.
    """
    if type(pattern) is bytes or type(value) is bytes:  # checked before NULLs, as likeFunc
        return 0
    if pattern is None or value is None or (has_escape and escape is None):
        return None
    if escape is not None:
        escape = to_text(escape)
        if len(escape) != 1:
            raise OperatorError("ESCAPE expression must be a single character")
    regex = _like_regex(to_text(pattern), escape)
    if regex is None:
        return 0
    return 1 if regex.fullmatch(to_text(value)) else 0


def glob(pattern, value):
    """``value GLOB pattern`` -> 1, 0 or None (BLOBs never match)."""
    if type(pattern) is bytes or type(value) is bytes:
        return 0
    if pattern is None or value is None:
        return None
    return 1 if _glob_regex(to_text(pattern)).fullmatch(to_text(value)) else 0


# Convenience maps for the evaluator: SQL operator token -> function.
BINARY_ARITHMETIC = {"+": add, "-": sub, "*": mul, "/": div, "%": mod,
                     "&": bitand, "|": bitor, "<<": lshift, ">>": rshift, "||": concat}
COMPARISONS = {"=": eq, "==": eq, "<>": ne, "!=": ne, "<": lt, "<=": le, ">": gt, ">=": ge}

__all__ = [
    "OperatorError", "add", "sub", "mul", "div", "mod", "neg", "pos", "bitand", "bitor",
    "bitnot", "lshift", "rshift", "concat", "comparison_affinity",
    "apply_comparison_affinity", "eq", "ne", "lt", "le", "gt", "ge", "is_", "is_not",
    "and_", "or_", "not_", "like", "glob", "BINARY_ARITHMETIC", "COMPARISONS",
    "BLOB", "to_real",
]
