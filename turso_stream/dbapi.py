"""The DB-API 2.0 surface: ``connect()``, ``Connection`` and ``Cursor``, as stdlib sqlite3.

``import turso_stream as sqlite3`` must behave like the stdlib module of Python
3.11 (PEP 249 plus sqlite3's extensions), so this module follows CPython's
``Modules/_sqlite`` rules, checked differentially against it in the tests:

* Transactions (legacy mode, the default): before an INSERT, UPDATE, DELETE or
  REPLACE outside a transaction the connection issues ``BEGIN <isolation_level>``;
  ``commit()``/``rollback()`` outside a transaction do nothing; ``executescript``
  commits a pending transaction first; ``isolation_level = None`` commits and
  switches to autocommit. Python 3.12's ``autocommit`` attribute is emulated
  (``True``: no implicit transactions; ``False``: always inside one).
* Cursors: ``rowcount`` is the number of changed rows for those four statement
  kinds (summed by ``executemany``) and -1 otherwise; a RETURNING statement's
  count appears once its rows are exhausted. ``lastrowid`` is the connection's
  last inserted rowid after every ``execute``, and untouched by ``executemany``.
* Results are materialized by the engine; fetching walks that list and applies
  converters, ``text_factory`` and ``row_factory`` (a fast path skips all three).
"""

from __future__ import annotations

import itertools
import os
import sqlite3 as _sqlite3
import sys
import threading
import traceback
from threading import get_ident as _get_ident
from urllib.parse import parse_qs, unquote

from sqlglot import exp

from engine import errors as _errors
from engine.errors import OperationalError, ProgrammingError
from engine.sql import lexer
from engine.sql.parse import parse_single
from engine.sql.session import Session
from turso_stream.adapters import (
    PASS_THROUGH_TYPES as _PLAIN_TYPES, PARSE_COLNAMES, PARSE_DECLTYPES, adapt_parameters,
    adapter_state as _adapter_state, as_sqlite_bytes, column_converters,
    converters as _converters, real_text, result_decltypes, strip_colname_type)
from turso_stream import registry
from turso_stream.row import Row

__all__ = ["connect", "Connection", "Cursor", "LEGACY_TRANSACTION_CONTROL",
           "enable_callback_tracebacks"]

LEGACY_TRANSACTION_CONTROL = -1
_ISOLATION_LEVELS = ("", "DEFERRED", "IMMEDIATE", "EXCLUSIVE")
# Messages of errors SQLite reports while preparing a statement (compile time).
_PREPARE_ERRORS = ("near ", "no such table", "no such column", "no such function",
                   "wrong number of arguments", "unrecognized token", "incomplete input",
                   "ambiguous column name", "misuse of ", "table ", "no such collation",
                   "sub-select returns", "cannot ", "DISTINCT aggregates")
_callback_tracebacks = {"enabled": False}


def enable_callback_tracebacks(flag: bool, /) -> None:
    """Print tracebacks of exceptions raised in user callbacks (the trace callback)."""
    _callback_tracebacks["enabled"] = bool(flag)


def _report_callback_error() -> None:
    if _callback_tracebacks["enabled"]:
        traceback.print_exc(file=sys.stderr)


def is_dml(sql: str) -> bool:
    """Whether sqlite3 treats ``sql`` as DML: its first word (after blanks and comments)
    starts with INSERT, UPDATE, DELETE or REPLACE (CPython's prefix test). O(prefix)."""
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in " \t\r\n\f":
            i += 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            break
    head = sql[i:i + 7].lower()
    return head.startswith(("insert", "update", "delete")) or head == "replace"


# is_dml of recently executed texts (bounded: cleared when full)
_DML_TEXTS: dict = {}
_DML_TEXTS_MAX = 512


def _remember_dml(sql: str) -> bool:
    """``is_dml(sql)``, remembered for the next execute of the same text. O(prefix)."""
    dml = is_dml(sql)
    if len(_DML_TEXTS) >= _DML_TEXTS_MAX:
        _DML_TEXTS.clear()
    _DML_TEXTS[sql] = dml
    return dml


# cursor.description of recently seen result column names (immutable, so shared;
# bounded: cleared when full)
_DESCRIPTIONS: dict = {}


