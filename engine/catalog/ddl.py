"""Parse CREATE TABLE / CREATE INDEX text into schema objects.

SQLite keeps each object's CREATE text and re-parses it on open; so do we. The
table-definition grammar (lang_createtable.html) is small and positional, and
two of its details are lost by a general SQL parser: the declared type must be
kept verbatim (it decides the column's affinity, and PRAGMA table_info shows it)
and constraint expressions must be kept as text. So this module walks SQLite's
*tokens* (``engine.sql.lexer``) with a small recursive-descent parser and slices the original text;
expressions are handed on as SQL text for the SQL layer to compile.
"""

from __future__ import annotations

from dataclasses import replace

from engine.catalog.schema import (
    CONFLICT_ACTIONS, CheckConstraint, Column, ForeignKey, IndexColumn, IndexSchema,
    TableSchema)
from engine.errors import OperationalError
from engine.sql.lexer import ID, OPERATOR, QUOTED_ID, SEMI, STRING, first_illegal, tokenize

# Words that end a column's type name and start a constraint (lang_createtable).
_CONSTRAINT_WORDS = {"CONSTRAINT", "PRIMARY", "NOT", "NULL", "UNIQUE", "CHECK",
                     "DEFAULT", "COLLATE", "REFERENCES", "GENERATED", "AS"}
_TABLE_CONSTRAINT_WORDS = {"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"}


def unquote_identifier(text: str) -> str:
    """An identifier's name from its source text: "a""b" -> a"b, [x] -> x, `y` -> y."""
    if len(text) >= 2:
        first, last = text[0], text[-1]
        if first == '"' and last == '"':
            return text[1:-1].replace('""', '"')
        if first == "`" and last == "`":
            return text[1:-1].replace("``", "`")
        if first == "[" and last == "]":
            return text[1:-1]
        if first == "'" and last == "'":
            return text[1:-1].replace("''", "'")
    return text


class _Tokens:
    """A cursor over SQLite tokens of ``sql`` (engine.sql.lexer) with keyword helpers."""

    def __init__(self, sql: str):
        self.sql = sql
        bad = first_illegal(sql)
        if bad is not None:
            raise OperationalError(f'unrecognized token: "{bad.text}"')
        self.toks = [t for t in tokenize(sql) if t.kind != SEMI]
        self.i = 0

    def peek_word(self, ahead: int = 0) -> str:
        """The upper-cased bare word at the cursor (+ahead), or '' for anything else."""
        j = self.i + ahead
        if j >= len(self.toks) or self.toks[j].kind != ID:
            return ""
        return self.toks[j].text.upper()

    def at(self, *words: str) -> bool:
        return self.peek_word() in words

    def accept(self, *words: str) -> bool:
        if self.at(*words):
            self.i += 1
            return True
        return False

    def expect(self, word: str) -> None:
        if not self.accept(word):
            self.fail()

    def fail(self):
        if self.i >= len(self.toks):
            raise OperationalError("incomplete input")
        raise OperationalError(f'near "{self.toks[self.i].text}": syntax error')

    def done(self) -> bool:
        return self.i >= len(self.toks)

    def is_op(self, text: str) -> bool:
        """Is the token at the cursor the operator ``text`` ('(', ')', ',', '.', '-', '+')?"""
        if self.i >= len(self.toks):
            return False
        t = self.toks[self.i]
        return t.kind == OPERATOR and t.text == text

    def name(self) -> str:
        """An identifier (bare, quoted, or a string used as a name), unquoted."""
        if self.done():
            self.fail()
        t = self.toks[self.i]
        if t.kind not in (ID, QUOTED_ID, STRING):
            self.fail()
        self.i += 1
        return unquote_identifier(t.text) if t.kind != ID else t.text

    def qualified_name(self) -> str:
        name = self.name()
        if self.is_op("."):
            self.i += 1
            name = self.name()  # schema prefix (main/temp): one database here
        return name

    def balanced(self) -> str:
        """Consume a parenthesized group; return the text inside the parentheses."""
        if not self.is_op("("):
            self.fail()
        start = self.toks[self.i].start + 1
        depth = 0
        while self.i < len(self.toks):
            t = self.toks[self.i]
            if t.kind == OPERATOR and t.text == "(":
                depth += 1
            elif t.kind == OPERATOR and t.text == ")":
                depth -= 1
                if depth == 0:
                    self.i += 1
                    return self.sql[start:t.start].strip()
            self.i += 1
        raise OperationalError("incomplete input")

    def slice_from(self, first: int) -> str:
        """Source text of tokens ``first`` .. the cursor (exclusive)."""
        if first >= self.i:
            return ""
        last = self.toks[self.i - 1]
        return self.sql[self.toks[first].start:last.start + len(last.text)]


