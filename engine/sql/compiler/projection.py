"""The select list: ``*`` expansion, output column metadata and projection
closures."""

from __future__ import annotations

from sqlglot import exp

from engine.sql.compiler.expr import Compiled
from engine.sql.compiler.scope import ColumnMeta, Source


def _source_columns(source: Source, qualified: bool = False):
    """Column references that ``*`` expands to for one source."""
    out = []
    for c in source.columns:
        if c.hidden:
            continue
        if not qualified and c.name.lower() in source.using_hidden:
            continue
        col = exp.column(c.name, table=source.name or None, quoted=True)
        out.append(exp.alias_(col, c.name, quoted=True))
        if c.name.lower() in source.using_merged:
            out[-1].this._using_star = True  # read the merged USING column, as SQLite
    return out


def _output_meta(item, compiled: Compiled) -> ColumnMeta:
    while isinstance(item, exp.Paren):
        item = item.this
    if isinstance(item, exp.Alias):
        name = item.alias
    elif isinstance(item, exp.Column):
        name = compiled.column_name or item.name
    else:
        try:
            name = item.sql(dialect="sqlite")
        except ValueError:  # sqlglot cannot render our own nodes (e.g. parameters)
            name = item.args.get("this") if isinstance(item.args.get("this"), str) else "?"
    # sqlite3_column_decltype: a plain column reference (aliased or not) keeps its
    # declared type; any other expression has none
    inner = item.this if isinstance(item, exp.Alias) else item
    while isinstance(inner, exp.Paren):
        inner = inner.this
    decltype = compiled.decltype if isinstance(inner, exp.Column) else None
    return ColumnMeta(name, compiled.affinity, compiled.collation or "BINARY", decltype,
                      explicit_collation=compiled.explicit_collation,
                      has_collation=compiled.collation is not None,
                      conforming=compiled.conforming)


def _projector(fns):
    if len(fns) == 1:
        (f,) = fns
        return lambda row: (f(row),)
    if len(fns) == 2:
        f, g = fns
        return lambda row: (f(row), g(row))
    if len(fns) == 3:
        f, g, h = fns
        return lambda row: (f(row), g(row), h(row))
    return lambda row: tuple([f(row) for f in fns])
