"""``TursoSQLite``: sqlglot's SQLite dialect, corrected and completed for SQLite's grammar.

Stock sqlglot 30.30 parses SQLite well for queries but loses or mangles a number of
SQLite statements.  This dialect fixes them so the planner/executor can rely on the
AST.  What each statement becomes (the arg names the executor reads):

Transactions
  ``BEGIN [DEFERRED|IMMEDIATE|EXCLUSIVE|CONCURRENT] [TRANSACTION]`` ->
  ``exp.Transaction``; ``args["kind"]`` is one of "DEFERRED" (also when omitted),
  "IMMEDIATE", "EXCLUSIVE", "CONCURRENT".
  ``COMMIT|END [TRANSACTION]`` -> ``exp.Commit``.
  ``ROLLBACK [TRANSACTION] [TO [SAVEPOINT] name]`` -> ``exp.Rollback``;
  ``args["savepoint"]`` is the identifier or None.
  ``SAVEPOINT name`` -> ``Savepoint(this=Identifier)``;
  ``RELEASE [SAVEPOINT] name`` -> ``Release(this=Identifier)``.
DDL
  ``CREATE TABLE ...`` -> ``exp.Create`` with ``args["strict"]`` and
  ``args["without_rowid"]`` (bools) for the table options.  ``CREATE TEMP ...`` sets
  ``args["temporary"]``.
  ``CREATE MATERIALIZED VIEW`` -> ``exp.Create(kind="VIEW")`` with
  ``args["materialized"] = True`` (and a ``MaterializedProperty``).
  ``CREATE [TEMP] TRIGGER`` -> ``CreateTrigger`` (see its docstring).
Utility
  ``EXPLAIN [QUERY PLAN] stmt`` -> ``Explain(this=stmt, query_plan=bool)``;
  ``VACUUM [schema] [INTO expr]`` -> ``Vacuum(this=Identifier|None, into=expr|None)``;
  ``REINDEX [name]`` / ``ANALYZE [name]`` -> ``Reindex`` / ``AnalyzeStmt`` with
  ``this`` a ``exp.Table`` (schema in ``db``) or None;
  ``PRAGMA [schema.]name [= value | (value)]`` -> ``Pragma(schema, name, value, call)``.
DML
  ``REPLACE INTO`` / ``INSERT OR x`` -> ``exp.Insert`` with ``args["alternative"]`` in
  {"REPLACE","IGNORE","ABORT","FAIL","ROLLBACK"}; ``UPDATE OR x`` -> ``exp.Update``
  with the same ``args["alternative"]``.
Parameters
  ``?``, ``?NNN``, ``:name``, ``@name``, ``$name`` -> ``Variable`` (a subclass of
  ``exp.Placeholder``); see its docstring and ``number_variables``.

Errors whose wording SQLite fixes (not "syntax error") are raised as
``SqliteMessageError``, a ``ParseError`` carrying SQLite's exact message.
"""

from __future__ import annotations

import typing as t

from sqlglot import exp
from sqlglot.dialects.sqlite import SQLite
from sqlglot.errors import ParseError
from sqlglot.generators.sqlite import SQLiteGenerator
from sqlglot.parsers.sqlite import SQLiteParser
from sqlglot.tokens import Token, TokenType

from engine.sql import lexer

__all__ = [
    "TursoSQLite",
    "Savepoint",
    "Release",
    "Explain",
    "Vacuum",
    "Reindex",
    "AnalyzeStmt",
    "Pragma",
    "Variable",
    "CreateTrigger",
    "SqliteMessageError",
    "number_variables",
    "MAX_VARIABLE_NUMBER",
]

MAX_VARIABLE_NUMBER = 250000  # SQLITE_MAX_VARIABLE_NUMBER of the stdlib build


def _ends_in_from(query) -> bool:
    """Does the SELECT (of a compound: its last arm) end with its FROM clause, no
    WHERE, GROUP BY, HAVING, WINDOW, ORDER BY or LIMIT after it?"""
    while isinstance(query, exp.SetOperation):
        if query.args.get("order") or query.args.get("limit"):
            return False
        query = query.expression
    if not isinstance(query, exp.Select) or not query.args.get("from_"):
        return False
    return not any(query.args.get(k) for k in ("where", "group", "having", "windows",
                                                 "order", "limit", "offset"))


class SqliteMessageError(ParseError):
    """A parse error whose message is SQLite's exact text (e.g. "unknown table option: x")."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.sqlite_message = message


def _allow_args(cls: type[exp.Expression], *names: str) -> None:
    """Declare extra optional args on a stock sqlglot node.

    sqlglot rejects unknown args when unittest/pytest is loaded; adding optional keys
    to ``arg_types`` is additive (other dialects never set them) and keeps
    ``isinstance`` checks and generator dispatch on the stock classes.
    """
    cls.arg_types = {**cls.arg_types, **{name: False for name in names}}


_allow_args(exp.Transaction, "kind")
_allow_args(exp.Create, "strict", "without_rowid", "temporary", "materialized")
_allow_args(exp.Update, "alternative")
_allow_args(exp.ColumnDef, "declared_type")
_allow_args(exp.Cast, "declared_type")
for _cls in (exp.ColumnConstraint, exp.NotNullColumnConstraint, exp.UniqueColumnConstraint,
             exp.PrimaryKeyColumnConstraint, exp.CheckColumnConstraint):
    _allow_args(_cls, "conflict", "autoincrement")
del _cls


# ---------------------------------------------------------------------------
# Expression classes for statements sqlglot has no node for
# ---------------------------------------------------------------------------


class Savepoint(exp.Expression):
    """``SAVEPOINT name``; ``this`` is the savepoint's Identifier."""

    arg_types = {"this": True}


class Release(exp.Expression):
    """``RELEASE [SAVEPOINT] name``; ``this`` is the savepoint's Identifier."""

    arg_types = {"this": True}


