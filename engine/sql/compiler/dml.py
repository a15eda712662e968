"""INSERT, UPDATE and DELETE: compiled once, run against the session's transaction.

Each statement first gathers the rows it will touch (so a statement never sees
its own writes: the "Halloween problem"), then writes them through the
transaction, which applies affinity and checks every constraint. Statement
atomicity (ABORT undoes the statement's earlier rows) is the session's
per-statement savepoint; FAIL keeps them; ROLLBACK ends the transaction.
"""

from __future__ import annotations

from contextlib import contextmanager

from sqlglot import exp

from engine.errors import Error, IntegrityError, OperationalError
from engine.sql.compiler import instead_of
from engine.sql.compiler.expr import ExprCompiler
from engine.sql.compiler.query import Planner, QueryPlan, _conjuncts
from engine.sql.compiler.scope import ColumnMeta, Scope, Source
from engine.sql.dialect import Variable
from engine.sql.compiler.statement_journal import ALWAYS, insert_rule, update_rule
from engine.transaction import constraint_error

CONFLICT_IGNORE = "IGNORE"


def conflict_applies(exc) -> bool:
    """Whether an OR IGNORE / OR FAIL resolution applies to ``exc``: it does to
    constraint violations, never to a datatype mismatch (SQLITE_MISMATCH, such as a
    non-integer rowid), which aborts the statement whatever the conflict clause."""
    return str(exc) != "datatype mismatch"


def _not_null_plan(schema, defaults, stated):
    """How each NOT NULL column resolves a NULL, when that is more than failing.

    ``stated`` is the statement's OR clause (None when absent: each column's own
    ``NOT NULL ON CONFLICT`` clause applies, ABORT by default). Returns
    ``[(position, action, default fn or None)]`` for the NOT NULL columns in column
    order, or None when every NULL simply fails the statement (Table.prepare's check,
    with the statement's own IGNORE/FAIL/ROLLBACK handled by the caller). REPLACE
    without a DEFAULT is ABORT (insert.c, sqlite3GenerateConstraintChecks).
    """
    default_of = dict(defaults)
    plan = []
    special = False
    for pos, col in enumerate(schema.columns):
        if not col.not_null or col.generated_sql or pos == schema.rowid_alias:
            continue
        action = stated or col.not_null_conflict or "ABORT"
        fn = default_of.get(pos)
        if action == "REPLACE" and fn is None:
            action = "ABORT"
        if action == "REPLACE" or (stated is None and action != "ABORT"):
            special = True
        plan.append((pos, action, fn))
    return plan if special else None


def _resolve_nulls(row, plan, schema):
    """``row`` after the NOT NULL resolutions of ``plan`` (see _not_null_plan): a NULL
    under REPLACE takes the column's default, under IGNORE the row is skipped (None is
    returned), under ABORT/FAIL/ROLLBACK the statement fails; the first NULL in column
    order decides. A default that is itself NULL fails later in Table.prepare (SQLite's
    second pass treats REPLACE as ABORT). O(NOT NULL columns)."""
    for pos, _action, _fn in plan:
        if row[pos] is None:
            break
    else:
        return row
    row = list(row)
    for pos, action, fn in plan:
        if row[pos] is None:
            if action == "REPLACE":
                row[pos] = fn()
            elif action == "IGNORE":
                return None
            else:
                raise constraint_error(
                    f"NOT NULL constraint failed: {schema.name}.{schema.columns[pos].name}",
                    action)
    return row


def failure_action(exc, conflict: str) -> str:
    """How a write statement whose OR clause is ``conflict`` ends after ``exc``: ABORT
    (undo the statement), FAIL (keep its earlier rows) or ROLLBACK (end the
    transaction). A constraint's own clause or a trigger's RAISE decides when it
    marked the error (constraint_error); other constraint violations take the
    statement's clause; anything else (a datatype mismatch, a function error) aborts."""
    if not isinstance(exc, IntegrityError):
        return "ABORT"
    action = getattr(exc, "conflict_action", None)
    if action is None:
        action = conflict if conflict in ("FAIL", "ROLLBACK") and conflict_applies(exc) \
            else "ABORT"
    return action


