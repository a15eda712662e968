"""The expression compiler: sqlglot AST -> Python closures with SQLite semantics.

Every SQL expression (in queries, DML, CHECK constraints, defaults, index
expressions and view maintenance) is compiled here, once per statement, into a
closure ``fn(row) -> value`` over the flat row of its scope. Nothing walks the
AST per row. Value semantics come from ``engine.values`` and
``engine.sql.operators``; functions from the registry in ``engine.sql.functions``.

Comparison rules (lang_expr.html, datatype3.html section 4): operands get the
comparison affinity of their column affinities, and the collation is the
explicit COLLATE of the left, else of the right operand, else the left column's,
else the right column's, else BINARY.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Callable

from sqlglot import exp

from engine.errors import OperationalError
from engine.sql import operators as ops
from engine.sql.dialect import UnaryPlus, Variable
from engine.sql.functions import SqlFunctionError, lookup_aggregate, lookup_scalar
from engine.sql.functions.json_fns import JsonText
from engine.sql.operators import OperatorError
from engine.values import (
    BLOB, INTEGER, NUMERIC, REAL, TEXT, affinity_of, cast, compare, is_true, sqlite_atof, to_text)

_INT_RE = re.compile(r"^[0-9]+$")
INT64_MAX = (1 << 63) - 1


@dataclass(slots=True)
class Compiled:
    """A compiled expression: its closure plus what comparisons need to know."""

    fn: Callable
    affinity: str | None = None
    collation: str | None = None
    explicit_collation: bool = False
    constant: bool = False
    column_name: str | None = None  # the declared name, for a plain column reference
    decltype: str | None = None     # the declared type, for a plain column reference
    conforming: bool = True         # ColumnMeta.conforming, for a column reference


class Runtime:
    """Per-execution state that compiled closures read (bound parameters, the
    transaction, the session, memoized uncorrelated subqueries)."""

    __slots__ = ("params", "txn", "session", "memo", "busy")

    def __init__(self, session=None):
        self.params: list = []
        self.txn = None
        self.session = session
        self.memo: dict = {}
        self.busy = False


def literal_value(node: exp.Literal):
    """The SQLite value of a literal: integers (decimal or hex), reals, strings."""
    text = node.this
    if node.is_string:
        return text
    low = text.lower()
    if low.startswith("0x"):
        value = int(low, 16)
        if value >= 1 << 64:
            raise OperationalError(f'hex literal too big: {text}')
        return value - (1 << 64) if value > INT64_MAX else value
    if _INT_RE.match(text):
        value = int(text)
        if value <= INT64_MAX:
            return value
    # SQLite's own decimal conversion (sqlite3AtoF), which is not always the
    # correctly rounded float(text): 3.4800074557535114e-307 is one ulp apart.
    return sqlite_atof(text)


def _wrap_errors(fn):
    """Map value-level errors to sqlite3's OperationalError (done once per call site)."""
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (OperatorError, SqlFunctionError) as exc:
            raise OperationalError(getattr(exc, "message", str(exc))) from None
    return call