def _describe(names: tuple) -> tuple:
    """``cursor.description`` for result columns ``names`` (sqlite3 fills only the
    name), remembered in _DESCRIPTIONS. O(columns)."""
    description = tuple((name, None, None, None, None, None, None) for name in names)
    if len(_DESCRIPTIONS) >= _DML_TEXTS_MAX:
        _DESCRIPTIONS.clear()
    _DESCRIPTIONS[names] = description
    return description


def _is_read_only(sql: str) -> bool:
    """Whether the statement only reads (executemany rejects those, as sqlite3 does
    via sqlite3_stmt_readonly). Unparseable text counts as writable: running it
    reports the syntax error."""
    try:
        node = parse_single(sql)
    except Exception:  # noqa: BLE001 - the real execution reports the error
        return False
    if node is None:
        return True
    return isinstance(node, (exp.Select, exp.SetOperation, exp.Values))


_NO_ROWS = object()


class Connection:
    """A connection to a turso_stream database (sqlite3.Connection's interface)."""

    Warning = _errors.Warning
    Error = _errors.Error
    InterfaceError = _errors.InterfaceError
    DatabaseError = _errors.DatabaseError
    DataError = _errors.DataError
    OperationalError = _errors.OperationalError
    IntegrityError = _errors.IntegrityError
    InternalError = _errors.InternalError
    ProgrammingError = _errors.ProgrammingError
    NotSupportedError = _errors.NotSupportedError

    def __init__(self, database, timeout=5.0, detect_types=0, isolation_level="",
                 check_same_thread=True, factory=None, cached_statements=128, uri=False,
                 *, autocommit=LEGACY_TRANSACTION_CONTROL):
        self._closed = True  # until fully opened, so __del__/close are safe
        self._isolation_level = _check_isolation_level(isolation_level)
        self._autocommit = _check_autocommit(autocommit)
        path, shared_name, read_only = _resolve_target(database, uri)
        try:
            self._db = registry.acquire(path, shared_memory_name=shared_name)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
            # sqlite3's message for a path it cannot open (missing directory, ...)
            raise OperationalError("unable to open database file") from None
        try:
            self._session = Session(self._db, cached_statements)
        except BaseException:
            registry.release(self._db)
            raise
        self._session.timeout = float(timeout)
        if read_only:  # uri mode=ro: this connection never writes
            self._session.set_read_only()
        self._lock = threading.RLock()
        self._thread = threading.get_ident()
        self._check_same_thread = bool(check_same_thread)
        self.detect_types = int(detect_types)
        self.row_factory = None
        self.text_factory = str
        self._trace = None
        self._trace_params = None
        from turso_stream import signals
        signals.watch(self._db)  # commit/table_changed/view_changed senders
        self._closed = False
        if self._autocommit is False:
            self._run("BEGIN")

    # -- guards ------------------------------------------------------------------------------------

    def _ensure_usable(self) -> None:
        """Raise sqlite3's errors for a closed connection or a foreign thread."""
        if self._check_same_thread and threading.get_ident() != self._thread:
            raise ProgrammingError(
                "SQLite objects created in a thread can only be used in that same thread. "
                f"The object was created in thread id {self._thread} and this is "
                f"thread id {threading.get_ident()}.")
        if self._closed:
            raise ProgrammingError("Cannot operate on a closed database.")

    def _run(self, sql: str, params=()):
        """Execute one statement on the session under the connection lock."""
        with self._lock:
            self._trace_params = params
            try:
                return self._session.execute(sql, params)
            finally:
                self._trace_params = None

    def _run_many(self, sql: str, seq_of_params) -> int:
        """Execute one DML statement per parameter set (compiled once) under the lock."""
        with self._lock:
            def on_row(params):
                self._trace_params = params
            try:
                return self._session.executemany(sql, seq_of_params, on_row)
            finally:
                self._trace_params = None

    def _implicit_begin(self, sql: str) -> bool:
        """Issue sqlite3's implicit ``BEGIN`` before a DML statement; True if it did.

        sqlite3 prepares the statement before beginning, so text that does not parse
        (or holds two statements) begins nothing: we parse first (the AST is cached).
        """
        if (self._autocommit == LEGACY_TRANSACTION_CONTROL and self._isolation_level is not None
                and not self._session.in_transaction and is_dml(sql)):
            try:
                parse_single(sql)
            except Exception:  # noqa: BLE001 - executing it reports the error
                return False
            self._run("BEGIN " + self._isolation_level)
            return True
        return False

    def _undo_implicit_begin(self, exc: BaseException) -> None:
        """After a statement failed right behind our implicit BEGIN: if SQLite would have
        failed while *preparing* it (before its BEGIN), end the transaction again."""
        if (isinstance(exc, OperationalError) and str(exc).startswith(_PREPARE_ERRORS)
                or " values for " in str(exc)) and self._session.in_transaction:
            self._run("ROLLBACK")

    # -- attributes ----------------------------------------------------------------------------

    @property
    def isolation_level(self):
        return self._isolation_level

    @isolation_level.setter
    def isolation_level(self, value):
        self._ensure_usable()
        level = _check_isolation_level(value)
        if level is None and self._autocommit == LEGACY_TRANSACTION_CONTROL:
            self.commit()
        self._isolation_level = level

    @isolation_level.deleter
    def isolation_level(self):
        raise AttributeError("cannot delete attribute")

    @property
    def autocommit(self):
        """Python 3.12's transaction control: True, False or LEGACY_TRANSACTION_CONTROL."""
        return self._autocommit

    @autocommit.setter
    def autocommit(self, value):
        self._ensure_usable()
        value = _check_autocommit(value)
        if value is True and self._session.in_transaction:
            self._run("COMMIT")
        elif value is False and not self._session.in_transaction:
            self._run("BEGIN")
        self._autocommit = value

    @property
    def in_transaction(self) -> bool:
        self._ensure_usable()
        return self._session.in_transaction

    @property
    def total_changes(self) -> int:
        self._ensure_usable()
        return self._session.total_changes

    # -- statements ----------------------------------------------------------------------------

    def cursor(self, factory=None):
        """A new cursor (``factory(self)`` must return a Cursor subclass instance)."""
        self._ensure_usable()
        cursor = (factory or Cursor)(self)
        if not isinstance(cursor, Cursor):
            raise TypeError(f"factory must return a cursor, not {type(cursor).__name__}")
        if self.row_factory is not None:
            cursor.row_factory = self.row_factory
        return cursor

    def execute(self, sql, parameters=(), /):
        """``self.cursor().execute(sql, parameters)``; a subclass's cursor() is honoured."""
        if type(self).cursor is not _CONNECTION_CURSOR:
            return self.cursor().execute(sql, parameters)
        if self._closed or (self._check_same_thread and _get_ident() != self._thread):
            self._ensure_usable()  # raises sqlite3's error
        cursor = Cursor(self)
        if self.row_factory is not None:
            cursor.row_factory = self.row_factory
        return cursor.execute(sql, parameters)

    def executemany(self, sql, parameters, /):
        return self.cursor().executemany(sql, parameters)

    def executescript(self, sql_script, /):
        return self.cursor().executescript(sql_script)

    def commit(self) -> None:
        """Commit the open transaction, if any (a no-op otherwise, as in sqlite3)."""
        self._ensure_usable()
        if self._autocommit is True:
            return
        if self._session.in_transaction:
            self._run("COMMIT")
        if self._autocommit is False:
            self._run("BEGIN")

    def rollback(self) -> None:
        """Roll back the open transaction, if any (a no-op otherwise)."""
        self._ensure_usable()
        if self._autocommit is True:
            return
        if self._session.in_transaction:
            self._run("ROLLBACK")
        if self._autocommit is False:
            self._run("BEGIN")

    # -- change feed (turso_stream.cdc) ------------------------------------------------------

    def changes(self, since=0, tables=None):
        """Yield the durable captured changes after ``since`` (turso_stream.cdc.changes)."""
        self._ensure_usable()
        from turso_stream import cdc
        return cdc.changes(self, since, tables)

    def changes_debezium(self, since=0, tables=None):
        """``changes`` as Debezium JSON envelopes (turso_stream.cdc.changes_debezium)."""
        self._ensure_usable()
        from turso_stream import cdc
        return cdc.changes_debezium(self, since, tables)

    def trim_changes(self, before_change_id) -> int:
        """Delete captured changes older than ``before_change_id``; returns the count."""
        self._ensure_usable()
        from turso_stream import cdc
        with self._lock:
            return cdc.trim_changes(self, before_change_id)

    def close(self) -> None:
        """Roll back any open transaction and release the database (idempotent)."""
        if self._closed:
            return
        if self._check_same_thread and threading.get_ident() != self._thread:
            self._ensure_usable()
        with self._lock:
            self._closed = True
            try:
                self._session.close()
            finally:
                registry.release(self._db)

    # -- subscriptions (turso_stream.subscriptions) ----------------------------------------

    def subscribe(self, sql: str, params=(), callback=None):
        """Subscribe ``callback(change)`` to the result of the query ``sql``: first the
        current result, then a Change per commit that changes it (see
        ``turso_stream.subscriptions``). Returns a handle (``unsubscribe()``, context
        manager). The query must be deterministic, as a materialized view's."""
        from engine.ivm.subscriptions import hub_for
        from engine.sql.parse import parse_one
        from engine.sql.session import _parameter_count, bind_parameters
        from turso_stream.subscriptions import SubscriptionHandle, dispatcher_for
        self._ensure_usable()
        if not callable(callback):
            raise TypeError("subscribe() needs a callable callback")
        node = parse_one(sql)
        if not isinstance(node, (exp.Select, exp.SetOperation, exp.Values)):
            raise ProgrammingError("subscribe() takes a query (SELECT)")
        values = tuple(bind_parameters(node, _parameter_count(node), params))
        hub = hub_for(self._db)
        handle = SubscriptionHandle(hub, callback, dispatcher_for(hub))
        with self._lock:
            hub.subscribe(self._session, sql, node, values, handle, handle._start)
        return handle

    def watch(self, sql: str, params=()):
        """``async for change in conn.watch(sql, params)``: ``subscribe`` as an async
        iterator; the subscription ends when the iteration does."""
        from turso_stream.subscriptions import watch
        return watch(lambda q, p, cb: self.subscribe(q, p, cb), sql, params)

    def __enter__(self):
        self._ensure_usable()
        return self

    def __exit__(self, exc_type, exc, tb):
        """Commit on success, roll back on an exception; never close; never swallow."""
        if exc_type is None:
            try:
                self.commit()
            except BaseException:
                self.rollback()
                raise
        else:
            self.rollback()
        return False

    def __del__(self):
        try:
            if not self._closed:
                self._closed = True
                self._session.close()
                registry.release(self._db)
        except Exception:  # noqa: BLE001 - finalizers must not raise
            pass

    # -- user functions and hooks -------------------------------------------------------

    def create_function(self, name, narg, func, *, deterministic=False):
        """Register a scalar SQL function ``name`` taking ``narg`` arguments (-1: any)."""
        self._ensure_usable()
        _check_narg(narg)
        self._session.create_function(name, narg, func, deterministic)

    def create_aggregate(self, name, n_arg, aggregate_class):
        """Register an aggregate: ``aggregate_class()`` with ``step(*args)`` and ``finalize()``."""
        self._ensure_usable()
        _check_narg(n_arg)
        self._session.create_aggregate(name, n_arg, aggregate_class)

    def create_window_function(self, name, num_params, aggregate_class, /):
        """Register (or with None remove) an aggregate window function: instances of
        ``aggregate_class`` have ``step``, ``inverse``, ``value`` and ``finalize``."""
        from engine.sql.compiler.window import register_user_window_function
        self._ensure_usable()
        _check_narg(num_params)
        register_user_window_function(self._session, name, num_params, aggregate_class)

    def create_collation(self, name, callable_):
        """Register (or with None remove) a collation ``callable_(a, b) -> int``."""
        self._ensure_usable()
        if callable_ is not None and not callable(callable_):
            raise TypeError("parameter must be callable")
        self._session.create_collation(name, callable_)

    def set_trace_callback(self, trace_callback) -> None:
        """Call ``trace_callback(sql)`` with each statement's text, parameters expanded."""
        self._ensure_usable()
        self._trace = trace_callback
        self._session.trace = None if trace_callback is None else self._on_trace

    def _on_trace(self, sql: str) -> None:
        params = self._trace_params
        try:
            self._trace(expand_sql(sql, params) if params else sql)
        except Exception:  # noqa: BLE001 - sqlite3 ignores errors in the trace callback
            _report_callback_error()

    def set_authorizer(self, authorizer_callback) -> None:
        self._ensure_usable()
        if authorizer_callback is not None:
            raise _errors.unsupported("set_authorizer (statement authorization callbacks)")

    def set_progress_handler(self, progress_handler, n) -> None:
        self._ensure_usable()
        if progress_handler is not None:
            raise _errors.unsupported("set_progress_handler (progress callbacks)")

    def interrupt(self) -> None:
        self._ensure_usable()
        raise _errors.unsupported("interrupt (aborting a running query)")

    def blobopen(self, table, column, row, /, *, readonly=False, name="main"):
        self._ensure_usable()
        raise _errors.unsupported("blobopen (incremental blob I/O)")

    def getlimit(self, category, /):
        self._ensure_usable()
        raise _errors.unsupported("getlimit (SQLite run-time limits)")

    def setlimit(self, category, limit, /):
        self._ensure_usable()
        raise _errors.unsupported("setlimit (SQLite run-time limits)")

    def serialize(self, *, name="main") -> bytes:
        """The database as the bytes of an SQLite file (via a stdlib sqlite3 copy)."""
        self._ensure_usable()
        _check_schema_name(name)
        scratch = _sqlite3.connect(":memory:")
        try:
            self.backup(scratch)
            return scratch.serialize()
        finally:
            scratch.close()

    def deserialize(self, data, /, *, name="main") -> None:
        """Replace this database's contents with the SQLite file image ``data``."""
        self._ensure_usable()
        _check_schema_name(name)
        if self._session.in_transaction:
            raise OperationalError("cannot deserialize while a transaction is open")
        scratch = _sqlite3.connect(":memory:")
        try:
            scratch.deserialize(data)
            from turso_stream.dump import copy_database
            copy_database(_SqliteSource(scratch), self)
        finally:
            scratch.close()

    # -- dump and backup ------------------------------------------------------------------

    def iterdump(self):
        """SQL text lines recreating the database, exactly as sqlite3's iterdump."""
        self._ensure_usable()
        from turso_stream.dump import iterdump
        return iterdump(self)

    def backup(self, target, *, pages=-1, progress=None, name="main", sleep=0.250):
        """Copy every table, row and schema object into ``target`` (a turso_stream or
        stdlib sqlite3 connection), replacing its contents.

        ``pages`` rows are copied per step (-1 or 0: all at once); after each step
        ``progress(0, remaining, total)`` is called with row counts.
        """
        self._ensure_usable()
        _check_schema_name(name)
        from turso_stream.dump import backup
        backup(self, target, pages=pages, progress=progress)

    # -- helpers for dump/backup/decltypes ------------------------------------------------

    def _catalog(self):
        """The schema this connection currently sees (its transaction's, else the latest)."""
        txn = self._session.txn
        return txn.catalog if txn is not None else self._db.catalog


