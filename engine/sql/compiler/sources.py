"""FROM items: tables, views, subqueries, VALUES, CTE references and the schema
table, each as a ``Source`` of the scope plus a way to produce its rows."""

from __future__ import annotations

from sqlglot import exp

from engine.errors import OperationalError
from engine.sql.compiler.plan import affinity_converter, from_item_columns, stored_affinities
from engine.sql.compiler.scope import ColumnMeta, Source
from engine.sql.compiler.table_functions import (is_pragma_function, is_table_function,
                                                  pragma_function_source,
                                                  table_function_source)


_SCHEMA_TABLES = ("sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema")


def materialized(position: int, joins: list) -> bool:
    """Whether SQLite materializes the FROM item at ``position`` (an ephemeral
    table, where a compound's rows take its first arm's column affinities) rather
    than running it as a co-routine: only the first item runs as a co-routine, and
    only when it is alone or joined to the next by CROSS JOIN or LEFT JOIN (select.c,
    sqlite3Select; a comma is an inner join). SQLite's query flattener can move a
    subquery's FROM items into the enclosing query first; that is not modelled."""
    if position:
        return True
    if not joins:
        return False
    nxt = joins[0].args
    return not (nxt.get("kind") == "CROSS" and not nxt.get("comma")
                or nxt.get("side") == "LEFT")