class ExprCompiler:
    """Compiles expressions against one scope.

    ``aggregates`` (optional) maps ``id(node)`` of aggregate calls to the slot in
    the post-aggregation row where their value sits; ``subquery`` compiles a
    nested query (provided by the query planner) and returns a plan.
    """

    def __init__(self, scope, rt: Runtime, *, aggregates=None, planner=None):
        self.scope = scope
        self.rt = rt
        self.aggregates = aggregates
        self.planner = planner

    # -- entry ---------------------------------------------------------------------------

    def compile(self, node) -> Compiled:
        aggregates = self.aggregates
        if aggregates is not None and id(node) in aggregates:
            # A post-aggregation slot: an aggregate call, or (view maintenance) a
            # GROUP BY expression whose value the group row carries.
            i = aggregates[id(node)]
            meta = aggregates.get(("group_expr", i))
            if meta is not None:  # a GROUP BY expression keeps its affinity and collation
                return Compiled(lambda row: row[i], *meta)
            if _is_json_aggregate(node):  # its JSON subtype stays inside expressions
                return Compiled(lambda row: _plain(row[i]))
            written = _written_collation(node)
            if _is_min_max(node):  # min/max pass their argument's subtype on
                return Compiled(lambda row: _plain(row[i]), None, written, written is not None)
            if written is not None:  # e.g. max(x COLLATE NOCASE): EP_Collate
                return Compiled(lambda row: row[i], None, written, True)
            return Compiled(lambda row: row[i])
        call = _json_aggregate_of_argument(node)
        if call is not None:
            # json_group_array/json_group_object embed a JSON-subtyped argument
            return Compiled(self._json_arg(node, not _arguments_sorted(call)))
        return self._compile_node(node)

    def _compile_node(self, node) -> Compiled:
        """``compile`` by the node's handler alone."""
        handler = _HANDLERS.get(type(node))
        if handler is None:
            for klass in type(node).__mro__:
                handler = _HANDLERS.get(klass)
                if handler is not None:
                    break
        if handler is None:
            raise OperationalError(
                f"not supported by turso_stream: expression {node.sql(dialect='sqlite')!r}")
        return handler(self, node)

    def fn(self, node) -> Callable:
        return self.compile(node).fn

    def predicate(self, node) -> Callable:
        """A WHERE/ON/HAVING test: row -> a value that is truthy only when the SQL value
        is true. Comparisons already yield 1/0/NULL (truthy exactly when true), so their
        closure is the test itself, one call less per row."""
        f = self.fn(node)
        if type(node) in _COMPARE:
            return f
        return lambda row: is_true(f(row)) is True

    # -- leaves ------------------------------------------------------------------------------

    def _literal(self, node):
        v = literal_value(node)
        return Compiled(lambda row: v, constant=True)

    def _null(self, node):
        return Compiled(lambda row: None, constant=True)

    def _boolean(self, node):
        v = 1 if node.this else 0
        return Compiled(lambda row: v, constant=True)

    def _hexstring(self, node):
        text = node.this
        if len(text) % 2:
            raise OperationalError(f"unrecognized token: \"x'{text}'\"")
        v = bytes.fromhex(text)
        return Compiled(lambda row: v, constant=True)

    def _variable(self, node):
        params = self.rt.params
        i = node.args["number"] - 1
        return Compiled(lambda row: params[i])

    def _column(self, node):
        if isinstance(node.this, exp.Star):
            raise OperationalError("near \"*\": syntax error")
        name = node.name
        table = node.table or None
        if self.aggregates is not None and self.aggregates.get(("col", table, name.lower())):
            i = self.aggregates[("col", table, name.lower())]
            return Compiled(lambda row: row[i])
        scope, i, meta = self.scope.resolve(name, table)
        merged = (scope.using_merged_slots(name)
                  if table is None or getattr(node, "_using_star", False) else None)
        if merged is not None:
            fn = _merged_column(merged, None if scope is self.scope else scope.cell)
            if scope is not self.scope:
                self._mark_correlated(scope)
        elif scope is self.scope:
            fn = operator.itemgetter(i)  # C-level: the commonest closure of all
        else:
            self._mark_correlated(scope)
            cell = scope.cell
            fn = lambda row: cell[0][i]
        # a column always has a collation (BINARY too): it outranks an expression's none;
        # "" marks a column standing for a bound value (view parameters), which has none
        coll = meta.collation
        return Compiled(fn, meta.affinity, "BINARY" if coll is None else (coll or None),
                        column_name=meta.name, decltype=meta.decltype,
                        conforming=meta.conforming)

    def _mark_correlated(self, target) -> None:
        s = self.scope
        while s is not None and s is not target:
            s.correlated = True
            s = s.parent
        target.correlated = True

    def _paren(self, node):
        inner = self.compile(node.this)
        return inner

    def _alias(self, node):
        return self.compile(node.this)

    # -- operators ---------------------------------------------------------------------------

    def _arith(self, node):
        op = _ARITH[type(node)]
        a, b = self.fn(node.this), self.fn(node.expression)
        op = _wrap_errors(op)
        return Compiled(lambda row: op(a(row), b(row)))

    def _concat(self, node):
        left, right = self.compile(node.this), self.compile(node.expression)
        a, b = left.fn, right.fn
        concat = ops.concat
        return _carrying(lambda row: concat(a(row), b(row)), (left, right))

    def _neg(self, node):
        inner = node.this
        if isinstance(inner, exp.Literal) and not inner.is_string and \
                inner.this == "9223372036854775808":
            v = -(1 << 63)  # SQLite folds the sign into the literal: the smallest INTEGER
            return Compiled(lambda row: v, constant=True)
        while isinstance(inner, exp.Paren):
            inner = inner.this
        if isinstance(inner, exp.Literal) and not inner.is_string:
            lit = literal_value(inner)
            if type(lit) is float:
                # A REAL literal is negated (codeReal): -0.0 stays negative, whereas a
                # non-literal is computed as 0 - x, as below.
                v = -lit
                return Compiled(lambda row: v, constant=True)
        a = self.fn(node.this)
        neg = _wrap_errors(ops.neg)
        return Compiled(lambda row: neg(a(row)))

    def _bitnot(self, node):
        a = self.fn(node.this)
        f = ops.bitnot
        return Compiled(lambda row: f(a(row)))

    def comparison(self, left: Compiled, right: Compiled, op) -> Callable:
        """Closure for ``left OP right`` with SQLite's affinity and collation rules."""
        aff = ops.comparison_affinity(left.affinity, right.affinity)
        coll = _collation(left, right)
        a, b = left.fn, right.fn
        session = self.rt.session
        if coll.upper() not in _BUILTIN_COLLATIONS and session is not None:
            return _user_collated_comparison(a, b, op, aff, coll, session.collations)
        if aff in (None, NUMERIC) and op in _NUMERIC_OPS:
            fast = _numeric_constant_comparison(left, right, op, aff)
            if fast is not None:
                return fast
        if aff is None or (aff == NUMERIC and left.affinity in (INTEGER, REAL, NUMERIC)
                           and right.affinity in (INTEGER, REAL, NUMERIC)
                           and left.conforming and right.conforming):
            if coll == "BINARY":
                return lambda row: op(a(row), b(row))
            return lambda row: op(a(row), b(row), coll)
        conv = ops.apply_comparison_affinity
        # Affinity goes to the operand(s) that need it; applying it to a column of that
        # affinity is a no-op, so both are converted (simpler, same result).
        return lambda row: op(conv(a(row), aff), conv(b(row), aff), coll)

    def _compare(self, node):
        op = _COMPARE[type(node)]
        left, right = node.this, node.expression
        if isinstance(left, exp.Tuple) or isinstance(right, exp.Tuple):
            return self._row_compare(node, op)
        return Compiled(self.comparison(self.compile(left), self.compile(right), op))

    def _row_compare(self, node, op):
        left, right = node.this, node.expression
        lefts = left.expressions if isinstance(left, exp.Tuple) else [left]
        rights = right.expressions if isinstance(right, exp.Tuple) else [right]
        if len(lefts) != len(rights):
            raise OperationalError("row value misused")
        if op not in (ops.eq, ops.ne, ops.is_, ops.is_not):
            raise OperationalError("not supported by turso_stream: row value ordering comparison")
        eqs = [self.comparison(self.compile(l), self.compile(r), ops.eq if op in (ops.eq, ops.ne)
                               else ops.is_) for l, r in zip(lefts, rights)]
        negate = op in (ops.ne, ops.is_not)

        def row_eq(row):
            result = 1
            for f in eqs:
                v = f(row)
                if v == 0:
                    result = 0
                    break
                if v is None:
                    result = None
            if negate and result is not None:
                return 1 - result
            return result
        return Compiled(row_eq)

    def _is(self, node):
        right = node.expression
        a = self.fn(node.this)
        if isinstance(right, exp.Null):
            return Compiled(lambda row: 1 if a(row) is None else 0)
        if isinstance(right, exp.Boolean):  # IS TRUE / IS FALSE
            want = bool(right.this)
            return Compiled(lambda row: 1 if is_true(a(row)) is want else 0)
        return Compiled(self.comparison(self.compile(node.this), self.compile(right), ops.is_))

    def _and(self, node):
        a, b = self.fn(node.this), self.fn(node.expression)

        def and_(row):
            x = is_true(a(row))
            if x is False:
                return 0
            y = is_true(b(row))
            if y is False:
                return 0
            return None if (x is None or y is None) else 1
        return Compiled(and_)

    def _or(self, node):
        a, b = self.fn(node.this), self.fn(node.expression)

        def or_(row):
            x = is_true(a(row))
            if x:
                return 1
            y = is_true(b(row))
            if y:
                return 1
            return None if (x is None or y is None) else 0
        return Compiled(or_)

    def _not(self, node):
        a = self.fn(node.this)
        not_ = ops.not_
        return Compiled(lambda row: not_(a(row)))

    def _between(self, node):
        x = self.compile(node.this)
        ge = self.comparison(x, self.compile(node.args["low"]), ops.ge)
        le = self.comparison(x, self.compile(node.args["high"]), ops.le)

        def between(row):
            p, q = ge(row), le(row)
            if p == 0 or q == 0:
                return 0
            return None if (p is None or q is None) else 1
        return Compiled(between)

    def _like(self, node, escape=None):
        """``x [NOT] LIKE p [ESCAPE e]`` (sqlglot marks NOT LIKE with ``negate``)."""
        pattern = _c_string(self.fn(node.expression))
        value = _c_string(self.fn(node.this))
        like = _wrap_errors(ops.like)
        if escape is None:
            fn = lambda row: like(pattern(row), value(row))  # noqa: E731
        else:
            esc = self.fn(escape)
            fn = lambda row: like(pattern(row), value(row), esc(row), has_escape=True)  # noqa: E731
        if node.args.get("negate"):
            not_, positive = ops.not_, fn
            fn = lambda row: not_(positive(row))  # noqa: E731
        return Compiled(fn)

    def _escape(self, node):
        inner = node.this
        if not isinstance(inner, exp.Like):
            raise OperationalError("not supported by turso_stream: ESCAPE without LIKE")
        return self._like(inner, node.expression)

    def _glob(self, node):
        pattern, value = _c_string(self.fn(node.expression)), _c_string(self.fn(node.this))
        glob = ops.glob
        return Compiled(lambda row: glob(pattern(row), value(row)))

    def _collate(self, node):
        inner = self.compile(node.this)
        coll = node.expression.name.upper() if hasattr(node.expression, "name") else str(
            node.expression).upper()
        session = self.rt.session
        if session is not None and not session.collation_exists(coll):
            raise OperationalError(f"no such collation sequence: {coll}")
        return Compiled(inner.fn, inner.affinity, coll, True, inner.constant,
                        conforming=inner.conforming)

    def _cast(self, node):
        """``CAST(x AS type)``: the type's affinity; x's collation, a column's too, passes
        through (sqlite3ExprCollSeq walks TK_CAST as it walks unary plus)."""
        operand = self.compile(node.this)
        inner = operand.fn
        to = node.args["to"]
        type_name = node.args.get("declared_type") or _type_text(to)
        f = cast
        return Compiled(lambda row: f(inner(row), type_name), affinity_of(type_name),
                        operand.collation, operand.explicit_collation)

    def _case(self, node):
        """CASE, simple or searched. Its collation is the first explicit COLLATE among
        base, WHEN and THEN operands and ELSE, in written order (SQLite's EP_Collate)."""
        base = node.this
        ifs = node.args.get("ifs") or []
        parts = [self.compile(base)] if base is not None else []
        for i in ifs:
            parts += [self.compile(i.this), self.compile(i.args["true"])]
        if node.args.get("default"):
            parts.append(self.compile(node.args["default"]))
            default = parts[-1].fn
        else:
            default = lambda row: None  # noqa: E731
        if base is not None:
            b = parts[0]
            whens = [(self.comparison(b, parts[k], ops.eq), parts[k + 1].fn)
                     for k in range(1, 2 * len(ifs), 2)]

            def simple_case(row):
                for test, then in whens:
                    if test(row) == 1:
                        return then(row)
                return default(row)
            return _carrying(simple_case, parts)
        whens = [(parts[k].fn, parts[k + 1].fn) for k in range(0, 2 * len(ifs), 2)]

        def searched_case(row):
            for test, then in whens:
                if is_true(test(row)):
                    return then(row)
            return default(row)
        return _carrying(searched_case, parts)

    def _in(self, node):
        x = self.compile(node.this)
        elements = node.expressions
        query = node.args.get("query")
        if isinstance(query, exp.Subquery) and isinstance(query.this, exp.Subquery):
            # "x IN ((SELECT ...))": a list holding one scalar subquery, not a subquery
            elements = [query.this]
        elif query is not None:
            return self._in_subquery(x, query)
        if node.args.get("field") is not None:
            field = node.args["field"]
            table = exp.Table(this=exp.to_identifier(field.name))
            return self._in_subquery(x, exp.select("*").from_(table))
        items = [self.compile(e) for e in elements]
        if len(items) == 1 and _parse_time_constant(elements[0]):
            # SQLite's parser rewrites "x IN (e)", e constant, as "x = +e": e's explicit
            # COLLATE then counts as in any comparison
            (e,) = items
            return Compiled(self.comparison(
                x, Compiled(e.fn, None, e.collation, e.explicit_collation, e.constant),
                ops.eq))
        # "x IN (list)" (lang_expr "The IN and NOT IN operators", datatype3 4.2): list
        # values carry no affinity and no collation, even column references or COLLATE;
        # x's affinity and collation (sqlite3ExprCollSeq of x alone) decide
        items = [Compiled(c.fn, None, None, False, c.constant) for c in items]
        x = Compiled(x.fn, x.affinity, x.collation or "BINARY", True, x.constant)
        tests = [self.comparison(x, item, ops.eq) for item in items]
        xf = x.fn

        def in_list(row):
            if xf(row) is None:
                return None if tests else 0
            saw_null = False
            for t in tests:
                v = t(row)
                if v == 1:
                    return 1
                if v is None:
                    saw_null = True
            return None if saw_null else 0
        return Compiled(in_list)

    def _in_subquery(self, x: Compiled, query):
        if isinstance(query, exp.Subquery):
            query = query.this
        plan = self.planner.subquery(query, self.scope, self.rt)
        if len(plan.columns) != 1:
            raise OperationalError(f"sub-select returns {len(plan.columns)} columns - expected 1")
        col = plan.columns[0]
        # sqlite3BinaryCompareCollSeq(x, the subquery's result expression)
        probe = Compiled(lambda row: None, col.affinity,
                         col.collation if col.collation != "BINARY" or col.explicit_collation
                         else None, col.explicit_collation)
        aff = ops.comparison_affinity(x.affinity, probe.affinity)
        coll = _collation(x, probe)
        conv = ops.apply_comparison_affinity
        xf = x.fn
        key = _hash_key_function(coll)
        memo = self.rt.memo
        run = plan.run
        correlated = plan.correlated

        def values():
            if correlated:
                rows = run()
            else:
                rows = memo.get(id(plan))
                if rows is None:
                    rows = memo[id(plan)] = list(run())
            keys = set()
            has_null = False
            for (v,) in rows:
                if v is None:
                    has_null = True
                else:
                    keys.add(key(conv(v, aff)))
            return keys, has_null

        def in_subquery(row):
            v = xf(row)
            if correlated:
                plan.bind_outer(row)
            keys, has_null = values()
            if v is None:
                return None if (keys or has_null) else 0
            if key(conv(v, aff)) in keys:
                return 1
            return None if has_null else 0
        return Compiled(in_subquery)

    def _exists(self, node):
        query = node.this
        if isinstance(query, exp.Subquery):
            query = query.this
        plan = self.planner.subquery(query, self.scope, self.rt)
        run = plan.run
        if plan.correlated:
            def exists(row):
                plan.bind_outer(row)
                for _ in run():
                    return 1
                return 0
            return Compiled(exists)
        memo = self.rt.memo

        def exists_once(row):
            v = memo.get(id(plan))
            if v is None:
                v = memo[id(plan)] = 0
                for _ in run():
                    v = memo[id(plan)] = 1
                    break
            return v
        return Compiled(exists_once)

    def _subquery(self, node):
        query = node.this
        plan = self.planner.subquery(query, self.scope, self.rt)
        if len(plan.columns) != 1:
            raise OperationalError(f"sub-select returns {len(plan.columns)} columns - expected 1")
        col = plan.columns[0]
        run = plan.run
        memo = self.rt.memo

        def first():
            for r in run():
                return r[0]
            return None

        if plan.correlated:
            def scalar(row):
                plan.bind_outer(row)
                return first()
        else:
            missing = object()

            def scalar(row):
                v = memo.get(id(plan), missing)
                if v is missing:
                    v = memo[id(plan)] = first()
                return v
        # a scalar subquery keeps its column's affinity but lends no collation
        # (sqlite3ExprCollSeq stops at TK_SELECT)
        return Compiled(scalar, col.affinity)

    # -- functions ------------------------------------------------------------------------

    def _unary_plus(self, node):
        """``+X``: X unchanged except that it has no affinity (collation kept)."""
        inner = self.compile(node.this)
        return Compiled(inner.fn, None, inner.collation, inner.explicit_collation,
                        inner.constant)

    def _filter(self, node):
        """``agg(...) FILTER (WHERE ...)``: the aggregate's slot of a post-aggregation row
        (the planner collects the whole Filter node as the aggregate); elsewhere SQLite's
        errors: misuse of an aggregate, or FILTER on a non-aggregate function."""
        if self.aggregates is not None and id(node) in self.aggregates:
            i = self.aggregates[id(node)]
            return Compiled(lambda row: row[i])
        call = node.this
        name = call.name.lower()
        nargs = len(call.expressions)
        session = self.rt.session
        if lookup_aggregate(name, nargs) is not None or (
                session is not None and session.user_aggregate(name, nargs) is not None):
            raise OperationalError(f"misuse of aggregate function {name}()")
        raise OperationalError(f"FILTER may not be used with non-aggregate {name}()")

    def _function(self, node):
        name = node.name.lower()
        args = list(node.expressions)
        if self.aggregates is not None and id(node) in self.aggregates:
            i = self.aggregates[id(node)]
            return Compiled(lambda row: row[i])
        if args and isinstance(args[0], exp.Distinct) or (args and isinstance(args[0], exp.Star)):
            raise OperationalError(f"misuse of aggregate function {name}()")
        if name == "raise":
            return self._raise(args)
        if name in _WINDOW_ONLY and lookup_scalar(name, len(args)) is None and (
                self.rt.session is None or self.rt.session.user_function(name, len(args)) is None):
            raise OperationalError(f"misuse of window function {name}()")
        if name in _CONTEXT_FUNCTIONS:
            return _CONTEXT_FUNCTIONS[name](self, args)
        if name in ("coalesce", "ifnull"):
            return self._coalesce(name, args)
        if name == "iif":
            if len(args) != 3:
                raise OperationalError("wrong number of arguments to function iif()")
            return self._case(exp.Case(ifs=[exp.If(this=args[0], true=args[1])], default=args[2]))
        if name in ("likely", "unlikely", "likelihood") and args:
            # a function call to SQLite's comparisons: no affinity, no column collation,
            # only an explicit COLLATE inside the argument carries (EP_Collate)
            inner = self.compile(args[0])
            for extra in args[1:]:
                self.compile(extra)
            return _carrying(inner.fn, (inner,))
        session = self.rt.session
        if (lookup_aggregate(name, len(args)) is not None or (
                session is not None and session.user_aggregate(name, len(args)) is not None)) \
                and lookup_scalar(name, len(args)) is None and (
                session is None or session.user_function(name, len(args)) is None):
            raise OperationalError(f"misuse of aggregate function {name}()")
        fn = self._resolve_scalar(name, len(args))
        if name.startswith("json"):
            return self._json_call(fn, args)
        parts = [self.compile(a) for a in args]
        fns = [p.fn for p in parts]
        if name in ("like", "glob") and (session is None or session.user_function(
                name, len(fns)) is None):
            fns = [_c_string(f) for f in fns]
        if name in _NEEDS_COLLATION and len(fns) >= 2:
            collated = self._collated_call(name, parts)
            if collated is not None:
                return collated
        if len(fns) == 0:
            return Compiled(lambda row: fn())
        if len(fns) == 1:
            (a,) = fns
            return _carrying(lambda row: fn(a(row)), parts)
        if len(fns) == 2:
            a, b = fns
            return _carrying(lambda row: fn(a(row), b(row)), parts)
        return _carrying(lambda row: fn(*[f(row) for f in fns]), parts)

    def _collated_call(self, name, parts):
        """Scalar min()/max()/nullif() compare under the collation of their first
        argument that has one (a column's or an explicit COLLATE: SQLITE_FUNC_NEEDCOLL);
        None when that is BINARY (the registry's functions) or a user function
        overrides the name. O(number of arguments) per row."""
        session = self.rt.session
        if session is not None and session.user_function(name, len(parts)) is not None:
            return None
        coll = next((p.collation for p in parts if p.collation), "BINARY")
        if coll.upper() == "BINARY":
            return None
        collations = session.collations if session is not None else None
        fns = [p.fn for p in parts]
        if name == "nullif":
            a, b = fns

            def nullif(row):
                x, y = a(row), b(row)
                if x is not None and y is not None and compare(x, y, coll, collations) == 0:
                    return None
                return x
            return _carrying(nullif, parts)
        want_max = name == "max"

        def minmax(row):
            # minmaxFunc: NULL if any argument is; max keeps the first of equals,
            # min takes the last
            best = fns[0](row)
            if best is None:
                return None
            for f in fns[1:]:
                v = f(row)
                if v is None:
                    return None
                c = compare(best, v, coll, collations)
                if (c < 0) if want_max else (c >= 0):
                    best = v
            return best
        return _carrying(minmax, parts)

    def _json_call(self, fn, args):
        """A JSON function: its JSON-typed arguments keep SQLite's JSON subtype
        (``JsonText``); its result leaves as plain text, since the subtype never
        survives outside JSON function arguments (not in rows, storage or typeof)."""
        fns = [self._json_arg(a) for a in args]
        written = next((c for c in map(_written_collation, args) if c is not None), None)
        return Compiled(lambda row: _plain(fn(*[f(row) for f in fns])), None, written,
                        written is not None)

    def _json_arg(self, node, columns: bool = True):
        """``row -> value`` of a JSON function's argument, keeping SQLite's JSON subtype
        (``JsonText``) where SQLite's value would carry it: results of JSON functions,
        of ``->``, of json_group_array/json_group_object (read from their aggregate
        slot), and (when ``columns``) the ``value`` column of json_each/json_tree for
        arrays and objects."""
        aggregates = self.aggregates
        if aggregates is not None and id(node) in aggregates:
            i = aggregates[id(node)]
            return lambda row: row[i]
        if columns and isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
            table_fn_value = self._table_function_value(node)
            if table_fn_value is not None:
                return table_fn_value
        if isinstance(node, exp.Lambda) and len(node.expressions) == 1 and \
                isinstance(node.expressions[0], exp.Identifier):
            node = exp.JSONExtract(this=exp.Column(this=node.expressions[0].copy()),
                                   expression=node.this)
        if isinstance(node, exp.Anonymous) and node.name.lower().startswith("json"):
            name = node.name.lower()
            fn = self._resolve_scalar(name, len(node.expressions))
            fns = [self._json_arg(a, columns) for a in node.expressions]
            return lambda row: fn(*[f(row) for f in fns])
        if isinstance(node, exp.JSONExtract):
            found = lookup_scalar("json_arrow", 2)
            if found is not None:
                f = _wrap_errors(found.fn)
                a, b = self._json_arg(node.this, columns), self.fn(node.expression)
                return lambda row: f(a(row), b(row))
        passed = self._json_passthrough(node, columns)
        if passed is not None:
            return passed
        return self._compile_node(node).fn

    def json_argument(self, node, call) -> Callable:
        """``row -> value`` of aggregate ``call``'s argument ``node`` keeping its JSON
        subtype (JsonText) as SQLite's min()/max() do: the value they return is the
        argument's own, subtype included (unless a sorter stored it)."""
        return self._json_arg(node, not _arguments_sorted(call))

    def _json_passthrough(self, node, columns):
        """``row -> value`` keeping the JSON subtype of what ``node`` passes on
        unchanged, as SQLite's value copies do: parentheses, unary +, COLLATE,
        coalesce/ifnull, CASE and iif (the branch taken), and a scalar subquery whose
        one result is a JSON function's (its register keeps the subtype unless a
        sorter stored it: ORDER BY). None for any other node."""
        if isinstance(node, (exp.Paren, UnaryPlus, exp.Collate)):
            return self._json_arg(node.this, columns)
        if isinstance(node, exp.Subquery) and _json_scalar_subquery(node):
            f = self._compile_node(node).fn
            return lambda row: _as_json(f(row))
        if isinstance(node, exp.Anonymous):
            name, args = node.name.lower(), node.expressions
            if name in ("coalesce", "ifnull") and len(args) >= 2:
                fns = [self._json_arg(a, columns) for a in args]

                def first(row):
                    for f in fns:
                        v = f(row)
                        if v is not None:
                            return v
                    return None
                return first
            if name == "nullif" and len(args) == 2:
                return self._json_nullif(args, columns)
            if name == "iif" and len(args) == 3:
                branch = self.fn(exp.Anonymous(this="iif", expressions=[
                    args[0].copy(), exp.Literal.number(0), exp.Literal.number(1)]))
                fns = [self._json_arg(a, columns) for a in args[1:]]
                return lambda row: fns[branch(row)](row)
        if isinstance(node, exp.Case):
            return self._json_case(node, columns)
        return None

    def _json_nullif(self, args, columns):
        """nullif(x, y) keeping x's JSON subtype (SQLite returns x's own value):
        NULL when x equals y under the arguments' collation, else x. None when a
        user function overrides nullif."""
        session = self.rt.session
        if session is not None and session.user_function("nullif", 2) is not None:
            return None
        parts = [self._compile_node(a) for a in args]
        coll = next((p.collation for p in parts if p.collation), "BINARY")
        collations = session.collations if session is not None else None
        x_fn, y_fn = self._json_arg(args[0], columns), parts[1].fn

        def nullif(row):
            x, y = x_fn(row), y_fn(row)
            if x is not None and y is not None and compare(x, y, coll, collations) == 0:
                return None
            return x
        return nullif

    def _json_case(self, node, columns):
        """CASE keeping the chosen result's JSON subtype: the same CASE with each
        result replaced by its branch number picks the branch (SQLite's own WHEN
        semantics), then only that result is evaluated. O(WHEN terms) per row."""
        ifs = node.args.get("ifs") or []
        default = node.args.get("default")
        results = [i.args.get("true") for i in ifs] + ([default] if default is not None else [])
        picker = node.copy()
        for n, when in enumerate(picker.args.get("ifs") or []):
            when.set("true", exp.Literal.number(n))
        if default is not None:
            picker.set("default", exp.Literal.number(len(ifs)))
        branch = self.fn(picker)
        fns = [self._json_arg(r, columns) for r in results]

        def chosen(row):
            n = branch(row)
            return None if n is None else fns[n](row)
        return chosen

    def _table_function_value(self, node):
        """For a reference to the ``value`` column of a json_each/json_tree FROM item:
        ``row -> value`` with arrays and objects as JsonText (SQLite's xColumn gives
        them the JSON subtype), read next to the item's ``type`` column; else None."""
        from engine.sql.compiler.table_functions import HIDDEN_COLUMNS, JSON_COLUMNS
        if node.name.lower() != "value" or (self.aggregates is not None and
                                            self.aggregates.get(("col", node.table or None,
                                                                 "value"))):
            return None
        scope, i, _meta = self.scope.resolve(node.name, node.table or None)
        source = next((s for s in scope.sources
                       if s.offset <= i < s.offset + len(s.columns)), None)
        if source is None or source.table is not None or tuple(
                c.name for c in source.columns) != JSON_COLUMNS + HIDDEN_COLUMNS:
            return None
        t = source.offset + JSON_COLUMNS.index("type")
        if scope is self.scope:
            return lambda row: JsonText(row[i]) if row[t] in _JSON_CONTAINERS else row[i]
        self._mark_correlated(scope)
        cell = scope.cell
        return lambda row: (JsonText(cell[0][i]) if cell[0][t] in _JSON_CONTAINERS
                            else cell[0][i])

    def _resolve_scalar(self, name: str, nargs: int):
        session = self.rt.session
        if session is not None:
            user = session.user_function(name, nargs)
            if user is not None:
                return user
        found = lookup_scalar(name, nargs)
        if found is None:
            if session is not None and session.user_function_exists(name):
                raise OperationalError(f"wrong number of arguments to function {name}()")
            if _registered(name):
                raise OperationalError(f"wrong number of arguments to function {name}()")
            raise OperationalError(f"no such function: {name}")
        return _wrap_errors(found.fn)

    def _raise(self, args):
        """RAISE(IGNORE) / RAISE(ROLLBACK|ABORT|FAIL, message): only inside triggers."""
        from engine.sql.compiler.trigger import TriggerRaise
        if not args or not isinstance(args[0], (exp.Column, exp.Var)) or \
                args[0].name.upper() not in ("IGNORE", "ROLLBACK", "ABORT", "FAIL"):
            raise OperationalError('near "RAISE": syntax error')
        kind = args[0].name.upper()
        if (kind == "IGNORE") != (len(args) == 1):
            raise OperationalError('near ")": syntax error')
        msg = self.fn(args[1]) if len(args) > 1 else (lambda row: None)
        if not _inside_trigger(self.scope):
            raise OperationalError("RAISE() may only be used within a trigger-program")

        def raise_(row):
            raise TriggerRaise(kind, msg(row))
        return Compiled(raise_)

    def _coalesce(self, name, args):
        if len(args) < 2 or (name == "ifnull" and len(args) != 2):
            raise OperationalError(f"wrong number of arguments to function {name}()")
        parts = [self.compile(a) for a in args]
        fns = [p.fn for p in parts]

        def coalesce(row):
            for f in fns:
                v = f(row)
                if v is not None:
                    return v
            return None
        return _carrying(coalesce, parts)

    def _json_arrow(self, node, scalar: bool):
        fn = lookup_scalar("json_arrow2" if scalar else "json_arrow", 2)
        if fn is None:
            op = "->>" if scalar else "->"
            raise OperationalError(f"not supported by turso_stream: the {op} operator")
        a, b = self._json_arg(node.this), self.fn(node.expression)
        f = _wrap_errors(fn.fn)
        return Compiled(lambda row: _plain(f(a(row), b(row))))

    def _lambda(self, node):
        """``x -> 'path'`` inside a function's arguments parses as a lambda: it is the
        JSON arrow operator in SQLite."""
        params = node.expressions
        if len(params) == 1 and isinstance(params[0], exp.Identifier):
            col = exp.Column(this=params[0].copy())
            return self._json_arrow(exp.JSONExtract(this=col, expression=node.this), False)
        raise OperationalError(f"not supported by turso_stream: expression {node.sql()!r}")

    def _current(self, node):
        name = {exp.CurrentTimestamp: "datetime", exp.CurrentDate: "date",
                exp.CurrentTime: "time"}[type(node)]
        fn = lookup_scalar(name, 1)
        f = fn.fn
        return Compiled(lambda row: f("now"))

    def _window(self, node):
        """A window call reads its slot in the rows of the window stage (see
        ``compiler.window``); anywhere else (WHERE, GROUP BY, HAVING, aggregate
        arguments) it is misuse, as SQLite reports it."""
        if self.aggregates is not None and id(node) in self.aggregates:
            i = self.aggregates[id(node)]
            call = node.this.this if isinstance(node.this, exp.Filter) else node.this
            if _is_json_aggregate(call):  # the JSON subtype stays inside expressions
                return Compiled(lambda row: _plain(row[i]))
            return Compiled(lambda row: row[i])
        call = node.this.this if isinstance(node.this, exp.Filter) else node.this
        raise OperationalError(f"misuse of window function {call.name.lower()}()")

    def _star(self, node):
        raise OperationalError('near "*": syntax error')


