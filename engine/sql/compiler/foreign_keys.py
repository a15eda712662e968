"""Foreign keys (foreignkeys.html), enforced when ``PRAGMA foreign_keys = ON``.

Checks run per statement, on the rows the statement (and its triggers) wrote,
read from the transaction's statement savepoint (``Transaction.statement_changes``):

1. parent actions: a parent row deleted, or whose key changed, applies each
   referencing constraint's ON DELETE / ON UPDATE action to the child rows still
   pointing at the old key (CASCADE, SET NULL, SET DEFAULT; RESTRICT fails at
   once; NO ACTION leaves it to step 2). Actions' own writes are processed the
   same way (cascades chain).
2. the final state is checked: every written child row's non-NULL key must have
   a parent, and no child may point at a parent key that disappeared. A failing
   immediate constraint raises "FOREIGN KEY constraint failed"; a DEFERRABLE
   INITIALLY DEFERRED one is remembered and re-checked at COMMIT, which fails
   (leaving the transaction open) while any remains violated.

Parent lookups use the parent's rowid / primary key / UNIQUE index (O(log n));
finding the children of a parent key probes an index led by the child columns
(O(log n + k)) or, without one, scans the child table. Actions fire the child
table's triggers. Known gap: rows written by those triggers are not themselves
run through the actions and checks of this statement.
"""

from __future__ import annotations

from engine.errors import IntegrityError, OperationalError
from engine.sql.lexer import ID, OPERATOR, tokenize
from engine.values import apply_affinity, sort_key_function

FAILED = "FOREIGN KEY constraint failed"


class Constraint:
    """One REFERENCES constraint, resolved against the current schema."""

    __slots__ = ("child", "fkid", "child_cols", "parent", "parent_cols", "deferred",
                 "on_delete", "on_update", "affinities")

    def __init__(self, child, fkid, child_cols, parent, parent_cols, deferred, fk, affinities):
        self.child = child
        self.fkid = fkid
        self.child_cols = child_cols
        self.parent = parent
        self.parent_cols = parent_cols
        self.deferred = deferred
        self.on_delete = fk.on_delete
        self.on_update = fk.on_update
        self.affinities = affinities


def deferred_flags(table_sql: str) -> list[bool]:
    """For each REFERENCES clause of ``table_sql`` in order: DEFERRABLE INITIALLY DEFERRED?"""
    toks = [t for t in tokenize(table_sql)]
    flags = []
    for i, tok in enumerate(toks):
        if tok.kind == ID and tok.text.upper() == "REFERENCES":
            deferred = False
            j = i + 1
            depth = 0
            while j < len(toks):
                t = toks[j]
                if t.kind == OPERATOR and t.text == "(":
                    depth += 1
                elif t.kind == OPERATOR and t.text == ")":
                    if depth == 0:
                        break
                    depth -= 1
                elif depth == 0 and (t.kind == OPERATOR and t.text == "," or
                                     t.kind == ID and t.text.upper() == "REFERENCES"):
                    break
                if t.kind == ID and t.text.upper() == "DEFERRABLE" and \
                        toks[j - 1].text.upper() != "NOT" and j + 2 < len(toks) and \
                        toks[j + 1].text.upper() == "INITIALLY" and \
                        toks[j + 2].text.upper() == "DEFERRED":
                    deferred = True
                j += 1
            flags.append(deferred)
    return flags


def _mismatch(child, parent):
    return OperationalError(f'foreign key mismatch - "{child}" referencing "{parent}"')


