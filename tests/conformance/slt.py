"""A sqllogictest runner for DB-API 2.0 connections.

The sqllogictest format (SQLite's public-domain conformance corpus) is a list
of records separated by blank lines::

    statement ok | statement error
    <sql>

    query <types> [nosort|rowsort|valuesort] [label]
    <sql>
    ----
    <one value per line>   or   <N> values hashing to <md5>

plus the control records ``hash-threshold N`` and ``halt``, and ``skipif`` /
``onlyif`` lines in front of any record.  This module reproduces the rules of
the reference runner (``sqllogictest.c`` and its SQLite driver
``slt_sqlite.c``) in Python:

* lines starting with ``#`` are comments wherever they appear; a line of only
  whitespace is blank; a trailing ``\\r`` is dropped;
* the engine name is ``sqlite`` and matched case-insensitively;
* a query value is rendered the way ``slt_sqlite.c`` renders it: ``NULL`` for
  NULL; ``T`` is ``sqlite3_column_text`` (``(empty)`` for an empty string and
  every byte outside ``' '..'~'`` replaced by ``@``); ``I`` is
  ``sqlite3_column_int`` printed with ``%d`` (a 32-bit C int: the 64-bit
  value is truncated to its low 32 bits); ``R`` is ``sqlite3_column_double``
  printed as SQLite's printf ``%.3f`` does (see ``format_real3``);
* ``rowsort`` sorts rows comparing column by column with ``strcmp``,
  ``valuesort`` sorts all values;
* a result of more values than the hash threshold (default 8, set by
  ``hash-threshold``; 0 disables hashing) is compared as the line
  ``N values hashing to H``, H the md5 of every value followed by ``\\n``;
  labelled queries must agree (by md5) with the first query of the same
  label, skipped labelled queries contributing their expected hash as the
  reference does in verify mode.

Differences from the reference, all stricter: a plain expected result must
have exactly as many values as the query returns (the reference compares only
the common prefix), and a hash line must be the only expected line; an
exception that is not the connection's DB-API
``Error`` counts as a failure even under ``statement error`` (an engine crash
is never an expected SQL error).

The conversions of a Python value to the C driver's text are done by asking
the stdlib ``sqlite3`` library itself (``CAST(? AS TEXT)``, ``CAST(? AS
INTEGER)``, ``printf('%.3f', ?)``), which run the very routines the C driver
calls (``sqlite3VdbeMemStringify``, ``sqlite3VdbeIntValue``,
``sqlite3VdbeRealValue`` and SQLite's printf); cheap exact cases are done in
Python.

Command line::

    python tests/conformance/slt.py [--engine sqlite3|turso_stream] [FILE|DIR...]

(no FILE: the whole corpus at ``$TURSO_STREAM_SLT_DIR`` or
``<repo>/../shared/conformance/sqllogictest``).
"""

from __future__ import annotations

import argparse
import decimal
import hashlib
import math
import os
import re
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

ENGINE_NAME = "sqlite"
DEFAULT_HASH_THRESHOLD = 8
HASH_LINE = re.compile(r"^(\d+) values hashing to ([0-9a-f]{32})$")

# ---------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class Condition:
    """A ``skipif ENGINE`` (``skip=True``) or ``onlyif ENGINE`` line."""

    skip: bool
    engine: str

    def excludes(self, engine: str) -> bool:
        """True when this condition removes the record for ``engine``."""
        matches = self.engine.lower() == engine.lower()
        return matches if self.skip else not matches


@dataclass(slots=True)
class Statement:
    """``statement ok`` / ``statement error`` followed by SQL."""

    line: int
    expect_ok: bool
    sql: str
    conditions: list[Condition] = field(default_factory=list)


@dataclass(slots=True)
class Query:
    """A ``query`` record; ``expected`` holds the lines after ``----``
    (one value per line, or the single line ``N values hashing to H``)."""

    line: int
    types: str
    sort: str
    label: str
    sql: str
    expected: list[str]
    conditions: list[Condition] = field(default_factory=list)

    def expected_digest(self) -> str:
        """The md5 the expected result stands for (labels of skipped
        queries are checked against it, as the reference does)."""
        if len(self.expected) == 1:
            match = HASH_LINE.match(self.expected[0])
            if match:
                return match.group(2)
        return hash_values(self.expected)


