"""``turso-stream [OPTIONS] [DB [SQL...]]``: an interactive SQL shell like ``sqlite3``.

Modules: ``core`` (the Shell and its input loop), ``dot`` (dot-commands), ``render``
(output modes), ``transfer`` (.dump, .import), ``errors`` (sqlite3-style error
reports), ``interactive`` (the prompt_toolkit front end with history).

With SQL arguments the shell runs them and exits; otherwise it reads standard input,
interactively (prompts, history, multi-line editing) when that is a terminal.
"""

from __future__ import annotations

import sys

from turso_stream.shell.core import QuitShell, Shell

__all__ = ["Shell", "QuitShell", "main", "run_shell"]

_MODE_OPTIONS = {"-" + m: m for m in ("list", "csv", "column", "table", "box", "markdown",
                                      "json", "line", "tabs", "insert", "quote")}
USAGE = """Usage: turso-stream [OPTIONS] [FILENAME [SQL...]]
FILENAME is the name of a database file (default: a transient in-memory database).
OPTIONS include:
   -bail                stop after hitting an error
   -batch               force batch I/O
   -box|-column|-csv|-json|-line|-list|-markdown|-table|-tabs|-insert|-quote
                        set the output mode
   -cmd COMMAND         run "COMMAND" before reading stdin
   -echo                print inputs before execution
   -[no]header          turn headers on or off
   -help                show this message
   -interactive         force interactive I/O
   -nullvalue TEXT      set text string for NULL values
   -separator SEP       set output column separator
   -version             show the version
"""


def _parse_options(argv: list[str]):
    """(options dict, positional args) or a usage error message."""
    opts: dict = {}
    pos: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("-") or pos or a == "-":
            pos.append(a)
        else:
            name = "-" + a.lstrip("-")
            needs_value = name in ("-cmd", "-nullvalue", "-separator")
            if needs_value:
                if i + 1 >= len(argv):
                    return f"Error: missing argument to {a}"
                opts.setdefault(name, []).append(argv[i + 1])
                i += 1
            elif name in _MODE_OPTIONS or name in (
                    "-bail", "-batch", "-echo", "-header", "-noheader", "-help",
                    "-interactive", "-version"):
                opts[name] = True
            else:
                return f"Error: unknown option: {a}\nUse -help for a list of options."
        i += 1
    return opts, pos


def _apply_options(shell: Shell, opts: dict) -> None:
    for name, mode in _MODE_OPTIONS.items():
        if opts.get(name):
            shell.cfg.set_mode(mode)
    if opts.get("-header"):
        shell.cfg.headers = shell.cfg.headers_set = True
    if opts.get("-noheader"):
        shell.cfg.headers, shell.cfg.headers_set = False, True
    for value in opts.get("-separator", []):
        shell.cfg.col_sep = value
    for value in opts.get("-nullvalue", []):
        shell.cfg.nullvalue = value
    shell.bail = bool(opts.get("-bail"))
    shell.echo = bool(opts.get("-echo"))


def run_shell(argv: list[str], stdin=None, stdout=None, stderr=None) -> int:
    """Run the shell with command-line ``argv`` (without the program name); exit status."""
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    parsed = _parse_options(argv)
    if isinstance(parsed, str):
        stderr.write(parsed + "\n")
        return 1
    opts, pos = parsed
    if opts.get("-help"):
        stdout.write(USAGE)
        return 0
    if opts.get("-version"):
        import turso_stream
        stdout.write(f"turso_stream {turso_stream.__version__} "
                     f"(SQLite {turso_stream.sqlite_version} dialect)\n")
        return 0
    database = pos[0] if pos else ":memory:"
    try:
        shell = Shell(database, stdout=stdout, stderr=stderr)
    except Exception as exc:  # noqa: BLE001 - a clear message, never a traceback
        stderr.write(f'Error: unable to open database "{database}": {exc}\n')
        return 1
    _apply_options(shell, opts)
    try:
        try:
            for command in opts.get("-cmd", []):
                shell.run_argument(command)
            if len(pos) > 1:
                for sql in pos[1:]:
                    status = shell.run_argument(sql)
                    if status:
                        return status
            elif opts.get("-interactive") or (not opts.get("-batch") and stdin.isatty()
                                               and stdout.isatty()):
                from turso_stream.shell.interactive import run_interactive
                run_interactive(shell, no_db=not pos)
            else:
                shell.process_lines(stdin, where_lines=True)
        except QuitShell as stop:
            return stop.code or shell.exit_code()
        return shell.exit_code()
    finally:
        shell.set_output(shell.stdout)
        shell.out.flush()
        shell.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``turso-stream`` for the shell (stdout carries raw BLOB bytes)."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="surrogateescape")
    return run_shell(sys.argv[1:] if argv is None else argv)
