"""Make the shared reference helpers (dbsp_reference.py) importable."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
