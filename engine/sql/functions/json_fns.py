"""SQLite 3.40's JSON1 functions: json, json_array, json_extract, json_set, ... and the
``->`` / ``->>`` operators (``json_arrow`` / ``json_arrow2``), plus the aggregates
json_group_array and json_group_object.

Behaviour follows SQLite 3.40's ``json.c`` (the node-array implementation that
predates JSONB): a document is parsed into a tree of ``JsonNode`` that keeps the
original text of every number and string, so ``json()`` re-renders numbers and
escapes exactly as written, only minified.  Edits (set/insert/replace/remove/
patch) mark nodes instead of rebuilding the tree and are applied when the tree
is rendered, which reproduces SQLite's results in the corner cases too
(duplicate keys, paths through replaced nodes, u32 wrap-around of array indexes).

JSON subtype
------------
SQLite tags the text results of JSON functions with a "JSON subtype" so that
``json_array(json('[1]'))`` embeds ``[1]`` rather than the string ``"[1]"``.
Here such results are ``JsonText`` (a ``str`` subclass); JSON functions embed a
``JsonText`` argument verbatim.  Like SQLite's subtype it is meaningful only
within one expression: storing a value or returning it to the user should
turn it into a plain ``str`` (``str(value)``).

Out of scope: the table-valued json_each and json_tree.
"""

from __future__ import annotations

import functools
import re
import sys
from collections import deque

from engine.sql.functions.registry import SqlFunctionError, aggregate, scalar
from engine.values import register_text_type, to_text

MAX_DEPTH = 2000            # SQLite's JSON_MAX_DEPTH: deeper nesting is malformed
MALFORMED = "malformed JSON"
BLOB_ERROR = "JSON cannot hold BLOB values"


class JsonText(str):
    """Text carrying SQLite's JSON subtype: embedded verbatim by JSON functions."""

    __slots__ = ()


register_text_type(JsonText)  # min()/max() compare JSON-subtyped values as TEXT


# --------------------------------------------------------------------------
# The parse tree
# --------------------------------------------------------------------------

class JsonNode:
    """One JSON value.

    ``kind`` is SQLite's json_type() name: 'null', 'true', 'false', 'integer',
    'real', 'text', 'array' or 'object'.  Scalars keep their source ``text``
    (strings with quotes and escapes; ``raw`` strings instead hold the plain
    content, to be quoted when rendered).  Arrays hold their elements in
    ``items``; objects hold label and value nodes alternately.  ``n_parsed``
    is the number of items the parser produced (later appends follow it).
    Edit marks: ``removed``; ``replace`` (index of the SQL argument that
    replaces the node); ``patch`` (the node rendered in its place).
    """

    __slots__ = ("kind", "text", "items", "n_parsed", "raw", "escaped", "removed",
                 "replace", "patch")

    def __init__(self, kind: str, text: str = "", items: list | None = None):
        self.kind = kind
        self.text = text
        self.items = items
        self.n_parsed = 0 if items is None else len(items)
        self.raw = False
        self.escaped = False
        self.removed = False
        self.replace = None
        self.patch = None

    def _check(self) -> None:
        """Assert the tree's invariants (iteratively: documents nest 2000 deep)."""
        stack = [self]
        while stack:
            node = stack.pop()
            if node.kind in ("array", "object"):
                assert node.items is not None and node.n_parsed <= len(node.items)
                if node.kind == "object":
                    assert len(node.items) % 2 == 0
                    for label in node.items[0::2]:
                        assert label.kind == "text"
                        assert label.raw or (label.text[:1] == '"' and label.text[-1:] == '"')
                stack.extend(node.items)
            else:
                assert node.items is None
            if node.patch is not None:
                stack.append(node.patch)


_WS = " \t\n\r"
_DIGITS = "0123456789"
_HEX = frozenset("0123456789abcdefABCDEF")
_STRING_RUN = re.compile(r'[^"\\\x00-\x1f]*')
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def _skip_ws(z: str, i: int) -> int:
    n = len(z)
    while i < n and z[i] in _WS:
        i += 1
    return i


