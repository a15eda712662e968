"""Table-valued functions in FROM: ``json_each(json [, path])`` and ``json_tree``.

SQLite implements these as eponymous virtual tables (ext/misc/json1.c in 3.40,
the version our oracle runs). Each has the columns ``key, value, type, atom, id,
parent, fullkey, path`` and the hidden columns ``json`` and ``root`` (readable by
name, left out of ``*``). ``json_each`` lists the direct children of the element
the path selects (or that element itself when it is not a container);
``json_tree`` walks the selected element and everything below it in pre-order.

Ids are the element's index in 3.40's parse array: a pre-order numbering of the
document in which each object label takes one slot before its value. Two 3.40
quirks are kept on purpose, because sqlite3 is the oracle: json_tree started at
a path prints every array step *above* that element as ``[0]`` in ``fullkey``
and ``path`` (the ancestors' iteration counters were never advanced), and its
first row has a NULL key unless it is a container held by an object.

A FROM item ``json_each(args)`` compiles into a ``TableFunctionRows``: called
with no argument it is an ordinary rows factory (arguments evaluated against the
outer scopes only); ``rows_for(left_row)`` evaluates the arguments against the
row built so far, which is how ``FROM t, json_each(t.doc)`` (a lateral reference)
runs: the planner's join step calls it once per left row.

Known difference: SQLite gives the ``value`` of an array or object the JSON
subtype, so ``json_array(value)`` embeds it; here rows carry plain text (the
engine keeps subtypes only between nested JSON calls), so write
``json_array(json(value))``.
"""

from __future__ import annotations

from sqlglot import exp

from engine.errors import OperationalError
from engine.sql.compiler.expr import ExprCompiler
from engine.sql.compiler.scope import ColumnMeta, Source
from engine.sql.functions.json_fns import (_arg_text, _parse_shared, lookup,
                                           render, sql_value)
from engine.sql.functions.registry import SqlFunctionError

JSON_COLUMNS = ("key", "value", "type", "atom", "id", "parent", "fullkey", "path")
HIDDEN_COLUMNS = ("json", "root")
_ASCII_ALPHA = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ASCII_ALNUM = _ASCII_ALPHA | frozenset("0123456789")


def is_table_function(item) -> bool:
    """Is this FROM item a call ``name(args)`` (a table-valued function)?"""
    return isinstance(item, exp.Table) and isinstance(item.this, exp.Anonymous)


def table_function_source(planner, item, scope):
    """``(Source, TableFunctionRows)`` for the FROM item ``name(args) [AS alias]``.

    Arguments are compiled against ``scope`` as it stands (the sources to the
    left of this item plus the outer scopes), so they may read earlier FROM items.
    """
    call = item.this
    name = call.name.lower()
    if name.startswith("pragma_"):
        return pragma_function_source(planner, item, scope, call.name, list(call.expressions))
    if name not in ("json_each", "json_tree"):
        raise OperationalError(f"no such table: {call.name}")
    args = list(call.expressions)
    if len(args) > 2:
        raise OperationalError(f"too many arguments on {name}() - max 2")
    comp = ExprCompiler(scope, planner.rt, planner=planner)
    arg_fns = [comp.fn(a) for a in args]
    lateral = any(_reads_scope(a, scope) for a in args)
    cols = [ColumnMeta(c) for c in JSON_COLUMNS] + [ColumnMeta(c, hidden=True)
                                                     for c in HIDDEN_COLUMNS]
    alias = item.alias or call.name
    # SQLite's idxNum: bit 0 = the json argument is constrained, bit 1 = the root
    planner.explain.append(f"SCAN {alias} VIRTUAL TABLE INDEX {(1 << len(args)) - 1}:")
    recursive = name == "json_tree"

    def produce(values):
        """json_each/json_tree rows of (json [, path]). O(size of the document)."""
        if not values:
            return []
        doc = _arg_text(values[0])
        path = _arg_text(values[1]) if len(values) > 1 else "$"
        if doc is None or path is None:
            return []
        try:
            return json_rows(doc, path, recursive, len(values) > 1)
        except SqlFunctionError as err:
            raise OperationalError(str(err)) from None
    return Source(alias, cols), TableFunctionRows(produce, arg_fns, lateral)


