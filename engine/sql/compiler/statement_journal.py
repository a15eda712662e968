"""Whether a write statement runs under a statement journal, as SQLite decides it.

SQLite opens a statement journal (a savepoint that undoes the statement) only when
the statement both writes more than one row (``isMultiWrite``: INSERT from a SELECT
or a multi-row VALUES, any UPDATE, a statement firing triggers) and may abort
(``mayAbort``: it codes a constraint check resolved by ABORT, an immediate foreign
key check, a function call or a RAISE(ABORT), its triggers' included); vdbeaux.c
``usesStmtJournal`` and ``sqlite3VdbeAddFunctionCall``, build.c
``sqlite3MayAbort``/``sqlite3MultiWrite``. A constraint violation is
resolved by its conflict action either way, but an error that is no constraint
violation (a datatype mismatch such as a text rowid, a function error) inside an
explicit transaction undoes the statement only when the journal exists; without it
the rows written before the error stay (vdbeaux.c, sqlite3VdbeHalt: the statement
rollback finds no journal). In autocommit mode such an error rolls the whole
transaction back whatever the journal.

The decision is made at compile time from the schema, except foreign keys, whose
PRAGMA can change without a schema change: ``JournalRule.applies(session)``.
"""

from __future__ import annotations

from sqlglot import exp

from engine.sql.parse import parse_one

ABORT = "ABORT"


class JournalRule:
    """How one compiled write statement decides whether it has a statement journal.

    ``multi_write``: SQLite's isMultiWrite; ``may_abort``: mayAbort from the schema's
    constraints; ``fk_abort``: mayAbort once PRAGMA foreign_keys is ON (an immediate
    foreign key this statement checks). ``applies`` is O(1).
    """

    __slots__ = ("multi_write", "may_abort", "fk_abort")

    def __init__(self, multi_write: bool, may_abort: bool, fk_abort: bool):
        self.multi_write = multi_write
        self.may_abort = may_abort
        self.fk_abort = fk_abort

    def applies(self, session) -> bool:
        """True when the statement runs under a statement journal in ``session``."""
        return self.multi_write and (self.may_abort or (self.fk_abort and session.foreign_keys))


ALWAYS = JournalRule(True, True, True)

# Functions SQLite codes inline (SQLITE_FUNC_INLINE): no OP_Function, no mayAbort.
_INLINE_FUNCTIONS = frozenset(("coalesce", "ifnull", "iif", "likely", "unlikely",
                               "likelihood", "affinity", "sqlite_offset"))
# Operators SQLite implements as function calls (like(), glob(), regexp(), ->, ->>,
# the date/time keywords).
_FUNCTION_OPERATORS = (exp.Like, exp.ILike, exp.Glob, exp.RegexpLike, exp.JSONExtract,
                       exp.JSONExtractScalar, exp.CurrentDate, exp.CurrentTime,
                       exp.CurrentTimestamp)


def codes_function_call(node) -> bool:
    """Whether SQLite's code for ``node`` calls a function: sqlite3VdbeAddFunctionCall
    sets mayAbort (a function may raise an error), so a write statement with any
    scalar function call anywhere has a statement journal. Aggregates step without
    it; RAISE(ABORT) sets it too. O(size of node)."""
    from engine.sql.functions import lookup_aggregate
    for n in node.walk():
        if isinstance(n, _FUNCTION_OPERATORS):
            return True
        if isinstance(n, exp.Anonymous):
            name = n.name.lower()
            if name == "raise":
                first = n.expressions[0] if n.expressions else None
                if first is not None and first.name.upper() == "ABORT":
                    return True
                continue
            if name in _INLINE_FUNCTIONS:
                continue
            args = n.expressions
            if args and isinstance(args[0], exp.Distinct):
                args = list(args[0].expressions) + list(args[1:])
            if lookup_aggregate(name, len(args)) is not None and not \
                    (name in ("min", "max") and len(args) > 1):
                continue
            return True
    return False


def _schema_calls_function(sqls) -> bool:
    """Whether any of the schema expression texts ``sqls`` calls a function."""
    for text in sqls:
        if text and "(" in text:
            try:
                if codes_function_call(parse_one(f"SELECT {text}")):
                    return True
            except Exception:
                return True
    return False


