"""PRAGMA statements: schema introspection and the settings SQLite users reach for."""

from __future__ import annotations

from sqlglot import exp

from engine.errors import OperationalError, unsupported
from engine.storage import SYNC_FULL, SYNC_NORMAL, SYNC_OFF


def _value(node):
    v = node.args.get("value")
    if v is None:
        return None
    if isinstance(v, exp.Literal):
        return v.this if v.is_string else int(v.this) if v.this.lstrip("-").isdigit() else v.this
    if isinstance(v, exp.Neg) and isinstance(v.this, exp.Literal):
        return -int(v.this.this)
    return v.name if hasattr(v, "name") and v.name else v.sql()


def run_pragma(session, node):
    from engine.sql.session import Result
    name = node.args["name"]
    name = (name.name if hasattr(name, "name") else str(name)).lower()
    handler = _PRAGMAS.get(name)
    if handler is None:
        return Result(None, [])  # SQLite ignores unknown pragmas
    return handler(session, _value(node))


def pragma_result(session, name: str, arg):
    """PRAGMA ``name`` (lowercase) run with ``arg`` (None: the read form) for a
    ``pragma_<name>`` table (engine.sql.compiler.table_functions)."""
    return _PRAGMAS[name](session, arg)


def _catalog(session):
    txn = session.txn
    return txn.catalog if txn is not None else session.db.catalog


def _table_info(session, arg, extended=False):
    from engine.sql.session import Result
    cat = _catalog(session)
    t = cat.table(str(arg)) if arg is not None else None
    cols = ("cid", "name", "type", "notnull", "dflt_value", "pk") + (("hidden",) if extended else ())
    if t is None:
        view_cols = _view_columns(session, str(arg)) if arg is not None else None
        return Result(cols, [(i, c.name, declared_type(c.decltype) or "", 0, None, 0)
                             + ((0,) if extended else ())
                             for i, c in enumerate(view_cols or ())])
    rows = []
    pk = list(t.primary_key)
    for i, c in enumerate(t.columns):
        if c.hidden and not extended:
            continue
        r = (i, c.name, declared_type(c.decltype), 1 if c.not_null else 0, c.default_sql,
             pk.index(i) + 1 if i in pk else 0)
        rows.append(r + ((c.hidden,) if extended else ()))
    return Result(cols, rows)


_STANDARD_TYPES = frozenset(("ANY", "BLOB", "INT", "INTEGER", "REAL", "TEXT"))


def declared_type(decltype):
    """A column's type as PRAGMA table_info shows it: SQLite 3.37+ spells the
    standard type names (the STRICT ones: ANY, BLOB, INT, INTEGER, REAL, TEXT) in
    upper case whatever the CREATE text says, and any other type as written."""
    if decltype and decltype.upper() in _STANDARD_TYPES:
        return decltype.upper()
    return decltype


def _view_columns(session, name):
    """The result columns of view ``name`` (plain or materialized), or None. Plans
    ``SELECT * FROM name`` in the session's transaction (or a read-only one)."""
    from engine.sql.compiler.expr import Runtime
    from engine.sql.compiler.query import Planner
    from engine.sql.parse import parse_one
    own = session.txn is None
    if own:
        session.txn = session.begin_own()
    try:
        if session.view_for_query(name) is None:
            return None
        quoted = '"' + name.replace('"', '""') + '"'
        return Planner(session, Runtime(session)).query(parse_one(f"SELECT * FROM {quoted}")).columns
    finally:
        if own:
            txn, session.txn = session.txn, None
            txn.rollback()


def _index_list(session, arg):
    from engine.sql.session import Result
    cat = _catalog(session)
    ixs = cat.indexes_of(str(arg)) if arg is not None else []
    rows = [(i, ix.name, 1 if ix.unique else 0, ix.origin, 1 if ix.where_sql else 0)
            for i, ix in enumerate(reversed(ixs))]
    return Result(("seq", "name", "unique", "origin", "partial"), rows)


