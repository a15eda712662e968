"""Access paths: how one table's rows are read.

A table source is read by a rowid point/IN lookup, a rowid range, an index
probe (the longest equality prefix plus a range on the next column), or a full
scan. Every WHERE conjunct on the table still runs as a residual filter, so a
path only needs to return a superset of the matching rows (but a rowid range whose
bounds are exact numbers: its own conjuncts are then implied, ``rowid_bounds``).
"""

from __future__ import annotations

import math
from itertools import repeat

from sqlglot import exp

from engine.sql import operators as ops
from engine.sql.compiler.predicates import _sargable
from engine.sql.compiler.scope import ROWID_NAMES
from engine.values import INTEGER, NUMERIC, apply_affinity, sort_key_function


_EMPTY = object()


class AccessPlanner:
    """Planner methods choosing and running a table's access path (a mixin of ``Planner``)."""

    def _access(self, source, rows_fn, local, comp, scope):
        """Rows of one source (as a slice of the flat row: padded to its offset later)."""
        if rows_fn is not None:
            preds = [comp.predicate(c) for c in local]
            pad_before = source.offset
            return self._padded(rows_fn, pad_before, preds)
        return self._table_access(source, local, comp, scope)

    def _padded(self, rows_fn, offset, preds):
        """Rows of a non-table source placed at ``offset`` of a flat row (for filters)."""
        pre = (None,) * offset

        def rows():
            for r in rows_fn()():
                row = pre + r
                ok = True
                for p in preds:
                    if not p(row):
                        ok = False
                        break
                if ok:
                    yield row
        return rows

    def _table_access(self, source, local, comp, scope):
        table = source.table
        name = table.name
        path, probe = self._choose_path(source, local, comp, scope)
        preds = [comp.predicate(c) for c in local]
        pre = (None,) * source.offset
        with_rowid = source.rowid_slot is not None
        rt = self.rt
        self.explain.append(path)

        def keys_and_rows():
            txn = rt.txn
            if probe is None:
                return txn.scan(name)
            return probe(txn)

        bounds = getattr(probe, "rowid_bounds", None)
        if (probe is None or bounds is not None) and (with_rowid or not pre):
            rest = None  # the conjuncts exact rowid bounds leave to test
            if bounds is not None:
                rest = [comp.predicate(c) for c in local
                        if not rowid_range_only(c, source, scope)]
            return self._full_scan(name, with_rowid, pre, preds, keys_and_rows, bounds, rest)
        if not preds and not pre:
            if with_rowid:
                def rows():
                    for key, r in keys_and_rows():
                        yield r + (key,)
            else:
                def rows():
                    for _key, r in keys_and_rows():
                        yield r
            return rows

        if not pre and with_rowid and len(preds) == 1:
            # The commonest filtered scan: one table, one residual test, one tuple per row.
            (test,) = preds

            def rows():
                for key, r in keys_and_rows():
                    row = r + (key,)
                    if test(row):
                        yield row
            return rows

        return _checked_rows(keys_and_rows, with_rowid, pre, preds)

    def _full_scan(self, name, with_rowid, pre, preds, keys_and_rows, bounds=None,
                   rest=None):
        """Rows of a full table scan, or of a rowid range (``bounds``: see
        ``rowid_bounds``; ``rest``: the conjuncts to test when they are exact): when
        the transaction sees plain latest versions
        (``Transaction.scan_lists``) the rows are built and filtered by C loops
        (``map(add, rows, zip(keys))`` appends each rowid, one ``filter`` per residual
        conjunct, in order, so a row stops at its first false conjunct); otherwise
        the checked generator. O(n) with one Python call per row and conjunct only."""
        rt = self.rt
        add = tuple.__add__

        slow_rows = _checked_rows(keys_and_rows, with_rowid, pre, preds)

        def rows():
            tests = preds
            if bounds is None:
                lists = rt.txn.scan_lists(name)
            else:
                b = bounds()
                if b is None:
                    return iter(())
                lists = rt.txn.scan_lists(name, b[0], b[1])
                if b[2]:
                    tests = rest
            if lists is None:
                return slow_rows()
            keys, values = lists
            it = map(add, values, zip(keys)) if with_rowid else iter(values)
            if pre:
                it = map(add, repeat(pre), it)
            for p in tests:
                it = filter(p, it)
            return it
        return rows

    def _choose_path(self, source, local, comp, scope):
        """Pick the access path for a table from its local conjuncts.

        Returns ``(description, probe(txn) -> iterator of (key, row) | None)``.
        """
        table = source.table
        schema = table.schema
        rowid_cols = set()
        if source.rowid_slot is not None:
            rowid_cols = set(ROWID_NAMES)
            if schema.rowid_alias is not None:
                rowid_cols.add(schema.columns[schema.rowid_alias].name.lower())
        eq_terms: dict[int, list] = {}
        ranges: dict[int, list] = {}
        rowid_eq = None
        rowid_range = []
        for c in local:
            for col, op, other in _sargable(c, source, scope):
                col_name = col.lower()
                if col_name in rowid_cols:
                    if op == "=" and rowid_eq is None:
                        rowid_eq = ("=", other)
                    elif op == "IN" and rowid_eq is None:
                        rowid_eq = ("IN", other)
                    elif op in ("<", "<=", ">", ">="):
                        rowid_range.append((op, other))
                    continue
                pos = schema.column(col)
                if pos is None:
                    continue
                if op in ("=", "IN"):
                    eq_terms.setdefault(pos, []).append((op, other))
                elif op in ("<", "<=", ">", ">="):
                    ranges.setdefault(pos, []).append((op, other))
        if rowid_eq is not None:
            return self._rowid_probe(source, rowid_eq, comp)
        best = self._index_probe(source, eq_terms, ranges, comp)
        if best is not None:
            return best
        if rowid_range:
            return self._rowid_range(source, rowid_range, comp)
        return f"SCAN {source.name or table.name}", None

    def _rowid_probe(self, source, term, comp):
        op, other = term
        name = source.table.name
        if op == "=":
            f = comp.fn(other)

            def probe(txn):
                k = _rowid_value(f(()))
                if k is None:
                    return iter(())
                row = txn.get(name, k)
                return iter(((k, row),)) if row is not None else iter(())
            return f"SEARCH {source.name} USING INTEGER PRIMARY KEY (rowid=?)", probe
        fns = [comp.fn(e) for e in other]

        def probe_in(txn):
            keys = sorted({k for k in (_rowid_value(f(())) for f in fns) if k is not None})
            out = []
            for k in keys:
                row = txn.get(name, k)
                if row is not None:
                    out.append((k, row))
            return iter(out)
        return f"SEARCH {source.name} USING INTEGER PRIMARY KEY (rowid=?)", probe_in

    def _rowid_range(self, source, terms, comp):
        name = source.table.name
        bounds = rowid_bounds(terms, comp)

        def probe(txn):
            b = bounds()
            return iter(()) if b is None else txn.scan(name, b[0], b[1])
        probe.rowid_bounds = bounds  # (_table_access reads the range in C loops)
        return f"SEARCH {source.name} USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)", probe

    def _index_probe(self, source, eq_terms, ranges, comp):
        """Best index: the longest equality prefix, plus a range on the next column."""
        table = source.table
        best = None
        for ix in table.indexes:
            parts = ix.schema.columns
            if ix.schema.where_sql:
                continue
            n_eq = 0
            for p in parts:
                if p.column is None or p.column not in eq_terms:
                    break
                if not _collation_ok(p, eq_terms[p.column], table, comp):
                    break
                n_eq += 1
            has_range = (n_eq < len(parts) and parts[n_eq].column is not None
                         and parts[n_eq].column in ranges)
            score = n_eq * 2 + (1 if has_range else 0)
            if score and (best is None or score > best[0]):
                best = (score, ix, n_eq, has_range)
        if best is None:
            return None
        _score, ix, n_eq, has_range = best
        parts = ix.schema.columns
        eq_fns = []
        for p in parts[:n_eq]:
            op, other = eq_terms[p.column][0]
            aff = table.schema.columns[p.column].affinity
            skey = sort_key_function(p.collation)
            if op == "=":
                c = comp.compile(other)
                eq_fns.append(("=", [c.fn], _probe_conv(aff, c.affinity), skey))
            else:
                # IN-list values carry no affinity (datatype3 4.2): the column's applies
                cs = [comp.compile(o) for o in other]
                eq_fns.append(("IN", [c.fn for c in cs], _probe_conv(aff, None), skey))
        range_fns = []
        if has_range:
            p = parts[n_eq]
            aff = table.schema.columns[p.column].affinity
            skey = sort_key_function(p.collation)
            for op, other in ranges[p.column]:
                c = comp.compile(other)
                range_fns.append((op, c.fn, _probe_conv(aff, c.affinity), skey))
        iname = ix.schema.name
        cols = ", ".join(table.schema.columns[p.column].name + "=?" for p in parts[:n_eq])
        desc = f"SEARCH {source.name} USING INDEX {iname} ({cols}{' AND range' if has_range else ''})"

        if len(eq_fns) == 1 and eq_fns[0][0] == "=" and not range_fns:
            # The common point lookup: one equality, no sets, no merging.
            (_op, (f,), conv, skey), = eq_fns

            def point_probe(txn):
                v = conv(f(()))
                if v is None:
                    return iter(())
                return txn.index_rows(table, ix, (skey(v),))
            return desc, point_probe

        def probe(txn):
            prefixes = [()]
            for op, fns, conv, skey in eq_fns:
                values = [conv(f(())) for f in fns]
                keys = []
                seen = set()
                for v in values:
                    if v is None:
                        continue
                    k = skey(v)
                    if k not in seen:
                        seen.add(k)
                        keys.append(k)
                keys.sort()
                prefixes = [pre + (k,) for pre in prefixes for k in keys]
                if not prefixes:
                    return iter(())
            bounds = _range_bounds(range_fns) if has_range else (None, None)
            if bounds is None:
                return iter(())
            lo, hi = bounds
            out = []
            seen = set()
            for pre in prefixes:
                for key, row in txn.index_rows(table, ix, pre, lo, hi):
                    if key not in seen:
                        seen.add(key)
                        out.append((key, row))
            return iter(out)
        return desc, probe