def _conflict_clause(tk: _Tokens) -> str | None:
    if tk.at("ON") and tk.peek_word(1) == "CONFLICT":
        tk.i += 2
        action = tk.peek_word()
        if action not in CONFLICT_ACTIONS:
            tk.fail()
        tk.i += 1
        return action
    return None


def _default_sql(tk: _Tokens) -> str:
    """DEFAULT's operand: a parenthesized expression (its text without the outer
    parentheses, as SQLite records it), a literal or a signed number."""
    if tk.is_op("("):
        return tk.balanced()
    first = tk.i
    if tk.is_op("-") or tk.is_op("+"):
        tk.i += 1
    if tk.done():
        tk.fail()
    tk.i += 1
    return tk.slice_from(first)


def _skip_references(tk: _Tokens) -> ForeignKey:
    """REFERENCES table [(cols)] [ON DELETE|UPDATE action | MATCH name | DEFERRABLE ...]."""
    ref_table = tk.name()
    ref_cols: tuple[str, ...] = ()
    if tk.is_op("("):
        ref_cols = tuple(_name_list(tk))
    actions = {"DELETE": "NO ACTION", "UPDATE": "NO ACTION"}
    while True:
        if tk.at("ON") and tk.peek_word(1) in ("DELETE", "UPDATE"):
            which = tk.peek_word(1)
            tk.i += 2
            if tk.accept("SET"):
                actions[which] = "SET " + tk.name().upper()
            elif tk.accept("NO"):
                tk.expect("ACTION")
                actions[which] = "NO ACTION"
            else:
                actions[which] = tk.name().upper()
        elif tk.accept("MATCH"):
            tk.name()
        elif tk.at("NOT") and tk.peek_word(1) == "DEFERRABLE" or tk.at("DEFERRABLE"):
            tk.accept("NOT")
            tk.i += 1
            if tk.accept("INITIALLY"):
                tk.name()
        else:
            break
    return ForeignKey((), ref_table, ref_cols, actions["DELETE"], actions["UPDATE"])


def _name_list(tk: _Tokens) -> list[str]:
    inner = _Tokens(tk.balanced())
    names = []
    while not inner.done():
        names.append(inner.name())
        inner.accept("ASC", "DESC")
        if inner.accept("COLLATE"):
            inner.name()
        if not inner.done() and not inner.is_op(","):
            inner.fail()
        if inner.is_op(","):
            inner.i += 1
    return names


