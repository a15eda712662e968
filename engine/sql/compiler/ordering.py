"""ORDER BY, DISTINCT and LIMIT/OFFSET stages, and index-ordered reads that
make a sort unnecessary."""

from __future__ import annotations

import heapq
from itertools import islice
from operator import itemgetter

from sqlglot import exp

from engine.errors import IntegrityError, OperationalError
from engine.sql.compiler.access import _checked_rows, _collation_ok, _probe_conv, _range_bounds
from engine.sql.compiler.expr import _hash_key_function
from engine.sql.compiler.predicates import _sargable
from engine.sql.compiler.scope import ROWID_NAMES
from engine.sql.dialect import Variable
from engine.values import INTEGER, apply_affinity, sort_key_function

# heapq's max-heap primitives (C), as heapq.nsmallest uses them; public from 3.14.
_heapify_max = getattr(heapq, "heapify_max", None) or heapq._heapify_max
_heapreplace_max = getattr(heapq, "heapreplace_max", None) or heapq._heapreplace_max


class OrderingPlanner:
    """Planner methods for ORDER BY, DISTINCT and LIMIT (a mixin of ``Planner``)."""

    def _index_ordered(self, node, scope, comp, select_items, columns, conjuncts=(),
                       explain_mark=None):
        """Rows of a one-table ``SELECT ... [WHERE ...] ORDER BY ...`` read in the order
        of an index, so no sort is needed and a LIMIT stops the walk early: O(log n + k)
        index entries for the k rows read (``index_rows`` reads lazily) instead of
        O(n log n). None when no index serves the order or another path should win.

        An index serves ``ORDER BY t1, ..., tm`` when its parts are ``e1..ep`` bound by
        ``col = value`` conjuncts (the equality prefix, probed), then the terms are a
        run of its parts starting at or before ``p`` (``WHERE a = ? ORDER BY b`` and
        ``ORDER BY a, b`` on (a, b)); each term is a plain column of the table (or an
        alias/ordinal of one) with the part's collation; the terms not bound by the
        prefix go one way (ASC: forward, DESC: backward; index parts are stored
        ascending) with NULLs where that walk puts them (first forward, last
        backward). A range on the part after the prefix bounds the walk; every
        conjunct is still tested on each row, in the walk's order.

        The rule against the WHERE's own access path (no statistics, so kept simple):
        a rowid ``=``/``IN`` probe always wins (a row or a few to sort); an index
        probe with more equality-bound parts wins unless the query has a LIMIT
        (then walking in order and stopping after k matches is the bet, as
        SQLite's planner makes without statistics); otherwise (ranges, full scans)
        the ordered walk wins. Ties come in index order (rowid ascending, descending
        when read backward), as SQLite's index walk gives them."""
        if node.args.get("joins") or len(scope.sources) != 1 or node.args.get("group"):
            return None
        source = scope.sources[0]
        table = source.table
        if table is None or source.rowid_slot is None:
            return None
        if any(c.find(exp.Select) is not None for c in conjuncts):
            return None  # its predicates would be planned (and explained) twice
        if explain_mark is not None and len(self.explain) != explain_mark + 1:
            return None  # the access path line to replace is not where expected
        rowid_eq, eq_terms, ranges, rowid_ranges = _sargable_terms(source, conjuncts, scope)
        if rowid_eq:
            return None
        terms = node.args["order"].expressions
        if len(terms) == 1:
            desc = self._orders_by_rowid(terms[0], scope, select_items, columns)
            if desc is not None:
                if _most_equalities(table, eq_terms, comp):
                    return None  # an index probe and a sort of what it finds
                return self._rowid_walk(source, desc, rowid_ranges, conjuncts, comp,
                                        explain_mark)
        order_cols = []
        for term in terms:
            col = self._order_column(term, scope, comp, select_items, columns)
            if col is None:
                return None
            order_cols.append(col)
        best = None
        for ix in table.indexes:
            walk = _ordered_walk(ix, order_cols, eq_terms, ranges, table, comp)
            if walk is not None and (best is None or walk[1] * 2 + walk[3]
                                     > best[1] * 2 + best[3]):
                best = walk
        if best is None:
            return None
        ix, n_eq, reverse, has_range = best
        if (node.args.get("limit") is None
                and _most_equalities(table, eq_terms, comp) > n_eq):
            return None
        rows = self._walk_rows(source, ix, n_eq, has_range, reverse, eq_terms, ranges,
                               conjuncts, comp)
        line = _walk_explain(source, ix, n_eq, has_range, ranges, table.schema)
        if explain_mark is None:
            self.explain.append(line)
        else:
            self.explain[explain_mark] = line
        return rows

    def _term_slot(self, term, scope, select_items, columns):
        """``(slot, column node)`` of the one table's column an ORDER BY term names
        (directly, by alias or by ordinal, under any COLLATE), else None."""
        expr = term.this
        inner = expr.this if isinstance(expr, exp.Collate) else expr
        idx = self._output_index(expr, columns, select_items)
        if idx is not None:
            if select_items is None:
                return None
            inner = select_items[idx]
            while isinstance(inner, (exp.Alias, exp.Paren)):
                inner = inner.this
        if not isinstance(inner, exp.Column) or isinstance(inner.this, exp.Star):
            return None
        try:
            found, slot, _meta = scope.resolve(inner.name, inner.table or None)
        except OperationalError:
            return None
        return (slot, inner) if found is scope else None

    def _order_column(self, term, scope, comp, select_items, columns):
        """``(slot, desc, nulls_first, collation)`` of an ORDER BY term that names a
        plain column of the one table (directly, by alias or by ordinal), else None."""
        hit = self._term_slot(term, scope, select_items, columns)
        if hit is None:
            return None
        slot, inner = hit
        schema = scope.sources[0].table.schema
        if slot >= len(schema.columns) or slot == schema.rowid_alias:
            return None
        expr = term.this
        coll = expr.expression.name.upper() if isinstance(expr, exp.Collate) else None
        if coll is None:
            coll = (comp.compile(inner).collation or "BINARY").upper()
        if coll not in _BUILTIN_COLLATIONS:
            return None  # index keys use the built-in collations only
        return slot, bool(term.args.get("desc")), term.args.get("nulls_first"), coll

    def _orders_by_rowid(self, term, scope, select_items, columns):
        """For an ORDER BY term naming the one table's rowid (``rowid``, ``oid``,
        ``_rowid_`` or the INTEGER PRIMARY KEY column; directly, by alias or by
        ordinal): whether it is DESC. Else None. Rowids are never NULL and always
        integers, so neither NULLS FIRST/LAST nor a collation changes the order."""
        hit = self._term_slot(term, scope, select_items, columns)
        source = scope.sources[0]
        if hit is None or hit[0] not in (source.rowid_slot, source.table.schema.rowid_alias):
            return None
        return bool(term.args.get("desc"))

    def _rowid_walk(self, source, desc, rowid_ranges, conjuncts, comp, explain_mark):
        """``rows()`` walking the table in rowid order (backward for DESC) between the
        WHERE's rowid bounds, each row tested by every conjunct as it comes: no sort,
        and a LIMIT stops the walk (``SELECT ... ORDER BY id DESC LIMIT 20``, keyset
        pagination with ``WHERE id < ?``). O(log n + rows walked)."""
        from engine.sql.compiler.access import rowid_bounds
        name = source.table.name
        bounds = rowid_bounds(rowid_ranges, comp)
        preds = [comp.predicate(c) for c in conjuncts]
        rt = self.rt

        def keys_and_rows():
            b = bounds()
            return iter(()) if b is None else rt.txn.scan(name, b[0], b[1], desc)
        rows = _checked_rows(keys_and_rows, True, (), preds)
        line = (f"SEARCH {source.name} USING INTEGER PRIMARY KEY "
                f"({' AND '.join(_rowid_range_text(rowid_ranges))})" if rowid_ranges
                else f"SCAN {source.name}")
        if explain_mark is None:
            self.explain.append(line)
        else:
            self.explain[explain_mark] = line
        return rows

    def _walk_rows(self, source, ix, n_eq, has_range, reverse, eq_terms, ranges,
                   conjuncts, comp):
        """``rows()`` walking ``ix`` under its equality prefix (and the range on the
        next part), each row tested by every conjunct as it comes."""
        table = source.table
        parts = ix.schema.columns
        columns = table.schema.columns
        eq_fns = []
        for p in parts[:n_eq]:
            other = next(o for op, o in eq_terms[p.column] if op == "=")
            c = comp.compile(other)
            eq_fns.append((c.fn, _probe_conv(columns[p.column].affinity, c.affinity),
                           sort_key_function(p.collation)))
        range_fns = []
        if has_range:
            p = parts[n_eq]
            skey = sort_key_function(p.collation)
            for op, other in ranges[p.column]:
                c = comp.compile(other)
                range_fns.append((op, c.fn, _probe_conv(columns[p.column].affinity,
                                                        c.affinity), skey))
        preds = [comp.predicate(c) for c in conjuncts]
        rt = self.rt

        def keys_and_rows():
            prefix = []
            for f, conv, skey in eq_fns:
                v = conv(f(()))
                if v is None:
                    return iter(())
                prefix.append(skey(v))
            lo = hi = None
            if range_fns:
                bounds = _range_bounds(range_fns)
                if bounds is None:
                    return iter(())
                lo, hi = bounds
            return rt.txn.index_rows(table, ix, tuple(prefix), lo, hi, reverse)
        return _checked_rows(keys_and_rows, True, (), preds)

    def _sorted_run(self, source_rows, project, terms, distinct, columns, scope,
                    top_count=None):
        """Rows projected (every row, as SQLite evaluates the select list before its
        sorter), de-duplicated if DISTINCT, then ordered. Each row's sort key is
        computed once; ``top_count() -> k | None``: when only the first k rows are
        needed (LIMIT + OFFSET) a bounded heap selects them as they stream by,
        O(n log k) time and O(k) memory instead of sorting all n. Equal keys keep
        scan order (heapq.nsmallest/nlargest equal a stable sort's first k)."""
        collations = self.session.collations if self.session else None
        composite = _composite_key(terms, collations)
        if composite is None:  # mixed ASC/DESC: one stable sort per term
            return self._multi_pass_sorted_run(source_rows, project, terms, distinct,
                                               columns, scope, top_count, collations)
        row_key, descending = composite
        rowkey = _row_key_function(columns)
        first = itemgetter(0)
        # keys read only the source row: a row that cannot enter the top k is never
        # projected, as SQLite's sorter with a LIMIT skips computing its result columns
        deferred = all(term[3][0] == "row" for term in terms)

        def keyed():
            cell = scope.cell
            seen = set() if distinct else None
            for row in source_rows():
                cell[0] = row
                out = project(row)
                if seen is not None:
                    k = rowkey(out)
                    if k in seen:
                        continue
                    seen.add(k)
                yield (row_key(row, out), out)

        def run():
            k = top_count() if top_count else None
            if k is None:
                items = list(keyed())
                items.sort(key=first, reverse=descending)
                for _key, out in items:
                    yield out
            elif distinct:
                pick = heapq.nlargest if descending else heapq.nsmallest
                for _key, out in pick(k, keyed(), key=first):
                    yield out
            else:
                yield from _top_rows(source_rows(), scope.cell, project, row_key, k,
                                     descending, deferred)
        return run

    def _multi_pass_sorted_run(self, source_rows, project, terms, distinct, columns, scope,
                               top_count, collations):
        """``_sorted_run`` for terms in both directions: the rows are collected, then
        sorted stably once per term (``_make_sorter``)."""
        key_fns = [t[0] for t in terms]
        sorter = _make_sorter([(lambda p, i=i: p[0][i], t[1], t[2]) for i, t in enumerate(terms)],
                              collations)
        rowkey = _row_key_function(columns)

        def run():
            cell = scope.cell
            pairs = []
            seen = set() if distinct else None
            for row in source_rows():
                cell[0] = row
                out = project(row)
                if seen is not None:
                    k = rowkey(out)
                    if k in seen:
                        continue
                    seen.add(k)
                pairs.append((tuple([f(row, out) for f in key_fns]), out))
            for _keys, out in sorter(pairs, top_count() if top_count else None):
                yield out
        return run

    def _order_terms(self, order, select_items, columns, comp, aggregate):
        """Each ORDER BY term as ``(key(row, out), collation, ordered_node, reads)``;
        ``reads`` is ``("out", getter)`` or ``("row", getter)``: the one-argument form
        of ``key`` on the output or the source row (one call less per row)."""
        terms = []
        for o in order.expressions:
            idx = self._output_index(o.this, columns, select_items)
            if idx is not None:
                coll = columns[idx].collation or "BINARY"
                if isinstance(o.this, exp.Collate):
                    coll = o.this.expression.name.upper()
                item = select_items[idx] if select_items is not None else None
                while isinstance(item, (exp.Alias, exp.Paren)):
                    item = item.this
                # a plain column reads the same value from the source row
                reads = (("row", comp.compile(item).fn) if isinstance(item, exp.Column)
                         else ("out", itemgetter(idx)))
                terms.append((lambda row, out, i=idx: out[i], coll, o, reads))
            else:
                c = comp.compile(o.this)
                f = c.fn
                terms.append((lambda row, out, f=f: f(row), c.collation or "BINARY", o,
                              ("row", f)))
        return terms

    def _output_index(self, term, columns, select_items, compound=False):
        """ORDER BY k / alias -> output column index, else None (an expression)."""
        inner = term.this if isinstance(term, exp.Collate) else term
        if isinstance(inner, exp.Literal) and not inner.is_string:
            try:
                k = int(inner.this)
            except ValueError:
                k = None
            if k is None or k < 1 or k > len(columns):
                raise OperationalError(
                    f"{_ordinal(k)} ORDER BY term out of range - should be between 1 and "
                    f"{len(columns)}")
            return k - 1
        if isinstance(inner, exp.Column) and not inner.table:
            name = inner.name.lower()
            if select_items is not None:
                for i, item in enumerate(select_items):
                    if isinstance(item, exp.Alias) and item.alias.lower() == name:
                        return i
            if compound:
                for i, c in enumerate(columns):
                    if c.name.lower() == name:
                        return i
        if compound:
            if select_items is None:
                for i, c in enumerate(columns):
                    if inner.sql().lower() == c.name.lower():
                        return i
            raise OperationalError("1st ORDER BY term does not match any column in the result set")
        return None

    def _limit(self, node, run, comp):
        limit = node.args.get("limit")
        offset = node.args.get("offset")
        if limit is None and offset is None:
            return run
        lim_fn = comp.fn(limit.expression) if limit is not None else None
        off_expr = offset.expression if offset is not None else (
            limit.args.get("offset") if limit is not None else None)
        off_fn = comp.fn(off_expr) if off_expr is not None else None
        base = run

        def limited():
            n = _int_arg(lim_fn(())) if lim_fn else -1
            k = _int_arg(off_fn(())) if off_fn else 0
            if k < 0:
                k = 0
            if n == 0:
                return  # LIMIT 0 runs nothing, as SQLite jumps past the loop
            it = base()
            if n < 0:
                yield from islice(it, k, None)
            else:
                yield from islice(it, k, k + n)
        return limited