class _SqliteSource:
    """Adapter letting copy_database read a stdlib sqlite3 connection."""

    def __init__(self, conn):
        self.conn = conn


def _check_schema_name(name) -> None:
    if name != "main":
        raise _errors.unsupported(f"schema {name!r} (only 'main'; ATTACH is not built)")


def _check_narg(narg) -> None:
    if not isinstance(narg, int) or not -1 <= narg <= 127:
        raise ProgrammingError("narg must be an int in -1..127")


def _check_isolation_level(value):
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("isolation_level must be str or None")
    upper = value.upper()
    if upper not in _ISOLATION_LEVELS:
        raise ValueError(
            "isolation_level string must be '', 'DEFERRED', 'IMMEDIATE', or 'EXCLUSIVE'")
    return upper


def _check_autocommit(value):
    if value is True or value is False or (
            type(value) is int and value == LEGACY_TRANSACTION_CONTROL):
        return value
    raise ValueError(
        "autocommit must be True, False, or sqlite3.LEGACY_TRANSACTION_CONTROL")


def _resolve_target(database, uri: bool):
    """``(path, shared_memory_name)`` for connect()'s ``database`` argument."""
    if isinstance(database, bytes):
        database = os.fsdecode(database)
    elif not isinstance(database, str):
        try:
            database = os.fspath(database)
        except TypeError:
            raise TypeError(
                f"expected str, bytes or os.PathLike object, not "
                f"{type(database).__name__}") from None
        if isinstance(database, bytes):
            database = os.fsdecode(database)
    if "\x00" in database:
        raise ValueError("embedded null character")
    if uri and database.startswith("file:"):
        return _parse_uri(database)
    return database, None, False


