"""SQLite's record format (fileformat2.html, "Record Format"): the encoding of
the ``before``, ``after`` and ``updates`` columns of the CDC table."""

from __future__ import annotations

import struct

from engine.errors import OperationalError

_pack_double = struct.Struct(">d").pack
_unpack_double = struct.Struct(">d").unpack_from
# Serial type and body width of an integer by the bytes its two's complement needs
# (1..8); 0 and 1 are serial types 8 and 9 with no body.
_INT_TYPE = (0, 1, 2, 3, 4, 5, 5, 6, 6)
_INT_WIDTH = (0, 1, 2, 3, 4, 6, 6, 8, 8)
_INT_LEN = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8}
_pack_short = struct.Struct(">h").pack
# (serial type, body) of the integers -128..127, indexed by the value itself (a
# negative index counts from the end: entry 256 - k is -k): 0 and 1 are types 8
# and 9 with no body, the others type 1 with one byte.
_SMALL_INT = tuple((8 + v, b"") if v in (0, 1) else (1, (v & 0xFF).to_bytes(1, "big"))
                   for v in list(range(128)) + list(range(-128, 0)))


def _varint(v: int) -> bytes:
    """SQLite's big-endian varint (1-9 bytes; the 9th byte carries 8 bits)."""
    if 0 <= v <= 0x7F:
        return bytes((v,))
    v &= 0xFFFFFFFFFFFFFFFF
    if v > 0x00FFFFFFFFFFFFFF:
        out = [v & 0xFF]
        v >>= 8
        for _ in range(8):
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        return bytes(reversed(out))
    out = [v & 0x7F]
    v >>= 7
    while v:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    return bytes(reversed(out))


def _read_varint(data: bytes, pos: int):
    """(value, next position) of the varint at ``pos``."""
    v = 0
    for i in range(8):
        b = data[pos + i]
        v = (v << 7) | (b & 0x7F)
        if not b & 0x80:
            return v, pos + i + 1
    return (v << 8) | data[pos + 8], pos + 9


def encode_record(values) -> bytes:
    """``values`` as one SQLite record: header (serial types) then bodies.

    O(columns): the serial types are collected as ints and the bodies as bytes
    (NULL, 0 and 1 have none), then ``_assemble`` writes the header. Type rules:
    fileformat2, section 2.1 (smallest integer width; REAL always 8 bytes).
    """
    types = []
    bodies = []
    put_type = types.append
    put_body = bodies.append
    for v in values:
        tv = type(v)
        if tv is int:
            if -129 < v < 128:
                t, b = _SMALL_INT[v]
                put_type(t)
                put_body(b)
            elif -32769 < v < 32768:
                put_type(2)
                put_body(_pack_short(v))
            else:
                n = ((v if v >= 0 else ~v).bit_length() + 8) >> 3
                put_type(_INT_TYPE[n])
                put_body(v.to_bytes(_INT_WIDTH[n], "big", signed=True))
        elif tv is str:
            b = v.encode("utf-8")
            put_type(13 + 2 * len(b))
            put_body(b)
        elif v is None:
            put_type(0)
        elif tv is float:
            put_type(7)
            put_body(_pack_double(v))
        else:
            b = bytes(v)
            put_type(12 + 2 * len(b))
            put_body(b)
    return _assemble(types, bodies)


_BYTE = tuple(bytes((i,)) for i in range(256))  # one-byte bytes objects, prebuilt


def _serial(v) -> tuple:
    """``(serial type, body)`` of one value: the per-value step ``encode_record`` and
    ``update_records`` inline for every column. O(len(v))."""
    tv = type(v)
    if tv is int:
        if -129 < v < 128:
            return _SMALL_INT[v]
        if -32769 < v < 32768:
            return 2, _pack_short(v)
        n = ((v if v >= 0 else ~v).bit_length() + 8) >> 3
        return _INT_TYPE[n], v.to_bytes(_INT_WIDTH[n], "big", signed=True)
    if tv is str:
        body = v.encode("utf-8")
        return 13 + 2 * len(body), body
    if v is None:
        return 0, b""
    if tv is float:
        return 7, _pack_double(v)
    body = bytes(v)
    return 12 + 2 * len(body), body


def _header(types: list) -> bytes:
    """A record header of any size: its size varint (which counts itself), then
    the serial type varints. O(columns); the long-header case of the encoders."""
    header = b"".join(map(_varint, types))
    size = len(header) + 1
    if size > 0x7F:  # the size counts its own varint
        size = len(header) + len(_varint(len(header) + 2))
    return _varint(size) + header


def _assemble(types: list, bodies: list) -> bytes:
    """The record of serial ``types`` and their ``bodies``: header size, header,
    bodies. A header of one-byte serial types under 127 bytes (the usual case: no
    string or BLOB over 57 bytes) is one ``bytes`` call; longer ones ``_header``."""
    n = len(types)
    if n < 0x7F:
        try:
            header = bytes(types)
        except ValueError:  # a serial type over 255
            header = b"\x80"
        if header.isascii():  # every serial type is a one-byte varint (< 0x80)
            return _BYTE[n + 1] + header + b"".join(bodies)
    return _header(types) + b"".join(bodies)


