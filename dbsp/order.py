"""A total order over heterogeneous Python values, for deterministic ties.

``total_order_key(value)`` maps None < numbers < str < bytes < other (by
repr), recursing into tuples, so rows containing None or mixed types can be
sorted.  It is used as the default tie-breaker of top-k and similar
operators; SQL ordering itself is encoded by the caller's ``sort_key``.
"""


def total_order_key(value):
    """Orderable key for any value; equal keys imply equal values (mostly).

    Ints sort before equal floats so ``1`` and ``1.0`` stay distinct. O(size).
    """
    if value is None:
        return (0,)
    kind = type(value)
    if kind is int or kind is bool:
        return (1, value, 0)
    if kind is float:
        if value != value:  # NaN sorts first among numbers
            return (1, float("-inf"), -1)
        return (1, value, 1)
    if kind is str:
        return (2, value)
    if kind is bytes:
        return (3, value)
    if kind is tuple:
        return (4, tuple(total_order_key(v) for v in value))
    return (5, kind.__name__, repr(value))