def _checked_rows(keys_and_rows, with_rowid, pre, preds):
    """``rows()``: each ``(key, row)`` of ``keys_and_rows()`` as a flat row (``pre`` +
    row [+ rowid]) that passes every conjunct of ``preds``, in order. O(n)."""
    def rows():
        for key, r in keys_and_rows():
            row = pre + r + (key,) if with_rowid else pre + r
            for p in preds:
                if not p(row):
                    break
            else:
                yield row
    return rows

def _range_bounds(range_fns):
    """``(lo, hi)`` sort keys bounding an index part from its range terms
    ``(op, fn, conv, skey)`` (closed: a strict bound's equal entries are dropped by
    the residual filter), or None when a bound is NULL (the range matches nothing).
    Without a lower bound NULLs are skipped: a range comparison is never true for NULL."""
    lo = hi = None
    for op, f, conv, skey in range_fns:
        v = f(())
        if v is None:
            return None
        k = skey(conv(v))
        if op in (">", ">="):
            lo = k if lo is None or k > lo else lo
        else:
            hi = k if hi is None or k < hi else hi
    if lo is None:
        lo = (0, 1)  # just above NULL's sort key (0, 0)
    return lo, hi


def _index_affinity_ok(comparison_affinity, column_affinity) -> bool:
    """SQLite's indexAffinityOk: an index on a column answers an equality only when
    the comparison converts values the way the column stored them."""
    if comparison_affinity is None:
        return True
    if comparison_affinity == ops.TEXT:
        return column_affinity == ops.TEXT
    return column_affinity in (ops.NUMERIC, ops.INTEGER, ops.REAL)