class Explain(exp.Expression):
    """``EXPLAIN [QUERY PLAN] stmt``; ``this`` is the parsed statement."""

    arg_types = {"this": True, "query_plan": False}


class Vacuum(exp.Expression):
    """``VACUUM [schema] [INTO file]``; ``this`` schema Identifier, ``into`` an expression."""

    arg_types = {"this": False, "into": False}


class Reindex(exp.Expression):
    """``REINDEX [[schema.]name]``; ``this`` is an exp.Table (collation/table/index) or None."""

    arg_types = {"this": False}


class AnalyzeStmt(exp.Expression):
    """``ANALYZE [[schema.]name]``; ``this`` is an exp.Table or None."""

    arg_types = {"this": False}


class Pragma(exp.Pragma):
    """``PRAGMA [schema.]name [= value | (value)]``.

    ``schema`` and ``name`` are lower-case-preserving plain strings as written (schema
    None when absent); ``value`` is an exp.Literal (numbers keep their sign, e.g.
    ``-2000``), an exp.Identifier for bare words such as ``ON``/``WAL``, or None;
    ``call`` is True for the parenthesised form.
    """

    arg_types = {"schema": False, "name": True, "value": False, "call": False}


class Variable(exp.Placeholder):
    """A bound parameter.

    Args: ``this`` the text as written (``?``, ``?3``, ``:a``, ``@a``, ``$a``);
    ``kind`` one of ``"?"``, ``"?NNN"``, ``":"``, ``"@"``, ``"$"``; ``name`` the full
    name with its prefix for named parameters (what sqlite3_bind_parameter_name
    returns, e.g. ``":a"``), None for ``?``/``?NNN``; ``number`` the 1-based index
    SQLite binds it to, set by ``number_variables`` for the whole statement.
    """

    arg_types = {"this": True, "kind": True, "name": False, "number": False}

    @property
    def name(self) -> str:  # exp.Placeholder.name would drop the prefix
        return self.args.get("name") or ""


class UnaryPlus(exp.Unary):
    """``+X``: X's value and collation without X's affinity (SQLite: "+X" is an
    expression, not a column reference, for affinity). sqlglot would drop the ``+``."""

    arg_types = {"this": True}


class CreateTrigger(exp.Expression):
    """``CREATE [TEMP] TRIGGER [IF NOT EXISTS] name ... BEGIN stmt; ... END``.

    Args: ``this`` trigger name (exp.Table, schema in ``db``); ``temporary`` bool;
    ``exists`` bool (IF NOT EXISTS); ``timing`` "BEFORE" | "AFTER" | "INSTEAD OF"
    (None when omitted, which SQLite treats as BEFORE); ``event`` "INSERT" |
    "DELETE" | "UPDATE"; ``columns`` list of Identifiers for ``UPDATE OF``;
    ``table`` exp.Table; ``for_each_row`` bool; ``when`` expression or None;
    ``body`` list of parsed statements (INSERT/UPDATE/DELETE/SELECT).
    """

    arg_types = {
        "this": True,
        "temporary": False,
        "exists": False,
        "timing": False,
        "event": True,
        "columns": False,
        "table": True,
        "for_each_row": False,
        "when": False,
        "body": True,
    }


def number_variables(statement: exp.Expression) -> int:
    """Assign SQLite's bind numbers to every Variable of ``statement``; return the count.

    SQLite's rule (sqlite3ExprAssignVarNumber): in source order, ``?`` takes the
    largest number used so far plus one, ``?NNN`` takes NNN, and a named parameter
    takes the number of its first occurrence or else largest plus one.  The count is
    the largest number (sqlite3_bind_parameter_count).  O(v log v) for v variables.
    """
    variables = sorted(statement.find_all(Variable), key=lambda v: v.meta.get("start", 0))
    largest = 0
    by_name: dict[str, int] = {}
    for var in variables:
        kind = var.args["kind"]
        if kind == "?":
            largest += 1
            number = largest
        elif kind == "?NNN":
            number = int(var.args["this"][1:])
            largest = max(largest, number)
        else:
            name = var.args["name"]
            number = by_name.get(name, 0)
            if not number:
                largest += 1
                number = by_name[name] = largest
        var.set("number", number)
    return largest


# ---------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------


def _sqlite_only_spans(sql: str) -> dict[int, tuple[int, TokenType]]:
    """Tokens sqlglot splits that SQLite lexes as one: parameters and ``.5`` numbers.

    Returns {start offset: (end offset, token type)} from ``lexer.tokenize``.
    """
    spans: dict[int, tuple[int, TokenType]] = {}
    for tok in lexer.tokenize(sql):
        if tok.kind is lexer.VARIABLE:
            spans[tok.start] = (tok.start + len(tok.text), TokenType.PLACEHOLDER)
        elif tok.kind is lexer.NUMBER and tok.text[0] == ".":
            spans[tok.start] = (tok.start + len(tok.text), TokenType.NUMBER)
    return spans


def _merge_tokens(tokens: list[Token], sql: str) -> list[Token]:
    """Glue sqlglot tokens covering one SQLite parameter/number into a single token.

    O(n) in the number of tokens.
    """
    if not any(ch in sql for ch in "?:@$#."):
        return tokens
    spans = _sqlite_only_spans(sql)
    if not spans:
        return tokens
    merged: list[Token] = []
    i = 0
    n = len(tokens)
    while i < n:
        tok = tokens[i]
        span = spans.get(tok.start)
        if span is None:
            merged.append(tok)
            i += 1
            continue
        end, token_type = span
        j = i
        while j + 1 < n and tokens[j + 1].start < end:
            j += 1
        text = sql[tok.start:end]
        merged.append(Token(token_type, text, tok.line, tokens[j].col, tok.start, end - 1,
                            tok.comments))
        i = j + 1
    return merged


