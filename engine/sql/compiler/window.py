"""Window functions: the Window operator over the materialized rows of one query level.

SQLite computes window functions after FROM/WHERE/GROUP BY/HAVING and before
DISTINCT/ORDER BY/LIMIT (lang_windowfunc.html). Here the rows of that stage are
materialized once; every window call's arguments, PARTITION BY and ORDER BY
values are evaluated once per row; each distinct window sorts the row indices
once (partition terms, then order terms, stable), starting from the order the
window after it left them in, as SQLite nests its windows (``_stages``); each
function is then evaluated per partition over its frame. The stage yields every
input row, in the first window's order, extended by one slot per window call, and expressions read those slots (the
``aggregates=`` slot technique of ``ExprCompiler``).

Frames follow window.c: ROWS counts rows, GROUPS counts peer groups, RANGE
compares the single ORDER BY value with ``value -/+ offset`` (text and blobs are
their own bound, NULL rows frame their NULL peers). Aggregates slide with
``inverse()`` when the frame has no EXCLUDE clause (O(1) amortised per row for
count/sum/avg, O(log n) for min/max); with an EXCLUDE clause (even EXCLUDE NO
OTHERS) the frame is recomputed per row (O(frame)), as SQLite does.
"""

from __future__ import annotations

import weakref

from sqlglot import exp

from engine.errors import OperationalError
from engine.sql import operators as ops
from engine.sql.dialect import TursoSQLite, Variable
from engine.sql.functions import SqlFunctionError, lookup_aggregate, lookup_scalar
from engine.values import numeric_value, sort_key_function

# Built-in window-only functions and their allowed argument counts.
WINDOW_ONLY = {
    "row_number": (0,), "rank": (0,), "dense_rank": (0,), "percent_rank": (0,),
    "cume_dist": (0,), "ntile": (1,), "lag": (1, 2, 3), "lead": (1, 2, 3),
    "first_value": (1,), "last_value": (1,), "nth_value": (2,),
}

_UNBOUNDED_PRECEDING, _PRECEDING, _CURRENT, _FOLLOWING, _UNBOUNDED_FOLLOWING = range(5)


# -- user-defined window functions -----------------------------------------------------------

_USER_WINDOWS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class UserWindowAggregate:
    """An instance of a user's window aggregate class (step/inverse/value/finalize),
    with its exceptions turned into sqlite3's error messages."""

    __slots__ = ("inst",)

    def __init__(self, aggregate_class):
        try:
            self.inst = aggregate_class()
        except Exception:  # noqa: BLE001 - user code errors become SQL errors
            raise OperationalError(
                "user-defined aggregate's '__init__' method raised error") from None

    def _call(self, method, args=()):
        try:
            return getattr(self.inst, method)(*args)
        except Exception:  # noqa: BLE001
            raise OperationalError(
                f"user-defined aggregate's '{method}' method raised error") from None

    def step(self, *args):
        self._call("step", args)

    def inverse(self, *args):
        self._call("inverse", args)

    def value(self):
        return _user_result(self._call("value"))

    def finalize(self):
        return _user_result(self._call("finalize"))


def _user_result(v):
    if v is None or type(v) in (int, float, str, bytes):
        return v
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, (int, float, str)):
        return v
    raise OperationalError("user-defined function raised exception")


def register_user_window_function(session, name: str, nargs: int, aggregate_class) -> None:
    """Register ``aggregate_class`` as aggregate and window function ``name`` on
    ``session`` (``None`` removes it), as sqlite3's ``create_window_function``."""
    key = (name.lower(), nargs)
    table = _USER_WINDOWS.setdefault(session, {})
    if aggregate_class is None:
        session.create_aggregate(name, nargs, None)
        table.pop(key, None)
        return
    session.create_aggregate(name, nargs, aggregate_class)
    table[key] = (session.user_aggregate(name.lower(), nargs), aggregate_class)


