"""dbsp: Z-sets, streams, circuits and incremental operators (the mathematics).

No SQL and no storage live here; ``engine`` and ``turso_stream`` compile SQL
onto these operators. Model: Budiu et al., "DBSP: Automatic Incremental View
Maintenance for Rich Query Languages", VLDB 2023.
"""
