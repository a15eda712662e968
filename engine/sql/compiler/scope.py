"""Name resolution: which slot of the flat row a column reference reads.

A query's FROM clause produces flat rows: the concatenation of each source's
columns, each table source followed by one hidden slot holding its rowid. A
``Scope`` lists the sources with their offsets; nested scopes (subqueries) link
to their parent, and a reference resolved in a parent marks the subquery as
correlated: it then reads the parent's current row from the parent's ``cell``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.errors import OperationalError

ROWID_NAMES = ("rowid", "oid", "_rowid_")


@dataclass(slots=True)
class ColumnMeta:
    """What the compiler knows about one output or source column."""

    name: str
    affinity: str | None = None   # a column's affinity; None for "no affinity"
    collation: str = "BINARY"
    decltype: str | None = None
    hidden: bool = False
    explicit_collation: bool = False  # a result column's COLLATE as written (EP_Collate)
    # False for a result expression with no collation at all (sqlite3ExprCollSeq is
    # NULL: not a column, no COLLATE): a compound takes a later arm's collation then
    has_collation: bool = True
    # Its values were stored through its affinity (a table's column): comparing two
    # such numeric columns converts nothing. False for a compound's, or a recursive
    # CTE's, column, whose rows from later arms were not (see ``comparison``).
    conforming: bool = True


@dataclass(slots=True)
class Source:
    """One FROM item: its name (alias), columns, and position in the flat row."""

    name: str
    columns: list[ColumnMeta]
    offset: int = 0
    rowid_slot: int | None = None  # index within this source of the rowid, if any
    table: object = None           # the engine Table for base tables
    using_hidden: set = field(default_factory=set)  # columns merged away by USING/NATURAL
    # On the leftmost source of a USING column joined RIGHT/FULL: lowercase name -> the
    # sources whose column an unqualified reference or ``*`` reads (coalesced in order).
    using_merged: dict = field(default_factory=dict)

    @property
    def width(self) -> int:
        return len(self.columns) + (1 if self.rowid_slot is not None else 0)

    def find(self, name: str) -> int | None:
        lname = name.lower()
        for i, c in enumerate(self.columns):
            if c.name.lower() == lname:
                return i
        if self.rowid_slot is not None and lname in ROWID_NAMES:
            if self.table is not None and self.table.schema.rowid_alias is not None:
                return self.table.schema.rowid_alias
            return self.rowid_slot
        return None


class Scope:
    """The sources visible to expressions at one query level."""

    def __init__(self, sources: list[Source] | None = None, parent: "Scope | None" = None):
        self.sources: list[Source] = []
        self.parent = parent
        self.cell = [None]       # the current row, for correlated subqueries
        self.correlated = False  # set when an inner scope read this scope's cell
        self.width = 0
        for s in sources or ():
            self.add(s)

    def add(self, source: Source) -> None:
        source.offset = self.width
        self.sources.append(source)
        self.width += source.width

    def resolve(self, column: str, table: str | None = None):
        """``(scope, flat index, ColumnMeta)`` for a reference, searching outward.

        Raises OperationalError "no such column" / "ambiguous column name" with
        SQLite's wording.
        """
        scope = self
        while scope is not None:
            hit = scope._resolve_here(column, table)
            if hit is not None:
                return (scope,) + hit
            scope = scope.parent
        full = f"{table}.{column}" if table else column
        raise OperationalError(f"no such column: {full}")

    def _resolve_here(self, column: str, table: str | None):
        found = None
        for s in self.sources:
            if table is not None and s.name.lower() != table.lower():
                continue
            if table is None and column.lower() in s.using_hidden:
                continue
            i = s.find(column)
            if i is None:
                continue
            if found is not None:
                raise OperationalError(f"ambiguous column name: {column}")
            meta = s.columns[i] if i < len(s.columns) else ColumnMeta(column, "INTEGER")
            found = (s.offset + i, meta)
            if table is not None:
                break
        if found is None and table is not None and not any(
                s.name.lower() == table.lower() for s in self.sources):
            return None
        return found

    def using_merged_slots(self, column: str):
        """Flat indexes an unqualified ``column`` coalesces over when it is a USING column
        of a RIGHT/FULL join at this level (SQLite's lookupName), else None."""
        lname = column.lower()
        for s in self.sources:
            merged = s.using_merged.get(lname)
            if merged is not None and lname not in s.using_hidden:
                return [m.offset + m.find(column) for m in merged]
        return None

    def has_source(self, name: str) -> bool:
        return any(s.name.lower() == name.lower() for s in self.sources)