def rowid_bounds(terms, comp):
    """``bounds() -> (lo, hi, exact) | None``: the inclusive rowid bounds the range
    terms ``[(op, expr)]`` (``<``, ``<=``, ``>``, ``>=`` on the rowid) allow, None
    when they admit no row (a NULL bound). ``exact``: every operand was a finite
    number, so the bounds say exactly what the terms do (a rowid is an integer:
    ``rowid > 10.5`` is ``rowid >= 11``) and a scan between them need not test
    them again; else the bounds are loose (a text operand that is no number
    bounds nothing) and the terms are tested on each row. O(terms) per call."""
    fns = [(op, comp.fn(o)) for op, o in terms]

    def bounds():
        lo = hi = None
        exact = True
        for op, f in fns:
            v = _numeric_bound(f(()))
            if v is _EMPTY:
                return None
            if v is None or (type(v) is float and not math.isfinite(v)):
                exact = False  # (a text bound, or +-inf: left to the per-row test)
                continue
            if op == ">":
                b = math.floor(v) + 1 if type(v) is float else v + 1
            elif op == ">=":
                b = math.ceil(v) if type(v) is float else v
            elif op == "<":
                b = math.ceil(v) - 1 if type(v) is float else v - 1
            else:
                b = math.floor(v) if type(v) is float else v
            if op[0] == ">":
                lo = b if lo is None else max(lo, b)
            else:
                hi = b if hi is None else min(hi, b)
        return lo, hi, exact
    return bounds


