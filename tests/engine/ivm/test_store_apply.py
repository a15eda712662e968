"""ViewStore: deltas become MVCC writes; retracted keys are reused in place.

A random history of multiset deltas applied to a store (and installed the way
the maintainer installs them) must leave exactly the model multiset, with the
store's and its index's invariants holding after every commit.
"""

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from dbsp import ZSet
from engine.database import open_database
from engine.ivm.store import ViewStore
from engine.sql.compiler.scope import ColumnMeta

COLUMNS = [ColumnMeta("g", "INTEGER"), ColumnMeta("v", "INTEGER")]


def _commit(db, store, delta, ts):
    writes = {}
    store.apply(delta, writes)
    if writes:
        db._install(store.table, writes, ts, False)
    store._check()
    return writes


def test_group_row_update_rewrites_its_key_in_place():
    db = open_database()
    store = ViewStore("v", "CREATE MATERIALIZED VIEW v AS ...", COLUMNS, key_columns=(0,))
    _commit(db, store, ZSet([((1, 10), 1), ((2, 20), 1)]), 1)
    (key,) = [k for k, row in store.table.versions.rows.items() if row == (1, 10)]
    entries = list(store.table.indexes[0].entries)
    writes = _commit(db, store, ZSet([((1, 10), -1), ((1, 11), 1)]), 2)
    assert writes == {key: (1, 11)}            # one replace, no delete + insert
    assert list(store.table.indexes[0].entries) == entries  # the index is untouched
    writes = _commit(db, store, ZSet([((2, 20), -1), ((3, 30), 1)]), 3)
    assert sorted(writes.values(), key=repr) == [(3, 30), None]  # another group: new key
    assert sorted(store.rows()) == [(1, 11), (3, 30)]


def test_retracting_more_than_held_is_an_internal_error():
    db = open_database()
    store = ViewStore("v", "", COLUMNS)
    _commit(db, store, ZSet([((1, 1), 2)]), 1)
    try:
        store.apply(ZSet([((1, 1), -3)]), {})
    except Exception as exc:  # noqa: BLE001
        assert "retracts" in str(exc) and "view holds 2" in str(exc)
    else:
        raise AssertionError("an over-retraction must raise")


def test_bulk_install_only_into_an_empty_store():
    db = open_database()
    store = ViewStore("v", "", COLUMNS, key_columns=(0,))
    writes = {}
    store.apply(ZSet([((g, g * 2), 1) for g in range(50)]), writes)
    assert store.bulk_install(writes)
    store._check()
    assert len(store.table.indexes[0]) == 50
    more = {}
    store.apply(ZSet([((7, 14), -1), ((7, 15), 1)]), more)
    assert not store.bulk_install(more)       # not empty: the caller installs
    db._install(store.table, more, 2, False)
    store._check()
    assert Counter(store.rows()) == Counter([(g, g * 2) for g in range(50) if g != 7] + [(7, 15)])


ROWS = st.tuples(st.integers(0, 3), st.integers(0, 2))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(st.tuples(ROWS, st.integers(-2, 2).filter(bool)), max_size=6),
                max_size=12),
       st.booleans(), st.booleans())
def test_random_deltas_keep_the_model_multiset(commits, keyed, keep):
    db = open_database()
    store = ViewStore("v", "", COLUMNS, key_columns=(0,) if keyed else ())
    model = Counter()
    for ts, changes in enumerate(commits, start=1):
        delta = ZSet()
        for row, weight in changes:
            weight = max(weight, -(model[row] + delta.weight(row)))  # never below zero
            delta.add_row(row, weight)
        writes = {}
        store.apply(delta, writes)
        if writes:
            db._install(store.table, writes, ts, keep)
        for row, weight in delta.items():
            model[row] += weight
        model = +model
        store._check()
        assert Counter(store.rows()) == model
