"""SQL benchmark: turso_stream side by side with stdlib ``sqlite3`` (and ``pyturso``).

Every figure is measured in one run on the same data; ratios are ``ours / sqlite3``
(> 1 means slower). Two parts:

* query suite over ``N``-row tables (default 100k, ``--quick`` 10k): point lookups
  by rowid and by secondary index, range scans (rowid and index), a full-scan
  aggregate, GROUP BY with several aggregates, 2-way and 3-way equi joins (indexed
  and unindexed join columns), ``ORDER BY ... LIMIT 10`` on an indexed and an
  unindexed column;
* statement throughput of cached single-row INSERT / UPDATE / SELECT in autocommit
  with ``PRAGMA synchronous=OFF`` on file databases in a temp dir; sqlite3 runs once
  with ``journal_mode=WAL`` and once with its default (rollback journal, DELETE).

Targets (printed as met / MISSED): cached single-row INSERT in autocommit and the
indexed point SELECT within 5x of sqlite3; the full-scan aggregate, GROUP BY and
joins within 10x.

Usage: python bench/bench_sql.py [--quick] [--rows N] [--no-pyturso]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import turso_stream  # noqa: E402

try:  # pyturso (the Rust Turso database's Python binding), optional
    import turso as pyturso
except ImportError:  # pragma: no cover - depends on the machine
    pyturso = None

perf = time.perf_counter

SCHEMA = [
    "CREATE TABLE t1(id INTEGER PRIMARY KEY, a INTEGER, g INTEGER, u INTEGER,"
    " x INTEGER, y REAL, s TEXT)",
    "CREATE INDEX t1_a ON t1(a)",
    "CREATE TABLE t2(id INTEGER PRIMARY KEY, a INTEGER, u INTEGER, z INTEGER)",
    "CREATE INDEX t2_a ON t2(a)",
    "CREATE TABLE t3(g INTEGER PRIMARY KEY, name TEXT, w INTEGER)",
    "CREATE TABLE ins(id INTEGER PRIMARY KEY, a INTEGER, b INTEGER, c TEXT)",
]
GROUPS = 100


def make_data(n: int, seed: int = 7):
    """Rows of t1, t2, t3: ``a`` is a permutation of 0..n-1 (indexed), ``u`` the same
    values unindexed, ``g`` one of GROUPS groups (t3's key)."""
    rnd = random.Random(seed)
    perm = list(range(n))
    rnd.shuffle(perm)
    t1 = [(i + 1, perm[i], i % GROUPS, perm[i], rnd.randrange(1000), rnd.random() * 100,
           f"s{i % 997}") for i in range(n)]
    perm2 = perm[:]
    rnd.shuffle(perm2)
    t2 = [(i + 1, perm2[i], perm2[i], rnd.randrange(1000)) for i in range(n)]
    t3 = [(g, f"group{g}", g * 3) for g in range(GROUPS)]
    return t1, t2, t3


def queries(n: int):
    """(name, sql, params-factory, repetitions, target ratio or None) of the query suite.
    ``params-factory(i)`` gives the i-th repetition's parameters."""
    lo = n // 3
    span = max(n // 100, 10)  # a 1% range
    many = 2000 if n >= 100_000 else 1000
    return [
        ("point by rowid", "SELECT a, x, y FROM t1 WHERE id = ?",
         lambda i: ((i * 7919) % n + 1,), many, 5),
        ("point by secondary index", "SELECT id, x, y FROM t1 WHERE a = ?",
         lambda i: ((i * 7919) % n,), many, 5),
        ("rowid range (1%)", "SELECT id, x FROM t1 WHERE id BETWEEN ? AND ?",
         lambda i: (lo + i, lo + i + span), 20, None),
        ("index range (1%)", "SELECT id, a FROM t1 WHERE a >= ? AND a < ?",
         lambda i: (lo + i, lo + i + span), 20, None),
        ("full-scan aggregate", "SELECT count(*), sum(x), avg(y) FROM t1",
         lambda i: (), 3, 10),
        ("GROUP BY, 4 aggregates",
         "SELECT g, count(*), sum(x), min(y), max(x) FROM t1 GROUP BY g",
         lambda i: (), 3, 10),
        ("2-way join, indexed column",
         "SELECT count(*), sum(t2.z) FROM t1 JOIN t2 ON t2.a = t1.a WHERE t1.x < 100",
         lambda i: (), 3, 10),
        ("2-way join, unindexed column",
         "SELECT count(*), sum(t2.z) FROM t1 JOIN t2 ON t2.u = t1.u WHERE t1.x < 100",
         lambda i: (), 3, 10),
        ("3-way join (index + rowid)",
         "SELECT t3.name, count(*), sum(t2.z) FROM t1 JOIN t2 ON t2.a = t1.a"
         " JOIN t3 ON t3.g = t1.g WHERE t1.x < 100 GROUP BY t3.name",
         lambda i: (), 3, 10),
        ("ORDER BY indexed col LIMIT 10", "SELECT id, a FROM t1 ORDER BY a LIMIT 10",
         lambda i: (), 10, None),
        ("ORDER BY unindexed col LIMIT 10",
         "SELECT id, x, y FROM t1 ORDER BY y DESC LIMIT 10", lambda i: (), 3, None),
    ]


# ----------------------------------------------------------------------------- drivers

class Driver:
    """One database under test: a DB-API connection in autocommit mode."""

    def __init__(self, name, conn):
        self.name = name
        self.conn = conn

    def load(self, t1, t2, t3):
        conn = self.conn
        for stmt in SCHEMA:
            conn.execute(stmt)
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t1 VALUES (?, ?, ?, ?, ?, ?, ?)", t1)
        conn.executemany("INSERT INTO t2 VALUES (?, ?, ?, ?)", t2)
        conn.executemany("INSERT INTO t3 VALUES (?, ?, ?)", t3)
        conn.execute("COMMIT")

    def close(self):
        self.conn.close()


def open_ours(path):
    conn = turso_stream.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    return Driver("turso_stream", conn)


def open_sqlite(path, wal: bool):
    conn = sqlite3.connect(path, isolation_level=None)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    return Driver("sqlite3 " + ("WAL" if wal else "DELETE"), conn)


def open_pyturso(path):
    conn = pyturso.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    return Driver("pyturso", conn)


# ----------------------------------------------------------------------------- measuring

def time_query(conn, sql, params, reps):
    """Microseconds per execution of ``sql`` (fetching every row); returns (us, rows)."""
    execute = conn.execute
    result = execute(sql, params(0)).fetchall()  # warm: parse, plan, caches
    start = perf()
    for i in range(reps):
        execute(sql, params(i)).fetchall()
    return (perf() - start) / reps * 1e6, result


def time_statements(conn, kind: str, n: int, base: int):
    """Microseconds per cached single-row statement in autocommit."""
    execute = conn.execute
    if kind == "INSERT":
        sql = "INSERT INTO ins VALUES (?, ?, ?, ?)"
        args = [(base + i, i, i * 2, "row") for i in range(n)]
    elif kind == "UPDATE":
        sql = "UPDATE ins SET b = b + 1 WHERE id = ?"
        args = [(base + (i * 7) % n,) for i in range(n)]
    else:
        sql = "SELECT a, b, c FROM ins WHERE id = ?"
        args = [(base + (i * 7) % n,) for i in range(n)]
    start = perf()
    if kind == "SELECT":
        for a in args:
            execute(sql, a).fetchone()
    else:
        for a in args:
            execute(sql, a)
    return (perf() - start) / n * 1e6


def fmt(us):
    if us is None:
        return "-"
    if us >= 10_000:
        return f"{us / 1000:.1f} ms"
    return f"{us:.1f} us"


def ratio(ours, base):
    return f"{ours / base:.2f}" if ours and base else "-"


def verdict(r, target):
    if target is None:
        return ""
    return f"<= {target}x: " + ("met" if r <= target else "MISSED")


def print_row(name, cols, target_ratio=None, target=None):
    text = f"{name:<34}" + "".join(f"{c:>15}" for c in cols)
    if target is not None:
        text += f"  {verdict(target_ratio, target)}"
    print(text, flush=True)


# ----------------------------------------------------------------------------- main

def run_queries(drivers, n):
    print(f"\n== query suite ({n} rows in t1 and t2, {GROUPS} in t3); time per query ==")
    names = [d.name for d in drivers]
    print_row("query", names + ["ours/sqlite3"] + (["pyturso/sq3"] if len(drivers) > 2 else []))
    print("-" * (34 + 15 * (len(names) + 2) + 16))
    summary = []
    for name, sql, params, reps, target in queries(n):
        figures, results = [], []
        for d in drivers:
            us, rows = time_query(d.conn, sql, params, reps)
            figures.append(us)
            results.append(rows)
        if _normalise(results[0]) != _normalise(results[1]):
            print(f"   !! {name}: results differ from sqlite3", flush=True)
        r = figures[0] / figures[1]
        cols = [fmt(f) for f in figures] + [f"{r:.2f}"]
        if len(drivers) > 2:
            cols.append(ratio(figures[2], figures[1]))
        print_row(name, cols, r, target)
        summary.append((name, r, target))
    return summary


def _normalise(rows):
    """Compare results allowing for float summation order."""
    return sorted(tuple(round(v, 6) if isinstance(v, float) else v for v in row)
                  for row in rows)


def run_statements(tmp, n, use_pyturso):
    print(f"\n== cached single-row statements, autocommit, synchronous=OFF, files; "
          f"{n} each; time per statement ==")
    makers = [("turso_stream", open_ours), ("sqlite3 WAL", lambda p: open_sqlite(p, True)),
              ("sqlite3 DELETE", lambda p: open_sqlite(p, False))]
    if use_pyturso:
        makers.append(("pyturso", open_pyturso))
    print_row("statement", [m[0] for m in makers] + ["ours/WAL", "ours/DELETE"])
    print("-" * (34 + 15 * (len(makers) + 2)))
    drivers = []
    for label, make in makers:
        d = make(os.path.join(tmp, "stmt-" + label.replace(" ", "_") + ".db"))
        d.conn.execute(SCHEMA[-1])
        drivers.append(d)
    summary = []
    for kind in ("INSERT", "UPDATE", "SELECT"):
        figures = [time_statements(d.conn, kind, n, 1) for d in drivers]
        r = figures[0] / figures[1]
        target = 5 if kind in ("INSERT", "SELECT") else None
        cols = [fmt(f) for f in figures] + [f"{r:.2f}", ratio(figures[0], figures[2])]
        print_row(f"single-row {kind}", cols, r, target)
        if target:
            summary.append((f"single-row {kind} (vs WAL)", r, target))
    for d in drivers:
        d.close()
    return summary


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10k rows, fewer statements")
    ap.add_argument("--rows", type=int, help="rows in t1 and t2 (default 100000)")
    ap.add_argument("--no-pyturso", action="store_true", help="skip pyturso")
    ap.add_argument("--only", choices=("queries", "statements"), help="run one part")
    args = ap.parse_args(argv)
    n = args.rows or (10_000 if args.quick else 100_000)
    stmts = 2000 if args.quick else 10_000
    use_pyturso = pyturso is not None and not args.no_pyturso
    tmp = tempfile.mkdtemp(prefix="bench_sql_")
    summary = []
    try:
        if args.only != "statements":
            t1, t2, t3 = make_data(n)
            drivers = [open_ours(os.path.join(tmp, "ours.db")),
                       open_sqlite(os.path.join(tmp, "sqlite.db"), wal=True)]
            if use_pyturso:
                drivers.append(open_pyturso(os.path.join(tmp, "pyturso.db")))
            for d in drivers:
                start = perf()
                d.load(t1, t2, t3)
                print(f"loaded {d.name:<14} in {perf() - start:6.2f} s", flush=True)
            summary += run_queries(drivers, n)
            for d in drivers:
                d.close()
        if args.only != "queries":
            summary += run_statements(tmp, stmts, use_pyturso)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    met = sum(1 for _, r, t in summary if t is not None and r <= t)
    total = sum(1 for _, _, t in summary if t is not None)
    print(f"\ntargets met: {met}/{total}")
    for name, r, t in summary:
        if t is not None and r > t:
            print(f"  MISSED {name}: {r:.2f}x (target {t}x)")


if __name__ == "__main__":
    main()
