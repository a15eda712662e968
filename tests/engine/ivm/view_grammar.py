"""Random schemas, materialized-view queries and write workloads for the IVM
invariant suites, plus the sqlite3 oracle's comparison rules.

The invariant (DESIGN.md, "Invariants"): after every commit, a materialized view's
contents equal its SELECT re-run by stdlib sqlite3 on the same data, compared as a
type-strict multiset. The generator only writes queries whose result SQLite fully
determines, so any difference is a bug:

* data: NULLs, duplicates, small integers (joins match), floats that are exact,
  never-integral binary fractions (k/4: sums are exact in any order), short texts,
  a few blobs; some untyped columns are "mixed" (``Table.mixed``): they also hold
  integral floats (1.0, 0.0, -0.0, ...) next to equal integers;
* expressions in set positions (DISTINCT, compounds, GROUP BY keys, min/max,
  DISTINCT aggregates, UNION recursions) are "safe": they read no mixed column
  bare (``Gen.safe_ref``) and cannot turn non-integral floats into integral ones,
  since a set holding 1 and 1.0 keeps an unspecified one of them;
* window functions order their rows by the sources' rowids last whenever peers'
  order could matter (ROWS frames, row_number, ntile, lag/lead, value functions);
* WITH RECURSIVE: UNION closures over any data, UNION ALL only with a bound;
* sum/total/avg take exact arguments; group_concat is compared as the sorted list of
  its parts (its order is unspecified); ORDER BY ... LIMIT views order by a unique
  key (rowids, or every output column of a set) so the cut is determined;
* RIGHT/FULL joins only in two-source FROM clauses (SQLite 3.40 bugs otherwise).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from hypothesis import strategies as st

TABLE_NAMES = ("t1", "t2", "t3")
COLUMN_POOL = ("a", "b", "c", "d")
DECL_TYPES = ("", "", "INTEGER", "INT", "TEXT", "REAL", "NUMERIC")
INTS = (-2, -1, 0, 1, 1, 2, 3)
FRACTIONS = (0.25, 0.5, -0.75, 1.5, 2.25)   # exact binary fractions, never integral
INTEGRAL_FLOATS = (1.0, 0.0, -0.0, 2.0, -1.0)  # only in mixed (untyped) columns
TEXTS = ("", "a", "b", "A", "ab", "1", "x y")
BLOBS = (b"a", b"ab")
OVERFLOW = "abs(-9223372036854775807 - 1)"  # SQLite: "integer overflow" at run time
CONCAT_SEP = "|"   # no generated text contains it or ','

# Known bugs the grammar steers around, each reproduced by a strict xfail test in
# test_invariant_circuits.py: when one XPASSes, drop its entry. (Fixed and kept there as
# regression tests: distinct-numeric-aggregate, full-join-ordered-aggregate,
# group-by-constant, full-join-derived-left.)
# (also fixed: zset-int-real-merge by engine.ivm.rows.StrictRow, having-without-aggregate,
# window-sum-inverse-type: sliding frames visit every row as SQLite's cursors do;
# window-output-int-real-cancel: window output rows are type-strict;
# compound-subquery-affinity: a compound read as a FROM item applies its first arm's
# REAL affinity, QueryPlan.real_columns / Rel.real_columns)
KNOWN_BUGS: set = set()


def sql_literal(v) -> str:
    """SQL text for a generated value (floats here print exactly)."""
    if v is None:
        return "NULL"
    if isinstance(v, bytes):
        return "X'" + v.hex() + "'"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    return repr(v) if v >= 0 else f"({v!r})"


def value_strategy(decl: str, mixed: bool = False):
    """Values to store in a column declared ``decl``. A REAL column never receives an
    integer (it would store an integral float, see the module docstring); a mixed
    column also receives integral floats."""
    if decl == "REAL":
        return st.one_of(st.none(), st.sampled_from(FRACTIONS), st.sampled_from(TEXTS[:3]))
    if mixed:
        return st.one_of(st.none(), st.sampled_from(INTS), st.sampled_from(INTEGRAL_FLOATS),
                         st.sampled_from(INTEGRAL_FLOATS), st.sampled_from(FRACTIONS),
                         st.sampled_from(TEXTS), st.sampled_from(BLOBS))
    return st.one_of(st.none(), st.sampled_from(INTS), st.sampled_from(INTS),
                     st.sampled_from(FRACTIONS), st.sampled_from(TEXTS),
                     st.sampled_from(BLOBS))


# -- schemas -----------------------------------------------------------------------------

@dataclass
class Table:
    name: str
    columns: list[str]
    decls: list[str]
    mixed: set = field(default_factory=set)   # untyped columns holding integral floats

    def create_sql(self) -> str:
        body = ", ".join(f"{c} {d}".strip() for c, d in zip(self.columns, self.decls))
        return f"CREATE TABLE {self.name}({body})"

    def decl(self, column: str) -> str:
        return self.decls[self.columns.index(column)]


@dataclass
class Schema:
    """Tables plus an optional plain view ``pv`` (columns ``a``, ``b``) that views
    may read (views over views)."""

    tables: list[Table]
    base_view: str | None = None

    def setup_sql(self) -> list[str]:
        out = [t.create_sql() for t in self.tables]
        if self.base_view:
            out.append(self.base_view)
        return out


@st.composite
def schemas(draw):
    """2-3 tables of 2-3 columns from a shared name pool, random declared types (some
    none, so a column holds mixed storage classes); maybe a plain view over one."""
    n = draw(st.integers(2, 3))
    tables = []
    for name in TABLE_NAMES[:n]:
        cols = sorted(draw(st.sets(st.sampled_from(COLUMN_POOL), min_size=2, max_size=3)))
        decls = [draw(st.sampled_from(DECL_TYPES)) for _ in cols]
        mixed = {c for c, d in zip(cols, decls) if d == "" and draw(st.booleans())}
        tables.append(Table(name, cols, decls, mixed))
    schema = Schema(tables)
    if draw(st.booleans()):
        gen = Gen(draw, schema)
        t = gen.pick(tables)
        scope = gen.table_scope(t, "pt")
        if gen.chance(2):
            key = gen.group_key(scope)
            body = (f"SELECT {key} AS a, count(*) AS b FROM {t.name} AS pt "
                    f"GROUP BY {key}")
        else:
            where = f" WHERE {gen.pred(scope)}" if gen.chance(2) else ""
            body = (f"SELECT {gen.expr(scope, 1, safe=True)} AS a, "
                    f"{gen.expr(scope, 2, safe=True)} AS b FROM {t.name} AS pt{where}")
        schema.base_view = f"CREATE VIEW pv AS {body}"
    return schema


# -- views -----------------------------------------------------------------------------------

@dataclass
class ViewSpec:
    """A generated view: its SELECT and the output columns holding group_concat
    results (position -> separator), compared as sorted parts."""

    sql: str
    concat: dict[int, str] = field(default_factory=dict)


# abs() is not safe: abs('1') is the REAL 1.0, equal to an INTEGER 1 of another row.
SAFE_FUNCS = {"coalesce": 2, "ifnull": 2, "nullif": 2, "length": 1, "lower": 1,
              "upper": 1, "typeof": 1, "max": 2, "min": 2, "instr": 2, "trim": 1}
COMPARE_OPS = ("=", "<>", "<", "<=", ">", ">=", "IS", "IS NOT")


class Gen:
    """Draws SQL text; ``scope`` is the list of qualified column references visible."""

    def __init__(self, draw, schema: Schema):
        self.draw = draw
        self.schema = schema
        self.n_alias = 0
        self.subqueries = False  # subquery predicates: views' WHERE, ON, HAVING
        self.mixed_refs: set = set()  # qualified references to mixed columns

    def table_scope(self, table: Table, alias: str) -> list:
        """``alias.column`` references of ``table``, noting the mixed ones."""
        self.mixed_refs.update(f"{alias}.{c}" for c in table.mixed)
        return [f"{alias}.{c}" for c in table.columns]

    def safe_ref(self, scope) -> str:
        """A column reference fit for a set position: not a mixed column (where 1 and
        1.0 are equal but different), or one made a text that no arithmetic turns back
        into a number (1.0 -> 'real1.0', 1 -> 'integer1')."""
        plain = [c for c in scope if c not in self.mixed_refs]
        if plain and not self.chance(8):
            return self.pick(plain)
        ref = self.pick(scope)
        return f"(typeof({ref}) || {ref})"

    def pick(self, seq):
        return self.draw(st.sampled_from(list(seq)))

    def chance(self, n) -> bool:
        """True with probability 1/n."""
        return self.draw(st.integers(0, n - 1)) == 0

    def alias(self, prefix="x") -> str:
        self.n_alias += 1
        return f"{prefix}{self.n_alias}"

    # -- expressions ---------------------------------------------------------------------

    def literal(self, safe=True):
        v = self.draw(st.sampled_from((None,) + INTS + INTS + TEXTS[1:4] + FRACTIONS[:3]))
        return sql_literal(v)

    def expr(self, scope, depth=2, safe=False):
        """A scalar expression; ``safe`` ones never make an integral float out of
        non-integral ones (no *, /, round, CAST AS REAL, float arithmetic)."""
        safe = safe or "zset-int-real-merge" in KNOWN_BUGS
        if depth <= 0 or self.chance(3):
            if not scope or self.chance(6):
                return self.literal()
            return self.safe_ref(scope) if safe else self.pick(scope)
        e = lambda: self.expr(scope, depth - 1, safe)  # noqa: E731 - local shorthand
        kind = self.draw(st.integers(0, 9 if safe else 12))
        if kind == 0:
            return f"({e()} {self.pick(('+', '-'))} {self.pick(INTS[2:])})"
        if kind == 1:
            return f"({e()} || {e()})"
        if kind == 2:
            return f"({e()} {self.pick(COMPARE_OPS)} {e()})"
        if kind == 3:
            arms = " ".join(f"WHEN {self.pred(scope, 1)} THEN {e()}"
                            for _ in range(self.draw(st.integers(1, 2))))
            tail = f" ELSE {e()}" if self.chance(2) else ""
            return f"(CASE {arms}{tail} END)"
        if kind in (4, 5, 6):
            name = self.pick(sorted(SAFE_FUNCS))
            return f"{name}({', '.join(e() for _ in range(SAFE_FUNCS[name]))})"
        if kind == 7:
            return f"substr({e()}, {self.pick((1, 2))}, {self.pick((1, 2))})"
        if kind == 8:
            return f"iif({self.pred(scope, 1)}, {e()}, {e()})"
        if kind == 9:
            return f"CAST({e()} AS {self.pick(('TEXT', 'INTEGER', 'NUMERIC'))})"
        if kind == 10:
            return f"({e()} {self.pick(('*', '/', '%', '+', '-'))} {e()})"
        if kind == 11:
            return f"{self.pick(('round', 'abs'))}({e()})"
        return f"CAST({e()} AS REAL)"

    def pred(self, scope, depth=2):
        """A boolean condition; in a view's WHERE (``self.subqueries``) maybe an IN /
        EXISTS / scalar subquery, correlated or not."""
        if self.subqueries and depth > 0 and self.chance(4):
            return self.subquery_pred(scope)
        kind = self.draw(st.integers(0, 7 if depth > 0 else 4))
        x = self.expr(scope, 1, safe=False)
        if kind in (0, 1):
            return f"{x} {self.pick(COMPARE_OPS)} {self.pick((self.literal(), self.expr(scope, 1)))}"
        if kind == 2:
            return f"{x} IS {self.pick(('', 'NOT '))}NULL"
        if kind == 3:
            return f"{x} {self.pick(('', 'NOT '))}LIKE {self.pick((repr('a%'), repr('%b'), repr('_')))}"
        if kind == 4:
            items = ", ".join(self.literal() for _ in range(self.draw(st.integers(1, 3))))
            return f"{x} {self.pick(('', 'NOT '))}IN ({items})"
        if kind == 5:
            return f"{x} BETWEEN {self.literal()} AND {self.literal()}"
        if kind == 6:
            return f"NOT ({self.pred(scope, depth - 1)})"
        return (f"({self.pred(scope, depth - 1)} {self.pick(('AND', 'OR'))} "
                f"{self.pred(scope, depth - 1)})")

    def group_key(self, scope):
        """A set-safe GROUP BY key that references a column (a constant key is a
        different feature: see test_known_bugs)."""
        key = self.expr(scope, 1, safe=True)
        # an integer literal would be an ordinal (SQLite: "term out of range")
        return key if any(c in key for c in scope) else self.safe_ref(scope)

    def with_column(self, expr, scope):
        """``expr`` if it references a column, else a column."""
        return expr if any(c in expr for c in scope) else self.pick(scope)

    def where(self, scope, n):
        """A view's WHERE clause (subquery predicates allowed) with probability 1/n."""
        if not self.chance(n):
            return ""
        self.subqueries = True
        try:
            return f" WHERE {self.pred(scope)}"
        finally:
            self.subqueries = False

    def subquery_pred(self, scope):
        """IN / EXISTS / a scalar subquery compared; correlated to ``scope`` (the
        outer references allowed: a grouped query's plain-column keys) or not."""
        outer = lambda: self.pick(scope) if scope else self.literal()  # noqa: E731
        kind = self.draw(st.integers(0, 2))
        if kind == 0:
            return f"{outer()} {self.subquery_in(scope)}"
        if kind == 1:
            return f"{self.pick(('', 'NOT '))}{self.subquery_exists(scope)}"
        return f"{self.subquery_scalar(scope)} {self.pick(COMPARE_OPS)} {outer()}"

    def subquery_from(self, scope):
        """``(FROM ... [WHERE correlation], inner scope, alias)`` of a subquery."""
        t = self.pick(self.schema.tables)
        al = self.alias("q")
        inner = self.table_scope(t, al)
        corr = ""
        if scope and self.chance(2):
            corr = f" WHERE {self.pick(inner)} {self.pick(('=', '=', '<'))} {self.pick(scope)}"
        return f"FROM {t.name} AS {al}{corr}", inner, al

    def subquery_in(self, scope):
        from_sql, inner, _ = self.subquery_from(scope)
        return f"{self.pick(('', 'NOT '))}IN (SELECT {self.pick(inner)} {from_sql})"

    def subquery_exists(self, scope):
        from_sql, _, _ = self.subquery_from(scope)
        return f"EXISTS (SELECT 1 {from_sql})"

    def subquery_scalar(self, scope):
        """A scalar subquery whose value is determined: an aggregate, or the first row
        in rowid order."""
        from_sql, inner, al = self.subquery_from(scope)
        kind = self.draw(st.integers(0, 3))
        if kind == 3:
            return (f"(SELECT {self.safe_ref(inner)} {from_sql} ORDER BY {al}.rowid"
                    f"{self.pick(('', ' DESC'))} LIMIT 1)")
        agg = ("count(*)", f"max({self.safe_ref(inner)})", f"min({self.safe_ref(inner)})")[kind]
        return f"(SELECT {agg} {from_sql})"

    def subquery_expr(self, scope):
        """A subquery in a select list (its value is set-safe)."""
        kind = self.draw(st.integers(0, 2))
        if kind == 0:
            return self.subquery_exists(scope)
        if kind == 1:
            return f"({self.safe_ref(scope) if scope else self.literal()} {self.subquery_in(scope)})"
        return self.subquery_scalar(scope)

    def exact_arg(self, scope, safe=True):
        """An aggregate argument whose sums are exact (and set-safe if ``safe``)."""
        col = self.safe_ref(scope) if safe else self.pick(scope)
        kind = self.draw(st.integers(0, 3))
        if kind == 0:
            return f"{col} + {self.pick(INTS[2:])}"
        if kind == 1:
            return f"CASE WHEN {self.pred(scope, 0)} THEN {col} ELSE {self.pick(INTS)} END"
        return col

    def aggregate(self, scope, top: bool, full_join=False):
        """``(sql, separator or None)``: one aggregate call. Nested (``top`` False),
        no float-valued or order-dependent results are produced."""
        filt = f" FILTER (WHERE {self.pred(scope, 1)})" if self.chance(4) else ""
        names = ["count*", "count", "min", "max", "concat"]
        if top:
            names += ["sum", "total", "avg", "sum"]
        name = self.pick(names)
        dist = "DISTINCT " if self.chance(3) else ""
        # min/max ties and DISTINCT keep one of 1 and 1.0: set-safe arguments
        arg = self.exact_arg(scope, safe=bool(dist) or name in ("min", "max"))
        if name == "count*":
            return f"count(*){filt}", None
        if name == "concat" and full_join and "full-join-ordered-aggregate" in KNOWN_BUGS:
            name = "count"
        if name in ("sum", "total", "avg") and "distinct-numeric-aggregate" in KNOWN_BUGS:
            dist = ""
        if name == "concat":
            if dist:
                call, sep = f"group_concat(DISTINCT {arg}){filt}", ","
            else:
                call, sep = f"group_concat({arg}, '{CONCAT_SEP}'){filt}", CONCAT_SEP
            if top:
                return call, sep
            return f"length({call})", None
        if name in ("min", "max"):
            return f"{name}({arg}){filt}", None
        if name in ("sum", "total", "avg") and not top:
            name = "count"
        return f"{name}({dist}{arg}){filt}", None

    # -- FROM ------------------------------------------------------------------------------

    def source(self, ctes, tables_only=False):
        """``(sql, alias, columns, has_rowid)`` for one FROM item."""
        alias = self.alias()
        kinds = ["table"] * 4
        if not tables_only:
            kinds += ["sub"] + (["view"] if self.schema.base_view else []) + \
                (["cte"] if ctes else [])
        kind = self.pick(kinds)
        if kind == "table":
            t = self.pick(self.schema.tables)
            self.table_scope(t, alias)
            return f"{t.name} AS {alias}", alias, list(t.columns), True
        if kind == "view":
            return f"pv AS {alias}", alias, ["a", "b"], False
        if kind == "cte":
            name = self.pick(ctes)
            return f"{name} AS {alias}", alias, ["a", "b"], False
        return f"({self.two_column_select()}) AS {alias}", alias, ["a", "b"], False

    def two_column_select(self):
        """A SELECT with output columns ``a`` and ``b`` (for FROM subqueries and CTEs)."""
        t = self.pick(self.schema.tables)
        al = self.alias("s")
        scope = self.table_scope(t, al)
        kind = self.draw(st.integers(0, 2))
        where = f" WHERE {self.pred(scope, 1)}" if self.chance(2) else ""
        if kind == 0:
            key = self.group_key(scope)
            agg, _ = self.aggregate(scope, top=False)
            return f"SELECT {key} AS a, {agg} AS b FROM {t.name} AS {al}{where} GROUP BY {key}"
        distinct = "DISTINCT " if kind == 1 else ""
        safe = True  # its columns feed set positions (GROUP BY, DISTINCT) of the view
        return (f"SELECT {distinct}{self.expr(scope, 1, safe)} AS a, "
                f"{self.expr(scope, 2, safe)} AS b FROM {t.name} AS {al}{where}")

    def on_condition(self, left_scope, right_scope):
        kind = self.draw(st.integers(0, 6))
        lc, rc = self.pick(left_scope), self.pick(right_scope)
        if kind <= 1:
            return f"{lc} = {rc}"
        if kind == 2:
            return f"{lc} = {rc} AND {self.pred(left_scope + right_scope, 1)}"
        if kind == 3:
            return f"{lc} {self.pick(('<', '<=', '>', '<>'))} {rc}"
        if kind == 4:
            return f"({lc} = {rc} OR {self.pick(left_scope)} = {self.pick(right_scope)})"
        if kind == 5:
            # a subquery in ON, correlated to either side (filters before padding)
            return f"{lc} = {rc} AND {self.subquery_pred(left_scope + right_scope)}"
        return self.pred(left_scope + right_scope, 1)

    def from_clause(self, ctes, tables_only=False, max_sources=3):
        """FROM with 1-3 items and random join kinds (inner, LEFT, RIGHT, FULL, CROSS,
        comma, non-equi, self joins by drawing a table twice). Returns ``(sql, scope,
        rowid refs)``; rowid refs are None when a source has no rowid."""
        n = self.draw(st.integers(1, max_sources))
        sql, alias, cols, has_rowid = self.source(ctes, tables_only)
        scope = [f"{alias}.{c}" for c in cols]
        rowids = [f"{alias}.rowid"] if has_rowid else None
        for _ in range(n - 1):
            rsql, ralias, rcols, r_rowid = self.source(ctes, tables_only)
            rscope = [f"{ralias}.{c}" for c in rcols]
            kinds = ["JOIN", "JOIN", "LEFT JOIN", "CROSS JOIN", ","]
            if n == 2:
                kinds += ["RIGHT JOIN"]
                if has_rowid or "full-join-derived-left" not in KNOWN_BUGS:
                    kinds.append("FULL JOIN")
            kind = self.pick(kinds)
            if kind == ",":
                sql += f", {rsql}"
            elif kind == "CROSS JOIN":
                sql += f" CROSS JOIN {rsql}"
            else:
                sql += f" {kind} {rsql} ON {self.on_condition(scope, rscope)}"
            scope += rscope
            rowids = rowids + [f"{ralias}.rowid"] if rowids is not None and r_rowid else None
        return sql, scope, rowids

    # -- views -------------------------------------------------------------------------------

    def core(self, ctes, ncols, safe, distinct_ok=True, plus=""):
        """A plain SELECT core with ``ncols`` outputs ``c0..``; no aggregates. ``plus``
        ("+") makes every output a no-affinity expression."""
        from_sql, scope, _ = self.from_clause(ctes)
        where = self.where(scope, 3)
        distinct = "DISTINCT " if distinct_ok and self.chance(3) else ""
        items = [self.subquery_expr(scope) if self.chance(6) else
                 self.expr(scope, 2, safe or bool(distinct)) for _ in range(ncols)]
        sel = ", ".join(f"{plus}{e} AS c{i}" for i, e in enumerate(items))
        return f"SELECT {distinct}{sel} FROM {from_sql}{where}"

    def aggregate_core(self, ctes, top, tables_only=False, min_keys=0):
        """``(sql, concat columns, number of keys, ncols)`` of a GROUP BY query whose
        first outputs are its keys."""
        from_sql, scope, _ = self.from_clause(ctes, tables_only)
        where = self.where(scope, 3)
        nkeys = self.draw(st.integers(min_keys, 2))
        keys = [self.group_key(scope) for _ in range(nkeys)]
        items, concat = list(keys), {}
        full = "FULL JOIN" in from_sql
        # outer references of a grouped query's subqueries: keys that are plain columns
        # (any other column would be a bare column: its value is some row's)
        plain_keys = [k for k in keys if k in scope]
        for _ in range(self.draw(st.integers(1, 3))):
            # (with no aggregate in the select list the query would not be an aggregate
            # one: SQLite rejects its HAVING, see KNOWN_BUGS "having-without-aggregate")
            if len(items) > nkeys and self.chance(5):
                items.append(self.subquery_expr(plain_keys))
                continue
            agg, sep = self.aggregate(scope, top, full)
            if sep is not None:
                concat[len(items)] = sep
            items.append(agg)
        group = f" GROUP BY {', '.join(keys)}" if keys else ""
        having = ""
        if self.chance(3):
            agg, _ = self.aggregate(scope, top=False, full_join=full)
            having = f" HAVING {agg} {self.pick(('>', '<=', '=', '<>'))} {self.pick((0, 1, 2))}"
            if self.chance(3):
                having += f" {self.pick(('AND', 'OR'))} {self.subquery_pred(plain_keys)}"
        sel = ", ".join(f"{e} AS c{i}" for i, e in enumerate(items))
        return (f"SELECT {sel} FROM {from_sql}{where}{group}{having}", concat, nkeys,
                len(items))

    def compound(self, ctes, ncols):
        arms = []
        for n in range(self.draw(st.integers(2, 3))):
            # the first arm's columns have no affinity (see KNOWN_BUGS
            # "compound-subquery-affinity": read through a view, SQLite applies it)
            plus = "+" if n == 0 and "compound-subquery-affinity" in KNOWN_BUGS else ""
            if self.chance(4):
                from_sql, scope, _ = self.from_clause(ctes, max_sources=1)
                key = self.group_key(scope)
                cols = [key] + [self.aggregate(scope, top=False)[0] for _ in range(ncols - 1)]
                sel = ", ".join(f"{plus}{e} AS c{i}" for i, e in enumerate(cols))
                arms.append(f"SELECT {sel} FROM {from_sql} GROUP BY {key}")
            else:
                arms.append(self.core(ctes, ncols, safe=True, distinct_ok=False, plus=plus))
        sql = arms[0]
        for arm in arms[1:]:
            sql += f" {self.pick(('UNION', 'UNION ALL', 'INTERSECT', 'EXCEPT'))} {arm}"
        return sql

    def order_terms(self, positions):
        out = []
        for p in positions:
            term = str(p) + self.pick(("", " ASC", " DESC"))
            out.append(term + self.pick(("", "", " NULLS FIRST", " NULLS LAST")))
        return out

    def limit(self):
        text = f" LIMIT {self.draw(st.integers(0, 5)) or 3}"
        if self.chance(2):
            text += f" OFFSET {self.draw(st.integers(0, 3))}"
        return text

    # -- window functions ----------------------------------------------------------------

    FRAME_BOUNDS = ("UNBOUNDED PRECEDING", "{k} PRECEDING", "CURRENT ROW", "{k} FOLLOWING",
                    "UNBOUNDED FOLLOWING")

    def frame(self, unit, order_terms):
        """A frame clause of ``unit`` (ROWS/RANGE/GROUPS), maybe with EXCLUDE. RANGE
        takes offsets only with one ORDER BY term (SQLite's rule)."""
        bounds = self.FRAME_BOUNDS
        if unit == "RANGE" and len(order_terms) != 1:
            bounds = (bounds[0], bounds[2], bounds[4])
        start = self.draw(st.integers(0, len(bounds) - 2))
        end = self.draw(st.integers(max(start, 1), len(bounds) - 1))
        k = lambda: self.pick((0, 1, 2))  # noqa: E731
        lo, hi = bounds[start].format(k=k()), bounds[end].format(k=k())
        if end == start + 1 and bounds[end] == "CURRENT ROW" and self.chance(2):
            text = f"{unit} {lo}"   # the short form: BETWEEN lo AND CURRENT ROW
        else:
            text = f"{unit} BETWEEN {lo} AND {hi}"
        if self.chance(4):
            text += " EXCLUDE " + self.pick(("NO OTHERS", "CURRENT ROW", "GROUP", "TIES"))
        return text

    def window_call(self, scope, rowids, order_pool, group_scope=None):
        """``(sql, separator or None)``: one window function call with its OVER clause.
        ``order_pool`` draws ORDER BY terms; ``rowids`` (a unique key) end the ORDER BY
        whenever the order of peers could change the result. ``group_scope``: the
        arguments of a window over a GROUP BY (aggregates or keys)."""
        arg_scope = group_scope or scope
        kind = self.pick(("rank", "rank", "value", "value", "agg", "agg", "agg"))
        sep = None
        needs_order = True       # peers' order matters
        frame_ok = False
        if kind == "rank":
            name = self.pick(("row_number", "rank", "dense_rank", "percent_rank",
                              "cume_dist", "ntile"))
            call = f"ntile({self.pick((1, 2, 3))})" if name == "ntile" else f"{name}()"
            needs_order = name in ("row_number", "ntile")
        elif kind == "value":
            # (safe: a neighbour's 1 -> 1.0 would change a slot's type only, see
            # KNOWN_BUGS "window-output-int-real-cancel")
            x = self.expr(arg_scope, 1, safe="window-output-int-real-cancel" in KNOWN_BUGS)
            name = self.pick(("lag", "lead", "first_value", "last_value", "nth_value"))
            if name in ("lag", "lead"):
                extra = self.pick(("", f", {self.pick((1, 2))}",
                                   f", {self.pick((0, 1))}, {self.literal()}"))
                call = f"{name}({x}{extra})"
            else:
                call = f"nth_value({x}, {self.pick((1, 2))})" if name == "nth_value" \
                    else f"{name}({x})"
                frame_ok = True
        else:
            frame_ok = True
            name = self.pick(("count*", "count", "sum", "total", "avg", "min", "max", "concat"))
            if group_scope is not None:
                arg = self.pick(group_scope)
            else:
                arg = self.exact_arg(scope, safe=name in ("min", "max"))
            call = {"count*": "count(*)", "concat": f"group_concat({arg}, '{CONCAT_SEP}')"}.get(
                name, f"{name}({arg})")
            if name == "concat":
                sep = CONCAT_SEP
            # (SQLite 3.40 ignores FILTER on min/max over a sliding frame: not generated)
            if self.chance(4) and group_scope is None and name not in ("min", "max"):
                call += f" FILTER (WHERE {self.pred(scope, 1)})"
            needs_order = False
        partition = [self.safe_ref(order_pool) if group_scope is None else self.pick(order_pool)
                     for _ in range(self.draw(st.integers(0, 1 if order_pool else 0)))]
        terms = [f"{self.pick(order_pool)}{self.pick(('', ' DESC'))}"
                 f"{self.pick(('', '', ' NULLS FIRST', ' NULLS LAST'))}"
                 for _ in range(self.draw(st.integers(0, 2)))]
        unit = self.pick(("ROWS", "RANGE", "GROUPS")) if frame_ok and self.chance(2) else None
        if unit == "ROWS" or kind == "value":
            needs_order = True   # lag/lead and first/last/nth_value read peers in order
        if needs_order or self.chance(3):
            terms += [r + self.pick(("", " DESC")) for r in rowids]
        if unit == "GROUPS" and not terms:
            unit = None
        over = []
        if partition:
            over.append(f"PARTITION BY {', '.join(partition)}")
        if terms:
            over.append(f"ORDER BY {', '.join(terms)}")
        if unit is not None:
            frame = self.frame(unit, terms)
            over.append(frame)
            sliding = "BETWEEN UNBOUNDED PRECEDING" not in frame and \
                frame != f"{unit} UNBOUNDED PRECEDING"
            if call.startswith("sum(") and sliding and "window-sum-inverse-type" in KNOWN_BUGS:
                call = "total(" + call[4:]
        if call.startswith("sum(") and "window-output-int-real-cancel" in KNOWN_BUGS:
            call = "total(" + call[4:]   # total() is always REAL
        return f"{call} OVER ({' '.join(over)})", sep

    def window_view(self, ncols) -> ViewSpec:
        """Plain columns plus window calls over a FROM of tables (rowids order peers)."""
        from_sql, scope, rowids = self.from_clause([], tables_only=True, max_sources=2)
        where = self.where(scope, 3)
        pool = [self.with_column(self.expr(scope, 1), scope) for _ in range(3)]
        items, concat = [self.expr(scope, 1) for _ in range(ncols - 1)], {}
        for _ in range(self.draw(st.integers(1, 3))):
            call, sep = self.window_call(scope, rowids, pool)
            if sep:
                concat[len(items)] = sep
            elif self.chance(5):
                call = f"{call} * 10 + 1"
            items.append(call)
        sel = ", ".join(f"{e} AS c{i}" for i, e in enumerate(items))
        return ViewSpec(f"SELECT {sel} FROM {from_sql}{where}", concat)

    def grouped_window_view(self) -> ViewSpec:
        """Window calls over a GROUP BY: ordered by the keys (unique per group)."""
        from_sql, scope, _ = self.from_clause([], tables_only=True, max_sources=2)
        keys = [self.group_key(scope) for _ in range(self.draw(st.integers(1, 2)))]
        aggs = [self.aggregate(scope, top=False)[0] for _ in range(self.draw(st.integers(1, 2)))]
        items, concat = keys + aggs, {}
        for _ in range(self.draw(st.integers(1, 2))):
            call, sep = self.window_call(scope, keys, keys + aggs, group_scope=aggs + keys)
            if sep:
                concat[len(items)] = sep
            items.append(call)
        sel = ", ".join(f"{e} AS c{i}" for i, e in enumerate(items))
        return ViewSpec(f"SELECT {sel} FROM {from_sql} GROUP BY {', '.join(keys)}", concat)

    # -- WITH RECURSIVE ---------------------------------------------------------------------

    def recursive_view(self) -> ViewSpec:
        """A transitive closure (UNION: any data, cycles included) or a bounded UNION ALL
        (a depth counter), read plainly, aggregated or joined back to a table."""
        e, s0 = self.pick(self.schema.tables), self.pick(self.schema.tables)
        ea, sa = self.alias("e"), self.alias("s")
        escope, sscope = self.table_scope(e, ea), self.table_scope(s0, sa)
        # the seeds' columns lend their affinity to the steps' rows in SQLite (KNOWN_BUGS
        # "compound-subquery-affinity"): unary plus drops it
        seed = lambda: ("+" if "compound-subquery-affinity" in KNOWN_BUGS else "") + \
            self.safe_ref(sscope)  # noqa: E731
        src, dst = self.safe_ref(escope), self.safe_ref(escope)
        seed_where = f" WHERE {self.pred(sscope, 1)}" if self.chance(3) else ""
        kind = self.pick(("closure", "closure", "paths", "counter", "constant"))
        if kind == "closure":
            cols = "x, y"
            body = (f"SELECT {seed()}, {seed()} FROM {s0.name} AS "
                    f"{sa}{seed_where} UNION SELECT r.x, {dst} FROM r JOIN {e.name} AS {ea} "
                    f"ON r.y = {src}")
        elif kind == "paths":
            cols = "x, y, n"
            body = (f"SELECT {seed()}, {seed()}, 0 FROM {s0.name} "
                    f"AS {sa}{seed_where} UNION ALL SELECT r.x, {dst}, r.n + 1 FROM r, "
                    f"{e.name} AS {ea} WHERE {src} = r.y AND r.n < {self.pick((1, 2, 3))}")
        elif kind == "counter":
            cols = "x, y, n"
            body = (f"SELECT {seed()}, {seed()}, 0 FROM {s0.name} "
                    f"AS {sa}{seed_where} UNION{self.pick(('', ' ALL'))} SELECT "
                    f"{self.pick(('r.x', 'r.y'))}, r.y || 'a', r.n + 1 FROM r "
                    f"WHERE r.n < {self.pick((1, 2, 3))}")
        else:
            cols = "x, y, n"
            body = (f"SELECT 1, 1, 0 UNION ALL SELECT r.x + 1, r.y * 2, r.n + 1 FROM r "
                    f"WHERE r.n < {self.pick((2, 4))}")
        with_sql = f"WITH RECURSIVE r({cols}) AS ({body}) "
        outer = self.draw(st.integers(0, 3))
        if outer == 0:
            names = ", ".join(f"{c} AS c{i}" for i, c in enumerate(cols.split(", ")))
            return ViewSpec(f"{with_sql}SELECT {names} FROM r")
        if outer == 1:
            return ViewSpec(f"{with_sql}SELECT x AS c0, count(*) AS c1, max(y) AS c2 FROM r "
                            f"GROUP BY x")
        if outer == 2:
            return ViewSpec(f"{with_sql}SELECT count(*) AS c0, count(DISTINCT y) AS c1 FROM r")
        t = self.pick(self.schema.tables)
        al = self.alias("j")
        tscope = self.table_scope(t, al)
        return ViewSpec(f"{with_sql}SELECT r.x AS c0, {self.pick(tscope)} AS c1 FROM r "
                        f"JOIN {t.name} AS {al} "
                        f"ON {self.pick(tscope)} = r.y")

    def view(self) -> ViewSpec:
        """One view query (see the module docstring for what is generated)."""
        ctes, with_sql = [], ""
        if self.chance(4):
            ctes = ["q1"]
            with_sql = f"WITH q1 AS ({self.two_column_select()}) "
        kind = self.pick(("project", "project", "aggregate", "aggregate", "compound",
                          "topk", "topk_agg", "topk_distinct", "topk_compound", "window",
                          "window", "grouped_window", "recursive"))
        ncols = self.draw(st.integers(1, 3))
        if kind == "window":
            return self.window_view(ncols)
        if kind == "grouped_window":
            return self.grouped_window_view()
        if kind == "recursive":
            return self.recursive_view()
        if kind == "project":
            return ViewSpec(with_sql + self.core(ctes, ncols, safe=False))
        if kind == "aggregate":
            sql, concat, _, _ = self.aggregate_core(ctes, top=True)
            return ViewSpec(with_sql + sql, concat)
        if kind == "compound":
            return ViewSpec(with_sql + self.compound(ctes, ncols))
        if kind == "topk":
            # rowid order is unique: the cut is determined whatever the other terms
            from_sql, scope, rowids = self.from_clause(ctes, tables_only=True, max_sources=2)
            items = [self.expr(scope, 2) for _ in range(ncols)]
            where = self.where(scope, 2)
            # an integer literal term would name an output column: terms use columns
            terms = [f"{self.with_column(self.expr(scope, 1), scope)}{self.pick(('', ' DESC'))}"
                     for _ in range(self.draw(st.integers(0, 2)))]
            terms += [r + self.pick(("", " DESC")) for r in rowids]
            sel = ", ".join(f"{e} AS c{i}" for i, e in enumerate(items))
            return ViewSpec(f"{with_sql}SELECT {sel} FROM {from_sql}{where} "
                            f"ORDER BY {', '.join(terms)}{self.limit()}")
        if kind == "topk_agg":
            sql, concat, nkeys, _ = self.aggregate_core(ctes, top=True, min_keys=1)
            order = self.order_terms(range(1, nkeys + 1))
            return ViewSpec(f"{with_sql}{sql} ORDER BY {', '.join(order)}{self.limit()}", concat)
        if kind == "topk_distinct":
            from_sql, scope, _ = self.from_clause(ctes)
            items = [self.expr(scope, 2, safe=True) for _ in range(ncols)]
            sel = ", ".join(f"{e} AS c{i}" for i, e in enumerate(items))
            order = self.order_terms(self.draw(st.permutations(range(1, ncols + 1))))
            return ViewSpec(f"{with_sql}SELECT DISTINCT {sel} FROM {from_sql} "
                            f"ORDER BY {', '.join(order)}{self.limit()}")
        body = self.compound(ctes, ncols)
        if " UNION ALL " in body:
            body = body.replace(" UNION ALL ", " UNION ")  # a set: rows are unique
        order = self.order_terms(self.draw(st.permutations(range(1, ncols + 1))))
        return ViewSpec(f"{with_sql}{body} ORDER BY {', '.join(order)}{self.limit()}")


