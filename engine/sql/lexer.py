"""SQLite's lexical rules, as a small standalone tokenizer.

This follows the rules of SQLite's ``tokenize.c`` (``sqlite3GetToken``): what counts
as whitespace, a comment, a string, a quoted identifier, a blob literal, a number,
a parameter and an operator, and which character runs are *illegal* tokens (reported
by SQLite as ``unrecognized token: "..."``).

It is used where sqlglot's own tokenizer does not follow SQLite closely enough:
splitting scripts into statements (``split.py``), ``sqlite3.complete_statement``
compatibility, and error messages (``parse.py``).  The parser proper is sqlglot's,
extended in ``dialect.py``.

Tokens are ``Token(kind, text, start)`` tuples; ``kind`` is one of the module-level
string constants below.  Tokenizing is O(n) in the length of the text.
"""

from __future__ import annotations

import re
from typing import Iterator, NamedTuple

__all__ = [
    "Token",
    "tokenize",
    "first_illegal",
    "is_id_char",
    "SPACE",
    "COMMENT",
    "STRING",
    "ID",
    "QUOTED_ID",
    "NUMBER",
    "BLOB",
    "VARIABLE",
    "OPERATOR",
    "SEMI",
    "ILLEGAL",
]

SPACE = "SPACE"  # blanks: space, tab, newline, form feed, carriage return
COMMENT = "COMMENT"  # -- to end of line, or /* ... */ (an unclosed one runs to the end)
STRING = "STRING"  # '...' with '' for a quote
ID = "ID"  # a bare word: identifier or keyword
QUOTED_ID = "QUOTED_ID"  # "..", `..` or [..]
NUMBER = "NUMBER"  # 12, 1.5, .5, 1e10, 0x1F
BLOB = "BLOB"  # x'0aff'
VARIABLE = "VARIABLE"  # ?, ?NNN, :name, @name, $name (also Tcl-style $a::b / $a(b))
OPERATOR = "OPERATOR"  # punctuation and operators other than ';'
SEMI = "SEMI"  # the statement terminator ';'
ILLEGAL = "ILLEGAL"  # what SQLite reports as "unrecognized token"


class Token(NamedTuple):
    """One lexical token: its kind, its exact source text and its start offset."""

    kind: str
    text: str
    start: int

    @property
    def end(self) -> int:
        """Offset one past the token's last character."""
        return self.start + len(self.text)


def is_id_char(ch: str) -> bool:
    """True if ``ch`` may appear in a bare identifier (SQLite's ``IdChar``).

    ASCII letters, digits, ``_`` and ``$``, and every non-ASCII character (SQLite
    works on UTF-8 bytes and treats every byte >= 0x80 as an identifier byte).
    """
    return ch.isascii() and (ch.isalnum() or ch in "_$") or ord(ch) >= 0x80


# Non-ASCII characters are identifier characters; the class is built once.
_ID = r"0-9A-Za-z_$\u0080-\U0010FFFF"
_ID_CHAR_RUN = re.compile(f"[{_ID}]*")
_SPACE_RUN = re.compile(r"[ \t\n\f\r]+")
_DIGITS = re.compile(r"[0-9]*")
_HEX_DIGITS = re.compile(r"[0-9A-Fa-f]*")
# Decimal number: digits [. digits] | . digits, then an exponent only if a digit follows.
_DECIMAL = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

# Operators, longest first where one is a prefix of another.
_OPERATORS = (
    "->>", "->", "==", "<=", "<>", "<<", ">=", ">>", "!=", "||",
    "-", "(", ")", "+", "*", "/", "%", "=", "<", ">", ",", "&", "~", "|", ".",
)
_OPERATOR_BY_FIRST: dict[str, tuple[str, ...]] = {}
for _op in _OPERATORS:
    _OPERATOR_BY_FIRST.setdefault(_op[0], ())
    _OPERATOR_BY_FIRST[_op[0]] += (_op,)
del _op


def _scan_quoted(sql: str, pos: int, close: str) -> tuple[int, bool]:
    """Scan a quoted run starting at ``pos`` (the opening quote).

    A doubled closing quote stands for itself (except for ``[..]``, which has no
    escape).  Returns (end offset, terminated?); an unterminated run extends to the
    end of the text.  O(length of the run).
    """
    n = len(sql)
    i = pos + 1
    while True:
        j = sql.find(close, i)
        if j < 0:
            return n, False
        if close != "]" and j + 1 < n and sql[j + 1] == close:
            i = j + 2
            continue
        return j + 1, True