def _column_def(tk: _Tokens, state: dict) -> Column:
    name = tk.name()
    type_start = tk.i
    while not tk.done() and not tk.is_op(",") and not tk.is_op(")"):
        if tk.peek_word() in _CONSTRAINT_WORDS:
            break
        tk.i += 1
        if tk.is_op("("):
            tk.balanced()
    decltype = tk.slice_from(type_start)
    if tk.i == type_start + 1 and tk.toks[type_start].kind in (QUOTED_ID, STRING):
        decltype = unquote_identifier(decltype)  # SQLite dequotes a quoted type name
    attrs: dict = {"name": name, "decltype": decltype}
    while not tk.done() and not tk.is_op(",") and not tk.is_op(")"):
        cname = tk.name() if tk.accept("CONSTRAINT") else None
        if tk.accept("PRIMARY"):
            tk.expect("KEY")
            desc = tk.accept("DESC")
            tk.accept("ASC")
            attrs["primary_key"] = True
            state["pk_order"] = len(state["unique"])
            state["pk"].append(((name,), _conflict_clause(tk), desc))
            if tk.accept("AUTOINCREMENT"):
                state["autoincrement"] = True
        elif tk.accept("NOT"):
            tk.expect("NULL")
            attrs["not_null"] = True
            attrs["not_null_conflict"] = _conflict_clause(tk)
        elif tk.accept("NULL"):
            _conflict_clause(tk)
        elif tk.accept("UNIQUE"):
            state["unique"].append(((name,), _conflict_clause(tk)))
        elif tk.accept("CHECK"):
            state["checks"].append(CheckConstraint(tk.balanced(), cname))
        elif tk.accept("DEFAULT"):
            attrs["default_sql"] = _default_sql(tk)
        elif tk.accept("COLLATE"):
            attrs["collation"] = tk.name().upper()
        elif tk.accept("REFERENCES"):
            fk = _skip_references(tk)
            state["fks"].append(ForeignKey((name,), fk.ref_table, fk.ref_columns,
                                           fk.on_delete, fk.on_update))
        elif tk.accept("GENERATED") or tk.at("AS"):
            if tk.peek_word() == "ALWAYS":
                tk.i += 1
            tk.expect("AS")
            attrs["generated_sql"] = tk.balanced()
            stored = tk.accept("STORED")
            tk.accept("VIRTUAL")
            attrs["generated_stored"] = stored
            attrs["hidden"] = 3 if stored else 2
        else:
            tk.fail()
    return Column(**attrs)


def _table_constraint(tk: _Tokens, state: dict) -> None:
    cname = tk.name() if tk.accept("CONSTRAINT") else None
    if tk.accept("PRIMARY"):
        tk.expect("KEY")
        cols = tuple(_name_list(tk))
        state["pk_order"] = len(state["unique"])
        state["pk"].append((cols, _conflict_clause(tk), False))
        if tk.accept("AUTOINCREMENT"):
            state["autoincrement"] = True
    elif tk.accept("UNIQUE"):
        cols = tuple(_name_list(tk))
        state["unique"].append((cols, _conflict_clause(tk)))
    elif tk.accept("CHECK"):
        state["checks"].append(CheckConstraint(tk.balanced(), cname))
    elif tk.accept("FOREIGN"):
        tk.expect("KEY")
        cols = tuple(_name_list(tk))
        tk.expect("REFERENCES")
        fk = _skip_references(tk)
        state["fks"].append(ForeignKey(cols, fk.ref_table, fk.ref_columns,
                                       fk.on_delete, fk.on_update))
    else:
        tk.fail()


def parse_create_table(sql: str) -> TableSchema:
    """The TableSchema that ``CREATE TABLE`` text ``sql`` declares.

    Raises OperationalError with SQLite's message for the errors SQLite detects
    at CREATE time (duplicate column, more than one primary key, WITHOUT ROWID
    without a primary key, AUTOINCREMENT on a non-INTEGER PRIMARY KEY).
    """
    tk = _Tokens(sql)
    tk.expect("CREATE")
    tk.accept("TEMP", "TEMPORARY")
    tk.expect("TABLE")
    if tk.accept("IF"):
        tk.expect("NOT")
        tk.expect("EXISTS")
    name = tk.qualified_name()
    if not tk.is_op("("):
        tk.fail()
    body = _Tokens(tk.balanced())
    state = {"pk": [], "unique": [], "checks": [], "fks": [], "autoincrement": False,
             "pk_order": 0}
    columns: list[Column] = []
    while not body.done():
        if body.peek_word() in _TABLE_CONSTRAINT_WORDS and columns:
            _table_constraint(body, state)
        else:
            columns.append(_column_def(body, state))
        if not body.done():
            if not body.is_op(","):
                body.fail()
            body.i += 1
    options = set()
    while not tk.done():
        if tk.accept("WITHOUT"):
            if tk.peek_word() != "ROWID":
                if tk.done():
                    tk.fail()
                raise OperationalError(f"unknown table option: {tk.toks[tk.i].text}")
            tk.i += 1
            options.add("WITHOUT ROWID")
        elif tk.accept("STRICT"):
            options.add("STRICT")
        elif tk.is_op(","):
            tk.i += 1
        else:
            tk.fail()
    return _build_table(name, sql, columns, state, options)


