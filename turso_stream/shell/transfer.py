"""``.dump`` and ``.import``: moving data out as SQL text and in from CSV files.

``dump`` writes what sqlite3 3.40's ``.dump`` writes: ``PRAGMA foreign_keys=OFF;``,
``BEGIN TRANSACTION;``, each table's CREATE statement followed by one ``INSERT INTO``
per row (values as the shell's insert mode renders them), then the CREATE statements
of indexes, triggers and views in schema order, then ``COMMIT;``.

``import_csv`` reads RFC 4180 CSV the way shell.c's ``csv_read_one_field`` does (a
quoted field may span lines, ``""`` is a quote, CR before LF is dropped) and inserts
every record in one transaction; a missing table is created from the header line with
TEXT columns.  Records with too few fields are padded with NULL, extra fields dropped,
each with sqlite3's warning on stderr.
"""

from __future__ import annotations

from turso_stream.shell.render import quote_name, sql_literal

__all__ = ["dump", "import_csv", "read_csv_records"]


def _schema_rows(shell) -> list[tuple]:
    _, rows = shell.query("SELECT type, name, tbl_name, sql FROM sqlite_schema "
                          "WHERE sql NOT NULL")
    return rows


def _like_match(shell, pattern: str, value: str) -> bool:
    _, rows = shell.query("SELECT ?1 LIKE ?2", (value, pattern))
    return bool(rows[0][0])


def _table_create(shell, name: str, sql: str) -> str:
    from turso_stream.shell.dot import schema_line
    if name == "sqlite_sequence":
        return "DELETE FROM sqlite_sequence;\n"
    if name == "sqlite_stat1":
        return "ANALYZE sqlite_schema;\n"
    return schema_line(shell, "table", name, sql)


def dump(shell, args) -> int:
    """.dump ?PATTERN?: the database, or the tables matching the LIKE pattern, as SQL.

    O(rows): each table is read once with ``SELECT *``."""
    if len(args) > 1:
        shell.error("Usage: .dump ?LIKE-PATTERN?")
        return 1
    pattern = args[0] if args else None
    schema = _schema_rows(shell)
    tables = [r for r in schema if r[0] == "table"
              and (pattern is None or _like_match(shell, pattern, r[1]))]
    tables.sort(key=lambda r: r[1] == "sqlite_sequence")
    write = shell.write
    write("PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n")
    for _, name, _, sql in tables:
        if sql.upper().startswith("CREATE VIRTUAL TABLE"):
            continue
        write(_table_create(shell, name, sql))
        if name == "sqlite_stat1":
            continue
        head = "INSERT INTO " + quote_name(name) + " VALUES("
        cur = shell.conn.execute("SELECT * FROM " + quote_name(name))
        for row in cur:
            write(head + ",".join([sql_literal(v) for v in row]) + ");\n")
    for kind, name, _, sql in schema:
        if kind == "table" or (pattern is not None and not _like_match(shell, pattern, name)):
            continue
        write(sql + ";\n")
    write("COMMIT;\n")
    return 0


def read_csv_records(text: str, sep: str, rowsep: str = "\n"):
    """Yield ``(line number, fields)`` of each CSV record in ``text``. O(len(text)).

    A field opening with ``"`` runs to the matching quote (``""`` inside is one quote,
    newlines included); other fields run to the separator or the end of the line.  An
    unquoted empty field is ``""``; a record ends at ``rowsep`` (LF, CR LF accepted)."""
    i, n, line = 0, len(text), 1
    nl = rowsep if rowsep not in ("\r\n", "\n") else "\n"
    while i < n:
        start_line = line
        fields = []
        while True:
            if i < n and text[i] == '"':
                j = i + 1
                parts = []
                while j < n:
                    if text[j] == '"':
                        if j + 1 < n and text[j + 1] == '"':
                            parts.append('"')
                            j += 2
                            continue
                        break
                    if text[j] == "\n":
                        line += 1
                    parts.append(text[j])
                    j += 1
                field = "".join(parts)
                i = j + 1
                # Text between the closing quote and the next separator is kept (sqlite3).
                while i < n and not text.startswith(sep, i) and not text.startswith(nl, i):
                    field += text[i]
                    i += 1
            else:
                j = i
                while j < n and not text.startswith(sep, j) and not text.startswith(nl, j):
                    j += 1
                field = text[i:j]
                i = j
            if field.endswith("\r") and text.startswith(nl, i):
                field = field[:-1]
            fields.append(field)
            if i < n and text.startswith(sep, i):
                i += len(sep)
                continue
            i += len(nl)
            line += 1
            break
        yield start_line, fields


