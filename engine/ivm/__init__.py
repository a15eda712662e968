"""Incremental view maintenance: SQL views compiled onto ``dbsp`` circuits.

* ``compiler``: SELECT AST -> ``CompiledView`` (a circuit and its inputs);
* ``aggregates``: SQL aggregate calls as ``dbsp`` aggregates (SQLite's rules);
* ``determinism``: which queries may be materialized.
"""

from engine.ivm.compiled import CompiledView
from engine.ivm.compiler import compile_view, is_materialized

__all__ = ["CompiledView", "compile_view", "is_materialized"]
