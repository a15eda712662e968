"""Dot-commands of the shell (``.tables``, ``.mode``, ``.import`` ...), as sqlite3 3.40.

``run_dot_command(shell, line)`` splits the line into arguments the way shell.c does
(blanks separate; '...' is literal; "..." takes C escapes), finds the command by its
name or an unambiguous prefix of it, and runs it.  Each command returns 0 on success
and 1 after printing an error; ``.quit``/``.exit`` raise ``QuitShell``.  Schema
information comes from the ``sqlite_schema`` table through the public connection.
"""

from __future__ import annotations

import os

from turso_stream.shell.core import QuitShell
from turso_stream.shell.render import MODES, quote_name
from turso_stream.shell.transfer import dump, import_csv

__all__ = ["run_dot_command", "split_args", "COMMANDS"]

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}


def split_args(line: str) -> list[str]:
    """Arguments of a dot-command line (shell.c ``do_meta_command`` tokenizer). O(len)."""
    args: list[str] = []
    i, n = 1, len(line)
    while i < n:
        c = line[i]
        if c.isspace():
            i += 1
            continue
        if c in "'\"":
            j = i + 1
            out = []
            while j < n and line[j] != c:
                if c == '"' and line[j] == "\\" and j + 1 < n:
                    j += 1
                    out.append(_ESCAPES.get(line[j], line[j]))
                else:
                    out.append(line[j])
                j += 1
            args.append("".join(out))
            i = j + 1
        else:
            j = i
            while j < n and not line[j].isspace():
                j += 1
            args.append(line[i:j])
            i = j
    return args


def _on_off(shell, value: str) -> bool:
    """shell.c ``booleanValue``: on/yes/true or a non-zero integer is True, off/no/false
    or zero False; anything else is reported and taken as False."""
    low = value.lower()
    if low.lstrip("-").isdigit():
        return int(low) != 0
    if low in ("on", "yes", "true"):
        return True
    if low not in ("off", "no", "false"):
        shell.error(f'ERROR: Not a boolean value: "{value}". Assuming "no".')
    return False


def _flag(shell, args, attr: str, usage: str) -> int:
    if len(args) != 1:
        shell.error(f"Usage: {usage}")
        return 1
    setattr(shell, attr, _on_off(shell, args[0]))
    return 0


