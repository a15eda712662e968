"""Subscriptions: commit latency against the number of subscribers, and delivery latency.

Run: ``python bench/bench_subscriptions.py [--quick]``. Prints a table:

* single-row INSERT + commit latency (p50/p99, :memory:, autocommit) with 0, 1, 100
  and 10,000 subscriptions to ``SELECT id, v FROM t WHERE grp = ?``, each bound to its
  own value; the inserted rows hit one binding, as in a reactive UI where each
  client watches its own rows. Target: 10,000 subscriptions <= 2x one.
* the same with 1 / 1,000 / 10,000 subscriptions whose ``?`` sits inside a FROM
  subquery or a CTE (``SHARED_FROM_QUERIES``): still one shared circuit (bound FROM
  items, engine/ivm/parameters.py), so the same target applies (10,000 <= 2x one);
* the same with 1 and 1,000 subscriptions on the per-binding path (``?`` in a
  compound arm: one circuit per binding, so a commit steps every circuit reading
  the table: linear in the number of bindings, by design; 10,000 table rows);
* delivery latency from COMMIT returning to the callback running (p50/p99).

Peers: stdlib sqlite3 and pyturso have no subscription API; the equivalent there is
re-running each client's query after every commit (shown for 100 clients, sqlite3).
"""

from __future__ import annotations

import argparse
import resource
import sqlite3
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import turso_stream  # noqa: E402

QUERY = "SELECT id, v FROM t WHERE grp = ?"
# per-binding path (a parameter in a compound arm)
BOUND_QUERY = "SELECT id, v FROM t WHERE grp = ? UNION ALL SELECT id, v FROM t WHERE 0"
# shared path: parameters inside a FROM subquery / a CTE
SHARED_FROM_QUERIES = [
    ("FROM subquery", "SELECT * FROM (SELECT id, v FROM t WHERE grp = ?) WHERE v > 0"),
    ("CTE", "WITH c AS (SELECT id, v FROM t WHERE grp = ?) SELECT * FROM c WHERE v > 0"),
]
RUSAGE_THREAD = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)


def _pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def commit_latency(n_subs: int, commits: int, rows: int, query: str = QUERY):
    conn = turso_stream.connect(":memory:", isolation_level=None, check_same_thread=False)
    conn.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, grp INT, v INT)")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO t(grp, v) VALUES (?, ?)",
                     ((i % max(n_subs, 1), i) for i in range(rows)))
    conn.execute("COMMIT")
    handles = [conn.subscribe(query, (g,), lambda change: None) for g in range(n_subs)]
    lat, cpu = [], []
    preempted = 0
    for i in range(commits):
        r0 = resource.getrusage(RUSAGE_THREAD).ru_nivcsw
        t0 = time.perf_counter()
        c0 = time.thread_time()
        conn.execute("INSERT INTO t(grp, v) VALUES (?, ?)", (i % max(n_subs, 1), i))
        cpu.append(time.thread_time() - c0)
        lat.append(time.perf_counter() - t0)
        preempted += resource.getrusage(RUSAGE_THREAD).ru_nivcsw > r0
    for h in handles:
        h.unsubscribe()
    conn.close()
    _commit_cpu[n_subs] = (_pct(cpu, 0.99), preempted / commits)
    return _pct(lat, 0.5), _pct(lat, 0.99)


# n_subs -> (thread CPU p99, share of commits the OS preempted): tells machine load
# (a wall-clock tail with a short CPU tail) from work of ours.
_commit_cpu: dict = {}


def delivery_latency(commits: int):
    conn = turso_stream.connect(":memory:", isolation_level=None, check_same_thread=False)
    conn.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, grp INT, v INT)")
    arrived = {}
    done = threading.Event()

    def cb(change):
        if not change.initial:
            arrived[change.inserted[0][1]] = time.perf_counter()
            if len(arrived) == commits:
                done.set()
    conn.subscribe(QUERY, (1,), cb)
    sent = {}
    for i in range(commits):
        conn.execute("INSERT INTO t(grp, v) VALUES (1, ?)", (i,))
        sent[i] = time.perf_counter()
        time.sleep(0.0005)  # one commit at a time, as a UI event stream
    done.wait(10)
    lat = [arrived[i] - sent[i] for i in sent if i in arrived]
    conn.close()
    return _pct(lat, 0.5), _pct(lat, 0.99)


def sqlite_requery(clients: int, commits: int, rows: int):
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, grp INT, v INT)")
    conn.execute("CREATE INDEX t_grp ON t(grp)")
    conn.executemany("INSERT INTO t(grp, v) VALUES (?, ?)",
                     ((i % clients, i) for i in range(rows)))
    lat = []
    for i in range(commits):
        t0 = time.perf_counter()
        conn.execute("INSERT INTO t(grp, v) VALUES (?, ?)", (i % clients, i))
        for g in range(clients):
            conn.execute(QUERY, (g,)).fetchall()
        lat.append(time.perf_counter() - t0)
    return _pct(lat, 0.5), _pct(lat, 0.99)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    commits = 300 if args.quick else 2000
    rows = 10_000 if args.quick else 100_000
    print(f"{'case':<52} {'p50 us':>9} {'p99 us':>9} {'ratio':>7} {'cpu p99':>9} "
          f"{'preempted':>9}")
    base = None
    for n in (0, 1, 100, 10_000):
        p50, p99 = commit_latency(n, commits, rows)
        if n == 1:
            base = p50
        ratio = f"{p50 / base:.2f}" if base and n >= 1 else ""
        cpu99, share = _commit_cpu[n]
        print(f"{'insert+commit, ' + str(n) + ' subscriptions':<52} {p50 * 1e6:9.1f} "
              f"{p99 * 1e6:9.1f} {ratio:>7} {cpu99 * 1e6:9.1f} {share:9.1%}")
    print("(cpu p99: the committing thread's CPU time; preempted: commits during which "
          "the OS switched it out involuntarily - a wall p99 far above cpu p99 is machine load)")
    p50_10k = commit_latency(10_000, commits, rows)[0]
    print(f"target: 10,000 subscriptions <= 2x one: {p50_10k / base:.2f}x -> "
          f"{'met' if p50_10k <= 2 * base else 'NOT met'}")
    for label, query in SHARED_FROM_QUERIES:
        base_from = None
        for n in (1, 1000, 10_000):
            p50, p99 = commit_latency(n, commits, rows, query)
            base_from = base_from or p50
            print(f"{'insert+commit, ' + str(n) + ' subs, ? in a ' + label:<52} "
                  f"{p50 * 1e6:9.1f} {p99 * 1e6:9.1f} {p50 / base_from:7.2f}")
        print(f"target ({label}): 10,000 subscriptions <= 2x one: {p50 / base_from:.2f}x -> "
              f"{'met' if p50 <= 2 * base_from else 'NOT met'}")
    for n in (1, 1000):
        p50, p99 = commit_latency(n, min(commits, 300), min(rows, 10_000), BOUND_QUERY)
        print(f"{'insert+commit, ' + str(n) + ' per-binding subscriptions':<52} "
              f"{p50 * 1e6:9.1f} {p99 * 1e6:9.1f}")
    p50, p99 = sqlite_requery(100, max(commits // 10, 50), rows)
    print(f"{'sqlite3: insert + re-run 100 clients queries':<52} {p50 * 1e6:9.1f} {p99 * 1e6:9.1f}")
    p50, p99 = delivery_latency(200 if args.quick else 1000)
    print(f"{'delivery: COMMIT returned -> callback running':<52} {p50 * 1e6:9.1f} {p99 * 1e6:9.1f}")


if __name__ == "__main__":
    main()
