"""Error reports of the shell, in the words and shape of the sqlite3 3.40 shell.

SQLite's shell prints ``Parse error near line N: MSG`` when ``sqlite3_prepare`` fails and
``Runtime error near line N: MSG (CODE)`` when ``sqlite3_step`` does (the code only when
it is not plain SQLITE_ERROR), followed, when SQLite knows the error offset, by the
statement text and a caret (shell.c ``shell_error_context``).  Our engine raises the same
messages without offsets or phases, so both are recovered here from the message: the
phase from its prefix, the offset by locating the token it names.
"""

from __future__ import annotations

import sqlite3 as _sqlite3

from engine.errors import DatabaseLockedError
from engine.sql import lexer
from engine.sql.parse import parse_single

__all__ = ["is_parse_error", "error_code", "error_offset", "error_context", "describe",
           "describe_argument"]

# Messages SQLite produces while preparing a statement.
_PARSE_PREFIXES = ("near ", "no such table", "no such column", "no such function",
                   "wrong number of arguments", "unrecognized token", "incomplete input",
                   "ambiguous column name", "misuse of ", "table ", "no such collation",
                   "sub-select returns", "DISTINCT aggregates", "no such index",
                   "no such view", "no such trigger", "index ", "view ", "trigger ",
                   "not supported by turso_stream", "unknown ", "duplicate column name",
                   "row value misused", "a GROUP BY clause", "aggregate functions are not",
                   "ORDER BY term", "1st ORDER BY", "2nd ORDER BY", "3rd ORDER BY",
                   "HAVING clause", "too many ", "parser stack overflow")

# Primary result codes of the runtime errors SQLite's shell appends as " (N)".
_SQLITE_BUSY, _SQLITE_READONLY, _SQLITE_TOOBIG = 5, 8, 18
_SQLITE_CONSTRAINT, _SQLITE_MISMATCH = 19, 20


def is_parse_error(exc: BaseException) -> bool:
    """True when SQLite would have reported ``exc`` from prepare (a "Parse error")."""
    return isinstance(exc, _sqlite3.Error) and str(exc).startswith(_PARSE_PREFIXES)


def error_code(exc: BaseException) -> int:
    """SQLite's primary result code for a runtime error (1 = plain SQLITE_ERROR)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and code > 0:
        return code & 0xFF
    message = str(exc)
    if isinstance(exc, DatabaseLockedError) or message.startswith("database is locked"):
        return _SQLITE_BUSY
    if message == "datatype mismatch":
        return _SQLITE_MISMATCH
    if isinstance(exc, _sqlite3.IntegrityError):
        return _SQLITE_CONSTRAINT
    if message.startswith("attempt to write a readonly database"):
        return _SQLITE_READONLY
    if message in ("string or blob too big", "too big"):
        return _SQLITE_TOOBIG
    return 1


def _ident_matches(tok, name: str) -> bool:
    text = tok.text
    if tok.kind is lexer.QUOTED_ID:
        text = text[1:-1]
    return text.lower() == name.lower()


def error_offset(statement: str, message: str) -> int | None:
    """Offset in ``statement`` of the token a parse error names, or None.

    ``near "X": syntax error``: the first occurrence of X whose prefix (through X) fails
    to parse with the same message (earlier occurrences parse as incomplete input);
    O(occurrences x len(statement)).  ``no such column: X``: the first identifier X.
    """
    if message.startswith('near "') and message.endswith('": syntax error'):
        word = message[6:-15]
        candidates = [t for t in lexer.tokenize(statement) if t.text == word]
        for tok in candidates:
            try:
                parse_single(statement[:tok.start + len(tok.text)])
            except Exception as exc:  # noqa: BLE001 - SqlSyntaxError and any other failure
                if str(exc) == message:
                    return tok.start
        return candidates[0].start if candidates else None
    if message.startswith("no such column: "):
        name = message[16:].rpartition(".")[2]
        for tok in lexer.tokenize(statement):
            if tok.kind in (lexer.ID, lexer.QUOTED_ID) and _ident_matches(tok, name):
                return tok.start
    return None


def error_context(rest: str, offset: int) -> str:
    """The two lines shell.c prints under an error: the statement (from 50 characters
    before the error, at most 78 wide, blanks as spaces) and a caret marker."""
    while offset > 50:
        rest = rest[1:]
        offset -= 1
    code = "".join(" " if c.isspace() else c for c in rest[:78])
    if offset < 25:
        marker = " " * offset + "^--- error here"
    else:
        marker = " " * (offset - 14) + "error here ---^"
    return "  " + code + "\n  " + marker


def describe(exc: BaseException, rest: str, where: str) -> str:
    """The full report for ``exc`` raised by the statement starting ``rest``.

    ``where`` is `` near line N`` when reading a script/stdin and empty interactively.
    """
    message = str(exc) if isinstance(exc, _sqlite3.Error) else (
        f"{type(exc).__name__}: {exc}")
    if is_parse_error(exc):
        report = f"Parse error{where}: {message}"
        offset = error_offset(rest, message)
        if offset is not None:
            report += "\n" + error_context(rest, offset)
        return report
    code = error_code(exc)
    if code > 1:
        message = f"{message} ({code})"
    return f"Runtime error{where}: {message}"


def describe_argument(exc: BaseException, rest: str) -> tuple[str, int]:
    """The report and exit status for SQL given on the command line, where sqlite3
    says ``Error: in prepare, MSG`` (status 1) or ``Error: stepping, MSG (CODE)``
    (status CODE)."""
    message = str(exc) if isinstance(exc, _sqlite3.Error) else (
        f"{type(exc).__name__}: {exc}")
    if is_parse_error(exc):
        report = f"Error: in prepare, {message}"
        offset = error_offset(rest, message)
        if offset is not None:
            report += "\n" + error_context(rest, offset)
        return report, 1
    code = error_code(exc)
    return f"Error: stepping, {message}" + (f" ({code})" if code > 1 else ""), code