def _user_window_class(session, name: str, nargs: int):
    """The window aggregate class registered for ``name``/``nargs``, if it is still
    the session's aggregate of that name (create_aggregate may have replaced it)."""
    if session is None:
        return None
    table = _USER_WINDOWS.get(session)
    if not table:
        return None
    for key in ((name, nargs), (name, -1)):
        entry = table.get(key)
        if entry is not None and session.user_aggregate(name, nargs) is entry[0]:
            return entry[1]
    return None


# -- finding window calls --------------------------------------------------------------------

def window_operands(node: exp.Window) -> list:
    """The expressions under a window call evaluated per input row: the function's
    arguments, its FILTER condition, PARTITION BY and ORDER BY terms."""
    out = []
    call = node.this
    if isinstance(call, exp.Filter):
        out.append(call.expression)
        call = call.this
    if isinstance(call, exp.Anonymous):
        out.extend(call.expressions)
    out.extend(node.args.get("partition_by") or [])
    if node.args.get("order") is not None:
        out.append(node.args["order"])
    return out


def collect_windows(select: exp.Select, items) -> list:
    """Window calls in the select list and ORDER BY (not in subqueries, not nested
    inside another window call: those are misuse, reported when compiled)."""
    found = []
    roots = list(items)
    if select.args.get("order") is not None:
        roots.append(select.args["order"])

    def visit(node):
        if isinstance(node, (exp.Subquery, exp.Select, exp.Exists)):
            return
        if isinstance(node, exp.Window):
            found.append(node)
            return
        for child in node.iter_expressions():
            visit(child)

    for r in roots:
        visit(r)
    return found


# -- window definitions ----------------------------------------------------------------------

class _Definition:
    """A resolved window: PARTITION BY terms, ORDER BY (Ordered nodes), frame."""

    __slots__ = ("partition", "order", "spec")

    def __init__(self, partition, order, spec):
        self.partition = list(partition or [])
        self.order = list(order or [])
        self.spec = spec


def _resolve(node, named: dict) -> _Definition:
    order = node.args.get("order")
    order = list(order.expressions) if order is not None else []
    spec = node.args.get("spec")
    partition = node.args.get("partition_by") or []
    base_name = node.args.get("alias")
    if base_name is None:
        return _Definition(partition, order, spec)
    name = base_name.name
    base = named.get(name.lower())
    if base is None:
        raise OperationalError(f"no such window: {name}")
    # sqlite3WindowChain: a chained window may add only what its base lacks, and
    # may not chain onto a base with an explicit frame at all
    if partition:
        raise OperationalError(f"cannot override PARTITION clause of window: {name}")
    if order and base.order:
        raise OperationalError(f"cannot override ORDER BY clause of window: {name}")
    if base.spec is not None and base_name.meta.get("chained"):
        raise OperationalError(f"cannot override frame specification of window: {name}")
    return _Definition(base.partition, order or base.order,
                       spec if spec is not None else base.spec)


def named_windows(select: exp.Select) -> dict:
    """The WINDOW clause as ``name -> _Definition`` (later definitions may build on
    earlier ones; a repeated name keeps its last definition, as SQLite does)."""
    named: dict = {}
    for w in select.args.get("windows") or []:
        named[w.this.name.lower()] = _resolve(w, named)
    return named


def _bound(value, side):
    if isinstance(value, str):
        word = value.upper()
        if word == "CURRENT ROW":
            return _CURRENT, None
        if word == "UNBOUNDED":
            return (_UNBOUNDED_PRECEDING if (side or "").lower() == "preceding"
                    else _UNBOUNDED_FOLLOWING), None
    kind = _PRECEDING if (side or "").lower() == "preceding" else _FOLLOWING
    return kind, value


def _offset_text(value):
    """A frame offset, PARTITION BY or ORDER BY expression as comparable text (None
    when there is none); a bound parameter is told apart by its number, as
    sqlite3ExprCompare does."""
    if value is None:
        return None
    if not isinstance(value, exp.Expression):
        return str(value)
    numbers = tuple(v.args.get("number") for v in value.find_all(Variable))
    return value.sql(dialect=TursoSQLite), numbers