def update_records(before: tuple, after: tuple, want_before: bool, want_after: bool,
                   want_updates: bool):
    """``(before, after, updates)`` records of one UPDATE (None where not wanted).

    One pass over the columns, one Python call: each before value is encoded
    once, and so is each after value the update changed; a column left equal
    (the same object, or same type and value) reuses the before encoding, except
    REALs (0.0 and -0.0 are equal but stored apart: re-encoded, not flagged).
    ``updates`` (``updates_record``) is N changed-flags (serial types 8/9), then
    the N new values with NULL (type 0, no body) where unchanged. O(columns).
    """
    bt, bb = [], []  # the before image's serial types and bodies
    put_type, put_body = bt.append, bb.append
    changes = None  # [(column, after's type, after's body, changed?)] where they differ
    for b, a in zip(before, after):
        tb = type(b)
        if tb is int:
            if -129 < b < 128:
                t, body = _SMALL_INT[b]
            elif -32769 < b < 32768:
                t = 2
                body = _pack_short(b)
            else:
                n = ((b if b >= 0 else ~b).bit_length() + 8) >> 3
                t = _INT_TYPE[n]
                body = b.to_bytes(_INT_WIDTH[n], "big", signed=True)
        elif tb is str:
            body = b.encode("utf-8")
            t = 13 + 2 * len(body)
        elif b is None:
            t = 0
            body = b""
        elif tb is float:
            t = 7
            body = _pack_double(b)
        else:
            body = bytes(b)
            t = 12 + 2 * len(body)
        put_type(t)
        put_body(body)
        if a is b:
            continue
        ta = type(a)
        same = ta is tb and a == b
        if same and ta is not float:
            continue
        t, body = _serial(a)  # (a call: only the columns the update changed)
        if changes is None:
            changes = []
        # (a REAL equal to the old one, 0.0 vs -0.0, is stored but not a change)
        changes.append((len(bt) - 1, t, body, not same))
    n = len(bt)
    at, ab = bt[:], bb[:]  # the after image: the before one, changed columns replaced
    flags, ut, ub = [8] * n, [0] * n, []  # updates: flags, new values' types, bodies
    if changes is not None:
        for i, t, body, changed in changes:
            at[i] = t
            ab[i] = body
            if changed:
                flags[i] = 9
                ut[i] = t
                ub.append(body)
    if n < 64:  # the updates record's 2n one-byte types still fit a one-byte size
        try:
            hb = bytes(bt)
            ha = bytes(at)
        except ValueError:  # a serial type over 255
            hb = ha = b"\x80"
        if hb.isascii() and ha.isascii():  # (ut's types are at's or 0: ascii too)
            size = _BYTE[n + 1]
            return (size + hb + b"".join(bb) if want_before else None,
                    size + ha + b"".join(ab) if want_after else None,
                    _BYTE[2 * n + 1] + bytes(flags) + bytes(ut) + b"".join(ub)
                    if want_updates else None)
    return (_assemble(bt, bb) if want_before else None,
            _assemble(at, ab) if want_after else None,
            _assemble(flags + ut, ub) if want_updates else None)


def decode_record(data: bytes) -> tuple:
    """The values of one SQLite record (inverse of ``encode_record``). O(columns)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise OperationalError("malformed record: not a BLOB")
    data = bytes(data)
    try:
        size, pos = _read_varint(data, 0)
        types = []
        while pos < size:
            t, pos = _read_varint(data, pos)
            types.append(t)
        pos = size
        out = []
        for t in types:
            if t == 0:
                out.append(None)
            elif t in (8, 9):
                out.append(t - 8)
            elif t <= 6:
                n = _INT_LEN[t]
                out.append(int.from_bytes(data[pos:pos + n], "big", signed=True))
                pos += n
            elif t == 7:
                out.append(_unpack_double(data, pos)[0])
                pos += 8
            elif t >= 12:
                n = (t - 12) >> 1
                chunk = data[pos:pos + n]
                if len(chunk) != n:
                    raise IndexError
                out.append(chunk.decode("utf-8", "replace") if t & 1 else chunk)
                pos += n
            else:
                raise IndexError
        if pos > len(data):
            raise IndexError
    except (IndexError, KeyError, struct.error):
        raise OperationalError("malformed record") from None
    return tuple(out)


def updates_record(before: tuple, after: tuple) -> bytes:
    """Turso's ``updates``: N changed-flags then the N new values (NULL if unchanged)."""
    flags = []
    values = []
    for b, a in zip(before, after):
        changed = type(a) is not type(b) or a != b
        flags.append(1 if changed else 0)
        values.append(a if changed else None)
    return encode_record(flags + values)
