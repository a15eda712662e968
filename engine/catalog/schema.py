"""Schema objects: columns, tables, indexes, and the immutable catalog.

The CREATE statement text is the source of truth, as in SQLite's
``sqlite_schema``: every object keeps its ``sql`` and is rebuilt from it on
open (see ``engine.catalog.ddl``). Expressions inside a schema (DEFAULT, CHECK,
index expressions, partial-index WHERE) are kept as SQL text; the SQL layer
compiles them into row functions (``ExpressionCompiler``).

Names are matched case-insensitively (SQLite folds ASCII case for identifiers),
so every mapping here is keyed by ``name.lower()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Protocol

from engine.values import INTEGER, affinity_of

CONFLICT_ACTIONS = ("ROLLBACK", "ABORT", "FAIL", "IGNORE", "REPLACE")


@dataclass(frozen=True, slots=True)
class Column:
    """One declared column. ``decltype`` is the type text exactly as written."""

    name: str
    decltype: str = ""
    not_null: bool = False
    not_null_conflict: str | None = None
    default_sql: str | None = None
    collation: str = "BINARY"
    primary_key: bool = False
    generated_sql: str | None = None
    generated_stored: bool = False
    hidden: int = 0

    @property
    def affinity(self) -> str:
        return affinity_of(self.decltype)


@dataclass(frozen=True, slots=True)
class CheckConstraint:
    """A CHECK constraint; ``name`` is the CONSTRAINT name or None."""

    sql: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ForeignKey:
    """FOREIGN KEY (columns) REFERENCES table (ref_columns) with its actions."""

    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str = "NO ACTION"
    on_update: str = "NO ACTION"


@dataclass(frozen=True, slots=True)
class IndexColumn:
    """One key part of an index: a column (by position) or an expression."""

    column: int | None
    expr_sql: str | None = None
    collation: str = "BINARY"
    desc: bool = False


@dataclass(frozen=True, slots=True)
class IndexSchema:
    """An index. ``origin`` is SQLite's: 'c' CREATE INDEX, 'u' UNIQUE, 'pk' PRIMARY KEY.

    Auto-indexes (origin 'u'/'pk') have ``sql`` None, as in sqlite_schema.
    """

    name: str
    table: str
    columns: tuple[IndexColumn, ...]
    unique: bool = False
    where_sql: str | None = None
    sql: str | None = None
    origin: str = "c"
    conflict: str | None = None


@dataclass(frozen=True, slots=True)
class TableSchema:
    """A table: columns in declared order, key structure and constraints.

    ``rowid_alias`` is the position of the INTEGER PRIMARY KEY column (whose value
    *is* the rowid), or None. A WITHOUT ROWID table is keyed by ``primary_key``
    (column positions); a rowid table by its rowid.
    """

    name: str
    sql: str
    columns: tuple[Column, ...]
    rowid_alias: int | None = None
    primary_key: tuple[int, ...] = ()
    pk_conflict: str | None = None
    without_rowid: bool = False
    strict: bool = False
    autoincrement: bool = False
    checks: tuple[CheckConstraint, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    unique_sets: tuple[tuple[tuple[int, ...], str | None], ...] = ()
    pk_order: int = 0  # how many UNIQUE constraints were declared before the PRIMARY KEY
    column_index: dict[str, int] = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if not self.column_index:
            for i, col in enumerate(self.columns):
                self.column_index.setdefault(col.name.lower(), i)

    def column(self, name: str) -> int | None:
        """Position of column ``name`` (case-insensitive), or None. O(1)."""
        return self.column_index.get(name.lower())

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def with_name(self, name: str, sql: str) -> "TableSchema":
        return replace(self, name=name, sql=sql)


@dataclass(frozen=True, slots=True)
class SchemaObject:
    """A view or trigger: kept as SQL, interpreted by the SQL layer."""

    type: str  # 'view' | 'trigger'
    name: str
    table: str
    sql: str


def _number_new_objects(catalog) -> None:
    """Give every object without a creation sequence number the next ones, and forget
    dropped names: ``created`` orders ``entries()`` (sqlite_schema order)."""
    created = catalog.created
    live = set(catalog.tables) | set(catalog.indexes) | set(catalog.others)
    for name in [n for n in created if n not in live]:
        del created[name]
    n = max(created.values(), default=0)
    for mapping in (catalog.tables, catalog.indexes, catalog.others):
        for name in mapping:
            if name not in created:
                n += 1
                created[name] = n


class ExpressionCompiler(Protocol):
    """What the SQL layer provides so the engine can evaluate schema expressions.

    ``row_function(sql, table)`` compiles an expression over one row of ``table``
    (a tuple in declared column order, with the rowid available to the compiled
    code through ``rowid`` columns) into ``f(row, rowid) -> value``;
    ``constant(sql)`` compiles a DEFAULT expression into ``f() -> value``.
    """

    def row_function(self, sql: str, table: TableSchema) -> Callable: ...

    def constant(self, sql: str) -> Callable: ...


@dataclass(frozen=True, slots=True)
class Catalog:
    """An immutable snapshot of the schema; DDL produces a new Catalog.

    Transactions hold the catalog of their snapshot, so readers never see a
    half-applied schema change. ``version`` increases with every change.
    """

    tables: dict[str, TableSchema] = field(default_factory=dict)
    indexes: dict[str, IndexSchema] = field(default_factory=dict)
    others: dict[str, SchemaObject] = field(default_factory=dict)
    version: int = 0
    created: dict[str, int] = field(default_factory=dict)  # name -> creation sequence

    def __post_init__(self):
        _number_new_objects(self)

    def table(self, name: str) -> TableSchema | None:
        return self.tables.get(name.lower())

    def index(self, name: str) -> IndexSchema | None:
        return self.indexes.get(name.lower())

    def indexes_of(self, table: str) -> list[IndexSchema]:
        """The table's indexes in creation order. O(number of indexes)."""
        t = table.lower()
        return [ix for ix in self.indexes.values() if ix.table.lower() == t]

    def name_taken(self, name: str) -> str | None:
        """'table'/'index'/'view'/'trigger' if ``name`` is used, else None."""
        key = name.lower()
        if key in self.tables:
            return "table"
        if key in self.indexes:
            return "index"
        obj = self.others.get(key)
        return obj.type if obj else None

    def evolve(self, *, tables=None, indexes=None, others=None) -> "Catalog":
        """A new catalog with the given mappings replaced and version + 1."""
        return Catalog(
            tables=self.tables if tables is None else tables,
            indexes=self.indexes if indexes is None else indexes,
            others=self.others if others is None else others,
            version=self.version + 1,
            created=dict(self.created),
        )

    def entries(self) -> list[tuple]:
        """``(type, name, tbl_name, sql)`` of every object in creation order, as
        ``sqlite_schema`` lists them (auto-indexes have sql None)."""
        rows = [("table", t.name, t.name, t.sql) for t in self.tables.values()]
        rows += [("index", ix.name, ix.table, ix.sql) for ix in self.indexes.values()]
        rows += [(o.type, o.name, o.table, o.sql) for o in self.others.values()]
        order = self.created
        return sorted(rows, key=lambda r: order.get(r[1].lower(), 0))

    def _check(self) -> None:
        for key, t in self.tables.items():
            assert key == t.name.lower(), (key, t.name)
            if t.rowid_alias is not None:
                assert t.columns[t.rowid_alias].decltype.upper() == INTEGER
        for key, ix in self.indexes.items():
            assert key == ix.name.lower()
            assert ix.table.lower() in self.tables, f"index {ix.name} on missing table"
            ncols = len(self.tables[ix.table.lower()].columns)
            for part in ix.columns:
                assert part.column is None or 0 <= part.column < ncols
        for key in self.others:
            assert key not in self.tables and key not in self.indexes