@dataclass(slots=True)
class Control:
    """``hash-threshold N`` (``arg`` = N) or ``halt``."""

    line: int
    kind: str
    arg: int = 0
    conditions: list[Condition] = field(default_factory=list)


@dataclass(slots=True)
class Malformed:
    """A record the reference runner rejects; reported as a failure."""

    line: int
    message: str
    conditions: list[Condition] = field(default_factory=list)


Record = Statement | Query | Control | Malformed

# ---------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------


class _Lines:
    """Cursor over a script's lines with the reference's line rules.

    ``next()`` returns the next non-comment line (comments are lines whose
    first character is ``#``), blank for all-whitespace lines, None at end
    of file.  ``next_is_blank()`` peeks at the raw next line.
    """

    __slots__ = ("_raw", "_pos", "lineno")

    def __init__(self, text: str) -> None:
        raw = text.split("\n")
        if raw and raw[-1] == "":
            raw.pop()
        self._raw = raw
        self._pos = 0
        self.lineno = 0

    def next(self) -> str | None:
        raw = self._raw
        while self._pos < len(raw):
            line = raw[self._pos]
            self._pos += 1
            self.lineno = self._pos
            if line.endswith("\r"):
                line = line[:-1]
            if not line.strip():
                return ""
            if line[0] != "#":
                return line
        return None

    def next_is_blank(self) -> bool:
        if self._pos >= len(self._raw):
            return True
        return not self._raw[self._pos].strip()


def parse(text: str) -> list[Record]:
    """Parse a sqllogictest script into records, in file order.

    Follows ``sqllogictest.c``: records start after blank lines, the first
    line is split into at most four whitespace tokens, ``skipif``/``onlyif``
    lines accumulate conditions for the record that follows.  O(lines).
    """
    lines = _Lines(text)
    records: list[Record] = []
    line = lines.next()
    while True:
        while line == "":
            line = lines.next()
        if line is None:
            return records
        start = lines.lineno
        tokens = line.split(None, 4)[:4]
        conditions: list[Condition] = []
        while tokens and tokens[0] in ("skipif", "onlyif"):
            engine = tokens[1] if len(tokens) > 1 else ""
            conditions.append(Condition(tokens[0] == "skipif", engine))
            line = lines.next()
            tokens = (line or "").split(None, 4)[:4]
            start = lines.lineno
        record, line = _parse_record(lines, tokens, start)
        record.conditions = conditions
        records.append(record)


def _read_block(lines: _Lines) -> tuple[list[str], str | None]:
    """Read lines up to (not including) the next blank line or EOF."""
    block: list[str] = []
    line = lines.next()
    while line:
        block.append(line)
        line = lines.next()
    return block, line


def _parse_record(lines: _Lines, tokens: list[str], start: int) -> tuple[Record, str | None]:
    """Parse one record whose first line gave ``tokens``; returns the record
    and the line that ended it (blank or None)."""
    kind = tokens[0] if tokens else ""
    if kind == "statement":
        sql_lines, line = _read_block(lines)
        mode = tokens[1] if len(tokens) > 1 else ""
        if mode not in ("ok", "error"):
            return Malformed(start, "statement argument should be 'ok' or 'error'"), line
        return Statement(start, mode == "ok", "\n".join(sql_lines)), line
    if kind == "query":
        return _parse_query(lines, tokens, start)
    _body, line = _read_block(lines)  # control records take no body
    if kind == "hash-threshold":
        try:
            return Control(start, kind, int(tokens[1])), line
        except (IndexError, ValueError):
            return Malformed(start, "hash-threshold needs an integer"), line
    if kind == "halt":
        return Control(start, kind), line
    return Malformed(start, f"unknown record type: {kind!r}"), line


