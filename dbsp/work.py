"""Work counter: how much an operator step really touched.

One ``WorkCounter`` per circuit (shared by its operators, or passed in).
Operators add to it in bulk (per delta, per lookup), so tests can assert a
step did O(|delta|) work and no scan of integrated state.

Fields: ``rows`` (delta or state rows processed), ``lookups`` (index probes),
``scans`` (full passes over integrated state: should stay 0 on hot paths).
"""


class WorkCounter:
    """Integer counters ``rows``, ``lookups``, ``scans``; ``reset()`` zeroes them."""

    __slots__ = ("rows", "lookups", "scans")

    def __init__(self):
        self.rows = 0
        self.lookups = 0
        self.scans = 0

    def reset(self):
        self.rows = 0
        self.lookups = 0
        self.scans = 0

    def snapshot(self):
        """The counters as a dict (for assertions and reports)."""
        return {"rows": self.rows, "lookups": self.lookups, "scans": self.scans}

    def __repr__(self):
        return f"WorkCounter(rows={self.rows}, lookups={self.lookups}, scans={self.scans})"
