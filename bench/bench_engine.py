"""Engine benchmark, side by side with the stdlib ``sqlite3`` in the same run.

Measures (figures as ratios engine / sqlite3; "x slower" when > 1):

* single-row INSERT + COMMIT latency through the *engine API* (``Database.begin``,
  ``Transaction.insert``, ``Transaction.commit``: no SQL parsing or planning):
  engine ``:memory:``, file SYNC_OFF and SYNC_FULL; sqlite3 in-memory autocommit
  and file (journal_mode WAL) autocommit with synchronous OFF / FULL. The target
  row compares the engine's file SYNC_OFF figure with sqlite3's *in-memory*
  autocommit INSERT (target: within 5x). For context, the same statement through
  the SQL layer (``turso_stream.connect(...).execute("INSERT ...")``, autocommit,
  file, PRAGMA synchronous=OFF) against sqlite3's in-memory one;
* bulk insert of N rows (3 integer columns) in one transaction (target: 1M
  rows <= 3 s), engine ``:memory:`` and file SYNC_FULL (the commit phase
  includes the checkpoint the commit triggers); sqlite3 ``executemany``;
* point read by key inside one read transaction;
* group commit: SYNC_FULL commits/sec with 8 writer threads vs one (target >= 3x);
  latencies and throughputs are medians of alternating rounds (``--quick``: one);
  the raw append+fsync latency is printed for context: the speed-up is large
  when fsync is slow (ms) and bounded by the commit path's Python cost when
  fsync is a few hundred microseconds;
* memory per row of a 3-integer-column table, measured with tracemalloc
  (target <= 300 bytes/row; sqlite3's figure is its page count x page size).

Usage: python bench/bench_engine.py [--quick] [--rows N]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import random
import shutil
import statistics
import sqlite3
import sys
import tempfile
import threading
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import turso_stream  # noqa: E402
from engine.database import Database  # noqa: E402
from engine.storage import SYNC_FULL, SYNC_OFF  # noqa: E402

TABLE_SQL = "CREATE TABLE t(a INTEGER, b INTEGER, c INTEGER)"
KEYED_SQL = "CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER, b INTEGER, c INTEGER)"
perf = time.perf_counter
_run_ids = itertools.count()  # a fresh file per group-commit run


class Results:
    """Rows of the printed table: (name, engine, sqlite3, unit, target note)."""

    def __init__(self):
        self.rows = []

    def add(self, name, engine, sqlite, unit, note=""):
        self.rows.append((name, engine, sqlite, unit, note))
        ratio = f"{engine / sqlite:8.2f}" if engine and sqlite else "       -"
        eng = f"{engine:12.2f}" if engine is not None else "           -"
        sql = f"{sqlite:12.2f}" if sqlite is not None else "           -"
        print(f"{name:<44} {eng} {sql} {ratio}  {unit:<12} {note}", flush=True)

    @staticmethod
    def header():
        print(f"{'benchmark':<44} {'engine':>12} {'sqlite3':>12} {'ratio':>8}  {'unit':<12} note")
        print("-" * 108)


# ----------------------------------------------------------------------------- engine side

def interleaved_medians(rounds: int, first, second) -> tuple[float, float]:
    """The medians of ``rounds`` alternating calls of ``first`` and ``second``:
    both sides see the same machine load, and one disturbed round (a GC pass,
    another process) does not decide a ratio."""
    a, b = [], []
    for _ in range(rounds):
        a.append(first())
        b.append(second())
    return statistics.median(a), statistics.median(b)


def engine_db(directory, name, synchronous=SYNC_FULL, sql=TABLE_SQL, **kw):
    path = ":memory:" if directory is None else os.path.join(directory, name)
    db = Database(path, synchronous=synchronous, **kw)
    with db.begin() as txn:
        txn.create_table(sql)
    return db


def engine_commit_latency(db, n: int) -> float:
    """Microseconds per single-row INSERT + COMMIT."""
    begin = db.begin
    row = (1, 2, 3)
    start = perf()
    for _ in range(n):
        txn = begin()
        txn.insert("t", row)
        txn.commit()
    return (perf() - start) / n * 1e6


def sql_commit_latency(path: str, n: int) -> float:
    """Microseconds per autocommit ``INSERT`` through the SQL layer (DB-API)."""
    conn = turso_stream.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute(TABLE_SQL)
    execute = conn.execute
    for _ in range(min(n, 200)):  # warm the statement cache
        execute("INSERT INTO t VALUES (1, 2, 3)")
    start = perf()
    for _ in range(n):
        execute("INSERT INTO t VALUES (1, 2, 3)")
    elapsed = perf() - start
    conn.close()
    return elapsed / n * 1e6


def engine_bulk(db, n: int) -> tuple[float, float]:
    """Seconds for (insert loop, commit) of ``n`` rows in one transaction."""
    start = perf()
    txn = db.begin("IMMEDIATE")
    insert = txn.insert
    for i in range(n):
        insert("t", (i, i * 2, i * 3))
    mid = perf()
    changes = txn.commit()
    end = perf()
    assert len(changes.tables["t"]) == n
    return mid - start, end - mid


def engine_point_reads(db, keys) -> float:
    """Microseconds per ``get`` by key in one read transaction."""
    txn = db.begin()
    get = txn.get
    start = perf()
    for k in keys:
        get("t", k)
    elapsed = perf() - start
    assert get("t", keys[0]) is not None
    txn.rollback()
    return elapsed / len(keys) * 1e6


def engine_group_commit(directory, threads: int, seconds: float) -> float:
    """SYNC_FULL commits/sec with ``threads`` writers (IMMEDIATE single-row inserts)."""
    db = engine_db(directory, f"group{threads}-{next(_run_ids)}.db")
    counts = [0] * threads
    deadline = perf() + seconds

    def writer(slot):
        begin, n = db.begin, 0
        while perf() < deadline:
            txn = begin("IMMEDIATE", timeout=30)
            txn.insert("t", (slot, n, 0))
            txn.commit()
            n += 1
        counts[slot] = n

    return _run_threads(writer, threads, seconds, counts, db.close)


def engine_bytes_per_row(n: int) -> float:
    """tracemalloc'd bytes per row of a 3-integer-column table (in memory)."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    db = engine_db(None, "mem")
    txn = db.begin("IMMEDIATE")
    insert = txn.insert
    for i in range(n):
        insert("t", (i, i * 2 + 1_000_000, i * 3 + 2_000_000))
    txn.commit()
    del txn, insert
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert len(db.tables["t"].versions.rows) == n
    return used / n