# sqlite3WindowUpdate: the frame SQLite gives these built-ins whatever the OVER clause
# says (kind, start, end, start offset); it decides which windows are the same one.
_BUILTIN_FRAMES = {
    "row_number": ("rows", _UNBOUNDED_PRECEDING, _CURRENT, None),
    "dense_rank": ("range", _UNBOUNDED_PRECEDING, _CURRENT, None),
    "rank": ("range", _UNBOUNDED_PRECEDING, _CURRENT, None),
    "percent_rank": ("groups", _CURRENT, _UNBOUNDED_FOLLOWING, None),
    "cume_dist": ("groups", _FOLLOWING, _UNBOUNDED_FOLLOWING, "1"),
    "ntile": ("rows", _CURRENT, _UNBOUNDED_FOLLOWING, None),
    "lead": ("rows", _UNBOUNDED_PRECEDING, _UNBOUNDED_FOLLOWING, None),
    "lag": ("rows", _UNBOUNDED_PRECEDING, _CURRENT, None),
}


def _window_identity(call) -> tuple:
    """Which window ``call`` is evaluated in, as SQLite tells windows apart
    (sqlite3WindowCompare after sqlite3WindowUpdate): PARTITION BY and ORDER BY
    terms plus the frame, with the built-ins' frames replaced by their fixed ones;
    FILTER is not compared."""
    fixed = _BUILTIN_FRAMES.get(call.name)
    frame = call.frame.signature if fixed is None else fixed[:3] + (fixed[3], None, None)
    return call.def_key, frame


def _exclusion(excl):
    """The frame's EXCLUDE clause as ``None`` (no clause) or its words. An explicit
    ``EXCLUDE NO OTHERS`` is kept: it excludes nothing, but window.c's
    ``eExclude`` is then TK_NO (non-zero), so SQLite recomputes each row's
    aggregate from a fresh context over its frame (windowFullScan) instead of
    sliding with xInverse, e.g. sum() does not keep a REAL that left the frame."""
    if excl is None:
        return None
    return " ".join(excl.name.upper().split())


class _Frame:
    """A frame: kind ('rows'|'range'|'groups'), bound kinds, offset closures, exclusion."""

    __slots__ = ("kind", "start", "end", "start_off", "end_off", "exclude", "signature")

    def __init__(self, spec, order_terms: int, comp):
        if spec is None:
            self.kind, self.start, self.end = "range", _UNBOUNDED_PRECEDING, _CURRENT
            self.start_off = self.end_off = None
            self.exclude = None
            self.signature = ("range", _UNBOUNDED_PRECEDING, _CURRENT, None, None, None)
            return
        self.kind = str(spec.args.get("kind")).lower()
        self.start, start_off = _bound(spec.args.get("start"), spec.args.get("start_side"))
        if spec.args.get("end") is not None:
            self.end, end_off = _bound(spec.args.get("end"), spec.args.get("end_side"))
        else:
            self.end, end_off = _CURRENT, None
        if self.start == _UNBOUNDED_FOLLOWING:
            raise OperationalError('near "following": syntax error')
        if self.end == _UNBOUNDED_PRECEDING:
            raise OperationalError('near "preceding": syntax error')
        if (self.start == _FOLLOWING and self.end in (_PRECEDING, _CURRENT)) or (
                self.start == _CURRENT and self.end == _PRECEDING):
            raise OperationalError("unsupported frame specification")
        if self.kind == "range" and (start_off is not None or end_off is not None) \
                and order_terms != 1:
            raise OperationalError(
                "RANGE with offset PRECEDING/FOLLOWING requires one ORDER BY expression")
        self.start_off = comp.fn(start_off) if start_off is not None else None
        self.end_off = comp.fn(end_off) if end_off is not None else None
        self.exclude = _exclusion(spec.args.get("exclude"))
        # What sqlite3WindowCompare compares of a frame (an implicit frame is
        # RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW, like the explicit one).
        self.signature = (self.kind, self.start, self.end, _offset_text(start_off),
                          _offset_text(end_off), self.exclude)

    def offsets(self):
        """The (start, end) offsets, evaluated and checked once per execution."""
        return (self._offset(self.start_off, "starting"), self._offset(self.end_off, "ending"))

    def _offset(self, fn, which):
        if fn is None:
            return None
        v = fn(())
        n = numeric_value(v) if isinstance(v, str) else v
        if self.kind == "range":
            if type(n) not in (int, float) or n < 0:
                raise OperationalError(f"frame {which} offset must be a non-negative number")
            return n
        if type(n) is float and n.is_integer():
            n = int(n)
        if type(n) is not int or n < 0:
            raise OperationalError(f"frame {which} offset must be a non-negative integer")
        return n