class SourcePlanner:
    """Planner methods turning FROM items into sources (a mixin of ``Planner``)."""

    def _from(self, node, scope):
        """Add the FROM sources to ``scope``; return ``plan(conjuncts, comp) -> rows()``."""
        from_ = node.args.get("from_")
        joins = node.args.get("joins") or []
        if from_ is None:
            if joins:
                raise OperationalError("not supported by turso_stream: JOIN without FROM")
            return lambda conjuncts, comp: self._no_from(conjuncts, comp)
        items = [(None, from_.this, None)] + [(j, j.this, j) for j in joins]
        steps = []
        for i, (join, item, join_node) in enumerate(items):
            source, rows_fn = self._source(item, scope, materialized(i, joins))
            scope.add(source)
            steps.append((source, rows_fn, join_node))
        return lambda conjuncts, comp: self._join_plan(steps, scope, conjuncts, comp)

    def _no_from(self, conjuncts, comp):
        preds = [comp.predicate(c) for c in conjuncts]

        def rows():
            row = ()
            for p in preds:
                if not p(row):
                    return
            yield row
        return rows

    def _source(self, item, scope, materialized=False):
        """``(Source, rows_factory)`` for one FROM item (``materialized``: see the
        function ``materialized``)."""
        if is_table_function(item):  # json_each(...) / json_tree(...) / pragma_x(...)
            return table_function_source(self, item, scope)
        if isinstance(item, exp.Table):
            name = item.name
            alias = item.alias or name
            cte = self._find_cte(name) if not item.args.get("db") else None
            if cte is not None:
                return self._cte_source(cte, alias, scope, materialized)
            if name.lower() in _SCHEMA_TABLES:
                return self._schema_source(name, alias)
            table = self.session.table_for_query(name)
            if table is None and is_pragma_function(name) and \
                    self.session.view_for_query(name) is None:
                return pragma_function_source(self, item, scope, name, [])
            if table is None:
                view = self.session.view_for_query(name)
                if view is None:
                    raise OperationalError(f"no such table: {name}")
                store = self.session.materialized_read(name)
                if store is not False:
                    # Cached plans re-check that the view is still read this way.
                    self.__dict__.setdefault("view_modes", []).append((name, store is not None))
                if store is not False and store is not None:
                    return self._store_source(store, alias, materialized)
                return self._view_source(view, alias, scope, name, materialized)
            return self._table_source(table, alias)
        if isinstance(item, exp.Subquery):
            alias = item.alias or ""
            plan = self.query(item.this, scope.parent)
            cols = from_item_columns(plan.columns, plan.arm_affinities, materialized)
            if item.args.get("alias") is not None and item.args["alias"].columns:
                for c, ident in zip(cols, item.args["alias"].columns):
                    c.name = ident.name
            return Source(alias, cols), (lambda: plan.from_item_run(materialized))
        if isinstance(item, exp.Values):
            plan = self._values(item, scope.parent)
            alias = item.alias or ""
            cols = list(plan.columns)
            if item.args.get("alias") is not None and item.args["alias"].columns:
                cols = [ColumnMeta(i.name) for i in item.args["alias"].columns]
            return Source(alias, cols), (lambda: plan.run)
        raise OperationalError(f"not supported by turso_stream: FROM item {item.sql()}")

    def _schema_source(self, name, alias):
        """``sqlite_schema`` (alias ``sqlite_master``) and the temp schema's table:
        one row per schema object in creation order. ``rootpage`` numbers objects
        that store rows (there are no pages here); views and triggers have 0. The
        rowid is the object's number in ``Catalog.created``, given as SQLite gives
        sqlite_schema rowids (max + 1 when created; the CDC feed's schema ids)."""
        session = self.session
        temp = "temp" in name.lower()
        cols = [ColumnMeta("type", "TEXT"), ColumnMeta("name", "TEXT"),
                ColumnMeta("tbl_name", "TEXT"), ColumnMeta("rootpage", "INTEGER"),
                ColumnMeta("sql", "TEXT")]

        def rows():
            if temp:
                entries = [("view", n, n, sql) for n, sql in session.temp_views.items()]
                numbers = session.temp_numbers
            else:
                catalog = session.txn.catalog
                entries, numbers = catalog.entries(), catalog.created
            page = 1
            out = []
            for type_, obj_name, tbl, sql in entries:
                root = 0
                if type_ in ("table", "index"):
                    page += 1
                    root = page
                out.append((type_, obj_name, tbl, root, sql, numbers.get(obj_name.lower())))
            return iter(out)
        return Source(alias, cols, rowid_slot=len(cols)), (lambda: rows)

    def _table_source(self, table, alias):
        schema = table.schema
        cols = [ColumnMeta(c.name, c.affinity, c.collation, c.decltype) for c in schema.columns]
        rowid_slot = None if schema.without_rowid else len(cols)
        source = Source(alias, cols, rowid_slot=rowid_slot, table=table)
        return source, None  # rows come from the access path chosen in _join_plan

    def _view_source(self, view_sql_ast, alias, scope, name=None, materialized=False):
        query, col_names = view_sql_ast
        plan = self.query(query, None)
        cols = from_item_columns(plan.columns, plan.arm_affinities, materialized)
        if not col_names and name is not None:
            col_names = self.session.view_names(name, query, cols)
        if col_names:
            for c, n in zip(cols, col_names):
                c.name = n
        return Source(alias, cols), (lambda: plan.from_item_run(materialized))

    def _store_source(self, store, alias, materialized=False):
        """A materialized view read from its store (engine.ivm.store) as the plain
        view is read as a FROM item: a compound's columns compare with its first
        arm's affinities, and where SQLite materializes the view (``materialized``)
        its rows are stored through them (``from_item_columns``, ``from_item_run``).
        Usually a table source without a rowid, so scans and index probes on its
        key columns apply; a scan converting each row when the rows need
        converting or a column's values may not have its affinity (an index probe
        would compare them as if they had)."""
        cols = from_item_columns(store.columns, store.arm_affinities, materialized)
        convert = affinity_converter(stored_affinities(
            store.columns, store.arm_affinities)) if materialized else None
        if convert is None and all(c.conforming for c in cols):
            return Source(alias, cols, table=store.table), None
        name, rt = store.table.name, self.rt

        def run():
            rows = (row for _key, row in rt.txn.scan(name))
            return rows if convert is None else map(convert, rows)
        return Source(alias, cols), (lambda: run)
