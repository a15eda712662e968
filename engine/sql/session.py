"""A SQL session: one connection's statements, transaction state and registries.

``Session.execute(sql, params)`` parses (cached), compiles (cached per schema
version), binds and runs one statement with SQLite's transaction semantics:
outside an explicit transaction every statement is its own transaction
(autocommit); ``BEGIN`` opens one whose snapshot is taken at its first
statement, as SQLite's deferred transactions do. Every statement inside a
transaction runs under a savepoint, so a failing statement changes nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from sqlglot import exp

from engine.catalog.ddl import unquote_identifier
from engine.errors import (
    DatabaseError, IntegrityError, InterfaceError, NotSupportedError, OperationalError,
    ProgrammingError, unsupported)
from engine.sql import dialect as d
from engine.sql.alter import AlterStatement
from engine.sql.compiler.dml import (compile_delete, compile_insert, compile_update,
                                     failure_action)
from engine.sql.compiler.expr import ExprCompiler, Runtime
from engine.sql.compiler.query import Planner
from engine.sql.compiler.scope import Scope, Source
from engine.sql.compiler.scope import ColumnMeta
from engine.sql.parse import MultipleStatementsError, SqlSyntaxError, parse_one, parse_single
from engine.sql.functions.datetime_fns import (
    UNIX_EPOCH_IJD as _UNIX_EPOCH_IJD, pin_statement_clock, statement_clock_var,
    unpin_statement_clock)
from time import time_ns as _time_ns
from engine.values import Collations, affinity_of, default_collations



@dataclass(slots=True)
class Result:
    """What one statement produced: rows (with column names) and change counts."""

    columns: tuple | None
    rows: list
    rowcount: int = -1
    lastrowid: int | None = None
    # sqlite3_column_decltype of each result column (None: no declared type), for
    # detect_types=PARSE_DECLTYPES; None when unknown
    decltypes: tuple | None = None


class SchemaCompiler:
    """The engine's ExpressionCompiler: CHECK, DEFAULT, index and generated expressions."""

    def row_function(self, sql: str, table_schema):
        node = parse_one("SELECT " + sql).expressions[0]
        scope = Scope()
        cols = [ColumnMeta(c.name, c.affinity, c.collation, c.decltype)
                for c in table_schema.columns]
        scope.add(Source(table_schema.name, cols,
                         rowid_slot=None if table_schema.without_rowid else len(cols)))
        fn = ExprCompiler(scope, Runtime()).fn(node)
        return lambda row, rowid: fn(row + (rowid,))

    def constant(self, sql: str):
        node = parse_one("SELECT " + sql).expressions[0]
        fn = ExprCompiler(Scope(), Runtime()).fn(node)
        return lambda: fn(())


SCHEMA_COMPILER = SchemaCompiler()

# 'now' pinned for one statement: the statement clock's context variable, set and reset
# inline on the statement hot path (pin_statement_clock's work without its two calls)
_set_statement_ijd = statement_clock_var().set
_reset_statement_ijd = statement_clock_var().reset


class _Prepared:
    """One compiled statement of a session's cache: its plan and runtime, the catalog
    version it was compiled for, its parameters (count, ``{number: name}``), the
    materialized views it reads (``[(name, from_store)]`` or None) and its result
    column names and declared types (None until known; DML: RETURNING's, or None)."""

    __slots__ = ("version", "plan", "rt", "count", "names", "view_modes", "column_names",
                 "decltypes")

    def __init__(self, version, plan, rt, count, names, view_modes):
        self.version = version
        self.plan = plan
        self.rt = rt
        self.count = count
        self.names = names
        self.view_modes = view_modes or None
        self.column_names = None
        self.decltypes = None


# Values bound as they are (ints too, within 64 bits)
_PLAIN_TYPES = frozenset((str, float, bytes, type(None)))


