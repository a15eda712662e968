"""ALTER TABLE: the schema-text edits SQLite makes (lang_altertable.html, alter.c).

SQLite keeps every object's CREATE text and rewrites it in place on ALTER: a
renamed table or column is replaced token by token in the table itself, in
REFERENCES clauses of other tables, in indexes, triggers and views; ADD COLUMN
splices the column definition in after the last column; DROP COLUMN cuts the
definition out. This module computes those new texts from the old ones by
walking SQLite tokens (``engine.sql.lexer``); ``engine.transaction`` applies them
(catalog change + row rewrite).

What is renamed is decided by token position, not by name resolution: table
names after CREATE TABLE / REFERENCES / ON and every unqualified use in view and
trigger bodies; column names in their table's definition, in REFERENCES lists
naming that table, in its indexes, and in views and triggers that use the table
(bare, ``new.``/``old.``/``table.`` qualified). A column in some *other* table
of a view or trigger body that has the renamed column's name is renamed too
(SQLite resolves names and would not): a known, documented approximation.
"""

from __future__ import annotations

from engine.catalog.ddl import unquote_identifier
from engine.errors import OperationalError
from engine.sql.lexer import ID, OPERATOR, QUOTED_ID, tokenize

_NAME_KINDS = (ID, QUOTED_ID)
_TABLE_CONSTRAINT_WORDS = {"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"}
_COLUMN_CONSTRAINT_WORDS = {"CONSTRAINT", "PRIMARY", "NOT", "NULL", "UNIQUE", "CHECK",
                            "DEFAULT", "COLLATE", "REFERENCES", "GENERATED", "AS"}


