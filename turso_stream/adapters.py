"""Adapters (Python value -> SQL value) and converters (SQL value -> Python value).

The protocol is the stdlib ``sqlite3`` module's (PEP 246 style "microprotocols"):

* ``register_adapter(type, fn)`` makes parameters of exactly ``type`` bind as
  ``fn(value)``; an object without an adapter may offer ``__conform__(protocol)``.
  Values of the base types (int, float, str, bytes, None) skip the lookup unless an
  adapter was registered for one of them, as CPython's ``need_adapt`` does.
* ``register_converter(name, fn)`` makes result values whose declared column type
  (``PARSE_DECLTYPES``: the first word of the type) or whose column name suffix
  ``[name]`` (``PARSE_COLNAMES``) names it come back as ``fn(bytes)``. Names are
  case-insensitive; NULL is never converted.

The registries are this module's own dicts (not the stdlib's), seeded with the
same default date/timestamp adapters and converters that Python 3.11 registers.
"""

from __future__ import annotations

import datetime
import sqlite3 as _sqlite3

from sqlglot import exp

from engine.errors import ProgrammingError

PrepareProtocol = _sqlite3.PrepareProtocol
PARSE_DECLTYPES = _sqlite3.PARSE_DECLTYPES
PARSE_COLNAMES = _sqlite3.PARSE_COLNAMES

adapters: dict = {}
converters: dict = {}

_BASE_TYPES = (int, float, str, bytearray)
_PASS_THROUGH = frozenset((int, float, str, bytes, type(None)))
_state = {"base_type_adapted": False}
# For the DB-API hot path: a tuple of values of these types binds as it is unless
# adapter_state["base_type_adapted"] (an adapter registered for a base type).
PASS_THROUGH_TYPES = _PASS_THROUGH
adapter_state = _state


def register_adapter(type_, adapter) -> None:
    """Bind values of exactly ``type_`` as ``adapter(value)`` from now on."""
    if type_ in _BASE_TYPES:
        _state["base_type_adapted"] = True
    adapters[(type_, PrepareProtocol)] = adapter


def register_converter(typename: str, converter) -> None:
    """Convert result values typed ``typename`` (any case) with ``converter(bytes)``."""
    if not isinstance(typename, str):
        raise TypeError(f"register_converter() argument 1 must be str, "
                        f"not {type(typename).__name__}")
    converters[typename.upper()] = converter


_MISSING = object()


def adapt(obj, proto=PrepareProtocol, alt=_MISSING):
    """``sqlite3.adapt``: the registered adapter's result, else the protocol's
    ``__adapt__``, else the object's ``__conform__``, else ``alt``.

    Raises ProgrammingError("can't adapt") when nothing applies and no ``alt`` is given.
    """
    adapter = adapters.get((type(obj), proto))
    if adapter is not None:
        return adapter(obj)
    hook = getattr(proto, "__adapt__", None)
    if hook is not None:
        out = hook(obj)
        if out is not None:
            return out
    conform = getattr(obj, "__conform__", None)
    if conform is not None:
        out = conform(proto)
        if out is not None:
            return out
    if alt is not _MISSING:
        return alt
    raise ProgrammingError("can't adapt")


def adapt_parameter(value):
    """One parameter as the engine should bind it (O(1)); unknown types pass through
    so the engine reports sqlite3's "Error binding parameter" message."""
    if type(value) in _PASS_THROUGH and not _state["base_type_adapted"]:
        return value
    return adapt(value, PrepareProtocol, value)


class _AdaptingMapping:
    """A read-only view of a dict of named parameters that adapts values on access."""

    __slots__ = ("_params",)

    def __init__(self, params):
        self._params = params

    def keys(self):
        return self._params.keys()

    def __getitem__(self, key):
        return adapt_parameter(self._params[key])


def adapt_parameters(params):
    """The parameters of one statement, adapted, in the shape the engine binds.

    Follows Python 3.11's rules: tuples, lists and other non-dict sequences (even a
    str, one character per parameter) bind by position, dicts (and subclasses, honouring ``__missing__``) by name; anything
    else raises ProgrammingError("parameters are of unsupported type"). O(len(params)).
    """
    t = type(params)
    if t is tuple or t is list:
        if not _state["base_type_adapted"] and _PASS_THROUGH.issuperset(map(type, params)):
            return params
        return [adapt_parameter(v) for v in params]
    if isinstance(params, dict):
        return _AdaptingMapping(params)
    if not hasattr(params, "__getitem__") or not hasattr(params, "__len__"):
        raise ProgrammingError("parameters are of unsupported type")
    return [adapt_parameter(params[i]) for i in range(len(params))]


# -- converters ------------------------------------------------------------------------------


def colname_converter_name(name: str):
    """The converter name in a column name like ``'x [date]'`` (between the first
    '[' and the following ']'), else None."""
    start = name.find("[")
    if start < 0:
        return None
    end = name.find("]", start + 1)
    if end < 0:
        return None
    return name[start + 1:end]