# ----------------------------------------------------------------------------- sqlite3 side

def sqlite_conn(directory, name, synchronous="FULL", sql=TABLE_SQL):
    path = ":memory:" if directory is None else os.path.join(directory, name)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    if directory is not None:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(sql)
    return conn


def sqlite_commit_latency(conn, n: int) -> float:
    execute = conn.execute
    start = perf()
    for _ in range(n):
        execute("INSERT INTO t VALUES (1, 2, 3)")
    return (perf() - start) / n * 1e6


def sqlite_bulk(conn, n: int) -> float:
    start = perf()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", ((i, i * 2, i * 3) for i in range(n)))
    conn.execute("COMMIT")
    return perf() - start


def sqlite_point_reads(conn, keys) -> float:
    execute = conn.execute
    conn.execute("BEGIN")
    start = perf()
    for k in keys:
        execute("SELECT a, b, c FROM t WHERE rowid = ?", (k,)).fetchone()
    elapsed = perf() - start
    conn.execute("COMMIT")
    return elapsed / len(keys) * 1e6


def sqlite_group_commit(directory, threads: int, seconds: float) -> float:
    name = f"sqlite-group{threads}-{next(_run_ids)}.db"
    path = os.path.join(directory, name)
    sqlite_conn(directory, name).close()
    counts = [0] * threads
    deadline = perf() + seconds

    def writer(slot):
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        conn.execute("PRAGMA synchronous=FULL")
        n = 0
        while perf() < deadline:
            conn.execute("INSERT INTO t VALUES (?, ?, 0)", (slot, n))
            n += 1
        counts[slot] = n
        conn.close()

    return _run_threads(writer, threads, seconds, counts, lambda: None)


def fsync_latency(directory, n: int) -> float:
    """Microseconds per append-4KB + fsync on the benchmark's file system: the
    figure group commit amortizes (its speed-up grows with it)."""
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
    block = b"x" * 4096
    try:
        start = perf()
        for _ in range(n):
            os.write(fd, block)
            os.fsync(fd)
        return (perf() - start) / n * 1e6
    finally:
        os.close(fd)


def _run_threads(target, threads, seconds, counts, done) -> float:
    workers = [threading.Thread(target=target, args=(i,)) for i in range(threads)]
    start = perf()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = perf() - start
    done()
    return sum(counts) / elapsed


