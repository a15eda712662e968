"""Committed row versions of one table, readable at any live snapshot.

Model (Larson et al., "High-Performance Concurrency Control Mechanisms for
Main-Memory Databases", VLDB 2011): every version of a row has a begin and an
end timestamp; a snapshot at ``ts`` sees the version with ``begin <= ts < end``.

Layout, chosen so that the common case costs nothing:

* ``rows``: SortedDict ``key -> row`` holding the *latest* committed version of
  every live row (key = rowid, or the primary-key sort key of a WITHOUT ROWID
  table). Its end is implicitly infinity.
* ``begins``: ``key -> begin ts`` only for latest versions that some live
  snapshot cannot see yet. A version missing here is visible to every snapshot.
* ``history``: ``key -> [(begin, end, row), ...]`` superseded or deleted versions
  that some live snapshot may still read, oldest first.

When no other transaction is active at commit time (a single connection, the
usual embedded case) nothing goes to ``begins`` or ``history`` at all, and reads
are plain SortedDict lookups. Garbage collection is driven by the database's
queue of ``(ts, table, key)`` entries: O(1) amortized per superseded version.

Memory: a 3-integer row costs its tuple plus one SortedDict entry (the dict slot
and one pointer in the sorted key list); timestamps cost nothing once collected.
"""

from __future__ import annotations

from itertools import islice, repeat

from sortedcontainers import SortedDict


_dict_setitem = dict.__setitem__


def _append_max(rows: SortedDict, key, row) -> None:
    """``rows[key] = row`` for a ``key`` above every key in ``rows`` (a new rowid:
    the usual insert). O(1) amortized.

    Does what ``SortedList.add`` does for such a key (append to the last
    sublist, raise its maximum, ``_expand`` to split it or update the
    positional index) without SortedDict's membership test and bisection of
    the sublist maxima: two Python calls fewer on the commit path. Relies on
    sortedcontainers 2.x internals (the major version is pinned).
    """
    keys = rows._list
    lists = keys._lists
    if not lists:
        rows[key] = row
        return
    pos = len(lists) - 1
    lists[pos].append(key)
    keys._maxes[pos] = key
    keys._len += 1
    keys._expand(pos)
    _dict_setitem(rows, key, row)


