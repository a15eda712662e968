"""Hypothesis strategies for the differential suite: random schemas, data and SQL.

The generator writes SQL text directly from a small grammar (SELECT with every join
kind, WHERE/GROUP BY/HAVING/DISTINCT/ORDER BY/LIMIT, compound selects, subqueries,
CTEs incl. WITH RECURSIVE, VALUES; expressions over SQLite's operators and core
functions). It avoids only what SQLite itself leaves unspecified: bare columns in
aggregate queries, LIMIT without a total ORDER BY, scalar subqueries returning more
than one row, and group_concat order (only its length is observed).
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from oracle import OrderTerm, Shape

COLUMN_POOL = ("a", "b", "c", "d")
DECL_TYPES = ("INTEGER", "TEXT", "REAL", "NUMERIC", "BLOB", "", "INT", "VARCHAR(5)")
COLLATIONS = ("BINARY", "NOCASE", "RTRIM")
TABLES = ("t1", "t2", "t3")

# Values: NULL, duplicates, mixed storage classes, unicode, large integers, reals.
SMALL_INTS = st.integers(-3, 3)
BIG_INTS = st.sampled_from([2**63 - 1, -(2**63), 2**53 + 1, -(2**31), 4294967296, 10**15])
REALS = st.sampled_from([0.0, -0.0, 0.5, -2.5, 1.0, 3.0, 1e100, -1e-5, 0.1, 2.0**63, 1.5e300, 7.25])
TEXTS = st.sampled_from(["", "a", "A", "ab", "aB ", "b", "B", "a%", "x_y", "é", "É", "ß", "日本", "1", " 2", "3.0", "1e3", "-4", "0x10", "abc  ", "Abc", "a\\b"])
BLOBS = st.sampled_from([b"", b"\x00", b"a", b"AB", b"\xc3\xa9"])  # valid UTF-8: sqlite3 cannot return other text
VALUES = st.one_of(st.none(), SMALL_INTS, SMALL_INTS, BIG_INTS, REALS, TEXTS, TEXTS, BLOBS)


def sql_literal(v):
    """SQL text for a Python value (reals only from REALS, whose text is exact)."""
    if v is None:
        return "NULL"
    if isinstance(v, bytes):
        return "X'" + v.hex() + "'"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    if isinstance(v, float):
        text = repr(v)
        return text if v >= 0 and not text.startswith("-") else f"({text})"
    return str(v) if v >= 0 else f"({v})"


@dataclass
class Table:
    name: str
    columns: list[str]
    decls: list[str]


@st.composite
def schemas(draw, n_tables=3):
    """A list of ``Table``: 2-3 columns each, drawn from a shared pool of names so that
    NATURAL and USING joins have common columns; random declared types and collations."""
    tables = []
    for name in TABLES[:n_tables]:
        cols = sorted(draw(st.sets(st.sampled_from(COLUMN_POOL), min_size=2, max_size=3)))
        decls = []
        for _ in cols:
            decl = draw(st.sampled_from(DECL_TYPES))
            if draw(st.integers(0, 4)) == 0:
                decl += " COLLATE " + draw(st.sampled_from(COLLATIONS))
            decls.append(decl)
        tables.append(Table(name, cols, decls))
    return tables


def create_sql(table: Table):
    body = ", ".join(f"{c} {d}".strip() for c, d in zip(table.columns, table.decls))
    return f"CREATE TABLE {table.name}({body})"


@st.composite
def table_rows(draw, table: Table, max_rows=6):
    return draw(st.lists(st.tuples(*[VALUES] * len(table.columns)), max_size=max_rows))


SCALAR_FUNCS = {
    "abs": (1, 1), "coalesce": (2, 3), "ifnull": (2, 2), "nullif": (2, 2), "iif": (3, 3),
    "length": (1, 1), "lower": (1, 1), "upper": (1, 1), "substr": (2, 3), "trim": (1, 2),
    "ltrim": (1, 2), "rtrim": (1, 2), "replace": (3, 3), "instr": (2, 2), "hex": (1, 1),
    "quote": (1, 1), "typeof": (1, 1), "round": (1, 2), "min": (2, 3), "max": (2, 3),
    "unicode": (1, 1), "likely": (1, 1), "unlikely": (1, 1),
}
CAST_TYPES = ("INTEGER", "REAL", "TEXT", "BLOB", "NUMERIC", "INT", "FLOAT")
BINARY_OPS = ("+", "-", "*", "/", "%", "||", "=", "==", "!=", "<>", "<", "<=", ">", ">=",
              "AND", "OR", "IS", "IS NOT", "IS DISTINCT FROM", "IS NOT DISTINCT FROM",
              "&", "|", "<<", ">>")
LIKE_PATTERNS = ("'a%'", "'%b%'", "'_'", "'A_%'", "'%\\%%' ESCAPE '\\'", "'x!_y' ESCAPE '!'",
                 "'%'", "'1%'", "'É%'")
GLOB_PATTERNS = ("'a*'", "'*b*'", "'?'", "'[a-c]*'", "'[^a]*'", "'A?'")


class Gen:
    """Draws one SQL construct at a time; ``scope`` is a list of qualified column
    references visible to an expression (outer query columns included)."""

    def __init__(self, draw, tables):
        self.draw = draw
        self.tables = tables
        self.aliases = 0  # aliases are unique per statement: SQLite 3.40 mis-resolves
        # a reused alias after flattening a derived table (GROUP BY push-down)

    def alias(self, prefix):
        self.aliases += 1
        return f"{prefix}{self.aliases}"

    def pick(self, seq):
        return self.draw(st.sampled_from(seq))

    def chance(self, n):
        """True with probability 1/n."""
        return self.draw(st.integers(0, n - 1)) == 0

    # ---- expressions -------------------------------------------------------------

    def literal(self):
        return sql_literal(self.draw(VALUES))

    def expr(self, scope, depth=2, subqueries=True):
        """A scalar expression of nesting at most ``depth``."""
        if depth <= 0 or self.chance(3):
            if scope and not self.chance(4):
                return self.pick(scope)
            return self.literal()
        d = depth - 1
        e = lambda: self.expr(scope, d, subqueries)  # noqa: E731 - local shorthand
        kind = self.draw(st.integers(0, 15 if subqueries else 12))
        if kind == 0:
            return f"({self.pick(('-', '+', 'NOT ', '~'))}{e()})"
        if kind in (1, 2):
            return f"({e()} {self.pick(BINARY_OPS)} {e()})"
        if kind == 3:
            return f"({e()} COLLATE {self.pick(COLLATIONS)})"
        if kind == 4:
            neg = self.pick(("", "NOT "))
            if self.chance(2):
                return f"({e()} {neg}LIKE {self.pick(LIKE_PATTERNS)})"
            return f"({e()} {neg}GLOB {self.pick(GLOB_PATTERNS)})"
        if kind == 5:
            return f"({e()} {self.pick(('', 'NOT '))}BETWEEN {e()} AND {e()})"
        if kind == 6:
            items = ", ".join(e() for _ in range(self.draw(st.integers(1, 3))))
            return f"({e()} {self.pick(('', 'NOT '))}IN ({items}))"
        if kind == 7:
            arms = " ".join(f"WHEN {e()} THEN {e()}" for _ in range(self.draw(st.integers(1, 2))))
            base = e() + " " if self.chance(2) else ""
            tail = f" ELSE {e()}" if self.chance(2) else ""
            return f"(CASE {base}{arms}{tail} END)"
        if kind == 8:
            return f"CAST({e()} AS {self.pick(CAST_TYPES)})"
        if kind in (9, 10, 11):
            name = self.pick(sorted(SCALAR_FUNCS))
            lo, hi = SCALAR_FUNCS[name]
            args = ", ".join(e() for _ in range(self.draw(st.integers(lo, hi))))
            return f"{name}({args})"
        if kind == 12:
            return f"({e()} {self.pick(('IS NULL', 'IS NOT NULL', 'NOTNULL', 'ISNULL'))})"
        # subqueries: IN (SELECT), EXISTS, scalar aggregate; correlated through scope
        t = self.pick(self.tables)
        alias = self.alias("s")
        inner_scope = [f"{alias}.{c}" for c in t.columns]
        where = ""
        if self.chance(2) or not scope:
            where = f" WHERE {self.expr(inner_scope + scope, 1, False)}"
        col = self.pick(inner_scope)
        if kind == 13:
            return f"({e()} {self.pick(('', 'NOT '))}IN (SELECT {col} FROM {t.name} AS {alias}{where}))"
        if kind == 14:
            return f"({self.pick(('', 'NOT '))}EXISTS (SELECT 1 FROM {t.name} AS {alias}{where}))"
        agg = self.pick(("count(*)", f"count({col})", f"max({col})", f"min({col})"))
        return f"(SELECT {agg} FROM {t.name} AS {alias}{where})"

    def aggregate(self, scope, float_ok):
        """An aggregate call; returns (sql, is_float_order_dependent)."""
        arg = self.expr(scope, 1, False)
        filt = f" FILTER (WHERE {self.expr(scope, 1, False)})" if self.chance(4) else ""
        dist = "DISTINCT " if self.chance(3) else ""
        names = ["count", "min", "max", "count*", "glen"] + (["sum", "total", "avg"] if float_ok else [])
        name = self.pick(names)
        if name == "count*":
            return f"count(*){filt}", False
        if name == "glen":  # group_concat order is unspecified; its length is not
            sep = "" if dist else ", '|'"
            # Bytes, not characters: length() of TEXT stops at a NUL, which would make
            # the result depend on the (unspecified) concatenation order again.
            return f"length(CAST(group_concat({dist}{arg}{sep}){filt} AS BLOB))", False
        if name in ("min", "max"):
            dist = ""
        return f"{name}({dist}{arg}){filt}", name in ("sum", "total", "avg")

    # ---- FROM clauses -------------------------------------------------------------

    def source(self, used, depth):
        """One FROM item: a table, a derived table, VALUES or a CTE reference.
        Returns (sql, alias, columns)."""
        alias = self.alias("x")
        used.append(alias)
        kind = self.draw(st.integers(0, 7)) if depth > 0 else 0
        if kind <= 4:
            t = self.pick(self.tables)
            return f"{t.name} AS {alias}", alias, list(t.columns)
        if kind == 5:
            n = self.draw(st.integers(1, 2))
            rows = ", ".join("(" + ", ".join(self.literal() for _ in range(n)) + ")"
                             for _ in range(self.draw(st.integers(1, 3))))
            return f"(VALUES {rows}) AS {alias}", alias, [f"column{i + 1}" for i in range(n)]
        # derived table: a whole SELECT, its output columns renamed a, b, ...
        sql, shape, ncols = self.select(depth - 1, outer=[], float_ok=False, top=False)
        names = list(COLUMN_POOL[:ncols])
        inner = ", ".join(f"q.c{i} AS {n}" for i, n in enumerate(names))
        return f"(SELECT {inner} FROM ({sql}) AS q) AS {alias}", alias, names

    def from_clause(self, depth):
        """FROM with 1-3 items joined by random join kinds; returns (sql, scope)."""
        used = []
        sql, alias, cols = self.source(used, depth)
        scope = [f"{alias}.{c}" for c in cols]
        all_cols = [(alias, c) for c in cols]
        joins = self.draw(st.integers(0, 2))
        for _ in range(joins):
            rsql, ralias, rcols = self.source(used, depth)
            rscope = [f"{ralias}.{c}" for c in rcols]
            # SQLite 3.40 (the oracle) computes RIGHT/FULL joins that follow another
            # join wrongly in some cases (e.g. "a JOIN b ON NULL RIGHT JOIN c ON NULL"
            # returns no rows; fixed in later SQLite releases), so RIGHT/FULL appear
            # only in two-source FROM clauses.
            outer_ok = joins == 1
            kinds = ("JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN", "CROSS JOIN",
                     "NATURAL JOIN", "NATURAL LEFT JOIN", "USING", ",", "INNER JOIN")
            if not outer_ok:
                kinds = tuple(k for k in kinds if k not in ("RIGHT JOIN", "FULL JOIN"))
            kind = self.pick(kinds)
            common = sorted(set(rcols) & {c for _, c in all_cols})
            if kind == "USING":
                if common:
                    kind2 = self.pick(("JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN")
                                      if outer_ok else ("JOIN", "LEFT JOIN"))
                    using = self.draw(st.lists(st.sampled_from(common), min_size=1, unique=True))
                    sql += f" {kind2} {rsql} USING ({', '.join(using)})"
                else:
                    sql += f" CROSS JOIN {rsql}"
            elif kind in ("CROSS JOIN", ",") or kind.startswith("NATURAL"):
                sql += f" {kind} {rsql}" if kind != "," else f", {rsql}"
            else:
                sql += f" {kind} {rsql} ON {self.expr(scope + rscope, 2, False)}"
            scope += rscope
            all_cols += [(ralias, c) for c in rcols]
        return sql, scope

    # ---- SELECT ---------------------------------------------------------------------

    def select_core(self, depth, outer, ncols, float_ok, star_ok=False):
        """One SELECT core with exactly ``ncols`` output columns ``c0..``; returns
        (sql, float-aggregate column positions)."""
        from_sql, scope = self.from_clause(depth)
        escope = scope + outer
        where = f" WHERE {self.expr(escope, 2, depth > 0)}" if self.chance(2) else ""
        float_cols = set()
        if self.chance(3):  # aggregate query: outputs are group keys and aggregates
            keys = self.draw(st.lists(st.sampled_from(scope), max_size=2, unique=True))
            items = []
            for i in range(ncols):
                if keys and self.chance(2):
                    items.append(self.pick(keys))
                else:
                    agg, is_float = self.aggregate(scope, float_ok)
                    items.append(agg)
                    if is_float:
                        float_cols.add(i)
            group = f" GROUP BY {', '.join(keys)}" if keys else ""
            having = ""
            if keys and self.chance(3):
                agg, _ = self.aggregate(scope, False)
                having = f" HAVING {agg} {self.pick(('>', '<=', '=', '<>'))} {self.pick(('0', '1', '2', self.literal()))}"
            sel = ", ".join(f"{e} AS c{i}" for i, e in enumerate(items))
            return f"SELECT {sel} FROM {from_sql}{where}{group}{having}", float_cols
        distinct = "DISTINCT " if self.chance(4) else ""
        if star_ok and not distinct and self.chance(8):
            # star: the join's own column list (NATURAL/USING merging)
            return f"SELECT * FROM {from_sql}{where}", float_cols
        items = [self.expr(escope, 2, depth > 0) for _ in range(ncols)]
        sel = ", ".join(f"{e} AS c{i}" for i, e in enumerate(items))
        return f"SELECT {distinct}{sel} FROM {from_sql}{where}", float_cols

    def select(self, depth, outer, float_ok, top=True):
        """A full SELECT (maybe compound, with ORDER BY/LIMIT); returns (sql, Shape,
        number of output columns; -1 when ``*`` makes it unknown)."""
        ncols = self.draw(st.integers(1, 3))
        compound = self.chance(4)
        if compound:
            arms = [self.select_core(depth, outer, ncols, False)[0] for _ in range(self.draw(st.integers(2, 3)))]
            sql = arms[0]
            for a in arms[1:]:
                sql += f" {self.pick(('UNION', 'UNION ALL', 'INTERSECT', 'EXCEPT'))} {a}"
            float_cols = set()
        else:
            sql, float_cols = self.select_core(depth, outer, ncols, float_ok, star_ok=top)
            if sql.startswith("SELECT * "):
                return sql, Shape(), -1
        shape = Shape(float_columns=frozenset(float_cols))
        if self.chance(2):
            terms = []
            for col in self.draw(st.lists(st.integers(0, ncols - 1), min_size=1, max_size=ncols, unique=True)):
                # no COLLATE on a compound's ORDER BY: SQLite 3.40 then fails to resolve
                # GROUP BY columns of its arms ("no such column"), an oracle bug
                coll = None if compound else self.pick((None, None, "BINARY", "NOCASE", "RTRIM"))
                text = str(col + 1) + (f" COLLATE {coll}" if coll else "")
                text += self.pick(("", " ASC", " DESC"))
                text += self.pick(("", "", " NULLS FIRST", " NULLS LAST"))
                terms.append(text)
                shape.order.append(OrderTerm(col, coll))
            sql += " ORDER BY " + ", ".join(terms)
            if self.chance(2) and top:
                sql += f" LIMIT {self.draw(st.integers(0, 4))}"
                if self.chance(2):
                    sql += f" OFFSET {self.draw(st.integers(0, 3))}"
                shape.limited = True
        return sql, shape, ncols


@st.composite
def queries(draw, tables, max_depth=1):
    """(sql, Shape) of a random SELECT, maybe preceded by WITH [RECURSIVE]."""
    gen = Gen(draw, tables)
    with_sql = ""
    if gen.chance(5):
        start, stop = draw(st.integers(-2, 3)), draw(st.integers(0, 6))
        union = gen.pick(("UNION", "UNION ALL"))
        with_sql = (f"WITH RECURSIVE r(n) AS (SELECT {start} {union} SELECT n + 1 FROM r WHERE n < {stop}) ")
        gen.tables = tables + [Table("r", ["n"], [""])]
    elif gen.chance(5):
        body, _, ncols = gen.select(0, [], False, top=False)
        names = ", ".join(COLUMN_POOL[:ncols])
        with_sql = f"WITH w({names}) AS ({body}) "
        gen.tables = tables + [Table("w", list(COLUMN_POOL[:ncols]), [""] * ncols)]
    sql, shape, _ = gen.select(max_depth, [], True)
    return with_sql + sql, shape


@st.composite
def expressions(draw, scope, depth=3):
    """A standalone scalar expression over ``scope`` (no subqueries)."""
    return Gen(draw, []).expr(scope, depth, False)
