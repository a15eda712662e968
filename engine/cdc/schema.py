"""Schema changes in the feed: rows of ``sqlite_schema`` for CREATE, DROP and
ALTER, and the row changes of tables ALTER TABLE rebuilt."""

from __future__ import annotations

from engine.cdc.config import DELETE, INSERT, UPDATE
from engine.cdc.functions import pk_id
from engine.cdc.record import encode_record, updates_record

SCHEMA_TABLE = "sqlite_schema"
SCHEMA_COLUMNS = ("type", "name", "tbl_name", "rootpage", "sql")


def schema_changes(txn, tables, cfg, skip) -> tuple[list, frozenset]:
    """CDC rows for what ``txn`` did to the schema, as Turso records DDL: changes of
    ``sqlite_schema`` rows ``(type, name, tbl_name, rootpage, sql)``.

    Returns ``(rows, handled)``: ``rows`` are ``[table_name, id, kind, before, after,
    updates]`` lists (capture's shape): the schema rows first (deletes, then updates,
    then inserts, so replaying them in order works), then the data rows of every
    table ALTER TABLE rebuilt (``_rebuilt_rows``), whose lower-case names are
    ``handled`` (capture skips them in its own loop).

    Net effect per object over the transaction, like row changes. ``id`` is the
    object's number in ``Catalog.created`` (SQLite's sqlite_schema rowid rule:
    max + 1; stable while the database is open, compacted by a restart as VACUUM
    compacts SQLite's). ``rootpage`` is what our ``sqlite_schema`` shows. As
    pyturso does, auto-indexes (sql NULL) are not recorded, nor the indexes and
    triggers a DROP TABLE drops with its table, nor the texts an ALTER TABLE
    rewrites in other objects (replaying the ALTER rewrites them). A table row
    kept under its number is an update only when ``alter_statements`` really
    turn the old CREATE text into the new one (``_replays``: SQLite checks);
    otherwise (a DROP and a CREATE that reused the number) it is a delete and an
    insert. Unlike pyturso, views, triggers, materialized views and ALTER TABLE
    ... RENAME are recorded too. O(objects + rows of the rebuilt tables).
    """
    db = txn.db
    old_cat, new_cat = db.catalog, txn.catalog
    old_rows, old_ids = _schema_rows(old_cat, skip)
    new_rows, new_ids = _schema_rows(new_cat, skip)
    new_by_id = {new_ids[k]: k for k in new_rows}
    deletes, updates, inserts, rebuilt = [], [], [], []
    altered, dropped, others, unexplained = set(), set(), [], []
    renamed = False  # did an ALTER rename a table or column (rewriting other texts)?
    for okey, before in old_rows.items():  # tables first: others depend on them
        rid = old_ids[okey]
        nkey = new_by_id.get(rid)
        after = new_rows[nkey] if nkey is not None else None
        if before[0] != "table":
            others.append((rid, before, after))
            continue
        if after is not None and after[0] == "table":
            if _same_entry(before, after):
                rebuilt.append((okey, nkey))
                continue
            old_s, new_s = old_cat.tables[okey], new_cat.tables[nkey]
            statements = alter_statements(old_s, new_s)
            if statements and _replays(old_s.sql, statements, new_s.name, new_s.sql):
                updates.append((rid, before, after, "; ".join(statements)))
                altered.add(okey)
                rebuilt.append((okey, nkey))
                renamed = renamed or any(" RENAME " in st for st in statements)
                continue
            if not statements:  # same columns, other text: a REFERENCES a rename edited?
                unexplained.append((okey, nkey, rid, before, after))
                continue
        dropped.add(okey)
        deletes.append((rid, before))
        if after is not None:
            inserts.append((rid, after))
    for okey, nkey, rid, before, after in unexplained:
        if renamed:  # its text was rewritten by the rename: implied, rows unchanged
            rebuilt.append((okey, nkey))
            continue
        dropped.add(okey)
        deletes.append((rid, before))
        inserts.append((rid, after))
    for rid, before, after in others:
        if after is not None and after[:2] == before[:2]:
            if _same_entry(before, after):
                continue
            if before[2].lower() in altered or (altered and before[0] != "index"):
                continue  # a text the ALTER TABLE rewrote: implied by its row
        if not (before[0] in ("index", "trigger") and before[2].lower() in dropped):
            deletes.append((rid, before))  # (else dropped with its table: implied)
        if after is not None:
            inserts.append((rid, after))
    old_numbers = set(old_ids.values())
    for nkey, after in new_rows.items():
        if new_ids[nkey] not in old_numbers:
            inserts.append((new_ids[nkey], after))
    inserts.sort(key=lambda item: item[0])
    out = []
    want_before, want_after = cfg.want_before, cfg.want_after
    for rid, before in deletes:
        out.append([SCHEMA_TABLE, rid, DELETE, _image(want_before, before), None, None])
    for rid, before, after, statement in updates:
        u = _schema_updates(before, after, statement) if cfg.want_updates else None
        out.append([SCHEMA_TABLE, rid, UPDATE, _image(want_before, before),
                    _image(want_after, after), u])
    for rid, after in inserts:
        out.append([SCHEMA_TABLE, rid, INSERT, None, _image(want_after, after), None])
    handled = []
    for okey, nkey in rebuilt:
        old_t, new_t = db.tables.get(okey), tables.get(nkey)
        if old_t is None or new_t is None or new_t.versions is old_t.versions:
            continue
        handled.append(nkey)
        out.extend(_rebuilt_rows(txn, old_t, new_t, cfg))
    return out, frozenset(handled)


