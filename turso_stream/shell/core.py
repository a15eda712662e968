"""The shell's state and its input loop: lines in, statements and dot-commands out.

``Shell`` follows SQLite's ``process_input`` (shell.c): lines accumulate until the
buffer ends in a complete statement (``engine.sql.split.is_complete``, the
``sqlite3_complete`` machine), then every statement in it runs in turn and the first
error abandons the rest of the buffer.  A line whose first character is ``.`` (with
nothing buffered) is a dot-command; blank lines and ``#`` lines between statements are
skipped.  Errors go to stderr as sqlite3 prints them; the exit status is 1 when any
error happened (sqlite3's rule), and ``.bail on`` stops at the first one.

Long-running work reports through :meth:`Shell.progress` (``.import`` uses it every
``PROGRESS_EVERY`` rows); ``CREATE MATERIALIZED VIEW``'s initial population reports
through :meth:`Shell.view_progress` ("Populating v: 45%").
"""

from __future__ import annotations

import os
import sqlite3 as _sqlite3
import sys
import time

import turso_stream
from engine.sql.split import is_complete, statement_spans
from turso_stream.shell import errors as _errors
from turso_stream.shell.render import OutputSettings, render

__all__ = ["Shell", "QuitShell", "PROGRESS_EVERY"]

PROGRESS_EVERY = 100_000


class QuitShell(Exception):
    """Raised by ``.quit``/``.exit`` (and ``.bail`` on error) to leave every loop."""

    def __init__(self, code: int = 0):
        super().__init__(code)
        self.code = code


