"""Multi-version row storage (Hekaton-style begin/end timestamps)."""

from engine.mvcc.index import BOTTOM, TOP, IndexStore
from engine.mvcc.versions import TableVersions

__all__ = ["BOTTOM", "TOP", "IndexStore", "TableVersions"]