_BUILTIN_COLLATIONS = ("BINARY", "NOCASE", "RTRIM")


def _sargable_terms(source, conjuncts, scope):
    """``(rowid_eq, eq_terms, ranges, rowid_ranges)`` of the WHERE on ``source``:
    whether a rowid ``=``/``IN`` term exists, per column position its ``(op, expr)``
    equality (``=``/``IN``) and range terms, and the rowid's range terms
    (``_sargable``, as ``AccessPlanner._choose_path``)."""
    schema = source.table.schema
    rowid_cols = set(ROWID_NAMES)
    if schema.rowid_alias is not None:
        rowid_cols.add(schema.columns[schema.rowid_alias].name.lower())
    rowid_eq = False
    eq_terms: dict[int, list] = {}
    ranges: dict[int, list] = {}
    rowid_ranges: list = []
    for c in conjuncts:
        for name, op, other in _sargable(c, source, scope):
            if name.lower() in rowid_cols:
                rowid_eq = rowid_eq or op in ("=", "IN")
                if op in ("<", "<=", ">", ">="):
                    rowid_ranges.append((op, other))
                continue
            pos = schema.column(name)
            if pos is None:
                continue
            if op in ("=", "IN"):
                eq_terms.setdefault(pos, []).append((op, other))
            else:
                ranges.setdefault(pos, []).append((op, other))
    return rowid_eq, eq_terms, ranges, rowid_ranges