def _inside_trigger(scope) -> bool:
    while scope is not None:
        if scope.has_source("new") and scope.has_source("old"):
            return True
        scope = scope.parent
    return False


_JSON_AGGREGATES = frozenset(("json_group_array", "json_group_object"))
_JSON_CONTAINERS = frozenset(("array", "object"))


def _is_json_aggregate(node) -> bool:
    """Is ``node`` a json_group_array / json_group_object call (as written, with FILTER
    or as a window function)?"""
    if isinstance(node, exp.Window):
        node = node.this
    if isinstance(node, exp.Filter):
        node = node.this
    return isinstance(node, exp.Anonymous) and node.name.lower() in _JSON_AGGREGATES


def _is_min_max(node) -> bool:
    """Is ``node`` a one-argument min()/max() aggregate call (FILTER allowed)?"""
    if isinstance(node, exp.Filter):
        node = node.this
    return isinstance(node, exp.Anonymous) and node.name.lower() in ("min", "max") and \
        len(node.expressions) == 1


def _json_aggregate_of_argument(node):
    """The json_group_array / json_group_object call ``node`` is an argument of (also
    under DISTINCT, which passes each first-seen value on with its subtype), or None."""
    parent = node.parent
    if isinstance(parent, exp.Distinct):
        parent = parent.parent
    if isinstance(parent, exp.Anonymous) and parent.name.lower() in _JSON_AGGREGATES:
        return parent
    return None