def _parse_uri(text: str):
    """SQLite URI filenames: ``file:path?mode=ro|rw|rwc|memory&cache=shared|private``:
    ``(path, shared-cache name or None, read-only?)``."""
    body = text[5:]
    path, _, query = body.partition("?")
    path, _, _fragment = path.partition("#")
    if path.startswith("//"):
        authority, slash, rest = path[2:].partition("/")
        if authority not in ("", "localhost"):
            raise OperationalError(f"invalid uri authority: {authority}")
        path = slash + rest
    path = unquote(path)
    options = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    mode = options.pop("mode", "rwc")
    cache = options.pop("cache", "private")
    for key in options:
        if key in ("vfs", "immutable", "nolock", "psow", "modeof"):
            raise _errors.unsupported(f"uri parameter {key}=")
    if mode not in ("ro", "rw", "rwc", "memory"):
        raise OperationalError(f"no such access mode: {mode}")
    if cache not in ("shared", "private"):
        raise OperationalError(f"no such cache mode: {cache}")
    if mode == "memory" or path in ("", ":memory:"):
        if cache == "shared" and path not in ("", ":memory:"):
            return ":memory:", path, mode == "ro"
        return ":memory:", None, mode == "ro"
    if mode in ("ro", "rw") and not (os.path.exists(path) or os.path.exists(path + "-log")):
        # (a database not yet checkpointed is its log alone)
        raise OperationalError("unable to open database file")
    return path, None, mode == "ro"