def _build_table(name, sql, columns, state, options) -> TableSchema:
    seen = set()
    for col in columns:
        key = col.name.lower()
        if key in seen:
            raise OperationalError(f"duplicate column name: {col.name}")
        seen.add(key)
    if not columns:
        raise OperationalError(f'near ")": syntax error')
    index = {c.name.lower(): i for i, c in enumerate(columns)}

    def positions(names):
        out = []
        for n in names:
            if n.lower() not in index:
                raise OperationalError(f"no such column: {n}")
            out.append(index[n.lower()])
        return tuple(out)

    if len(state["pk"]) > 1:
        raise OperationalError(f'table "{name}" has more than one primary key')
    pk: tuple[int, ...] = ()
    pk_conflict = None
    rowid_alias = None
    without_rowid = "WITHOUT ROWID" in options
    if state["pk"]:
        names, pk_conflict, desc = state["pk"][0]
        pk = positions(names)
        if len(pk) == 1 and columns[pk[0]].decltype.upper() == "INTEGER" and not without_rowid \
                and not desc:
            rowid_alias = pk[0]
        # A table-level PRIMARY KEY marks its columns too (PRAGMA table_info's pk).
        columns = [c if i not in pk else _mark_pk(c) for i, c in enumerate(columns)]
    if state["autoincrement"] and rowid_alias is None:
        raise OperationalError("AUTOINCREMENT is only allowed on an INTEGER PRIMARY KEY")
    if without_rowid and not pk:
        raise OperationalError(f"PRIMARY KEY missing on table {name}")
    if without_rowid:
        # WITHOUT ROWID primary-key columns are implicitly NOT NULL.
        columns = [_mark_not_null(c) if i in pk else c for i, c in enumerate(columns)]
    uniques = tuple((positions(cols), conflict) for cols, conflict in state["unique"])
    _check_merged_conflicts(pk if rowid_alias is None else None, pk_conflict, uniques)
    fks = tuple(ForeignKey(fk.columns, fk.ref_table, fk.ref_columns, fk.on_delete,
                           fk.on_update) for fk in state["fks"])
    return TableSchema(
        name=name, sql=sql, columns=tuple(columns), rowid_alias=rowid_alias,
        primary_key=pk, pk_conflict=pk_conflict, without_rowid=without_rowid,
        strict="STRICT" in options, autoincrement=state["autoincrement"],
        checks=tuple(state["checks"]), foreign_keys=fks, unique_sets=uniques,
        pk_order=state["pk_order"])


def _check_merged_conflicts(pk, pk_conflict, uniques) -> None:
    """SQLite merges a UNIQUE / PRIMARY KEY constraint on the same columns as an earlier
    one into its index; two different ON CONFLICT clauses on them are an error."""
    declared = {}
    for cols, conflict in ([(pk, pk_conflict)] if pk else []) + list(uniques):
        if conflict is None:
            continue
        if declared.setdefault(cols, conflict) != conflict:
            raise OperationalError("conflicting ON CONFLICT clauses specified")


def _mark_pk(col: Column) -> Column:
    return replace(col, primary_key=True)


def _mark_not_null(col: Column) -> Column:
    return replace(col, not_null=True)