def _arguments_sorted(call) -> bool:
    """Do the rows reach aggregate ``call`` through a sorter, as in SQLite when it is a
    window function or its SELECT has a GROUP BY? Column values stored there lose
    their JSON subtype (function results computed after it keep theirs)."""
    parent = call.parent
    if isinstance(parent, exp.Filter):
        parent = parent.parent
    if isinstance(parent, exp.Window):
        return True
    select = call.find_ancestor(exp.Select)
    return select is not None and bool(select.args.get("group"))


# JSON functions whose text result always carries the JSON subtype
_ALWAYS_JSON = frozenset(("json", "json_array", "json_object", "json_set", "json_insert",
                          "json_replace", "json_remove", "json_patch", "json_quote",
                          "json_group_array", "json_group_object"))


def _json_scalar_subquery(node) -> bool:
    """Is ``node`` a scalar subquery whose one result column is always JSON-subtyped
    in SQLite (a JSON function's result or ``->``, not stored by an ORDER BY sorter)?"""
    select = node.this
    if not isinstance(select, exp.Select) or select.args.get("order") or \
            len(select.expressions) != 1:
        return False
    item = select.expressions[0]
    if isinstance(item, exp.Alias):
        item = item.this
    if isinstance(item, exp.JSONExtract):
        return True
    return isinstance(item, exp.Anonymous) and item.name.lower() in _ALWAYS_JSON