# -- trace expansion -------------------------------------------------------------------------


def sql_literal(value) -> str:
    """A value as SQLite's expanded SQL renders it (NULL, 1, 1.5, 'it''s', x'00')."""
    if value is None:
        return "NULL"
    t = type(value)
    if t is int or t is bool:
        return str(int(value))
    if t is float:
        return real_text(value)
    if t is bytes or t is bytearray or t is memoryview:
        return "x'" + bytes(value).hex() + "'"
    return "'" + str(value).replace("'", "''") + "'"


def expand_sql(sql: str, params) -> str:
    """``sql`` with each parameter replaced by its bound value (sqlite3_expanded_sql).

    Numbering follows SQLite: ``?`` takes the next index, ``?N`` index N, a named
    parameter its first index. O(len(sql)).
    """
    named = hasattr(params, "keys")
    out, pos, next_index, names = [], 0, 0, {}
    for tok in lexer.tokenize(sql, trivia=True):
        if tok.kind is not lexer.VARIABLE:
            continue
        text = tok.text
        if text == "?":
            next_index += 1
            index = next_index
        elif text[0] == "?" and text[1:].isdigit():
            index = int(text[1:])
            next_index = max(next_index, index)
        else:
            index = names.get(text)
            if index is None:
                next_index += 1
                index = names[text] = next_index
        try:
            value = params[text[1:]] if named else params[index - 1]
        except (KeyError, IndexError):
            continue
        out.append(sql[pos:tok.start])
        out.append(sql_literal(value))
        pos = tok.start + len(text)
    out.append(sql[pos:])
    return "".join(out)


