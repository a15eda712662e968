"""Output modes of the shell: how one statement's rows are printed, as sqlite3 3.40 prints them.

Each mode is a function ``render_<mode>(names, rows, cfg) -> str`` over the whole result
(the columnar modes need every row to size their columns; the others are cheap enough to
build as one string and write once).  ``cfg`` is the shell's :class:`OutputSettings`.

The rules are those of SQLite's ``shell.c`` (``shell_callback`` and ``exec_prepared_stmt_
columnar``): list/tabs join with the column separator; csv quotes a field holding a blank,
a quote, a control or non-ASCII character or the separator, and ends rows with CRLF; line
right-aligns names to at least 5 characters; column/table/box/markdown size each column to
its widest cell, and table/box/markdown centre their headers; json and insert render REALs
with ``%!.20g`` and infinities as ``1e999``.  Every function is O(total cell text).
"""

from __future__ import annotations

import math

from engine.values import format_real, to_text

__all__ = ["MODES", "OutputSettings", "render", "value_text", "sql_literal", "quote_name",
           "real_text", "csv_field"]

MODES = ("list", "csv", "column", "table", "box", "markdown", "json", "line", "tabs",
         "insert", "quote", "html", "ascii", "tcl")

# SQLite's keywords (sqlite3_keyword_check): names equal to one are quoted by .dump/insert.
_KEYWORDS = frozenset("""ABORT ACTION ADD AFTER ALL ALTER ALWAYS ANALYZE AND AS ASC ATTACH
    AUTOINCREMENT BEFORE BEGIN BETWEEN BY CASCADE CASE CAST CHECK COLLATE COLUMN COMMIT
    CONFLICT CONSTRAINT CREATE CROSS CURRENT CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP
    DATABASE DEFAULT DEFERRABLE DEFERRED DELETE DESC DETACH DISTINCT DO DROP EACH ELSE END
    ESCAPE EXCEPT EXCLUDE EXCLUSIVE EXISTS EXPLAIN FAIL FILTER FIRST FOLLOWING FOR FOREIGN
    FROM FULL GENERATED GLOB GROUP GROUPS HAVING IF IGNORE IMMEDIATE IN INDEX INDEXED
    INITIALLY INNER INSERT INSTEAD INTERSECT INTO IS ISNULL JOIN KEY LAST LEFT LIKE LIMIT
    MATCH MATERIALIZED NATURAL NO NOT NOTHING NOTNULL NULL NULLS OF OFFSET ON OR ORDER
    OTHERS OUTER OVER PARTITION PLAN PRAGMA PRECEDING PRIMARY QUERY RAISE RANGE RECURSIVE
    REFERENCES REGEXP REINDEX RELEASE RENAME REPLACE RESTRICT RETURNING RIGHT ROLLBACK ROW
    ROWS SAVEPOINT SELECT SET TABLE TEMP TEMPORARY THEN TIES TO TRANSACTION TRIGGER
    UNBOUNDED UNION UNIQUE UPDATE USING VACUUM VALUES VIEW VIRTUAL WHEN WHERE WINDOW WITH
    WITHOUT""".split())


class OutputSettings:
    """The mutable output state the dot-commands change (.mode, .headers, .separator...)."""

    __slots__ = ("mode", "headers", "headers_set", "col_sep", "row_sep", "nullvalue",
                 "insert_table", "widths")

    def __init__(self) -> None:
        self.mode = "list"
        self.headers = False
        self.headers_set = False  # .headers given explicitly: .mode column keeps it
        self.col_sep = "|"
        self.row_sep = "\n"
        self.nullvalue = ""
        self.insert_table = '"table"'
        self.widths: list[int] = []  # .width: per column, 0 automatic, < 0 right-aligned

    def set_mode(self, mode: str, table: str | None = None) -> None:
        """Switch mode, resetting separators exactly where ``.mode`` does in sqlite3 3.40
        (line/column reset the row separator; tabs only the column separator)."""
        self.mode = mode
        if mode == "csv":
            self.col_sep, self.row_sep = ",", "\r\n"
        elif mode == "tabs":
            self.col_sep = "\t"
        elif mode == "ascii":
            self.col_sep, self.row_sep = "\x1f", "\x1e"
        elif mode == "tcl":
            self.col_sep, self.row_sep = " ", "\n"
        elif mode in ("list", "quote"):
            self.col_sep, self.row_sep = ("|" if mode == "list" else ","), "\n"
        elif mode in ("line", "column"):
            self.row_sep = "\n"
            if mode == "column" and not self.headers_set:
                self.headers = True
        if mode == "insert":
            self.insert_table = quote_name(table) if table else '"table"'


