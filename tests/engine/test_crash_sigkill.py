"""SIGKILL: a real process committing with SYNC_FULL is killed at random moments.

Each round starts ``tests/engine/crash_child.py`` on the same directory (it
reopens the database, so it recovers from the previous kill, and continues
committing), kills it with SIGKILL after a random delay, then reopens the
database here and checks it reflects exactly the state after some commit ``n``
with ``last acknowledged <= n <= last attempted`` (the child's report lines and
state digests, see crash_child.py). Between rounds the parent either closes
cleanly (checkpoint) or abandons the files (the next child replays the log).
"""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import subprocess
import sys
import time

from engine.database import Database

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
CHILD = os.path.join(HERE, "crash_child.py")
GROUP_CHILD = os.path.join(HERE, "crash_group_child.py")
ROUNDS = 22
GROUP_ROUNDS = 8
GROUP_THREADS = 8


def _load_child_module():
    spec = importlib.util.spec_from_file_location("crash_child", CHILD)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


child = _load_child_module()


def _parse(lines: list[str], where: str):
    """``(opened, attempts{n: digest}, last_ack)`` from a child's output lines."""
    opened, attempts, last_ack = None, {}, None
    for line in lines:
        if not line.endswith("\n"):
            break  # cut by the kill mid-write: not reported
        kind, n, digest = line.split()
        n, digest = int(n), int(digest)
        if kind == "open":
            opened = (n, digest)
        elif kind == "attempt":
            attempts[n] = digest
        else:
            assert kind == "ack" and attempts.get(n) == digest, f"{where}: bad line {line!r}"
            last_ack = n
    return opened, attempts, last_ack


def _run_child(directory: str, seed: int, delay: float, out_path: str,
               argv: list[str] | None = None) -> list[str]:
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    argv = argv or [CHILD, directory, str(seed)]
    with open(out_path, "w") as out:
        proc = subprocess.Popen([sys.executable, *argv], stdout=out,
                                stderr=subprocess.PIPE, env=env)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, \
        f"seed {seed}: child exited by itself ({proc.returncode}): {err.decode()[-2000:]}"
    with open(out_path) as f:
        return f.readlines()


def test_sigkill_rounds(tmp_path):
    directory = str(tmp_path)
    path = os.path.join(directory, child.DB_NAME)
    rng = random.Random(20240501)
    digests = {0: 0}          # commit number -> state digest after it
    state = (0, 0)            # what the database held after the previous round
    acked_total = 0
    for round_no in range(ROUNDS):
        where = f"round {round_no}"
        lines = _run_child(directory, round_no, rng.uniform(0.35, 1.0),
                           os.path.join(directory, f"round{round_no}.out"))
        opened, attempts, last_ack = _parse(lines, where)
        if opened is not None:
            assert opened == state, f"{where}: child recovered {opened}, expected {state}"
        assert list(attempts) == list(range(state[0] + 1, state[0] + 1 + len(attempts))), \
            f"{where}: commit numbers {list(attempts)} do not continue from {state[0]}"
        digests.update(attempts)
        low = last_ack if last_ack is not None else state[0]
        high = max(attempts) if attempts else state[0]
        acked_total += 0 if last_ack is None else last_ack - state[0]

        db = Database(path, checkpoint_bytes=child.CHECKPOINT_BYTES)
        db._check()
        n, digest = child.state_digest(db)
        assert low <= n <= high, f"{where}: recovered commit {n} outside [{low}, {high}]"
        assert digests.get(n) == digest, \
            f"{where}: state after commit {n} has digest {digest}, expected {digests.get(n)}"
        for stale in [k for k in digests if k > n]:
            del digests[stale]  # commits lost with the kill are redone with other data
        state = (n, digest)
        if round_no % 3 == 0:
            db.close()        # checkpoint: the next child loads the SQLite file
        else:
            db.closed = True  # abandon: the next child replays the log
            db._log.close()
            db._lock_file.release()
    assert acked_total >= ROUNDS, f"only {acked_total} commits acknowledged in {ROUNDS} rounds"


def test_sigkill_during_group_commit(tmp_path):
    """Eight threads commit at once (group commit shares their fsyncs); after each
    SIGKILL every acknowledged commit of every thread is present, and each
    thread's rows are a gapless prefix (no later commit survives an earlier one)."""
    directory = str(tmp_path)
    path = os.path.join(directory, "group.db")
    spec = importlib.util.spec_from_file_location("crash_group_child", GROUP_CHILD)
    group_child = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(group_child)
    rng = random.Random(20261123)
    acked_total = 0
    for round_no in range(GROUP_ROUNDS):
        where = f"round {round_no}"
        lines = _run_child(directory, round_no, rng.uniform(0.5, 1.2),
                           os.path.join(directory, f"group{round_no}.out"),
                           [GROUP_CHILD, directory, str(GROUP_THREADS)])
        acked: dict[int, int] = {}
        for line in lines:
            if line.startswith("ack ") and line.endswith("\n"):
                _, w, seq = line.split()
                acked[int(w)] = max(acked.get(int(w), 0), int(seq))
        db = Database(path)
        db._check()
        seqs = group_child.highest_seqs(db)
        for w, have in seqs.items():
            assert have == list(range(1, len(have) + 1)), f"{where}: writer {w} has gaps"
        for w, last in acked.items():
            have = seqs.get(w, [])
            assert last <= len(have) <= last + 1, \
                f"{where}: writer {w} acknowledged {last}, database holds {len(have)}"
        acked_total += sum(acked.values())
        if round_no % 2:
            db.close()
        else:
            db.closed = True  # abandon: the next child replays the log
            db._log.close()
            db._lock_file.release()
    assert acked_total >= GROUP_ROUNDS * GROUP_THREADS, f"only {acked_total} acknowledged"
