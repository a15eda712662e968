"""Per-step cost of a one-row delta against integrated state of 10^3 and 10^6 rows.

For filter, join, grouped SUM, MIN, distinct and top-k: load the state with
one bulk step, then time alternating single-row insert/delete steps through
``Circuit.step`` (so circuit overhead is included).  Prints a table with the
10^6/10^3 ratio (target <= 2) and flags grouped SUM against its 20 us target.

Usage: python bench/bench_dbsp.py [--small N] [--large N] [--steps N]
"""

import argparse
import gc
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from dbsp import Circuit, Min, Sum, ZSet  # noqa: E402

GROUPS = 1000


def build(kind):
    """A circuit with inputs x, y and output "out" for the operator ``kind``."""
    c = Circuit()
    x, y = c.input("x"), c.input("y")
    if kind == "filter":
        out = x.filter(lambda r: r[1] % 2 == 0)
    elif kind == "join":
        out = x.join(y, lambda r: r[0], lambda r: r[0])
    elif kind == "grouped SUM":
        out = x.aggregate(lambda r: (r[0] % GROUPS,), [Sum(lambda r: r[1])])
    elif kind == "MIN":
        out = x.aggregate(lambda r: (r[0] % GROUPS,), [Min(lambda r: r[1])])
    elif kind == "distinct":
        out = x.map(lambda r: (r[0] // 2,)).distinct()
    elif kind == "top-k":
        out = x.top_k(lambda r: r[1], limit=10, partition_key=lambda r: r[0] % GROUPS)
    else:
        raise ValueError(kind)
    c.output("out", out)
    return c


def load(circuit, kind, n):
    """Bulk-load n rows (and n partner rows for the join)."""
    inputs = {"x": ZSet.from_rows((i, (i * 7919) % 100_003) for i in range(n))}
    if kind == "join":
        inputs["y"] = ZSet.from_rows((i, -i) for i in range(n))
    circuit.step(inputs)


def time_steps(circuit, n, steps):
    """Mean seconds per single-row step (alternating insert and delete)."""
    deltas = []
    for k in range(steps // 2):
        row = (n // 2 + k % 97, 12345 + k)
        deltas.append({"x": ZSet({row: 1})})
        deltas.append({"x": ZSet({row: -1})})
    step = circuit.step
    for d in deltas[:50]:  # warm-up
        step(d)
    gc.disable()
    try:
        start = time.perf_counter()
        for d in deltas:
            step(d)
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    return elapsed / len(deltas)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10**3)
    parser.add_argument("--large", type=int, default=10**6)
    parser.add_argument("--steps", type=int, default=20_000)
    args = parser.parse_args()
    print("pydbsp (reference implementation) needs Python >= 3.12; not available here "
          f"(running {sys.version.split()[0]}), so no comparison column.")
    kinds = ["filter", "join", "grouped SUM", "MIN", "distinct", "top-k"]
    header = f"{'operator':<12} {'n=' + str(args.small):>12} {'n=' + str(args.large):>12} {'ratio':>7}  setup(large)"
    print(header)
    print("-" * len(header))
    for kind in kinds:
        row = []
        for n in (args.small, args.large):
            circuit = build(kind)
            t0 = time.perf_counter()
            load(circuit, kind, n)
            setup = time.perf_counter() - t0
            row.append(time_steps(circuit, n, args.steps))
            del circuit
            gc.collect()
        ratio = row[1] / row[0]
        flag = ""
        if kind == "grouped SUM":
            flag = "  (target < 20 us: " + ("met" if row[1] < 20e-6 else "MISSED") + ")"
        print(f"{kind:<12} {row[0] * 1e6:>9.2f} us {row[1] * 1e6:>9.2f} us {ratio:>7.2f}  "
              f"{setup:6.1f} s{flag}")


if __name__ == "__main__":
    main()
