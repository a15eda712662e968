"""Differential suite against stdlib sqlite3: make oracle.py and grammar.py importable
and provide a fresh side-by-side connection pair."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from oracle import Pair  # noqa: E402 - needs the path above


@pytest.fixture
def pair():
    p = Pair()
    yield p
    p.close()