def rowid_range_only(cond, source, scope) -> bool:
    """Is ``cond`` nothing but rowid range terms (``rowid > 5``, ``id BETWEEN ? AND
    ?`` on the INTEGER PRIMARY KEY), which exact ``rowid_bounds`` imply?"""
    if not isinstance(cond, (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between)):
        return False
    terms = _sargable(cond, source, scope)
    names = _rowid_names(source)
    return bool(terms) and len(terms) == (2 if isinstance(cond, exp.Between) else 1) and \
        all(name.lower() in names and op in ("<", "<=", ">", ">=") for name, op, _o in terms)


def _rowid_names(source) -> set:
    """The names that read ``source``'s rowid (lowercase): rowid, oid, _rowid_ and the
    INTEGER PRIMARY KEY column; none for a table without rowid."""
    if source.rowid_slot is None:
        return set()
    schema = source.table.schema
    names = set(ROWID_NAMES)
    if schema.rowid_alias is not None:
        names.add(schema.columns[schema.rowid_alias].name.lower())
    return names


def _rowid_value(v):
    """A probe value for a rowid lookup, or None when it can match no rowid."""
    if v is None:
        return None
    if type(v) is int:
        return v
    if type(v) is float:
        return int(v) if v.is_integer() and abs(v) < 2 ** 63 else None
    if type(v) is str:
        c = apply_affinity(v, INTEGER)
        if type(c) is int:
            return c
        if type(c) is float and c.is_integer():
            return int(c)
    return None


def _numeric_bound(v):
    if v is None:
        return _EMPTY
    if isinstance(v, str):
        v = apply_affinity(v, NUMERIC)
    if type(v) in (int, float):
        return v
    return None  # text/blob bound: compares greater than every number; leave to the filter


def _probe_conv(column_affinity, expr_affinity):
    """Convert a probe value as the comparison ``column = value`` would."""
    aff = ops.comparison_affinity(column_affinity, expr_affinity)
    conv = ops.apply_comparison_affinity
    if aff is None:
        return lambda v: v
    return lambda v: conv(v, aff)


def _collation_ok(part, terms, table, comp) -> bool:
    op, other = terms[0]
    if op != "=":
        return part.collation == table.schema.columns[part.column].collation
    c = comp.compile(other)
    coll = c.collation if c.explicit_collation else table.schema.columns[part.column].collation
    return coll == part.collation
