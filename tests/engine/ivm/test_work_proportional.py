"""A single-row commit does work proportional to the change, for every kind of view.

The circuit's WorkCounter (rows touched, index lookups, full scans) is read before
and after one single-row INSERT, UPDATE and DELETE on a 20,000-row table: the
difference must be a small constant, never a scan of the table or of the view.
"""

import pytest

import turso_stream

N = 20_000

VIEWS = {
    "filter": "SELECT id, x FROM t WHERE x > 50",
    "group": "SELECT g, count(*), sum(x), avg(x) FROM t GROUP BY g",
    "minmax": "SELECT g, min(x), max(x) FROM t GROUP BY g",
    "concat": "SELECT g, group_concat(x) FROM t GROUP BY g",
    "distinct": "SELECT DISTINCT g FROM t",
    "join": "SELECT t.id, d.label FROM t JOIN d ON t.g = d.g",
    "left_join": "SELECT d.label, t.id FROM d LEFT JOIN t ON t.g = d.g AND t.x > 98",
    "join_agg": "SELECT d.label, sum(t.x) FROM t JOIN d ON t.g = d.g GROUP BY d.label",
    "top_k": "SELECT id, x FROM t ORDER BY x DESC, id LIMIT 10",
    "exists": "SELECT d.g FROM d WHERE EXISTS (SELECT 1 FROM t WHERE t.g = d.g AND t.x = 7)",
    "scalar": "SELECT d.g, (SELECT count(*) FROM t WHERE t.g = d.g) FROM d",
    "window": "SELECT id, g, row_number() OVER (PARTITION BY g ORDER BY x, id) FROM t",
    "union": "SELECT g FROM t WHERE x < 5 UNION SELECT g FROM d",
}


@pytest.fixture(scope="module")
def conn():
    c = turso_stream.connect(":memory:", isolation_level=None)
    c.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, g INT, x INT)")
    c.execute("CREATE TABLE d(g INT, label TEXT)")
    c.execute("BEGIN")
    c.executemany("INSERT INTO t VALUES (?, ?, ?)", ((i, i % 500, i % 100) for i in range(1, N + 1)))
    c.executemany("INSERT INTO d VALUES (?, ?)", ((g, f"L{g % 7}") for g in range(500)))
    c.execute("COMMIT")
    for name, sql in VIEWS.items():
        c.execute(f"CREATE MATERIALIZED VIEW v_{name} AS {sql}")
    yield c
    c.close()


def _work(conn, name):
    w = conn._db.view_maintainer.views[f"v_{name}"].compiled.work
    return (w.rows, w.lookups, w.scans)


@pytest.mark.parametrize("name", sorted(VIEWS))
@pytest.mark.parametrize("statement", [
    "INSERT INTO t VALUES ({n}, 3, 7)",
    "UPDATE t SET x = x + 1 WHERE id = {m}",
    "DELETE FROM t WHERE id = {m}",
])
def test_single_row_commit_touches_a_constant_amount(conn, name, statement):
    n = conn.execute("SELECT max(id) FROM t").fetchone()[0] + 1
    m = conn.execute("SELECT min(id) FROM t").fetchone()[0]  # a row that exists
    before = _work(conn, name)
    conn.execute(statement.format(n=n, m=m))
    after = _work(conn, name)
    rows, lookups, scans = (a - b for a, b in zip(after, before))
    # a window recomputes its partition (N / 500 = 40 rows), nothing else scales with N
    assert scans == 0, (name, statement)
    assert 0 < rows + lookups < 400, (name, statement, rows, lookups)  # counted, and small