def _equality_prefix(ix, eq_terms, table, comp, ops=("=",)) -> int:
    """How many leading parts of ``ix`` a WHERE equality (``ops``) binds with the
    part's collation."""
    n = 0
    for p in ix.schema.columns:
        terms = [t for t in eq_terms.get(p.column, ()) if t[0] in ops]
        if p.column is None or not terms or not _collation_ok(p, terms, table, comp):
            break
        n += 1
    return n


def _most_equalities(table, eq_terms, comp) -> int:
    """The equality-prefix length of the WHERE's best index probe (``=`` or ``IN``)."""
    return max((_equality_prefix(ix, eq_terms, table, comp, ("=", "IN"))
                for ix in table.indexes if not ix.schema.where_sql), default=0)


def _ordered_walk(ix, order_cols, eq_terms, ranges, table, comp):
    """``(ix, n_eq, reverse, has_range)`` when a walk of ``ix`` under its ``=``
    prefix gives rows in the order of ``order_cols`` (see ``_index_ordered``), else
    None."""
    if ix.schema.where_sql:
        return None
    parts = ix.schema.columns
    n_eq = _equality_prefix(ix, eq_terms, table, comp)
    m = len(order_cols)
    for start in range(n_eq + 1):
        if start + m > len(parts):
            return None
        if all(p.column == slot and p.collation.upper() == coll
               for p, (slot, _d, _n, coll) in zip(parts[start:start + m], order_cols)):
            break
    else:
        return None
    free = order_cols[n_eq - start:] if n_eq > start else order_cols
    directions = {desc for _s, desc, _n, _c in free}
    if len(directions) > 1:
        return None
    reverse = directions.pop() if directions else False
    # forward puts NULLs first (ASC's default), backward last (DESC's default)
    if any(nulls_first is not None and nulls_first == desc
           for _s, desc, nulls_first, _c in free):
        return None
    has_range = (n_eq < len(parts) and parts[n_eq].column is not None
                 and parts[n_eq].column in ranges)
    return ix, n_eq, reverse, has_range