def _reads_scope(node, scope) -> bool:
    """Does ``node`` read a column of ``scope`` itself (not an outer scope)?"""
    for col in node.find_all(exp.Column):
        if isinstance(col.this, exp.Star):
            continue
        try:
            found, _idx, _meta = scope.resolve(col.name, col.table or None)
        except OperationalError:
            continue
        if found is scope:
            return True
    return False


class TableFunctionRows:
    """The rows of one table-valued FROM item: ``produce(argument values) -> rows``
    (json_each/json_tree, a pragma function; see the module docstring)."""

    __slots__ = ("produce", "arg_fns", "lateral")

    def __init__(self, produce, arg_fns, lateral: bool):
        self.produce = produce
        self.arg_fns = arg_fns
        self.lateral = lateral

    def __call__(self):
        """The rows factory protocol: ``rows()`` evaluated without a left row."""
        if self.lateral:
            raise OperationalError("not supported by turso_stream: a table-valued function "
                                   "reading columns of a RIGHT or FULL join's left side")
        return lambda: iter(self.rows_for(()))

    def rows_for(self, left) -> list[tuple]:
        """All rows for the arguments evaluated on ``left`` (the flat row so far)."""
        return self.produce([f(left) for f in self.arg_fns])

    def matcher(self, local, comp):
        """``matches(left) -> rows`` for the planner's join step, applying the
        conjuncts ``local`` that read only this source."""
        preds = [comp.predicate(c) for c in local]
        rows_for = self.rows_for
        if not preds:
            return rows_for

        def matches(left):
            out = []
            for r in rows_for(left):
                row = left + r
                for p in preds:
                    if not p(row):
                        break
                else:
                    out.append(r)
            return out
        return matches


def _label_step(label) -> str:
    """``.name`` for an object member in a full key: bare when the label is an
    ASCII letter followed by ASCII letters/digits, else its JSON source text."""
    text = label.text
    if label.raw:
        text = '"' + text + '"'
    inner = text[1:-1]
    if inner and inner[0] in _ASCII_ALPHA and all(ch in _ASCII_ALNUM for ch in inner):
        return "." + inner
    return "." + text


def _find(doc_root, target):
    """``(id, steps)`` of ``target`` in the document: its pre-order id (labels
    counted) and the ``(container, label-or-None)`` pairs from the root down.
    Iterative, O(nodes before target)."""
    if target is doc_root:
        return 0, []
    next_id = 1
    stack = [(doc_root, iter(_children(doc_root)), [])]
    while stack:
        node, it, steps = stack[-1]
        child = next(it, None)
        if child is None:
            stack.pop()
            continue
        label, value = child
        if label is not None:
            next_id += 1
        here = steps + [(node, label)]
        if value is target:
            return next_id, here
        next_id += 1
        if value.kind in ("array", "object"):
            stack.append((value, iter(_children(value)), here))
    raise AssertionError("the path lookup returned a node outside the document")


def _children(node):
    """``(label or None, value)`` pairs of a container."""
    items = node.items
    if items is None:
        return []
    if node.kind == "array":
        return [(None, v) for v in items]
    return [(items[k], items[k + 1]) for k in range(0, len(items), 2)]


def _size(node) -> int:
    """Slots the node takes in the parse array (labels included). O(subtree)."""
    total = 0
    stack = [node]
    while stack:
        n = stack.pop()
        total += 1
        if n.items is not None:
            if n.kind == "object":
                total += len(n.items) // 2
                stack.extend(n.items[1::2])
            else:
                stack.extend(n.items)
    return total


def _row(node, key, node_id, parent, fullkey, path, doc, root):
    kind = node.kind
    if kind in ("array", "object"):
        # plain text: rows never carry the JSON subtype (see ExprCompiler._json_call)
        value, atom = render(node), None
    else:
        value = atom = sql_value(node)
    return (key, value, kind, atom, node_id, parent, fullkey, path, doc, root)


