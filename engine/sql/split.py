"""Statement boundaries in SQL text, the way SQLite finds them.

``is_complete`` answers exactly what ``sqlite3.complete_statement`` answers; it is an
independent implementation of the state machine in SQLite's ``complete.c``
(``sqlite3_complete``): a statement is complete when it ends in a ``;`` that is not
inside a string, quoted identifier, comment, or the ``BEGIN ... END`` body of a
``CREATE TRIGGER``.

``split_statements`` cuts a script at exactly those semicolons, using the same state
machine over the tokens of ``lexer.py``.
"""

from __future__ import annotations

from engine.sql import lexer

__all__ = ["is_complete", "split_statements", "statement_spans"]

# Token classes of the sqlite3_complete machine.
_SEMI, _WS, _OTHER, _EXPLAIN, _CREATE, _TEMP, _TRIGGER, _END = range(8)

# States: 0 INVALID, 1 START (just after a complete statement), 2 NORMAL,
# 3 EXPLAIN, 4 CREATE, 5 TRIGGER (inside a trigger definition), 6 SEMI (a ';' inside
# a trigger body), 7 END (';' END inside a trigger: the next ';' ends the statement).
_TRANSITIONS = (
    # SEMI WS OTHER EXPLAIN CREATE TEMP TRIGGER END
    (1, 0, 2, 3, 4, 2, 2, 2),  # 0 INVALID
    (1, 1, 2, 3, 4, 2, 2, 2),  # 1 START
    (1, 2, 2, 2, 2, 2, 2, 2),  # 2 NORMAL
    (1, 3, 3, 2, 4, 2, 2, 2),  # 3 EXPLAIN
    (1, 4, 2, 2, 2, 4, 5, 2),  # 4 CREATE
    (6, 5, 5, 5, 5, 5, 5, 5),  # 5 TRIGGER
    (6, 6, 5, 5, 5, 5, 5, 7),  # 6 SEMI
    (1, 7, 5, 5, 5, 5, 5, 5),  # 7 END
)

_KEYWORD_CLASS = {
    "create": _CREATE,
    "trigger": _TRIGGER,
    "temp": _TEMP,
    "temporary": _TEMP,
    "end": _END,
    "explain": _EXPLAIN,
}


def _word_class(word: str) -> int:
    """Class of a bare word; the keyword test is ASCII case-insensitive like sqlite3StrNICmp."""
    if len(word) > 9 or not word.isascii():
        return _OTHER
    return _KEYWORD_CLASS.get(word.lower(), _OTHER)


def is_complete(sql: str) -> bool:
    """True if ``sql`` ends with a complete statement, exactly as sqlite3.complete_statement.

    Port of the idea of sqlite3_complete (complete.c): a character-level scan that
    feeds an 8-state machine.  An unterminated string, quoted identifier or ``/*``
    comment makes the input incomplete; a trailing ``--`` comment without a newline
    leaves the state as it was.  Text after an embedded NUL is ignored (C string).
    O(len(sql)).
    """
    nul = sql.find("\x00")
    if nul >= 0:
        sql = sql[:nul]
    state = 0
    i = 0
    n = len(sql)
    trans = _TRANSITIONS
    while i < n:
        c = sql[i]
        if c == ";":
            token = _SEMI
        elif c in " \r\t\n\f":
            token = _WS
        elif c == "/" and i + 1 < n and sql[i + 1] == "*":
            j = sql.find("*/", i + 2)
            if j < 0:
                return False
            i = j + 1
            token = _WS
        elif c == "-" and i + 1 < n and sql[i + 1] == "-":
            j = sql.find("\n", i)
            if j < 0:
                return state == 1
            i = j
            token = _WS
        elif c == "[" or c == "`" or c == '"' or c == "'":
            j = sql.find("]" if c == "[" else c, i + 1)
            if j < 0:
                return False
            i = j
            token = _OTHER
        elif lexer.is_id_char(c):
            j = i + 1
            while j < n and lexer.is_id_char(sql[j]):
                j += 1
            token = _word_class(sql[i:j])
            i = j - 1
        else:
            token = _OTHER
        state = trans[state][token]
        i += 1
    return state == 1


def _token_class(tok: lexer.Token) -> int:
    kind = tok.kind
    if kind is lexer.SEMI:
        return _SEMI
    if kind is lexer.SPACE or kind is lexer.COMMENT:
        return _WS
    if kind is lexer.ID:
        return _word_class(tok.text)
    return _OTHER


def statement_spans(sql: str) -> list[tuple[int, int]]:
    """(start, end) offsets of each non-empty statement in ``sql``, without its ';'.

    A statement ends at a ';' that brings the sqlite3_complete machine back to its
    START state, so semicolons in strings, identifiers, comments and trigger bodies
    do not split.  Statements holding only blanks and comments are dropped; text
    after the last ';' is a final statement.  Spans exclude surrounding blanks and
    comments.  O(len(sql)).
    """
    spans: list[tuple[int, int]] = []
    state = 0
    first = last = -1  # offsets of the current statement's first/last real token
    trans = _TRANSITIONS
    for tok in lexer.tokenize(sql, trivia=True):
        cls = _token_class(tok)
        state = trans[state][cls]
        if cls == _WS:
            continue
        if cls == _SEMI and state == 1:
            if first >= 0:
                spans.append((first, last))
            first = last = -1
            continue
        if first < 0:
            first = tok.start
        last = tok.start + len(tok.text)
    if first >= 0:
        spans.append((first, last))
    return spans


def split_statements(sql: str) -> list[str]:
    """Split a script into statement texts, the way SQLite's executescript walks it.

    Each returned string is one statement without its terminating ';' and without
    leading/trailing blanks or comments (comments inside are kept).  Empty statements
    are dropped; a trailing statement lacking ';' is kept.  O(len(sql)).
    """
    return [sql[a:b] for a, b in statement_spans(sql)]
