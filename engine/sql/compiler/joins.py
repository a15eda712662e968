"""Joins: the FROM pipeline with WHERE conjuncts pushed down to each step.

Per join step: a rowid or index lookup on the inner table per outer row, a hash
join on equi-join conjuncts, else a nested loop over the materialized inner
side; LEFT joins pad with NULLs, RIGHT and FULL joins remember matched rows.
"""

from __future__ import annotations

from operator import itemgetter

from sqlglot import exp

from engine.errors import OperationalError
from engine.sql import operators as ops
from engine.sql.compiler.access import _index_affinity_ok, _rowid_value, _probe_conv
from engine.sql.compiler.expr import Compiled, _collation, _hash_key_function
from engine.sql.compiler.predicates import (
    _conjuncts, _refs_any, _refs_within, _sargable, equi_sides)
from engine.sql.compiler.scope import ROWID_NAMES, Source
from engine.values import sort_key_function


class JoinPlanner:
    """Planner methods building the FROM pipeline and its join steps (a mixin of ``Planner``)."""

    def _join_plan(self, steps, scope, conjuncts, comp):
        """Build the row pipeline for the FROM clause with WHERE ``conjuncts`` pushed
        down (_join_pipeline). Constant conjuncts, and an inner join's constant ON
        terms (WHERE terms to SQLite; an outer join's are not, nor any once a RIGHT
        or FULL join pads the rows), are tested once before
        any source is read: a false one reads none, as SQLite codes them ahead of its
        loops (a derived table there is never computed)."""
        constant = [c for c in conjuncts if _is_constant_term(c)]
        kinds = [_join_kind(j) for _s, _r, j in steps]
        on_constant = [] if "RIGHT" in kinds or "FULL" in kinds else [
            c for _s, _r, j in steps[1:] if j is not None and j.args.get("on")
            and _join_kind(j) != "LEFT" for c in _conjuncts(j.args["on"])
            if _is_constant_term(c)]
        inner = self._join_pipeline(steps, scope, [c for c in conjuncts if c not in constant],
                                    comp)
        if not constant and not on_constant:
            return inner
        gate = [comp.predicate(c) for c in constant + on_constant]

        def gated():
            for test in gate:
                if not test(()):
                    return
            yield from inner()
        return gated

    def _join_pipeline(self, steps, scope, conjuncts, comp):
        """The FROM pipeline: each step's access path or join with the WHERE
        conjuncts it can test pushed down, the rest filtered at the end."""
        remaining = list(conjuncts)
        pipeline = None
        left_sources: list[Source] = []
        # A RIGHT/FULL join NULL-pads rows of every source before it, so a WHERE conjunct
        # may not filter any step up to the last such join: it stays a residual filter.
        last_padding = max((i for i, step in enumerate(steps)
                            if _join_kind(step[2]) in ("RIGHT", "FULL")), default=-1)
        for index, (source, rows_fn, join_node) in enumerate(steps):
            kind = _join_kind(join_node)
            on = []
            if join_node is not None:
                on = self._join_conditions(join_node, source, left_sources, scope,
                                           last_padding >= 0)
            # Conjuncts that mention only this source (and earlier ones / constants)
            keep_where = kind in ("LEFT", "FULL") or index <= last_padding
            usable = on + ([] if keep_where else
                           [c for c in remaining if _refs_within(c, scope, left_sources + [source])])
            if not keep_where:
                remaining = [c for c in remaining if c not in usable]
            local = [c for c in usable if _refs_within(c, scope, [source])]
            cross = [c for c in usable if c not in local]
            if kind in ("RIGHT", "FULL"):
                pipeline = self._outer_join(pipeline, source, rows_fn, usable, comp, scope, kind,
                                            left_sources)
            else:
                inner_rows = self._access(source, rows_fn, local, comp, scope)
                if pipeline is None:
                    pipeline = self._filtered(inner_rows, [c for c in usable if c not in local], comp)
                else:
                    pipeline = self._join_step(pipeline, source, rows_fn, inner_rows, local,
                                               cross, comp, scope, kind)
            left_sources.append(source)
        return self._filtered(pipeline, remaining, comp)

    def _join_conditions(self, join_node, source, left_sources, scope, padded=False):
        """ON conjuncts plus the equalities of USING/NATURAL; ``padded``: the FROM
        clause has a RIGHT or FULL join."""
        on = join_node.args.get("on")
        conds = _conjuncts(on) if on is not None else []
        using = join_node.args.get("using")
        names = []
        if using:
            names = [u.name for u in using]
        elif str(join_node.args.get("method") or "").upper() == "NATURAL":
            right = {c.name.lower() for c in source.columns}
            for s in left_sources:
                for c in s.columns:
                    if c.name.lower() in right and c.name not in names:
                        names.append(c.name)
        for n in names:
            # SQLite's sqlite3ProcessJoin: the leftmost source holding the column; when
            # the query has a RIGHT/FULL join that source may be NULL-padded, so the key
            # is coalesce() over every left source holding it, each later one of which
            # must itself have been joined USING that column.
            lefts = [s for s in left_sources if s.find(n) is not None]
            if not lefts or source.find(n) is None:
                raise OperationalError(
                    f"cannot join using column {n} - column not present in both tables")
            left_key = exp.column(n, table=lefts[0].name)
            if padded and len(lefts) > 1:
                if any(n.lower() not in s.using_hidden for s in lefts[1:]):
                    raise OperationalError(f"ambiguous reference to {n} in USING()")
                left_key = exp.Anonymous(this="coalesce", expressions=[
                    exp.column(n, table=s.name) for s in lefts])
            conds.append(exp.EQ(this=left_key, expression=exp.column(n, table=source.name)))
            # lookupName: unqualified n reads the right table after a RIGHT join, the
            # coalesce of both sides after a FULL join (set on the leftmost source)
            kind = _join_kind(join_node)
            if kind == "RIGHT":
                lefts[0].using_merged[n.lower()] = [source]
            elif kind == "FULL":
                lefts[0].using_merged[n.lower()] = (
                    lefts[0].using_merged.get(n.lower(), [lefts[0]]) + [source])
            source.using_hidden.add(n.lower())
        return conds

    def _filtered(self, rows_fn, conds, comp):
        if not conds:
            return rows_fn
        preds = [comp.predicate(c) for c in conds]

        def rows():
            for row in rows_fn():
                for p in preds:
                    if not p(row):
                        break
                else:
                    yield row
        return rows

    def _join_step(self, left_rows, source, rows_fn, inner_rows, local, cross, comp, scope, kind):
        """One join: index lookup, hash join, or nested loop, with LEFT padding."""
        width = source.width
        offset = source.offset
        null_pad = (None,) * width
        cross_preds = [comp.predicate(c) for c in cross]
        equi = self._equi_keys(cross, source, scope, comp)
        lookup = None
        if source.table is not None:
            lookup = self._lookup_join(source, cross, local, comp, scope)
        # The materialized inner side (hash table or row list), rebuilt per execution.
        state: dict = {}
        if hasattr(rows_fn, "rows_for"):
            # a table-valued function (table_functions): its rows depend on the left row
            matches = rows_fn.matcher(local, comp)
        elif lookup is not None:
            matches = lookup
        elif equi:
            left_key, right_key = _join_key(equi[0]), _join_key(equi[1])
            rt_inner = inner_rows

            def build():
                """``{key: [inner row slices]}``; NULL keys never match. O(inner rows)."""
                table = {}
                get = table.get
                for r in rt_inner():
                    k = right_key(r)
                    if k is None:
                        continue
                    bucket = get(k)
                    if bucket is None:
                        table[k] = [r[offset:]]
                    else:
                        bucket.append(r[offset:])
                return table

            def matches(left):
                table = state.get("t")
                if table is None:
                    table = state["t"] = build()
                k = left_key(left)
                if k is None:
                    return ()
                return table.get(k, ())
            self.explain.append(f"HASH JOIN {source.name}")
        else:
            def matches(left):
                rows = state.get("rows")
                if rows is None:
                    rows = state["rows"] = [r[offset:] for r in inner_rows()]
                return rows

        outer = kind == "LEFT"
        test = _all_true(cross_preds)

        def rows():
            state.clear()
            for left in left_rows():
                matched = False
                for r in matches(left):
                    row = left + r
                    if test is None or test(row):
                        matched = True
                        yield row
                if outer and not matched:
                    yield left + null_pad
        return rows

    def _lookup_join(self, source, cross, local, comp, scope):
        """Rowid or index lookup of the inner table per outer row, if a conjunct allows."""
        table = source.table
        schema = table.schema
        offset = source.offset
        rowid_cols = set()
        if source.rowid_slot is not None:
            rowid_cols = set(ROWID_NAMES)
            if schema.rowid_alias is not None:
                rowid_cols.add(schema.columns[schema.rowid_alias].name.lower())
        local_preds = [comp.predicate(c) for c in local]
        pre = (None,) * offset
        with_rowid = source.rowid_slot is not None
        name = table.name
        rt = self.rt
        for c in cross:
            for col, op, other in _sargable(c, source, scope):
                if op != "=":
                    continue
                oc = comp.compile(other)
                of = oc.fn
                if col.lower() in rowid_cols:
                    def fetch(left, of=of):
                        k = _rowid_value(of(left))
                        if k is None:
                            return ()
                        r = rt.txn.get(name, k)
                        if r is None:
                            return ()
                        out = r + (k,) if with_rowid else r
                        if local_preds:
                            full = pre + out
                            for p in local_preds:
                                if not p(full):
                                    return ()
                        return (out,)
                    self.explain.append(f"SEARCH {source.name} USING INTEGER PRIMARY KEY (rowid=?)")
                    return fetch
                pos = schema.column(col)
                if pos is None:
                    continue
                for ix in table.indexes:
                    first = ix.schema.columns[0]
                    if first.column != pos or ix.schema.where_sql:
                        continue
                    col_meta = schema.columns[pos]
                    if not _index_affinity_ok(
                            ops.comparison_affinity(col_meta.affinity, oc.affinity),
                            col_meta.affinity):
                        continue
                    # the comparison's collation as written: the left operand's wins
                    column_side = Compiled(None, col_meta.affinity, col_meta.collation or "BINARY")
                    coll = (_collation(column_side, oc) if _refs_within(c.this, scope, [source])
                            else _collation(oc, column_side))
                    if coll != first.collation:
                        continue
                    conv = _probe_conv(col_meta.affinity, oc.affinity)
                    skey = sort_key_function(first.collation)
                    iname = ix.schema.name

                    def fetch(left, of=of, conv=conv, skey=skey, iname=iname):
                        v = of(left)
                        if v is None:
                            return ()
                        out = []
                        for k, r in rt.txn.index_rows(table, ix, (skey(conv(v)),)):
                            o = r + (k,) if with_rowid else r
                            if local_preds:
                                full = pre + o
                                if not all(p(full) for p in local_preds):
                                    continue
                            out.append(o)
                        return out
                    self.explain.append(f"SEARCH {source.name} USING INDEX {iname} ({col}=?)")
                    return fetch
        return None

    def _equi_keys(self, cross, source, scope, comp):
        """Hash-join keys from ``a = b`` conjuncts with one side on ``source`` only:
        ``(left operand fns, inner operand fns)``, each ``row -> hashable value``."""
        left_fns, right_fns = [], []
        for c in cross:
            sides = equi_sides(c, scope, source)
            if sides is None:
                continue
            inner, outer = sides
            a = c.this
            ci, co = comp.compile(inner), comp.compile(outer)
            aff = ops.comparison_affinity(ci.affinity, co.affinity)
            # the comparison's collation as written: the left operand's wins
            coll = _collation(ci, co) if inner is a else _collation(co, ci)
            right_fns.append(_equi_operand(ci, aff, coll, source.table is not None))
            left_fns.append(_equi_operand(co, aff, coll, False))
        if not left_fns:
            return None
        return left_fns, right_fns

    def _outer_join(self, left_rows, source, rows_fn, conds, comp, scope, kind, left_sources):
        """RIGHT and FULL joins: nested loop remembering which right rows matched."""
        if left_rows is None:
            raise OperationalError("not supported by turso_stream: RIGHT JOIN as first source")
        inner_rows = self._access(source, rows_fn, [], comp, scope)
        preds = [comp.predicate(c) for c in conds]
        offset = source.offset
        width = source.width
        null_pad = (None,) * width

        def rows():
            right = [r[offset:] for r in inner_rows()]
            matched = [False] * len(right)
            left_width = offset
            for left in left_rows():
                hit = False
                for i, r in enumerate(right):
                    row = left + r
                    if all(p(row) for p in preds):
                        hit = matched[i] = True
                        yield row
                if kind == "FULL" and not hit:
                    yield left + null_pad
            pad = (None,) * left_width
            for i, r in enumerate(right):
                if not matched[i]:
                    yield pad + r
        return rows