def quote_name(name: str) -> str:
    """SQLite's ``"%w"``: the name in double quotes, inner quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def _tokens(sql: str) -> list:
    return list(tokenize(sql))


def _is_name(tok, lname: str) -> bool:
    """Is ``tok`` an identifier (bare or quoted) naming ``lname`` (lower case)?"""
    if tok.kind == ID:
        return tok.text.lower() == lname
    if tok.kind == QUOTED_ID:
        return unquote_identifier(tok.text).lower() == lname
    return False


def _is_op(tok, text: str) -> bool:
    return tok.kind == OPERATOR and tok.text == text


def _word(tok) -> str:
    return tok.text.upper() if tok.kind == ID else ""


def _edit(sql: str, toks: list, indexes, replacement) -> str:
    """``sql`` with the tokens at ``indexes`` replaced by ``replacement(tok)``. O(n)."""
    out = []
    pos = 0
    for i in sorted(set(indexes)):
        tok = toks[i]
        out.append(sql[pos:tok.start])
        out.append(replacement(tok))
        pos = tok.end
    out.append(sql[pos:])
    return "".join(out)


class TableText:
    """The token structure of CREATE TABLE text: the body's top-level items.

    ``items`` are ``(first, last_plus_one)`` token ranges of the comma-separated
    definitions; ``columns`` are those that define columns (in order);
    ``add_offset`` is SQLite's ``addColOffset``: where ADD COLUMN splices in text
    (the comma before the first table constraint, else the closing parenthesis).
    """

    def __init__(self, sql: str):
        self.sql = sql
        self.toks = toks = _tokens(sql)
        i = 0
        while i < len(toks) and not _is_op(toks[i], "("):
            i += 1
        self.name_index = i - 1
        depth = 0
        start = i + 1
        self.items = []
        commas = []
        for j in range(i, len(toks)):
            tok = toks[j]
            if _is_op(tok, "("):
                depth += 1
            elif _is_op(tok, ")"):
                depth -= 1
                if depth == 0:
                    self.items.append((start, j))
                    self.close = j
                    break
            elif depth == 1 and _is_op(tok, ","):
                self.items.append((start, j))
                commas.append(j)
                start = j + 1
        self.columns = []
        self.add_offset = toks[self.close].start
        for n, (a, b) in enumerate(self.items):
            if self.columns and _word(toks[a]) in _TABLE_CONSTRAINT_WORDS:
                self.add_offset = toks[commas[n - 1]].start
                break
            self.columns.append((a, b))

    def column_renames(self, table: str, column: str) -> list[int]:
        """Token indexes naming ``column`` of this table (``table``) in the body."""
        toks, lcol = self.toks, column.lower()
        out = []
        for n, (a, b) in enumerate(self.items):
            i = a
            if (a, b) in self.columns:
                if _is_name(toks[a], lcol):
                    out.append(a)
                i = a + 1
                while i < b and toks[i].kind in _NAME_KINDS and \
                        _word(toks[i]) not in _COLUMN_CONSTRAINT_WORDS:
                    i += 1  # the declared type
                if i < b and _is_op(toks[i], "("):
                    i = _skip_group(toks, i)
            out.extend(_constraint_renames(toks, i, b, table.lower(), lcol))
        return out


def _skip_group(toks, i: int) -> int:
    """Index after the parenthesized group starting at ``i``."""
    depth = 0
    while i < len(toks):
        if _is_op(toks[i], "("):
            depth += 1
        elif _is_op(toks[i], ")"):
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def _constraint_renames(toks, i: int, end: int, ltable: str, lcol: str) -> list[int]:
    """Uses of column ``lcol`` in constraint tokens [i, end) of table ``ltable``."""
    out = []
    while i < end:
        tok = toks[i]
        w = _word(tok)
        if w in ("CONSTRAINT", "COLLATE"):
            i += 2
            continue
        if w == "REFERENCES":
            ref = toks[i + 1] if i + 1 < end else None
            i += 2
            if i < end and _is_op(toks[i], "("):
                stop = _skip_group(toks, i)
                if ref is not None and _is_name(ref, ltable):
                    out.extend(k for k in range(i, stop) if _is_name(toks[k], lcol))
                i = stop
            continue
        if _is_name(tok, lcol) and not (i > 0 and _is_op(toks[i - 1], ".")):
            out.append(i)
        i += 1
    return out


def _reference_renames(toks, ltable: str, lcol: str | None) -> list[int]:
    """In another table's text: the table name after REFERENCES (``lcol`` None) or
    the column names inside ``REFERENCES table(...)``."""
    out = []
    for i, tok in enumerate(toks):
        if _word(tok) != "REFERENCES" or i + 1 >= len(toks) or not _is_name(toks[i + 1], ltable):
            continue
        if lcol is None:
            out.append(i + 1)
        elif i + 2 < len(toks) and _is_op(toks[i + 2], "("):
            stop = _skip_group(toks, i + 2)
            out.extend(k for k in range(i + 2, stop) if _is_name(toks[k], lcol))
    return out


def _after_on(toks, ltable: str) -> int | None:
    """Index of the table name after the first ON (indexes, trigger headers)."""
    for i, tok in enumerate(toks):
        if _word(tok) == "ON" and i + 1 < len(toks):
            return i + 1 if _is_name(toks[i + 1], ltable) else None
    return None


def _body_uses(toks, start: int, lname: str) -> list[int]:
    """Unqualified uses of ``lname`` from token ``start`` on (not after a '.')."""
    return [i for i in range(start, len(toks))
            if _is_name(toks[i], lname) and not _is_op(toks[i - 1], ".")]


def _mentions(toks, lname: str) -> bool:
    return any(_is_name(t, lname) for t in toks)


# -- RENAME TO ----------------------------------------------------------------------------

def rename_table_texts(catalog, old: str, new: str) -> dict[str, str]:
    """``{object name (lower): new CREATE text}`` for RENAME TABLE ``old`` TO ``new``.

    The renamed table's own entry is keyed by its *old* name. O(total schema text).
    """
    lold = old.lower()
    quoted = quote_name(new)
    out = {}
    for type_, name, tbl, sql in catalog.entries():
        if sql is None:
            continue
        toks = _tokens(sql)
        if type_ == "table":
            hits = _reference_renames(toks, lold, None)
            if name.lower() == lold:
                hits.append(TableText(sql).name_index)
        elif type_ == "index":
            hit = _after_on(toks, lold)
            hits = [hit] if hit is not None else []
        elif type_ == "trigger":
            hits = _body_uses(toks, 1, lold) if tbl.lower() == lold or _mentions(toks, lold) \
                else []
            hits = [i for i in hits if i > 2]  # never the trigger's own name
        else:
            hits = [i for i in _body_uses(toks, 1, lold) if i > 2]
        if hits:
            out[name.lower()] = _edit(sql, toks, hits, lambda _t: quoted)
    return out


# -- RENAME COLUMN ------------------------------------------------------------------------

def rename_column_texts(catalog, table: str, old: str, new: str,
                        new_quoted: bool) -> dict[str, str]:
    """``{object name (lower): new CREATE text}`` for RENAME COLUMN ``old`` TO ``new``.

    SQLite's renameEditSql rule for the replacement text: a bare token becomes the
    new name as written in the ALTER (quoted if it was quoted there); a quoted
    token becomes the quoted new name.
    """
    ltable, lcol = table.lower(), old.lower()
    quoted = quote_name(new)
    bare = quoted if new_quoted else new

    def replacement(tok):
        return bare if tok.kind == ID else quoted

    out = {}
    for type_, name, tbl, sql in catalog.entries():
        if sql is None:
            continue
        toks = _tokens(sql)
        if type_ == "table":
            if name.lower() == ltable:
                hits = TableText(sql).column_renames(table, old)
            else:
                hits = _reference_renames(toks, ltable, lcol)
        elif type_ == "index":
            if tbl.lower() != ltable:
                continue
            on = _after_on(toks, ltable) or 0
            hits = [i for i in range(on + 1, len(toks)) if _is_name(toks[i], lcol)
                    and _word(toks[i - 1]) != "COLLATE"]
        elif tbl.lower() == ltable or _mentions(toks, ltable):
            hits = [i for i in range(3, len(toks)) if _is_name(toks[i], lcol) and
                    (not _is_op(toks[i - 1], ".") or
                     toks[i - 2].text.lower() in ("new", "old", ltable))]
        else:
            continue
        if hits:
            out[name.lower()] = _edit(sql, toks, hits, replacement)
    return out


# -- ADD / DROP COLUMN ----------------------------------------------------------------------

def add_column_text(table_sql: str, coldef: str) -> str:
    """The table text after ADD COLUMN ``coldef`` (spliced at SQLite's addColOffset)."""
    text = TableText(table_sql)
    off = text.add_offset
    coldef = coldef.rstrip("; \t\n\r\f")
    return table_sql[:off] + ", " + coldef + table_sql[off:]


def drop_column_text(table_sql: str, position: int) -> str:
    """The table text after DROP COLUMN of the column at ``position`` (alter.c dropColumn:
    up to the next column's name, or from the previous comma for the last column)."""
    text = TableText(table_sql)
    toks = text.toks
    a, _b = text.columns[position]
    if position < len(text.columns) - 1:
        start = toks[a].start
        end = toks[text.columns[position + 1][0]].start
    else:
        start = toks[a - 1].start  # the comma before the last column
        end = text.add_offset
    return table_sql[:start] + table_sql[end:]


def coldef_text(alter_sql: str) -> str:
    """The column definition of ``ALTER TABLE t ADD [COLUMN] coldef`` as written."""
    toks = _tokens(alter_sql)
    for i, tok in enumerate(toks):
        if _word(tok) == "ADD":
            j = i + 1
            if j < len(toks) and _word(toks[j]) == "COLUMN":
                j += 1
            if j >= len(toks):
                raise OperationalError("incomplete input")
            return alter_sql[toks[j].start:].rstrip("; \t\n\r\f")
    raise OperationalError('near "ALTER": syntax error')


def constant_default(default_sql: str | None) -> bool:
    """May ADD COLUMN use this DEFAULT? SQLite accepts only what sqlite3ValueFromExpr
    evaluates: literals, NULL, TRUE/FALSE, signed numbers, CAST of those."""
    if default_sql is None:
        return True
    toks = [t for t in _tokens(default_sql) if not (_is_op(t, "(") or _is_op(t, ")"))]
    if toks and _word(toks[0]) == "CAST":
        words = [_word(t) for t in toks]
        if "AS" not in words:
            return False
        toks = toks[1:words.index("AS")]
    return _literal(toks)


def _literal(toks) -> bool:
    while toks and (_is_op(toks[0], "-") or _is_op(toks[0], "+")):
        toks = toks[1:]
    if len(toks) != 1:
        return False
    tok = toks[0]
    return tok.kind in ("NUMBER", "STRING", "BLOB") or _word(tok) in ("NULL", "TRUE", "FALSE")


# -- the statement ----------------------------------------------------------------------

class AlterStatement:
    """A parsed ALTER TABLE: ``action`` is 'rename_table', 'rename_column',
    'add_column' or 'drop_column'; ``args`` its operands (names unquoted; for
    RENAME COLUMN also whether the new name was quoted; for ADD the definition text)."""

    key = "alter"

    def __init__(self, table: str, action: str, args: tuple):
        self.table = table
        self.action = action
        self.args = args

    def apply(self, txn) -> None:
        """Run the statement in transaction ``txn`` (engine.transaction methods)."""
        getattr(txn, self.action)(self.table, *self.args)


def parse_alter(sql: str) -> AlterStatement | None:
    """Parse ALTER TABLE text with SQLite's grammar (lang_altertable.html); None if
    ``sql`` is not an ALTER TABLE statement. Raises SQLite's syntax errors. O(n)."""
    toks = [t for t in _tokens(sql) if t.kind != "SEMI"]
    if len(toks) < 2 or _word(toks[0]) != "ALTER" or _word(toks[1]) != "TABLE":
        return None
    pos = 2

    def fail(i):
        if i >= len(toks):
            raise OperationalError("incomplete input")
        raise OperationalError(f'near "{toks[i].text}": syntax error')

    def name(i):
        if i >= len(toks) or toks[i].kind not in (ID, QUOTED_ID, "STRING"):
            fail(i)
        return unquote_identifier(toks[i].text), i + 1

    table, pos = name(pos)
    if pos < len(toks) and _is_op(toks[pos], "."):
        table, pos = name(pos + 1)
    verb = _word(toks[pos]) if pos < len(toks) else fail(pos)
    pos += 1
    if verb == "RENAME":
        if pos < len(toks) and _word(toks[pos]) == "TO":
            new, pos = name(pos + 1)
            stmt = AlterStatement(table, "rename_table", (new,))
        else:
            if pos < len(toks) and _word(toks[pos]) == "COLUMN":
                pos += 1
            old, pos = name(pos)
            if pos >= len(toks) or _word(toks[pos]) != "TO":
                fail(pos)
            quoted = pos + 1 < len(toks) and toks[pos + 1].kind == QUOTED_ID
            new, pos = name(pos + 1)
            stmt = AlterStatement(table, "rename_column", (old, new, quoted))
    elif verb == "ADD":
        if pos < len(toks) and _word(toks[pos]) == "COLUMN":
            pos += 1
        if pos >= len(toks):
            fail(pos)
        return AlterStatement(table, "add_column", (coldef_text(sql),))
    elif verb == "DROP":
        if pos < len(toks) and _word(toks[pos]) == "COLUMN":
            pos += 1
        col, pos = name(pos)
        stmt = AlterStatement(table, "drop_column", (col,))
    else:
        fail(pos - 1)
    if pos < len(toks):
        fail(pos)
    return stmt