# Connection.cursor itself: execute() inlines it unless a subclass overrides it
_CONNECTION_CURSOR = Connection.cursor


# -- cursors ---------------------------------------------------------------------------------


class Cursor:
    """A cursor over one connection (sqlite3.Cursor's interface)."""

    # Private state starts as these class defaults (fewer stores per cursor: one is
    # made for every Connection.execute); execute() sets them on the instance.
    _pos = 0
    _pending_rowcount = None
    _converters = None
    _closed = False

    def __init__(self, connection, /):
        if not isinstance(connection, Connection):
            raise TypeError(
                f"Cursor() argument 1 must be {__name__}.Connection, "
                f"not {type(connection).__name__}")
        self.connection = connection
        self.arraysize = 1
        self.row_factory = None
        self.description = None
        self.rowcount = -1
        self.lastrowid = None
        self._rows = []

    def _ensure_usable(self) -> None:
        self.connection._ensure_usable()
        if self._closed:
            raise ProgrammingError("Cannot operate on a closed cursor.")

    def _reset(self) -> None:
        self.description = None
        self._rows = []
        self._pos = 0
        self._pending_rowcount = None
        self._converters = None

    # -- execution ------------------------------------------------------------------------

    def execute(self, sql, parameters=(), /):
        """Run one statement with ``parameters`` (a sequence for ``?``, a dict for names).

        The hot path of every statement: the guards, the reset, the parameter check
        (plain values pass as they are), the DML test (cached per text) and the locked
        session call are inline, so the only Python calls are the session's."""
        if not isinstance(sql, str):
            raise TypeError(f"execute() argument 1 must be str, not {type(sql).__name__}")
        conn = self.connection
        if conn._closed or self._closed or (
                conn._check_same_thread and _get_ident() != conn._thread):
            self._ensure_usable()  # raises the right error, in sqlite3's order
        self.description = None
        self._rows = []
        self._pos = 0
        self._pending_rowcount = None
        self._converters = None
        if type(parameters) is tuple and not _adapter_state["base_type_adapted"] \
                and _PLAIN_TYPES.issuperset(map(type, parameters)):
            params = parameters
        else:
            params = adapt_parameters(parameters)
        dml = _DML_TEXTS.get(sql)
        if dml is None:
            dml = _remember_dml(sql)
        self.rowcount = 0 if dml else -1
        begun = False
        session = conn._session
        if dml and conn._autocommit == LEGACY_TRANSACTION_CONTROL \
                and conn._isolation_level is not None and not session.explicit:
            begun = conn._implicit_begin(sql)
        try:
            with conn._lock:
                conn._trace_params = params
                try:
                    result = session.execute(sql, params)
                finally:
                    conn._trace_params = None
        except Exception as exc:
            self.rowcount = -1  # as sqlite3 leaves a cursor whose statement failed
            if begun:
                conn._undo_implicit_begin(exc)
            raise
        self.lastrowid = session.last_insert_rowid
        if result.columns is not None:
            self._set_results(sql, result.columns, result.rows, result.decltypes)
            if dml:
                if self._rows:
                    self._pending_rowcount = result.rowcount
                else:
                    self.rowcount = result.rowcount
        elif dml:
            self.rowcount = result.rowcount
        return self

    def executemany(self, sql, seq_of_parameters, /):
        """Run one DML statement once per parameter set; rowcount is the sum."""
        if not isinstance(sql, str):
            raise TypeError(f"executemany() argument 1 must be str, not {type(sql).__name__}")
        self._ensure_usable()
        conn = self.connection
        self._reset()
        if _is_read_only(sql):
            raise ProgrammingError("executemany() can only execute DML statements.")
        dml = is_dml(sql)
        self.rowcount = 0 if dml else -1
        adapt = adapt_parameters
        adapted = (adapt(p) for p in seq_of_parameters)
        first = next(adapted, _NO_ROWS)
        if first is _NO_ROWS:
            return self
        conn._implicit_begin(sql)
        try:
            total = conn._run_many(sql, itertools.chain((first,), adapted))
        except Exception:
            self.rowcount = -1  # as sqlite3 leaves a cursor whose statement failed
            raise
        if dml:
            self.rowcount = total
        return self

    def executescript(self, sql_script, /):
        """Run a script of statements; in legacy mode, commit a pending transaction first."""
        if not isinstance(sql_script, str):
            raise TypeError(
                f"executescript() argument 1 must be str, not {type(sql_script).__name__}")
        self._ensure_usable()
        if "\x00" in sql_script:
            raise ValueError("the query contains a null character")
        conn = self.connection
        self._reset()
        if conn._autocommit == LEGACY_TRANSACTION_CONTROL and conn._session.in_transaction:
            conn._run("COMMIT")
        from engine.sql.split import split_statements
        for statement in split_statements(sql_script):
            conn._run(statement)
        return self

    def _set_results(self, sql, columns, rows, known_decltypes=None) -> None:
        conn = self.connection
        detect = conn.detect_types
        names = columns
        if detect & PARSE_COLNAMES:
            names = tuple(strip_colname_type(c) for c in columns)
        description = _DESCRIPTIONS.get(names)
        if description is None:
            description = _describe(names)
        self.description = description
        self._rows = rows
        if detect and _converters:
            decltypes = None
            if detect & PARSE_DECLTYPES and known_decltypes is not None \
                    and len(known_decltypes) == len(columns):
                decltypes = list(known_decltypes)  # from the plan: views, subqueries too
            elif detect & PARSE_DECLTYPES:
                try:
                    node = parse_single(sql)
                except Exception:  # noqa: BLE001 - it just ran, so it parses
                    node = None
                decltypes = result_decltypes(node, conn._catalog(), len(columns))
            self._converters = column_converters(columns, decltypes, detect)

    # -- fetching ---------------------------------------------------------------------------

    def _finish(self) -> None:
        """The rows ran out: a RETURNING statement's change count becomes visible."""
        if self._pending_rowcount is not None:
            self.rowcount = self._pending_rowcount
            self._pending_rowcount = None

    def _plain(self) -> bool:
        """True when rows need no conversion at all (the fast path)."""
        return (self._converters is None and self.row_factory is None
                and self.connection.text_factory is str)

    def _make_rows(self, raw: list) -> list:
        """Apply converters, text_factory and row_factory to ``raw`` rows. O(cells)."""
        converters = self._converters
        text_factory = self.connection.text_factory
        factory = self.row_factory
        if factory is _sqlite3.Row:
            factory = Row
        out = []
        append = out.append
        for values in raw:
            if converters is not None or text_factory is not str:
                values = _convert_row(values, converters, text_factory)
            append(factory(self, values) if factory is not None else values)
        return out

    def fetchone(self):
        """The next row, or None when there are no more."""
        self._ensure_usable()
        rows, pos = self._rows, self._pos
        if pos >= len(rows):
            self._finish()
            return None
        self._pos = pos + 1
        if self._pos == len(rows):
            self._finish()
        row = rows[pos]
        return row if self._plain() else self._make_rows((row,))[0]

    def fetchmany(self, size=None):
        """Up to ``size`` (default ``arraysize``) next rows."""
        self._ensure_usable()
        if size is None:
            size = self.arraysize
        rows, pos = self._rows, self._pos
        end = min(len(rows), pos + max(size, 0))
        chunk = rows[pos:end]
        self._pos = end
        if end == len(rows):
            self._finish()
        return chunk if self._plain() else self._make_rows(chunk)

    def fetchall(self):
        """All remaining rows."""
        self._ensure_usable()
        rows, pos = self._rows, self._pos
        chunk = rows[pos:] if pos else list(rows)
        self._pos = len(rows)
        self._finish()
        return chunk if self._plain() else self._make_rows(chunk)

    def __iter__(self):
        return self

    def __next__(self):
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row

    def close(self) -> None:
        """Close the cursor; later use raises ProgrammingError."""
        self.connection._ensure_usable()
        self._reset()
        self._closed = True

    def setinputsizes(self, sizes, /) -> None:
        """A no-op, as DB-API allows."""

    def setoutputsize(self, size, column=None, /) -> None:
        """A no-op, as DB-API allows."""


def _convert_row(values, converters, text_factory) -> tuple:
    """One row with converters applied (on raw bytes) and other text re-made."""
    out = list(values)
    for i, v in enumerate(out):
        if v is None:
            continue
        conv = converters[i] if converters is not None else None
        if conv is not None:
            out[i] = conv(as_sqlite_bytes(v))
        elif type(v) is str and text_factory is not str:
            out[i] = v.encode("utf-8") if text_factory is bytes else text_factory(
                v.encode("utf-8"))
    return tuple(out)


def connect(database, timeout=5.0, detect_types=0, isolation_level="",
            check_same_thread=True, factory=Connection, cached_statements=128, uri=False,
            *, autocommit=LEGACY_TRANSACTION_CONTROL):
    """Open a connection to ``database`` (a path, ``":memory:"``, or with ``uri=True`` a
    ``file:`` URI), as ``sqlite3.connect``. Connections to one file share its engine."""
    if factory is None:
        factory = Connection
    return factory(database, timeout, detect_types, isolation_level, check_same_thread,
                   factory, cached_statements, uri, autocommit=autocommit)