def _as_json(v):
    """A JSON function's text result with its subtype back (JsonText)."""
    return JsonText(v) if type(v) is str else v


def _plain(v):
    """A str subclass (the JSON subtype) as plain text; other values unchanged."""
    return str(v) if isinstance(v, str) and type(v) is not str else v


def _registered(name: str) -> bool:
    from engine.sql.functions import aggregate_names, scalar_names
    return name in scalar_names() or name in aggregate_names()


def _carrying(fn, parts, affinity=None) -> Compiled:
    """``fn`` compiled over operands ``parts``, with SQLite's EP_Collate rule: the first
    explicit COLLATE among the operands (written order) is the expression's collation;
    a column's own collation does not pass through an operator or function call."""
    for p in parts:
        if p.explicit_collation:
            return Compiled(fn, affinity, p.collation, True)
    return Compiled(fn, affinity)


_NEEDS_COLLATION = frozenset(("min", "max", "nullif"))
_NOT_CONSTANT = (exp.Column, exp.Subquery, exp.Select, exp.Exists, exp.Window, exp.Like,
                 exp.Glob, exp.Escape, exp.Lambda, exp.Star, exp.Dot)


def _written_collation(node) -> str | None:
    """The first COLLATE written inside ``node`` (pre-order, left to right, not inside
    subqueries): the collation SQLite's EP_Collate lends an expression it does not
    compile operand by operand (an aggregate's slot). O(size of node)."""
    if isinstance(node, exp.Collate):
        target = node.expression
        return (target.name if hasattr(target, "name") else str(target)).upper()
    if isinstance(node, (exp.Subquery, exp.Select, exp.Exists)):
        return None
    for child in node.iter_expressions():
        found = _written_collation(child)
        if found is not None:
            return found
    return None