def real_text(value: float) -> str:
    """A REAL as sqlite3_column_text gives it (``%!.15g``; Inf/-Inf): the engine's
    own text conversion, so the shell and CAST agree."""
    return to_text(value)


def _real_literal(value: float) -> str:
    """A REAL as the shell's insert/json/dump modes write it: ``%lld.0`` when integral,
    else ``%!.20g`` (round-trips exactly); infinities as ``1e999``."""
    if math.isinf(value):
        return "1e999" if value > 0 else "-1e999"
    if math.isnan(value):
        return "NULL"
    if value == int(value) and abs(value) < 9.2e18:
        return "%d.0" % int(value)
    # SQLite's digits past the 17th come from x87 long double arithmetic, not C's.
    return format_real(value, "g", 20, altform2=True)


def _real_digits(value: float) -> str:
    """``%!.20g`` as quote and json modes print a REAL, with no integral shortcut: 18.0
    shows SQLite's long double digits, 17.999999999999999999."""
    if math.isinf(value):
        return "1e999" if value > 0 else "-1e999"
    return format_real(value, "g", 20, altform2=True)


def value_text(value, nullvalue: str) -> str:
    """A value as text for the list/csv/line/columnar modes. O(len(value))."""
    if value is None:
        return nullvalue
    cls = type(value)
    if cls is str:
        # The shell prints C strings: text ends at its first NUL.
        return value if "\x00" not in value else value[:value.index("\x00")]
    if cls is int:
        return str(value)
    if cls is float:
        return real_text(value)
    # A BLOB is written as its raw bytes up to the first NUL; surrogateescape carries
    # invalid UTF-8 through stdout unchanged.
    raw = bytes(value)
    if b"\x00" in raw:
        raw = raw[:raw.index(b"\x00")]
    return raw.decode("utf-8", "surrogateescape")


def quote_name(name: str) -> str:
    """An identifier as .dump writes it: bare when a plain non-keyword word, else in
    double quotes (shell.c ``quoteChar``)."""
    plain = bool(name) and (name[0].isalpha() or name[0] == "_") and name.isascii() and all(
        c.isalnum() or c == "_" for c in name)
    if plain and name.upper() not in _KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def _unused_marker(text: str, first: str, second: str) -> str:
    """shell.c ``unused_string``: a marker for newline/CR that does not occur in ``text``."""
    if first not in text:
        return first
    if second not in text:
        return second
    i = 0
    while True:
        marker = "(%s%d)" % (first, i)
        if marker not in text:
            return marker
        i += 1


def _text_literal(text: str) -> str:
    """A TEXT value as an SQL literal the way .dump writes it: newlines and carriage
    returns escaped through ``replace(..., char(10))`` (shell.c
    ``output_quoted_escaped_string``)."""
    body = "'" + text.replace("'", "''") + "'"
    if "\n" not in text and "\r" not in text:
        return body
    prefix = suffix = ""
    if "\n" in text:
        nl = _unused_marker(text, "\\n", "\\012")
        body = body.replace("\n", nl)
        prefix += "replace("
        suffix = ",'%s',char(10))" % nl
    if "\r" in text:
        cr = _unused_marker(text, "\\r", "\\015")
        body = body.replace("\r", cr)
        prefix += "replace("
        suffix = ",'%s',char(13))" % cr + suffix
    return prefix + body + suffix