# -- compiling window calls ------------------------------------------------------------------

class _Call:
    """One window call: what to compute, its argument closure, filter and definition."""

    __slots__ = ("name", "kind", "factory", "args_fn", "filter_fn", "definition", "frame",
                 "def_key", "window")


def _compile_call(node, named, comp, session) -> _Call:
    call = _Call()
    fn_node = node.this
    filter_node = None
    if isinstance(fn_node, exp.Filter):
        filter_node = fn_node.expression.this
        fn_node = fn_node.this
    if not isinstance(fn_node, exp.Anonymous):
        raise OperationalError(
            f"not supported by turso_stream: window call {fn_node.sql(dialect='sqlite')!r}")
    name = fn_node.name.lower()
    args = list(fn_node.expressions)
    if args and isinstance(args[0], exp.Distinct):
        raise OperationalError("DISTINCT is not supported for window functions")
    if len(args) == 1 and isinstance(args[0], exp.Star):
        args = []
    call.name = name
    if name in WINDOW_ONLY:
        if len(args) not in WINDOW_ONLY[name]:
            raise OperationalError(f"wrong number of arguments to function {name}()")
        if filter_node is not None:
            raise OperationalError(
                "FILTER clause may only be used with aggregate window functions")
        call.kind, call.factory = name, None
    else:
        call.kind = "aggregate"
        call.factory = _aggregate_factory(name, args, comp, session)
    fns = [comp.fn(a) for a in args]
    call.args_fn = lambda row: tuple([f(row) for f in fns])
    call.filter_fn = comp.predicate(filter_node) if filter_node is not None else None
    definition = _resolve(node, named)
    call.definition = definition
    call.frame = _Frame(definition.spec, len(definition.order), comp)
    if name in ("min", "max") and call.frame.start != _UNBOUNDED_PRECEDING:
        call.factory = _latest_of_equals(call.factory)
    call.def_key = (tuple(_offset_text(p) for p in definition.partition),
                    tuple(_offset_text(o) for o in definition.order))
    call.window = _window_identity(call)
    return call


def _latest_of_equals(factory):
    """min/max over a frame with a moving start: SQLite returns the last-added of
    equal values (see aggregates._MinMax.latest)."""
    def make():
        acc = factory()
        if hasattr(acc, "latest"):
            acc.latest = True
        return acc
    return make


def _aggregate_factory(name, args, comp, session):
    nargs = len(args)
    user_class = _user_window_class(session, name, nargs)
    if user_class is not None:
        return lambda: UserWindowAggregate(user_class)
    if session is not None and session.user_aggregate(name, nargs) is not None:
        raise OperationalError(f"{name}() may not be used as a window function")
    found = lookup_aggregate(name, nargs)
    if found is None:
        if lookup_scalar(name, nargs) is not None or (
                session is not None and session.user_function(name, nargs) is not None):
            raise OperationalError(f"{name}() may not be used as a window function")
        from engine.sql.functions import aggregate_names
        if name in aggregate_names():
            raise OperationalError(f"wrong number of arguments to function {name}()")
        raise OperationalError(f"no such function: {name}")
    base = found.factory
    if name in ("min", "max") and args:
        coll = comp.compile(args[0]).collation
        if coll:
            return lambda: base(coll)
    return base