class _Tokenizer(SQLite.Tokenizer):
    KEYWORDS = {**SQLite.Tokenizer.KEYWORDS}
    # EXPLAIN and VACUUM are "commands" upstream (the rest of the text becomes one
    # string token); here they are words the parser handles.
    for _word in ("EXPLAIN", "VACUUM"):
        KEYWORDS.pop(_word, None)
    del _word
    COMMANDS = SQLite.Tokenizer.COMMANDS - {TokenType.REPLACE, TokenType.COMMAND}

    def tokenize(self, sql: str) -> list[Token]:
        """sqlglot's tokens, with SQLite's parameters and ``.5`` numbers as one token."""
        return _merge_tokens(super().tokenize(sql), sql)


# ---------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------

# Words that end a column's type name: they start a column constraint.
_CONSTRAINT_WORDS = {"CONSTRAINT", "PRIMARY", "NOT", "NULL", "UNIQUE", "CHECK", "DEFAULT",
                     "COLLATE", "REFERENCES", "GENERATED", "AS"}
_NOT_TYPE_TOKENS = {
    TokenType.COMMA, TokenType.R_PAREN, TokenType.L_PAREN, TokenType.SEMICOLON,
    TokenType.PRIMARY_KEY, TokenType.NOT, TokenType.NULL, TokenType.UNIQUE, TokenType.DEFAULT,
    TokenType.COLLATE, TokenType.REFERENCES, TokenType.CONSTRAINT, TokenType.ALIAS,
    TokenType.STRING,
}


def _declared_type_to_datatype(declared: str) -> exp.DataType:
    """sqlglot's DataType for a declared type, or a user-defined one it cannot read."""
    try:
        return exp.DataType.build(declared, dialect="sqlite")
    except Exception:  # noqa: BLE001 - any type text is legal in SQLite
        return exp.DataType.build(declared, udt=True)


_TRIGGER_BODY_STARTS = {"INSERT", "REPLACE", "UPDATE", "DELETE", "SELECT", "VALUES", "WITH"}