def _index_info(session, arg, extended=False):
    from engine.sql.session import Result
    cat = _catalog(session)
    ix = cat.index(str(arg)) if arg is not None else None
    if ix is None:
        return Result(("seqno", "cid", "name"), [])
    t = cat.table(ix.table)
    rows = []
    for i, p in enumerate(ix.columns):
        cid = p.column if p.column is not None else -2
        name = t.columns[p.column].name if p.column is not None else None
        rows.append((i, cid, name))
    return Result(("seqno", "cid", "name"), rows)


def _header_field(field: str):
    """PRAGMA user_version / application_id [= n]: a field of the database file's
    header (engine.storage.checkpoint.HEADER_FIELDS), read in the session's
    transaction; set, a write of that transaction or, in autocommit, of its own
    (SQLite writes the header)."""
    def run(session, arg):
        from engine.sql.session import Result
        txn = session.txn
        if arg is None:
            value = txn.get_header(field) if txn is not None else getattr(session.db, field)
            return Result((field,), [(value,)])
        value = _int_setting(arg)
        if session.explicit:  # BEGIN seen: the write belongs to that transaction
            txn = session._ensure_txn()
        if txn is not None:
            txn.set_header(field, value)
        else:
            txn = session.begin_own("DEFERRED")
            try:
                txn.set_header(field, value)
            except BaseException:
                txn.rollback()
                raise
            txn.commit()
        return Result(None, [])
    return run


def _int_setting(arg) -> int:
    """A 32-bit header value as SQLite stores it (sqlite3Atoi: leading integer, else 0)."""
    import re
    m = re.match(r"\s*[-+]?\d+", str(arg))
    v = int(m.group()) if m else 0
    return v if -2 ** 31 <= v < 2 ** 31 else 0  # sqlite3GetInt32 refuses the rest


def _busy_timeout(session, arg):
    """PRAGMA busy_timeout [= ms]: how long this connection waits for the write lock
    (the sqlite3 module's ``timeout``, in seconds there); negative means 0."""
    from engine.sql.session import Result
    if arg is not None:
        session.timeout = max(_int_setting(arg), 0) / 1000
    return Result(("timeout",), [(int(round(session.timeout * 1000)),)])


def _integrity_check(name):
    """PRAGMA integrity_check / quick_check: every structure's invariants (the
    catalog, each table's versions, each index against its table's rows, the
    snapshot registry: ``Database._check``); "ok", or what failed."""
    def run(session, arg):
        from engine.sql.session import Result
        try:
            session.db._check()
        except AssertionError as exc:
            return Result((name,), [(f"*** {exc or 'invariant failed'}",)])
        return Result((name,), [("ok",)])
    return run


def _constant(name, value):
    """A PRAGMA whose value is fixed by our storage (the checkpointed file is an
    ordinary SQLite database of 4096-byte pages, UTF-8, no auto-vacuum, no free
    pages): read, it returns ``value``; set, it is accepted and has no effect, as
    SQLite ignores these on a database that already exists."""
    def run(session, arg):
        from engine.sql.session import Result
        if arg is not None:
            return Result(None, [])
        return Result((name,), [(value,)])
    return run


def _boolean(arg) -> int:
    """A PRAGMA's boolean as sqlite3GetBoolean reads it: yes/on/true, a nonzero
    integer; anything else is 0."""
    text = str(arg).strip().lower()
    if text in ("yes", "on", "true"):
        return 1
    return 1 if _int_setting(text) != 0 else 0


def _connection_flag(name: str, default: int, meaning: str | None = None):
    """A per-connection PRAGMA flag with SQLite's ``default``. ``meaning``: what the
    other value would change (a behaviour we do not have): setting it is refused
    with NotSupportedError, never silently ignored. Without ``meaning`` the flag is
    a hint with no effect on results (it is kept, and read back)."""
    def run(session, arg):
        from engine.sql.session import Result
        values = session.__dict__.setdefault("pragma_flags", {})
        if arg is None:
            return Result((name,), [(values.get(name, default),)])
        value = _boolean(arg)
        if value != default and meaning is not None:
            raise unsupported(f"PRAGMA {name} = {value} ({meaning})")
        values[name] = value
        return Result(None, [])
    return run


