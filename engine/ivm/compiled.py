"""What the view compiler hands to view maintenance: one circuit per view.

The contract between ``engine.ivm.compiler`` (SELECT -> circuit) and
``engine.ivm.maintainer`` (commit -> deltas -> view contents):

* ``inputs`` maps a relation name (lowercase: a base table, or a materialized
  view this view reads) to the circuit input fed with that relation's delta.
  Base rowid tables deliver ``row + (rowid,)``; WITHOUT ROWID tables deliver
  ``row``; a materialized view delivers its output rows.
* ``constants`` are circuit inputs fed once, at the first step (VALUES lists,
  a FROM-less SELECT): ``{input name: ZSet}``.
* ``step(deltas)`` advances the circuit one tick and returns the view's delta,
  a ZSet of output rows (tuples of SQL values in ``columns`` order).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dbsp import Circuit, ZSet
from engine.sql.compiler.scope import ColumnMeta


@dataclass(eq=False)
class CompiledView:
    """A view's circuit plus what maintenance needs to know about it."""

    circuit: Circuit
    columns: list[ColumnMeta]
    inputs: dict[str, str] = field(default_factory=dict)
    constants: dict[str, ZSet] = field(default_factory=dict)
    output: str = "out"
    # Output positions a point read is likely to name (GROUP BY keys, join keys):
    # maintenance indexes the stored contents on them.
    key_columns: tuple[int, ...] = ()
    # The strategy per construct, for EXPLAIN and the docs ("incremental" operators).
    explain: list[str] = field(default_factory=list)
    # Parametrized queries (subscriptions): k > 0 parameters; input PARAMS_RELATION
    # takes (p1..pk, None) rows and every output row ends with its k values.
    param_count: int = 0
    # Checks a new binding must pass before it enters the circuit (LIMIT ? values).
    binding_checks: list = field(default_factory=list)
    # A compound view's first arm's column affinities (Rel.arm_affinities): a query
    # or view reading this view as a FROM item compares with them and, when SQLite
    # would materialize it there, stores its rows through them (view_from_item_columns).
    arm_affinities: tuple | None = None
    _primed: bool = False

    def step(self, deltas: dict[str, ZSet]) -> ZSet:
        """One tick: relation deltas in, the view's delta out. O(the operators' work)."""
        feed = {self.inputs[name]: delta for name, delta in deltas.items()
                if name in self.inputs and delta}
        if not self._primed:
            feed.update(self.constants)
            self._primed = True
        return self.circuit.step(feed)[self.output]

    @property
    def work(self):
        """The circuit's WorkCounter (rows touched, lookups, scans)."""
        return self.circuit.work
