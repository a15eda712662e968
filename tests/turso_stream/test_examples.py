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
