"""Random schemas, data and SELECTs: turso_stream must return what sqlite3 returns,
with and without indexes on the columns the queries filter and join on."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grammar import create_sql, queries, schemas, table_rows
from oracle import Pair

FAST = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
SLOW = settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))


@st.composite
def databases(draw):
    """(tables, rows per table, index definitions) of a random database."""
    tables = draw(schemas())
    data = [draw(table_rows(t)) for t in tables]
    indexes = []
    for t in tables:
        for i, cols in enumerate(draw(st.lists(st.lists(st.sampled_from(t.columns), min_size=1, max_size=2, unique=True), max_size=2))):
            unique = ""
            indexes.append(f"CREATE {unique}INDEX {t.name}_i{i} ON {t.name}({', '.join(cols)})")
    return tables, data, indexes


def load(pair: Pair, tables, data):
    for t, rows in zip(tables, data):
        pair.setup(create_sql(t))
        if rows:
            marks = ", ".join("?" * len(t.columns))
            pair.setup_many(f"INSERT INTO {t.name} VALUES ({marks})", rows)


def run_queries(db, qs):
    tables, data, indexes = db
    pair = Pair()
    try:
        load(pair, tables, data)
        for sql, shape in qs:
            pair.check(sql, shape)
        for ddl in indexes:
            pair.setup(ddl)
        for sql, shape in qs:
            pair.check(sql, shape)
    finally:
        pair.close()


def _check_random(data):
    db = data.draw(databases())
    qs = data.draw(st.lists(queries(db[0]), min_size=1, max_size=4))
    run_queries(db, qs)


@FAST
@given(st.data())
def test_random_selects(data):
    _check_random(data)


@pytest.mark.slow
@SLOW
@given(st.data())
def test_random_selects_long(data):
    _check_random(data)