def _scan_scalar(z: str, i: int) -> tuple[JsonNode, int] | None:
    """The scalar value starting at ``z[i]`` and the index after it, or None if malformed.

    Strings: no raw control characters, escapes limited to JSON's.  Numbers:
    JSON's grammar (no leading zeros, digits on both sides of '.', exponent
    digits).  Literals must not run on into ASCII letters or digits.
    """
    c = z[i]
    if c == '"':
        j = i + 1
        n = len(z)
        escaped = False
        while True:
            j = _STRING_RUN.match(z, j).end()
            if j >= n:
                return None
            c = z[j]
            if c == '"':
                break
            if c != "\\":
                return None  # a control character
            c = z[j + 1] if j + 1 < n else ""
            if c and c in '"\\/bfnrt':
                j += 2
            elif c == "u" and all(ch in _HEX for ch in z[j + 2:j + 6]) and j + 6 <= n:
                j += 2
            else:
                return None
            escaped = True
        node = JsonNode("text", z[i:j + 1])
        node.escaped = escaped
        return node, j + 1
    if c == "-" or "0" <= c <= "9":
        m = _NUMBER.match(z, i)
        if m is None:
            return None
        text = m.group()
        digits = text[1:] if text[0] == "-" else text
        if digits[0] == "0" and len(digits) > 1 and "0" <= digits[1] <= "9":
            return None
        end = m.end()
        if end < len(z) and z[end] in ".eE":
            return None  # '1.', '1.e5', '1e', '1.5.5' ...
        kind = "real" if (m.group(1) or m.group(2)) else "integer"
        return JsonNode(kind, text), end
    for word in ("null", "true", "false"):
        if z.startswith(word, i):
            after = z[i + len(word):i + len(word) + 1]
            if after and after.isascii() and after.isalnum():
                return None
            return JsonNode(word, word), i + len(word)
    return None


def parse_json(text: str) -> JsonNode | None:
    """Parse JSON text into a tree, or None if it is malformed (SQLite 3.40 rules).

    Text after a NUL character is ignored (SQLite reads a C string).  Nesting
    deeper than MAX_DEPTH is malformed.  Iterative; O(len(text)).
    """
    nul = text.find("\x00")
    if nul >= 0:
        text = text[:nul]
    n = len(text)
    stack: list[JsonNode] = []     # containers still open, innermost last
    i = _skip_ws(text, 0)
    while True:
        # One value starts at text[i].
        c = text[i] if i < n else ""
        if c == "{" or c == "[":
            if len(stack) >= MAX_DEPTH:
                return None
            value = JsonNode("object" if c == "{" else "array", "", [])
            i = _skip_ws(text, i + 1)
            if i >= n or text[i] != ("}" if c == "{" else "]"):
                if stack:
                    stack[-1].items.append(value)
                stack.append(value)
                if c == "{":
                    i = _parse_label(text, i, value)
                    if i < 0:
                        return None
                continue
            i += 1                  # an empty container is a finished value
        else:
            scanned = _scan_scalar(text, i) if c else None
            if scanned is None:
                return None
            value, i = scanned
        if not stack:
            return value if _skip_ws(text, i) >= n else None
        stack[-1].items.append(value)
        # After a value: ',' starts the next one; a closer finishes a container.
        while True:
            i = _skip_ws(text, i)
            c = text[i] if i < n else ""
            top = stack[-1]
            if c == ",":
                i = _skip_ws(text, i + 1)
                if top.kind == "object":
                    i = _parse_label(text, i, top)
                    if i < 0:
                        return None
                break
            if c != ("}" if top.kind == "object" else "]"):
                return None
            i += 1
            top.n_parsed = len(top.items)
            stack.pop()
            if not stack:
                return top if _skip_ws(text, i) >= n else None


def _parse_label(text: str, i: int, obj: JsonNode) -> int:
    """Parse ``"key" :`` at ``text[i]`` into ``obj``; the index of the value, or -1."""
    if i >= len(text) or text[i] != '"':
        return -1
    scanned = _scan_scalar(text, i)
    if scanned is None:
        return -1
    label, i = scanned
    obj.items.append(label)
    i = _skip_ws(text, i)
    if i >= len(text) or text[i] != ":":
        return -1
    return _skip_ws(text, i + 1)


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------

