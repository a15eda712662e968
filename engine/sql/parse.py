"""Parsing SQL text into ASTs, with SQLite's error messages and an LRU cache.

Entry points:

* ``parse_one(sql)`` - exactly one statement (a trailing ``;`` is allowed).
* ``parse_script(sql)`` - every statement of a script, split like SQLite does.
* ``parse_single(sql)`` - what ``sqlite3.Cursor.execute`` accepts: one statement,
  or None for text holding no statement; raises ``MultipleStatementsError`` when
  anything but blanks and comments follows the first statement.

Errors are ``SqlSyntaxError`` with SQLite's message shape: ``near "X": syntax
error``, ``incomplete input``, ``unrecognized token: "X"`` (or another exact SQLite
message such as ``variable number must be between ?1 and ?250000``).

ASTs are cached by SQL text (``set_cache_size``).  **Callers must treat a returned
AST as immutable**: the same object is handed to every caller parsing the same text.
Use ``.copy()`` before transforming it.
"""

from __future__ import annotations

from collections import OrderedDict

from sqlglot import exp
from sqlglot.errors import ParseError

from engine.sql import lexer
from engine.sql.dialect import SqliteMessageError, TursoSQLite, number_variables
from engine.sql.split import statement_spans

__all__ = [
    "SqlSyntaxError",
    "MultipleStatementsError",
    "parse_one",
    "parse_script",
    "parse_single",
    "set_cache_size",
    "cache_info",
    "clear_cache",
]


class SqlSyntaxError(Exception):
    """SQL text SQLite would reject at prepare time; ``message`` is SQLite's text.

    The connection layer maps it to ``sqlite3.OperationalError(message)``.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MultipleStatementsError(Exception):
    """More than one statement given where one is expected (sqlite3.ProgrammingError)."""

    def __init__(self, message: str = "You can only execute one statement at a time.") -> None:
        super().__init__(message)
        self.message = message


_DIALECT = TursoSQLite()
_cache: OrderedDict[str, exp.Expression] = OrderedDict()
_cache_size = 1024
# parse_single's results by the whole text given to execute(): a hit skips tokenizing.
_single_cache: dict[str, exp.Expression] = {}
_MISSING = object()
_hits = 0
_misses = 0


def set_cache_size(size: int) -> None:
    """Set the maximum number of cached ASTs (0 disables caching); evicts the oldest."""
    global _cache_size
    if size < 0:
        raise ValueError("cache size must be >= 0")
    _cache_size = size
    _single_cache.clear()
    while len(_cache) > size:
        _cache.popitem(last=False)


def cache_info() -> dict[str, int]:
    """Cache statistics: hits, misses, current size and maximum size."""
    return {"hits": _hits, "misses": _misses, "size": len(_cache), "maxsize": _cache_size}


def clear_cache() -> None:
    """Drop every cached AST and reset the statistics."""
    global _hits, _misses
    _cache.clear()
    _single_cache.clear()
    _hits = _misses = 0


def _near(sql: str, offset: int | None) -> SqlSyntaxError:
    """SQLite's message for a parse failing at ``offset`` (None: at end of input)."""
    if offset is None or offset >= len(sql):
        return SqlSyntaxError("incomplete input")
    for tok in lexer.tokenize(sql):
        if tok.start + len(tok.text) > offset:
            return SqlSyntaxError(f'near "{tok.text}": syntax error')
    return SqlSyntaxError("incomplete input")


# Words a statement can start with (SQLite's cmd rule).
_STATEMENT_WORDS = frozenset("""ALTER ANALYZE ATTACH BEGIN COMMIT END CREATE DELETE DETACH DROP
    EXPLAIN INSERT PRAGMA REINDEX RELEASE REPLACE ROLLBACK SAVEPOINT SELECT UPDATE VACUUM
    VALUES WITH""".split())
# Words that can never follow a ',' in SQLite's grammar (no trailing commas anywhere).
_NOT_AFTER_COMMA = frozenset("""FROM WHERE GROUP ORDER LIMIT HAVING WINDOW UNION INTERSECT
    EXCEPT ON USING SET VALUES RETURNING""".split())


def _lexical_error(sql: str) -> SqlSyntaxError | None:
    """Errors visible from the tokens alone: a bad first word, a trailing comma, or an
    unrecognized token (unless the parser fails earlier, as SQLite lexes while it
    parses).  O(len(sql))."""
    toks = list(lexer.tokenize(sql))
    if not toks:
        return SqlSyntaxError("incomplete input")
    first = toks[0]
    if first.kind is lexer.ILLEGAL:
        return SqlSyntaxError(f'unrecognized token: "{first.text}"')
    if first.kind is not lexer.ID or first.text.upper() not in _STATEMENT_WORDS:
        return SqlSyntaxError(f'near "{first.text}": syntax error')
    for i, tok in enumerate(toks):
        if tok.kind is lexer.ILLEGAL:
            return _syntax_error_before(sql, tok.start) or SqlSyntaxError(
                f'unrecognized token: "{tok.text}"')
        if tok.text == ",":
            nxt = toks[i + 1] if i + 1 < len(toks) else None
            if nxt is None:
                return SqlSyntaxError("incomplete input")
            if nxt.text == ")" or (nxt.kind is lexer.ID and nxt.text.upper() in _NOT_AFTER_COMMA):
                return SqlSyntaxError(f'near "{nxt.text}": syntax error')
    return None


