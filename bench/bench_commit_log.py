"""Commit log throughput on the real file system (a temp dir).

Prints commits/sec for: SYNC_OFF (append only), SYNC_FULL with one committer
thread (one fsync per commit), and SYNC_FULL with 8 committer threads (group
commit: followers share the leader's fsync), plus fsyncs per commit and the
group-commit speed-up. Usage: python bench/bench_commit_log.py [--seconds S]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from engine.storage import SYNC_FULL, SYNC_OFF, CommitLog, OsFileSystem  # noqa: E402
from engine.storage.vfs import OsFile  # noqa: E402


class FsyncCounter:
    """Counts OsFile.fsync calls by patching the class for the run."""

    def __enter__(self):
        self.count = 0
        self._orig = OsFile.fsync
        counter = self

        def fsync(file):
            counter.count += 1
            counter._orig(file)

        OsFile.fsync = fsync
        return self

    def __exit__(self, *exc):
        OsFile.fsync = self._orig


def run(directory: str, synchronous: int, threads: int, seconds: float,
        payload: bytes) -> tuple[float, float]:
    """Commits/sec and fsyncs/commit for `threads` committers over `seconds`."""
    path = os.path.join(directory, f"bench-{synchronous}-{threads}.db-log")
    log, _ = CommitLog.open(OsFileSystem(), path, synchronous=synchronous)
    commit_lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    counts = [0] * threads

    def committer(slot: int) -> None:
        append, wait = log.append, log.wait_durable
        perf = time.perf_counter
        n = 0
        while perf() < deadline:
            with commit_lock:
                lsn = append(payload)
            wait(lsn)
            n += 1
        counts[slot] = n

    with FsyncCounter() as fsyncs:
        start = time.perf_counter()
        workers = [threading.Thread(target=committer, args=(i,)) for i in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - start
        synced = fsyncs.count
    log.close()
    total = sum(counts)
    return total / elapsed, synced / max(total, 1)


def bench_append_only(directory: str, n: int, payload: bytes) -> float:
    """Raw append() calls/sec (SYNC_OFF, single thread, no wait)."""
    log, _ = CommitLog.open(OsFileSystem(), os.path.join(directory, "raw.db-log"),
                            synchronous=SYNC_OFF)
    append = log.append
    start = time.perf_counter()
    for _ in range(n):
        append(payload)
    elapsed = time.perf_counter() - start
    log.close()
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--payload", type=int, default=200, help="payload bytes")
    parser.add_argument("--dir", default=None, help="directory (default: a temp dir)")
    args = parser.parse_args()
    payload = os.urandom(args.payload)
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        raw = bench_append_only(directory, 100_000, payload)
        rows = [("append only (OFF, 1 thread)", raw, 0.0)]
        for label, mode, threads in (("OFF, 1 thread", SYNC_OFF, 1),
                                     ("FULL, 1 thread", SYNC_FULL, 1),
                                     ("FULL, 8 threads", SYNC_FULL, 8)):
            rate, per_commit = run(directory, mode, threads, args.seconds, payload)
            rows.append((label, rate, per_commit))
    print(f"commit log, {args.payload}-byte payloads, {args.seconds:.1f}s per run")
    print(f"{'configuration':<30} {'commits/sec':>12} {'fsyncs/commit':>14}")
    for label, rate, per_commit in rows:
        print(f"{label:<30} {rate:>12,.0f} {per_commit:>14.3f}")
    full1, full8 = rows[2][1], rows[3][1]
    print(f"group commit speed-up (FULL 8 threads / FULL 1 thread): {full8 / full1:.2f}x")


if __name__ == "__main__":
    main()
