"""CDC overhead per commit: the same write transactions with capture off and on.

Each measurement is one connection (turso_stream DB-API, autocommit) running a
transaction that writes ``rows`` rows of a 4-column table (INSERT, or UPDATE of
existing rows), timed per COMMIT-returning statement batch. Storage:
``:memory:``, file with synchronous=OFF, and file with synchronous=FULL (where
the fsync dominates). Modes compared: off, id, full (full encodes before/after
records and the updates record). Target: full <= 1.30x off.

Wall clock is noisy on a shared machine; ``--instructions`` measures the same
one-row transactions (BEGIN; INSERT or UPDATE; COMMIT, ``:memory:``) by
instruction count under valgrind's callgrind (``--file``: a file database with
synchronous=OFF, so the log frame is encoded and written), exact on a busy machine:
(Ir(N transactions) - Ir(0)) / N, the method of bench/bench_instructions.py.

Capture defers building the CDC rows (record encoding) to the first read of the
feed (engine/cdc/feed.py); the last table shows that read's cost next to the
commit's, deferred and eager.

Usage: python bench/bench_cdc.py [--quick] [--instructions [--ops N] [--file]]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import turso_stream  # noqa: E402


def _txn_latency(path: str, sync: str, mode: str, rows: int, commits: int, update: bool):
    """Median seconds per write transaction of ``rows`` rows."""
    conn = turso_stream.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA synchronous={sync}")
    conn.execute("CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c REAL, d INTEGER)")
    if mode != "off":
        conn.execute(f"PRAGMA capture_data_changes_conn('{mode}')")
    conn.execute("BEGIN")
    for i in range(rows):
        conn.execute("INSERT INTO t VALUES (?, ?, ?, ?)", (i, f"row{i}", i * 0.5, i))
    conn.execute("COMMIT")
    ins = "INSERT INTO t(b, c, d) VALUES (?, ?, ?)"
    upd = "UPDATE t SET d = d + 1, b = ? WHERE a = ?"
    times = []
    for n in range(commits):
        t0 = time.perf_counter()
        conn.execute("BEGIN")
        if update:
            for i in range(rows):
                conn.execute(upd, (f"v{n}", i))
        else:
            for i in range(rows):
                conn.execute(ins, (f"new{n}", 1.5, n))
        conn.execute("COMMIT")
        times.append(time.perf_counter() - t0)
    conn.close()
    return statistics.median(times)


_IR_SETUP = """
import os, sys, tempfile
sys.path.insert(0, {root!r})
import turso_stream
path = ":memory:" if not {file!r} else os.path.join(tempfile.mkdtemp(), "ir.db")
conn = turso_stream.connect(path, isolation_level=None)
conn.execute("PRAGMA synchronous=OFF")
conn.execute("CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c REAL, d INTEGER)")
conn.execute("INSERT INTO t VALUES (0, 'row0', 0.5, 0)")
if {mode!r} != "off":
    conn.execute("PRAGMA capture_data_changes_conn('{mode}')")
i = [0]
def op():
    i[0] += 1
    conn.execute("BEGIN")
    if {update!r}:
        conn.execute("UPDATE t SET d = d + 1, b = ? WHERE a = ?", ("v%d" % i[0], 0))
    else:
        conn.execute("INSERT INTO t(b, c, d) VALUES (?, ?, ?)", ("new", 1.5, i[0]))
    conn.execute("COMMIT")