def json_rows(doc: str, root_path: str, recursive: bool, has_path: bool) -> list[tuple]:
    """The rows of ``json_each(doc, root_path)`` (``recursive``: json_tree).
    Raises SqlFunctionError for malformed JSON or a malformed path."""
    tree = _parse_shared(str(doc))
    if tree is None:
        raise SqlFunctionError("malformed JSON")
    target = lookup(tree, root_path)
    if target is None:
        return []
    target_id, steps = _find(tree, target)
    if recursive:
        return _tree_rows(target, target_id, steps, doc, root_path)
    base = root_path if has_path else "$"
    if target.kind not in ("array", "object"):
        return [_row(target, None, target_id, None, base, base, doc, root_path)]
    out = []
    node_id = target_id + 1
    for index, (label, value) in enumerate(_children(target)):
        if label is None:
            out.append(_row(value, index, node_id, None, f"{base}[{index}]", base,
                            doc, root_path))
        else:
            node_id += 1
            out.append(_row(value, sql_value(label), node_id, None,
                            base + _label_step(label), base, doc, root_path))
        node_id += _size(value)
    return out


def _tree_rows(target, target_id, steps, doc, root_path):
    """Pre-order rows of json_tree below (and including) ``target``."""
    # 3.40 prints array steps above the start element as [0] (see module docstring).
    fullkey = "$"
    parent_path = "$"
    for container, label in steps:
        parent_path = fullkey
        fullkey += "[0]" if label is None else _label_step(label)
    key = None
    if steps and steps[-1][1] is not None and target.kind in ("array", "object"):
        key = sql_value(steps[-1][1])
    out = [_row(target, key, target_id, None, fullkey, parent_path, doc, root_path)]
    next_id = target_id + 1
    stack = [(target, target_id, fullkey, iter(_children(target)), [0])]
    while stack:
        node, node_id, node_key, it, counter = stack[-1]
        child = next(it, None)
        if child is None:
            stack.pop()
            continue
        label, value = child
        if label is None:
            key = counter[0]
            counter[0] += 1
            child_key = f"{node_key}[{key}]"
        else:
            next_id += 1
            key = sql_value(label)
            child_key = node_key + _label_step(label)
        out.append(_row(value, key, next_id, node_id, child_key, node_key, doc, root_path))
        if value.kind in ("array", "object"):
            stack.append((value, next_id, child_key, iter(_children(value)), [0]))
        next_id += 1
    return out


# Pragmas readable as tables (SQLite's eponymous virtual tables ``pragma_<name>``):
# those that only report, never the ones that change a setting.
PRAGMA_FUNCTIONS = frozenset(("table_info", "table_xinfo", "index_list", "index_info",
                              "foreign_key_list", "table_list", "busy_timeout",
                              "user_version", "application_id", "data_version",
                              "journal_mode",
                              "synchronous", "foreign_keys", "query_only", "page_size",
                              "encoding", "auto_vacuum", "freelist_count", "locking_mode"))


def is_pragma_function(name: str) -> bool:
    """Is ``name`` (a FROM item without arguments) a pragma read as a table?"""
    lname = name.lower()
    return lname.startswith("pragma_") and lname[7:] in PRAGMA_FUNCTIONS


def pragma_function_source(planner, item, scope, name: str, args: list):
    """``(Source, TableFunctionRows)`` for ``pragma_<name>[(arg)]`` in FROM: the
    pragma's result columns, then the hidden columns ``arg`` and ``schema``; each
    evaluation runs the pragma with the argument (``FROM sqlite_schema m JOIN
    pragma_table_info(m.name)`` runs it per left row). O(the pragma's result)."""
    from engine.sql.pragma import pragma_result
    pragma = name.lower()[7:]
    if pragma not in PRAGMA_FUNCTIONS:
        raise OperationalError(f"no such table: {name}")
    if len(args) > 1:
        raise OperationalError(f"too many arguments on {name}() - max 1")
    session = planner.session
    columns = pragma_result(session, pragma, None).columns
    comp = ExprCompiler(scope, planner.rt, planner=planner)
    arg_fns = [comp.fn(a) for a in args]
    lateral = any(_reads_scope(a, scope) for a in args)
    cols = [ColumnMeta(c) for c in columns] + [ColumnMeta(c, hidden=True)
                                               for c in ("arg", "schema")]
    alias = item.alias or name
    planner.explain.append(f"SCAN {alias} VIRTUAL TABLE INDEX {1 if args else 0}:")

    def produce(values):
        arg = values[0] if values else None
        if values and arg is None:
            return []
        rows = pragma_result(session, pragma, arg).rows
        return [tuple(r) + (arg, None) for r in rows]
    return Source(alias, cols), TableFunctionRows(produce, arg_fns, lateral)
