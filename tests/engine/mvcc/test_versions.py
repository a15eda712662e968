"""TableVersions' install paths against a dict model: ``install`` (with and without
history), ``install_latest`` (a whole write set, appending new top keys in place),
``_check`` after every step, on SortedDicts small enough to split sublists often."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.mvcc.versions import TableVersions

WRITE_SETS = st.lists(
    st.dictionaries(st.integers(-5, 60), st.one_of(st.none(), st.integers(0, 9)),
                    max_size=12),
    min_size=1, max_size=25)


def _small(versions: TableVersions) -> TableVersions:
    versions.rows._list._reset(4)  # load 4: sublists split every few inserts
    return versions


@settings(max_examples=150, deadline=None)
@given(write_sets=WRITE_SETS, grow=st.sampled_from(["any", "grow", "block"]))
def test_install_latest_matches_a_dict_model(write_sets, grow):
    versions = _small(TableVersions())
    model = {}
    for ts, writes in enumerate(write_sets, start=1):
        top = max(model, default=0)
        if grow == "grow":  # mostly new top keys: the in-place append path
            writes = {top + 1 + k % 7 if v is not None else k: v for k, v in writes.items()}
        elif grow == "block" and ts % 2:  # more than 8 ascending new top keys: one block
            writes = {top + 1 + i: i % 10 for i in range(9 + len(writes))}
        expected = [(k, model.get(k), v) for k, v in writes.items()
                    if model.get(k) is not None or v is not None]
        if ts % 3 == 0:
            versions.max_key()  # re-cache the top key (a cold cache is the other case)
        assert versions.install_latest(writes, ts) == expected
        for k, v in writes.items():
            if v is None:
                model.pop(k, None)
            else:
                model[k] = v
        versions._check()
        assert dict(versions.rows) == model
        assert list(versions.rows) == sorted(model)
        assert versions.max_key() == max(model, default=None)


def test_install_latest_with_pending_begins_takes_the_general_path():
    versions = TableVersions()
    versions.install(1, ("a",), 1, False)
    versions.install(2, ("b",), 2, True)  # some snapshot still sees 2 as absent
    assert versions.begins == {2: 2}
    out = versions.install_latest({2: ("c",), 3: ("d",)}, 3)
    assert out == [(2, ("b",), ("c",)), (3, None, ("d",))]
    assert versions.begins == {}  # no history kept: every snapshot sees the latest
    versions._check()
    assert dict(versions.rows) == {1: ("a",), 2: ("c",), 3: ("d",)}


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 300), st.booleans(), st.lists(st.tuples(
    st.sampled_from(["put", "delete"]), st.integers(0, 400)), max_size=40),
    st.integers(0, 250))
def test_chunked_scan_keeps_its_snapshot_while_commits_land_between_chunks(
        n, reverse, ops, stop_after):
    """``scan`` reads in growing chunks; commits that land between two chunks (with
    history kept, as for a live snapshot) must not change what it yields: the rows
    visible at its timestamp, in key order, each once."""
    v = TableVersions()
    v.install_latest({k: ("r", k) for k in range(0, 2 * n, 2)}, 1)
    expected = [(k, ("r", k)) for k in range(0, 2 * n, 2)]
    if reverse:
        expected.reverse()
    it = v.scan(1, reverse=reverse)
    got = list(itertools.islice(it, stop_after))
    ts = 2
    for op, key in ops:  # later commits, while the snapshot at ts 1 is alive
        v.install(key, ("new", key) if op == "put" else None, ts, True)
        ts += 1
    got += list(it)
    assert got == expected
    v._check()
