"""A table as the engine maintains it: schema, versions, indexes, row checks."""

from __future__ import annotations

from engine.catalog import TableSchema, auto_indexes
from engine.errors import IntegrityError, OperationalError, unsupported
from engine.mvcc import IndexStore, TableVersions
from engine.values import (
    BLOB, INTEGER, NUMERIC, REAL, TEXT, apply_affinity, sort_key_function, typeof)

# The value type each column affinity stores unchanged (the insert fast path).
_UNCHANGED_TYPE = {INTEGER: int, NUMERIC: int, REAL: float, TEXT: str}

# How SQLite names a value's type in STRICT errors (vdbe.c azTypes: INT, not INTEGER).
_VALUE_TYPE_NAMES = {"integer": "INT", "real": "REAL", "text": "TEXT", "blob": "BLOB"}

_STRICT_TYPES = {"INT": "integer", "INTEGER": "integer", "REAL": "real", "TEXT": "text",
                 "BLOB": "blob", "ANY": None}


class Table:
    """Everything the write path needs about one table, compiled once per schema.

    ``versions`` is shared by every Table object built for the same table across
    schema versions (CREATE INDEX makes a new Table with the same versions).
    """

    __slots__ = ("schema", "name", "key", "versions", "indexes", "unique_indexes",
                 "affinity_plan", "not_null", "checks", "alias", "without_rowid",
                 "pk_key", "strict_types", "generated")

    def __init__(self, schema: TableSchema, versions: TableVersions | None = None,
                 indexes: list[IndexStore] | None = None, compiler=None):
        self.schema = schema
        self.name = schema.name
        self.key = schema.name.lower()  # the table's key in the catalog and write sets
        self.versions = versions if versions is not None else TableVersions()
        self.alias = schema.rowid_alias
        self.without_rowid = schema.without_rowid
        # (position, affinity, the Python type the affinity leaves unchanged)
        self.affinity_plan = tuple(
            (i, col.affinity, _UNCHANGED_TYPE[col.affinity])
            for i, col in enumerate(schema.columns)
            if col.affinity != BLOB and i != schema.rowid_alias
            # A STRICT table's ANY column stores values exactly as given (stricttables.html).
            and not (schema.strict and col.decltype.upper() == "ANY"))
        self.not_null = tuple(i for i, col in enumerate(schema.columns) if col.not_null)
        self.strict_types = _strict_plan(schema) if schema.strict else ()
        self.checks = _compile_checks(schema, compiler)
        self.generated = _compile_generated(schema, compiler)
        if indexes is None:
            indexes = [IndexStore(ix) for ix in auto_indexes(schema)]
        self.indexes = indexes
        self.unique_indexes = [ix for ix in indexes if ix.schema.unique]
        self.pk_key = _pk_key_function(schema) if schema.without_rowid else None

    def storage_key(self, row):
        """The key of ``row`` in ``versions``: the PK sort key of a WITHOUT ROWID table."""
        return self.pk_key(row)

    def log_key(self, key, row, before):
        """What the commit log records for a row key (values, never sort keys)."""
        if not self.without_rowid:
            return key
        src = row if row is not None else before
        return tuple(src[i] for i in self.schema.primary_key)

    def prepare(self, row, rowid) -> tuple:
        """Apply column affinity and check NOT NULL, STRICT types and CHECK.

        Returns the row as stored. O(columns); this is on the insert hot path, so
        it touches only the columns whose affinity can change a value.
        """
        if len(row) != len(self.schema.columns):
            raise OperationalError(
                f"table {self.name} has {len(self.schema.columns)} columns but "
                f"{len(row)} values were supplied")
        values = None
        for i, aff, unchanged in self.affinity_plan:
            v = row[i]
            # (a REAL column's -0.0 is not "unchanged": it is stored as 0.0, as SQLite's
            # record format stores integral reals as integers; v == 0 is False for NULL)
            if v is not None and (type(v) is not unchanged or (v == 0 and aff == REAL)):
                if values is None:
                    values = list(row)
                values[i] = apply_affinity(v, aff)
        if values is not None:
            row = tuple(values)
        if self.generated:
            row = self._compute_generated(row, rowid)
        for i in self.not_null:
            if row[i] is None:
                raise IntegrityError(
                    f"NOT NULL constraint failed: {self.name}.{self.schema.columns[i].name}")
        if self.strict_types:
            row = self._check_strict(list(row))
        for check, fn in self.checks:
            ok = fn(row, rowid)
            if ok is not None and not ok:
                raise IntegrityError(f"CHECK constraint failed: {check.name or check.sql}")
        return row

    def _compute_generated(self, row: tuple, rowid) -> tuple:
        """``row`` with every generated column computed from the others, under its
        column's affinity (gencol.html). A generated column may read generated
        columns declared after it: passes repeat until no value changes, at most
        once per generated column (SQLite rejects cycles at CREATE). Stored and
        VIRTUAL columns are both kept in the row (a VIRTUAL one is left out of the
        checkpointed SQLite file, which computes it). O(g^2) for g generated
        columns in the worst case, O(g) when none reads another."""
        values = list(row)
        for _ in range(len(self.generated)):
            changed = False
            current = tuple(values)
            for i, fn, affinity in self.generated:
                v = fn(current, rowid)
                if affinity != BLOB and v is not None:
                    v = apply_affinity(v, affinity)
                if v is not values[i] and (type(v) is not type(values[i]) or v != values[i]):
                    values[i] = v
                    changed = True
            if not changed:
                break
        return tuple(values)

    def _check_strict(self, values: list) -> tuple:
        for i, want in self.strict_types:
            v = values[i]
            if v is None or want is None:
                continue
            got = typeof(v)
            if got != want and not (want == "real" and got == "integer"):
                col = self.schema.columns[i]
                raise IntegrityError(
                    f"cannot store {_VALUE_TYPE_NAMES[got]} value in "
                    f"{col.decltype.upper()} column {self.name}.{col.name}")
            if want == "real" and got == "integer":
                values[i] = float(v)
        return tuple(values)

    def rebuild_index(self, ix: IndexStore) -> None:
        """Fill ``ix`` with entries for every retained version. O(n log n)."""
        pairs = []
        key_of = ix.key_of
        for key in list(self.versions.rows.keys()) + list(self.versions.history.keys()):
            seen = set()
            for row in self.versions.versions_of(key):
                k = key_of(row, key)
                if k is not None and k not in seen:
                    seen.add(k)
                    pairs.append((k, key))
        ix.bulk_load(pairs)