def _connection_number(name: str, default: int, parse):
    """A per-connection numeric PRAGMA that tunes SQLite's caches and temp files: a
    hint with no effect on results here, kept and read back as SQLite does."""
    def run(session, arg):
        from engine.sql.session import Result
        values = session.__dict__.setdefault("pragma_flags", {})
        if arg is None:
            return Result((name,), [(values.get(name, default),)])
        values[name] = parse(arg)
        return Result(None, [])
    return run


def _temp_store_value(arg) -> int:
    """PRAGMA temp_store's argument: 0/DEFAULT, 1/FILE, 2/MEMORY; others are 0."""
    text = str(arg).strip().upper()
    return {"1": 1, "FILE": 1, "2": 2, "MEMORY": 2}.get(text, 0)


def _case_sensitive_like(session, arg):
    """PRAGMA case_sensitive_like: no read form (SQLite returns nothing); turning it
    on would make LIKE case-sensitive, which we do not do: refused."""
    from engine.sql.session import Result
    if arg is not None and _boolean(arg):
        raise unsupported("PRAGMA case_sensitive_like = 1 (case-sensitive LIKE)")
    return Result(None, [])


def _journal_mode(session, arg):
    from engine.sql.session import Result
    return Result(("journal_mode",), [("memory" if session.db.in_memory else "wal",)])


def _synchronous(session, arg):
    from engine.sql.session import Result
    db = session.db
    if arg is None:
        return Result(("synchronous",), [(db.synchronous,)])
    levels = {"0": SYNC_OFF, "OFF": SYNC_OFF, "1": SYNC_NORMAL, "NORMAL": SYNC_NORMAL,
              "2": SYNC_FULL, "FULL": SYNC_FULL, "3": SYNC_FULL, "EXTRA": SYNC_FULL}
    level = levels.get(str(arg).upper())
    if level is None:
        return Result(None, [])
    db.set_synchronous(level)
    return Result(None, [])


def _query_only(session, arg):
    """PRAGMA query_only: per connection; while on, every write fails with
    "attempt to write a readonly database" (so does BEGIN IMMEDIATE)."""
    from engine.sql.session import Result
    if arg is None:
        return Result(("query_only",), [(int(session.query_only),)])
    session.set_read_only(str(arg).upper() in ("1", "ON", "TRUE", "YES"))
    return Result(None, [])


def _foreign_keys(session, arg):
    """PRAGMA foreign_keys: per connection; a no-op inside a transaction (SQLite)."""
    from engine.sql.session import Result
    if arg is None:
        return Result(("foreign_keys",), [(int(session.foreign_keys),)])
    if session.explicit or session.txn is not None:
        return Result(None, [])
    session.foreign_keys = str(arg).upper() in ("1", "ON", "TRUE", "YES")
    return Result(None, [])


def _foreign_key_list(session, arg):
    """PRAGMA foreign_key_list(t): id, seq, table, from, to, on_update, on_delete, match."""
    from engine.sql.session import Result
    cols = ("id", "seq", "table", "from", "to", "on_update", "on_delete", "match")
    t = _catalog(session).table(str(arg)) if arg is not None else None
    if t is None:
        return Result(cols, [])
    rows = []
    n = len(t.foreign_keys)
    for i in range(n - 1, -1, -1):  # SQLite lists the last declared first, as id 0
        fk = t.foreign_keys[i]
        for seq, col in enumerate(fk.columns):
            to = fk.ref_columns[seq] if seq < len(fk.ref_columns) else None
            rows.append((n - 1 - i, seq, fk.ref_table, col, to, fk.on_update, fk.on_delete,
                         "NONE"))
    return Result(cols, rows)