def _parse_import_args(shell, args):
    csv_mode = shell.cfg.mode == "csv"
    skip = 0
    rest = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("--csv", "-csv"):
            csv_mode = True
        elif a in ("--skip", "-skip") and i + 1 < len(args) and args[i + 1].isdigit():
            skip = int(args[i + 1])
            i += 1
        elif a.startswith("-"):
            return None
        else:
            rest.append(a)
        i += 1
    if len(rest) != 2:
        return None
    if shell.cfg.mode == "csv" and shell.cfg.row_sep == "\r\n" and "--csv" not in args:
        # shell.c: importing in csv mode turns the CRLF output row separator into the
        # input one, "\n", for good (it keeps a single separator setting).
        shell.cfg.row_sep = "\n"
    sep = "," if csv_mode else shell.cfg.col_sep
    rowsep = "\n" if csv_mode else shell.cfg.row_sep
    return rest[0], rest[1], sep, rowsep, skip


def import_csv(shell, args) -> int:
    """.import ?--csv? ?--skip N? FILE TABLE: load FILE's records into TABLE.

    Runs in one transaction: O(records)."""
    parsed = _parse_import_args(shell, args)
    if parsed is None:
        shell.error("Usage: .import ?--csv? ?--skip N? FILE TABLE")
        return 1
    path, table, sep, rowsep, skip = parsed
    if len(sep) != 1:
        shell.error("Error: multi-character column separators not allowed for import")
        return 1
    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
            text = f.read()
    except OSError:
        shell.error(f'Error: cannot open "{path}"')
        return 1
    records = read_csv_records(text, sep, rowsep)
    for _ in range(skip):
        next(records, None)
    _, exists = shell.query("SELECT 1 FROM sqlite_schema WHERE type IN ('table','view') "
                            "AND name = ?1", (table,))
    qname = quote_name(table)
    if not exists:
        header = next(records, None)
        if header is None:
            return 0
        cols = ", ".join('"' + c.replace('"', '""') + '" TEXT' for c in header[1])
        shell.conn.execute(f'CREATE TABLE "{table.replace(chr(34), chr(34) * 2)}"(\n{cols})')
    ncols = len(shell.conn.execute(f"SELECT * FROM {qname} LIMIT 0").description)
    insert = f"INSERT INTO {qname} VALUES({','.join('?' * ncols)})"
    return _insert_records(shell, path, records, insert, ncols)


def _insert_records(shell, path, records, insert: str, ncols: int) -> int:
    """Insert every record inside one transaction; warn about ragged records."""
    conn = shell.conn
    conn.execute("BEGIN")
    done = 0
    every = shell.progress_every
    try:
        for line, fields in records:
            if len(fields) == 1 and fields[0] == "" and ncols > 1:
                continue  # a blank line
            if len(fields) < ncols:
                shell.error(f"{path}:{line}: expected {ncols} columns but found "
                            f"{len(fields)} - filling the rest with NULL")
                fields = fields + [None] * (ncols - len(fields))
            elif len(fields) > ncols:
                shell.error(f"{path}:{line}: expected {ncols} columns but found "
                            f"{len(fields)} - extras ignored")
                fields = fields[:ncols]
            conn.execute(insert, fields)
            done += 1
            if done % every == 0:
                shell.progress(f"importing {path}", done)
    except Exception:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    if done >= every:
        shell.progress(f"imported {path}", done, done)
        if shell.interactive:
            shell.err.write("\n")
    return 0
