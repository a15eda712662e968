"""dbsp: Z-sets, streams, circuits and incremental operators (the mathematics).

No SQL and no storage live here; ``engine`` and ``turso_stream`` compile SQL
onto these operators. Model: Budiu et al., "DBSP: Automatic Incremental View
Maintenance for Rich Query Languages", VLDB 2023.

Layout (one operator per module, named for the mathematics):

* ``zset.ZSet`` / ``indexed_zset.IndexedZSet``: the data (rows -> int weights).
* ``circuit.Circuit``: named inputs/outputs, ``step({name: ZSet}) -> {name: ZSet}``;
  ``Stream`` methods add operators (map, filter, join, aggregate, top_k, ...).
* ``operators.*``: linear ops, delay/integrate/differentiate, distinct (H),
  bilinear joins over indexed traces, semi/anti/outer/theta joins, grouped
  aggregation with retraction (``operators.aggregates``), top-k, windows,
  and recursion over nested time (``operators.nested``, ``operators.recursive``).
* ``work.WorkCounter``: rows/lookups/scans touched, shared per circuit.

Contract for callers (the SQL compiler): operators take plain callables
(row -> value / key / sort key) and are agnostic of SQL values; a key of
``None`` never matches in joins.  Rows compare with Python equality, so
``(1,)``, ``(1.0,)`` and ``(True,)`` are the *same* Z-set row: callers that
need type-strict rows must encode the type into the row.
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