def _note_failure(session, exc, conflict, count, journal=ALWAYS, last=None):
    """After a write statement failed with ``exc``: mark the error with how the
    statement ends (failure_action, read by the session); under FAIL its earlier rows
    stay and changes() counts them, otherwise changes() is 0 (vdbeaux.c,
    sqlite3VdbeHalt). A datatype mismatch (no constraint violation) keeps the earlier
    rows too, with changes() 0, inside an explicit transaction when the statement has
    no statement journal (``journal``, see statement_journal). ``last``: the rowid of the
    statement's last inserted row, which last_insert_rowid() keeps in any case."""
    action = failure_action(exc, conflict)
    if isinstance(exc, IntegrityError):
        exc.conflict_action = action
        exc._rollback_txn = action == "ROLLBACK"
    if isinstance(exc, Error):
        keep = action == "FAIL"
        if not keep and session.explicit and isinstance(exc, IntegrityError) and \
                not conflict_applies(exc):
            # a datatype mismatch (raised as the row is written, as in SQLite; a
            # function error may come earlier there, where constants are factored)
            keep = not journal.applies(session)
        exc._keep_statement = keep
    session.note_changes(count if action == "FAIL" else 0, last)


class DmlPlan:
    """A compiled write statement: ``run()`` performs it and returns RETURNING rows."""

    def __init__(self, run, columns=None, conflict="ABORT"):
        self.run = run
        self.columns = columns  # RETURNING columns, or None
        self.conflict = conflict


def _table_scope(planner: Planner, table, alias=None, parent=None):
    scope = Scope(parent=parent)
    source, _ = planner._table_source(table, alias or table.name)
    scope.add(source)
    return scope, source


def _returning(node, planner, scope):
    ret = node.args.get("returning")
    if ret is None:
        return None, None
    comp = ExprCompiler(scope, planner.rt, planner=planner)
    items = planner._expand_stars(ret.expressions, scope)
    compiled = [comp.compile(i) for i in items]
    from engine.sql.compiler.query import _output_meta
    columns = [_output_meta(i, c) for i, c in zip(items, compiled)]
    fns = [c.fn for c in compiled]
    return columns, (lambda row: tuple(f(row) for f in fns))


def _target_table(planner, node_table):
    name = node_table.name
    session = planner.session
    table = session.table_for_query(name)
    if table is None:
        if session.view_for_query(name) is not None:
            raise OperationalError(f"cannot modify {name} because it is a view")
        raise OperationalError(f"no such table: {name}")
    return table


@contextmanager
def with_ctes(planner: Planner, node, parent: Scope | None = None):
    """``WITH ... INSERT/UPDATE/DELETE``: the CTEs are in scope for every query of
    the statement (the INSERT's SELECT, subqueries in SET, WHERE and RETURNING),
    as ``Planner.query`` scopes a SELECT's own WITH."""
    with_ = node.args.get("with_")
    if with_ is None:
        yield
        return
    planner.ctes.append(planner._cte_map(with_, parent))
    try:
        yield
    finally:
        planner.ctes.pop()


def compile_insert(node: exp.Insert, planner: Planner, parent: Scope | None = None) -> DmlPlan:
    """Compile an INSERT (its WITH clause's CTEs in scope: ``with_ctes``)."""
    with with_ctes(planner, node, parent):
        return _compile_insert(node, planner, parent)