def sql_literal(value, insert_mode: bool = True) -> str:
    """A value as an SQL literal. ``insert_mode`` (insert mode, .dump) escapes newlines
    through replace() and writes integral REALs as ``N.0``; quote mode keeps newlines
    raw and prints every REAL with ``%!.20g``. O(len(value))."""
    if value is None:
        return "NULL"
    cls = type(value)
    if cls is int:
        return str(value)
    if cls is float:
        return _real_literal(value) if insert_mode else _real_digits(value)
    if cls is str:
        if insert_mode:
            return _text_literal(value)
        return "'" + value.replace("'", "''") + "'"
    return "X'" + bytes(value).hex() + "'"


def _json_string(text: str) -> str:
    """A JSON string as shell.c ``output_json_string`` writes it (\\uXXXX for controls)."""
    out = ['"']
    for ch in text:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _json_value(value) -> str:
    if value is None:
        return "null"
    cls = type(value)
    if cls is int:
        return str(value)
    if cls is float:
        return _real_digits(value) if value == value else "null"
    if cls is str:
        return _json_string(value)
    return _json_string(bytes(value).decode("utf-8", "surrogateescape"))


def csv_field(text: str | None, cfg: OutputSettings) -> str:
    """One csv field (shell.c ``output_csv``): NULL is the null text, unquoted; a field
    that is empty or holds a blank, quote, control, non-ASCII character or the
    separator is double-quoted with quotes doubled."""
    if text is None:
        return cfg.nullvalue
    if text == "" or cfg.col_sep in text or any(
            c <= " " or c in "\"'" or c >= "\x7f" for c in text):
        return '"' + text.replace('"', '""') + '"'
    return text


def render_list(names, rows, cfg: OutputSettings) -> str:
    """list/tabs modes: fields joined by the column separator, each row ends with the row
    separator; the header line when headers are on."""
    sep, end, null = cfg.col_sep, cfg.row_sep, cfg.nullvalue
    out = []
    if cfg.headers and rows:
        out.append(sep.join(names) + end)
    for row in rows:
        out.append(sep.join([value_text(v, null) for v in row]) + end)
    return "".join(out)


def render_csv(names, rows, cfg: OutputSettings) -> str:
    """csv mode (RFC 4180 quoting as shell.c does it, CRLF row ends by default)."""
    sep, end = cfg.col_sep, cfg.row_sep
    out = []
    if cfg.headers and rows:
        out.append(sep.join([csv_field(n, cfg) for n in names]) + end)
    for row in rows:
        out.append(sep.join([csv_field(None if v is None else value_text(v, ""), cfg)
                             for v in row]) + end)
    return "".join(out)


def render_quote(names, rows, cfg: OutputSettings) -> str:
    """quote mode: every value as an SQL literal, headers as quoted strings."""
    sep, end = cfg.col_sep, cfg.row_sep
    out = []
    if cfg.headers and rows:
        out.append(sep.join([sql_literal(n, False) for n in names]) + end)
    for row in rows:
        out.append(sep.join([sql_literal(v, False) for v in row]) + end)
    return "".join(out)


def render_line(names, rows, cfg: OutputSettings) -> str:
    """line mode: ``name = value`` per line, names right-aligned to max(5, longest);
    records separated by the row separator."""
    width = max([5] + [len(n) for n in names])
    end, null = cfg.row_sep, cfg.nullvalue
    out = []
    for i, row in enumerate(rows):
        if i:
            out.append(end)
        for name, v in zip(names, row):
            out.append("%*s = %s%s" % (width, name, value_text(v, null), end))
    return "".join(out)


def render_json(names, rows, cfg: OutputSettings) -> str:
    """json mode: an array of objects, one object per line (nothing for no rows)."""
    if not rows:
        return ""
    keys = [_json_string(n) + ":" for n in names]
    objects = ["{" + ",".join([k + _json_value(v) for k, v in zip(keys, row)]) + "}"
               for row in rows]
    return "[" + ",\n".join(objects) + "]\n"