def _all_blank(text: str) -> bool:
    """True when ``text`` holds only blanks and SQL comments (shell.c _all_whitespace)."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif text.startswith("--", i):
            j = text.find("\n", i)
            if j < 0:
                return True
            i = j + 1
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                return False
            i = j + 2
        else:
            return False
    return True


class Shell:
    """One shell session: a connection, output settings, and flags set by dot-commands."""

    def __init__(self, database: str = ":memory:", *, stdout=None, stderr=None):
        self.out = stdout if stdout is not None else sys.stdout
        self.stdout = self.out
        self.err = stderr if stderr is not None else sys.stderr
        self.cfg = OutputSettings()
        self.echo = False
        self.bail = False
        self.timer = False
        self.once = False  # .once: restore stdout after the next SQL buffer
        self.error_count = 0
        self.interactive = False
        self.progress_every = PROGRESS_EVERY  # rows between progress reports
        self.conn = None
        self.db_path = ":memory:"
        self.open(database)

    # -- database --------------------------------------------------------------------------

    def open(self, database: str) -> None:
        """Close the current database (if any) and open ``database`` in autocommit mode.
        A file that cannot be opened raises sqlite3's OperationalError."""
        try:
            conn = turso_stream.connect(database, isolation_level=None,
                                        check_same_thread=False)
        except OSError:
            raise _sqlite3.OperationalError("unable to open database file") from None
        if self.conn is not None:
            self.close()
        self.conn = conn
        self.db_path = database
        # Initial population of a materialized view reports here (engine.ivm.maintainer).
        conn._session.views.progress = self.view_progress

    def close(self) -> None:
        """Close the database; a failure to checkpoint is reported, not raised."""
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception as exc:  # noqa: BLE001 - the shell never shows a traceback
                self.error(f"Error: {exc}")

    def query(self, sql: str, params=()) -> tuple[list, list]:
        """Run one statement for a dot-command; (column names, rows)."""
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description] if cur.description else []
        return names, cur.fetchall()

    # -- output ----------------------------------------------------------------------------

    def write(self, text: str) -> None:
        self.out.write(text)

    def error(self, text: str) -> None:
        """Write one error line to stderr (flushing stdout first keeps the order)."""
        self.out.flush()
        self.err.write(text + "\n")
        self.err.flush()

    def set_output(self, stream) -> None:
        """Send results to ``stream`` (closing a previous .output file)."""
        if self.out is not self.stdout:
            self.out.close()
        self.out = stream

    def progress(self, what: str, done: int, total: int | None = None) -> None:
        """Report progress of long work on stderr when a person is watching.

        Called every ``progress_every`` rows by ``.import``."""
        if not self.interactive:
            return
        tail = f" of {total}" if total is not None else ""
        self.err.write(f"\r{what}: {done}{tail}")
        self.err.flush()

    def view_progress(self, name: str, done: int, total: int) -> None:
        """``Populating v: 45%`` on stderr while a materialized view is first filled
        (interactive sessions only; the line is cleared when population ends)."""
        if not self.interactive or total <= 0:
            return
        if done >= total:
            self.err.write("\r" + " " * (len(name) + 20) + "\r")
        else:
            self.err.write(f"\rPopulating {name}: {done * 100 // total}%")
        self.err.flush()

    # -- SQL -------------------------------------------------------------------------------

    def run_sql(self, text: str, startline: int, where_lines: bool) -> int:
        """Run every statement of ``text``; stop at the first error. Returns 1 on error.

        ``startline`` is the input line the buffer began on, used in
        ``... near line N:`` when ``where_lines`` (scripts and piped input)."""
        if self.echo:
            self.write(text + "\n")
        try:
            for start, end in statement_spans(text):
                began = time.perf_counter()
                times = os.times()
                try:
                    cur = self._execute(text, start, end)
                    if cur.description is not None:
                        names = [d[0] for d in cur.description]
                        self.write(render(names, cur.fetchall(), self.cfg))
                except Exception as exc:  # noqa: BLE001 - every failure is reported
                    where = f" near line {startline}" if where_lines else ""
                    self.error(_errors.describe(exc, text[start:].rstrip(), where))
                    return 1
                if self.timer:
                    self._print_time(began, times)
            return 0
        finally:
            self.out.flush()
            if self.once:
                self.once = False
                self.set_output(self.stdout)

    def run_argument(self, text: str) -> int:
        """Run one command-line argument (SQL or a dot-command) as sqlite3 runs its
        ``SQL...`` arguments; the exit status of the first failure, else 0."""
        if text.startswith("."):
            return self.meta(text)
        try:
            for start, end in statement_spans(text):
                cur = self._execute(text, start, end)
                if cur.description is not None:
                    self.write(render([d[0] for d in cur.description], cur.fetchall(),
                                      self.cfg))
        except Exception as exc:  # noqa: BLE001 - every failure is reported
            report, status = _errors.describe_argument(exc, text[start:].rstrip())
            self.error(report)
            return status
        finally:
            self.out.flush()
        return 0

    def _execute(self, text: str, start: int, end: int):
        """Execute the statement ``text[start:end]``.  When it fails as incomplete input
        it is prepared again with its ';', since SQLite names that token (``near ";"``);
        nothing ran, so the retry is safe."""
        try:
            return self.conn.execute(text[start:end])
        except _sqlite3.Error as exc:
            semi = text.find(";", end)
            if str(exc) != "incomplete input" or semi < 0 or not _all_blank(text[end:semi]):
                raise
        return self.conn.execute(text[start:semi + 1])

    def _print_time(self, began: float, times) -> None:
        now = os.times()
        self.write("Run Time: real %.3f user %.6f sys %.6f\n" % (
            time.perf_counter() - began, now.user - times.user, now.system - times.system))

    # -- input -----------------------------------------------------------------------------

    def meta(self, line: str) -> int:
        """Run one dot-command line; 0 ok, 1 error (QuitShell leaves the shell)."""
        from turso_stream.shell.dot import run_dot_command
        if self.echo:
            self.write(line + "\n")
        return run_dot_command(self, line)

    def feed_line(self, state: dict, line: str, lineno: int, where_lines: bool) -> None:
        """Consume one input line; run what it completes. ``state`` holds the buffer."""
        buf = state["buf"]
        if not buf:
            if line.startswith("."):
                self._count(self.meta(line.rstrip("\r\n")))
                return
            if line.startswith("#") or _all_blank(line):
                return
            state["start"] = lineno
        buf.append(line.rstrip("\r\n"))
        text = "\n".join(buf)
        if is_complete(text):
            buf.clear()
            self._count(self.run_sql(text, state["start"], where_lines))

    def finish_input(self, state: dict, where_lines: bool) -> None:
        """End of input: a buffered statement without its ';' still runs (as sqlite3)."""
        text = "\n".join(state["buf"])
        state["buf"] = []
        if text and not _all_blank(text):
            self._count(self.run_sql(text, state["start"], where_lines))

    def _count(self, failed: int) -> None:
        if failed:
            self.error_count += 1

    def process_lines(self, lines, where_lines: bool = True) -> None:
        """Feed an iterable of lines (a file, stdin, a script) through the shell.

        As shell.c's ``process_input`` loop (``while errCnt==0 || !bail_on_error``),
        with ``.bail on`` no further line is read once this input has had an error."""
        state = {"buf": [], "start": 0}
        errors_before = self.error_count
        for lineno, line in enumerate(lines, 1):
            if self.bail and self.error_count > errors_before:
                raise QuitShell(1)
            self.feed_line(state, line, lineno, where_lines)
        self.finish_input(state, where_lines)

    def exit_code(self) -> int:
        """sqlite3's exit status: 1 when any error happened, else 0."""
        return 1 if self.error_count else 0