def _rowid_range_text(rowid_ranges) -> list:
    """SQLite's EXPLAIN terms of rowid bounds: ``rowid>?`` and/or ``rowid<?``."""
    ops_seen = {op[0] for op, _o in rowid_ranges}
    return ["rowid" + op + "?" for op in (">", "<") if op in ops_seen]


def _walk_explain(source, ix, n_eq, has_range, ranges, schema) -> str:
    """SQLite's EXPLAIN QUERY PLAN line for an index walk: ``SCAN t USING INDEX i``
    or ``SEARCH t USING INDEX i (a=? AND b>? AND b<?)``."""
    parts = ix.schema.columns
    terms = [schema.columns[p.column].name + "=?" for p in parts[:n_eq]]
    if has_range:
        name = schema.columns[parts[n_eq].column].name
        ops_seen = {op[0] for op, _o in ranges[parts[n_eq].column]}
        terms += [name + op + "?" for op in (">", "<") if op in ops_seen]
    if not terms:
        return f"SCAN {source.name} USING INDEX {ix.schema.name}"
    return f"SEARCH {source.name} USING INDEX {ix.schema.name} ({' AND '.join(terms)})"


def _int_arg(v) -> int:
    """A LIMIT/OFFSET value as SQLite takes it (OP_MustBeInt): integers, and text or
    reals that convert to one exactly; anything else is SQLITE_MISMATCH, which the
    sqlite3 module raises as IntegrityError("datatype mismatch")."""
    if v is None:
        raise IntegrityError("datatype mismatch")
    if type(v) is int:
        return v
    conv = apply_affinity(v, INTEGER) if isinstance(v, (str, float)) else v
    if type(conv) is not int:
        raise IntegrityError("datatype mismatch")
    return conv