_HTML_ESCAPES = {"<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&#39;"}


def _html_text(text: str) -> str:
    """shell.c ``output_html_string``: < > & " ' as entities."""
    return "".join([_HTML_ESCAPES.get(c, c) for c in text])


def render_html(names, rows, cfg: OutputSettings) -> str:
    """html mode: one ``<TR>`` per row, a cell per line (``<TH>`` for the header row
    when headers are on), text escaped; no ``<TABLE>`` around it, as in sqlite3."""
    null = cfg.nullvalue
    out = []
    if cfg.headers and rows:
        out.append("<TR>" + "".join([f"<TH>{_html_text(n)}</TH>\n" for n in names])
                   + "</TR>\n")
    for row in rows:
        out.append("<TR>" + "".join([f"<TD>{_html_text(value_text(v, null))}</TD>\n"
                                     for v in row]) + "</TR>\n")
    return "".join(out)


_C_ESCAPES = {"\\": "\\\\", '"': '\\"', "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _c_string(text: str) -> str:
    """shell.c ``output_c_string``: double-quoted, backslash escapes for \\ " TAB LF CR,
    other control characters as three octal digits."""
    out = ['"']
    for c in text:
        esc = _C_ESCAPES.get(c)
        if esc is not None:
            out.append(esc)
        elif c < " " or c == "\x7f":
            out.append("\\%03o" % ord(c))
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def render_tcl(names, rows, cfg: OutputSettings) -> str:
    """tcl mode: every field a C-style quoted string, fields joined by the column
    separator (a blank), rows ended by the row separator."""
    sep, end, null = cfg.col_sep, cfg.row_sep, cfg.nullvalue
    out = []
    if cfg.headers and rows:
        out.append(sep.join([_c_string(n) for n in names]) + end)
    for row in rows:
        out.append(sep.join([_c_string(value_text(v, null)) for v in row]) + end)
    return "".join(out)


def render_insert(names, rows, cfg: OutputSettings) -> str:
    """insert mode: one INSERT statement per row into the configured table name."""
    head = "INSERT INTO " + cfg.insert_table
    if cfg.headers:
        head += "(" + ",".join(quote_name(n) for n in names) + ")"
    head += " VALUES("
    return "".join([head + ",".join([sql_literal(v) for v in row]) + ");\n" for row in rows])


def display_lines(text: str) -> list[str]:
    """The screen lines of one cell in the columnar modes (shell.c
    ``translateForDisplayAndDup``): a tab advances to the next multiple of 8, CR LF,
    LF and any other control character end a line, and a final empty line is dropped.
    O(len(text))."""
    if text.isprintable():
        return [text]
    lines: list[str] = []
    cur: list[str] = []
    width = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\t":
            pad = 8 - (width % 8)
            cur.append(" " * pad)
            width += pad
        elif c < " ":
            if c == "\r" and i + 1 < n and text[i + 1] == "\n":
                i += 1
            lines.append("".join(cur))
            cur, width = [], 0
        else:
            cur.append(c)
            width += 1
        i += 1
    if cur or not lines:
        lines.append("".join(cur))
    return lines


def _cells(names, rows, cfg: OutputSettings):
    """Cell lines of a columnar result: the headers (first line of each), per row and
    column the list of its screen lines, and the column widths (longest line, header
    included, unless ``.width`` fixed it: longer lines are then cut into pieces of
    that width, as shell.c wraps without --wordwrap). O(total text)."""
    null = cfg.nullvalue
    fixed = [abs(w) for w in cfg.widths[:len(names)]] + [0] * (len(names) - len(cfg.widths))
    heads = [_wrap(display_lines(n), w)[0] for n, w in zip(names, fixed)]
    grid = [[_wrap(display_lines(value_text(v, null)), w) for v, w in zip(row, fixed)]
            for row in rows]
    widths = [w or len(h) for h, w in zip(heads, fixed)]
    for row in grid:
        for j, lines in enumerate(row):
            if fixed[j]:
                continue
            for line in lines:
                if len(line) > widths[j]:
                    widths[j] = len(line)
    return heads, grid, widths


def _wrap(lines: list[str], width: int) -> list[str]:
    """``lines`` cut into pieces of at most ``width`` characters (0: unchanged)."""
    if not width or all(len(line) <= width for line in lines):
        return lines
    out = []
    for line in lines:
        out.extend([line[k:k + width] for k in range(0, len(line), width)] or [""])
    return out


def _row_lines(row, widths, left: str, mid: str, right: str, rights=()) -> list[str]:
    """The printed lines of one (possibly multi-line) row, cells left-aligned except in
    the columns listed in ``rights`` (a negative ``.width``)."""
    height = max([len(lines) for lines in row] or [1])
    out = []
    for k in range(height):
        parts = [(lines[k] if k < len(lines) else "").rjust(w) if j in rights else
                 (lines[k] if k < len(lines) else "").ljust(w)
                 for j, (lines, w) in enumerate(zip(row, widths))]
        out.append(left + mid.join(parts) + right)
    return out


def _centred(name: str, width: int) -> str:
    pad = width - len(name)
    return " " * (pad // 2) + name + " " * ((pad + 1) // 2)


def render_columnar(names, rows, cfg: OutputSettings) -> str:
    """column/table/box/markdown modes (shell.c ``exec_prepared_stmt_columnar``).

    column: headers (when on) left-aligned and underlined with dashes, columns two
    blanks apart; table/box: framed, headers centred, a rule between rows only when
    some cell spans several lines; markdown: pipes, a dashed header rule.
    """
    mode = cfg.mode
    if not rows:
        return ""
    names, grid, widths = _cells(names, rows, cfg)
    rights = frozenset(j for j, w in enumerate(cfg.widths[:len(names)]) if w < 0)
    multi = any(len(lines) > 1 for row in grid for lines in row)
    out: list[str] = []
    if mode == "column":
        if cfg.headers:
            out.append("  ".join(n.rjust(w) if j in rights else n.ljust(w)
                                 for j, (n, w) in enumerate(zip(names, widths))))
            out.append("  ".join("-" * w for w in widths))
        for i, row in enumerate(grid):
            if i and multi:
                out.append("")
            out.extend(_row_lines(row, widths, "", "  ", "", rights))
        return "\n".join(out) + "\n"
    if mode == "markdown":
        out.append("| " + " | ".join(_centred(n, w) for n, w in zip(names, widths)) + " |")
        out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for row in grid:
            out.extend(_row_lines(row, widths, "| ", " | ", " |", rights))
        return "\n".join(out) + "\n"
    if mode == "table":
        h, v = "-", "|"
        top = mid = bottom = "+" + "+".join(h * (w + 2) for w in widths) + "+"
    else:
        h, v = "─", "│"
        top = "┌" + "┬".join(h * (w + 2) for w in widths) + "┐"
        mid = "├" + "┼".join(h * (w + 2) for w in widths) + "┤"
        bottom = "└" + "┴".join(h * (w + 2) for w in widths) + "┘"
    out.append(top)
    out.append(v + " " + (" " + v + " ").join(
        _centred(n, w) for n, w in zip(names, widths)) + " " + v)
    out.append(mid)
    for i, row in enumerate(grid):
        if i and multi:
            out.append(mid)
        out.extend(_row_lines(row, widths, v + " ", " " + v + " ", " " + v, rights))
    out.append(bottom)
    return "\n".join(out) + "\n"


_RENDERERS = {
    "list": render_list, "tabs": render_list, "csv": render_csv, "line": render_line,
    "json": render_json, "insert": render_insert, "quote": render_quote,
    "column": render_columnar, "table": render_columnar, "box": render_columnar,
    "markdown": render_columnar, "html": render_html, "ascii": render_list,
    "tcl": render_tcl,
}


def render(names, rows, cfg: OutputSettings) -> str:
    """The text the current mode prints for one statement's result."""
    return _RENDERERS[cfg.mode](names, rows, cfg)
