"""Statement splitting and completeness, against sqlite3.complete_statement."""

import sqlite3

from hypothesis import given, settings, strategies as st

from engine.sql import lexer
from engine.sql.split import is_complete, split_statements

FRAGMENTS = [
    ";", " ", "\n", "\t", "SELECT 1", "select", "x", "'a;b'", "'", "''", '"q;"', '"', "`b;`",
    "[c;d]", "[", "-- c;\n", "--", "/* ; */", "/*", "*/", "CREATE", "create", "TEMP",
    "TEMPORARY", "TRIGGER", "trigger", "tr", "BEGIN", "END", "end", "EXPLAIN", "CASE", "WHEN",
    "THEN", "ON", "t", "INSERT INTO t VALUES(1)", "é", "$a", "x'ab'", "(", ")", "-", "/",
]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=14).map("".join))
def test_is_complete_matches_sqlite_on_fragment_mixes(sql):
    assert is_complete(sql) == sqlite3.complete_statement(sql)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=10).map(" ".join))
def test_is_complete_matches_sqlite_space_separated(sql):
    assert is_complete(sql) == sqlite3.complete_statement(sql)


HAND_CASES = [
    "", ";", "select 1", "select 1;", "select 1; ", "select 1;--x", "select 1 --x;",
    "select ';'", "select ';';", "select 1 /* ; */", "select 1; /* x", "select [a;b];",
    "create trigger t after insert on x begin select 1; end", "create trigger t after insert on x begin select 1; end;",
    "create temp trigger t begin select 1; end ;", "CREATE TEMPORARY TRIGGER t BEGIN select 1;end;",
    "create table trigger(a);", "explain create trigger x begin select 1; end;",
    "create trigger x begin select case when 1 then 2 end; end;", "create trigger x begin select 1; end; select 2",
    "trigger;", "end;", "CREATE TRIGGERX;", "create\ttrigger\nx begin ; end;",
]


def test_is_complete_hand_cases():
    for sql in HAND_CASES:
        assert is_complete(sql) == sqlite3.complete_statement(sql), sql


def test_split_respects_strings_comments_identifiers():
    script = """create table t(a); insert into t values('a;b'); -- c;
    select "x;y" from [p;q]; /* ; */ select 1;;
    select 2"""
    assert split_statements(script) == [
        "create table t(a)", "insert into t values('a;b')",
        'select "x;y" from [p;q]', "select 1", "select 2",
    ]


def test_split_keeps_trigger_bodies_whole():
    script = ("create trigger tr after insert on t begin insert into u values(1); "
              "select case when 1 then 2 end; end; select 3;")
    parts = split_statements(script)
    assert parts == ["create trigger tr after insert on t begin insert into u values(1); "
                     "select case when 1 then 2 end; end", "select 3"]


def test_split_drops_empty_statements_and_keeps_trailing():
    assert split_statements(" ; ;\n-- only a comment\n;") == []
    assert split_statements("select 1") == ["select 1"]
    assert split_statements("/* lead */ select 1 /* tail */;") == ["select 1"]


def test_split_agrees_with_sqlite_executescript_count():
    script = "create table t(a); insert into t values(';'); insert into t values(2);"
    con = sqlite3.connect(":memory:")
    con.executescript(script)
    assert len(split_statements(script)) == 3
    assert con.execute("select count(*) from t").fetchone()[0] == 2


def test_lexer_tokens_follow_tokenize_c():
    kinds = [(t.kind, t.text) for t in lexer.tokenize("x'0a' 1e5 .5 0x1F ?3 :n @m $v 'it''s' [a b] ->> ! 1abc")]
    assert kinds == [
        (lexer.BLOB, "x'0a'"), (lexer.NUMBER, "1e5"), (lexer.NUMBER, ".5"), (lexer.NUMBER, "0x1F"),
        (lexer.VARIABLE, "?3"), (lexer.VARIABLE, ":n"), (lexer.VARIABLE, "@m"), (lexer.VARIABLE, "$v"),
        (lexer.STRING, "'it''s'"), (lexer.QUOTED_ID, "[a b]"), (lexer.OPERATOR, "->>"),
        (lexer.ILLEGAL, "!"), (lexer.ILLEGAL, "1abc"),
    ]


def test_lexer_trivia_and_reassembly():
    sql = "select /* c */ a -- d\n from t"
    toks = list(lexer.tokenize(sql, trivia=True))
    assert "".join(t.text for t in toks) == sql
    assert [t.kind for t in toks if t.kind == lexer.COMMENT] == [lexer.COMMENT, lexer.COMMENT]
    assert lexer.first_illegal("select 'abc").text == "'abc"
    assert lexer.first_illegal("select 1") is None