class TableVersions:
    """All committed versions of one table's rows (see module docstring)."""

    __slots__ = ("rows", "begins", "history", "max_begin", "reserved_key", "_top", "_feed")

    def __init__(self):
        self.rows: SortedDict = SortedDict()
        self.begins: dict = {}
        self.history: dict = {}
        self.max_begin = 0
        # Highest rowid handed to an uncommitted BEGIN CONCURRENT insert, so two
        # concurrent inserters never pick the same new rowid.
        self.reserved_key = 0
        self._top = None  # cached largest key of ``rows``; None = recompute
        self._feed = None  # a CDC table's pending rows (engine.cdc.feed), else None

    # -- reads ---------------------------------------------------------------

    def all_visible(self, ts: int) -> bool:
        """True when every latest version is visible at ``ts`` and nothing older is needed."""
        return not self.history and (not self.begins or self.max_begin <= ts)

    def get(self, key, ts: int):
        """The row version of ``key`` visible at snapshot ``ts``, or None. O(log n)."""
        row = self.rows.get(key)
        if row is not None:
            begin = self.begins.get(key)
            if begin is None or begin <= ts:
                return row
        old = self.history.get(key)
        if old:
            for begin, end, version in reversed(old):
                if begin <= ts < end:
                    return version
        return None

    def latest(self, key):
        """The latest committed version of ``key`` (what a writer validates against)."""
        return self.rows.get(key)

    def changed_after(self, key, ts: int) -> bool:
        """Did a commit after ``ts`` create, change or delete ``key``? (write-write check)"""
        begin = self.begins.get(key)
        if begin is not None and begin > ts:
            return True
        old = self.history.get(key)
        return bool(old) and old[-1][1] > ts

    def scan(self, ts: int, lo=None, hi=None, reverse: bool = False):
        """Yield ``(key, row)`` visible at ``ts`` with lo <= key <= hi, in key order.

        Reads in chunks that grow from 32 keys to 8,192, each chunk's keys and
        rows read by C loops (which no other Python thread interleaves) and then
        checked, so a reader that stops early (``ORDER BY rowid DESC LIMIT 20``)
        reads O(log n + k) and a full scan still runs in C. A commit installs a
        version's ``begins`` entry before the row itself, so a row newer than
        ``ts`` is always noticed: from that chunk on, the rest of the range is
        read merging the history (``_scan_merged``). O(log n + k) when every
        version is visible (the common case); otherwise O(log n + k + h log h).
        """
        rows = self.rows
        inclusive = (True, True)
        size = 32
        while True:
            keys = list(islice(rows.irange(lo, hi, inclusive, reverse), size))
            values = list(map(rows.get, keys))
            if self.history or self.max_begin > ts or None in values:
                yield from self._scan_merged(ts, lo, hi, inclusive, reverse)
                return
            yield from zip(keys, values)
            if len(keys) < size:
                return
            if reverse:  # the rest lies below the last key read
                hi, inclusive = keys[-1], (inclusive[0], False)
            else:
                lo, inclusive = keys[-1], (False, inclusive[1])
            size = min(size * 8, 8192)

    def _scan_merged(self, ts: int, lo, hi, inclusive, reverse: bool):
        """``scan``'s rows of the range when some version is not visible at ``ts``:
        the latest keys and the history's, merged, each read at ``ts``."""
        rows = self.rows
        merged = set(rows.irange(lo, hi, inclusive, reverse))
        for key in list(self.history):
            if (lo is None or key > lo or (inclusive[0] and key == lo)) and \
                    (hi is None or key < hi or (inclusive[1] and key == hi)):
                merged.add(key)
        get = self.get
        for key in sorted(merged, reverse=reverse):
            row = get(key, ts)
            if row is not None:
                yield key, row

    def visible_lists(self, ts: int, lo=None, hi=None, reverse: bool = False):
        """``(keys, rows)``: two parallel lists of the rows visible at ``ts`` with
        lo <= key <= hi in key order, when every latest version is visible and no
        history is kept (the common case); else None (use ``scan``). Read by C loops
        and checked afterwards, as ``scan`` does. O(log n + k), no per-row Python."""
        if self.history:
            return None
        rows = self.rows
        if lo is None and hi is None:
            keys = list(reversed(rows)) if reverse else list(rows)
        else:
            keys = list(rows.irange(lo, hi, reverse=reverse))
        values = list(map(rows.get, keys))
        if self.history or self.max_begin > ts or None in values:
            return None
        return keys, values

    def max_key(self):
        """The largest key among latest versions, or None. O(1) amortized (cached)."""
        top = self._top
        if top is None:
            rows = self.rows
            if not rows:
                return None
            top = self._top = rows.keys()[-1]
        return top

    def __len__(self) -> int:
        return len(self.rows)

    # -- writes (commit path, under the write lock) ---------------------------

    def install(self, key, row, ts: int, keep_history: bool):
        """Make ``row`` (None = delete) the latest version of ``key`` at commit ``ts``.

        Returns the replaced latest version (None if the key was absent).
        ``keep_history`` is True when some live snapshot is older than ``ts``:
        then the old version moves to ``history`` and the new one records its
        begin. O(log n).
        """
        rows = self.rows
        old = rows.get(key)
        if keep_history:
            if old is not None:
                begin = self.begins.pop(key, 0)
                self.history.setdefault(key, []).append((begin, ts, old))
            if row is not None:
                self.begins[key] = ts
                if ts > self.max_begin:
                    self.max_begin = ts
        else:
            if self.begins:
                self.begins.pop(key, None)
        if row is None:
            if old is not None:
                del rows[key]
                if key == self._top:
                    self._top = None
        else:
            top = self._top
            if top is not None and key > top:
                self._top = key
                _append_max(rows, key, row)
            else:
                rows[key] = row
        return old

    def install_latest(self, writes: dict, ts: int) -> list:
        """``install(key, row, ts, False)`` for every ``key: row`` of a write set
        (no live snapshot needs history); returns the ``(key, before, after)`` of
        each row that changed. One call per write set rather than three per row:
        a key above every key (a new rowid, the usual insert; a commit's CDC
        rows) is appended to the SortedDict in place (``_append_max``, inlined);
        more than 8 new rows whose keys ascend above every key are appended as
        one block (``_append_block``: its checks cost more than they save on a
        few rows). O(w log n) for w writes, O(w) when all are new top keys.
        """
        if self.begins:  # versions some snapshot still sees as new: the general path
            install = self.install
            out = []
            for key, row in writes.items():
                old = install(key, row, ts, False)
                if old is not None or row is not None:
                    out.append((key, old, row))
            return out
        rows = self.rows
        keys = rows._list
        if len(writes) > 8:  # many new rows above every key, ascending (bulk inserts)?
            new = list(writes)
            maxes = keys._maxes
            if (not maxes or new[0] > maxes[-1]) and None not in writes.values() \
                    and new == sorted(new):
                return self._append_block(writes, new)
        get = rows.get
        top = self._top
        out = []
        append = out.append
        for key, row in writes.items():
            if row is not None and top is not None and key > top:
                lists = keys._lists
                pos = len(lists) - 1
                last = lists[pos]
                last.append(key)
                keys._maxes[pos] = key
                keys._len += 1
                if keys._index or len(last) > keys._load << 1:
                    keys._expand(pos)  # split the sublist / update the positional index
                _dict_setitem(rows, key, row)
                top = key
                append((key, None, row))
                continue
            old = get(key)
            if row is None:
                if old is None:
                    continue
                del rows[key]
                if key == top:
                    top = None
            else:
                rows[key] = row
            append((key, old, row))
        self._top = top
        return out

    def _append_block(self, writes: dict, new: list) -> list:
        """``install_latest`` of new rows (``new``: their keys, ascending, above
        every key; ``install_latest`` checked, in C calls): the last sorted
        sublist topped up to the load, the rest cut into new sublists of the
        load (the sizes ``SortedList`` keeps: at most twice the load, at least
        half but for the last), one C-level dict update; the positional index
        is dropped, as a split drops it (rebuilt on demand). Relies on
        sortedcontainers 2.x internals, like ``_append_max``. O(w)."""
        rows = self.rows
        keys = rows._list
        out = list(zip(new, repeat(None), writes.values()))
        lists = keys._lists
        maxes = keys._maxes
        load = keys._load
        rest = new
        if lists:  # top the last sublist up to the load, then whole new sublists
            last = lists[-1]
            take = load - len(last)
            if take > 0:
                last.extend(new[:take])
                maxes[-1] = last[-1]
                rest = new[take:]
        for start in range(0, len(rest), load):
            chunk = rest[start:start + load]
            lists.append(chunk)
            maxes.append(chunk[-1])
        keys._len += len(new)
        if keys._index:
            del keys._index[:]
        dict.update(rows, writes)
        self._top = new[-1]
        return out

    def bulk_load(self, items) -> None:
        """Install many ``(key, row)`` pairs visible to every snapshot (recovery, bulk commit).

        Uses SortedDict.update, which re-sorts once instead of inserting one by one.
        """
        self.rows.update(items)
        self._top = None

    def collect(self, key, horizon: int) -> list:
        """Drop what no snapshot at or after ``horizon`` can see; return dropped rows."""
        dropped = []
        begin = self.begins.get(key)
        if begin is not None and begin <= horizon:
            del self.begins[key]
            if not self.begins:
                self.max_begin = 0
        old = self.history.get(key)
        if old:
            keep = [v for v in old if v[1] > horizon]
            dropped = [v[2] for v in old if v[1] <= horizon]
            if keep:
                self.history[key] = keep
            else:
                del self.history[key]
        return dropped

    def versions_of(self, key) -> list:
        """Every retained version's row of ``key`` (latest last)."""
        out = [v[2] for v in self.history.get(key, ())]
        row = self.rows.get(key)
        if row is not None:
            out.append(row)
        return out

    def _check(self) -> None:
        rows = self.rows
        rows._check()
        if self._top is not None:
            assert rows and self._top == rows.keys()[-1], "stale cached top key"
        for key, begin in self.begins.items():
            assert key in rows, f"begin recorded for absent key {key!r}"
            assert begin <= self.max_begin
        for key, old in self.history.items():
            assert old, f"empty history list for {key!r}"
            prev_end = None
            for begin, end, row in old:
                assert begin < end, (key, begin, end)
                assert row is not None
                if prev_end is not None:
                    assert begin >= prev_end, f"overlapping versions of {key!r}"
                prev_end = end
            if key in rows:
                assert self.begins.get(key, 0) >= prev_end, f"latest overlaps history of {key!r}"