def _compile_insert(node: exp.Insert, planner: Planner, parent: Scope | None = None) -> DmlPlan:
    view = instead_of.view_target(planner, node, "INSERT")
    if view is not None:
        return instead_of.compile_view_insert(node, planner, view, parent)
    target = node.this
    columns_given = None
    if isinstance(target, exp.Schema):
        columns_given = [c.name for c in target.expressions]
        target = target.this
    table = _target_table(planner, target)
    schema = table.schema
    ncols = len(schema.columns)
    if columns_given is not None:
        positions = []
        for name in columns_given:
            pos = schema.column(name)
            if pos is None:
                if name.lower() in ("rowid", "oid", "_rowid_") and not schema.without_rowid:
                    pos = -1
                else:
                    raise OperationalError(f"table {schema.name} has no column named {name}")
            elif schema.columns[pos].generated_sql:
                raise OperationalError(f'cannot INSERT into generated column "{name}"')
            positions.append(pos)
    elif node.args.get("default"):
        positions = []  # DEFAULT VALUES: every column takes its default
    else:
        positions = [i for i, c in enumerate(schema.columns) if not c.generated_sql]
    stated = node.args.get("alternative")
    conflict = (stated or "ABORT").upper()  # parsed as written
    # what the transaction resolves UNIQUE/PRIMARY KEY conflicts with; None: each
    # constraint's own ON CONFLICT clause (lang_conflict)
    row_conflict = stated.upper() if stated else None
    source_rows, width = _insert_source(node, planner, positions, schema, columns_given, parent)
    defaults = planner.session.column_defaults(table)
    scope, _src = _table_scope(planner, table, target.alias or None, parent=parent)
    triggers = planner.session.triggers(schema, "INSERT")
    upsert = update_triggers = None
    if node.args.get("conflict") is not None:
        from engine.sql.compiler.upsert import compile_upsert
        upsert = compile_upsert(node.args["conflict"], planner, table, scope)
        update_triggers = planner.session.triggers(schema, "UPDATE")
    ret_cols, ret_fn = _returning(node, planner, scope)
    source = node.expression
    single_row = node.args.get("default") or source is None or (
        isinstance(source, exp.Values) and len(source.expressions) == 1)
    journal = insert_rule(planner.session, node, table, stated, positions, single_row,
                          triggers, node.args.get("conflict"))
    rt = planner.rt
    name = schema.name
    has_rowid_target = -1 in positions
    session = planner.session
    without_rowid = schema.without_rowid

    given = set(positions)
    missing_defaults = [(pos, fn) for pos, fn in defaults if pos not in given]
    null_plan = _not_null_plan(schema, defaults, row_conflict)
    # Every column given in declared order and nothing to default: the row is the values.
    direct = positions == list(range(ncols)) and not missing_defaults
    if direct and single_row and isinstance(source, exp.Values) and not triggers \
            and null_plan is None and upsert is None and ret_fn is None:
        row_of = _single_row_source(source, planner, parent)
        return DmlPlan(_single_insert_run(session, rt, name, row_of, row_conflict, conflict,
                                          journal, without_rowid), ret_cols, conflict)
    before_triggers = triggers.before if triggers else None
    after_triggers = triggers.after if triggers else None

    def run():
        txn = rt.txn
        out = []
        count = 0
        last = None
        try:
            for key in insert_rows(txn, out):
                count += 1
                if key is not None and not without_rowid:
                    last = key
        except BaseException as exc:
            _note_failure(session, exc, conflict, count, journal, last)
            raise
        session.note_changes(count, last)
        return out

    def insert_rows(txn, out):
        """Insert each source row; yield the key of each row written (None for a row
        an upsert updated)."""
        for values in source_rows():
            explicit_rowid = None
            if direct:
                row = values
            else:
                row = [None] * ncols
                for pos, v in zip(positions, values):
                    if pos == -1:
                        explicit_rowid = v
                    else:
                        row[pos] = v
                for pos, fn in missing_defaults:
                    row[pos] = fn()
            if has_rowid_target and schema.rowid_alias is not None and explicit_rowid is not None:
                row[schema.rowid_alias] = explicit_rowid
                explicit_rowid = None
            if before_triggers:
                rid = explicit_rowid if schema.rowid_alias is None else row[schema.rowid_alias]
                if not triggers.fire_before(txn, tuple(row) + (rid,), None):
                    continue
            if null_plan is not None:
                row = _resolve_nulls(row, null_plan, schema)
                if row is None:
                    continue
            try:
                if upsert is not None:
                    hit = upsert.find(txn, tuple(row), explicit_rowid)
                    if hit is not None:
                        clause, other, excluded = hit
                        k = None if clause.nothing else \
                            upsert.update(txn, clause, other, excluded, update_triggers)
                        if k is not None:
                            yield None  # counted; last_insert_rowid unchanged
                            if ret_fn is not None:
                                stored = txn.get(name, k)
                                out.append(ret_fn(stored if schema.without_rowid
                                                  else stored + (k,)))
                        continue
                key = txn.insert(name, tuple(row), rowid=explicit_rowid,
                                 conflict=row_conflict)
            except IntegrityError as exc:
                if conflict == CONFLICT_IGNORE and conflict_applies(exc):
                    continue
                raise
            if key is None:
                continue
            yield key
            if after_triggers:
                stored = txn.get(name, key)
                triggers.fire_after(txn, stored + (key,), None)
            if ret_fn is not None:
                stored = txn.get(name, key)
                out.append(ret_fn(stored + (key,) if not schema.without_rowid else stored))
    return DmlPlan(run, ret_cols, conflict)