def _scan_number(sql: str, pos: int) -> tuple[int, str]:
    """Scan a number at ``pos`` (a digit, or '.' followed by a digit).

    Hex integers need at least one hex digit after ``0x``.  Identifier characters
    glued to the end make the whole run illegal, as in ``1abc`` or ``1_000``
    (digit separators arrived only in SQLite 3.46).
    """
    n = len(sql)
    if sql[pos] == "0" and pos + 2 < n and sql[pos + 1] in "xX" and sql[pos + 2] in "0123456789abcdefABCDEF":
        end = _HEX_DIGITS.match(sql, pos + 2).end()
    else:
        end = _DECIMAL.match(sql, pos).end()
    tail = _ID_CHAR_RUN.match(sql, end).end()
    return tail, (NUMBER if tail == end else ILLEGAL)


def _scan_variable(sql: str, pos: int) -> tuple[int, str]:
    """Scan a named parameter ``$name``, ``@name``, ``:name`` or ``#name`` at ``pos``.

    Follows tokenize.c: identifier characters, ``::`` pairs, and a Tcl-style
    ``(...)`` suffix which must close before any blank.  No name at all is illegal.
    """
    n = len(sql)
    i = pos + 1
    name_chars = 0
    while i < n:
        c = sql[i]
        if is_id_char(c):
            name_chars += 1
            i += 1
        elif c == "(" and name_chars > 0:
            i += 1
            while i < n and sql[i] not in " \t\n\f\r)":
                i += 1
            if i < n and sql[i] == ")":
                return i + 1, VARIABLE
            return i, ILLEGAL
        elif c == ":" and i + 1 < n and sql[i + 1] == ":":
            i += 2
        else:
            break
    return i, (VARIABLE if name_chars else ILLEGAL)


def _scan_one(sql: str, pos: int) -> tuple[int, str]:
    """Return (end, kind) of the token starting at ``pos``; one call of sqlite3GetToken."""
    c = sql[pos]
    n = len(sql)
    nxt = sql[pos + 1] if pos + 1 < n else ""
    if c in " \t\n\f\r":
        return _SPACE_RUN.match(sql, pos).end(), SPACE
    if c == "-" and nxt == "-":
        j = sql.find("\n", pos)
        return (n if j < 0 else j + 1), COMMENT
    if c == "/" and nxt == "*":
        j = sql.find("*/", pos + 2)
        return (n if j < 0 else j + 2), COMMENT
    if c == ";":
        return pos + 1, SEMI
    if c == "'":
        end, ok = _scan_quoted(sql, pos, "'")
        return end, (STRING if ok else ILLEGAL)
    if c == '"' or c == "`":
        end, ok = _scan_quoted(sql, pos, c)
        return end, (QUOTED_ID if ok else ILLEGAL)
    if c == "[":
        end, ok = _scan_quoted(sql, pos, "]")
        return end, (QUOTED_ID if ok else ILLEGAL)
    if c in "0123456789" or (c == "." and nxt in "0123456789" and nxt):
        return _scan_number(sql, pos)
    if c in "xX" and nxt == "'":
        return _scan_blob(sql, pos)
    if c == "?":
        return _DIGITS.match(sql, pos + 1).end(), VARIABLE
    if c in "$@:#":
        return _scan_variable(sql, pos)
    if is_id_char(c):
        return _ID_CHAR_RUN.match(sql, pos).end(), ID
    for op in _OPERATOR_BY_FIRST.get(c, ()):
        if sql.startswith(op, pos):
            return pos + len(op), OPERATOR
    return pos + 1, ILLEGAL  # '!' alone, '^', '{', '\\', control characters, ...


def _scan_blob(sql: str, pos: int) -> tuple[int, str]:
    """Scan ``x'..'``: an even number of hex digits then ``'``; otherwise the run up to
    and including the next ``'`` is illegal (tokenize.c's CC_X case)."""
    n = len(sql)
    i = _HEX_DIGITS.match(sql, pos + 2).end()
    kind = BLOB
    if i >= n or sql[i] != "'" or (i - pos) % 2:
        kind = ILLEGAL
        j = sql.find("'", i)
        i = n if j < 0 else j
    return (i + 1 if i < n else i), kind


def tokenize(sql: str, *, trivia: bool = False) -> Iterator[Token]:
    """Yield the tokens of ``sql`` in order; never raises.

    With ``trivia=False`` (default) whitespace and comments are skipped.  Illegal
    runs come out as ``ILLEGAL`` tokens and scanning continues after them, so callers
    decide what an illegal token means.  O(len(sql)).
    """
    pos = 0
    n = len(sql)
    scan = _scan_one
    while pos < n:
        end, kind = scan(sql, pos)
        if trivia or (kind is not SPACE and kind is not COMMENT):
            yield Token(kind, sql[pos:end], pos)
        pos = end


def first_illegal(sql: str) -> Token | None:
    """The first ILLEGAL token of ``sql`` (what SQLite reports as unrecognized), or None."""
    for tok in tokenize(sql):
        if tok.kind is ILLEGAL:
            return tok
    return None