def _stages(calls) -> list:
    """The windows of one SELECT in SQLite's evaluation nesting: ``[(def_key, [call
    positions])]`` by first appearance. SQLite evaluates the first window (and the
    calls of every window equal to it, sqlite3WindowLink) over a subquery sorted by
    its PARTITION BY and ORDER BY terms; the other windows' calls move into that
    subquery, which is rewritten the same way (sqlite3WindowRewrite). So the last
    window sorts the rows in scan order, each earlier one re-sorts (stably) the
    rows of the one after it, and the rows come out in the first window's order."""
    stages: dict = {}
    for k, call in enumerate(calls):
        stages.setdefault(call.window, (call.def_key, []))[1].append(k)
    return list(stages.values())


class WindowStage:
    """The Window operator for one query level.

    ``WindowStage(nodes, select, comp, session, width)`` compiles the window calls
    ``nodes`` (``exp.Window``) against ``comp`` (the compiler of the rows this stage
    consumes, each ``width`` wide); ``slots`` maps ``id(node)`` to the slot of its
    value in the output rows; ``run(rows_fn, cell)`` yields the extended rows.
    O(n log n) per distinct window definition plus the functions' frame work.
    """

    def __init__(self, nodes, select, comp, session, width: int):
        named = named_windows(select)
        self.calls = [_compile_call(n, named, comp, session) for n in nodes]
        self.slots = {id(n): width + k for k, n in enumerate(nodes)}
        self.collations = session.collations if session is not None else None
        self.defs = {}
        self.stages = _stages(self.calls)
        for call in self.calls:
            if call.def_key not in self.defs:
                d = call.definition
                part = [(comp.compile(p), False, True) for p in d.partition]
                order = []
                for o in d.order:
                    desc = bool(o.args.get("desc"))
                    nulls_first = o.args.get("nulls_first")
                    if nulls_first is None:
                        nulls_first = not desc
                    order.append((comp.compile(o.this), desc, nulls_first))
                self.defs[call.def_key] = (part, order)

    def run(self, rows_fn, cell):
        """Materialize the input rows, evaluate every call, yield extended rows."""
        rows = []
        per_row = []
        defs = list(self.defs.items())
        calls = self.calls
        for row in rows_fn():
            cell[0] = row
            rows.append(row)
            per_row.append((
                [tuple([c.fn(row) for c, _, _ in part]) + tuple([c.fn(row) for c, _, _ in order])
                 for _k, (part, order) in defs],
                [(c.args_fn(row), c.filter_fn is None or c.filter_fn(row)) for c in calls]))
        n = len(rows)
        results = [[None] * n for _ in calls]
        position = {key: d for d, (key, _) in enumerate(defs)}
        index = list(range(n))  # scan order: what the innermost window sorts
        for def_key, members in reversed(self.stages):
            d = position[def_key]
            part, order = defs[d][1]
            index = self._sorted_indices(per_row, d, part, order, index)
            groups = self._partitions(index, per_row, d, part, order)
            for k in members:
                try:
                    _evaluate(calls[k], groups, per_row, k, results[k], order, d, len(part))
                except SqlFunctionError as exc:
                    raise OperationalError(exc.message) from None
        for i in index:
            yield rows[i] + tuple([col[i] for col in results])

    def _sorted_indices(self, per_row, d, part, order, index):
        """``index`` (row numbers in the previous window's order) stably sorted by
        the PARTITION BY then ORDER BY values of definition ``d``."""
        index = list(index)
        terms = part + order
        for t in range(len(terms) - 1, -1, -1):
            compiled, desc, nulls_first = terms[t]
            skey = sort_key_function(compiled.collation or "BINARY", self.collations)
            null_pos = (0,) if nulls_first == (not desc) else (2,)
            index.sort(key=lambda i: null_pos if per_row[i][0][d][t] is None
                       else (1, skey(per_row[i][0][d][t])), reverse=desc)
        return index

    def _partitions(self, index, per_row, d, part, order):
        """Split sorted indices into partitions: ``[(indices, group_of, starts, ends,
        order_keys)]``; group_of[p] numbers the peer group of position p."""
        np = len(part)
        pkeys = [sort_key_function(c.collation or "BINARY", self.collations) for c, _, _ in part]
        okeys = [sort_key_function(c.collation or "BINARY", self.collations) for c, _, _ in order]
        out = []
        prev_part = object()
        prev_peer = object()
        for i in index:
            vals = per_row[i][0][d]
            pk = tuple([f(v) for f, v in zip(pkeys, vals[:np])])
            ok = tuple([f(v) for f, v in zip(okeys, vals[np:])])
            if pk != prev_part:
                cur = ([], [], [], [])
                out.append(cur)
                prev_part = pk
                prev_peer = object()
            idx, group_of, starts, ends = cur
            if ok != prev_peer:
                starts.append(len(idx))
                ends.append(len(idx))
                prev_peer = ok
            ends[-1] = len(idx)
            group_of.append(len(starts) - 1)
            idx.append(i)
        return out