def _ordinal(k) -> str:
    if k is None:
        return "1st"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(k % 10 if k % 100 not in (11, 12, 13) else 0, "th")
    return f"{k}{suffix}"


def _row_key_function(columns):
    """A hashable identity for DISTINCT/UNION: SQLite equality under each column's collation."""
    keys = [_hash_key_function(c.collation or "BINARY") for c in columns]
    if all(c.collation in (None, "BINARY") for c in columns):
        return lambda r: r
    return lambda r: tuple(k(v) for k, v in zip(keys, r))


def _distinct_run(run, columns):
    key = _row_key_function(columns)

    def distinct():
        seen = set()
        for r in run():
            k = key(r)
            if k not in seen:
                seen.add(k)
                yield r
    return distinct


def _top_count(node, comp):
    """``() -> LIMIT + OFFSET`` of a SELECT whose LIMIT and OFFSET are literals or
    parameters (evaluating them twice is then harmless), None when there is no such
    bound; a bad value also gives None and the LIMIT stage reports the error."""
    limit = node.args.get("limit")
    if limit is None:
        return None
    offset = node.args.get("offset")
    off_expr = offset.expression if offset is not None else limit.args.get("offset")
    exprs = [e for e in (limit.expression, off_expr) if e is not None]
    if not all(isinstance(e, (exp.Literal, Variable)) for e in exprs):
        return None
    lim_fn = comp.fn(limit.expression)
    off_fn = comp.fn(off_expr) if off_expr is not None else None

    def count():
        try:
            n = _int_arg(lim_fn(()))
            k = _int_arg(off_fn(())) if off_fn is not None else 0
        except Exception:  # noqa: BLE001 - reported by the LIMIT stage itself
            return None
        return None if n < 0 else max(k, 0) + n
    return count


