"""Incremental left, right and full outer equi-joins.

outer(a, b) = inner(a, b) + pad_right(anti(a, b)) [+ pad_left(anti(b, a))].
The inner part uses the bilinear rule of ``join.py``; the padded part uses
the anti-join rule of ``semijoin.py`` on the *same* traces: a dangling row
is null-padded, the pad is retracted when the first partner arrives and
re-emitted when the last partner goes.  ``None`` keys match nothing and are
always padded.  Missing sides are replaced by ``left_null`` / ``right_null``
(rows of NULLs) before ``combine(left, right)``.
State: both sides indexed by key.  Time per step O(|Δa| + |Δb|) probes plus
O(output), including the groups whose match status flips.
"""

from .base import Operator
from .join import Join, concat
from .semijoin import filtered_delta, match_status

_KINDS = ("left", "right", "full")


class OuterJoin(Operator):
    """``kind`` in {"left", "right", "full"}; pads with the given null rows."""

    arity = 2

    def __init__(self, left_key, right_key, kind="left", left_null=None,
                 right_null=None, combine=concat, work=None):
        super().__init__(work)
        if kind not in _KINDS:
            raise ValueError(f"unsupported outer join kind {kind!r}; expected one of {_KINDS}")
        if kind in ("left", "full") and right_null is None:
            raise ValueError(f"{kind} outer join needs right_null (the padding row)")
        if kind in ("right", "full") and left_null is None:
            raise ValueError(f"{kind} outer join needs left_null (the padding row)")
        self.kind = kind
        self.left_null = left_null
        self.right_null = right_null
        self.combine = combine
        self.inner = Join(left_key, right_key, combine, self.work)

    def step(self, delta_left, delta_right):
        inner = self.inner
        pad_left_rows = self.kind in ("left", "full")
        pad_right_rows = self.kind in ("right", "full")
        status_of_right = match_status(delta_right, inner.right_key, inner.right) if pad_left_rows else None
        status_of_left = match_status(delta_left, inner.left_key, inner.left) if pad_right_rows else None
        out = inner.step(delta_left, delta_right)  # updates both traces
        add_row = out.add_row
        combine = self.combine
        if pad_left_rows:
            right_null = self.right_null
            filtered_delta(delta_left, inner.left_key, inner.left, status_of_right,
                           inner.right, False,
                           lambda row, w: add_row(combine(row, right_null), w), self.work)
        if pad_right_rows:
            left_null = self.left_null
            filtered_delta(delta_right, inner.right_key, inner.right, status_of_left,
                           inner.left, False,
                           lambda row, w: add_row(combine(left_null, row), w), self.work)
        return out

    def _check(self):
        self.inner._check()


def left_join(left_key, right_key, right_null, combine=concat, work=None):
    """LEFT OUTER JOIN operator."""
    return OuterJoin(left_key, right_key, "left", None, right_null, combine, work)


def right_join(left_key, right_key, left_null, combine=concat, work=None):
    """RIGHT OUTER JOIN operator."""
    return OuterJoin(left_key, right_key, "right", left_null, None, combine, work)


def full_join(left_key, right_key, left_null, right_null, combine=concat, work=None):
    """FULL OUTER JOIN operator."""
    return OuterJoin(left_key, right_key, "full", left_null, right_null, combine, work)


__all__ = ["OuterJoin", "left_join", "right_join", "full_join"]
