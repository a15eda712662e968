"""``Row``: the sqlite3.Row-compatible row factory.

A Row wraps one result tuple and its cursor's description. It indexes by position
(negative indexes and slices too) and by column name, ASCII case-insensitively;
``keys()`` lists the names. Two rows are equal when their descriptions and values
are equal; the hash combines the same two parts, as ``sqlite3.Row`` does.
"""

from __future__ import annotations

import collections.abc

__all__ = ["Row"]


class Row:
    """One result row addressable by index and by column name (see module docstring)."""

    __slots__ = ("_data", "_description")

    def __new__(cls, cursor, data):
        if not isinstance(data, tuple):
            raise TypeError(f"Row() argument 2 must be tuple, not {type(data).__name__}")
        description = getattr(cursor, "description", _NO_CURSOR)
        if description is _NO_CURSOR:
            raise TypeError(f"Row() argument 1 must be a cursor, not {type(cursor).__name__}")
        self = object.__new__(cls)
        self._data = data
        self._description = description
        return self

    def __getitem__(self, key):
        """By int (negative allowed), slice, or column name (ASCII case-insensitive).

        O(1) for ints and slices, O(columns) for names, as sqlite3's linear scan.
        """
        if isinstance(key, int):
            return self._data[key]
        if isinstance(key, str):
            for i, column in enumerate(self._description or ()):
                if _same_name(column[0], key):
                    return self._data[i]
            raise IndexError("No item with that key")
        if isinstance(key, slice):
            return self._data[key]
        raise IndexError("Index must be int or string")

    def keys(self) -> list:
        """The column names, in order."""
        return [column[0] for column in self._description or ()]

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self):
        return iter(self._data)

    def __eq__(self, other):
        if not isinstance(other, Row):
            return NotImplemented
        return self._description == other._description and self._data == other._data

    def __ne__(self, other):
        if not isinstance(other, Row):
            return NotImplemented
        return not self == other

    def __hash__(self) -> int:
        return hash(self._description) ^ hash(self._data)

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__qualname__} object at {id(self):#x}>"


_NO_CURSOR = object()


def _same_name(name: str, key: str) -> bool:
    """sqlite3.Row's name match: equal, or both ASCII and equal ignoring case."""
    if name == key:
        return True
    return name.isascii() and key.isascii() and name.lower() == key.lower()


collections.abc.Sequence.register(Row)