def _top_rows(rows, cell, project, row_key, k, descending, deferred=False):
    """The first ``k`` projected rows in sort order, as ``sorted(...)[:k]`` of a
    stable sort would give them (equal keys in arrival order): a bounded heap of
    ``(key, sequence, out)`` whose worst entry is compared with each new key, so a
    row that does not enter costs one comparison. O(n log k) time, O(k) memory;
    the loop of heapq.nsmallest/nlargest, inlined to save a generator per row.
    ``deferred``: the key reads only the row, so a row is projected only once it
    enters the heap."""
    if k <= 0:
        return []
    heap = []
    seq = 0
    it = iter(rows)
    sign = -1 if descending else 1
    for row in it:
        cell[0] = row
        out = project(row)
        heap.append((row_key(row, out), sign * seq, out))
        seq += 1
        if seq == k:
            break
    else:
        heap.sort(reverse=descending)
        return [entry[2] for entry in heap]
    if descending:  # a min-heap: heap[0] is the worst of the k largest
        heapq.heapify(heap)
        replace = heapq.heapreplace
        worst = heap[0][0]
        for row in it:
            cell[0] = row
            if deferred:
                key = row_key(row, None)
                if not key > worst:
                    seq += 1
                    continue
                out = project(row)
            else:
                out = project(row)
                key = row_key(row, out)
            if key > worst:  # equal keys: the earlier row stays (stable)
                replace(heap, (key, -seq, out))
                worst = heap[0][0]
            seq += 1
    else:  # a max-heap: heap[0] is the worst of the k smallest
        _heapify_max(heap)
        replace = _heapreplace_max
        worst = heap[0][0]
        for row in it:
            cell[0] = row
            if deferred:
                key = row_key(row, None)
                if not key < worst:
                    seq += 1
                    continue
                out = project(row)
            else:
                out = project(row)
                key = row_key(row, out)
            if key < worst:
                replace(heap, (key, seq, out))
                worst = heap[0][0]
            seq += 1
    heap.sort(reverse=descending)
    return [entry[2] for entry in heap]


