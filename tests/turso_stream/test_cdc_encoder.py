"""The CDC record encoders against a straightforward reference encoder.

``encode_record`` and ``update_records`` (engine/cdc/record.py) are hand-inlined for
speed; these tests hold them byte for byte to a plain transcription of SQLite's
record format (fileformat2.html, section 2.1) over random rows: integers of
every serial-type width, -0.0, text with multibyte characters and over 57
bytes (serial types past one varint byte), BLOBs, NULLs and rows of more than
126 columns (a header past one size byte). It also installs CDC-shaped write
sets into ``TableVersions`` (the block-append path) and checks the invariants.
"""

from __future__ import annotations

import struct

from hypothesis import given, settings, strategies as st

from engine.cdc import decode_record, encode_record, update_records
from engine.mvcc.versions import TableVersions


def _ref_varint(v: int) -> bytes:
    """SQLite varint, written from the spec: 7 bits per byte, the 9th byte 8 bits."""
    v &= (1 << 64) - 1
    if v < 1 << 56:
        groups = [v & 0x7F]
        v >>= 7
        while v:
            groups.append(v & 0x7F)
            v >>= 7
        groups.reverse()
        return bytes([g | 0x80 for g in groups[:-1]] + [groups[-1]])
    last = v & 0xFF
    v >>= 8
    groups = []
    for _ in range(8):
        groups.append(v & 0x7F)
        v >>= 7
    groups.reverse()
    return bytes([g | 0x80 for g in groups] + [last])


def _ref_part(v) -> tuple[int, bytes]:
    """(serial type, body) of one value by the table in fileformat2 2.1."""
    if v is None:
        return 0, b""
    if isinstance(v, int):
        if v == 0:
            return 8, b""
        if v == 1:
            return 9, b""
        for serial, width in ((1, 1), (2, 2), (3, 3), (4, 4), (5, 6), (6, 8)):
            if -(1 << (8 * width - 1)) <= v < 1 << (8 * width - 1):
                return serial, v.to_bytes(width, "big", signed=True)
        raise AssertionError("integer out of range")
    if isinstance(v, float):
        return 7, struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode("utf-8")
        return 13 + 2 * len(b), b
    b = bytes(v)
    return 12 + 2 * len(b), b


def _ref_record(values) -> bytes:
    parts = [_ref_part(v) for v in values]
    header = b"".join(_ref_varint(t) for t, _ in parts)
    size = len(header) + 1
    while len(_ref_varint(size)) + len(header) != size:
        size = len(_ref_varint(size)) + len(header)
    return _ref_varint(size) + header + b"".join(b for _, b in parts)


def _ref_updates(before, after) -> bytes:
    changed = [type(a) is not type(b) or a != b for b, a in zip(before, after)]
    return _ref_record([1 if c else 0 for c in changed] +
                       [a if c else None for a, c in zip(after, changed)])


_WIDTH_EDGES = [0, 1, -1, 2, 127, 128, -128, -129, 255, 256, 32767, 32768, -32768, -32769, (1 << 23) - 1,
                1 << 23, (1 << 31) - 1, 1 << 31, -(1 << 31) - 1, (1 << 47) - 1, 1 << 47,
                -(1 << 47) - 1, (1 << 63) - 1, -(1 << 63)]
values = st.one_of(
    st.none(),
    st.sampled_from(_WIDTH_EDGES),
    st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1),
    st.sampled_from([0.0, -0.0, 1.5, -2.25e300, 5e-324]),
    st.floats(allow_nan=False),
    st.text(max_size=80),
    st.text(alphabet="aé€😀", min_size=50, max_size=70),
    st.binary(max_size=80),
)


def _rows(min_size=0, max_size=8):
    return st.lists(values, min_size=min_size, max_size=max_size).map(tuple)


@settings(max_examples=300, deadline=None)
@given(_rows())
def test_encode_record_matches_reference(row):
    blob = encode_record(row)
    assert blob == _ref_record(row)
    assert decode_record(blob) == row or any(type(v) is float for v in row)


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=120, max_value=300), values)
def test_encode_record_wide_rows(n, v):
    row = tuple(v if i % 3 else i * 1000 for i in range(n))
    assert encode_record(row) == _ref_record(row)


@st.composite
def _updates(draw):
    before = draw(_rows(min_size=1, max_size=draw(st.sampled_from([8, 70]))))
    after = []
    for b in before:
        choice = draw(st.integers(0, 3))
        if choice == 0:
            after.append(b)  # the same object
        elif choice == 1 and isinstance(b, float):
            after.append(-b)  # 0.0 / -0.0: equal, stored apart
        elif choice == 1:
            after.append(type(b)(b) if b is not None else None)  # equal, other object
        else:
            after.append(draw(values))
    return before, tuple(after)


@settings(max_examples=300, deadline=None)
@given(_updates(), st.booleans(), st.booleans(), st.booleans())
def test_update_records_match_reference(pair, want_before, want_after, want_updates):
    before, after = pair
    b, a, u = update_records(before, after, want_before, want_after, want_updates)
    assert b == (_ref_record(before) if want_before else None)
    assert a == (_ref_record(after) if want_after else None)
    assert u == (_ref_updates(before, after) if want_updates else None)


def test_update_records_negative_zero_is_stored_not_flagged():
    b, a, u = update_records((0.0, 5), (-0.0, 6), True, True, True)
    assert a == _ref_record((-0.0, 6)) and a != b
    assert decode_record(u) == (0, 1, None, 6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 300), max_size=40, unique=True),
       st.integers(1, 400), st.integers(0, 3))
def test_install_latest_appends_new_top_blocks(existing, block, gap):
    """A CDC-shaped write set (ascending keys above every key) installs like the
    row-by-row path: same rows, same change list, invariants kept."""
    tv = TableVersions()
    tv.rows._reset(8)  # small sublists: the block must split them
    tv.install_latest({k: (k,) for k in existing}, 1)
    top = max(existing, default=0)
    writes = {k: (k, "cdc") for k in range(top + 1 + gap, top + 1 + gap + block)}
    out = tv.install_latest(writes, 2)
    tv._check()
    assert out == [(k, None, r) for k, r in writes.items()]
    assert list(tv.rows.items()) == sorted({**{k: (k,) for k in existing}, **writes}.items())
    assert tv.max_key() == max(writes)
    # Then an ordinary single-row append and a delete still work.
    tv.install_latest({max(writes) + 1: ("x",)}, 3)
    tv.install_latest({max(writes): None}, 4)
    tv._check()
    assert tv.rows.keys()[-1] == max(writes) + 1 and max(writes) not in tv.rows


def test_install_latest_block_refused_when_not_above_top():
    tv = TableVersions()
    tv.install_latest({5: ("a",), 9: ("b",)}, 1)
    out = tv.install_latest({7: ("c",), 8: ("d",)}, 2)  # below the top: row by row
    tv._check()
    assert out == [(7, None, ("c",)), (8, None, ("d",))]
    assert list(tv.rows) == [5, 7, 8, 9]
    out = tv.install_latest({11: ("e",), 10: ("f",)}, 3)  # above, but not ascending
    tv._check()
    assert list(tv.rows) == [5, 7, 8, 9, 10, 11] and len(out) == 2