def _parse_query(lines: _Lines, tokens: list[str], start: int) -> tuple[Record, str | None]:
    """Parse the SQL and the expected result of a ``query`` record."""
    types = tokens[1] if len(tokens) > 1 else ""
    sort = tokens[2] if len(tokens) > 2 else "nosort"
    label = tokens[3][:20] if len(tokens) > 3 else ""
    sql_lines: list[str] = []
    line: str | None = "?"
    while not lines.next_is_blank():
        line = lines.next()
        if not line or line == "----":
            break
        sql_lines.append(line)
    else:
        line = lines.next()  # consume the blank line that ends the record
    expected: list[str] = []
    if line == "----":
        expected, line = _read_block(lines)
    sql = "\n".join(sql_lines)
    if not types or any(c not in "TIR" for c in types):
        return Malformed(start, f"bad type string {types!r}"), line
    if sort not in ("nosort", "rowsort", "valuesort"):
        return Malformed(start, f"unknown sort method: {sort!r}"), line
    query = Query(start, types, sort, label, sql, expected)
    return query, line


def parse_file(path: str | os.PathLike) -> list[Record]:
    """Parse the script at ``path`` (read as UTF-8, undecodable bytes kept
    as surrogates so line numbers stay right)."""
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        return parse(handle.read())


# ---------------------------------------------------------------------------
# Value rendering (slt_sqlite.c's sqliteQuery)
# ---------------------------------------------------------------------------

_UNPRINTABLE = bytes(b if 0x20 <= b <= 0x7E else 0x40 for b in range(256))
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


def _to_c_int(value: int) -> int:
    """``(int)`` of a 64-bit integer: keep the low 32 bits, signed."""
    value &= 0xFFFFFFFF
    return value - 0x100000000 if value >= 0x80000000 else value


def _double_to_int64(value: float) -> int:
    """SQLite's ``doubleToInt64``: saturating conversion, NaN -> 0."""
    if value != value:
        return 0
    if value <= -9223372036854775808.0:
        return _INT64_MIN
    if value >= 9223372036854775807.0:
        return _INT64_MAX
    return int(value)


_DECIMAL_CONTEXT = decimal.Context(prec=800, rounding=decimal.ROUND_HALF_UP)
_THOUSANDTH = decimal.Decimal("0.001")


def format_real3(value: float) -> str:
    """SQLite's ``printf("%.3f", value)`` as the corpus was generated.

    SQLite >= 3.43 (``sqlite3FpDecode``) renders at most 16 significant
    digits, rounded half away from zero on the (practically exact) decimal
    expansion of the double, later digits printing as ``0``; C's ``%.3f``
    instead prints every digit with ties to even.  The corpus follows the
    SQLite rule (``slt_lang_aggfunc.test`` expects
    ``-9223372036854776000.000``; the stdlib's SQLite 3.40, whose printf
    truncates after 16 digits, prints ``-9223372036854775000.000``).  The
    sign is dropped for -0.0 (SQLite tests ``value < 0``); infinities print
    ``Inf``.  O(digits) with ``decimal``.
    """
    if value != value:
        return "NaN"  # unreachable from SQLite, which stores NaN as NULL
    sign = "-" if value < 0 else ""
    if value in (math.inf, -math.inf):
        return sign + "Inf"
    exact = decimal.Decimal(abs(value))
    context = _DECIMAL_CONTEXT
    rounded = exact.quantize(_THOUSANDTH, context=context)
    if rounded and rounded.adjusted() + 4 > 16:
        # more than 16 significant digits: round to 16, pad with zeros
        unit = decimal.Decimal(1).scaleb(rounded.adjusted() - 15)
        rounded = exact.quantize(unit, context=context)
        rounded = rounded.quantize(_THOUSANDTH, context=context)
    return sign + format(rounded, "f")