def _term_key(term, collations):
    """One ORDER BY term's sort key ``(row, out) -> orderable`` and its direction.
    SQLite orders NULL first ascending (last descending); ``sort_key_function`` ranks
    NULL lowest already, so only a written NULLS FIRST/LAST against that needs the
    extra rank."""
    _key_fn, coll, ordered, (reads, get) = term
    desc = bool(ordered.args.get("desc"))
    nulls_first = ordered.args.get("nulls_first")
    skey = sort_key_function(coll, collations)
    if nulls_first is None or nulls_first != desc:
        if reads == "row":
            return (lambda row, out: skey(get(row))), desc
        return (lambda row, out: skey(get(out))), desc

    on_row = reads == "row"

    def key(row, out):  # NULL above every value: last ascending, first descending
        v = get(row) if on_row else get(out)
        return (1, 0) if v is None else (0, skey(v))
    return key, desc


def _composite_key(terms, collations=None):
    """``(key(row, out), descending)`` ordering rows by all ORDER BY ``terms``
    (see ``_order_terms``) with one sort, or None when the terms go in both
    directions (a tuple key cannot mix them)."""
    keys = [_term_key(term, collations) for term in terms]
    directions = {desc for _k, desc in keys}
    if len(directions) != 1:
        return None
    fns = [k for k, _desc in keys]
    if len(fns) == 1:
        return fns[0], keys[0][1]
    if len(fns) == 2:
        f, g = fns
        return (lambda row, out: (f(row, out), g(row, out))), keys[0][1]
    return (lambda row, out: tuple([f(row, out) for f in fns])), keys[0][1]


def _make_sorter(terms, collations=None):
    """Sort by several terms ``(key_fn(item), collation, ordered_node)``: one stable
    sort per term, last term first. NULLS FIRST/LAST as written or SQLite's default."""
    plans = []
    for key_fn, coll, ordered in terms:
        desc = bool(ordered.args.get("desc"))
        nulls_first = ordered.args.get("nulls_first")
        if nulls_first is None:
            nulls_first = not desc
        skey = sort_key_function(coll, collations)
        null_rank = (0 if nulls_first else 1) if not desc else (1 if nulls_first else 0)
        plans.append((key_fn, skey, desc, null_rank))

    def sorter(items, limit=None):
        if limit is not None and len(plans) == 1 and limit < len(items) // 2:
            # heapq.nsmallest/nlargest equal sorted(...)[:limit] (stable, documented).
            key_fn, skey, desc, null_rank = plans[0]
            other = 1 - null_rank
            pick = heapq.nlargest if desc else heapq.nsmallest
            return pick(limit, items, key=lambda it: (null_rank, 0) if key_fn(it) is None
                        else (other, skey(key_fn(it))))
        for key_fn, skey, desc, null_rank in reversed(plans):
            other = 1 - null_rank
            items.sort(key=lambda it: (null_rank, 0) if key_fn(it) is None
                       else (other, skey(key_fn(it))), reverse=desc)
        return items
    return sorter