def auto_indexes(table: TableSchema) -> list[IndexSchema]:
    """SQLite's automatic indexes for PRIMARY KEY (unless a rowid alias) and UNIQUE.

    Named ``sqlite_autoindex_<table>_<n>`` with n counting the PRIMARY KEY and
    UNIQUE constraints in declaration order, as SQLite numbers them; a constraint
    on the same columns as an earlier one is merged into it and takes no number.
    A WITHOUT ROWID table's primary key takes its number but is the storage key,
    not an index. Returned in creation order (SQLite checks them newest first).
    """
    out: list[IndexSchema] = []
    n = 0
    seen: dict[tuple[int, ...], int] = {}  # columns -> position in out (-1: the WR key)
    parts_of = lambda cols: tuple(
        IndexColumn(c, None, table.columns[c].collation) for c in cols)
    declared = [(cols, conflict, "u") for cols, conflict in table.unique_sets]
    if table.primary_key and table.rowid_alias is None:
        declared.insert(table.pk_order, (table.primary_key, table.pk_conflict, "pk"))
    for cols, conflict, origin in declared:
        if cols in seen:
            pos = seen[cols]
            if origin == "pk" and pos >= 0:  # a PRIMARY KEY merged into an earlier UNIQUE
                out[pos] = replace(out[pos], origin="pk")
            if pos >= 0 and conflict is not None and out[pos].conflict is None:
                # the merged constraint's ON CONFLICT clause applies (sqlite3CreateIndex)
                out[pos] = replace(out[pos], conflict=conflict)
            continue
        n += 1
        if origin == "pk" and table.without_rowid:
            seen[cols] = -1
            continue
        seen[cols] = len(out)
        out.append(IndexSchema(f"sqlite_autoindex_{table.name}_{n}", table.name,
                               parts_of(cols), True, origin=origin, conflict=conflict))
    return out


def parse_create_index(sql: str, table_of) -> IndexSchema:
    """The IndexSchema that ``CREATE [UNIQUE] INDEX`` text ``sql`` declares.

    ``table_of(name)`` returns the TableSchema of the indexed table or None.
    """
    tk = _Tokens(sql)
    tk.expect("CREATE")
    unique = tk.accept("UNIQUE")
    tk.expect("INDEX")
    if tk.accept("IF"):
        tk.expect("NOT")
        tk.expect("EXISTS")
    name = tk.qualified_name()
    tk.expect("ON")
    table_name = tk.name()
    table = table_of(table_name)
    if table is None:
        raise OperationalError(f"no such table: main.{table_name}")
    parts = _index_parts(_Tokens(tk.balanced()), table)
    where_sql = None
    if tk.accept("WHERE"):
        if tk.done():
            tk.fail()
        last = tk.toks[-1]
        where_sql = tk.sql[tk.toks[tk.i].start:last.start + len(last.text)]
        tk.i = len(tk.toks)
    if not tk.done():
        tk.fail()
    return IndexSchema(name, table.name, tuple(parts), unique, where_sql, sql, "c")


def _index_parts(tk: _Tokens, table: TableSchema) -> list[IndexColumn]:
    """Key parts ``expr [COLLATE name] [ASC|DESC]`` separated by top-level commas."""
    parts = []
    while not tk.done():
        first, depth = tk.i, 0
        while not tk.done():
            if depth == 0 and tk.is_op(","):
                break
            depth += tk.is_op("(") - tk.is_op(")")
            tk.i += 1
        stop = tk.i
        part = tk.toks[first:stop]
        desc = False
        if part and part[-1].kind == ID and part[-1].text.upper() in ("ASC", "DESC"):
            desc = part[-1].text.upper() == "DESC"
            part = part[:-1]
        collation = None
        if len(part) >= 2 and part[-2].kind == ID and part[-2].text.upper() == "COLLATE":
            collation = unquote_identifier(part[-1].text).upper()
            part = part[:-2]
        if not part:
            tk.fail()
        pos = None
        if len(part) == 1:
            pos = table.column(unquote_identifier(part[0].text))
            if pos is None and part[0].kind in (ID, QUOTED_ID):
                raise OperationalError(f"no such column: {unquote_identifier(part[0].text)}")
            if pos is not None:
                parts.append(IndexColumn(pos, None, collation or table.columns[pos].collation,
                                         desc))
        if len(part) != 1 or pos is None:
            expr_text = tk.sql[part[0].start:part[-1].start + len(part[-1].text)]
            parts.append(IndexColumn(None, expr_text, collation or "BINARY", desc))
        if tk.is_op(","):
            tk.i += 1
            if tk.done():  # a trailing comma: SQLite sees the closing parenthesis
                raise OperationalError('near ")": syntax error')
    if not parts:
        raise OperationalError('near ")": syntax error')
    return parts