def constraints_of(catalog, table_schema) -> list[Constraint]:
    """The resolved REFERENCES constraints of ``table_schema`` (fkid = declaration
    order from the last, as PRAGMA foreign_key_list numbers them)."""
    out = []
    fks = table_schema.foreign_keys
    flags = deferred_flags(table_schema.sql)
    for n, fk in enumerate(fks):
        parent = catalog.table(fk.ref_table)
        child_cols = tuple(table_schema.column(c) for c in fk.columns)
        deferred = flags[n] if n < len(flags) else False
        fkid = len(fks) - 1 - n
        if parent is None:
            out.append(Constraint(table_schema.name, fkid, child_cols, fk.ref_table, None,
                                  deferred, fk, ()))
            continue
        if fk.ref_columns:
            parent_cols = tuple(parent.column(c) for c in fk.ref_columns)
            if None in parent_cols:
                raise _mismatch(table_schema.name, parent.name)
        elif parent.rowid_alias is not None:
            parent_cols = (parent.rowid_alias,)
        elif parent.primary_key:
            parent_cols = tuple(parent.primary_key)
        else:
            raise _mismatch(table_schema.name, parent.name)
        if len(parent_cols) != len(child_cols) or None in child_cols:
            raise _mismatch(table_schema.name, parent.name)
        affinities = tuple(parent.columns[p].affinity for p in parent_cols)
        out.append(Constraint(table_schema.name, fkid, child_cols, parent.name, parent_cols,
                              deferred, fk, affinities))
    return out