class ValueRenderer:
    """Render result values as the reference SQLite driver prints them.

    Python values are what a DB-API module returns for SQLite's storage
    classes (None, int, float, str, bytes).  Exact conversions that need
    SQLite's own routines are delegated to an in-memory stdlib ``sqlite3``
    connection and cached per value (O(1) amortised per value).
    """

    _CACHE_LIMIT = 200_000

    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._real_text: dict[float, str] = {}
        self._real3: dict[float, str] = {}

    def close(self) -> None:
        self._db.close()

    def _ask(self, sql: str, value: object) -> object:
        return self._db.execute(sql, (value,)).fetchone()[0]

    def _sqlite_text(self, value: object) -> bytes:
        """``sqlite3_column_text`` as bytes, cut at the first NUL (C string)."""
        if isinstance(value, bytes):
            data = value
        elif isinstance(value, str):
            data = value.encode("utf-8", "surrogateescape")
        elif isinstance(value, int):
            data = str(value).encode()
        else:
            cache = self._real_text
            text = cache.get(value)
            if text is None:
                if len(cache) > self._CACHE_LIMIT:
                    cache.clear()
                text = cache[value] = self._ask("SELECT CAST(? AS TEXT)", value)
            data = text.encode()
        nul = data.find(b"\0")
        return data if nul < 0 else data[:nul]

    def text(self, value: object) -> str:
        """Type ``T``: column text, ``(empty)``, non-printables as ``@``."""
        if type(value) is str and value and value.isascii() and value.isprintable():
            return value
        data = self._sqlite_text(value)
        if not data:
            return "(empty)"
        return data.translate(_UNPRINTABLE).decode("ascii")

    def integer(self, value: object) -> str:
        """Type ``I``: ``sqlite3_column_int`` printed with ``%d``."""
        if type(value) is int:
            number = value
        elif type(value) is float:
            number = _double_to_int64(value)
        else:
            number = self._ask("SELECT CAST(? AS INTEGER)", value)
        return str(_to_c_int(number))

    def real(self, value: object) -> str:
        """Type ``R``: ``sqlite3_column_double`` printed as ``%.3f``."""
        if type(value) is int and -10**15 < value < 10**15:
            return f"{value}.000"  # exact in a double, <= 16 digits
        if type(value) is int:
            value = float(value)
        elif type(value) is not float:
            value = self._ask("SELECT CAST(? AS REAL)", value)
        cache = self._real3
        text = cache.get(value)
        if text is None:
            if len(cache) > self._CACHE_LIMIT:
                cache.clear()
            text = cache[value] = format_real3(value)
        return text

    def render(self, rows: Iterable[tuple], types: str) -> list[str]:
        """All values of ``rows``, row by row, rendered per ``types``.

        O(values); the per-type methods are bound to locals once.
        """
        by_type = {"T": self.text, "I": self.integer, "R": self.real}
        renderers = [by_type[t] for t in types]
        out: list[str] = []
        append = out.append
        for row in rows:
            for render, value in zip(renderers, row):
                append("NULL" if value is None else render(value))
        return out


def sort_values(values: list[str], width: int, mode: str) -> list[str]:
    """Apply a sort mode: ``rowsort`` orders rows column by column with
    strcmp (Python's str order equals UTF-8 byte order), ``valuesort``
    orders single values, ``nosort`` keeps the engine's order.
    O(n log n)."""
    if mode == "valuesort":
        return sorted(values)
    if mode == "rowsort" and width > 0:
        rows = [values[i:i + width] for i in range(0, len(values), width)]
        rows.sort()
        return [value for row in rows for value in row]
    return values