_NUMERIC_AFFINITIES = (ops.INTEGER, ops.REAL, ops.NUMERIC)


def _equi_operand(compiled, affinity, collation, stored_column):
    """One operand of a hash-join equality as ``row -> hashable value``: converted by
    the comparison's ``affinity``, then made equal-iff-equal under ``collation``.
    Steps that cannot change the value are left out: a base table's own column
    (``stored_column``, read by ``operator.itemgetter``) already holds values of its
    affinity class, and NUMERIC conversion only touches text."""
    fn = compiled.fn
    hk = _hash_key_function(collation) if collation in ("NOCASE", "RTRIM") else None
    stored = stored_column and type(fn) is itemgetter
    if affinity is None or (stored and (
            (affinity == ops.TEXT and compiled.affinity == ops.TEXT)
            or (affinity != ops.TEXT and compiled.affinity in _NUMERIC_AFFINITIES))):
        return fn if hk is None else (lambda r: hk(fn(r)))
    conv = ops.apply_comparison_affinity
    if hk is None and affinity != ops.TEXT:
        def numeric(r):
            v = fn(r)
            return conv(v, affinity) if type(v) is str else v
        return numeric
    if hk is None:
        return lambda r: conv(fn(r), affinity)
    return lambda r: hk(conv(fn(r), affinity))


def _join_key(fns):
    """``row -> key | None`` over the equi-join operand ``fns``: the value itself for
    one operand, a tuple for several; None when any part is NULL (never equal)."""
    if len(fns) == 1:
        return fns[0]

    def key(row):
        k = tuple([f(row) for f in fns])
        return None if None in k else k
    return key


def _all_true(preds):
    """One test for a conjunction of predicates, or None when there are none."""
    if not preds:
        return None
    if len(preds) == 1:
        return preds[0]

    def test(row):
        for p in preds:
            if not p(row):
                return False
        return True
    return test


def _is_constant_term(node) -> bool:
    """A WHERE conjunct SQLite evaluates once before its loops: no column, subquery or
    function call (sqlite3ExprIsConstantNotJoin, kept to the plainly safe cases)."""
    return node.find(exp.Column, exp.Select, exp.Subquery, exp.Exists, exp.Anonymous,
                     exp.Star) is None


def _join_kind(join_node) -> str:
    if join_node is None:
        return "INNER"
    side = (join_node.args.get("side") or "").upper()
    if side in ("LEFT", "RIGHT", "FULL"):
        return side
    return "INNER"
