"""``printf(FORMAT, ...)`` and its alias ``format(FORMAT, ...)``.

A port of the SQL-function path of SQLite 3.40's ``sqlite3_str_vappendf``
(src/printf.c, the ``bArgList`` case): conversions ``%d %i %u %x %X %o %p %r
%f %e %E %g %G %s %z %q %Q %w %c %n %%``; flags ``- + space # ! 0 ,``; width and
precision as digits or ``*`` (taken from the arguments, a negative width meaning
left-justify). Arguments are converted as sqlite3_value_int64/_double/_text do;
a missing argument reads as 0, 0.0 or NULL. Widths and precisions count bytes
of UTF-8, except that the ``!`` flag makes string conversions count characters.
An unknown conversion (or SQLite's internal ``%T``/``%S``) ends the output
there; when nothing was output at all the result is NULL, as in SQLite.
Reals are rendered by ``engine.values.format_real`` (SQLite's digit loop).
"""

from __future__ import annotations

from engine.sql.functions.registry import SqlFunctionError, scalar
from engine.values import format_real, to_integer, to_real, to_text

_MAX_LENGTH = 1_000_000_000   # SQLITE_MAX_LENGTH: longer results are an error
_FLAGS = frozenset("-+ #!0,")
_U64 = 1 << 64
# conversion -> (base, signed, digit set, alternate-form prefix)
_INTEGER_CONVERSIONS = {
    "d": (10, True, "0123456789", ""), "i": (10, True, "0123456789", ""),
    "r": (10, True, "0123456789", ""), "u": (10, False, "0123456789", ""),
    "x": (16, False, "0123456789abcdef", "0x"), "X": (16, False, "0123456789ABCDEF", "0X"),
    "p": (16, False, "0123456789ABCDEF", "0x"), "o": (8, False, "01234567", "0"),
}
_ORDINAL_SUFFIX = ("th", "st", "nd", "rd")


class _Args:
    """The SQL arguments after the format, consumed left to right."""

    __slots__ = ("values", "pos")

    def __init__(self, values):
        self.values = values
        self.pos = 0

    def _next(self):
        if self.pos >= len(self.values):
            return None, False
        self.pos += 1
        return self.values[self.pos - 1], True

    def int64(self) -> int:
        value, present = self._next()
        return (to_integer(value) or 0) if present else 0

    def double(self) -> float:
        value, present = self._next()
        return (to_real(value) or 0.0) if present else 0.0

    def text(self) -> bytes | None:
        value, _present = self._next()
        text = to_text(value)
        if text is None:
            return None
        # sqlite3_value_text is a C string: it ends at the first NUL
        return text.encode("utf-8", "surrogatepass").split(b"\x00", 1)[0]