def _strict_plan(schema: TableSchema):
    plan = []
    for i, col in enumerate(schema.columns):
        t = col.decltype.upper()
        if t not in _STRICT_TYPES:
            raise OperationalError(f"unknown datatype for {schema.name}.{col.name}: \"{col.decltype}\""
                                   if t else f"missing datatype for {schema.name}.{col.name}")
        plan.append((i, _STRICT_TYPES[t]))
    return tuple(plan)


def _compile_checks(schema: TableSchema, compiler):
    if not schema.checks:
        return ()
    if compiler is None:
        raise unsupported("CHECK constraints need the SQL layer's expression compiler")
    return tuple((c, compiler.row_function(c.sql, schema)) for c in schema.checks)


def _compile_generated(schema: TableSchema, compiler) -> tuple:
    """``(position, fn(row, rowid), affinity)`` of each generated column."""
    cols = [(i, c) for i, c in enumerate(schema.columns) if c.generated_sql]
    if not cols:
        return ()
    if compiler is None:
        raise unsupported("generated columns need the SQL layer's expression compiler")
    return tuple((i, compiler.row_function(c.generated_sql, schema), c.affinity)
                 for i, c in cols)


def _pk_key_function(schema: TableSchema):
    parts = [(i, sort_key_function(schema.columns[i].collation)) for i in schema.primary_key]
    if len(parts) == 1:
        (i, f), = parts
        return lambda row: (f(row[i]),)
    return lambda row: tuple(f(row[i]) for i, f in parts)