class ForeignKeys:
    """The constraints of one schema version: by child table and by parent table."""

    def __init__(self, catalog):
        self.catalog = catalog
        self.by_child: dict[str, list[Constraint]] = {}
        self.by_parent: dict[str, list[Constraint]] = {}
        for t in catalog.tables.values():
            if t.foreign_keys:
                for c in constraints_of(catalog, t):
                    self.by_child.setdefault(t.name.lower(), []).append(c)
                    self.by_parent.setdefault(c.parent.lower(), []).append(c)
        # SQLite runs a parent's actions newest child table first, each table's
        # constraints in declaration order (the order of its FKey hash lists)
        self.action_order: dict[str, list[Constraint]] = {}
        for parent, cs in self.by_parent.items():
            tables = list(dict.fromkeys(c.child.lower() for c in cs))
            self.action_order[parent] = [c for t in reversed(tables)
                                         for c in cs if c.child.lower() == t]

    # -- lookups ------------------------------------------------------------------------

    def parent_exists(self, txn, c: Constraint, values: tuple) -> bool:
        """Does the parent table hold a row whose key equals ``values``? O(log n)."""
        if c.parent_cols is None:
            raise OperationalError(f"no such table: main.{c.parent}")
        values = tuple(apply_affinity(v, a) for v, a in zip(values, c.affinities))
        t = txn.table(c.parent)
        schema = t.schema
        if schema.rowid_alias is not None and c.parent_cols == (schema.rowid_alias,):
            v = values[0]
            return type(v) is int and txn.get(t.name, v) is not None
        probe = [None] * len(schema.columns)
        for p, v in zip(c.parent_cols, values):
            probe[p] = v
        probe = tuple(probe)
        if schema.without_rowid and set(c.parent_cols) == set(schema.primary_key):
            return txn.get(t.name, t.pk_key(probe)) is not None
        for ix in t.unique_indexes:
            parts = ix.schema.columns
            if ix.schema.where_sql is None and \
                    sorted(p.column for p in parts if p.column is not None) == \
                    sorted(c.parent_cols) and len(parts) == len(c.parent_cols):
                return txn.unique_conflict(t.name, probe, None, ix) is not None
        raise _mismatch(c.child, c.parent)

    def children(self, txn, c: Constraint, values: tuple) -> list:
        """``(key, row)`` of child rows whose key equals parent key ``values``:
        O(log n + k) through an index led by the child columns, else O(n) scan."""
        cols, affs = c.child_cols, c.affinities
        out = []
        for key, row in self._child_candidates(txn, c, values):
            for p, a, v in zip(cols, affs, values):
                w = row[p]
                if w is None or apply_affinity(w, a) != v:
                    break
            else:
                out.append((key, row))
        return out

    def _child_candidates(self, txn, c: Constraint, values: tuple):
        """``(key, row)`` pairs holding every child row with key ``values`` (maybe
        more: callers re-check): an index probe when an index without WHERE has the
        child columns as its leading columns (in any order, as SQLite's
        sqlite3FkLocateIndex allows) and the child columns have the parent key's
        affinities, else the whole table."""
        t = txn.table(c.child)
        n = len(c.child_cols)
        columns = t.schema.columns
        if any(columns[p].affinity != a for p, a in zip(c.child_cols, c.affinities)):
            # the match applies the parent's affinity to stored child values: only
            # when the child column has that affinity already are index keys comparable
            return txn.scan(c.child)
        for ix in t.indexes:
            parts = ix.schema.columns
            if ix.schema.where_sql is not None or len(parts) < n:
                continue
            lead = [p.column for p in parts[:n]]
            if None in lead or sorted(lead) != sorted(c.child_cols):
                continue
            by_col = dict(zip(c.child_cols, values))
            prefix = tuple(sort_key_function(p.collation)(by_col[p.column]) for p in parts[:n])
            return txn.index_rows(t, ix, prefix)
        return txn.scan(c.child)

    # -- the statement check -------------------------------------------------------------

    def after_statement(self, session, txn, is_update: bool = False) -> None:
        """Apply actions, then check every constraint touched by the statement's writes.

        In an UPDATE, a row whose rowid / primary key changed was written as a delete
        followed by an insert; the pair is one updated row (ON UPDATE, not ON DELETE).
        """
        work = list(txn.statement_changes())
        if is_update:
            work = _pair_moves(work)
        done = 0
        while done < len(work):
            table, _key, old, new = work[done]
            done += 1
            if old is not None:
                for c in self.action_order.get(table.lower(), ()):
                    work.extend(self._parent_action(txn, c, old, new, session))
        pending = session.fk_pending
        for table, key, old, new in work:
            if new is not None:
                for c in self.by_child.get(table.lower(), ()):
                    if not self._child_ok(txn, c, new):
                        if not c.deferred:
                            raise IntegrityError(FAILED)
                        pending.append(("child", c, table, key))
            if old is not None:
                for c in self.by_parent.get(table.lower(), ()):
                    values = _key_values(old, c.parent_cols)
                    if values is None or (new is not None and
                                          _key_values(new, c.parent_cols) == values):
                        continue
                    if not self._parent_ok(txn, c, values):
                        if not c.deferred:
                            raise IntegrityError(FAILED)
                        pending.append(("parent", c, values, None))

    def _child_ok(self, txn, c, row) -> bool:
        if c.parent_cols is None:  # SQLite reports it even for a NULL key
            raise OperationalError(f"no such table: main.{c.parent}")
        values = _key_values(row, c.child_cols)
        return values is None or self.parent_exists(txn, c, values)

    def _parent_ok(self, txn, c, values) -> bool:
        return self.parent_exists(txn, c, values) or not self.children(txn, c, values)

    def _parent_action(self, txn, c: Constraint, old, new, session=None) -> list:
        """Apply ``c``'s ON DELETE / ON UPDATE action for a parent row change; returns
        the child writes it made as ``(table, key, before, after)``. As in SQLite
        (the actions are trigger programs), a CASCADE delete fires the child
        table's DELETE triggers and the other actions its UPDATE triggers (UPDATE OF
        the child key columns); a BEFORE trigger returning RAISE(IGNORE) skips the row."""
        values = _key_values(old, c.parent_cols)
        if values is None:
            return []
        if new is not None:
            new_values = _key_values(new, c.parent_cols)
            if new_values == values:
                return []
        action = c.on_delete if new is None else c.on_update
        if action == "NO ACTION" or self.parent_exists(txn, c, values):
            return []
        kids = self.children(txn, c, values)
        if not kids:
            return []
        if action == "RESTRICT":
            raise IntegrityError(FAILED)
        out = []
        child = txn.table(c.child)
        defaults = None
        if action == "SET DEFAULT":
            from engine.sql.session import SCHEMA_COMPILER
            cols = child.schema.columns
            defaults = [SCHEMA_COMPILER.constant(cols[p].default_sql)()
                        if cols[p].default_sql is not None else None for p in c.child_cols]
        deleting = action == "CASCADE" and new is None
        triggers = None
        if session is not None:
            triggers = session.triggers(child.schema, "DELETE" if deleting else "UPDATE")
        with_rowid = not child.schema.without_rowid
        assigned = frozenset(child.schema.columns[p].name.lower() for p in c.child_cols)
        for key, row in kids:
            old_full = row + (key,) if with_rowid else row + (None,)
            if deleting:
                if triggers and triggers.before and not triggers.fire_before(txn, None, old_full):
                    continue
                if txn.get(child.name, key) is None:
                    continue
                txn.delete(child.name, key)
                out.append((child.name, key, row, None))
                if triggers and triggers.after:
                    triggers.fire_after(txn, None, old_full)
                continue
            fill = new_values if action == "CASCADE" else \
                defaults if action == "SET DEFAULT" else [None] * len(c.child_cols)
            updated = list(row)
            for p, v in zip(c.child_cols, fill):
                updated[p] = v
            if triggers and triggers.before:
                if not triggers.fire_before(txn, tuple(updated) + (key if with_rowid else None,),
                                            old_full, assigned):
                    continue
                current = txn.get(child.name, key)
                if current is None:
                    continue
            new_key = txn.update(child.name, key, tuple(updated))
            if new_key != key:
                out.append((child.name, key, row, None))
            stored = txn.get(child.name, new_key)
            out.append((child.name, new_key, None if new_key != key else row, stored))
            if triggers and triggers.after:
                triggers.fire_after(txn, stored + (new_key if with_rowid else None,), old_full,
                                    assigned)
        return out

    # -- COMMIT and PRAGMA foreign_key_check --------------------------------------------

    def check_pending(self, txn, pending: list) -> bool:
        """True when every remembered deferred violation has been resolved."""
        for kind, c, a, b in pending:
            if kind == "child":
                row = txn.get(a, b)
                if row is not None and not self._child_ok(txn, c, row):
                    return False
            elif not self._parent_ok(txn, c, a):
                return False
        return True

    def violations(self, txn, table: str | None = None) -> list:
        """PRAGMA foreign_key_check rows ``(table, rowid, parent, fkid)``. O(n log n)."""
        out = []
        for name, cs in self.by_child.items():
            if table is not None and name != table.lower():
                continue
            t = txn.table(name)
            for key, row in txn.scan(t.name):
                for c in sorted(cs, key=lambda c: c.fkid):
                    values = _key_values(row, c.child_cols)
                    if values is None:
                        continue
                    if c.parent_cols is None or not self.parent_exists(txn, c, values):
                        out.append((t.name, None if t.without_rowid else key, c.parent, c.fkid))
        return out


def _pair_moves(changes: list) -> list:
    """Merge each (t, k1, old, None) directly followed by (t, k2, None, new) into
    (t, k2, old, new): how Transaction.update records a moved row. O(n)."""
    out = []
    i = 0
    while i < len(changes):
        a = changes[i]
        if a[3] is None and i + 1 < len(changes):
            b = changes[i + 1]
            if b[0] == a[0] and b[2] is None and b[3] is not None:
                out.append((a[0], b[1], a[2], b[3]))
                i += 2
                continue
        out.append(a)
        i += 1
    return out


def _key_values(row, cols):
    """The key ``row`` holds at ``cols``, or None if any part is NULL (no reference)."""
    values = tuple(row[p] for p in cols)
    return None if any(v is None for v in values) else values


_cache: dict = {}


def foreign_keys_of(catalog) -> ForeignKeys:
    """The ForeignKeys of ``catalog`` (cached per catalog object)."""
    found = _cache.get(id(catalog))
    if found is None or found.catalog is not catalog:
        if len(_cache) > 64:
            _cache.clear()
        found = _cache[id(catalog)] = ForeignKeys(catalog)
    return found


__all__ = ["FAILED", "ForeignKeys", "constraints_of", "deferred_flags", "foreign_keys_of"]
