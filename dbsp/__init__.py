"""dbsp: Z-sets, streams, circuits and incremental operators (the mathematics).

No SQL and no storage live here; ``engine`` and ``turso_stream`` compile SQL
onto these operators. Model: Budiu et al., "DBSP: Automatic Incremental View
Maintenance for Rich Query Languages", VLDB 2023.
"""

from .circuit import Circuit, Stream
from .indexed_zset import IndexedZSet
from .operators import (
    Avg, Count, GroupConcat, Max, Min, Sum, Total,
)
from .order import total_order_key
from .work import WorkCounter
from .zset import ZSet

__all__ = [
    "Avg", "Circuit", "Count", "GroupConcat", "IndexedZSet", "Max", "Min", "Stream",
    "Sum", "Total", "WorkCounter", "ZSet", "total_order_key",
]