class _Parser(SQLiteParser):
    TRANSACTION_KIND = {"DEFERRED", "IMMEDIATE", "EXCLUSIVE", "CONCURRENT"}

    # Every function call stays ``exp.Anonymous(this=name, expressions=args)``: SQLite
    # functions are resolved by name and arity in our own registry, and sqlglot's typed
    # function nodes rewrite calls (strftime -> TimeToStr, json_extract -> JSONPath, ...)
    # in ways that cannot be mapped back. Only CAST keeps its special syntax.
    FUNCTIONS: t.ClassVar[dict] = {}
    FUNCTION_PARSERS = {
        "CAST": lambda self: self._parse_sqlite_cast(),
        "RAISE": lambda self: self._parse_raise(),
    }

    # SQLite has no lambdas: ``f('[1]' -> '$')`` is the JSON arrow inside an argument
    # (sqlglot would read ``'[1]' -> ...`` as a lambda with a parameter named [1]).
    LAMBDAS: t.ClassVar[dict] = {}

    # ``->`` / ``->>`` keep their right operand as written (SQLite interprets a label,
    # an integer or a JSON path itself); sqlglot would convert it to a JSONPath tree.
    COLUMN_OPERATORS = {
        **SQLiteParser.COLUMN_OPERATORS,
        TokenType.ARROW: lambda self, this, path: self.expression(
            exp.JSONExtract(this=this, expression=path)),
        TokenType.DARROW: lambda self, this, path: self.expression(
            exp.JSONExtractScalar(this=this, expression=path)),
    }

    UNARY_PARSERS = {
        **SQLiteParser.UNARY_PARSERS,
        TokenType.PLUS: lambda self: self.expression(UnaryPlus(this=self._parse_unary())),
    }

    STATEMENT_PARSERS = {
        **SQLiteParser.STATEMENT_PARSERS,
        TokenType.BEGIN: lambda self: self._parse_begin(),
        TokenType.END: lambda self: self._parse_end(),
        TokenType.REPLACE: lambda self: self._parse_replace_into(),
        TokenType.PRAGMA: lambda self: self._parse_sqlite_pragma(),
        TokenType.ANALYZE: lambda self: self._parse_analyze_stmt(),
    }

    PLACEHOLDER_PARSERS = {
        **SQLiteParser.PLACEHOLDER_PARSERS,
        TokenType.PLACEHOLDER: lambda self: self._parse_variable(),
    }

    PROPERTY_PARSERS = {
        **SQLiteParser.PROPERTY_PARSERS,
        "STRICT": lambda self: self.expression(exp.StrictProperty()),
        "WITHOUT": lambda self: self._parse_without_rowid(),
    }

    # Statements that start with a plain word (sqlglot has no token type for them).
    WORD_STATEMENTS: t.ClassVar[dict[str, t.Callable[[_Parser], exp.Expression]]] = {
        "SAVEPOINT": lambda self: self._parse_savepoint(),
        "RELEASE": lambda self: self._parse_release(),
        "EXPLAIN": lambda self: self._parse_explain(),
        "VACUUM": lambda self: self._parse_vacuum(),
        "REINDEX": lambda self: self._parse_reindex(),
    }

    # -- statement dispatch ------------------------------------------------

    def _parse_join(self, skip_join_token: bool = False, parse_bracket: bool = False,
                    alias_tokens=None) -> exp.Join | None:
        """sqlglot gives ``FROM a, b`` the join kind CROSS, as ``a CROSS JOIN b``;
        for SQLite a comma is an inner join (CROSS fixes the join order and keeps
        a first subquery a co-routine), so a comma join is marked ``comma``."""
        comma = self._curr is not None and self._curr.token_type == TokenType.COMMA
        join = super()._parse_join(skip_join_token, parse_bracket, alias_tokens)
        if comma and join is not None:
            join.set("comma", True)
        return join

    def _parse_statement(self) -> exp.Expression | None:
        """SQLite word-statements first, then sqlglot's statements."""
        curr = self._curr
        if curr and curr.token_type == TokenType.VAR:
            handler = self.WORD_STATEMENTS.get(curr.text.upper())
            if handler is not None:
                self._advance()
                return handler(self)
        return super()._parse_statement()

    def _parse(self, parse_method, raw_tokens, sql=None):
        """Parse all tokens as one chunk: ';' inside trigger bodies is not a separator.

        Callers (parse.py) hand in one statement at a time, already split by
        ``split.statement_spans``; a trailing ';' is dropped here.
        """
        self.reset()
        self.sql = sql or ""
        tokens = list(raw_tokens)
        while tokens and tokens[-1].token_type == TokenType.SEMICOLON:
            tokens.pop()
        self._chunks = [tokens]
        return self._parse_batch_statements(parse_method=parse_method, sep_first_statement=False)

    # -- transactions --------------------------------------------------------

    def _parse_begin(self) -> exp.Transaction:
        kind = "DEFERRED"
        if self._match_texts(self.TRANSACTION_KIND):
            kind = self._prev.text.upper()
        self._match_text_seq("TRANSACTION")
        return self.expression(exp.Transaction(kind=kind))

    def _parse_end(self) -> exp.Commit:
        self._match_text_seq("TRANSACTION")
        return self.expression(exp.Commit())

    def _parse_commit_or_rollback(self) -> exp.Commit | exp.Rollback:
        """COMMIT [TRANSACTION] | ROLLBACK [TRANSACTION] [TO [SAVEPOINT] name]."""
        is_rollback = self._prev.token_type == TokenType.ROLLBACK
        self._match_text_seq("TRANSACTION")
        if not is_rollback:
            return self.expression(exp.Commit())
        savepoint = None
        if self._match_text_seq("TO"):
            self._match_text_seq("SAVEPOINT")
            savepoint = self._parse_required_name()
        return self.expression(exp.Rollback(savepoint=savepoint))

    def _parse_savepoint(self) -> Savepoint:
        return self.expression(Savepoint(this=self._parse_required_name()))

    def _parse_release(self) -> Release:
        self._match_text_seq("SAVEPOINT")
        return self.expression(Release(this=self._parse_required_name()))

    def _parse_required_name(self) -> exp.Identifier:
        name = self._parse_id_var(any_token=False)
        if name is None:
            self.raise_error("Expected a name")
        return name

    # -- utility statements --------------------------------------------------

    def _parse_explain(self) -> Explain:
        query_plan = bool(self._match_text_seq("QUERY", "PLAN"))
        stmt = self._parse_statement()
        if stmt is None:
            self.raise_error("Expected a statement after EXPLAIN")
        return self.expression(Explain(this=stmt, query_plan=query_plan))

    def _parse_vacuum(self) -> Vacuum:
        schema = None
        if self._curr and self._curr.text.upper() != "INTO":
            schema = self._parse_required_name()
        into = None
        if self._match_text_seq("INTO"):
            into = self._parse_disjunction()
            if into is None:
                self.raise_error("Expected a file name after INTO")
        return self.expression(Vacuum(this=schema, into=into))

    def _parse_reindex(self) -> Reindex:
        return self.expression(Reindex(this=self._parse_table_parts() if self._curr else None))

    def _parse_analyze_stmt(self) -> AnalyzeStmt:
        return self.expression(AnalyzeStmt(this=self._parse_table_parts() if self._curr else None))

    def _parse_sqlite_pragma(self) -> Pragma:
        """PRAGMA [schema.]name [= value | (value)]; value: signed number, string or word."""
        first = self._parse_pragma_word()
        schema = None
        if self._match(TokenType.DOT):
            schema, first = first, self._parse_pragma_word()
        value = None
        call = False
        if self._match(TokenType.EQ):
            value = self._parse_pragma_value()
        elif self._match(TokenType.L_PAREN):
            call = True
            value = self._parse_pragma_value()
            self._match_r_paren()
        return self.expression(Pragma(schema=schema, name=first, value=value, call=call))

    def _parse_pragma_word(self) -> str:
        tok = self._curr
        if not tok or tok.token_type in (TokenType.STRING, TokenType.NUMBER, TokenType.L_PAREN,
                                             TokenType.R_PAREN, TokenType.EQ, TokenType.DOT):
            self.raise_error("Expected a pragma name")
        self._advance()
        return tok.text

    def _parse_pragma_value(self) -> exp.Expression:
        """A pragma value: [+|-] number, a string, or a word (ON, WAL, a name, ...)."""
        sign = ""
        if self._match_set((TokenType.DASH, TokenType.PLUS)):
            sign = "-" if self._prev.token_type == TokenType.DASH else ""
            if not self._match(TokenType.NUMBER):
                self.raise_error("Expected a number")
            return exp.Literal.number(sign + self._prev.text)
        tok = self._curr
        if not tok or tok.token_type in (TokenType.L_PAREN, TokenType.R_PAREN, TokenType.EQ):
            self.raise_error("Expected a pragma value")
        self._advance()
        if tok.token_type == TokenType.NUMBER:
            return exp.Literal.number(tok.text)
        if tok.token_type == TokenType.STRING:
            return exp.Literal.string(tok.text)
        return exp.to_identifier(tok.text, quoted=tok.token_type == TokenType.IDENTIFIER)

    # -- parameters ---------------------------------------------------------

    def _parse_variable(self) -> Variable:
        """Build a Variable from a (merged) placeholder token; O(1)."""
        tok = self._prev
        text = tok.text
        if text == "?":
            kind, name = "?", None
        elif text[0] == "?":
            kind, name = "?NNN", None
            number = int(text[1:])
            if not 1 <= number <= MAX_VARIABLE_NUMBER:
                raise SqliteMessageError(
                    f"variable number must be between ?1 and ?{MAX_VARIABLE_NUMBER}")
        else:
            kind, name = (text[0] if text[0] != "#" else ":"), text
        return self.expression(Variable(this=text, kind=kind, name=name), tok)

    # -- DML ------------------------------------------------------------------

    def _parse_replace_into(self) -> exp.Insert:
        """REPLACE INTO ... is INSERT OR REPLACE INTO ..."""
        if not self._match(TokenType.INTO, advance=False):
            self.raise_error("Expected INTO after REPLACE")
        insert = self._parse_insert()
        insert.set("alternative", "REPLACE")
        return insert

    def _parse_update(self) -> exp.Update:
        """UPDATE [OR alternative] ... (stock sqlglot rejects the OR clause)."""
        alternative = None
        if self._match(TokenType.OR):
            if not self._match_texts(self.INSERT_ALTERNATIVES):
                self.raise_error("Expected REPLACE, IGNORE, ABORT, FAIL or ROLLBACK")
            alternative = self._prev.text.upper()
        index = self._index
        self._parse_table(joins=True, alias_tokens=self.UPDATE_ALIAS_TOKENS)
        if not self._match(TokenType.SET, advance=False):
            self.raise_error("Expected SET")
        self._retreat(index)
        update = super()._parse_update()
        if not update.args.get("expressions"):
            self.raise_error("Expected an assignment")
        if alternative:
            update.set("alternative", alternative)
        return update

    def _parse_insert(self) -> exp.Expression:
        """INSERT [OR alternative] INTO ...: SQLite requires INTO."""
        index = self._index
        if self._match(TokenType.OR):
            self._advance()
        if not self._match(TokenType.INTO, advance=False):
            self.raise_error("Expected INTO")
        self._retreat(index)
        self._upsert_start = None
        insert = super()._parse_insert()
        if self._upsert_start is not None and _ends_in_from(insert.expression):
            self._refuse_upsert_after_from(self._upsert_start)
        return insert

    def _refuse_upsert_after_from(self, start: int) -> None:
        """SQLite's parsing ambiguity (lang_upsert.html): in ``INSERT ... SELECT ...
        FROM t ON CONFLICT ...`` the ON starts a join constraint (``CONFLICT`` or
        ``CONFLICT(a)`` its expression), so the statement fails at the DO that
        follows: near "DO": syntax error. (A WHERE, even ``WHERE true``, ends the
        FROM clause.)"""
        self._syntax_error_at_word(start, ("DO",))

    def _syntax_error_at_word(self, start: int, words) -> None:
        """Raise SQLite's syntax error at the first token among ``words`` (upper case)
        outside parentheses from token ``start`` on: ``near "<token>": syntax error``."""
        depth = 0
        for index in range(start, self._index):
            token = self._tokens[index]
            if token.token_type == TokenType.L_PAREN:
                depth += 1
            elif token.token_type == TokenType.R_PAREN:
                depth -= 1
            elif depth == 0 and token.text.upper() in words:
                self._retreat(index)
                break
        self.raise_error("syntax error")

    def _parse_on_conflict(self):
        """An upsert chain (SQLite >= 3.35): ``ON CONFLICT ...`` clauses one after
        another; a clause without a target ends the chain (the grammar's last
        upsert), so a clause after it is a syntax error at its ON. One clause is
        returned as the node, several as a list (read by compiler/upsert.py)."""
        start = self._index
        first = super()._parse_on_conflict()
        if first is None:
            return None
        self._upsert_start = start
        clauses = [first]
        while clauses[-1].args.get("conflict_keys"):
            more = super()._parse_on_conflict()
            if more is None:
                break
            clauses.append(more)
        return clauses[0] if len(clauses) == 1 else clauses

    def _parse_delete(self) -> exp.Expression:
        """DELETE FROM ...: SQLite requires FROM."""
        if not self._match(TokenType.FROM, advance=False):
            self.raise_error("Expected FROM")
        return super()._parse_delete()

    def _warn_unsupported(self) -> None:
        """Silence sqlglot's Command-fallback warning: parse.py rejects Commands."""

    def _parse_id_var(self, any_token=True, tokens=None):
        """In ``OVER (GROUPS ...)`` the word is the frame keyword, never a base
        window's name (as in SQLite's grammar, where GROUPS is a keyword there)."""
        if tokens is self.WINDOW_ALIAS_TOKENS and self._curr is not None \
                and self._curr.text.upper() == "GROUPS":
            return None
        ident = super()._parse_id_var(any_token=any_token, tokens=tokens)
        if ident is not None and tokens is self.WINDOW_ALIAS_TOKENS:
            ident.meta["chained"] = True  # OVER (base ...), not OVER base (window.py)
        return ident

    def _parse_cte(self):
        self._cte_alias_next = True  # the CTE's own alias may list columns
        return super()._parse_cte()

    def _parse_table_alias(self, alias_tokens=None):
        """SQLite's FROM items take a bare alias: ``AS v(x)`` is a syntax error
        there (only a CTE's name lists columns: ``WITH v(x) AS ...``)."""
        cte = getattr(self, "_cte_alias_next", False)
        self._cte_alias_next = False
        start = self._index
        alias = super()._parse_table_alias(alias_tokens)
        if alias is not None and alias.args.get("columns") and not cte:
            index = start
            while index < len(self._tokens) and self._tokens[index].token_type != TokenType.L_PAREN:
                index += 1
            self._retreat(index)
            self.raise_error("syntax error")
        return alias

    def _parse_alias(self, this, explicit=False):
        """SQLite gives ``*`` and ``t.*`` no alias: ``SELECT * x`` is a syntax error."""
        if isinstance(this, exp.Star) or (isinstance(this, exp.Column) and isinstance(this.this, exp.Star)):
            return this
        return super()._parse_alias(this, explicit=explicit)

    # -- DDL ------------------------------------------------------------------

    def _parse_column_def(self, this, computed_column=True):
        """SQLite column-def: name [type-name] [column-constraint ...] (lang_createtable).

        The declared type is kept verbatim in ``ColumnDef.args["declared_type"]``
        (a str, None when absent): SQLite derives affinity and STRICT checks from that
        text, which sqlglot's DataType normalises away (INTEGER -> INT).
        """
        if isinstance(this, exp.Column):
            this = this.this
        declared = self._parse_declared_type()
        kind = _declared_type_to_datatype(declared) if declared else None
        constraints: list[exp.Expression] = []
        while True:
            constraint = self._parse_generated_column() or self._parse_column_constraint()
            if not constraint:
                break
            self._parse_on_conflict_clause(constraint)
            constraints.append(constraint)
        if not declared and not constraints:
            return this
        return self.expression(exp.ColumnDef(
            this=this, kind=kind, constraints=constraints, declared_type=declared))

    def _parse_sqlite_cast(self) -> exp.Cast:
        """``CAST(expr AS type-name)`` (lang_expr "CAST expressions"): the type name is
        kept verbatim in ``Cast.args["declared_type"]``, since SQLite picks the target
        affinity from that text by name rules and sqlglot's DataType rewrites it
        (NUMERIC -> DECIMAL, printed as REAL for sqlite)."""
        this = self._parse_assignment()
        if not self._match(TokenType.ALIAS):
            self.raise_error("Expected AS after CAST")
        declared = self._parse_declared_type()
        if not declared:
            self.raise_error("Expected TYPE after CAST")
        return self.expression(exp.Cast(
            this=this, to=_declared_type_to_datatype(declared), declared_type=declared))

    def _parse_declared_type(self) -> str | None:
        """type-name: one or more names, then optional ``(n)`` or ``(n, m)``; O(tokens)."""
        first = self._curr
        last = None
        while (self._curr and self._curr.token_type not in _NOT_TYPE_TOKENS
               and self._curr.text.upper() not in _CONSTRAINT_WORDS):
            last = self._curr
            self._advance()
        if last is None:
            return None
        if self._match(TokenType.L_PAREN):
            depth = 1
            while self._curr and depth:
                depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(self._curr.token_type, 0)
                last = self._curr
                self._advance()
            if depth:
                self.raise_error("Expecting )")
        return self.sql[first.start:last.end + 1]

    def _parse_generated_column(self) -> exp.ColumnConstraint | None:
        """``[GENERATED ALWAYS] AS (expr) [STORED|VIRTUAL]`` -> ComputedColumnConstraint."""
        if not (self._match_text_seq("GENERATED", "ALWAYS", "AS") or self._match(TokenType.ALIAS)):
            return None
        expression = self._parse_wrapped(self._parse_disjunction)
        persisted = bool(self._match_texts(("STORED", "VIRTUAL"))) and self._prev.text.upper() == "STORED"
        return self.expression(exp.ColumnConstraint(
            kind=exp.ComputedColumnConstraint(this=expression, persisted=persisted)))

    def _parse_on_conflict_clause(self, constraint: exp.Expression) -> None:
        """``ON CONFLICT alt`` and ``AUTOINCREMENT`` after a column constraint.

        Stored on the constraint's ``kind`` as ``conflict`` (upper-case word, e.g.
        "REPLACE") and ``autoincrement`` (True); sqlglot's own ``on_conflict`` (set by
        UNIQUE) is moved to ``conflict`` so there is one place to read.
        """
        target = constraint.args.get("kind") or constraint
        if "conflict" not in target.arg_types:
            target = constraint
        stock = target.args.get("on_conflict")
        options = target.args.get("options") or []
        for option in options:  # PRIMARY KEY's, from _parse_key_constraint_options
            if option.startswith("ON CONFLICT "):
                target.set("options", [o for o in options if o is not option] or None)
                stock = option[len("ON CONFLICT "):]
        if stock is not None:
            target.set("on_conflict", None)
            target.set("conflict", (stock.name if isinstance(stock, exp.Expression) else str(stock)).upper())
        if self._match_text_seq("ON", "CONFLICT"):
            if not self._match_texts(self.INSERT_ALTERNATIVES):
                self.raise_error("Expected ROLLBACK, ABORT, FAIL, IGNORE or REPLACE")
            target.set("conflict", self._prev.text.upper())
        if self._match(TokenType.AUTO_INCREMENT) or self._match_text_seq("AUTOINCREMENT"):
            target.set("autoincrement", True)

    def _parse_key_constraint_options(self) -> list[str]:
        """PRIMARY KEY's options; SQLite's ``ON CONFLICT alt`` there is kept as the
        option "ON CONFLICT ALT" (the stock parser reads any ON as ON DELETE/UPDATE
        and fails on CONFLICT). lang_createtable: PRIMARY KEY ... conflict-clause."""
        if self._curr and self._curr.token_type == TokenType.ON and self._next \
                and self._next.text.upper() == "CONFLICT":
            self._advance(2)
            if not self._match_texts(self.INSERT_ALTERNATIVES):
                self.raise_error("Expected ROLLBACK, ABORT, FAIL, IGNORE or REPLACE")
            return [f"ON CONFLICT {self._prev.text.upper()}"]
        return super()._parse_key_constraint_options()

    def _parse_index_params(self) -> exp.IndexParameters:
        """Stock index parameters, except that ``ON CONFLICT`` after a table-level
        PRIMARY KEY (...) is left for _parse_key_constraint_options (stock reads ON
        as an index parameter)."""
        if self._curr and self._curr.token_type == TokenType.ON and self._next \
                and self._next.text.upper() == "CONFLICT":
            return self.expression(exp.IndexParameters())
        return super()._parse_index_params()

    def _parse_without_rowid(self) -> exp.Expression:
        if not self._match_text_seq("ROWID"):
            word = self._curr.text if self._curr else ""
            raise SqliteMessageError(f"unknown table option: {word}")
        return self.expression(exp.Property(this=exp.var("WITHOUT_ROWID"), value=exp.true()))

    def _parse_create(self) -> exp.Expression:
        """CREATE with SQLite's TEMP, TRIGGER, MATERIALIZED VIEW and table options."""
        start = self._index
        temporary = bool(self._match_texts(("TEMP", "TEMPORARY")))
        if self._match(TokenType.TRIGGER):
            return self._parse_create_trigger(temporary)
        if not temporary:
            self._retreat(start)
        create = super()._parse_create()
        if not isinstance(create, exp.Create):
            self.raise_error("Unsupported CREATE statement", self._tokens[start])
        if temporary:
            create.set("temporary", True)
        self._lift_create_properties(create)
        return create

    def _lift_create_properties(self, create: exp.Create) -> None:
        """Move SQLite's table options and view/temp flags from properties into args."""
        props = create.args.get("properties")
        if props is None:
            return
        keep = []
        for prop in props.expressions:
            if isinstance(prop, exp.StrictProperty):
                create.set("strict", True)
            elif isinstance(prop, exp.Property) and prop.name == "WITHOUT_ROWID":
                create.set("without_rowid", True)
            elif isinstance(prop, exp.TemporaryProperty):
                create.set("temporary", True)
            elif isinstance(prop, exp.MaterializedProperty):
                create.set("materialized", True)
                keep.append(prop)
            else:
                keep.append(prop)
        props.set("expressions", keep)
        if not keep:
            create.set("properties", None)

    def _parse_create_trigger(self, temporary: bool) -> CreateTrigger:
        """The rest of CREATE [TEMP] TRIGGER after the TRIGGER keyword (lang_createtrigger)."""
        exists = self._parse_exists(not_=True)
        name = self._parse_table_parts()
        timing = None
        if self._match_texts(("BEFORE", "AFTER")):
            timing = self._prev.text.upper()
        elif self._match_text_seq("INSTEAD", "OF"):
            timing = "INSTEAD OF"
        if not self._match_set((TokenType.INSERT, TokenType.DELETE, TokenType.UPDATE)):
            self.raise_error("Expected INSERT, DELETE or UPDATE")
        event = self._prev.text.upper()
        columns = None
        if event == "UPDATE" and self._match_text_seq("OF"):
            columns = self._parse_csv(self._parse_id_var)
        if not self._match(TokenType.ON):
            self.raise_error("Expected ON")
        table = self._parse_table_parts()
        for_each_row = bool(self._match_text_seq("FOR", "EACH", "ROW"))
        when = self._parse_disjunction() if self._match(TokenType.WHEN) else None
        if not self._match(TokenType.BEGIN):
            self.raise_error("Expected BEGIN")
        body = self._parse_trigger_body()
        return self.expression(CreateTrigger(
            this=name, temporary=temporary, exists=exists, timing=timing, event=event,
            columns=columns, table=table, for_each_row=for_each_row, when=when, body=body))

    def _parse_trigger_body(self) -> list[exp.Expression]:
        """``stmt ; [stmt ;]... END``: at least one INSERT/UPDATE/DELETE/SELECT."""
        body: list[exp.Expression] = []
        while True:
            curr = self._curr
            if curr and curr.token_type == TokenType.END and body:
                self._advance()
                return body
            if not curr or curr.text.upper() not in _TRIGGER_BODY_STARTS:
                self.raise_error("Expected a trigger body statement")
            start = self._index
            stmt = super()._parse_statement()
            if isinstance(stmt, (exp.Insert, exp.Update, exp.Delete)) and stmt.args.get("with_"):
                self._refuse_with_in_trigger(start)
            body.append(stmt)
            if not self._match(TokenType.SEMICOLON):
                self.raise_error("Expected ;")

    def _refuse_with_in_trigger(self, start: int) -> None:
        """SQLite's trigger grammar has WITH only on a SELECT: ``WITH x AS (...)
        INSERT ...`` in a trigger body fails at the INSERT (near "insert": syntax
        error), the first DML keyword after the WITH clause."""
        self._syntax_error_at_word(start, ("INSERT", "REPLACE", "UPDATE", "DELETE"))

    # -- errors -----------------------------------------------------------------

    def raise_error(self, message: str, token: Token | None = None) -> None:  # noqa: D401
        """Like sqlglot's, but always immediate and recording the failing offset.

        ``errors[0]["offset"]`` is the source offset of the token the parser failed
        at, or None when it ran out of tokens (SQLite's "incomplete input").
        """
        explicit = bool(token) and token is not self._prev
        token = token or self._curr  # sqlglot's end-of-input sentinel is falsy
        # Failing with every token consumed is SQLite's "incomplete input".
        offset = token.start if token and (self._curr or explicit) else None
        error = ParseError.new(message, description=message)
        error.errors[0]["offset"] = offset
        raise error