# -- evaluation ------------------------------------------------------------------------------

def _evaluate(call, partitions, per_row, k, out, order, d, np):
    kind = call.kind
    frame = call.frame
    offsets = frame.offsets() if kind in ("aggregate", "first_value", "last_value",
                                          "nth_value") else None
    for idx, group_of, starts, ends in partitions:
        m = len(idx)
        if kind == "row_number":
            for p, i in enumerate(idx):
                out[i] = p + 1
        elif kind in ("rank", "dense_rank", "percent_rank", "cume_dist"):
            _ranking(kind, idx, group_of, starts, ends, out)
        elif kind == "ntile":
            for p, i in enumerate(idx):
                out[i] = _ntile(per_row[i][1][k][0][0], p, m)
        elif kind in ("lag", "lead"):
            _shift(kind, idx, per_row, k, out)
        else:
            bounds = _frame_bounds(frame, offsets, idx, group_of, starts, ends, per_row, d,
                                   np, order)
            if kind == "aggregate":
                _aggregate(call, idx, bounds, group_of, starts, ends, per_row, k, out)
            else:
                _value_at(kind, call, idx, bounds, group_of, starts, ends, per_row, k, out)


def _ranking(kind, idx, group_of, starts, ends, out):
    m = len(idx)
    for p, i in enumerate(idx):
        g = group_of[p]
        if kind == "rank":
            out[i] = starts[g] + 1
        elif kind == "dense_rank":
            out[i] = g + 1
        elif kind == "percent_rank":
            out[i] = starts[g] / (m - 1) if m > 1 else 0.0
        else:
            out[i] = (ends[g] + 1) / m


def _ntile(arg, p, m):
    """ntileValueFunc: the bucket of row ``p`` of ``m`` for ``arg`` buckets."""
    n = numeric_value(arg) if isinstance(arg, str) else arg
    if type(n) is float:
        n = int(n)
    if type(n) is not int or n <= 0:
        raise OperationalError("argument of ntile must be a positive integer")
    size = m // n
    if size == 0:
        return p + 1
    large = m - n * size
    small_start = large * (size + 1)
    if p < small_start:
        return p // (size + 1) + 1
    return large + (p - small_start) // size + 1