def _c_int(value: int) -> int:
    """``(int)`` of an int64 in C: the low 32 bits, signed."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


class _Spec:
    """One parsed conversion: flags, width, precision, conversion character."""

    __slots__ = ("left", "sign", "alternate", "altform2", "zeropad", "thousands",
                 "width", "precision", "conversion")

    def __init__(self):
        self.left = self.alternate = self.altform2 = self.zeropad = self.thousands = False
        self.sign = ""
        self.width = 0
        self.precision = -1
        self.conversion = ""


def _parse_spec(fmt: str, i: int, args: _Args) -> tuple[_Spec, int]:
    """Parse the conversion starting after a '%' at ``fmt[i]``; return it and the
    index after its conversion character ('' when the format ended early).
    Follows the flag loop of 3.40: flags, digits and '*' in any order until a
    width, a precision or another character ends it. O(length of the spec)."""
    spec = _Spec()
    n = len(fmt)
    while i < n:
        c = fmt[i]
        if c in _FLAGS:
            if c == "-":
                spec.left = True
            elif c in "+ ":
                spec.sign = c
            elif c == "#":
                spec.alternate = True
            elif c == "!":
                spec.altform2 = True
            elif c == "0":
                spec.zeropad = True
            else:
                spec.thousands = True
            i += 1
            continue
        if c in "123456789":
            j = i
            while j < n and "0" <= fmt[j] <= "9":
                j += 1
            spec.width = int(fmt[i:j]) & 0x7FFFFFFF
            i = j
            if i < n and fmt[i] in ".l":
                continue
            break
        if c == "*":
            width = _c_int(args.int64())
            if width < 0:
                spec.left = True
                width = -width if width >= -2147483647 else 0
            spec.width = width
            i += 1
            if i < n and fmt[i] in ".l":
                continue
            break
        if c == ".":
            i += 1
            if i < n and fmt[i] == "*":
                precision = _c_int(args.int64())
                if precision < 0:
                    precision = -precision if precision >= -2147483647 else -1
                i += 1
            else:
                j = i
                while j < n and "0" <= fmt[j] <= "9":
                    j += 1
                precision = int(fmt[i:j]) & 0x7FFFFFFF if j > i else 0
                i = j
            spec.precision = precision
            if i < n and fmt[i] == "l":
                continue
            break
        if c == "l":
            i += 1
            if i < n and fmt[i] == "l":
                i += 1
            break
        break
    if i >= n:
        return spec, n
    spec.conversion = fmt[i]
    return spec, i + 1


def _integer(spec: _Spec, args: _Args) -> bytes:
    """%d %i %u %x %X %o %p %r: digits, precision zeros, thousands, sign, prefix."""
    base, signed, digits, alt_prefix = _INTEGER_CONVERSIONS[spec.conversion]
    value = args.int64()
    prefix = ""
    if signed:
        if value < 0:
            value, prefix = -value, "-"
        else:
            prefix = spec.sign
    elif value < 0:
        value += _U64
    thousands = spec.thousands and spec.conversion in "diu"
    alternate = spec.alternate and value != 0
    precision = spec.precision
    if spec.zeropad and precision < spec.width - (prefix != ""):
        precision = spec.width - (prefix != "")
    if base == 10:
        text = str(value)
    else:
        out = []
        while True:
            out.append(digits[value % base])
            value //= base
            if not value:
                break
        text = "".join(reversed(out))
    if spec.conversion == "r":
        last = int(text[-1])
        tens = int(text[-2]) if len(text) > 1 else 0
        text += _ORDINAL_SUFFIX[0 if last >= 4 or tens == 1 else last]
    if precision > len(text):
        text = "0" * (precision - len(text)) + text
    if thousands:
        head = len(text) % 3 or 3
        text = text[:head] + "".join("," + text[k:k + 3] for k in range(head, len(text), 3))
    text = prefix + text
    if alternate and alt_prefix:
        text = alt_prefix + text
    return text.encode("ascii")


def _real(spec: _Spec, args: _Args) -> bytes:
    """%f %e %E %g %G through format_real, then zero padding after the sign."""
    value = args.double()
    precision = 6 if spec.precision < 0 else spec.precision
    text = format_real(value, spec.conversion, precision, alternate=spec.alternate,
                       altform2=spec.altform2, sign=spec.sign)
    if (spec.zeropad and not spec.left and len(text) < spec.width
            and not text.endswith(("Inf", "NaN"))):
        signed = text[:1] in "+- "
        pad = "0" * (spec.width - len(text))
        text = text[:1] + pad + text[1:] if signed else pad + text
    return text.encode("ascii")


def _utf8_prefix(data: bytes, count: int) -> bytes:
    """The first ``count`` characters of UTF-8 ``data`` (SQLITE_SKIP_UTF8)."""
    i, n = 0, len(data)
    while count > 0 and i < n:
        i += 1
        while i < n and (data[i] & 0xC0) == 0x80:
            i += 1
        count -= 1
    return data[:i]


def _string(spec: _Spec, args: _Args) -> bytes:
    """%s / %z: the text, cut to ``precision`` bytes (characters with '!')."""
    data = args.text() or b""
    if spec.precision >= 0:
        if spec.altform2:
            data = _utf8_prefix(data, spec.precision)
        else:
            data = data[:spec.precision]
    return data


def _escaped(spec: _Spec, args: _Args) -> bytes:
    """%q (double '), %Q (double ' and quote; NULL unquoted), %w (double ")."""
    conversion = spec.conversion
    quote = b'"' if conversion == "w" else b"'"
    data = args.text()
    if data is None:
        data = b"NULL" if conversion == "Q" else b"(NULL)"
        need_quote = False
    else:
        need_quote = conversion == "Q"
    if spec.precision >= 0:
        data = (_utf8_prefix(data, spec.precision) if spec.altform2
                else data[:spec.precision])
    data = data.replace(quote, quote + quote)
    return quote + data + quote if need_quote else data


def _char(spec: _Spec, args: _Args) -> tuple[bytes, bytes]:
    """%c: the first character of the text (NUL for NULL or ''), repeated
    ``precision`` times. Returns (the unpadded lead: left padding and all copies
    but the last, the last copy). As in SQLite, the remaining width pads only
    the last copy."""
    data = args.text()
    char = _utf8_prefix(data, 1) if data else b"\x00"
    lead = b""
    width = spec.width
    count = max(spec.precision, 1)
    if count > 1:
        width -= count - 1
        if width > 1 and not spec.left:
            lead = b" " * (width - 1)
            width = 0
    spec.width = width
    return lead + char * (count - 1), char


def _pad(spec: _Spec, body: bytes, count_chars: bool) -> bytes:
    """Pad ``body`` with spaces to the spec's width (bytes, or characters when
    ``count_chars``: SQLite's adjust_width_for_utf8)."""
    width = spec.width
    if count_chars and width > 0:
        width += sum(1 for b in body if (b & 0xC0) == 0x80)
    width -= len(body)
    if width <= 0:
        return body
    return body + b" " * width if spec.left else b" " * width + body


def sql_printf(fmt: str, values) -> str | None:
    """The text ``printf(fmt, *values)`` returns in SQLite, or None when nothing
    was output. O(length of the output)."""
    args = _Args(values)
    out: list[bytes] = []
    n = len(fmt)
    i = 0
    while i < n:
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:].encode("utf-8", "surrogatepass"))
            break
        if j > i:
            out.append(fmt[i:j].encode("utf-8", "surrogatepass"))
        if j + 1 >= n:
            out.append(b"%")
            break
        spec, i = _parse_spec(fmt, j + 1, args)
        if max(spec.width, spec.precision) > _MAX_LENGTH:
            raise SqlFunctionError("string or blob too big")
        piece = _convert(spec, args)
        if piece is None:
            break
        out.append(piece)
    if not out:
        return None
    data = b"".join(out)
    if len(data) > _MAX_LENGTH:
        raise SqlFunctionError("string or blob too big")
    return data.decode("utf-8", "replace")


def _convert(spec: _Spec, args: _Args) -> bytes | None:
    """One conversion's padded output; None stops the whole format."""
    c = spec.conversion
    if c in _INTEGER_CONVERSIONS:
        return _pad(spec, _integer(spec, args), False)
    if c in "feEgG":
        return _pad(spec, _real(spec, args), False)
    if c in "sz":
        return _pad(spec, _string(spec, args), spec.altform2)
    if c in "qQw":
        return _pad(spec, _escaped(spec, args), spec.altform2)
    if c == "c":
        lead, body = _char(spec, args)
        return lead + _pad(spec, body, True)
    if c == "%":
        return _pad(spec, b"%", False)
    if c == "n":
        return b""
    return None  # unknown, SQLite-internal (%T %S) or end of format


@scalar("printf")
def printf(*args):
    """printf(FORMAT, ...): SQLite's formatted text; NULL without a format."""
    if not args or args[0] is None:
        return None
    return sql_printf(to_text(args[0]), args[1:])


@scalar("format")
def format_(*args):
    """format(FORMAT, ...): the SQL-standard name for printf()."""
    return printf(*args)