def _single_row_source(values: exp.Values, planner, parent=None):
    """How to build the row of a one-row ``VALUES (...)`` already checked for width:
    ``("params", list)`` when the values are the parameters ?1..?n in order (the row
    is the bound list itself), ``("const", tuple)`` when they are all literals, else
    ``("fns", [fn])`` to evaluate. Saves a call per value on the INSERT hot path."""
    tup = values.expressions[0]
    items = tup.expressions if isinstance(tup, exp.Tuple) else [tup]
    if all(isinstance(e, Variable) and e.args.get("number") == i + 1
           for i, e in enumerate(items)):
        return "params", planner.rt.params
    comp = ExprCompiler(Scope(parent=parent), planner.rt, planner=planner)
    fns = [comp.fn(e) for e in items]
    if all(isinstance(e, (exp.Literal, exp.Null)) for e in items):
        return "const", tuple([f(()) for f in fns])
    return "fns", fns


def _single_insert_run(session, rt, name, row_of, row_conflict, conflict, journal,
                       without_rowid):
    """``run()`` of a plain one-row INSERT (every column in order, no defaults to fill,
    no triggers, NOT NULL resolutions, upsert or RETURNING): compile_insert's general
    loop for exactly one row, with changes() and last_insert_rowid noted inline."""
    how, source = row_of
    from_params = how == "params"
    constant = source if how == "const" else None

    def run():
        try:
            if from_params:
                row = tuple(source)
            elif constant is not None:
                row = constant
            else:
                row = tuple([f(()) for f in source])
            try:
                key = rt.txn.insert(name, row, None, row_conflict)
            except IntegrityError as exc:
                if conflict == CONFLICT_IGNORE and conflict_applies(exc):
                    key = None
                else:
                    raise
        except BaseException as exc:
            _note_failure(session, exc, conflict, 0, journal, None)
            raise
        if key is None:
            session.changes = 0
        else:
            session.changes = 1
            session.total_changes += 1
            if not without_rowid:
                session.last_insert_rowid = key
        return []
    return run


def _insert_source(node, planner, positions, schema, columns_given, parent=None):
    """``(rows_fn, width)``: the VALUES / SELECT / DEFAULT VALUES rows to insert."""
    expr = node.expression
    n = len(positions)
    if node.args.get("default") or expr is None:
        return (lambda: iter([()])), 0
    if isinstance(expr, exp.Values):
        values_scope = Scope(parent=parent)
        comp = ExprCompiler(values_scope, planner.rt, planner=planner)
        rows = []
        for tup in expr.expressions:
            items = tup.expressions if isinstance(tup, exp.Tuple) else [tup]
            if len(items) != n:
                _count_error(schema, columns_given, n, len(items))
            rows.append([comp.fn(e) for e in items])

        def values():
            for fns in rows:
                yield [f(()) for f in fns]
        return values, n
    plan: QueryPlan = planner.query(expr, parent)
    if len(plan.columns) != n:
        _count_error(schema, columns_given, n, len(plan.columns))

    def selected():
        return iter(list(plan.run()))
    return selected, n


def _count_error(schema, columns_given, expected, got):
    if columns_given is None:
        raise OperationalError(
            f"table {schema.name} has {expected} columns but {got} values were supplied")
    raise OperationalError(f"{got} values for {expected} columns")


def _matching_rows(planner, table, where, scope, source):
    """A function returning the ``(key, row)`` pairs a WHERE selects (materialized)."""
    comp = ExprCompiler(scope, planner.rt, planner=planner)
    conjuncts = _conjuncts(where.this) if where is not None else []
    rows = planner._table_access(source, conjuncts, comp, scope)
    with_rowid = source.rowid_slot is not None
    width = len(table.schema.columns)
    pk_key = table.pk_key

    def collect():
        out = []
        for r in rows():
            if with_rowid:
                out.append((r[width], r))
            else:
                out.append((pk_key(r), r))
        return out
    return collect


def apply_assignments(sets, env_row, values, schema):
    """UPDATE's SET list applied to one row: ``(new values list, new rowid or None)``.

    ``sets`` holds ``(position, fn)`` (position -1 = the rowid); each ``fn`` reads
    ``env_row``. A new rowid also lands in the INTEGER PRIMARY KEY column.
    """
    new = list(values)
    new_key = None
    for pos, fn in sets:
        v = fn(env_row)
        if pos == -1:
            new_key = v
        else:
            new[pos] = v
    if new_key is not None and schema.rowid_alias is not None:
        new[schema.rowid_alias] = new_key
    return new, new_key