# ---------------------------------------------------------------------------
# Generator
# ---------------------------------------------------------------------------


def _transaction_sql(gen: SQLiteGenerator, e: exp.Transaction) -> str:
    return f"BEGIN {e.args.get('kind') or 'DEFERRED'}"


def _pragma_sql(gen: SQLiteGenerator, e: Pragma) -> str:
    name = e.args["name"]
    if e.args.get("schema"):
        name = f"{e.args['schema']}.{name}"
    value = e.args.get("value")
    if value is None:
        return f"PRAGMA {name}"
    value_sql = gen.sql(value)
    return f"PRAGMA {name}({value_sql})" if e.args.get("call") else f"PRAGMA {name} = {value_sql}"


def _vacuum_sql(gen: SQLiteGenerator, e: Vacuum) -> str:
    schema = f" {gen.sql(e.this)}" if e.this else ""
    into = f" INTO {gen.sql(e.args['into'])}" if e.args.get("into") else ""
    return f"VACUUM{schema}{into}"


def _trigger_sql(gen: SQLiteGenerator, e: CreateTrigger) -> str:
    parts = ["CREATE"]
    if e.args.get("temporary"):
        parts.append("TEMP")
    parts.append("TRIGGER")
    if e.args.get("exists"):
        parts.append("IF NOT EXISTS")
    parts.append(gen.sql(e.this))
    if e.args.get("timing"):
        parts.append(e.args["timing"])
    parts.append(e.args["event"])
    if e.args.get("columns"):
        parts.append("OF " + ", ".join(gen.sql(c) for c in e.args["columns"]))
    parts.append("ON " + gen.sql(e.args["table"]))
    if e.args.get("for_each_row"):
        parts.append("FOR EACH ROW")
    if e.args.get("when") is not None:
        parts.append("WHEN " + gen.sql(e.args["when"]))
    body = " ".join(gen.sql(s) + ";" for s in e.args["body"])
    parts.append(f"BEGIN {body} END")
    return " ".join(parts)