def _statement_calls_function(node, table, triggers, changed, given=()) -> bool:
    """Whether the statement's code calls a function (codes_function_call): in its own
    text, its triggers' bodies, the CHECK constraints it tests, the DEFAULTs an INSERT
    fills in (``changed`` None, ``given`` the positions it sets; an UPDATE sets
    ``changed``), generated columns (sqlite3ComputeGeneratedColumns computes them
    all to write a row), and the expressions and WHERE clauses of the indexes it
    maintains."""
    if codes_function_call(node):
        return True
    for trigger in (triggers.before + triggers.after) if triggers else ():
        if codes_function_call(trigger.node):
            return True
    schema = table.schema
    texts = [c.generated_sql for c in schema.columns]
    if changed is None:
        texts += [c.default_sql for i, c in enumerate(schema.columns) if i not in given]
    for check in schema.checks:
        names = None if changed is None else _check_columns(check.sql)
        if changed is None or names is None or names & changed:
            texts.append(check.sql)
    for ix in table.indexes:
        texts.append(ix.schema.where_sql)
        texts += [part.expr_sql for part in ix.schema.columns]
    return _schema_calls_function(texts)


def _resolution(stated, declared) -> str:
    """The action SQLite codes for one constraint: the statement's OR clause, else the
    constraint's own ON CONFLICT clause, else ABORT (lang_conflict.html)."""
    return (stated or declared or ABORT).upper()


def _fk_aborts(session, schema, changed, replaces) -> bool:
    """Whether, with PRAGMA foreign_keys ON, a write to ``schema`` codes a foreign key
    step that may abort (fkey.c): an immediate REFERENCES of ``schema`` whose columns
    are written, or an immediate constraint naming ``schema`` as parent whose key
    columns change and whose ON UPDATE is not SET NULL (a CASCADE's nested UPDATE
    checks the child again; SET NULL repairs the violation); a REPLACE resolution (``replaces``) on a table in any foreign key deletes
    rows through the foreign key logic. ``changed``: lower-cased column names an
    UPDATE sets (None: an INSERT, which checks its own REFERENCES only)."""
    from engine.sql.compiler.foreign_keys import constraints_of, foreign_keys_of
    if session.txn is None:
        return True
    catalog = session.txn.catalog
    try:
        children = constraints_of(catalog, schema) if schema.foreign_keys else []
        parents = [] if changed is None else \
            foreign_keys_of(catalog).by_parent.get(schema.name.lower(), [])
    except Exception:  # a foreign key mismatch surfaces when the statement runs
        return True
    if replaces and (children or foreign_keys_of(catalog).by_parent.get(schema.name.lower())):
        return True
    names = [c.name.lower() for c in schema.columns]
    for c in children:
        if not c.deferred and (changed is None or any(
                p is not None and names[p] in changed for p in c.child_cols)):
            return True
    for c in parents:
        cols = c.parent_cols or ()
        if not c.deferred and c.on_update != "SET NULL" and any(
                p is not None and names[p] in changed for p in cols):
            return True
    return False


def _unique_constraints(table):
    """``[(column positions, declared conflict)]`` of every UNIQUE index of ``table``
    and of a WITHOUT ROWID table's primary key."""
    schema = table.schema
    out = [(tuple(c.column for c in ix.schema.columns), ix.schema.conflict)
           for ix in table.unique_indexes]
    if schema.without_rowid:
        out.append((tuple(schema.primary_key), schema.pk_conflict))
    return out


def _check_columns(check_sql: str) -> set | None:
    """Lower-cased column names a CHECK expression reads (None: unknown)."""
    try:
        node = parse_one(f"SELECT {check_sql}")
    except Exception:
        return None
    return {c.name.lower() for c in node.find_all(exp.Column)}


def _upsert_covered(upsert, schema):
    """Column-position sets whose uniqueness an upsert DO NOTHING resolves (None: all
    of them, an upsert without a target); ``False`` when an upsert DO UPDATE makes the
    statement code a nested UPDATE (treated as may-abort)."""
    covered = set()
    clauses = upsert if isinstance(upsert, list) else [upsert]
    for clause in clauses:
        action = clause.args.get("action")
        if action is not None and "UPDATE" in action.sql().upper():
            return False
        target = clause.args.get("conflict_keys") or []
        if not target:
            return None
        names = [(k.this if isinstance(k, exp.Ordered) else k) for k in target]
        cols = [schema.column(getattr(k, "name", "")) for k in names]
        if schema.rowid_alias is None:
            cols = [-1 if c is None and getattr(k, "name", "").lower() in
                    ("rowid", "oid", "_rowid_") else c for k, c in zip(names, cols)]
        covered.add(tuple(sorted(c for c in cols if c is not None)))
    return covered