def compile_update(node: exp.Update, planner: Planner, parent: Scope | None = None) -> DmlPlan:
    """Compile a UPDATE (its WITH clause's CTEs in scope: ``with_ctes``)."""
    with with_ctes(planner, node, parent):
        return _compile_update(node, planner, parent)


def _compile_update(node: exp.Update, planner: Planner, parent: Scope | None = None) -> DmlPlan:
    view = instead_of.view_target(planner, node, "UPDATE")
    if view is not None:
        return instead_of.compile_view_update(node, planner, view, parent)
    target = node.this
    table = _target_table(planner, target)
    schema = table.schema
    scope, source = _table_scope(planner, table, target.alias or None, parent)
    comp = ExprCompiler(scope, planner.rt, planner=planner)
    sets = []
    assigned = set()
    for eq in node.expressions:
        col = eq.this
        names = [c.name for c in col.expressions] if isinstance(col, exp.Tuple) else [col.name]
        for name in names:
            pos = schema.column(name)
            if pos is None and name.lower() in ("rowid", "oid", "_rowid_") and not schema.without_rowid:
                pos = -1
            if pos is None:
                raise OperationalError(f"no such column: {name}")
            if pos >= 0 and schema.columns[pos].generated_sql:
                raise OperationalError(f'cannot UPDATE generated column "{name}"')
        if len(names) != 1:
            raise OperationalError("not supported by turso_stream yet: row-value assignment")
        assigned.add(names[0].lower())
        if node.args.get("from_") is not None:
            sets.append((pos, None))
        else:
            sets.append((pos, comp.fn(eq.expression)))
    triggers = planner.session.triggers(schema, "UPDATE")
    stated = node.args.get("alternative")
    conflict = (stated or "ABORT").upper()  # parsed as written
    row_conflict = stated.upper() if stated else None  # None: the constraints' own
    null_plan = _not_null_plan(schema, planner.session.column_defaults(table), row_conflict)
    # OR REPLACE (stated, or declared on a UNIQUE/PRIMARY KEY) may delete other rows
    reread = conflict == "REPLACE" or (row_conflict is None and _declares_replace(schema))
    if node.args.get("from_") is not None:
        matching, values = _joined_rows(node, planner, table, parent)
        sets = [(pos, lambda _row, j=j: values[0][j]) for j, (pos, _f) in enumerate(sets)]
    else:
        matching = _matching_rows(planner, table, node.args.get("where"), scope, source)
    ret_cols, ret_fn = _returning(node, planner, scope)
    journal = update_rule(planner.session, node, table, stated, assigned, triggers)
    rt = planner.rt
    name = schema.name
    with_rowid = not schema.without_rowid
    cell = scope.cell
    session = planner.session

    def run():
        txn = rt.txn
        out = []
        count = 0
        try:
            for _k in update_rows(txn, out):
                count += 1
        except BaseException as exc:
            _note_failure(session, exc, conflict, count, journal)
            raise
        session.note_changes(count, None)
        return out

    def update_rows(txn, out):
        """Update each matching row; yield once per row written."""
        for key, row in matching():
            if reread:
                # OR REPLACE may have deleted this row or moved another onto its key:
                # SQLite updates whatever row holds the key now (it keeps rowids only)
                current = txn.get(name, key)
                if current is None:
                    continue
                row = current + (key,) if with_rowid else current
            cell[0] = row
            new, new_key = apply_assignments(sets, row, row[:len(schema.columns)], schema)
            old_full = row if with_rowid else row + (None,)
            if triggers and triggers.before:
                nk = new_key if new_key is not None else key
                if not triggers.fire_before(txn, tuple(new) + (nk if with_rowid else None,),
                                            old_full, assigned):
                    continue
                if txn.get(name, key) is None:
                    continue  # a BEFORE trigger deleted the row
            if null_plan is not None:
                new = _resolve_nulls(new, null_plan, schema)
                if new is None:
                    continue
            try:
                if new_key is not None and schema.rowid_alias is None:
                    txn.delete(name, key)
                    k = txn.insert(name, tuple(new), rowid=new_key, conflict=row_conflict)
                else:
                    k = txn.update(name, key, tuple(new), conflict=row_conflict)
            except IntegrityError as exc:
                if conflict == CONFLICT_IGNORE and conflict_applies(exc):
                    continue
                raise
            if k is None:
                continue
            yield k
            stored = None
            if triggers and triggers.after:
                stored = txn.get(name, k)
                triggers.fire_after(txn, stored + (k if with_rowid else None,), old_full,
                                    assigned)
            if ret_fn is not None:
                stored = txn.get(name, k)
                out.append(ret_fn(stored + (k,) if with_rowid else stored))
    return DmlPlan(run, ret_cols, conflict)