def _columns_layout(shell, names: list[str]) -> None:
    """Names in columns down then across, 80 characters wide (shell.c .tables)."""
    if not names:
        return
    width = max(len(n) for n in names)
    ncols = max(1, 80 // (width + 2))
    nrows = (len(names) + ncols - 1) // ncols
    lines = []
    for i in range(nrows):
        parts = [("" if j < nrows else "  ") + names[j].ljust(width)
                 for j in range(i, len(names), nrows)]
        lines.append("".join(parts) + "\n")
    shell.write("".join(lines))


def _like(pattern: str | None) -> str:
    return "%" if pattern is None else pattern


def cmd_tables(shell, args) -> int:
    """.tables ?PATTERN?  tables and views whose names match the LIKE pattern."""
    if len(args) > 1:
        shell.error("Usage: .tables ?LIKE-PATTERN?")
        return 1
    _, rows = shell.query(
        "SELECT name FROM sqlite_schema WHERE type IN ('table','view') "
        "AND NOT (name LIKE 'sqlite_%') AND name LIKE ?1 ORDER BY 1",
        (_like(args[0] if args else None),))
    _columns_layout(shell, [r[0] for r in rows])
    return 0


def cmd_indexes(shell, args) -> int:
    """.indexes ?TABLE?  indexes (of tables matching the LIKE pattern)."""
    if len(args) > 1:
        shell.error("Usage: .indexes ?LIKE-PATTERN?")
        return 1
    _, rows = shell.query(
        "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name LIKE ?1 "
        "ORDER BY 1", (_like(args[0] if args else None),))
    _columns_layout(shell, [r[0] for r in rows])
    return 0


def schema_line(shell, kind: str, name: str, sql: str) -> str:
    """One .schema/.dump line (shell.c ``printSchemaLine``): a CREATE TABLE of a quoted
    name gains IF NOT EXISTS; a view gets a comment listing its columns."""
    if sql[:13].upper() == "CREATE TABLE " and sql[13:14] in ("'", '"'):
        sql = "CREATE TABLE IF NOT EXISTS " + sql[13:]
    if kind == "view":
        try:
            cur = shell.conn.execute(f"SELECT * FROM {quote_name(name)} LIMIT 0")
            cols = ",".join(quote_name(d[0]) for d in cur.description)
            sql += f"\n/* {quote_name(name)}({cols}) */"
        except Exception:  # noqa: BLE001 - a broken view still prints its SQL
            pass
    return sql + ";\n"


def cmd_schema(shell, args) -> int:
    """.schema ?PATTERN?  CREATE statements of objects whose table matches."""
    if len(args) > 1:
        shell.error("Usage: .schema ?--indent? ?--nosys? ?LIKE-PATTERN?")
        return 1
    _, rows = shell.query(
        "SELECT type, name, sql FROM sqlite_schema WHERE sql NOT NULL "
        "AND NOT (name LIKE 'sqlite_%') AND lower(tbl_name) LIKE lower(?1)",
        (_like(args[0] if args else None),))
    shell.write("".join(schema_line(shell, k, n, s) for k, n, s in rows))
    return 0


def cmd_mode(shell, args) -> int:
    """.mode MODE ?TABLE?  set the output mode (insert takes a table name)."""
    if not args:
        shell.write(f"current output mode: {shell.cfg.mode}\n")
        return 0
    mode = args[0].lower()
    if mode in ("lines",):
        mode = "line"
    if mode in ("columns",):
        mode = "column"
    if mode not in MODES or (len(args) > 1 and mode != "insert") or len(args) > 2:
        shell.error("Error: mode should be one of: ascii box column csv html insert json "
                    "line list markdown qbox quote table tabs tcl")
        return 1
    shell.cfg.set_mode(mode, args[1] if len(args) > 1 else None)
    return 0


def cmd_width(shell, args) -> int:
    """.width NUM1 NUM2 ...  column widths for the columnar modes (0 automatic, negative
    right-aligned); no arguments: every width back to automatic."""
    widths = []
    for arg in args:
        try:
            widths.append(int(arg))
        except ValueError:
            widths.append(_leading_int(arg))
    shell.cfg.widths = widths
    return 0


def _leading_int(text: str) -> int:
    """The integer at the start of ``text`` (0 when none), as shell.c's integerValue
    reads a malformed .width argument."""
    digits = ""
    for i, c in enumerate(text.strip()):
        if c.isdigit() or (i == 0 and c in "+-"):
            digits += c
        else:
            break
    try:
        return int(digits)
    except ValueError:
        return 0


def cmd_headers(shell, args) -> int:
    """.headers on|off"""
    if len(args) != 1:
        shell.error("Usage: .headers on|off")
        return 1
    shell.cfg.headers = _on_off(shell, args[0])
    shell.cfg.headers_set = True
    return 0


def cmd_separator(shell, args) -> int:
    """.separator COL ?ROW?  change the column (and row) separators."""
    if not 1 <= len(args) <= 2:
        shell.error("Usage: .separator COL ?ROW?")
        return 1
    shell.cfg.col_sep = args[0]
    if len(args) == 2:
        shell.cfg.row_sep = args[1]
    return 0


def cmd_nullvalue(shell, args) -> int:
    """.nullvalue STRING  text shown for NULL."""
    if len(args) != 1:
        shell.error("Usage: .nullvalue STRING")
        return 1
    shell.cfg.nullvalue = args[0]
    return 0


def cmd_import(shell, args) -> int:
    """.import ?--csv? ?--skip N? FILE TABLE"""
    return import_csv(shell, args)


def cmd_dump(shell, args) -> int:
    """.dump ?TABLE?  the database (or matching tables) as SQL text."""
    return dump(shell, args)


def cmd_read(shell, args) -> int:
    """.read FILE  run the SQL and dot-commands of FILE."""
    if len(args) != 1:
        shell.error("Usage: .read FILE")
        return 1
    try:
        with open(args[0], encoding="utf-8", errors="surrogateescape", newline="") as f:
            lines = f.read().split("\n")
    except OSError:
        shell.error(f'Error: cannot open "{args[0]}"')
        return 1
    before = shell.error_count
    shell.process_lines(lines, where_lines=True)
    return 1 if shell.error_count > before else 0


def cmd_timer(shell, args) -> int:
    """.timer on|off"""
    return _flag(shell, args, "timer", ".timer on|off")


def cmd_bail(shell, args) -> int:
    """.bail on|off  stop after the first error."""
    return _flag(shell, args, "bail", ".bail on|off")


def cmd_echo(shell, args) -> int:
    """.echo on|off  print each command before running it."""
    return _flag(shell, args, "echo", ".echo on|off")


def _open_output(shell, args, usage: str):
    if len(args) > 1:
        shell.error(f"Usage: {usage}")
        return None
    if not args or args[0] == "stdout":
        return shell.stdout
    try:
        return open(args[0], "w", encoding="utf-8", errors="surrogateescape", newline="")
    except OSError:
        shell.error(f'Error: cannot open "{args[0]}"')
        return None


def cmd_output(shell, args) -> int:
    """.output ?FILE?  send results to FILE (stdout when omitted)."""
    stream = _open_output(shell, args, ".output ?FILE?")
    if stream is None:
        return 1
    shell.once = False
    shell.set_output(stream)
    return 0


def cmd_once(shell, args) -> int:
    """.once FILE  send the next SQL command's results to FILE."""
    if len(args) != 1:
        shell.error("Usage: .once FILE")
        return 1
    stream = _open_output(shell, args, ".once FILE")
    if stream is None:
        return 1
    shell.set_output(stream)
    shell.once = stream is not shell.stdout
    return 0


def cmd_open(shell, args) -> int:
    """.open ?--new? ?FILE?  close this database and open FILE (in memory when omitted)."""
    new = "--new" in args
    names = [a for a in args if not a.startswith("--")]
    if len(names) > 1 or len(args) - len(names) > int(new):
        shell.error("Usage: .open ?--new? ?FILE?")
        return 1
    path = names[0] if names else ":memory:"
    if new and path != ":memory:":
        for suffix in ("", "-log"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    try:
        shell.open(path)
    except Exception as exc:  # noqa: BLE001
        shell.error(f'Error: unable to open database "{path}": {exc}')
        return 1
    return 0


def cmd_databases(shell, args) -> int:
    """.databases  the attached databases (only main here)."""
    path = shell.db_path
    shown = '""' if path in (":memory:", "") else os.path.abspath(path)
    shell.write(f"main: {shown} r/w\n")
    return 0


def cmd_print(shell, args) -> int:
    """.print STRING...  print the arguments."""
    shell.write(" ".join(args) + "\n")
    return 0


def cmd_quit(shell, args) -> int:
    """.quit / .exit ?CODE?  leave the shell."""
    raise QuitShell(int(args[0]) if args and args[0].lstrip("-").isdigit() else 0)


_HELP = (
    (".bail on|off", "Stop after hitting an error.  Default OFF"),
    (".databases", "List names and files of attached databases"),
    (".dump ?TABLE?", "Render database content as SQL"),
    (".echo on|off", "Turn command echo on or off"),
    (".exit ?CODE?", "Exit this program with return-code CODE"),
    (".headers on|off", "Turn display of headers on or off"),
    (".help", "Show this message"),
    (".import ?--csv? ?--skip N? FILE TABLE", "Import data from FILE into TABLE"),
    (".indexes ?TABLE?", "Show names of indexes"),
    (".mode MODE ?TABLE?", "Set output mode: ascii box column csv html insert json "
                           "line list markdown quote table tabs tcl"),
    (".nullvalue STRING", "Use STRING in place of NULL values"),
    (".once FILE", "Output for the next SQL command only to FILE"),
    (".open ?--new? ?FILE?", "Close existing database and reopen FILE"),
    (".output ?FILE?", "Send output to FILE or stdout if FILE is omitted"),
    (".print STRING...", "Print literal STRING"),
    (".quit", "Exit this program"),
    (".read FILE", "Read input from FILE"),
    (".schema ?PATTERN?", "Show the CREATE statements matching PATTERN"),
    (".separator COL ?ROW?", "Change the column and row separators"),
    (".tables ?TABLE?", "List names of tables matching LIKE pattern TABLE"),
    (".timer on|off", "Turn SQL timer on or off"),
    (".width NUM1 NUM2 ...", "Set minimum column widths for columnar output"),
)


def cmd_help(shell, args) -> int:
    """.help  the list of dot-commands."""
    width = max(len(usage) for usage, _ in _HELP) + 1
    shell.write("".join(f"{usage:<{width}}{what}\n" for usage, what in _HELP))
    return 0


COMMANDS = {
    "bail": cmd_bail, "databases": cmd_databases, "dump": cmd_dump, "echo": cmd_echo,
    "exit": cmd_quit, "headers": cmd_headers, "help": cmd_help, "import": cmd_import,
    "indexes": cmd_indexes, "mode": cmd_mode, "nullvalue": cmd_nullvalue, "once": cmd_once,
    "open": cmd_open, "output": cmd_output, "print": cmd_print, "quit": cmd_quit,
    "read": cmd_read, "schema": cmd_schema, "separator": cmd_separator, "tables": cmd_tables,
    "timer": cmd_timer, "width": cmd_width,
}
_ALIASES = {"header": "headers", "indices": "indexes"}


def _find(name: str):
    name = _ALIASES.get(name, name)
    if name in COMMANDS:
        return COMMANDS[name]
    matches = [k for k in COMMANDS if k.startswith(name)] if name else []
    return COMMANDS[matches[0]] if len(matches) == 1 else None


def run_dot_command(shell, line: str) -> int:
    """Run one dot-command line; 0 on success, 1 after reporting an error."""
    args = split_args(line)
    if not args:
        return 0
    fn = _find(args[0])
    if fn is None:
        shell.error(f'Error: unknown command or invalid arguments:  "{args[0]}". '
                    'Enter ".help" for help')
        return 1
    try:
        return fn(shell, args[1:])
    except QuitShell:
        raise
    except Exception as exc:  # noqa: BLE001 - report, never a traceback
        shell.error(f"Error: {exc}")
        return 1
