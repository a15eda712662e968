"""A durable change-feed consumer: ship every committed change once, in order, as
Debezium JSON lines (what a Kafka producer would send), resuming after a restart
from the last change_id it shipped.

Run: python examples/cdc_consumer.py [DIR]   (run it twice: the second run ships
only the new changes)
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

import turso_stream


def write_some_orders(conn, first: int) -> None:
    """The application: a few transactions, every one captured by CDC."""
    with conn:
        conn.execute("INSERT INTO orders(id, customer, total) VALUES (?, 'ann', 10)", (first,))
        conn.execute("INSERT INTO orders(id, customer, total) VALUES (?, 'bob', 25)",
                     (first + 1,))
    with conn:
        conn.execute("UPDATE orders SET total = total + 5 WHERE id = ?", (first,))
    with conn:
        conn.execute("DELETE FROM orders WHERE id = ?", (first + 1,))


def ship(conn, directory: str) -> int:
    """Append the changes after the saved offset to ``changes.jsonl``; returns how
    many were shipped. The offset is saved after the lines are on disk, so a crash
    in between ships those lines again (at-least-once); a sink that must not see
    duplicates skips ``source.change_id`` at or below the last one it applied."""
    offset_path = os.path.join(directory, "offset.json")
    last = 0
    if os.path.exists(offset_path):
        with open(offset_path) as f:
            last = json.load(f)["change_id"]
    shipped = 0
    with open(os.path.join(directory, "changes.jsonl"), "a") as out:
        for envelope in conn.changes_debezium(since=last, tables={"orders"}):
            out.write(json.dumps(envelope) + "\n")
            last = envelope["source"]["change_id"]
            shipped += 1
        out.flush()
        os.fsync(out.fileno())
    with open(offset_path + ".tmp", "w") as f:
        json.dump({"change_id": last}, f)
    os.replace(offset_path + ".tmp", offset_path)
    return shipped


def main(directory: str) -> int:
    path = os.path.join(directory, "shop.db")
    conn = turso_stream.connect(path)
    conn.execute("CREATE TABLE IF NOT EXISTS orders(id INTEGER PRIMARY KEY, customer TEXT, "
                 "total INTEGER)")
    conn.execute("PRAGMA capture_data_changes_conn('full')")  # this connection's writes
    first = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM orders").fetchone()[0]
    write_some_orders(conn, first)
    shipped = ship(conn, directory)
    print(f"shipped {shipped} changes to {os.path.join(directory, 'changes.jsonl')}")
    conn.close()
    return shipped


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="turso_stream_"))