"""


def instruction_table(ops: int, file: bool = False) -> None:
    """Print instructions per one-row write transaction, capture off/id/full
    (``:memory:``, or with ``file`` a file with synchronous=OFF)."""
    from concurrent.futures import ThreadPoolExecutor
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_instructions import DRIVER, instructions
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt install valgrind): nothing to measure")
        return
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    jobs = {}
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        for update in (False, True):
            for mode in ("off", "id", "full"):
                setup = _IR_SETUP.format(root=root, mode=mode, update=update, file=file)
                for n in (0, ops):
                    # (os._exit: the checkpoint a file database runs on close copies
                    # every row, CDC rows too, into the file: not the commit's cost)
                    jobs[update, mode, n] = pool.submit(
                        instructions, setup + DRIVER.format(n=n) + "\nos._exit(0)\n")
    print(f"{'work':<14}{'off Ir':>10}{'id Ir':>10}{'full Ir':>10}{'id/off':>9}{'full/off':>10}")
    for update in (False, True):
        ir = {m: (jobs[update, m, ops].result() - jobs[update, m, 0].result()) / ops
              for m in ("off", "id", "full")}
        print(f"{'1 update' if update else '1 insert':<14}{ir['off']:>10.0f}{ir['id']:>10.0f}"
              f"{ir['full']:>10.0f}{ir['id'] / ir['off']:>9.3f}{ir['full'] / ir['off']:>10.3f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--instructions", action="store_true",
                    help="count instructions under callgrind instead of timing")
    ap.add_argument("--ops", type=int, default=2000, help="transactions per count")
    ap.add_argument("--file", action="store_true",
                    help="with --instructions: a file database, synchronous=OFF")
    args = ap.parse_args()
    if args.instructions:
        instruction_table(args.ops, args.file)
        return
    commits = 60 if args.quick else 300
    tmp = tempfile.mkdtemp(prefix="bench_cdc")
    print(f"{'storage':<12}{'work':<14}{'off us':>10}{'id us':>10}{'full us':>10}"
          f"{'id/off':>9}{'full/off':>10}")
    try:
        for storage, sync in ((":memory:", "OFF"), ("file", "OFF"), ("file", "FULL")):
            for rows, update in ((1, False), (1, True), (10, False), (10, True)):
                res = {}
                for mode in ("off", "id", "full"):
                    path = storage if storage == ":memory:" else \
                        os.path.join(tmp, f"{mode}{rows}{update}{sync}.db")
                    res[mode] = _txn_latency(path, sync, mode, rows, commits, update)
                label = f"{rows} {'update' if update else 'insert'}"
                name = storage if storage == ":memory:" else f"file/{sync}"
                print(f"{name:<12}{label:<14}{res['off'] * 1e6:>10.1f}{res['id'] * 1e6:>10.1f}"
                      f"{res['full'] * 1e6:>10.1f}{res['id'] / res['off']:>9.2f}"
                      f"{res['full'] / res['off']:>10.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _read_table(2000 if args.quick else 10000)


def _read_table(commits: int) -> None:
    """Where the deferred work went: the first read of the feed after ``commits``
    one-row UPDATEs (mode full, ``:memory:``) builds their rows (``settle``), and
    ``changes()`` then decodes them. Eager: the same with the rows built in each
    commit (a commit hook without ``watches`` makes every capture eager)."""
    print(f"\nreading the feed after {commits} one-row UPDATE commits (mode full, :memory:)")
    print(f"{'capture':<10}{'commit us':>11}{'first read us/commit':>22}{'changes() us/change':>21}")
    for eager in (False, True):
        conn = turso_stream.connect(":memory:", isolation_level=None)
        conn.execute("CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c REAL, d INTEGER)")
        conn.execute("INSERT INTO t VALUES (0, 'row0', 0.5, 0)")
        conn.execute("PRAGMA capture_data_changes_conn('full')")
        if eager:
            conn._db.commit_hooks.append(lambda changes: None)
        t0 = time.perf_counter()
        for n in range(commits):
            conn.execute("UPDATE t SET d = d + 1, b = ? WHERE a = 0", (f"v{n}",))
        t1 = time.perf_counter()
        conn.execute("SELECT count(*) FROM turso_cdc").fetchone()
        t2 = time.perf_counter()
        n_changes = sum(1 for _ in conn.changes())
        t3 = time.perf_counter()
        print(f"{'eager' if eager else 'deferred':<10}{(t1 - t0) / commits * 1e6:>11.1f}"
              f"{(t2 - t1) / commits * 1e6:>22.1f}{(t3 - t2) / n_changes * 1e6:>21.1f}")
        conn.close()


if __name__ == "__main__":
    main()