def _with_keyword(sql: str, keyword: str, extra: str) -> str:
    """Insert ``extra`` after the leading ``keyword`` of generated ``sql``."""
    return keyword + extra + sql[len(keyword):] if sql.startswith(keyword) else sql


def _parse_raise(self) -> exp.Expression:
    """``RAISE(IGNORE)`` / ``RAISE(ROLLBACK|ABORT|FAIL, message)`` (trigger programs):
    an ``exp.Anonymous`` named RAISE whose first argument is the action as ``exp.Var``
    (ROLLBACK and ABORT are keywords, so the generic argument parser rejects them)."""
    action = self._curr.text.upper() if self._curr else ""
    if action not in ("IGNORE", "ROLLBACK", "ABORT", "FAIL"):
        self.raise_error("Expected IGNORE, ROLLBACK, ABORT or FAIL")
    self._advance()
    args: list = [exp.Var(this=action)]
    if self._match(TokenType.COMMA):
        args.append(self._parse_disjunction())
    self._match_r_paren()
    return self.expression(exp.Anonymous(this="RAISE", expressions=args))


_Parser._parse_raise = _parse_raise


class _Generator(SQLiteGenerator):
    TRANSFORMS = {
        **SQLiteGenerator.TRANSFORMS,
        exp.Transaction: _transaction_sql,
        exp.Commit: lambda gen, e: "COMMIT",
        Savepoint: lambda gen, e: f"SAVEPOINT {gen.sql(e.this)}",
        Release: lambda gen, e: f"RELEASE {gen.sql(e.this)}",
        Explain: lambda gen, e: ("EXPLAIN QUERY PLAN " if e.args.get("query_plan") else "EXPLAIN ")
        + gen.sql(e.this),
        Vacuum: _vacuum_sql,
        Reindex: lambda gen, e: "REINDEX" + (f" {gen.sql(e.this)}" if e.this else ""),
        AnalyzeStmt: lambda gen, e: "ANALYZE" + (f" {gen.sql(e.this)}" if e.this else ""),
        Pragma: _pragma_sql,
        Variable: lambda gen, e: e.args["this"],
        UnaryPlus: lambda gen, e: f"+{gen.sql(e, 'this')}",
        CreateTrigger: _trigger_sql,
    }

    def create_sql(self, expression: exp.Create) -> str:
        """Stock CREATE plus TEMP, MATERIALIZED and the STRICT / WITHOUT ROWID options."""
        sql = super().create_sql(expression)
        if expression.args.get("materialized") and " MATERIALIZED VIEW " not in sql:
            sql = sql.replace("CREATE VIEW", "CREATE MATERIALIZED VIEW", 1)
        if expression.args.get("temporary") and not sql.startswith("CREATE TEMP"):
            sql = _with_keyword(sql, "CREATE", " TEMPORARY")
        options = [opt for arg, opt in (("strict", "STRICT"), ("without_rowid", "WITHOUT ROWID"))
                   if expression.args.get(arg)]
        if options:
            sql += " " + ", ".join(options)
        return sql

    def columndef_sql(self, expression: exp.ColumnDef, sep: str = " ") -> str:
        """A column with its declared type verbatim (affinity depends on that text)."""
        declared = expression.args.get("declared_type")
        if not declared:
            return super().columndef_sql(expression, sep)
        constraints = " ".join(self.sql(c) for c in expression.args.get("constraints") or [])
        return " ".join(x for x in (self.sql(expression, "this"), declared, constraints) if x)

    def columnconstraint_sql(self, expression: exp.ColumnConstraint) -> str:
        """Stock constraint plus SQLite's ON CONFLICT clause and AUTOINCREMENT."""
        sql = super().columnconstraint_sql(expression)
        kind = expression.args.get("kind")
        if kind is not None and kind.args.get("conflict"):
            sql += f" ON CONFLICT {kind.args['conflict']}"
        if kind is not None and kind.args.get("autoincrement"):
            sql += " AUTOINCREMENT"
        return sql

    def update_sql(self, expression: exp.Update) -> str:
        sql = super().update_sql(expression)
        alternative = expression.args.get("alternative")
        return _with_keyword(sql, "UPDATE", f" OR {alternative}") if alternative else sql


class TursoSQLite(SQLite):
    """SQLite as SQLite parses it: see the module docstring for the AST contract."""

    Tokenizer = _Tokenizer
    Parser = _Parser
    Generator = _Generator