def _parse_time_constant(node) -> bool:
    """Is ``node`` constant to SQLite's parser (sqlite3ExprIsConstant before name
    resolution)? Literals, parameters and operators over them are; columns, subqueries
    and every function call (LIKE, ->, CURRENT_TIME included) are not. O(size of node)."""
    for n in node.walk():
        if isinstance(n, _NOT_CONSTANT):
            return False
        if isinstance(n, exp.Func) and not isinstance(n, (exp.Cast, exp.Case, exp.If,
                                                           exp.Collate)):
            return False
    return True


def _c_string(f):
    """``f`` with text cut at its first NUL: LIKE and GLOB read their operands as C
    strings (sqlite3_value_text), so 'a' || char(0) || 'b' LIKE 'a' is true."""
    def cut(row):
        v = f(row)
        if type(v) is str and "\x00" in v:
            return v[:v.index("\x00")]
        return v
    return cut


_BUILTIN_COLLATIONS = frozenset(("BINARY", "NOCASE", "RTRIM"))
_RELATIONS = {ops.eq: lambda c: c == 0, ops.ne: lambda c: c != 0, ops.lt: lambda c: c < 0,
              ops.le: lambda c: c <= 0, ops.gt: lambda c: c > 0, ops.ge: lambda c: c >= 0}


