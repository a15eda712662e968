"""CDC after SIGKILL: a resuming consumer sees every committed change exactly once.

Each round runs this file as a child process (``python test_cdc_crash.py child
<dir> <seed>``) that commits random transactions with CDC on, rolls some back,
and runs a consumer that appends every change it reads to ``consumed.txt``
(fsynced, one ``change_id txn_id`` line per change). The parent kills it with
SIGKILL at a random moment, reopens the database and checks:

* the consumer's lines, then ``changes(since=its last change_id)``, are exactly
  the whole feed: each change once, in change_id order, txn ids in commit order;
* replaying the feed from an empty table rebuilds the table's contents (so no
  change is missing, duplicated or out of order, and every before image is right);
* every acknowledged commit is in the feed; nothing written by a rolled-back or
  unfinished transaction is;
* schema changes (some transactions create or drop an index ``ix_<n>``) are in
  the same feed, exactly once and in order: replaying them gives today's indexes.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
DB_NAME = "cdc.db"
CONSUMED = "consumed.txt"
ROUNDS = 4


# -- the child ----------------------------------------------------------------------------

def _read_consumed(directory: str) -> list[tuple[int, int]]:
    """The consumer's complete lines (a line cut by the kill is ignored)."""
    path = os.path.join(directory, CONSUMED)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        data = f.read()
    lines = data.split("\n")[:-1]  # the last piece has no newline: cut, or empty
    return [tuple(map(int, line.split())) for line in lines]


def child_main(directory: str, seed: int) -> None:
    import turso_stream
    rng = random.Random(seed)
    conn = turso_stream.connect(os.path.join(directory, DB_NAME), isolation_level=None)
    conn.execute("CREATE TABLE IF NOT EXISTS items(id INTEGER PRIMARY KEY, tag TEXT, n INT)")
    conn.execute("PRAGMA capture_data_changes_conn('full')")
    consumed = _read_consumed(directory)
    last = consumed[-1][0] if consumed else 0
    out = open(os.path.join(directory, CONSUMED), "a")
    n = int(conn.execute("SELECT coalesce(max(n), 0) FROM items").fetchone()[0])
    n = max(n, 100_000 * seed)  # commit numbers unique across rounds
    print("ready", flush=True)  # the parent's kill timer starts here (slow start-up under load)
    while True:
        n += 1
        rollback = rng.random() < 0.2
        tag = "rolled-back" if rollback else f"c{n}"
        conn.execute("BEGIN")
        ids = [r[0] for r in conn.execute("SELECT id FROM items ORDER BY random() LIMIT 3")]
        conn.execute("INSERT INTO items(tag, n) VALUES (?, ?)", (tag, n))
        for rid in ids:
            if rng.random() < 0.5:
                conn.execute("UPDATE items SET tag = ?, n = ? WHERE id = ?", (tag, n, rid))
            else:
                conn.execute("DELETE FROM items WHERE id = ?", (rid,))
        if rng.random() < 0.15:  # DDL in the same transaction as the rows
            old = conn.execute("SELECT name FROM sqlite_schema WHERE name LIKE 'ix!_%' "
                               "ESCAPE '!'").fetchall()
            conn.execute(f"DROP INDEX {old[0][0]}" if old else
                         f"CREATE INDEX ix_{n} ON items(tag)")
        print(f"attempt {n}", flush=True)
        if rollback:
            print(f"rollback {n}", flush=True)
        conn.execute("ROLLBACK" if rollback else "COMMIT")
        if not rollback:
            print(f"ack {n}", flush=True)
        if rng.random() < 0.3:
            for change in conn.changes(since=last):
                out.write(f"{change.change_id} {change.txn_id}\n")
                last = change.change_id
            out.flush()
            os.fsync(out.fileno())


# -- the parent ---------------------------------------------------------------------------

def _run_child(directory: str, seed: int, delay: float) -> list[str]:
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    out_path = os.path.join(directory, f"child{seed}.out")
    with open(out_path, "w") as out:
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "child",
                                 directory, str(seed)], stdout=out, stderr=subprocess.PIPE,
                                env=env)
        _wait_ready(out_path, proc)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, \
        f"child {seed} exited by itself ({proc.returncode}): {err.decode()[-2000:]}"
    with open(out_path) as f:
        return [line.split() for line in f if line.endswith("\n") and line != "ready\n"]


def _wait_ready(out_path: str, proc, timeout: float = 60.0) -> None:
    """Wait until the child has opened the database and enabled capture."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with open(out_path) as f:
            if f.readline() == "ready\n":
                return
        time.sleep(0.02)


def _replay(changes) -> dict:
    """The table the feed describes, built from nothing; asserts every before image."""
    state = {}
    for c in changes:
        if c.is_schema:
            continue
        if c.kind == "insert":
            assert c.id not in state, f"insert of existing row {c.id} (change {c.change_id})"
            state[c.id] = c.after
        elif c.kind == "update":
            assert state.get(c.id) == c.before, f"stale before in change {c.change_id}"
            state[c.id] = c.after
        else:
            assert state.get(c.id) == c.before, f"stale before in change {c.change_id}"
            del state[c.id]
    return state


def test_sigkill_resume_exactly_once(tmp_path):
    import turso_stream
    directory = str(tmp_path)
    rng = random.Random(7)
    acked: set[int] = set()
    attempted: set[int] = set()
    rolled_back: set[int] = set()
    ddl_seen = 0
    total_consumed = 0
    for round_no in range(ROUNDS):
        lines = _run_child(directory, round_no + 1, rng.uniform(0.6, 1.6))
        acked |= {int(n) for kind, n in lines if kind == "ack"}
        attempted |= {int(n) for kind, n in lines if kind == "attempt"}
        rolled_back |= {int(n) for kind, n in lines if kind == "rollback"}
        conn = turso_stream.connect(os.path.join(directory, DB_NAME), isolation_level=None)
        try:
            consumed = _read_consumed(directory)
            since = consumed[-1][0] if consumed else 0
            resumed = list(conn.changes(since=since))
            everything = list(conn.changes())
            ids = [c for c, _t in consumed] + [c.change_id for c in resumed]
            assert ids == [c.change_id for c in everything], f"round {round_no}"
            assert ids == sorted(set(ids))
            txns = [t for _c, t in consumed] + [c.txn_id for c in resumed]
            assert txns == sorted(txns)
            table = {r[0]: r for r in conn.execute("SELECT * FROM items")}
            assert _replay(everything) == table, f"round {round_no}"
            indexes = set()
            for c in everything:
                if c.is_schema:
                    if c.kind == "insert":
                        indexes.add(c.after[1])
                    else:
                        assert c.kind == "delete" and c.before[1] in indexes
                        indexes.remove(c.before[1])
            assert indexes == {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_schema WHERE type = 'index' AND name LIKE 'ix%'")}
            created = {int(name[3:]) for c in everything if c.is_schema and c.after
                       for name in [c.after[1]]}
            assert not created & rolled_back and created <= attempted
            ddl_seen += sum(c.is_schema for c in everything)
            tags = {v[1] for c in everything if not c.is_schema
                    for v in (c.before, c.after) if v}
            assert "rolled-back" not in tags
            committed = {int(t[1:]) for t in tags}
            assert acked <= committed  # each commit inserted a row tagged with its number
            assert committed <= attempted | acked
        finally:
            conn.close()  # checkpoint: the next child starts from the SQLite file
        total_consumed = len(consumed)
    assert len(acked) > 20 and total_consumed > 0 and ddl_seen > 0


if __name__ == "__main__" and sys.argv[1:2] == ["child"]:
    child_main(sys.argv[2], int(sys.argv[3]))