def _parse_statement_text(sql: str) -> exp.Expression:
    """Parse the text of exactly one statement (no cache).  O(len(sql))."""
    error = _lexical_error(sql)
    if error is not None:
        raise error
    try:
        statements = _DIALECT.parse(sql)
    except SqliteMessageError as err:
        raise SqlSyntaxError(err.sqlite_message) from None
    except ParseError as err:
        offset = err.errors[0].get("offset") if err.errors else None
        raise _near(sql, offset) from None
    except Exception:  # noqa: BLE001 - sqlglot internals failing on odd input
        raise SqlSyntaxError(_fallback_message(sql)) from None
    stmt = statements[0] if statements else None
    if stmt is None or (isinstance(stmt, exp.Select) and not stmt.expressions):
        raise SqlSyntaxError("incomplete input")
    if isinstance(stmt, exp.Command):
        # sqlglot gave up and kept raw text: SQLite would have rejected it here.
        raise _near(sql, _first_token_offset(sql, 1))
    number_variables(stmt)
    return stmt


def _syntax_error_before(sql: str, offset: int) -> SqlSyntaxError | None:
    """A syntax error the parser hits strictly before ``offset``, if any."""
    try:
        _DIALECT.parse(sql[:offset])
    except ParseError as err:
        at = err.errors[0].get("offset") if err.errors else None
        if at is not None and at < offset:
            return _near(sql, at)
    except Exception:  # noqa: BLE001
        return None
    return None


def _first_token_offset(sql: str, index: int) -> int | None:
    toks = list(lexer.tokenize(sql))
    return toks[index].start if len(toks) > index else None


def _fallback_message(sql: str) -> str:
    toks = list(lexer.tokenize(sql))
    return f'near "{toks[-1].text}": syntax error' if toks else "incomplete input"


def parse_one(sql: str) -> exp.Expression:
    """Parse exactly one statement; a trailing ';' (and blanks/comments) is allowed.

    Cached by text: O(1) for a repeated text, else O(len(sql)).  The result is shared
    and must not be mutated.  Raises SqlSyntaxError; an input with no statement
    raises SqlSyntaxError("incomplete input") and one with several raises
    MultipleStatementsError.
    """
    global _hits, _misses
    cached = _cache.get(sql)
    if cached is not None:
        _hits += 1
        _cache.move_to_end(sql)
        return cached
    _misses += 1
    spans = statement_spans(sql)
    if not spans:
        raise SqlSyntaxError("incomplete input")
    if len(spans) > 1:
        raise MultipleStatementsError()
    start, end = spans[0]
    stmt = _parse_statement_text(sql[start:end])
    if _cache_size:
        _cache[sql] = stmt
        if len(_cache) > _cache_size:
            _cache.popitem(last=False)
    return stmt


def parse_script(sql: str) -> list[exp.Expression]:
    """Parse every statement of a script (split by ``split.statement_spans``).

    Each statement goes through ``parse_one``'s cache.  Stops at the first error,
    raising it, like ``sqlite3.Connection.executescript``.
    """
    return [parse_one(sql[a:b]) for a, b in statement_spans(sql)]


def parse_single(sql: str) -> exp.Expression | None:
    """One statement as ``sqlite3.Cursor.execute`` takes it; None if there is none.

    Python's sqlite3 prepares the first statement, then raises ProgrammingError
    "You can only execute one statement at a time." if anything other than
    blanks and comments follows it - a second ';' counts.  The first statement is
    parsed (and its error raised) before the rest is looked at, as in sqlite3.
    """
    cached = _single_cache.get(sql, _MISSING)
    if cached is not _MISSING:
        return cached
    first = _first_statement_end(sql)
    if first is None:
        return None
    end, rest = first
    try:
        stmt = parse_one(sql[:end])
    except SqlSyntaxError as err:
        if err.message == "incomplete input" and rest > end and ";" in sql[end:rest]:
            # SQLite's parser sees the terminating ';' and fails on it.
            raise SqlSyntaxError('near ";": syntax error') from None
        raise
    for tok in lexer.tokenize(sql[rest:]):
        raise MultipleStatementsError()
    if _cache_size:
        if len(_single_cache) >= _cache_size:
            _single_cache.pop(next(iter(_single_cache)))  # oldest first (insertion order)
        _single_cache[sql] = stmt
    return stmt


def _first_statement_end(sql: str) -> tuple[int, int] | None:
    """(end of the first statement's text, offset after its ';') or None if no statement.

    Leading empty statements (bare ';') count as statements for sqlite3's check,
    so the first ';' seen when no statement text was seen yet is itself the tail.
    """
    spans = statement_spans(sql)
    if not spans:
        return None
    start, end = spans[0]
    semi = end
    for tok in lexer.tokenize(sql[end:]):
        if tok.kind is lexer.SEMI:
            semi = end + tok.start + 1
        break
    return end, semi
