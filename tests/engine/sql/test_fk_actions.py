"""Foreign key actions against sqlite3: they fire the child table's triggers, and
the child rows are found through an index on the child columns when one exists."""

from __future__ import annotations

import sqlite3

import pytest

import turso_stream
from engine.transaction import Transaction

SCHEMA = """
create table p(id integer primary key, v);
create table c(id integer primary key, pid references p on delete cascade on update set null, w);
create table d(id integer primary key, pid references p(id) on delete set default default 0, w);
create index c_pid on c(pid);
create table log(msg);
create trigger cbd before delete on c begin insert into log values ('bd '||old.id||' '||old.pid); end;
create trigger cad after delete on c begin insert into log values ('ad '||old.id); end;
create trigger cbu before update of pid on c begin
  insert into log values ('bu '||old.pid||'->'||ifnull(new.pid,'null')); end;
create trigger cau after update on c begin insert into log values ('au '||new.id); end;
create trigger dau after update on d begin insert into log values ('d au '||old.pid||'->'||new.pid); end;
create trigger skip before delete on c when old.w = 'keep' begin select raise(ignore); end;
insert into p values (0, 'zero'), (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd');
insert into c values (10, 1, 'x'), (11, 1, 'y'), (12, 2, 'z'), (13, 3, 'w'), (14, 4, 'keep');
insert into d values (20, 1, 'q');
"""

STATEMENTS = ["delete from p where id = 1", "update p set id = 5 where id = 2",
              "delete from p where id = 4", "select * from c order by id",
              "select * from d", "select * from log", "update p set id = 6 where id = 3",
              "select * from c order by id", "select count(*) from log"]


def _run(module):
    conn = module.connect(":memory:")
    conn.execute("pragma foreign_keys = on")
    conn.executescript(SCHEMA)
    out = []
    for sql in STATEMENTS:
        try:
            out.append(conn.execute(sql).fetchall())
        except (sqlite3.Error, turso_stream.Error) as exc:
            out.append((type(exc).__name__, str(exc)))
    return out


def test_actions_fire_child_triggers_like_sqlite():
    expected = _run(sqlite3)
    got = _run(turso_stream)
    for sql, e, g in zip(STATEMENTS, expected, got):
        assert g == e, sql
    # the RAISE(IGNORE) trigger kept its row although the parent went away
    assert any(tuple(r)[2] == "keep" for r in got[3])


@pytest.mark.parametrize("indexed", [True, False])
def test_child_lookup_uses_index(monkeypatch, indexed):
    conn = turso_stream.connect(":memory:")
    conn.execute("pragma foreign_keys = on")
    conn.execute("create table p(id integer primary key)")
    conn.execute("create table kid(id integer primary key, pid integer references p "
                 "on delete cascade)")
    if indexed:
        conn.execute("create index kid_pid on kid(pid)")
    conn.executemany("insert into p values (?)", [(i,) for i in range(50)])
    conn.executemany("insert into kid values (?, ?)", [(i, i % 50) for i in range(500)])
    conn.commit()
    scanned = []
    original = Transaction.scan

    def recording_scan(self, table, *args, **kwargs):
        scanned.append(table.lower())
        return original(self, table, *args, **kwargs)
    monkeypatch.setattr(Transaction, "scan", recording_scan)
    conn.execute("delete from p where id = 7")
    monkeypatch.setattr(Transaction, "scan", original)
    assert ("kid" in scanned) is (not indexed)
    assert conn.execute("select count(*) from kid").fetchone() == (490,)
    assert conn.execute("select count(*) from kid where pid = 7").fetchone() == (0,)
