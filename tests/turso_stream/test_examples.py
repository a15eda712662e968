"""The examples in ``examples/`` run, and do what they say."""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "examples")


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quickstart(tmp_path, capsys):
    _load("quickstart").main(str(tmp_path))
    out = capsys.readouterr().out
    assert "IntegrityError: UNIQUE constraint failed: products.name" in out
    assert "stdlib sqlite3 sees 3 products" in out


def test_live_leaderboard_ends_equal_to_its_query(tmp_path, capsys):
    example = _load("live_leaderboard")
    board = example.main(str(tmp_path), games=25, seed=3)
    conn = sqlite3.connect(tmp_path / "games.db")  # the checkpointed file, plain sqlite3
    expected = conn.execute("SELECT player, sum(points) AS points FROM scores GROUP BY "
                            "player ORDER BY points DESC, player LIMIT 3").fetchall()
    conn.close()
    assert board == expected and len(board) == 3
    assert capsys.readouterr().out.count("commit ") >= 2  # the initial result, then changes


def test_cdc_consumer_ships_each_change_once_across_runs(tmp_path):
    example = _load("cdc_consumer")
    assert example.main(str(tmp_path)) == 4
    assert example.main(str(tmp_path)) == 4  # a restart ships only the new changes
    with open(tmp_path / "changes.jsonl") as f:
        events = [json.loads(line) for line in f]
    ids = [e["source"]["change_id"] for e in events]
    assert ids == sorted(set(ids)) and len(ids) == 8
    assert [e["op"] for e in events] == ["c", "c", "u", "d"] * 2
    assert events[2]["before"]["total"] == 10 and events[2]["after"]["total"] == 15