@st.composite
def views(draw, schema: Schema):
    return Gen(draw, schema).view()


# -- workloads --------------------------------------------------------------------------------

@dataclass
class Txn:
    """One step of a workload. ``kind``: "auto" (autocommit statements), "commit",
    "rollback", or "concurrent" (``stmts`` on connection A, ``other`` on B, both
    BEGIN CONCURRENT, committed in ``order``)."""

    kind: str
    stmts: list[str]
    other: list[str] = field(default_factory=list)
    order: str = "ab"

    def describe(self) -> str:
        if self.kind == "concurrent":
            return f"CONCURRENT(commit {self.order}) A={self.stmts} B={self.other}"
        return f"{self.kind.upper()} {self.stmts}"


class WorkloadGen(Gen):
    """Draws DML over the schema's tables."""

    def values_row(self, t: Table, cols):
        return "(" + ", ".join(sql_literal(self.draw(value_strategy(t.decl(c), c in t.mixed)))
                               for c in cols) + ")"

    def copy_source(self, t: Table, col: str, src: Table) -> str:
        """A column of ``src`` to copy into ``t.col``: only a mixed column may receive
        an integral float (an untyped column stores 1.0 as it is)."""
        if col in t.mixed or t.decl(col) in ("INTEGER", "INT", "NUMERIC", "TEXT"):
            return self.pick(src.columns)
        return self.pick([c for c in src.columns if c not in src.mixed] or ["NULL"])

    def statement(self) -> str:
        t = self.pick(self.schema.tables)
        scope = list(t.columns)
        kind = self.draw(st.integers(0, 9))
        if kind <= 3:
            rows = ", ".join(self.values_row(t, t.columns)
                             for _ in range(self.draw(st.integers(1, 3))))
            return f"INSERT INTO {t.name}({', '.join(t.columns)}) VALUES {rows}"
        if kind == 4:
            src = self.pick(self.schema.tables)
            cols = [c for c in t.columns if t.decl(c) != "REAL"] or None
            if cols is None:
                return f"DELETE FROM {t.name} WHERE {self.pred(scope, 1)}"
            picks = [self.copy_source(t, c, src) for c in cols]
            return (f"INSERT INTO {t.name}({', '.join(cols)}) SELECT {', '.join(picks)} "
                    f"FROM {src.name} WHERE {self.pred(list(src.columns), 1)}")
        if kind in (5, 6):
            col = self.pick(t.columns)
            value = sql_literal(self.draw(value_strategy(t.decl(col), col in t.mixed)))
            if t.decl(col) != "REAL" and self.chance(2):
                value = self.pick((self.copy_source(t, col, t), f"{col} + 1", f"{col} || 'a'",
                                   f"{self.copy_source(t, col, t)} - 1"))
            return f"UPDATE {t.name} SET {col} = {value} WHERE {self.pred(scope, 1)}"
        if kind in (7, 8):
            return f"DELETE FROM {t.name} WHERE {self.pred(scope + ['rowid'], 1)}"
        # a statement failing midway (after changing rows): must change nothing
        if self.chance(2):
            col = self.pick(t.columns)
            return (f"UPDATE {t.name} SET {col} = CASE WHEN rowid >= {self.pick((1, 2, 3))} "
                    f"THEN {OVERFLOW} ELSE NULL END")
        cols = ", ".join(t.columns)
        good = self.values_row(t, t.columns)
        bad = "(" + ", ".join([OVERFLOW] + ["NULL"] * (len(t.columns) - 1)) + ")"
        return f"INSERT INTO {t.name}({cols}) VALUES {good}, {bad}"

    def keyed_statement(self, rowid_base: int) -> str:
        """A write addressed by rowid: to this connection's own range
        (``rowid_base``..+5) or to a shared low rowid (1-3, which may conflict)."""
        t = self.pick(self.schema.tables)
        own = rowid_base + self.draw(st.integers(0, 5))
        kind = self.draw(st.integers(0, 3))
        if kind <= 1:
            return (f"INSERT INTO {t.name}(rowid, {', '.join(t.columns)}) "
                    f"VALUES ({own}, {self.values_row(t, t.columns)[1:]}")
        target = own if self.chance(2) else self.draw(st.integers(1, 3))
        if kind == 2:
            col = self.pick(t.columns)
            value = sql_literal(self.draw(value_strategy(t.decl(col), col in t.mixed)))
            return f"UPDATE {t.name} SET {col} = {value} WHERE rowid = {target}"
        return f"DELETE FROM {t.name} WHERE rowid = {target}"

    def txn(self) -> Txn:
        kind = self.pick(("auto", "auto", "commit", "commit", "rollback", "concurrent"))
        if kind == "concurrent":
            a = [self.keyed_statement(100) for _ in range(self.draw(st.integers(1, 3)))]
            b = [self.keyed_statement(200) for _ in range(self.draw(st.integers(1, 3)))]
            return Txn(kind, a, b, self.pick(("ab", "ba")))
        n = 1 if kind == "auto" else self.draw(st.integers(1, 4))
        return Txn(kind, [self.statement() for _ in range(n)])