def _declares_replace(schema) -> bool:
    """Whether a UNIQUE or PRIMARY KEY constraint of ``schema`` says ON CONFLICT REPLACE."""
    return schema.pk_conflict == "REPLACE" or any(
        c == "REPLACE" for _cols, c in schema.unique_sets)


def _joined_rows(node, planner, table, parent):
    """UPDATE ... FROM (SQLite 3.33+): the target joined with the FROM items under the
    WHERE, as one SELECT of the target's columns, its rowid and the SET values.

    Returns ``(matching, values)``: ``matching()`` yields ``(key, target row)`` once
    per target row (its first joined match, as SQLite uses an arbitrary one) and
    leaves that match's SET values in ``values[0]`` while the caller handles it.
    """
    schema = table.schema
    target = node.this
    alias = target.alias or target.name
    first = node.args["from_"].this.copy()
    joins = [j.copy() for j in first.args.get("joins") or []]
    first.set("joins", None)
    items = [exp.column(c.name, table=alias, quoted=True) for c in schema.columns]
    if not schema.without_rowid:
        items.append(exp.column("rowid", table=alias))
    width = len(items)
    items += [eq.expression.copy() for eq in node.expressions]
    select = exp.Select(expressions=items, from_=exp.From(this=target.copy()),
                        joins=[exp.Join(this=first, kind="CROSS")] + joins,
                        where=node.args.get("where"))
    plan = planner.query(select, parent)
    with_rowid = not schema.without_rowid
    pk_key = table.pk_key
    values = [None]

    def matching():
        seen = set()
        found = []
        for r in plan.run():
            row = tuple(r[:width])
            key = row[-1] if with_rowid else pk_key(row)
            if key not in seen:
                seen.add(key)
                found.append((key, row, tuple(r[width:])))
        for key, row, vals in found:
            values[0] = vals
            yield key, row
    return matching, values


def compile_delete(node: exp.Delete, planner: Planner, parent: Scope | None = None) -> DmlPlan:
    """Compile a DELETE (its WITH clause's CTEs in scope: ``with_ctes``)."""
    with with_ctes(planner, node, parent):
        return _compile_delete(node, planner, parent)


def _compile_delete(node: exp.Delete, planner: Planner, parent: Scope | None = None) -> DmlPlan:
    view = instead_of.view_target(planner, node, "DELETE")
    if view is not None:
        return instead_of.compile_view_delete(node, planner, view, parent)
    target = node.this
    table = _target_table(planner, target)
    schema = table.schema
    scope, source = _table_scope(planner, table, target.alias or None, parent)
    triggers = planner.session.triggers(schema, "DELETE")
    matching = _matching_rows(planner, table, node.args.get("where"), scope, source)
    ret_cols, ret_fn = _returning(node, planner, scope)
    rt = planner.rt
    name = schema.name
    session = planner.session
    with_rowid = not schema.without_rowid

    def run():
        txn = rt.txn
        out = []
        counted = [0]
        try:
            delete_rows(txn, out, counted)
        except BaseException as exc:
            _note_failure(session, exc, "ABORT", counted[0])
            raise
        session.note_changes(counted[0], None)
        return out

    def delete_rows(txn, out, counted):
        """Delete each matching row, counting the rows deleted in ``counted[0]``."""
        for key, row in matching():
            old_full = row if with_rowid else row + (None,)
            if triggers and triggers.before:
                if not triggers.fire_before(txn, None, old_full):
                    continue
                if txn.get(name, key) is None:
                    continue
            if ret_fn is not None:
                out.append(ret_fn(row))
            if txn.delete(name, key) is None:
                continue
            counted[0] += 1
            if triggers and triggers.after:
                triggers.fire_after(txn, None, old_full)
    return DmlPlan(run, ret_cols)