class Session:
    """One connection's view of a database (see module docstring)."""

    def __init__(self, db, cache_size: int = 128):
        self.db = db
        if db.compiler is None:
            db.compiler = SCHEMA_COMPILER
        self.txn = None            # the open engine transaction, if any
        self.explicit = False      # inside BEGIN ... COMMIT
        self.pending_mode = None   # BEGIN seen, snapshot not taken yet
        self.changes = 0
        self.total_changes = 0
        self.last_insert_rowid = 0
        self.collations = Collations()
        self._functions: dict = {}
        self._aggregates: dict = {}
        self._cache: OrderedDict = OrderedDict()
        self._cache_size = max(cache_size, 1)
        # statement text -> its parsed statement (parse_single's, or the ALTER
        # fallback's), for texts executed recently; cleared when full
        self._nodes: dict = {}
        self.temp_views: dict[str, str] = {}
        # sqlite_temp_schema rowids: max + 1 over the live temp objects when created
        self.temp_numbers: dict[str, int] = {}
        self.active_triggers: set[str] = set()
        self._triggers: dict = {}
        self.trace = None
        self.timeout = 5.0
        self.closed = False
        self.foreign_keys = False  # PRAGMA foreign_keys (per connection, OFF as in SQLite)
        self.fk_pending: list = []  # deferred FK violations to re-check at COMMIT
        self.cdc = None  # PRAGMA capture_data_changes_conn (engine.cdc.CaptureConfig)
        self.query_only = False  # PRAGMA query_only
        self.read_only = False  # opened with uri mode=ro: for good
        self.writes_refused = False  # either: writes fail (READ_ONLY_MESSAGE)
        from engine.cdc import install_functions
        install_functions(self)  # table_columns_json_array, bin_record_json_object
        from engine.ivm.maintainer import attach
        self.views = attach(db)  # the database's materialized-view maintainer

    # -- registries ------------------------------------------------------------------------

    def create_function(self, name, nargs, fn, deterministic=False):
        key = (name.lower(), nargs)
        if fn is None:
            self._functions.pop(key, None)
        else:
            self._functions[key] = _user_function(name, fn)
        self._cache.clear()

    def create_aggregate(self, name, nargs, factory):
        key = (name.lower(), nargs)
        if factory is None:
            self._aggregates.pop(key, None)
        else:
            self._aggregates[key] = _user_aggregate(name, factory)
        self._cache.clear()

    def create_collation(self, name, fn):
        self.collations.register(name, fn)
        if fn is not None and not default_collations.exists(name):
            # Index and UNIQUE key functions are built for the database, not one
            # connection: they resolve a user collation through the process registry
            # (the first registration of a name is the one stored orders use).
            default_collations.register(name, fn)
        self._cache.clear()

    def user_function(self, name, nargs):
        return self._functions.get((name, nargs)) or self._functions.get((name, -1))

    def user_function_exists(self, name) -> bool:
        return any(k[0] == name for k in self._functions)

    def user_aggregate(self, name, nargs):
        return self._aggregates.get((name, nargs)) or self._aggregates.get((name, -1))

    def user_aggregate_names(self) -> set:
        return {name for name, _n in self._aggregates}

    def collation_exists(self, name: str) -> bool:
        return self.collations.exists(name)

    # -- schema access for the planner ----------------------------------------------------------

    def table_for_query(self, name):
        return self.txn.tables.get(name.lower()) if self.txn is not None else None

    def view_for_query(self, name):
        text = self.temp_views.get(name.lower())
        if text is None:
            obj = self.txn.catalog.others.get(name.lower()) if self.txn is not None else None
            if obj is None or obj.type != "view":
                return None
            text = obj.sql
        node = parse_one(text)
        cols = None
        target = node.this
        if isinstance(target, exp.Schema):
            cols = [c.name for c in target.expressions]
        return node.expression, cols

    def view_names(self, name, query, columns) -> list:
        """Column names of view ``name`` as SQLite derives them from its source text."""
        text = self.temp_views.get(name.lower())
        if text is None:
            text = self.txn.catalog.others[name.lower()].sql
        return view_column_names(text, query, columns)

    def materialized_read(self, name):
        """For a materialized view: the ViewStore to read at this snapshot, or None to
        evaluate its SELECT (see ViewMaintainer.reader); False for anything else."""
        from engine.ivm.compiler import is_materialized
        txn = self.txn
        obj = txn.catalog.others.get(name.lower()) if txn is not None else None
        if obj is None or obj.type != "view" or not is_materialized(obj.sql):
            return False
        return self.views.reader(txn, name)

    def _views_current(self, plan) -> bool:
        """Does a cached plan still read each materialized view the right way (its
        store, or its SELECT when this transaction wrote to what the view reads)?"""
        modes = getattr(plan, "view_modes", None)
        if not modes:
            return True
        for name, from_store in modes:
            if (self.materialized_read(name) not in (None, False)) != from_store:
                return False
        return True

    def triggers(self, table_schema, event: str):
        """The TableTriggers of ``table_schema`` for ``event`` (cached per schema version)."""
        from engine.sql.compiler.trigger import TableTriggers
        key = (table_schema.name.lower(), event, self.txn.catalog.version)
        found = self._triggers.get(key)
        if found is None:
            if len(self._triggers) > 256:
                self._triggers.clear()
            found = self._triggers[key] = TableTriggers(self, table_schema, event)
        return found

    def parse_trigger(self, sql: str):
        return parse_one(sql)

    def column_defaults(self, table):
        """``[(position, fn() -> value)]`` for every column with a DEFAULT."""
        out = []
        for i, c in enumerate(table.schema.columns):
            if c.default_sql is not None:
                out.append((i, SCHEMA_COMPILER.constant(c.default_sql)))
        return out

    def note_changes(self, count: int, last_rowid) -> None:
        self.changes = count
        self.total_changes += count
        if last_rowid is not None:
            self.last_insert_rowid = last_rowid

    # -- transactions ------------------------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        return self.explicit

    def set_read_only(self, query_only: bool | None = None) -> None:
        """Refuse writes: for good (a ``mode=ro`` connection, no argument), or as
        ``PRAGMA query_only`` says. The open transaction follows at once."""
        if query_only is None:
            self.read_only = True
        else:
            self.query_only = query_only
        self.writes_refused = self.read_only or self.query_only
        if self.txn is not None:
            self.txn.read_only = self.writes_refused

    def begin_own(self, mode: str = "DEFERRED"):
        """A transaction of its own for a statement's side work (PRAGMA writes, the
        CDC tables), under this session's write refusal."""
        txn = self.db.begin(mode, self.timeout)
        txn.read_only = self.writes_refused
        return txn

    def _ensure_txn(self, write: bool = False):
        """The open transaction, begun if needed. ``write``: an autocommit write
        statement, which takes the write lock before its snapshot (as SQLite's write
        statements do), so it waits for other writers instead of failing with a
        stale snapshot."""
        if self.txn is None:
            mode = self.pending_mode or ("IMMEDIATE" if write else "DEFERRED")
            self.txn = self.db.begin(mode, self.timeout)
            self.txn.cdc = self.cdc
            self.txn.read_only = self.writes_refused
        return self.txn

    def _end_txn(self, commit: bool) -> None:
        self.fk_pending.clear()
        txn, self.txn = self.txn, None
        self.explicit = False
        self.pending_mode = None
        if txn is None:
            return
        if commit:
            txn.commit()
        else:
            txn.rollback()

    # -- execution -----------------------------------------------------------------------------

    def executemany(self, sql: str, seq_of_params, on_row=None) -> int:
        """Run one DML statement once per parameter set; return the total row count.

        Parsed, compiled and (outside an explicit transaction) begun once: each row
        runs under its own savepoint, so a failing row changes nothing and, in
        autocommit mode, the rows before it stay committed, exactly as running the
        statement row by row in autocommit would leave them. ``on_row(params)`` is
        called before each row (the DB-API layer's trace callback). O(rows).
        """
        if self.closed:
            raise ProgrammingError("Cannot operate on a closed database.")
        try:
            node = parse_single(sql)
        except MultipleStatementsError:
            raise ProgrammingError("You can only execute one statement at a time.") from None
        except SqlSyntaxError as exc:
            raise OperationalError(exc.message) from None
        kind = _DML_KINDS.get(type(node)) if node is not None else None
        if kind is None:
            raise ProgrammingError("executemany() can only execute DML statements.")
        autocommit = self.txn is None and not self.explicit
        txn = self._ensure_txn(autocommit)
        total = 0
        count = None
        clock = pin_statement_clock()
        try:
            plan, rt = self._compiled(sql, node, kind)
            count = _parameter_count(node)
            names = node.meta.get("_param_names", {})
            params_list, memo, run = rt.params, rt.memo, plan.run
            rt.txn = txn
            one_row = _one_row_insert(node)
            for params in seq_of_params:
                if on_row is not None:
                    on_row(params)
                if self.trace is not None:
                    self.trace(sql)
                params_list[:] = _bind(names, count, params)
                memo.clear()
                rowid_before = (self.last_insert_rowid,) if one_row else None
                mark = txn.statement_mark()
                try:
                    run()
                    if self.foreign_keys:
                        self._check_foreign_keys(txn, autocommit, kind == "update",
                                                 rowid_before)
                except BaseException as exc:
                    if txn.active:
                        if getattr(exc, "_rollback_txn", False) or \
                                failure_action(exc, plan.conflict) == "ROLLBACK":
                            self._end_txn(False)
                        elif getattr(exc, "_keep_statement", False):
                            txn.statement_done(mark)  # FAIL: this row set's earlier rows stay
                        else:
                            txn.statement_undo(mark)
                    raise
                txn.statement_done(mark)
                total += self.changes
        except BaseException:
            if autocommit and self.txn is txn:
                self._end_txn(True)  # the rows before the failing one stay, as in autocommit
            raise
        finally:
            unpin_statement_clock(clock)
        if autocommit:
            self._end_txn(True)
        return total

    def executescript(self, sql: str) -> None:
        from engine.sql.split import statement_spans
        for a, b in statement_spans(sql):
            text = sql[a:b]
            try:
                node = parse_one(text)
            except SqlSyntaxError as exc:
                node = _alter_fallback(text, exc)
            self._execute_node(text, node, ())

    def _execute_node(self, sql, node, params) -> Result:
        """Run the parsed statement ``node`` of text ``sql`` (see execute)."""
        return self.execute(sql, params, node)

    def _parse(self, sql: str):
        """``sql``'s one statement (None if there is none) as execute takes it,
        remembered in ``_nodes``; raises sqlite3's errors for anything else."""
        try:
            node = parse_single(sql)
        except MultipleStatementsError:
            raise ProgrammingError("You can only execute one statement at a time.") from None
        except SqlSyntaxError as exc:
            node = _alter_fallback(sql, exc)
        if node is not None:
            if len(self._nodes) >= self._cache_size:
                self._nodes.clear()
            self._nodes[sql] = node
        return node

    def execute(self, sql: str, params=(), node=None) -> Result:
        """Run one statement (see module docstring). Raises sqlite3's error classes.

        ``node``: the statement already parsed (executescript), which skips the parse
        and the trace callback. Transaction control runs directly, anything else in
        the open transaction (begun for it in autocommit, then committed) under a
        statement savepoint, with 'now' pinned for the statement. The hot path of
        every statement: Python calls here are kept to the handler and the
        transaction's own (parsed statements of recent texts are remembered)."""
        if node is None:
            if self.closed:
                raise ProgrammingError("Cannot operate on a closed database.")
            node = self._nodes.get(sql)  # parse_single's answer, without its call
            if node is None:
                node = self._parse(sql)
                if node is None:
                    return Result(None, [])
            if self.trace is not None:
                self.trace(sql)
        handler = _STATEMENTS.get(type(node))
        if handler is None:
            for klass in type(node).__mro__:
                handler = _STATEMENTS.get(klass)
                if handler:
                    break
            if handler is None:
                raise OperationalError(
                    f"not supported by turso_stream: {node.key.upper()} statement")
        if handler in _CONTROL_HANDLERS:
            return handler(self, node, params)
        if self.writes_refused and isinstance(node, _READ_ONLY_REFUSES):
            raise OperationalError(READ_ONLY_MESSAGE)  # (before it runs: even if it writes no row)
        txn = self.txn
        autocommit = txn is None and not self.explicit
        if txn is None:
            mode = self.pending_mode or (
                "IMMEDIATE" if autocommit and isinstance(node, _WRITE_STATEMENTS) else "DEFERRED")
            txn = self.txn = self.db.begin(mode, self.timeout)
            txn.cdc = self.cdc
            txn.read_only = self.writes_refused
        fk = self.foreign_keys and isinstance(node, (exp.Insert, exp.Update, exp.Delete))
        mark = txn.statement_mark() if not autocommit or fk else None
        clock = _set_statement_ijd(_UNIX_EPOCH_IJD + _time_ns() // 1_000_000)
        try:
            rowid_before = (self.last_insert_rowid,) if fk and _one_row_insert(node) else None
            result = handler(self, sql, node, params)
            if fk:
                self._check_foreign_keys(txn, autocommit, isinstance(node, exp.Update),
                                         rowid_before)
        except BaseException as exc:
            keep = getattr(exc, "_keep_statement", False)
            if autocommit:
                self._end_txn(keep)
            elif self.txn is txn and txn.active:
                if getattr(exc, "_rollback_txn", False):
                    self._end_txn(False)
                elif keep:
                    txn.statement_done(mark)
                else:
                    txn.statement_undo(mark)
            raise
        finally:
            _reset_statement_ijd(clock)
        if autocommit:
            # _end_txn(True), inline: the commit of every autocommit statement
            if self.fk_pending:
                self.fk_pending.clear()
            txn, self.txn = self.txn, None
            self.explicit = False
            self.pending_mode = None
            if txn is not None:
                txn.commit()
        elif txn.active:
            txn.statement_done(mark)
        return result

    def _prepared(self, sql, node, kind) -> _Prepared:
        """The compiled statement for ``sql`` (cached per catalog version, LRU): a cached
        plan is reused unless the schema changed, it is running (a re-entrant call), or
        a materialized view it reads must now be read another way. O(1) on a hit."""
        entry = self._cache.get(sql)
        if entry is not None and entry.version == self.txn.catalog.version \
                and not entry.rt.busy and (entry.view_modes is None
                                           or self._views_current(entry.plan)):
            self._cache.move_to_end(sql)
            return entry
        version = self.txn.catalog.version
        rt = Runtime(self)
        planner = Planner(self, rt)
        if kind == "query":
            plan = planner.query(node)
        elif kind == "insert":
            plan = compile_insert(node, planner)
        elif kind == "update":
            plan = compile_update(node, planner)
        elif kind == "delete":
            plan = compile_delete(node, planner)
        else:
            raise InterfaceError(kind)
        rt.busy = False
        plan.explain = planner.explain
        plan.view_modes = planner.__dict__.get("view_modes")
        count = _parameter_count(node)
        entry = _Prepared(version, plan, rt, count, node.meta.get("_param_names", {}),
                          plan.view_modes)
        if kind != "query" and plan.columns:
            entry.column_names = tuple(c.name for c in plan.columns)
        self._cache[sql] = entry
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return entry

    def _compiled(self, sql, node, kind):
        """``(plan, runtime)`` of the compiled statement (see _prepared)."""
        entry = self._prepared(sql, node, kind)
        return entry.plan, entry.rt

    @staticmethod
    def _planned(kind):
        """The handler of a statement with a cached plan: a query (``kind`` 'query')
        or a write ('insert', 'update', 'delete'). Finds the plan (_prepared's cache
        hit inline), binds the parameters (a tuple of plain in-range values is copied
        as is, without a call; anything else goes through ``_bind``, sqlite3's rules
        and messages), runs it and returns its Result. O(parameters) besides the run."""
        query = kind == "query"
        insert = kind == "insert"

        def run(self, sql, node, params):
            txn = self.txn
            entry = self._cache.get(sql)
            if entry is None or entry.version != txn.catalog.version \
                    or entry.rt.busy or entry.view_modes is not None:
                entry = self._prepared(sql, node, kind)  # compiles, or checks the views
            else:
                self._cache.move_to_end(sql)
            plan, rt = entry.plan, entry.rt
            if query and entry.decltypes is None:
                entry.column_names = _result_names(sql, node, plan.columns)
                entry.decltypes = tuple(c.decltype for c in plan.columns)
            count = entry.count
            if type(params) is tuple and len(params) == count:
                for v in params:
                    if type(v) is int:
                        if v > 9223372036854775807 or v < -9223372036854775808:
                            rt.params[:] = _bind(entry.names, count, params)  # OverflowError
                            break
                    elif type(v) not in _PLAIN_TYPES:
                        rt.params[:] = _bind(entry.names, count, params)
                        break
                else:
                    rt.params[:] = params
            else:
                rt.params[:] = _bind(entry.names, count, params)
            rt.txn = txn
            rt.memo.clear()
            rt.busy = True
            try:
                if query:
                    return Result(entry.column_names, list(plan.run()),
                                  decltypes=entry.decltypes)
                out = plan.run()
            except IntegrityError as exc:
                if not query:
                    action = failure_action(exc, plan.conflict)
                    if action == "ROLLBACK":
                        exc._rollback_txn = True
                    elif action == "FAIL":
                        exc._keep_statement = True  # FAIL: the rows written before it stay
                raise
            finally:
                rt.busy = False
            return Result(entry.column_names, out, self.changes,
                          self.last_insert_rowid if insert else None)
        return run

    # -- statements without plans ---------------------------------------------------------------

    def _begin(self, node, params) -> Result:
        if self.explicit:
            raise OperationalError("cannot start a transaction within a transaction")
        kind = (node.args.get("kind") or "DEFERRED").upper()
        if kind in ("IMMEDIATE", "EXCLUSIVE") and self.writes_refused:
            if self.query_only:
                raise OperationalError(READ_ONLY_MESSAGE)
            kind = "DEFERRED"  # a read-only connection (mode=ro) takes no write lock
        self.explicit = True
        self.pending_mode = kind
        if kind in ("IMMEDIATE", "EXCLUSIVE"):
            try:
                self._ensure_txn()
            except BaseException:
                self.explicit = False
                self.pending_mode = None
                raise
        return Result(None, [])

    def _commit(self, node, params) -> Result:
        if not self.explicit:
            raise OperationalError("cannot commit - no transaction is active")
        if self.fk_pending and self.txn is not None:
            from engine.sql.compiler.foreign_keys import FAILED, foreign_keys_of
            if not foreign_keys_of(self.txn.catalog).check_pending(self.txn, self.fk_pending):
                raise IntegrityError(FAILED)  # the transaction stays open, as in SQLite
        self._end_txn(True)
        return Result(None, [])

    def _rollback(self, node, params) -> Result:
        sp = node.args.get("savepoint")
        if sp is not None:
            name = sp.name if hasattr(sp, "name") else str(sp)
            if self.txn is None:
                if self.explicit:
                    return Result(None, [])
                raise OperationalError(f"no such savepoint: {name}")
            self.txn.rollback_to(name)
            return Result(None, [])
        if not self.explicit and self.txn is None:
            raise OperationalError("cannot rollback - no transaction is active")
        self._end_txn(False)
        return Result(None, [])

    def _savepoint(self, node, params) -> Result:
        name = node.this.name
        if not self.explicit:
            self.explicit = True
            self._savepoint_opened_txn = name.lower()
        txn = self._ensure_txn()
        txn.savepoint(name)
        return Result(None, [])

    def _release(self, node, params) -> Result:
        name = node.this.name
        if self.txn is None:
            raise OperationalError(f"no such savepoint: {name}")
        self.txn.release(name)
        if getattr(self, "_savepoint_opened_txn", None) == name.lower() and not self.txn._marks:
            self._savepoint_opened_txn = None
            self._end_txn(True)
        return Result(None, [])

    # -- DDL ------------------------------------------------------------------------------------------

    def _create(self, sql, node, params) -> Result:
        kind = (node.args.get("kind") or "").upper()
        txn = self.txn
        exists = bool(node.args.get("exists"))
        if node.args.get("temporary"):
            if kind != "VIEW" or node.args.get("materialized"):
                raise unsupported(f"TEMP {kind} (only TEMP VIEW is supported)")
            return self._create_temp_view(sql, node, exists)
        if kind == "TABLE":
            if node.expression is not None and isinstance(node.expression, (exp.Select, exp.SetOperation)):
                return self._create_table_as(node, exists)
            txn.create_table(_canonical_create(sql, "TABLE"), exists)
        elif kind == "INDEX":
            txn.create_index(_canonical_create(sql, "INDEX"), exists)
        elif kind == "VIEW":
            if node.args.get("materialized"):
                return self._create_materialized_view(sql, node, exists)
            name = node.this.this.name if isinstance(node.this, exp.Schema) else node.this.name
            if txn.catalog.name_taken(name):
                if exists:
                    return Result(None, [])
                raise OperationalError(f"{txn.catalog.name_taken(name)} {name} already exists")
            Planner(self, Runtime(self)).query(node.expression)  # validate now, as SQLite does
            txn.create_object("view", name, name, _canonical_create(sql, "VIEW"), exists)
        elif kind == "TRIGGER" or isinstance(node, d.CreateTrigger):
            return self._create_trigger(sql, node, params)
        else:
            raise unsupported(f"CREATE {kind}")
        return Result(None, [])  # DDL leaves changes() as it was, as in SQLite

    def _create_materialized_view(self, sql, node, exists) -> Result:
        """CREATE MATERIALIZED VIEW: compiled now (errors change nothing), stored as its
        canonical text; the maintainer populates it when the transaction commits."""
        from engine.ivm.compiler import compile_view
        txn = self.txn
        target = node.this
        name = target.this.name if isinstance(target, exp.Schema) else target.name
        if txn.catalog.name_taken(name):
            if exists:
                return Result(None, [])
            raise OperationalError(f"{txn.catalog.name_taken(name)} {name} already exists")
        cols = [c.name for c in target.expressions] if isinstance(target, exp.Schema) else None
        compile_view(self, node.expression, cols)
        txn.create_object("view", name, name, _canonical_create(sql, "MATERIALIZED VIEW"), exists)
        return Result(None, [])

    def _create_temp_view(self, sql, node, exists) -> Result:
        """CREATE TEMP VIEW: private to this session and gone when it closes, as the
        views of SQLite's per-connection temp schema are."""
        name = node.this.this.name if isinstance(node.this, exp.Schema) else node.this.name
        if name.lower() in self.temp_views or self.txn.catalog.name_taken(name):
            if exists:
                return Result(None, [])
            raise OperationalError(f"view {name} already exists")
        Planner(self, Runtime(self)).query(node.expression)
        self.temp_views[name.lower()] = _canonical_create(sql, "VIEW")
        self.temp_numbers[name.lower()] = max(self.temp_numbers.values(), default=0) + 1
        return Result(None, [])

    def _create_trigger(self, sql, node, params) -> Result:
        """CREATE TRIGGER: validated against its table, stored as schema text."""
        if node.args.get("temporary"):
            raise unsupported("TEMP triggers")
        txn = self.txn
        name = node.this.name
        table_name = node.args["table"].name
        timing = (node.args.get("timing") or "BEFORE").upper()
        if txn.catalog.name_taken(name) == "trigger":
            if node.args.get("exists"):
                return Result(None, [])
            raise OperationalError(f"trigger {name} already exists")
        table = txn.catalog.table(table_name)
        if table is None:
            if self.view_for_query(table_name) is None:
                raise OperationalError(f"no such table: main.{table_name}")
            if timing != "INSTEAD OF":
                raise OperationalError(f"cannot create {timing} trigger on view: {table_name}")
            if table_name.lower() in self.temp_views:
                raise unsupported("triggers on TEMP views")
            txn.create_object("trigger", name, table_name, _canonical_create(sql, "TRIGGER"))
            return Result(None, [])
        if timing == "INSTEAD OF":
            raise OperationalError(f"cannot create INSTEAD OF trigger on table: {table_name}")
        if table.name.lower().startswith("sqlite_"):
            raise OperationalError("cannot create trigger on system table")
        txn.create_object("trigger", name, table.name, _canonical_create(sql, "TRIGGER"))
        return Result(None, [])

    def _create_table_as(self, node, exists) -> Result:
        txn = self.txn
        name = node.this.name
        if txn.catalog.name_taken(name):
            if exists:
                return Result(None, [])
            raise OperationalError(f"{txn.catalog.name_taken(name)} {name} already exists")
        planner = Planner(self, Runtime(self))
        plan = planner.query(node.expression)
        planner.rt.txn = txn
        cols = []
        for c in plan.columns:
            decl = {"INTEGER": " INT", "REAL": " REAL", "TEXT": " TEXT", "NUMERIC": " NUM"}.get(
                c.affinity or "", "")
            cols.append(_quote_ident(c.name) + decl)
        ddl = f"CREATE TABLE {_quote_ident(name)}({','.join(cols)})"
        rows = list(plan.run())
        txn.create_table(ddl)
        for r in rows:
            txn.insert(name, tuple(r))
        return Result(None, [])

    def _drop(self, sql, node, params) -> Result:
        kind = (node.args.get("kind") or "").upper()
        target = node.this if node.this is not None else (node.args.get("tables") or [None])[0]
        name = target.name
        exists = bool(node.args.get("exists"))
        txn = self.txn
        if kind == "TABLE":
            obj = txn.catalog.others.get(name.lower())
            if obj is not None and obj.type == "view":
                raise OperationalError("use DROP VIEW to delete view " + name)
            txn.drop_table(name, exists)
        elif kind == "INDEX":
            txn.drop_index(name, exists)
        elif kind == "VIEW":
            if txn.catalog.table(name) is not None:
                raise OperationalError("use DROP TABLE to delete table " + name)
            if self.temp_views.pop(name.lower(), None) is None:
                txn.drop_object("view", name, exists)
            else:
                self.temp_numbers.pop(name.lower(), None)
        elif kind == "TRIGGER":
            txn.drop_object("trigger", name, exists)
        else:
            raise unsupported(f"DROP {kind}")
        return Result(None, [])

    def _alter(self, sql, node, params) -> Result:
        """ALTER TABLE (engine.sql.alter parses it; the transaction applies it); views
        are re-checked afterwards, as SQLite re-parses the schema."""
        from engine.sql.alter import parse_alter
        stmt = node if isinstance(node, AlterStatement) else parse_alter(sql)
        if stmt is None:
            raise unsupported(f"ALTER {(node.args.get('kind') or '').upper()}")
        txn = self.txn
        if stmt.table.lower() in ("sqlite_master", "sqlite_schema"):
            raise OperationalError("table sqlite_master may not be altered")
        if txn.catalog.table(stmt.table) is None and self.view_for_query(stmt.table) is not None:
            raise OperationalError({
                "rename_table": f"view {stmt.table} may not be altered",
                "add_column": "Cannot add a column to a view",
                "drop_column": f'cannot drop column from view "{stmt.table}"',
                "rename_column": f'cannot rename columns of view "{stmt.table}"'}[stmt.action])
        stmt.apply(txn)
        what = {"drop_column": "drop column"}.get(stmt.action, "rename")
        for obj in list(txn.catalog.others.values()):
            if obj.type == "view":
                try:
                    Planner(self, Runtime(self)).query(parse_one(obj.sql).expression)
                except OperationalError as exc:
                    raise OperationalError(f"error in view {obj.name} after {what}: {exc}") \
                        from None
        return Result(None, [])  # DDL leaves changes() as it was, as in SQLite

    def _check_foreign_keys(self, txn, autocommit: bool, is_update: bool = False,
                            rowid_before=None) -> None:
        """PRAGMA foreign_keys=ON: the statement's FK actions and checks
        (engine.sql.compiler.foreign_keys); in autocommit, deferred ones too.
        ``rowid_before``: ``(last_insert_rowid before the statement,)`` for a one-row
        INSERT, which SQLite checks before writing its row (fkey.c: no counter
        outside a multi-row statement), so a failure leaves last_insert_rowid alone."""
        from engine.sql.compiler.foreign_keys import FAILED, foreign_keys_of
        fks = foreign_keys_of(txn.catalog)
        if not fks.by_child:
            return
        try:
            try:
                fks.after_statement(self, txn, is_update)
            except IntegrityError:
                if rowid_before is not None:
                    self.last_insert_rowid = rowid_before[0]
                raise
            if autocommit and self.fk_pending:
                ok = fks.check_pending(txn, self.fk_pending)
                self.fk_pending.clear()
                if not ok:
                    raise IntegrityError(FAILED)
        except IntegrityError:
            # the statement is undone: changes() is 0 and total_changes() leaves it
            # out, as sqlite3VdbeHalt counts a rolled-back statement's rows as none
            self.total_changes -= self.changes
            self.changes = 0
            raise

    def _pragma(self, node, params) -> Result:
        from engine.sql.pragma import run_pragma
        return run_pragma(self, node)

    def _explain(self, sql, node, params) -> Result:
        inner = node.this
        planner = Planner(self, Runtime(self))
        if isinstance(inner, (exp.Select, exp.SetOperation, exp.Values)):
            planner.query(inner)
        elif isinstance(inner, exp.Insert):
            compile_insert(inner, planner)
        elif isinstance(inner, exp.Update):
            compile_update(inner, planner)
        elif isinstance(inner, exp.Delete):
            compile_delete(inner, planner)
        if node.args.get("query_plan"):
            rows = [(i + 2, 0, 0, line) for i, line in enumerate(planner.explain)]
            return Result(("id", "parent", "notused", "detail"), rows)
        # Plain EXPLAIN: there is no bytecode here; list the compiled plan's steps in
        # SQLite's EXPLAIN column shape (the statement was compiled, as SQLite prepares it).
        rows = [(i, "Plan", 0, 0, 0, line, 0, None) for i, line in enumerate(planner.explain)]
        return Result(("addr", "opcode", "p1", "p2", "p3", "p4", "p5", "comment"), rows)

    def _reindex(self, sql, node, params) -> Result:
        """REINDEX [name]: indexes here are always consistent; only the name is checked."""
        target = node.this
        if target is not None:
            name = target.name
            cat = self.txn.catalog
            if cat.table(name) is None and cat.index(name) is None and \
                    not self.collations.exists(name):
                raise OperationalError("unable to identify the object to be reindexed")
        return Result(None, [])

    def _noop(self, sql, node, params) -> Result:
        return Result(None, [])

    def _vacuum(self, sql, node, params) -> Result:
        if self.explicit:
            raise OperationalError("cannot VACUUM from within a transaction")
        if node.args.get("into") is not None:
            raise unsupported("VACUUM INTO")
        return Result(None, [])

    def close(self) -> None:
        if self.txn is not None:
            self._end_txn(False)
        self.closed = True


def _alter_fallback(sql: str, exc):
    """ALTER TABLE forms sqlglot cannot parse (``ADD [COLUMN] c`` without a type) are
    parsed by engine.sql.alter; anything else re-raises the syntax error."""
    from engine.sql.alter import parse_alter
    try:
        node = parse_alter(sql)
    except OperationalError:
        node = None
    if node is None:
        raise OperationalError(exc.message) from None
    return node


def _canonical_create(sql: str, kind: str) -> str:
    """SQLite's stored text: "CREATE <KIND> " + the statement from the name on
    (IF NOT EXISTS and TEMP dropped, like sqlite_schema.sql)."""
    from engine.sql.lexer import ID, tokenize
    toks = list(tokenize(sql))
    i = 0
    words = []
    while i < len(toks) and toks[i].kind == ID and toks[i].text.upper() in (
            "CREATE", "TEMP", "TEMPORARY", "UNIQUE", "TABLE", "INDEX", "VIEW", "IF", "NOT",
            "EXISTS", "MATERIALIZED", "TRIGGER"):
        words.append(toks[i].text.upper())
        i += 1
    if i >= len(toks):
        return sql
    prefix = "CREATE UNIQUE INDEX " if (kind == "INDEX" and "UNIQUE" in words) else f"CREATE {kind} "
    return prefix + sql[toks[i].start:].rstrip().rstrip(";").rstrip()


def view_column_names(sql: str, query, columns=None):
    """The names SQLite gives a view's columns: ``_result_names`` over the view's
    source text. Without ``columns``, a list with None where the plan's name stands
    (aliases, column references, ``*``). O(tokens)."""
    if columns is not None:
        return list(_result_names(sql, query, columns))
    select = query
    while isinstance(select, exp.SetOperation):
        select = select.this
    if not isinstance(select, exp.Select):
        return None
    placeholders = [ColumnMeta(None) for _ in select.expressions]
    return list(_result_names(sql, query, placeholders))


_CLAUSE_WORDS = {"FROM", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "WINDOW", "UNION",
                 "INTERSECT", "EXCEPT"}


def _result_names(sql: str, node, columns) -> tuple:
    """Result column names as SQLite gives them: the alias, the column name, or the
    expression's source text exactly as written (sqlite3 ``cursor.description``)."""
    names = [c.name for c in columns]
    select = node
    while isinstance(select, exp.SetOperation):
        select = select.this
    if not isinstance(select, exp.Select):
        return tuple(names)
    items = select.expressions
    if any(isinstance(i, exp.Star) or (isinstance(i, exp.Column) and isinstance(i.this, exp.Star))
           for i in items):
        return tuple(names)
    spans = _select_list_spans(sql)
    if spans is None or len(spans) != len(items) or len(items) != len(names):
        return tuple(names)
    for i, item in enumerate(items):
        while isinstance(item, exp.Paren):
            item = item.this
        if not isinstance(item, (exp.Alias, exp.Column)):
            names[i] = spans[i]
    return tuple(names)


def _select_list_spans(sql: str):
    """Source text of each item of the first top-level SELECT's result list."""
    from engine.sql.lexer import ID, OPERATOR, SEMI, tokenize
    toks = [t for t in tokenize(sql)]
    for i, t in enumerate(toks):  # only the first statement's tokens
        if t.kind == SEMI:
            del toks[i:]
            break
    depth, start = 0, None
    for i, t in enumerate(toks):
        if t.kind == OPERATOR and t.text == "(":
            depth += 1
        elif t.kind == OPERATOR and t.text == ")":
            depth -= 1
        elif depth == 0 and t.kind == ID and t.text.upper() == "SELECT":
            start = i + 1
            break
    if start is None:
        return None
    if start < len(toks) and toks[start].kind == ID and toks[start].text.upper() in ("DISTINCT", "ALL"):
        start += 1
    spans, first, depth = [], start, 0
    for i in range(start, len(toks) + 1):
        t = toks[i] if i < len(toks) else None
        if t is not None and t.kind == OPERATOR and t.text in "([":
            depth += 1
        elif t is not None and t.kind == OPERATOR and t.text == ")":
            depth -= 1
        end = (t is None or (depth == 0 and ((t.kind == OPERATOR and t.text in (",", ";")) or
               (t.kind == ID and t.text.upper() in _CLAUSE_WORDS))))
        if end:
            if i == first:
                return None
            last = toks[i - 1]
            spans.append(sql[toks[first].start:last.start + len(last.text)])
            first = i + 1
            if t is None or not (t.kind == OPERATOR and t.text == ","):
                break
    return spans


def _quote_ident(name: str) -> str:
    if name.isidentifier() and name.upper() not in ("SELECT", "FROM", "WHERE", "TABLE", "ORDER",
                                                    "GROUP", "INDEX", "KEY"):
        return name
    return '"' + name.replace('"', '""') + '"'


# Statements that write (an autocommit one begins IMMEDIATE: see _ensure_txn).
_WRITE_STATEMENTS = (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Alter)
# What a read-only connection (uri mode=ro, PRAGMA query_only) refuses before running:
# SQLite refuses a writing statement at its start, whether or not it would change a row.
_READ_ONLY_REFUSES = _WRITE_STATEMENTS + (AlterStatement, d.CreateTrigger, d.Vacuum, d.AnalyzeStmt)
READ_ONLY_MESSAGE = "attempt to write a readonly database"


def _one_row_insert(node) -> bool:
    """Whether ``node`` is an INSERT of a single VALUES row (or DEFAULT VALUES)."""
    if not isinstance(node, exp.Insert):
        return False
    source = node.expression
    return source is None or (isinstance(source, exp.Values) and len(source.expressions) == 1)


def _parameter_count(node) -> int:
    count = node.meta.get("_param_count")
    if count is None:
        numbers = [v.args.get("number") or 0 for v in node.find_all(d.Variable)]
        count = max(numbers, default=0)
        names = {}
        for v in node.find_all(d.Variable):
            if v.args.get("name"):
                names[v.args["number"]] = v.args["name"]
        node.meta["_param_count"] = count
        node.meta["_param_names"] = names
    return count


def bind_parameters(node, count: int, params) -> list:
    """The values for parameters 1..count from a sequence or a mapping, as sqlite3 binds.

    Raises ProgrammingError with sqlite3's messages for a wrong count or a missing name.
    """
    return _bind(node.meta.get("_param_names", {}), count, params)


def _bind(names: dict, count: int, params) -> list:
    """``bind_parameters`` given the statement's ``{number: name}`` map."""
    if type(params) is tuple and len(params) == count:
        for v in params:  # the common case: plain values, nothing to adapt
            t = type(v)
            if not (t is int or t is str or t is float or v is None or t is bytes) or (
                    t is int and not -(1 << 63) <= v < (1 << 63)):
                break
        else:
            return list(params)
    if isinstance(params, dict) or (hasattr(params, "keys") and hasattr(params, "__getitem__")
                                    and not isinstance(params, (list, tuple))):
        out = []
        for i in range(1, count + 1):
            name = names.get(i)
            if name is None:
                raise ProgrammingError(
                    f"Binding {i} has no name, but you supplied a dictionary (which has only names).")
            key = name[1:]
            try:
                out.append(_adapt(params[key], i))
            except KeyError:
                raise ProgrammingError(
                    f"You did not supply a value for binding parameter {name}.") from None
        return out
    if params is None:
        params = ()
    try:
        n = len(params)
    except TypeError:
        raise ProgrammingError("parameters are of unsupported type") from None
    if n != count:
        raise ProgrammingError(
            f"Incorrect number of bindings supplied. The current statement uses {count}, and "
            f"there are {n} supplied.")
    return [_adapt(v, i + 1) for i, v in enumerate(params)]


def _adapt(v, i):
    t = type(v)
    if v is None or t is int or t is float or t is str or t is bytes:
        if t is int and not -(1 << 63) <= v < (1 << 63):
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return v
    if t is bool:
        return int(v)
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return float(v)
    if isinstance(v, str):
        return str(v)
    raise ProgrammingError(
        f"Error binding parameter {i}: type '{t.__name__}' is not supported")


def _user_function(name, fn):
    def call(*args):
        try:
            return _result_value(fn(*args))
        except Exception:  # noqa: BLE001 - sqlite3 reports every user exception this way
            raise OperationalError("user-defined function raised exception") from None
    return call


def _result_value(v):
    if v is None or type(v) in (int, float, str, bytes):
        return v
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, (int, float, str)):
        return v
    raise OperationalError("user-defined function raised exception")