def _user_collated_comparison(a, b, op, aff, coll, collations):
    """``a OP b`` under a collation registered by ``create_collation`` (the operators'
    own comparisons only know the built-in ones): the session's ``collations``
    decide between two texts. NULL rules as the operators' (IS/IS NOT never NULL)."""
    conv = ops.apply_comparison_affinity

    def compare_user(row):
        x, y = a(row), b(row)
        if aff is not None:
            x, y = conv(x, aff), conv(y, aff)
        if op is ops.is_ or op is ops.is_not:
            same = (x is None and y is None) or (
                x is not None and y is not None and compare(x, y, coll, collations) == 0)
            return 1 if same == (op is ops.is_) else 0
        if x is None or y is None:
            return None
        return 1 if _RELATIONS[op](compare(x, y, coll, collations)) else 0
    return compare_user


def _collation(left: Compiled, right: Compiled) -> str:
    if left.explicit_collation:
        return left.collation
    if right.explicit_collation:
        return right.collation
    return left.collation or right.collation or "BINARY"


def _hash_key_function(collation: str):
    """A hashable key such that equal keys <=> equal under the collation."""
    if collation == "NOCASE":
        table = {i: i + 32 for i in range(65, 91)}
        return lambda v: v.translate(table) if type(v) is str else v
    if collation == "RTRIM":
        return lambda v: v.rstrip(" ") if type(v) is str else v
    return lambda v: v


