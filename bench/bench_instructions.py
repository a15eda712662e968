"""Machine instructions per operation (valgrind's callgrind), engine and sqlite3 side by side.

Timings on a shared 2-core machine drift by 10% from run to run; instruction
counts do not, so this is how a change to a hot path is judged before its
timing is (bench_engine.py). Each figure is ``(Ir(N ops) - Ir(0 ops)) / N``
for a fresh interpreter, so imports and set-up cancel out. Operations:

* single-row INSERT + COMMIT through the engine API (``begin``/``insert``/
  ``commit``), in memory and with the commit log (synchronous OFF);
* the same INSERT through ``turso_stream`` (DB-API, autocommit, in memory);
* stdlib sqlite3's in-memory autocommit ``execute("INSERT ...")``.

Needs ``valgrind`` on PATH (Debian package ``valgrind``); prints why it cannot
run otherwise. Usage: python bench/bench_instructions.py [--ops N]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SETUP = {
    "engine": """
import os, sys, tempfile
sys.path.insert(0, {root!r})
from engine.database import Database
from engine.storage import SYNC_OFF
path = ":memory:" if {mode!r} == "memory" else os.path.join(tempfile.mkdtemp(), "x.db")
db = Database(path, synchronous=SYNC_OFF)
with db.begin() as txn:
    txn.create_table("CREATE TABLE t(a INTEGER, b INTEGER, c INTEGER)")
row = (1, 2, 3)
def op():
    txn = db.begin()
    txn.insert("t", row)
    txn.commit()
""",
    "turso_stream": """
import sys
sys.path.insert(0, {root!r})
import turso_stream
conn = turso_stream.connect(":memory:", isolation_level=None)
conn.execute("CREATE TABLE t(a INTEGER, b INTEGER, c INTEGER)")
def op():
    conn.execute("INSERT INTO t VALUES (1, 2, 3)")
""",
    "sqlite3": """
import sqlite3
conn = sqlite3.connect(":memory:", isolation_level=None)
conn.execute("CREATE TABLE t(a INTEGER, b INTEGER, c INTEGER)")
def op():
    conn.execute("INSERT INTO t VALUES (1, 2, 3)")
""",
}

# Warm-up ops run in both the 0-op and the N-op runs: caches, lazy imports.
DRIVER = """
for _ in range(50):
    op()
for _ in range({n}):
    op()
"""


def instructions(script: str) -> int:
    """Instructions callgrind counts for running ``script`` in a fresh interpreter."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
             os.path.realpath(sys.executable), f.name],
            capture_output=True, text=True, check=True)
    finally:
        os.unlink(f.name)
    match = re.search(r"Collected : (\d+)", out.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in callgrind's output:\n{out.stderr[-2000:]}")
    return int(match.group(1))


def per_op(kind: str, mode: str, n: int) -> float:
    setup = SETUP[kind].format(root=ROOT, mode=mode)
    base = instructions(setup + DRIVER.format(n=0))
    full = instructions(setup + DRIVER.format(n=n))
    return (full - base) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=5000, help="operations per measurement")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt install valgrind): nothing to measure")
        return
    sqlite = per_op("sqlite3", "memory", args.ops)
    print(f"{'operation':<52}{'instructions':>14}{'vs sqlite3':>12}")
    print("-" * 78)
    for label, kind, mode in (
            ("engine API insert+commit, in memory", "engine", "memory"),
            ("engine API insert+commit, log (synchronous OFF)", "engine", "file"),
            ("turso_stream execute(INSERT), in memory", "turso_stream", "memory")):
        count = per_op(kind, mode, args.ops)
        print(f"{label:<52}{count:>14,.0f}{count / sqlite:>11.2f}x")
    print(f"{'sqlite3 execute(INSERT), in memory':<52}{sqlite:>14,.0f}{1:>11.2f}x")


if __name__ == "__main__":
    main()
