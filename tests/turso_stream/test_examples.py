"""The examples in examples/ run and print what they promise."""

import importlib.util
import pathlib

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quickstart(tmp_path, capsys):
    _load("quickstart").main(str(tmp_path))
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "{'name': 'apple', 'price': 0.5}"
    assert out[2] == "IntegrityError: UNIQUE constraint failed: products.name"
    assert out[3] == "[('apple', 1.0), ('pear', 1.5), ('melon', 2.5)]"
    assert out[4] == "stdlib sqlite3 sees 3 products"


def test_demo_tour(tmp_path):
    """`turso-stream demo` (the README's first command) runs the whole tour."""
    from turso_stream import demo
    lines = []
    demo.run(str(tmp_path / "tour"), out=lines.append)
    text = "\n".join(lines)
    assert "  ('ann', 35, 2)" in lines                       # the view after population
    assert "SEARCH revenue USING INDEX revenue key (customer=?)" in text
    assert "+[(55, 3)] -[(35, 2)]" in text                  # a subscription delta
    assert "+[(56, 3)]" not in text                          # bob's order did not notify ann
    assert "rows 2 and 3: both committed" in text
    assert "rows 2 and 2: WriteConflictError" in text
    assert "change 1: update orders id=2" in text           # the CDC feed
    tail = lines[lines.index("reopened: the view is rebuilt from the tables"):]
    assert tail[1:] == ["  ('ann', 26, 2)", "  ('bob', 198, 2)"]
    # what stdlib sqlite3 read from the checkpointed file is the same
    i = lines.index("the view included:")
    assert lines[i + 1:i + 3] == tail[1:]