def _shift(kind, idx, per_row, k, out):
    m = len(idx)
    for p, i in enumerate(idx):
        args = per_row[i][1][k][0]
        off = args[1] if len(args) > 1 else 1
        default = args[2] if len(args) > 2 else None
        if isinstance(off, str):
            off = numeric_value(off)
        if type(off) is float and off.is_integer():
            off = int(off)
        if type(off) is not int:
            out[i] = None
            continue
        q = p - off if kind == "lag" else p + off
        out[i] = per_row[idx[q]][1][k][0][0] if 0 <= q < m else default


def _frame_bounds(frame, offsets, idx, group_of, starts, ends, per_row, d, np, order):
    """Inclusive ``(s, e)`` position bounds of each row's frame (s > e: empty)."""
    m = len(idx)
    start_off, end_off = offsets
    kind = frame.kind
    last_group = len(starts) - 1
    range_keys = None
    if kind == "range" and (start_off is not None or end_off is not None):
        range_keys = _RangeKeys(idx, per_row, d, np, order[0])
    bounds = []
    for p in range(m):
        g = group_of[p]
        bounds.append((
            _start(frame.start, start_off, kind, p, g, starts, ends, last_group, range_keys, m),
            _end(frame.end, end_off, kind, p, g, starts, ends, last_group, range_keys, m)))
    return bounds


def _start(bound, off, kind, p, g, starts, ends, last_group, rk, m):
    if bound == _UNBOUNDED_PRECEDING:
        return 0
    if kind == "rows":
        return p if bound == _CURRENT else (p - off if bound == _PRECEDING else p + off)
    if bound == _CURRENT:
        return starts[g]
    if kind == "groups":
        if bound == _PRECEDING:
            return starts[max(g - off, 0)]
        return starts[g + off] if g + off <= last_group else m
    return rk.first_from(p, off, bound == _PRECEDING, starts[g])


def _end(bound, off, kind, p, g, starts, ends, last_group, rk, m):
    if bound == _UNBOUNDED_FOLLOWING:
        return m - 1
    if kind == "rows":
        return p if bound == _CURRENT else (p - off if bound == _PRECEDING else p + off)
    if bound == _CURRENT:
        return ends[g]
    if kind == "groups":
        if bound == _FOLLOWING:
            return ends[min(g + off, last_group)]
        return ends[g - off] if g - off >= 0 else -1
    return rk.last_upto(p, off, bound == _PRECEDING, ends[g])


class _RangeKeys:
    """Binary search over one partition's single ORDER BY value for RANGE offsets:
    the frame edge is where ``value -/+ offset`` would sort (windowCodeRangeTest)."""

    def __init__(self, idx, per_row, d, np, term):
        compiled, desc, nulls_first = term
        self.desc = desc
        self.skey = sort_key_function(compiled.collation or "BINARY")
        self.null_pos = (0,) if nulls_first == (not desc) else (2,)
        self.values = [per_row[i][0][d][np] for i in idx]
        self.keys = [self._key(v) for v in self.values]

    def _key(self, v):
        return self.null_pos if v is None else (1, self.skey(v))

    def _target(self, v, off, toward_start):
        if type(v) not in (int, float):
            return v  # text/blob: its own bound; NULL handled by the caller
        subtract = toward_start != self.desc
        return ops.sub(v, off) if subtract else ops.add(v, off)

    def _before(self, a, b):
        """True when key ``a`` sorts strictly before key ``b`` in partition order."""
        return a > b if self.desc else a < b

    def first_from(self, p, off, preceding, null_start):
        v = self.values[p]
        if v is None:
            return null_start
        target = self._key(self._target(v, off, preceding))
        lo, hi = 0, len(self.keys)
        while lo < hi:  # first position not before the target
            mid = (lo + hi) // 2
            if self._before(self.keys[mid], target):
                lo = mid + 1
            else:
                hi = mid
        return lo

    def last_upto(self, p, off, preceding, null_end):
        v = self.values[p]
        if v is None:
            return null_end
        target = self._key(self._target(v, off, preceding))
        lo, hi = 0, len(self.keys)
        while lo < hi:  # first position after the target
            mid = (lo + hi) // 2
            if self._before(target, self.keys[mid]):
                hi = mid
            else:
                lo = mid + 1
        return lo - 1