# ----------------------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, shorter runs")
    parser.add_argument("--rows", type=int, default=None, help="rows of the bulk insert")
    args = parser.parse_args()
    quick = args.quick
    bulk_rows = args.rows or (100_000 if quick else 1_000_000)
    commits = 300 if quick else 5000
    full_commits = 100 if quick else 500
    reads = 20_000 if quick else 200_000
    seconds = 1.0 if quick else 2.0
    rounds = 1 if quick else 5
    mem_rows = 50_000 if quick else 200_000
    directory = tempfile.mkdtemp(prefix="bench_engine_")
    res = Results()
    print(f"python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}, "
          f"dir {directory}, {os.cpu_count()} cpus{' (quick)' if quick else ''}\n")
    Results.header()
    try:
        print("single-row insert+commit: engine API (begin/insert/commit, no SQL); "
              "sqlite3 autocommit execute()")
        db = engine_db(None, "m")
        mem = sqlite_conn(None, "m")
        engine_mem, sqlite_mem = interleaved_medians(
            rounds, lambda: engine_commit_latency(db, commits),
            lambda: sqlite_commit_latency(mem, commits))
        res.add("insert+commit :memory: (autocommit)", engine_mem, sqlite_mem, "us/commit",
                f"median of {rounds} rounds")
        engine_off = None
        for label, sync, ssync, n in (("OFF", SYNC_OFF, "OFF", commits),
                                      ("FULL", SYNC_FULL, "FULL", full_commits)):
            db = engine_db(directory, f"lat{label}.db", sync)
            conn = sqlite_conn(directory, f"sqlite-lat{label}.db", ssync)
            latency, sqlite_latency = interleaved_medians(
                rounds, lambda: engine_commit_latency(db, n),
                lambda: sqlite_commit_latency(conn, n))
            engine_off = engine_off or latency
            res.add(f"insert+commit file sync {label} (WAL)", latency, sqlite_latency,
                    "us/commit", f"median of {rounds} rounds")
            db.close()
            conn.close()
        ratio = engine_off / sqlite_mem
        res.add("engine file OFF vs sqlite3 :memory:", engine_off, sqlite_mem, "us/commit",
                f"target <= 5x: {'ok' if ratio <= 5 else 'MISSED'}")
        res.add("SQL layer file OFF vs sqlite3 :memory:",
                sql_commit_latency(os.path.join(directory, "sql-lat.db"), commits),
                sqlite_commit_latency(mem, commits), "us/commit",
                "turso_stream execute(), context only")
        mem.close()

        db = engine_db(None, "bulk")
        conn = sqlite_conn(None, "bulk")
        ins, com = engine_bulk(db, bulk_rows)
        sq = sqlite_bulk(conn, bulk_rows)
        per_million = (ins + com) * 1_000_000 / bulk_rows
        ok = "ok" if per_million <= 3.0 else "MISSED"
        res.add(f"bulk insert {bulk_rows:,} rows :memory:", ins + com, sq, "s",
                f"target <= 3 s/1M: {ok} ({per_million:.2f} s/1M; insert {ins:.2f} "
                f"+ commit {com:.2f})")
        keys = [random.randrange(1, bulk_rows + 1) for _ in range(reads)]
        res.add("point read by key (one txn)", engine_point_reads(db, keys),
                sqlite_point_reads(conn, keys), "us/read")
        del db
        conn.close()
        gc.collect()

        db = engine_db(directory, "bulk.db", SYNC_FULL)
        conn = sqlite_conn(directory, "sqlite-bulk.db", "FULL")
        ins, com = engine_bulk(db, bulk_rows)
        res.add(f"bulk insert {bulk_rows:,} rows file FULL", ins + com, sqlite_bulk(conn, bulk_rows),
                "s", f"insert {ins:.2f} + commit {com:.2f} (incl. checkpoint)")
        start = perf()
        db.close()
        closing = perf() - start
        del db
        gc.collect()  # the closed database's rows must not burden the reopen's GC passes
        start = perf()
        db = Database(os.path.join(directory, "bulk.db"))
        reopen = perf() - start
        res.add("close / reopen after bulk (file)", closing, None, "s", f"reopen {reopen:.2f} s")
        db.close()
        conn.close()
        del db
        gc.collect()

        res.add("raw append+fsync latency (context)", fsync_latency(directory, full_commits),
                None, "us")
        # fsync latency drifts over seconds: alternate the 1- and 8-thread runs and
        # take each one's median, so both see the same disk.
        one, eight = interleaved_medians(
            rounds, lambda: engine_group_commit(directory, 1, seconds),
            lambda: engine_group_commit(directory, 8, seconds))
        s_one, s_eight = interleaved_medians(
            rounds, lambda: sqlite_group_commit(directory, 1, seconds),
            lambda: sqlite_group_commit(directory, 8, seconds))
        res.add("FULL commits/s, 1 writer thread", one, s_one, "commits/s",
                f"median of {rounds} rounds")
        res.add("FULL commits/s, 8 writer threads", eight, s_eight, "commits/s",
                f"median of {rounds} rounds")
        speedup = eight / one
        res.add("group commit speed-up 8 vs 1", speedup, s_eight / s_one, "x",
                f"target >= 3x: {'ok' if speedup >= 3 else 'MISSED'}")

        per_row = engine_bytes_per_row(mem_rows)
        conn = sqlite_conn(None, "mem")
        sqlite_bulk(conn, mem_rows)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        res.add(f"memory per row ({mem_rows:,} rows, 3 ints)", per_row, pages * size / mem_rows,
                "bytes/row", f"target <= 300: {'ok' if per_row <= 300 else 'MISSED'}")
        conn.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