@st.composite
def workloads(draw, schema: Schema, min_txns=1, max_txns=8):
    """A list of ``Txn``; the first inserts a few rows in every table."""
    gen = WorkloadGen(draw, schema)
    first = [f"INSERT INTO {t.name}({', '.join(t.columns)}) VALUES "
             + ", ".join(gen.values_row(t, t.columns) for _ in range(draw(st.integers(1, 4))))
             for t in schema.tables]
    return [Txn("commit", first)] + [gen.txn() for _ in range(draw(st.integers(min_txns, max_txns)))]


# -- the oracle's comparison --------------------------------------------------------------------

def storage_class(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "real"
    if isinstance(v, str):
        return "text"
    return "blob"


def strict_value(v, sep=None):
    """``(storage class, value)``; a group_concat text as its sorted parts."""
    if isinstance(v, float) and math.isnan(v):
        return ("real", "nan")
    if isinstance(v, (bytes, bytearray, memoryview)):
        return ("blob", bytes(v))
    if sep is not None and isinstance(v, str):
        return ("text", tuple(sorted(v.split(sep))))
    return (storage_class(v), v)


def strict_row(row, concat=None) -> tuple:
    if not concat:
        return tuple(strict_value(v) for v in row)
    return tuple(strict_value(v, concat.get(i)) for i, v in enumerate(row))


def strict_multiset(rows, concat=None) -> Counter:
    return Counter(strict_row(r, concat) for r in rows)


def diff_text(expected: Counter, actual: Counter) -> str:
    """Readable difference of two strict multisets (for assertion messages)."""
    missing = expected - actual
    extra = actual - expected
    return (f"  missing from the view ({sum(missing.values())}): {sorted(missing.items(), key=repr)[:10]}\n"
            f"  extra in the view ({sum(extra.values())}): {sorted(extra.items(), key=repr)[:10]}")