def _segments(s, e, p, exclude, g, starts, ends, m):
    """The frame of position ``p`` as inclusive position ranges, minus its exclusion."""
    s = max(s, 0)
    e = min(e, m - 1)
    if s > e:
        return []
    if exclude is None or exclude == "NO OTHERS":
        return [(s, e)]
    if exclude == "CURRENT ROW":
        holes = [(p, p)]
    elif exclude == "GROUP":
        holes = [(starts[g], ends[g])]
    else:  # TIES: the current row's peers but not the current row
        holes = [(starts[g], p - 1), (p + 1, ends[g])]
    out = []
    cur = s
    for a, b in holes:
        if a > b:
            continue
        if a > cur:
            out.append((cur, min(a - 1, e)))
        cur = max(cur, b + 1)
    if cur <= e:
        out.append((cur, e))
    return [(a, b) for a, b in out if a <= b]


def _aggregate(call, idx, bounds, group_of, starts, ends, per_row, k, out):
    factory = call.factory
    exclude = call.frame.exclude
    m = len(idx)
    if exclude is not None:
        for p, i in enumerate(idx):
            acc = factory()
            for a, b in _segments(*bounds[p], p, exclude, group_of[p], starts, ends, m):
                for q in range(a, b + 1):
                    args, keep = per_row[idx[q]][1][k]
                    if keep:
                        acc.step(*args)
            out[i] = acc.finalize()
        return
    acc = factory()
    sliding = hasattr(acc, "inverse")
    lo = hi = 0  # positions [lo, hi) are in acc
    for p, i in enumerate(idx):
        s, e = bounds[p]
        s = max(s, 0)
        e = min(e, m - 1) + 1
        if e < s:
            e = s
        if sliding and hi <= s:
            # The frame moved past every row in acc (or starts past the partition's
            # first rows). SQLite's cursors still visit each row: it inverts the rows
            # in acc and steps then inverts the rows in between, so e.g. a REAL that
            # passed through keeps sum()'s result REAL (its sticky "approx" flag).
            while lo < hi:
                args, keep = per_row[idx[lo]][1][k]
                if keep:
                    acc.inverse(*args)
                lo += 1
            while hi < min(s, m):
                args, keep = per_row[idx[hi]][1][k]
                if keep:
                    acc.step(*args)
                    acc.inverse(*args)
                hi += 1
            lo = hi = s
        elif s < lo or not sliding and s > lo:
            acc = factory()
            lo = hi = s
        while lo < s:
            args, keep = per_row[idx[lo]][1][k]
            if keep:
                acc.inverse(*args)
            lo += 1
        while hi < e:
            args, keep = per_row[idx[hi]][1][k]
            if keep:
                acc.step(*args)
            hi += 1
        out[i] = acc.value()


def _value_at(kind, call, idx, bounds, group_of, starts, ends, per_row, k, out):
    exclude = call.frame.exclude
    m = len(idx)
    for p, i in enumerate(idx):
        segs = _segments(*bounds[p], p, exclude, group_of[p], starts, ends, m)
        args = per_row[i][1][k][0]
        if kind == "nth_value":
            nth = args[1]
            if isinstance(nth, str):
                nth = numeric_value(nth)
            if type(nth) is float and nth.is_integer():
                nth = int(nth)
            if type(nth) is not int or nth <= 0:
                raise OperationalError("second argument to nth_value must be a positive integer")
        elif kind == "first_value":
            nth = 1
        else:
            nth = None
        pos = None
        if nth is None:
            if segs:
                pos = segs[-1][1]
        else:
            for a, b in segs:
                if nth <= b - a + 1:
                    pos = a + nth - 1
                    break
                nth -= b - a + 1
        out[i] = per_row[idx[pos]][1][k][0][0] if pos is not None else None