def _type_text(datatype) -> str:
    """The type name of a CAST target as SQLite sees it (affinity by name rules)."""
    if isinstance(datatype, exp.DataType):
        text = datatype.sql(dialect="sqlite")
        return text
    return str(datatype)


def _changes(compiler, args):
    session = compiler.rt.session
    if args:
        raise OperationalError("wrong number of arguments to function changes()")
    return Compiled(lambda row: session.changes if session else 0)


def _total_changes(compiler, args):
    session = compiler.rt.session
    if args:
        raise OperationalError("wrong number of arguments to function total_changes()")
    return Compiled(lambda row: session.total_changes if session else 0)


def _last_insert_rowid(compiler, args):
    session = compiler.rt.session
    if args:
        raise OperationalError("wrong number of arguments to function last_insert_rowid()")
    return Compiled(lambda row: session.last_insert_rowid if session else 0)


_WINDOW_ONLY = frozenset(("row_number", "rank", "dense_rank", "percent_rank", "cume_dist",
                          "ntile", "lag", "lead", "first_value", "last_value", "nth_value"))

_CONTEXT_FUNCTIONS = {
    "changes": _changes,
    "total_changes": _total_changes,
    "last_insert_rowid": _last_insert_rowid,
}

_ARITH = {exp.Add: ops.add, exp.Sub: ops.sub, exp.Mul: ops.mul, exp.Div: ops.div,
          exp.Mod: ops.mod, exp.BitwiseAnd: ops.bitand, exp.BitwiseOr: ops.bitor,
          exp.BitwiseLeftShift: ops.lshift, exp.BitwiseRightShift: ops.rshift}
def _merged_column(slots, cell):
    """Reader of a USING column merged by RIGHT/FULL joins: the first non-NULL of
    ``slots`` (one slot after a RIGHT join); from ``cell`` when correlated."""
    if len(slots) == 1:
        (j,) = slots
        if cell is None:
            return operator.itemgetter(j)
        return lambda row: cell[0][j]

    def read(row):
        if cell is not None:
            row = cell[0]
        for j in slots:
            v = row[j]
            if v is not None:
                return v
        return None
    return read


_COMPARE = {exp.EQ: ops.eq, exp.NEQ: ops.ne, exp.LT: ops.lt, exp.LTE: ops.le,
            exp.GT: ops.gt, exp.GTE: ops.ge, exp.NullSafeEQ: ops.is_,
            exp.NullSafeNEQ: ops.is_not}

_NUMERIC_OPS = {ops.eq: operator.eq, ops.ne: operator.ne, ops.lt: operator.lt,
                ops.le: operator.le, ops.gt: operator.gt, ops.ge: operator.ge}
_REVERSED_OPS = {ops.eq: ops.eq, ops.ne: ops.ne, ops.lt: ops.gt, ops.le: ops.ge,
                 ops.gt: ops.lt, ops.ge: ops.le}


def _numeric_constant_comparison(left: Compiled, right: Compiled, op, aff):
    """``expr OP number`` (either side constant) as one closure that compares ints and
    floats directly, or None when the shape does not apply.

    Valid when the comparison affinity is NUMERIC or none (the caller checks): a number
    then meets no conversion and no collation, and Python's int/float comparison is
    exact, as sqlite3IntFloatCompare is. Other values (NULL, text, blobs) take the
    general path (NUMERIC affinity applied; the constant, a number, needs none, and
    collations only matter between two texts). Saves the ``compare`` dispatch per
    row on the commonest WHERE shape. Only literals are ``constant``, so evaluating
    one here cannot raise nor change meaning."""
    if right.constant and not left.constant:
        expr, const, general = left.fn, right.fn(None), op
    elif left.constant and not right.constant:
        expr, const, general = right.fn, left.fn(None), _REVERSED_OPS[op]
    else:
        return None
    if type(const) not in (int, float) or const != const:
        return None
    pyop = _NUMERIC_OPS[general]
    int_, float_ = int, float
    conv = ops.apply_comparison_affinity

    def compare_number(row):
        v = expr(row)
        t = type(v)
        if t is int_ or t is float_:
            return 1 if pyop(v, const) else 0
        if aff is not None:
            v = conv(v, aff)
        return general(v, const)
    return compare_number


_HANDLERS = {
    exp.Literal: ExprCompiler._literal,
    exp.Null: ExprCompiler._null,
    exp.Boolean: ExprCompiler._boolean,
    exp.HexString: ExprCompiler._hexstring,
    Variable: ExprCompiler._variable,
    exp.Column: ExprCompiler._column,
    exp.Paren: ExprCompiler._paren,
    exp.Alias: ExprCompiler._alias,
    exp.DPipe: ExprCompiler._concat,
    exp.Neg: ExprCompiler._neg,
    exp.BitwiseNot: ExprCompiler._bitnot,
    exp.Is: ExprCompiler._is,
    exp.And: ExprCompiler._and,
    exp.Or: ExprCompiler._or,
    exp.Not: ExprCompiler._not,
    exp.Between: ExprCompiler._between,
    exp.Like: ExprCompiler._like,
    exp.Escape: ExprCompiler._escape,
    exp.Glob: ExprCompiler._glob,
    exp.Collate: ExprCompiler._collate,
    exp.Cast: ExprCompiler._cast,
    exp.Case: ExprCompiler._case,
    exp.In: ExprCompiler._in,
    exp.Exists: ExprCompiler._exists,
    exp.Subquery: ExprCompiler._subquery,
    exp.Anonymous: ExprCompiler._function,
    exp.Filter: ExprCompiler._filter,
    UnaryPlus: ExprCompiler._unary_plus,
    exp.JSONExtract: lambda c, n: c._json_arrow(n, False),
    exp.JSONExtractScalar: lambda c, n: c._json_arrow(n, True),
    exp.Lambda: ExprCompiler._lambda,
    exp.CurrentTimestamp: ExprCompiler._current,
    exp.CurrentDate: ExprCompiler._current,
    exp.CurrentTime: ExprCompiler._current,
    exp.Window: ExprCompiler._window,
    exp.Star: ExprCompiler._star,
}
for _k in _ARITH:
    _HANDLERS[_k] = ExprCompiler._arith
for _k in _COMPARE:
    _HANDLERS[_k] = ExprCompiler._compare