def _replaces(stated, table, rowid_checked) -> bool:
    """Whether some uniqueness check of ``table`` resolves by REPLACE."""
    schema = table.schema
    if rowid_checked and _resolution(stated, schema.pk_conflict) == "REPLACE":
        return True
    return any(_resolution(stated, declared) == "REPLACE"
               for _cols, declared in _unique_constraints(table))


def insert_rule(session, node, table, stated, positions, single_row, triggers,
                upsert) -> JournalRule:
    """The JournalRule of INSERT ``node`` into ``table`` (sqlite3Insert and
    sqlite3GenerateConstraintChecks): ``positions`` are the columns given (-1 the
    rowid), ``single_row`` a one-row VALUES or DEFAULT VALUES. O(statement size +
    columns + indexes)."""
    schema = table.schema
    multi = not single_row or bool(triggers)
    alias = schema.rowid_alias
    rowid_checked = not schema.without_rowid and (
        -1 in positions or (alias is not None and alias in positions))
    fk = _fk_aborts(session, schema, None, _replaces(stated, table, rowid_checked))
    if (triggers and _resolution(stated, None) == ABORT) or \
            _statement_calls_function(node, table, triggers, None, set(positions)):
        return JournalRule(multi, True, fk)  # trigger bodies inherit the OR clause
    covered = set() if upsert is None else _upsert_covered(upsert, schema)
    if covered is False:
        return JournalRule(multi, True, fk)

    def aborts(cols, declared):
        if covered is None or tuple(sorted(cols)) in covered:
            return False
        return _resolution(stated, declared) == ABORT

    if rowid_checked and aborts((alias,) if alias is not None else (-1,), schema.pk_conflict):
        return JournalRule(multi, True, fk)
    for cols, declared in _unique_constraints(table):
        if aborts(cols, declared):
            return JournalRule(multi, True, fk)
    return JournalRule(multi, _not_null_or_check_aborts(schema, stated, None), fk)


def _not_null_or_check_aborts(schema, stated, changed) -> bool:
    """Whether a NOT NULL or CHECK constraint is coded with ABORT (REPLACE acts as
    ABORT on a CHECK, and on a NOT NULL column in the check's second pass). ``changed``: lower-cased names of
    the columns an UPDATE sets (None: an INSERT, every constraint is checked)."""
    for pos, col in enumerate(schema.columns):
        if not col.not_null or pos == schema.rowid_alias:
            continue
        if changed is not None and col.name.lower() not in changed:
            continue
        # REPLACE is ABORT without a DEFAULT, and on the second pass it takes with one
        if _resolution(stated, col.not_null_conflict) in (ABORT, "REPLACE"):
            return True
    if schema.checks and _resolution(stated, None) in (ABORT, "REPLACE"):
        if changed is None:
            return True
        for check in schema.checks:
            names = _check_columns(check.sql)
            if names is None or names & changed:
                return True
    return False


def update_rule(session, node, table, stated, assigned, triggers) -> JournalRule:
    """The JournalRule of UPDATE ``node`` of ``table`` setting the lower-cased column
    names ``assigned`` (sqlite3Update: a new rowid rewrites every index). O(statement
    size + columns + indexes)."""
    schema = table.schema
    alias = schema.rowid_alias
    changed = set(assigned)
    rowid_changed = not schema.without_rowid and bool(
        changed & {"rowid", "oid", "_rowid_"} or
        (alias is not None and schema.columns[alias].name.lower() in changed))
    if rowid_changed and alias is not None:
        changed.add(schema.columns[alias].name.lower())
    touched = [(cols, declared) for cols, declared in _unique_constraints(table)
               if rowid_changed or any(c is None or schema.columns[c].name.lower() in changed
                                       for c in cols)]
    replaces = (rowid_changed and _resolution(stated, schema.pk_conflict) == "REPLACE") or \
        any(_resolution(stated, declared) == "REPLACE" for _cols, declared in touched)
    fk = _fk_aborts(session, schema, changed, replaces)
    if (triggers and _resolution(stated, None) == ABORT) or \
            _statement_calls_function(node, table, triggers, changed):
        return JournalRule(True, True, fk)
    if rowid_changed and _resolution(stated, schema.pk_conflict) == ABORT:
        return JournalRule(True, True, fk)
    if any(_resolution(stated, declared) == ABORT for _cols, declared in touched):
        return JournalRule(True, True, fk)
    return JournalRule(True, _not_null_or_check_aborts(schema, stated, changed), fk)
