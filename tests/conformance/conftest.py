"""Make the runner (slt.py) importable and locate the sqllogictest corpus.

The corpus is read from ``$TURSO_STREAM_SLT_DIR`` or, by default, from
``<repo>/../shared/conformance/sqllogictest``; tests that need it skip with
a message saying where it was looked for.
"""

import os
import pathlib
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import slt  # noqa: E402  (needs the path above)


@pytest.fixture(scope="session")
def slt_dir() -> pathlib.Path:
    """The corpus directory; skips the test when it is absent."""
    path = pathlib.Path(slt.corpus_dir())
    if not path.is_dir():
        pytest.skip(f"sqllogictest corpus not found at {path} "
                    f"(set {slt.CORPUS_ENV} to its directory)")
    return path