def strip_colname_type(name: str) -> str:
    """The column name sqlite3 reports under PARSE_COLNAMES: cut at the first '['
    and drop one blank before it (``'x [date]'`` -> ``'x'``)."""
    cut = name.find("[")
    if cut < 0:
        return name
    if cut > 0 and name[cut - 1] == " ":
        cut -= 1
    return name[:cut]


def decltype_converter_name(decltype):
    """The first word of a declared type (up to a blank or '('), as sqlite3 keys it."""
    if not decltype:
        return None
    for i, ch in enumerate(decltype):
        if ch == " " or ch == "(":
            return decltype[:i]
    return decltype


def as_sqlite_bytes(value) -> bytes:
    """A non-NULL value as ``sqlite3_column_blob`` renders it for a converter."""
    t = type(value)
    if t is bytes:
        return value
    if t is str:
        return value.encode("utf-8")
    if t is int:
        return str(value).encode("ascii")
    return real_text(value).encode("ascii")


def real_text(value: float) -> str:
    """SQLite's text for a REAL ("%!.15g": always a '.0' or exponent)."""
    text = "%.15g" % value
    if text in ("inf", "-inf"):
        return "Inf" if value > 0 else "-Inf"
    if "." not in text and "e" not in text and "n" not in text:
        text += ".0"
    return text


def column_converters(names, decltypes, detect_types: int):
    """Per column, the converter to apply (or None); None overall when none apply.

    Column-name types win over declared types, as in sqlite3. O(columns).
    """
    if not detect_types or not converters:
        return None
    out = []
    for i, name in enumerate(names):
        conv = None
        if detect_types & PARSE_COLNAMES:
            key = colname_converter_name(name)
            if key is not None:
                conv = converters.get(key.upper())
        if conv is None and detect_types & PARSE_DECLTYPES and decltypes is not None:
            key = decltype_converter_name(decltypes[i])
            if key is not None:
                conv = converters.get(key.upper())
        out.append(conv)
    return out if any(c is not None for c in out) else None


# -- declared types of result columns ----------------------------------------------------------


def result_decltypes(node, catalog, ncols: int):
    """The declared type of each result column of a SELECT, as sqlite3_column_decltype.

    A result column has a declared type only when it is a plain column reference
    (possibly aliased or parenthesized) to a table named in the FROM clause; ``*``
    and ``t.*`` expand to the tables' columns. Anything the analysis does not cover
    (subqueries, views, compound selects) yields None, which means "no conversion".
    O(select items x FROM tables).
    """
    if not isinstance(node, exp.Select) or catalog is None:
        return None
    sources = _from_tables(node, catalog)
    if sources is None:
        return None
    out = []
    for item in node.expressions:
        if isinstance(item, exp.Star):
            for _alias, schema in sources:
                out.extend(c.decltype for c in schema.columns if not c.hidden)
            continue
        target = item.this if isinstance(item, exp.Alias) else item
        while isinstance(target, exp.Paren):
            target = target.this
        if isinstance(target, exp.Column) and isinstance(target.this, exp.Star):
            schema = _lookup_source(sources, target.table)
            if schema is None:
                return None
            out.extend(c.decltype for c in schema.columns if not c.hidden)
            continue
        out.append(_column_decltype(target, sources) if isinstance(target, exp.Column)
                   else None)
    return out if len(out) == ncols else None


def _from_tables(node, catalog):
    """``[(alias_lower, TableSchema)]`` for the FROM clause, or None if not all tables."""
    from_ = node.args.get("from_") or node.args.get("from")
    items = []
    if from_ is not None:
        items.append(from_.this)
    for j in node.args.get("joins") or ():
        items.append(j.this)
    out = []
    for it in items:
        if not isinstance(it, exp.Table) or it.args.get("db"):
            return None
        schema = catalog.table(it.name)
        if schema is None:
            return None
        out.append(((it.alias_or_name or it.name).lower(), schema))
    return out


def _lookup_source(sources, table_name):
    key = table_name.lower()
    for alias, schema in sources:
        if alias == key:
            return schema
    return None


def _column_decltype(col, sources):
    name = col.name.lower()
    if col.table:
        schema = _lookup_source(sources, col.table)
        candidates = [schema] if schema is not None else []
    else:
        candidates = [s for _a, s in sources]
    for schema in candidates:
        for c in schema.columns:
            if c.name.lower() == name:
                return c.decltype
    return None


# -- the defaults Python 3.11 registers -------------------------------------------------------


def _adapt_date(val):
    return val.isoformat()


def _adapt_datetime(val):
    return val.isoformat(" ")


def _convert_date(val):
    return datetime.date(*map(int, val.split(b"-")))


def _convert_timestamp(val):
    date_part, time_part = val.split(b" ")
    year, month, day = map(int, date_part.split(b"-"))
    whole, _, fraction = time_part.partition(b".")
    hours, minutes, seconds = map(int, whole.split(b":"))
    micro = int("{:0<6.6}".format(fraction.decode())) if fraction else 0
    return datetime.datetime(year, month, day, hours, minutes, seconds, micro)


register_adapter(datetime.date, _adapt_date)
register_adapter(datetime.datetime, _adapt_datetime)
register_converter("date", _convert_date)
register_converter("timestamp", _convert_timestamp)