_ESCAPES = {i: "\\u%04x" % i for i in range(0x20)}
_ESCAPES.update({0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r",
                 0x22: '\\"', 0x5C: "\\\\"})
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')


def quote_json_string(s: str) -> str:
    """``s`` as a JSON string literal, escaped as SQLite's jsonAppendString does.

    '"' and '\\' get a backslash; \\b \\t \\n \\f \\r their short forms; other
    control characters \\u00XX (lower-case hex); everything else (including
    '/' and non-ASCII) is copied.  O(len(s)).
    """
    if _NEEDS_ESCAPE.search(s) is None:
        return '"' + s + '"'
    return '"' + s.translate(_ESCAPES) + '"'


def _append_value(out: list, value) -> None:
    """Append SQL ``value`` as JSON (SQLite's jsonAppendValue): NULL as null, numbers
    as their SQL text, JsonText verbatim, other text quoted; BLOBs are an error."""
    if value is None:
        out.append("null")
    elif isinstance(value, str):
        out.append(value if type(value) is JsonText else quote_json_string(value))
    elif isinstance(value, (int, float)):
        out.append(to_text(value))
    else:
        raise SqlFunctionError(BLOB_ERROR)


def render(node: JsonNode, args=None) -> str:
    """Minified JSON text of ``node``, applying removals, replacements (SQL values
    ``args[node.replace]``) and patches.  Iterative; O(size of the output)."""
    out: list[str] = []
    stack: list = [node]
    pop, push, emit = stack.pop, stack.append, out.append
    while stack:
        item = pop()
        if type(item) is str:
            emit(item)
            continue
        if item.replace is not None:
            _append_value(out, args[item.replace])
            continue
        if item.patch is not None:
            item = item.patch
        kind = item.kind
        if kind == "array":
            visible = [child for child in item.items if not child.removed]
            push("]")
            for k in range(len(visible) - 1, -1, -1):
                push(visible[k])
                if k:
                    push(",")
            emit("[")
        elif kind == "object":
            items = item.items
            entries = [k for k in range(0, len(items), 2) if not items[k + 1].removed]
            push("}")
            for pos in range(len(entries) - 1, -1, -1):
                k = entries[pos]
                push(items[k + 1])
                label = items[k]
                push((quote_json_string(label.text) if label.raw else label.text) + ":")
                if pos:
                    push(",")
            emit("{")
        elif item.raw:
            emit(quote_json_string(item.text))
        else:
            emit(item.text)
    return "".join(out)