def hash_values(values: list[str]) -> str:
    """md5 hex digest of every value followed by a newline."""
    digest = hashlib.md5()
    digest.update("".join(value + "\n" for value in values).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


# ---------------------------------------------------------------------------
# SQL helpers
# ---------------------------------------------------------------------------


def split_statements(sql: str) -> list[str]:
    """Split SQL text into complete statements, as ``sqlite3_exec`` runs them.

    A candidate ends at each ``;``; ``sqlite3.complete_statement`` decides
    whether it is complete (so semicolons inside strings, comments and
    CREATE TRIGGER bodies do not split).  Empty statements are dropped.
    O(n * number of semicolons).
    """
    if ";" not in sql:
        return [sql] if sql.strip() else []
    statements: list[str] = []
    start = 0
    pos = sql.find(";")
    while pos >= 0:
        chunk = sql[start:pos + 1]
        if sqlite3.complete_statement(chunk):
            if chunk.strip().strip(";").strip():
                statements.append(chunk)
            start = pos + 1
        pos = sql.find(";", pos + 1)
    tail = sql[start:]
    if tail.strip():
        statements.append(tail)
    return statements


# ---------------------------------------------------------------------------
# Outcomes and report
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class Failure:
    """One failed record: where, what ran, what was expected, what came."""

    path: str
    line: int
    message: str
    sql: str = ""
    expected: str = ""
    got: str = ""

    def format(self, width: int = 20) -> str:
        """A few lines for humans; long value lists are cut at ``width``."""
        out = [f"{self.path}:{self.line}: {self.message}"]
        if self.sql:
            out.append("  sql:      " + self.sql.replace("\n", "\n            "))
        if self.expected or self.got:
            out.append("  expected: " + _clip(self.expected, width))
            out.append("  got:      " + _clip(self.got, width))
        return "\n".join(out)


def _clip(text: str, width: int) -> str:
    values = text.split("\n")
    if len(values) > width:
        values = values[:width] + [f"... ({len(values) - width} more)"]
    return " | ".join(values)


@dataclass(slots=True)
class Report:
    """Counts for one script plus the first ``keep`` failures."""

    path: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    halted_at: int | None = None
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    keep: int = 200

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.skipped

    def add_failure(self, failure: Failure) -> None:
        self.failed += 1
        if len(self.failures) < self.keep:
            self.failures.append(failure)

    def summary(self) -> str:
        halted = f", halted at line {self.halted_at}" if self.halted_at else ""
        return (f"{self.path}: {self.passed} passed, {self.failed} failed, "
                f"{self.skipped} skipped in {self.seconds:.2f}s{halted}")

    def format(self, max_failures: int = 10) -> str:
        """The summary line followed by the first ``max_failures`` failures."""
        parts = [self.summary()]
        parts.extend(f.format() for f in self.failures[:max_failures])
        hidden = self.failed - min(max_failures, len(self.failures))
        if hidden > 0:
            parts.append(f"... and {hidden} more failures")
        return "\n".join(parts)


# ---------------------------------------------------------------------------
# Runner
# ---------------------------------------------------------------------------


class _Run:
    """State of one script run: connection, threshold, labels, report."""

    def __init__(self, path: str, connection, engine: str, renderer: ValueRenderer,
                 keep: int) -> None:
        self.path = path
        self.connection = connection
        self.cursor = connection.cursor()
        self.engine = engine
        self.renderer = renderer
        self.threshold = DEFAULT_HASH_THRESHOLD
        self.labels: dict[str, str] = {}
        self.report = Report(path, keep=keep)
        # The driver's DB-API error class; anything else is an engine crash.
        self.sql_error = getattr(connection, "Error", None) or Exception

    def fail(self, record, message: str, expected: str = "", got: str = "") -> None:
        self.report.add_failure(Failure(self.path, record.line, message,
                                        getattr(record, "sql", ""), expected, got))

    def execute(self, sql: str) -> None:
        """Run every statement of ``sql`` to completion (``sqlite3_exec``)."""
        cursor = self.cursor
        for statement in split_statements(sql):
            cursor.execute(statement)
            if cursor.description is not None:
                cursor.fetchall()

    def fetch(self, sql: str, width: int) -> tuple[list[tuple], int]:
        """Rows and column count of the first statement of ``sql``.

        Like ``slt_sqlite.c``, a statement that compiles but fails while
        stepping yields the rows produced before the error: errors raised
        while fetching end the rows, and an error raised by ``execute``
        counts as a runtime error when ``EXPLAIN`` of the statement
        compiles (then ``width``, the expected column count, is assumed).
        """
        statements = split_statements(sql)
        statement = statements[0] if statements else sql
        cursor = self.cursor
        try:
            cursor.execute(statement)
        except self.sql_error:
            if not self.compiles(statement):
                raise
            return [], width
        description = cursor.description
        if description is None:
            return [], 0
        rows: list[tuple] = []
        append = rows.append
        try:
            for row in cursor:
                append(row)
        except self.sql_error:
            pass  # the reference stops at the first failing sqlite3_step
        return rows, len(description)

    def compiles(self, statement: str) -> bool:
        """True when the engine accepts ``EXPLAIN statement``."""
        try:
            self.connection.cursor().execute("EXPLAIN " + statement).fetchall()
        except Exception:
            return False
        return True

    def statement(self, record: Statement) -> None:
        try:
            self.execute(record.sql)
        except self.sql_error as exc:
            if record.expect_ok:
                self.fail(record, f"statement failed: {type(exc).__name__}: {exc}")
                return
        except Exception as exc:  # an engine bug, never an expected SQL error
            self.fail(record, f"engine crashed: {type(exc).__name__}: {exc}")
            return
        else:
            if not record.expect_ok:
                self.fail(record, "statement succeeded but an error was expected")
                return
        self.report.passed += 1

    def query(self, record: Query) -> None:
        try:
            rows, width = self.fetch(record.sql, len(record.types))
        except self.sql_error as exc:
            self.fail(record, f"query failed: {type(exc).__name__}: {exc}")
            return
        except Exception as exc:  # an engine bug
            self.fail(record, f"engine crashed: {type(exc).__name__}: {exc}")
            return
        if width != len(record.types):
            self.fail(record, f"wrong number of result columns: expected "
                              f"{len(record.types)} but got {width}")
            return
        try:
            rendered = self.renderer.render(rows, record.types)
        except Exception as exc:  # e.g. a value of a type SQLite has not
            self.fail(record, f"cannot render result value: {type(exc).__name__}: {exc}")
            return
        values = sort_values(rendered, width, record.sort)
        problem = self.compare(record, values)
        if record.label:
            # registered even when the values are wrong, like the reference
            label_problem = self.check_label(record.label, hash_values(values))
            problem = problem or label_problem
        if problem is None:
            self.report.passed += 1
        else:
            self.fail(record, *problem)

    def compare(self, record: Query, values: list[str]) -> tuple[str, str, str] | None:
        """Compare a sorted result with the record's expectation.

        Over the hash threshold the expectation must be the single line
        ``N values hashing to H``; otherwise the values one per line.
        Returns None when equal, else (message, expected, got).
        """
        count = len(values)
        expected = record.expected
        if self.threshold > 0 and count > self.threshold:
            got = f"{count} values hashing to {hash_values(values)}"
            if expected == [got]:
                return None
            shown = got if count > 50 else got + "\n" + "\n".join(values)
            return "wrong result hash", "\n".join(expected), shown
        if values == expected:
            return None
        return "wrong result", "\n".join(expected), "\n".join(values)

    def check_label(self, label: str, digest: str) -> tuple[str, str, str] | None:
        """Register the result hash of a labelled query, or check it against
        the hash registered by the first query with that label."""
        previous = self.labels.setdefault(label, digest)
        if previous == digest:
            return None
        return (f"labeled result [{label}] does not agree with previous values",
                previous, digest)

    def run(self, records: list[Record]) -> Report:
        """Run the records in order until the end or a ``halt``."""
        report = self.report
        engine = self.engine
        for record in records:
            if any(c.excludes(engine) for c in record.conditions):
                if isinstance(record, (Statement, Query)):
                    report.skipped += 1
                if isinstance(record, Query) and record.label:
                    self.labels.setdefault(record.label, record.expected_digest())
                continue
            if isinstance(record, Statement):
                self.statement(record)
            elif isinstance(record, Query):
                self.query(record)
            elif isinstance(record, Control):
                if record.kind == "halt":
                    report.halted_at = record.line
                    break
                self.threshold = record.arg
            else:
                self.fail(record, record.message)
        return report


def run_records(records: list[Record], connection, path: str = "<script>",
                engine: str = ENGINE_NAME, keep: int = 200) -> Report:
    """Run parsed records on an open DB-API connection."""
    renderer = ValueRenderer()
    started = time.perf_counter()
    try:
        run = _Run(path, connection, engine, renderer, keep)
        report = run.run(records)
    finally:
        renderer.close()
    report.seconds = time.perf_counter() - started
    return report


def run_file(path: str | os.PathLike, connect: Callable[[], object],
             engine: str = ENGINE_NAME, keep: int = 200) -> Report:
    """Run the script at ``path`` on a fresh connection from ``connect()``.

    ``connect`` returns a DB-API 2.0 connection, ideally in autocommit mode
    (the reference runs every statement in autocommit), e.g.
    ``lambda: sqlite3.connect(':memory:', isolation_level=None)``.
    """
    started = time.perf_counter()
    records = parse_file(path)
    connection = connect()
    try:
        report = run_records(records, connection, os.fspath(path), engine, keep)
    finally:
        connection.close()
    report.seconds = time.perf_counter() - started
    return report


def run_text(text: str, connect: Callable[[], object], path: str = "<script>",
             engine: str = ENGINE_NAME) -> Report:
    """Run a script given as text (used by the unit tests)."""
    connection = connect()
    try:
        return run_records(parse(text), connection, path, engine)
    finally:
        connection.close()


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


CORPUS_ENV = "TURSO_STREAM_SLT_DIR"


def corpus_dir() -> str:
    """Where the corpus should be (it may be absent): ``$TURSO_STREAM_SLT_DIR``
    or ``<repo>/../shared/conformance/sqllogictest``."""
    override = os.environ.get(CORPUS_ENV)
    if override:
        return override
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(os.path.dirname(repo), "shared", "conformance", "sqllogictest")


def connect_sqlite3():
    """A stdlib sqlite3 in-memory connection in autocommit mode."""
    return sqlite3.connect(":memory:", isolation_level=None)


def engine_connector(name: str) -> Callable[[], object]:
    """The ``connect()`` callable for an engine name; raises SystemExit
    with a clear message when the engine cannot be imported."""
    if name == "sqlite3":
        return connect_sqlite3
    if name != "turso_stream":
        raise SystemExit(f"unknown engine {name!r}: choose sqlite3 or turso_stream")
    try:
        import turso_stream
    except ImportError as exc:
        raise SystemExit(f"cannot import the turso_stream engine: {exc}") from exc
    connect = getattr(turso_stream, "connect", None)
    if connect is None:
        raise SystemExit("turso_stream has no connect() yet: the DB-API module "
                         "is not available in this checkout")

    def connect_turso_stream():
        try:
            return connect(":memory:", isolation_level=None)
        except TypeError:  # a module without the isolation_level keyword
            return connect(":memory:")
    return connect_turso_stream


def iter_scripts(paths: Iterable[str]) -> Iterator[str]:
    """The given files, and every ``*.test`` under given directories, sorted."""
    for path in paths:
        if os.path.isdir(path):
            for root, _dirs, files in sorted(os.walk(path)):
                for name in sorted(files):
                    if name.endswith(".test"):
                        yield os.path.join(root, name)
        else:
            yield path


def main(argv: list[str] | None = None) -> int:
    """Run scripts and print one report per file and a total line.
    Exit status 0 when nothing failed, 1 otherwise."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine", choices=("sqlite3", "turso_stream"), default="sqlite3")
    parser.add_argument("--max-failures", type=int, default=10,
                        help="failures printed per file (default 10)")
    parser.add_argument("paths", nargs="*", metavar="FILE",
                        help="scripts or directories (default: the whole corpus)")
    args = parser.parse_args(argv)
    connect = engine_connector(args.engine)
    if not args.paths:
        if not os.path.isdir(corpus_dir()):
            raise SystemExit(f"no FILE given and no corpus at {corpus_dir()} "
                             f"(set {CORPUS_ENV})")
        args.paths = [corpus_dir()]
    totals = [0, 0, 0]
    started = time.perf_counter()
    for path in iter_scripts(args.paths):
        report = run_file(path, connect)
        print(report.format(args.max_failures), flush=True)
        totals[0] += report.passed
        totals[1] += report.failed
        totals[2] += report.skipped
    print(f"TOTAL ({args.engine}): {totals[0]} passed, {totals[1]} failed, "
          f"{totals[2]} skipped in {time.perf_counter() - started:.2f}s")
    return 1 if totals[1] else 0


if __name__ == "__main__":
    sys.exit(main())