def _foreign_key_check(session, arg):
    """PRAGMA foreign_key_check[(t)]: table, rowid, parent, fkid of each violating row."""
    from engine.sql.compiler.foreign_keys import foreign_keys_of
    from engine.sql.session import Result
    cols = ("table", "rowid", "parent", "fkid")
    if arg is not None and _catalog(session).table(str(arg)) is None:
        raise OperationalError(f"no such table: {arg}")
    txn = session._ensure_txn() if session.explicit else session.txn
    own = txn is None
    if own:
        txn = session.begin_own("DEFERRED")
    try:
        rows = foreign_keys_of(txn.catalog).violations(txn, None if arg is None else str(arg))
    finally:
        if own:
            txn.rollback()
    return Result(cols, rows)


def _data_version(session, arg):
    from engine.sql.session import Result
    return Result(("data_version",), [(session.db.last_ts + 1,)])


def _wal_checkpoint(session, arg):
    from engine.sql.session import Result
    if session.txn is None:
        session.db.checkpoint()
    return Result(("busy", "log", "checkpointed"), [(0, 0, 0)])


def _table_list(session, arg):
    from engine.sql.session import Result
    cat = _catalog(session)
    rows = [("main", t.name, "table", len(t.columns), 1 if t.without_rowid else 0,
             1 if t.strict else 0) for t in cat.tables.values()]
    rows += [("main", o.name, "view", 0, 0, 0) for o in cat.others.values() if o.type == "view"]
    return Result(("schema", "name", "type", "ncol", "wr", "strict"), rows)


def _capture_data_changes_conn(session, arg):
    """PRAGMA capture_data_changes_conn: this connection's CDC mode (engine.cdc)."""
    from engine.cdc import pragma_capture
    return pragma_capture(session, arg)


_PRAGMAS = {
    "table_info": _table_info,
    "table_xinfo": lambda s, a: _table_info(s, a, True),
    "index_list": _index_list,
    "index_info": _index_info,
    "user_version": _header_field("user_version"),
    "application_id": _header_field("application_id"),
    "journal_mode": _journal_mode,
    "synchronous": _synchronous,
    "foreign_keys": _foreign_keys,
    "query_only": _query_only,
    "foreign_key_list": _foreign_key_list,
    "foreign_key_check": _foreign_key_check,
    "data_version": _data_version,
    "wal_checkpoint": _wal_checkpoint,
    "table_list": _table_list,
    "capture_data_changes_conn": _capture_data_changes_conn,
    "busy_timeout": _busy_timeout,
    "integrity_check": _integrity_check("integrity_check"),
    "quick_check": _integrity_check("quick_check"),
    "page_size": _constant("page_size", 4096),
    "encoding": _constant("encoding", "UTF-8"),
    "auto_vacuum": _constant("auto_vacuum", 0),
    "freelist_count": _constant("freelist_count", 0),
    "locking_mode": _constant("locking_mode", "normal"),
    "case_sensitive_like": _case_sensitive_like,
    "recursive_triggers": _connection_flag("recursive_triggers", 0, "triggers firing themselves"),
    "ignore_check_constraints": _connection_flag("ignore_check_constraints", 0,
                                                 "skipping CHECK constraints"),
    "defer_foreign_keys": _connection_flag("defer_foreign_keys", 0,
                                           "deferring every foreign key to COMMIT"),
    "count_changes": _connection_flag("count_changes", 0, "row counts as results"),
    "legacy_alter_table": _connection_flag("legacy_alter_table", 0,
                                           "the legacy ALTER TABLE RENAME"),
    "reverse_unordered_selects": _connection_flag("reverse_unordered_selects", 0,
                                                  "reversed unordered output"),
    "automatic_index": _connection_flag("automatic_index", 1),
    "cell_size_check": _connection_flag("cell_size_check", 0),
    "cache_spill": _connection_flag("cache_spill", 1),
    "trusted_schema": _connection_flag("trusted_schema", 1),
    "cache_size": _connection_number("cache_size", -2000, _int_setting),
    "temp_store": _connection_number("temp_store", 0, _temp_store_value),
}