def _user_aggregate(name, factory):
    def make():
        try:
            inst = factory()
        except Exception:  # noqa: BLE001
            raise OperationalError(
                f"user-defined aggregate's '__init__' method raised error") from None
        return _UserAggregate(inst)
    return make


class _UserAggregate:
    __slots__ = ("inst",)

    def __init__(self, inst):
        self.inst = inst

    def step(self, *args):
        try:
            self.inst.step(*args)
        except Exception:  # noqa: BLE001
            raise OperationalError("user-defined aggregate's 'step' method raised error") from None

    def finalize(self):
        try:
            return _result_value(self.inst.finalize())
        except OperationalError:
            raise
        except Exception:  # noqa: BLE001
            raise OperationalError(
                "user-defined aggregate's 'finalize' method raised error") from None

    def value(self):
        return self.finalize()


_DML_KINDS = {exp.Insert: "insert", exp.Update: "update", exp.Delete: "delete"}

_QUERY = Session._planned("query")
_STATEMENTS = {
    exp.Select: _QUERY,
    exp.Union: _QUERY,
    exp.Intersect: _QUERY,
    exp.Except: _QUERY,
    exp.Values: _QUERY,
    exp.Insert: Session._planned("insert"),
    exp.Update: Session._planned("update"),
    exp.Delete: Session._planned("delete"),
    exp.Create: Session._create,
    d.CreateTrigger: Session._create_trigger,
    exp.Drop: Session._drop,
    exp.Alter: Session._alter,
    AlterStatement: Session._alter,
    exp.Transaction: Session._begin,
    exp.Commit: Session._commit,
    exp.Rollback: Session._rollback,
    d.Savepoint: Session._savepoint,
    d.Release: Session._release,
    d.Pragma: Session._pragma,
    d.Explain: Session._explain,
    d.Vacuum: Session._vacuum,
    d.Reindex: Session._reindex,
    d.AnalyzeStmt: Session._noop,
}

# Transaction control: run outside the statement savepoint/autocommit wrapper.
_CONTROL_HANDLERS = frozenset((Session._begin, Session._commit, Session._rollback,
                               Session._savepoint, Session._release, Session._pragma))