def _replays(old_sql: str, statements: list, new_name: str, new_sql: str) -> bool:
    """Do ``statements`` (ALTER TABLEs) turn CREATE text ``old_sql`` into exactly
    ``new_sql``? Checked by running them in a scratch SQLite database (the oracle:
    our ALTER TABLE edits text as SQLite does). O(text length); DDL commits only."""
    import sqlite3
    scratch = sqlite3.connect(":memory:")
    try:
        scratch.execute(old_sql)
        for statement in statements:
            scratch.execute(statement)
        got = scratch.execute("SELECT sql FROM sqlite_schema WHERE type = 'table' "
                              "AND name = ? COLLATE NOCASE", (new_name,)).fetchone()
    except sqlite3.Error:
        return False
    finally:
        scratch.close()
    return got is not None and got[0] == new_sql


def _schema_rows(catalog, skip) -> tuple[dict, dict]:
    """``({name.lower(): (type, name, tbl_name, rootpage, sql)}, {name.lower(): id})``
    for the recorded objects of ``catalog`` (rootpages numbered as our sqlite_schema
    numbers them; auto-indexes, sqlite_sequence and the CDC tables left out)."""
    rows, ids = {}, {}
    created = catalog.created
    page = 1
    for type_, name, tbl, sql in catalog.entries():
        root = 0
        if type_ in ("table", "index"):
            page += 1
            root = page
        key = name.lower()
        if sql is None or key in skip or tbl.lower() in skip:
            continue
        rows[key] = (type_, name, tbl, root, sql)
        ids[key] = created.get(key, 0)
    return rows, ids


def _same_entry(a, b) -> bool:
    """Equal sqlite_schema rows but for rootpage (ours number positions: a DROP of
    an earlier object renumbers later ones without changing them)."""
    return a[0] == b[0] and a[1] == b[1] and a[2] == b[2] and a[4] == b[4]


def _image(wanted: bool, row):
    return encode_record(row) if wanted and row is not None else None


def _schema_updates(before, after, statement: str) -> bytes:
    """Turso's ``updates`` for a sqlite_schema row: the changed-flags, then the new
    values, with the sql slot holding the DDL statement that made the change (what
    Turso's sync engine executes to replay it), not the new CREATE text."""
    flags, values = [], []
    for i, (b, a) in enumerate(zip(before, after)):
        changed = type(a) is not type(b) or a != b
        flags.append(1 if changed else 0)
        values.append((statement if i == 4 else a) if changed else None)
    return encode_record(flags + values)


def sql_name(name: str) -> str:
    """``name`` as written in a statement: bare when it is a plain identifier."""
    if name.isascii() and name.replace("_", "a").isalnum() and not name[0].isdigit() \
            and name.upper() not in _KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


_KEYWORDS = frozenset((
    "ADD ALL ALTER AND AS AUTOINCREMENT BETWEEN BY CASE CHECK COLLATE COLUMN COMMIT "
    "CONSTRAINT CREATE DEFAULT DEFERRABLE DELETE DISTINCT DROP ELSE ESCAPE EXCEPT EXISTS "
    "FOREIGN FROM GROUP HAVING IN INDEX INSERT INTERSECT INTO IS ISNULL JOIN LIMIT NOT "
    "NOTNULL NULL ON OR ORDER PRIMARY REFERENCES RENAME SELECT SET TABLE THEN TO "
    "TRANSACTION UNION UNIQUE UPDATE USING VALUES WHEN WHERE").split())