def _decode_string(text: str) -> str:
    """The SQL text of a JSON string literal ``text`` (quotes included), decoding
    escapes as SQLite's jsonReturn does (\\u0000 ends the string; a surrogate pair
    becomes one character)."""
    if "\\" not in text:
        return text[1:-1]
    out = []
    n = len(text) - 1
    i = 1
    while i < n:
        c = text[i]
        if c != "\\":
            j = text.find("\\", i, n)
            j = n if j < 0 else j
            out.append(text[i:j])
            i = j
            continue
        i += 1
        c = text[i]
        if c == "u":
            v = int(text[i + 1:i + 5], 16)
            i += 4
            if v == 0:
                break
            if (v & 0xFC00) == 0xD800 and i < n - 6 and text[i + 1] == "\\" and text[i + 2] == "u":
                low = int(text[i + 3:i + 7], 16)
                if (low & 0xFC00) == 0xDC00:
                    v = ((v & 0x3FF) << 10) + (low & 0x3FF) + 0x10000
                    i += 6
            out.append(chr(v))
        else:
            out.append({"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}.get(c, c))
        i += 1
    return "".join(out)


_INT64_MAX = (1 << 63) - 1
_INT64_MIN = -(1 << 63)


def sql_value(node: JsonNode):
    """The SQL value of ``node`` (SQLite's jsonReturn): null -> NULL, true/false ->
    1/0, integers as INTEGER (REAL beyond 64 bits), reals as REAL, strings
    decoded, arrays and objects as JsonText."""
    kind = node.kind
    if kind == "text":
        return node.text if node.raw else _decode_string(node.text)
    if kind == "integer":
        value = int(node.text)
        return value if _INT64_MIN <= value <= _INT64_MAX else float(node.text)
    if kind == "real":
        return float(node.text)
    if kind == "null":
        return None
    if kind == "true":
        return 1
    if kind == "false":
        return 0
    return JsonText(render(node))


# --------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------

class _PathError(Exception):
    """A malformed path; ``rest`` is the text from the point of the error."""

    def __init__(self, rest: str):
        super().__init__(rest)
        self.rest = rest


def _path_error_message(rest: str) -> str:
    return "JSON path error near '%s'" % rest.replace("'", "''")


def _label_matches(label: JsonNode, key: str) -> bool:
    """SQLite compares a path key with a label's source text, escapes and all."""
    if label.raw:
        return label.text == key
    text = label.text
    return len(text) == len(key) + 2 and text[1:-1] == key


def _lookup_step(root: JsonNode, path: str, i: int, appended: list | None):
    """The node ``path[i:]`` selects below ``root`` (SQLite's jsonLookupStep).

    With ``appended`` (a one-item flag list), missing object members and the
    array element one past the end are created (as null) and the flag set.
    Returns None when nothing is selected; raises _PathError on bad syntax.
    """
    n = len(path)
    while True:
        if i >= n:
            return root
        if root.replace is not None:
            return None
        c = path[i]
        if c == ".":
            if root.kind != "object":
                return None
            i += 1
            if i < n and path[i] == '"':
                end = path.find('"', i + 1)
                if end < 0:
                    raise _PathError(path[i:])
                key, after = path[i + 1:end], end + 1
            else:
                end = i
                while end < n and path[end] != "." and path[end] != "[":
                    end += 1
                if end == i:
                    raise _PathError(path[i:])
                key, after = path[i:end], end
            items = root.items
            for k in range(0, len(items), 2):
                if _label_matches(items[k], key):
                    root, i = items[k + 1], after
                    break
            else:
                if appended is None:
                    return None
                made = _lookup_append(path, after, appended)
                if made is None:
                    return None
                label = JsonNode("text", key)
                label.raw = True
                items.append(label)
                items.append(made[0])
                return made[1]
            continue
        if c == "[":
            j = i + 1
            index = 0
            while j < n and "0" <= path[j] <= "9":
                index = (index * 10 + ord(path[j]) - 48) & 0xFFFFFFFF  # C's u32
                j += 1
            if j == i + 1 or j >= n or path[j] != "]":
                if i + 1 < n and path[i + 1] == "#":
                    if root.kind != "array":
                        return None
                    index = sum(1 for child in root.items if not child.removed)
                    j = i + 2
                    if j + 1 < n and path[j] == "-" and "0" <= path[j + 1] <= "9":
                        j += 1
                        back = 0
                        while j < n and "0" <= path[j] <= "9":
                            back = (back * 10 + ord(path[j]) - 48) & 0xFFFFFFFF
                            j += 1
                        if back > index:
                            return None
                        index -= back
                    if j >= n or path[j] != "]":
                        raise _PathError(path[i:])
                else:
                    raise _PathError(path[i:])
            if root.kind != "array":
                return None
            after = j + 1
            items = root.items
            k = 0
            count = len(items)
            while k < count and (index > 0 or items[k].removed):
                if not items[k].removed:
                    index -= 1
                k += 1
            if k < count:
                root, i = items[k], after
                continue
            if index == 0 and appended is not None:
                made = _lookup_append(path, after, appended)
                if made is None:
                    return None
                items.append(made[0])
                return made[1]
            return None
        raise _PathError(path[i:])


def _lookup_append(path: str, i: int, appended: list):
    """Build the nodes that ``path[i:]`` would select (SQLite's jsonLookupAppend):
    (new subtree, selected leaf) or None when the path cannot be created."""
    appended[0] = True
    if i >= len(path):
        leaf = JsonNode("null", "null")
        return leaf, leaf
    if path[i] == ".":
        sub = JsonNode("object", "", [])
    elif path.startswith("[0]", i):
        sub = JsonNode("array", "", [])
    else:
        return None
    leaf = _lookup_step(sub, path, i, appended)
    return None if leaf is None else (sub, leaf)


def lookup(root: JsonNode, path: str | None, appended: list | None = None):
    """The node selected by ``path`` ('$' followed by .key, ."key", [N], [#], [#-N]),
    or None.  Raises SqlFunctionError("JSON path error near '...'") on bad syntax."""
    if path is None:
        return None
    try:
        if not path.startswith("$"):
            raise _PathError(path)
        return _lookup_step(root, path, 1, appended)
    except _PathError as err:
        raise SqlFunctionError(_path_error_message(err.rest)) from None


# --------------------------------------------------------------------------
# Argument handling
# --------------------------------------------------------------------------

def _arg_text(value) -> str | None:
    """An argument as SQLite's sqlite3_value_text sees it (None for NULL)."""
    if value is None or isinstance(value, str):
        return value
    return to_text(value)


@functools.lru_cache(maxsize=64)
def _parse_shared(text: str) -> JsonNode | None:
    """parse_json with a cache, for functions that only read the tree."""
    return parse_json(text)


def _parse_arg(value, *, shared: bool) -> JsonNode | None:
    """The tree of a JSON argument: None for NULL; SqlFunctionError if malformed.

    ``shared`` trees come from a cache and must not be edited.
    """
    text = _arg_text(value)
    if text is None:
        return None
    root = _parse_shared(str(text)) if shared else parse_json(text)
    if root is None:
        raise SqlFunctionError(MALFORMED)
    return root


# --------------------------------------------------------------------------
# Scalar functions
# --------------------------------------------------------------------------

@scalar("json", 1)
def json_(value):
    """json(X): X minified (numbers and escapes kept as written); malformed is an error."""
    root = _parse_arg(value, shared=True)
    return None if root is None else JsonText(render(root))


@scalar("json_valid", 1)
def json_valid(value):
    """json_valid(X): 1 if X is well-formed JSON, else 0 (NULL gives 0 in 3.40)."""
    text = _arg_text(value)
    return 0 if text is None or _parse_shared(str(text)) is None else 1


@scalar("json_quote", 1)
def json_quote(value):
    """json_quote(X): X as a JSON value (a string is quoted, JSON text kept)."""
    out: list[str] = []
    _append_value(out, value)
    return JsonText(out[0])


@scalar("json_array")
def json_array(*args):
    """json_array(V1, V2, ...): a JSON array of the SQL values."""
    out: list[str] = []
    for value in args:
        _append_value(out, value)
    return JsonText("[" + ",".join(out) + "]")


@scalar("json_object")
def json_object(*args):
    """json_object(K1, V1, ...): a JSON object; labels must be TEXT."""
    if len(args) & 1:
        raise SqlFunctionError("json_object() requires an even number of arguments")
    parts: list[str] = []
    for k in range(0, len(args), 2):
        label = args[k]
        if not isinstance(label, str):
            raise SqlFunctionError("json_object() labels must be TEXT")
        parts.append(quote_json_string(label) + ":")
        _append_value(parts, args[k + 1])
    pairs = [parts[k] + parts[k + 1] for k in range(0, len(parts), 2)]
    return JsonText("{" + ",".join(pairs) + "}")


@scalar("json_array_length", 1)
@scalar("json_array_length", 2)
def json_array_length(value, path=_arg_text):
    """json_array_length(X[, P]): the number of elements of the array (0 if not an array)."""
    root = _parse_arg(value, shared=True)
    if root is None:
        return None
    node = root if path is _arg_text else lookup(root, _arg_text(path))
    if node is None:
        return None
    return len(node.items) if node.kind == "array" else 0


@scalar("json_type", 1)
@scalar("json_type", 2)
def json_type(value, path=_arg_text):
    """json_type(X[, P]): 'null', 'true', 'false', 'integer', 'real', 'text', 'array' or 'object'."""
    root = _parse_arg(value, shared=True)
    if root is None:
        return None
    node = root if path is _arg_text else lookup(root, _arg_text(path))
    return None if node is None else node.kind


@scalar("json_extract")
def json_extract(value, *paths):
    """json_extract(X, P1, ...): the SQL value at P1; with several paths a JSON
    array of the selected values (null where nothing is selected)."""
    if not paths:
        return None
    root = _parse_arg(value, shared=True)
    if root is None:
        return None
    if len(paths) == 1:
        node = lookup(root, _arg_text(paths[0]))
        return None if node is None else sql_value(node)
    parts = []
    for path in paths:
        node = lookup(root, _arg_text(path))
        parts.append("null" if node is None else render(node))
    return JsonText("[" + ",".join(parts) + "]")


def _abbreviated_path(path: str) -> str:
    """The full path for a ``->``/``->>`` right operand: 'LABEL' -> '$.LABEL',
    'N' (starting with a digit) -> '$[N]', '[N]' -> '$[N]'; '$...' is kept."""
    if path.startswith("$"):
        return path
    if path[:1].isdigit() and path[:1].isascii():
        return "$[" + path + "]"
    if path.startswith("["):
        return "$" + path
    return "$." + path


@scalar("json_arrow", 2)
def json_arrow(value, path):
    """X -> P: the JSON text of the selected value (a string stays quoted)."""
    root = _parse_arg(value, shared=True)
    text = _arg_text(path)
    if root is None or text is None:
        return None
    node = lookup(root, _abbreviated_path(text))
    return None if node is None else JsonText(render(node))


@scalar("json_arrow2", 2)
def json_arrow2(value, path):
    """X ->> P: the SQL value of the selected value (arrays/objects as plain text)."""
    root = _parse_arg(value, shared=True)
    text = _arg_text(path)
    if root is None or text is None:
        return None
    node = lookup(root, _abbreviated_path(text))
    if node is None:
        return None
    result = sql_value(node)
    return str(result) if type(result) is JsonText else result


@scalar("json_remove")
def json_remove(value, *paths):
    """json_remove(X, P1, ...): X without the selected elements (NULL if '$' is removed)."""
    root = _parse_arg(value, shared=False)
    if root is None:
        return None
    for path in paths:
        text = _arg_text(path)
        if text is None:
            return None
        node = lookup(root, text)
        if node is not None:
            node.removed = True
    if root.removed:
        return None
    return JsonText(render(root))


def _edit(name: str, args: tuple, *, create: bool, overwrite: bool):
    """Shared body of json_insert / json_replace / json_set (SQLite's jsonSetFunc
    and jsonReplaceFunc): mark each selected node as replaced by its value."""
    if not args:
        return None
    if not len(args) & 1:
        raise SqlFunctionError("json_%s() needs an odd number of arguments" % name)
    root = _parse_arg(args[0], shared=False)
    if root is None:
        return None
    for k in range(1, len(args), 2):
        appended = [False] if create else None
        node = lookup(root, _arg_text(args[k]), appended)
        if node is not None and (overwrite or (appended is not None and appended[0])):
            node.replace = k + 1
    if root.replace is not None:
        return args[root.replace]
    return JsonText(render(root, args))


@scalar("json_insert")
def json_insert(*args):
    """json_insert(X, P1, V1, ...): add values where the paths select nothing."""
    return _edit("insert", args, create=True, overwrite=False)


@scalar("json_replace")
def json_replace(*args):
    """json_replace(X, P1, V1, ...): overwrite values where the paths select something."""
    return _edit("replace", args, create=False, overwrite=True)


@scalar("json_set")
def json_set(*args):
    """json_set(X, P1, V1, ...): overwrite or add values."""
    return _edit("set", args, create=True, overwrite=True)


def _remove_all_nulls(obj: JsonNode) -> None:
    """Mark null members removed, recursively through nested objects (not arrays)."""
    stack = [obj]
    while stack:
        node = stack.pop()
        items = node.items
        for k in range(1, node.n_parsed, 2):
            member = items[k]
            if member.kind == "null":
                member.removed = True
            elif member.kind == "object":
                stack.append(member)


def _merge_patch(target: JsonNode, patch: JsonNode) -> JsonNode:
    """RFC 7396 MergePatch as SQLite 3.40's jsonMergePatch applies it: edits
    ``target`` in place and returns the node to render in its place.

    Only the members ``target`` had when parsed are matched (a key repeated in
    the patch is added again, and members a previous merge into the same
    target added are dropped when this one adds any); keys compare by source
    text.  Recursion depth is
    the patch's nesting depth (at most MAX_DEPTH).
    """
    if patch.kind != "object":
        return patch
    if target.kind != "object":
        _remove_all_nulls(patch)
        return patch
    items = target.items
    parsed = target.n_parsed
    patch_items = patch.items
    appended = False
    for k in range(0, patch.n_parsed, 2):
        key = patch_items[k].text
        new_value = patch_items[k + 1]
        for j in range(0, parsed, 2):
            if items[j].text == key and not items[j].raw:
                member = items[j + 1]
                if member.removed or member.patch is not None:
                    break
                if new_value.kind == "null":
                    member.removed = True
                else:
                    merged = _merge_patch(member, new_value)
                    if merged is not member:
                        member.patch = merged
                break
        else:
            if new_value.kind != "null":
                if not appended:
                    # SQLite re-links the target's append chain on each call, so
                    # members added by an earlier merge into it are dropped.
                    del items[parsed:]
                    appended = True
                _remove_all_nulls(patch)
                holder = JsonNode("true", "true")
                holder.patch = new_value
                items.append(JsonNode("text", key))
                items.append(holder)
    return target


def _ensure_recursion_headroom() -> None:
    """Merge patch recurses once per nesting level; make room for MAX_DEPTH levels."""
    needed = 3 * MAX_DEPTH + 1000
    if sys.getrecursionlimit() < needed:
        sys.setrecursionlimit(needed)


@scalar("json_patch", 2)
def json_patch(target, patch):
    """json_patch(T, P): T with the RFC 7396 merge patch P applied."""
    target_root = _parse_arg(target, shared=False)
    if target_root is None:
        return None
    patch_root = _parse_arg(patch, shared=False)
    if patch_root is None:
        return None
    _ensure_recursion_headroom()
    return JsonText(render(_merge_patch(target_root, patch_root)))


# --------------------------------------------------------------------------
# Aggregates
# --------------------------------------------------------------------------

@aggregate("json_group_array", 1)
class JsonGroupArray:
    """json_group_array(X): a JSON array of the X values of the group, in order.

    step/inverse are O(1) (inverse removes the oldest row, as window frames
    do); value/finalize are O(size).
    """

    __slots__ = ("parts",)

    def __init__(self):
        self.parts: deque[str] = deque()

    def step(self, value) -> None:
        out: list[str] = []
        _append_value(out, value)
        self.parts.append(out[0])

    def inverse(self, value=None) -> None:
        if self.parts:
            self.parts.popleft()

    def value(self):
        return JsonText("[" + ",".join(self.parts) + "]")

    finalize = value

    def _check(self) -> None:
        assert all(isinstance(part, str) and part for part in self.parts)


@aggregate("json_group_object", 2)
class JsonGroupObject:
    """json_group_object(NAME, X): a JSON object of the group's NAME: X pairs.

    A NULL name contributes an empty label (SQLite 3.40 writes '{:1}');
    duplicate names are all kept.  step/inverse O(1), value O(size).
    """

    __slots__ = ("parts",)

    def __init__(self):
        self.parts: deque[str] = deque()

    def step(self, name, value) -> None:
        text = _arg_text(name)
        out = ["" if text is None else quote_json_string(text)]
        _append_value(out, value)
        self.parts.append(out[0] + ":" + out[1])

    def inverse(self, name=None, value=None) -> None:
        if self.parts:
            self.parts.popleft()

    def value(self):
        return JsonText("{" + ",".join(self.parts) + "}")

    finalize = value

    def _check(self) -> None:
        assert all(isinstance(part, str) and ":" in part for part in self.parts)
