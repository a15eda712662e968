"""A live leaderboard: a materialized view kept current by every commit, and an
asyncio consumer told of each change to its top 3 (what a web backend would push
to browsers over a websocket).

Run: python examples/live_leaderboard.py [DIR]
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import tempfile

import turso_stream

TOP3 = "SELECT player, points FROM leaderboard ORDER BY points DESC, player LIMIT 3"


def setup(path: str) -> None:
    conn = turso_stream.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE IF NOT EXISTS scores(id INTEGER PRIMARY KEY, player TEXT, "
                 "points INTEGER)")
    # Maintained incrementally: each INSERT costs in proportion to itself, not the table.
    conn.execute("CREATE MATERIALIZED VIEW IF NOT EXISTS leaderboard AS "
                 "SELECT player, sum(points) AS points FROM scores GROUP BY player")
    conn.close()


def play(path: str, games: int, seed: int) -> None:
    """A writer in its own thread: one commit per game."""
    rng = random.Random(seed)
    conn = turso_stream.connect(path, isolation_level=None)
    for _ in range(games):
        conn.execute("INSERT INTO scores(player, points) VALUES (?, ?)",
                     (rng.choice(["ada", "bob", "cy", "dee", "eve"]), rng.randint(1, 10)))
    conn.close()


async def follow(conn, board: list) -> None:
    """The consumer: keep ``board`` equal to the top 3, printing each change."""
    async for change in conn.watch(TOP3):  # the current result first, then changes
        board[:] = sorted(change.rows(), key=lambda r: (-r[1], r[0]))
        print(f"commit {change.commit_id}: +{change.inserted} -{change.deleted}")


async def run(path: str, games: int, seed: int) -> list:
    """Follow the top 3 while a writer thread plays; return the board once every
    commit's change has arrived (it then equals re-running the query)."""
    conn = turso_stream.connect(path, isolation_level=None, check_same_thread=False)
    board: list = []
    consumer = asyncio.create_task(follow(conn, board))
    await asyncio.to_thread(play, path, games, seed)  # writes never block the event loop
    expected = conn.execute(TOP3).fetchall()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while board != expected and loop.time() < deadline:
        await asyncio.sleep(0.01)  # (deliveries of the last commits are in flight)
    consumer.cancel()  # ends the iteration: the subscription is dropped
    conn.close()
    return board


def main(directory: str, games: int = 40, seed: int = 7) -> list:
    path = os.path.join(directory, "games.db")
    setup(path)
    top3 = asyncio.run(run(path, games, seed))
    print("final top 3:", top3)
    return top3


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="turso_stream_"))