def column_map(old_schema, new_schema) -> list:
    """For each column of ``new_schema``, the position of the column it was in
    ``old_schema`` (None for an added one).

    Columns match by name; the unmatched ones pair up in order as renames, and
    the rest were dropped (old) or added (new). This is the net effect of
    RENAME COLUMN / ADD COLUMN / DROP COLUMN, the only column edits ALTER TABLE
    makes (an ADD and a DROP in one transaction read as a rename). O(columns).
    """
    old_pos = {c.name.lower(): i for i, c in enumerate(old_schema.columns)}
    mapping = [old_pos.get(c.name.lower()) for c in new_schema.columns]
    used = set(m for m in mapping if m is not None)
    spare = iter([i for i in range(len(old_schema.columns)) if i not in used])
    for j, m in enumerate(mapping):
        if m is None:
            mapping[j] = next(spare, None)
    return mapping


def alter_statements(old_schema, new_schema) -> list[str]:
    """ALTER TABLE statements taking ``old_schema`` to ``new_schema``: RENAME TO,
    then RENAME COLUMN, DROP COLUMN and ADD COLUMN (the definition's text as the
    new CREATE text has it, as SQLite spliced it in). O(columns + text length)."""
    from engine.sql.alter import TableText
    name = old_schema.name
    out = []
    if new_schema.name != name:
        out.append(f"ALTER TABLE {sql_name(name)} RENAME TO {sql_name(new_schema.name)}")
        name = new_schema.name
    table = sql_name(name)
    mapping = column_map(old_schema, new_schema)
    olds, news = old_schema.columns, new_schema.columns
    for j, i in enumerate(mapping):
        if i is not None and olds[i].name != news[j].name:
            out.append(f"ALTER TABLE {table} RENAME COLUMN {sql_name(olds[i].name)} "
                       f"TO {sql_name(news[j].name)}")
    kept = set(m for m in mapping if m is not None)
    for i, col in enumerate(olds):
        if i not in kept:
            out.append(f"ALTER TABLE {table} DROP COLUMN {sql_name(col.name)}")
    text = None
    for j, i in enumerate(mapping):
        if i is None:
            if text is None:
                text = TableText(new_schema.sql)
            a, b = text.columns[j]
            coldef = new_schema.sql[text.toks[a].start:text.toks[b].start].strip()
            out.append(f"ALTER TABLE {table} ADD COLUMN {coldef}")
    return out


def _rebuilt_rows(txn, old_t, new_t, cfg) -> list:
    """The row changes of a table ALTER TABLE rebuilt (a fresh row store holding
    every row in the write set): its committed rows, put in the new shape
    (``column_map``; an added column holds its DEFAULT), against the rows it
    commits. Rows the ALTER alone reshaped are no change (pyturso records none);
    rows also written by the transaction are updates, inserts or deletes, with
    before images in the new shape (after the schema row in the feed, so a
    consumer decodes both with the same columns). O(n) for the table's n rows."""
    mapping = column_map(old_t.schema, new_t.schema)
    cols = new_t.schema.columns
    added = {}
    for j, i in enumerate(mapping):
        if i is None:
            default = cols[j].default_sql
            value = None
            if default is not None and cols[j].generated_sql is None and \
                    txn.db.compiler is not None:
                value = txn.db.compiler.constant(default)()
            added[j] = value
    generated = {j for j, c in enumerate(cols) if c.generated_sql is not None}
    name = new_t.name
    pk = new_t.schema.primary_key if new_t.without_rowid else None
    writes = txn.writes.get(new_t.name.lower()) or {}
    old_rows = old_t.versions.rows
    want_before, want_after, want_updates = cfg.want_before, cfg.want_after, cfg.want_updates
    out = []

    def reshape(row, new_row):
        return tuple((new_row[j] if j in generated and new_row is not None else
                      added[j] if i is None else row[i]) for j, i in enumerate(mapping))

    keys = list(old_rows.keys())
    keys += [k for k in writes if k not in old_rows]
    for key in keys:
        after = writes.get(key)
        old = old_rows.get(key)
        before = reshape(old, after) if old is not None else None
        if before is None:
            if after is None:
                continue
            kind = INSERT
        elif after is None:
            kind = DELETE
        else:
            if all(type(a) is type(b) and a == b for a, b in zip(before, after)):
                continue
            kind = UPDATE
        rid = key if pk is None else pk_id(after if after is not None else before, pk)
        out.append([name, rid, kind,
                    encode_record(before) if want_before and before is not None else None,
                    encode_record(after) if want_after and after is not None else None,
                    updates_record(before, after) if want_updates and kind == UPDATE
                    else None])
    return out
