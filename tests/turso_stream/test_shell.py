"""The ``turso-stream`` shell against the real ``sqlite3`` 3.40 command-line shell.

Scripts go to both shells on stdin (ours as a subprocess, as a user runs it, and
in-process for the property tests); stdout, stderr and the exit status must match.
The interactive front end is driven through prompt_toolkit's pipe input.
"""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from turso_stream.shell import run_shell
from turso_stream.shell.core import Shell
from turso_stream.shell.dot import split_args
from turso_stream.shell.render import OutputSettings, csv_field, quote_name, sql_literal

SQLITE3 = "/usr/bin/sqlite3"
needs_sqlite3 = pytest.mark.skipif(
    not os.path.exists(SQLITE3), reason="the sqlite3 command-line shell is not installed")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_ours(script: str, *args: str, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "turso_stream", *args], input=script.encode(),
                          capture_output=True, cwd=cwd, env=env, timeout=60)


def run_sqlite(script: str, *args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([SQLITE3, *args], input=script.encode(), capture_output=True,
                          cwd=cwd, timeout=60)


def same_as_sqlite(tmp_path, script: str, db: str = "db.sqlite", files: dict | None = None):
    """Run ``script`` in two fresh directories (ours, sqlite3's); assert identical
    stdout, stderr, exit status, and identical contents of the files written."""
    outcomes = []
    for name, runner in (("ours", run_ours), ("sqlite", run_sqlite)):
        d = tmp_path / name
        d.mkdir()
        for fname, text in (files or {}).items():
            (d / fname).write_text(text)
        proc = runner(script, db, cwd=d)
        # .databases prints the absolute path, which differs between the two runs
        proc.stdout = proc.stdout.replace(str(d).encode(), b"DIR")
        written = {p.name: p.read_bytes() for p in sorted(d.iterdir())
                   if p.suffix in (".txt", ".csv", ".sql")}
        outcomes.append((proc, written))
    (ours, our_files), (theirs, their_files) = outcomes
    assert "Traceback" not in ours.stderr.decode()
    assert ours.stdout.decode() == theirs.stdout.decode()
    assert ours.stderr.decode() == theirs.stderr.decode()
    assert ours.returncode == theirs.returncode
    assert our_files == their_files
    return ours


DATA = """create table t(id integer primary key, name text, score real);
insert into t values(1,'alice',1.5),(2,'bob, jr',2.0),(3,'say "hi"',1e20),(4,'',0.1),
(5,null,-3.25),(6,'multi
line',7),(7,'naïve',1e-7),(8,'it''s',123456789.125);
"""


@needs_sqlite3
def test_output_modes_match_sqlite3(tmp_path):
    modes = ["list", "csv", "column", "table", "box", "markdown", "json", "line", "tabs",
             "insert", "insert other", "quote"]
    script = DATA
    for headers in ("on", "off"):
        script += f".headers {headers}\n"
        for mode in modes:
            script += f".mode {mode}\nselect * from t;\nselect * from t where 0;\n"
    script += (".mode list\n.separator , ;\nselect id, name from t where id < 3;\n"
               '.separator "\\t"\nselect id, name from t where id < 3;\n'
               ".nullvalue <null>\nselect name, 1 from t where id = 5;\n"
               ".mode csv\n.headers on\nselect 'a,b' as \"c d\", 'x' as e;\n"
               ".mode line\nselect 1 as a, 2 as long_name;\n")
    out = same_as_sqlite(tmp_path, script)
    assert b"| 7  | na\xc3\xafve" in out.stdout  # the table mode really ran


@needs_sqlite3
def test_column_mode_turns_headers_on_unless_set(tmp_path):
    same_as_sqlite(tmp_path, ".mode column\nselect 1 as a;\n.headers off\n.mode column\n"
                             "select 1 as a;\n.mode table\nselect 2 as b;\n")


@needs_sqlite3
def test_errors_are_reported_like_sqlite3(tmp_path):
    script = """select * form t;
select 1;
create table t(a integer primary key, b);
select nocol from t;
select a from t where b = form;
select * from nosuch;
select abs(-9223372036854775808);
insert into t values(1,2,3);
insert into t values(1,1);
insert into t values(1,1);
select 'after'; select * frm t; select 'skipped';
.foo
.headers maybe
select count(*) from t;
select 'multi',
  'line' form t;
"""
    out = same_as_sqlite(tmp_path, script)
    assert out.returncode == 1
    assert b"UNIQUE constraint failed: t.a (19)" in out.stderr


@needs_sqlite3
def test_bail_stops_at_the_first_error(tmp_path):
    same_as_sqlite(tmp_path, "select 1;\n.bail on\nselect * from nosuch;\nselect 2;\n")
    # an error before '.bail on' also stops the input (shell.c's loop condition)
    sub = tmp_path / "second"
    sub.mkdir()
    same_as_sqlite(sub, "select * from nosuch;\n.bail on\nselect 2;\n")


@needs_sqlite3
def test_clean_script_exits_zero_and_quit(tmp_path):
    out = same_as_sqlite(tmp_path, "select 1;\n.quit\nselect 2;\n")
    assert out.returncode == 0 and out.stdout == b"1\n"
    sub = tmp_path / "exit"
    sub.mkdir()
    assert same_as_sqlite(sub, "select 1;\n.exit 3\n").returncode == 3


SCHEMA = """create table "u v"(x, "y z");
create table t(a integer primary key, b text unique, c real);
insert into t values(1,'it''s',1.5),(2,'tab	here',0.25),(3,'nl
x',-0.0),(4,null,1e300),(5,'cr'||char(13)||'x',0.1);
insert into "u v" values(x'00ff', 'q');
create index tc on t(c);
create view v as select a, b from t where a > 1;
create trigger tr after insert on t begin insert into "u v" values(new.a, 'trig'); end;
"""


@needs_sqlite3
def test_schema_commands_match_sqlite3(tmp_path):
    script = SCHEMA + (".tables\n.tables %e%\n.tables nomatch\n.indexes\n.indexes t\n"
                       ".schema\n.schema t\n.schema v\n.schema nomatch\n.databases\n")
    same_as_sqlite(tmp_path, script)


@needs_sqlite3
def test_dump_matches_sqlite3_and_reloads(tmp_path):
    out = same_as_sqlite(tmp_path, SCHEMA + ".dump\n.dump t\n.dump nomatch\n")
    full = out.stdout.decode().split("COMMIT;\n")[0] + "COMMIT;\n"
    target = sqlite3.connect(":memory:")
    target.executescript(full)
    assert target.execute("select b, c from t order by a").fetchall() == [
        ("it's", 1.5), ("tab\there", 0.25), ("nl\nx", -0.0), (None, 1e300), ("cr\rx", 0.1)]


@needs_sqlite3
def test_import_read_output_once_echo_match_sqlite3(tmp_path):
    files = {
        "p.csv": 'name,age,"note x"\nann,30,"hi, there"\nbob,,"multi\nline"\ncy,5\n'
                 "dee,1,2,3\n",
        "inc.sql": "select 42;\nselect * form nowhere;\n.mode csv\nselect 1,2;\n",
    }
    script = """.import --csv p.csv people
.schema people
select * from people;
select typeof(age), count(*) from people group by 1;
.import --csv --skip 1 p.csv people
select count(*) from people;
.import --csv nofile.csv zz
.mode csv
.import p.csv p2
select * from p2;
.read inc.sql
.read nosuch.sql
.mode list
.output out.txt
select 'to file';
.output
select 'back';
.once once.txt
select 'once';
select 'after once';
.echo on
select 1;
.echo off
.print hello "quoted  words" 'single'
.timer off
"""
    same_as_sqlite(tmp_path, script, files=files)


def test_timer_prints_run_time():
    out, err = io.StringIO(), io.StringIO()
    assert run_shell(["-batch"], stdin=io.StringIO(".timer on\nselect 1;\n"),
                     stdout=out, stderr=err) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == "1" and lines[1].startswith("Run Time: real ")
    assert len(lines[1].split()) == 8


def test_piped_stdin_and_file_written_is_sqlite(tmp_path):
    db = tmp_path / "db.sqlite"
    proc = run_ours("create table t(a);\ninsert into t values (1),(2);\n", str(db))
    assert proc.returncode == 0 and proc.stderr == b""
    assert run_ours("select 1;", str(db)).stdout == b"1\n"
    assert run_ours("select sum(a) from t;", str(db)).stdout == b"3\n"
    # the database file is an ordinary SQLite database
    with sqlite3.connect(db) as conn:
        assert conn.execute("select a from t order by a").fetchall() == [(1,), (2,)]


@needs_sqlite3
@pytest.mark.parametrize("args", [
    [":memory:", "select * form t", "select 1"],
    [":memory:", "create table t(a unique)", "insert into t values(1)",
     "insert into t values(1)", "select 2"],
    ["-cmd", "select * frm x", ":memory:", "select 3"],
    ["-header", "-cmd", ".mode csv", ":memory:", "select 1 as a", ".mode json",
     "select 2 as b; select 3 as c"],
    ["/nonexistent/dir/x.db", "select 1"],
])
def test_command_line_sql_like_sqlite3(args):
    theirs = run_sqlite("", *args)
    assert run_in_process("", ["-batch", *args]) == (
        theirs.stdout, theirs.stderr.decode(), theirs.returncode)


def test_sql_arguments_and_options(tmp_path):
    proc = run_ours("", "-csv", "-header", ":memory:", "select 1 as a, 'x y' as b")
    assert proc.stdout == b'a,b\r\n1,"x y"\r\n' and proc.returncode == 0
    proc = run_ours("", "-nosuchoption")
    assert proc.returncode == 1 and b"unknown option" in proc.stderr


def test_open_switches_database(tmp_path):
    db = tmp_path / "other.db"
    out, err = io.StringIO(), io.StringIO()
    script = f".open {db}\ncreate table x(a);\ninsert into x values(7);\n.databases\n.open\n" \
             f".tables\n.open {db}\nselect * from x;\n"
    assert run_shell(["-batch"], stdin=io.StringIO(script), stdout=out, stderr=err) == 0
    assert out.getvalue() == f"main: {db} r/w\n7\n"


def test_demo_command_still_dispatches(monkeypatch):
    import turso_stream.__main__ as entry
    import turso_stream.demo as demo
    seen = []
    monkeypatch.setattr(demo, "run", lambda d: seen.append(d))
    assert entry.main(["demo", "somewhere"]) == 0
    assert seen == ["somewhere"]


# -- in-process: dot-command parsing and value rendering ----------------------------------


def test_help_lists_every_dot_command():
    out, _, code = run_in_process(".help\n")
    listed = {line.split()[0][1:] for line in out.decode().splitlines()}
    from turso_stream.shell.dot import COMMANDS
    assert code == 0 and listed == set(COMMANDS)


def test_split_args_quotes_and_escapes():
    assert split_args('.separator "\\t" \'a b\' c') == ["separator", "\t", "a b", "c"]
    assert split_args(".mode   insert  \"my tab\"") == ["mode", "insert", "my tab"]


def test_renderers_quote_as_the_shell():
    cfg = OutputSettings()
    cfg.set_mode("csv")
    assert [csv_field(v, cfg) for v in ("", "a b", "plain", 'q"', None)] == [
        '""', '"a b"', "plain", '"q"""', ""]
    assert quote_name("select") == '"select"' and quote_name("t_1") == "t_1"
    assert sql_literal("a\nb") == "replace('a\\nb','\\n',char(10))"
    assert sql_literal("x\\ny\n") == "replace('x\\ny\\012','\\012',char(10))"
    assert sql_literal(float("inf")) == "1e999" and sql_literal(b"\x00\xff") == "X'00ff'"


VALUES = st.one_of(
    st.none(),
    st.integers(min_value=-2**63, max_value=2**63 - 1),
    st.sampled_from([0.0, -0.0, 0.1, 1.5, -2.25, 1e-7, 1e20, 3.14159, 1e300, 18.0]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.sampled_from("ab ,\"'|\t\n\r\x01€é0"), max_size=6),
)
# BLOBs only where the shell prints their bytes (columnar modes draw raw control bytes).
BLOBS = st.binary(max_size=4)
COLUMNAR = ("column", "table", "box", "markdown")


def _literal(v) -> str:
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, bytes):
        return "x'" + v.hex() + "'"
    return "NULL" if v is None else "'" + v.replace("'", "''") + "'"


def run_in_process(script: str, argv=("-batch",)) -> tuple[bytes, str, int]:
    """Our shell in this process, stdout captured as bytes (BLOBs are raw bytes)."""
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline="")
    err = io.StringIO()
    code = run_shell(list(argv), stdin=io.StringIO(script), stdout=out, stderr=err)
    out.flush()
    return raw.getvalue(), err.getvalue(), code


@needs_sqlite3
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(),
       mode=st.sampled_from(["list", "csv", "column", "table", "box", "markdown", "json",
                             "line", "insert", "quote", "tabs"]),
       headers=st.booleans())
def test_random_values_render_like_sqlite3(data, mode, headers):
    values = VALUES if mode in COLUMNAR else st.one_of(VALUES, BLOBS)
    rows = data.draw(st.lists(st.tuples(values, values), min_size=1, max_size=4))
    script = "create table r(a, b);\n" + "".join(
        f"insert into r values({_literal(a)}, {_literal(b)});\n" for a, b in rows)
    script += f".headers {'on' if headers else 'off'}\n.mode {mode}\nselect * from r;\n"
    out, err, code = run_in_process(script)
    theirs = run_sqlite(script)
    assert out == theirs.stdout
    assert err == theirs.stderr.decode() and code == theirs.returncode


# -- interactive: prompt_toolkit pipe input ------------------------------------------------


def _interactive(keys: str, db: str = ":memory:") -> str:
    from prompt_toolkit.application import create_app_session
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput
    from turso_stream.shell.interactive import make_session, run_interactive
    out, err = io.StringIO(), io.StringIO()
    shell = Shell(db, stdout=out, stderr=err)
    with create_pipe_input() as inp, create_app_session(input=inp, output=DummyOutput()):
        inp.send_text(keys)
        inp.close()
        run_interactive(shell, session=make_session(input=inp, output=DummyOutput()),
                        show_banner=False)
    shell.close()
    return out.getvalue() + "|ERR|" + err.getvalue()


def test_interactive_multiline_errors_and_history(tmp_path, monkeypatch):
    hist = tmp_path / "history"
    monkeypatch.setenv("TURSO_STREAM_HISTORY", str(hist))
    db = str(tmp_path / "i.db")
    got = _interactive("create table t(a);\rselect * form t;\rinsert into t\r  values (1),\r"
                       " (2);\rselect sum(a)\r from t;\r", db)
    # errors have no 'near line' interactively; the multi-line statements ran whole
    assert got == ('3\n|ERR|Parse error: near "form": syntax error\n'
                   "  select * form t;\n           ^--- error here\n")
    lines = [ln[1:] for ln in hist.read_text().splitlines() if ln.startswith("+")]
    assert lines == ["create table t(a);", "select * form t;", "insert into t",
                     "  values (1),", " (2);", "select sum(a)", " from t;"]
    # a new session reads the history file: up-arrow twice recalls 'select sum(a)'
    got = _interactive("\x1b[A\x1b[A\r from t where a > 1;\r", db)
    assert got == "2\n|ERR|"


def _reap(pid: int, timeout: float = 10.0) -> int:
    """Wait for our child shell; kill it (by pid) if it has not exited in ``timeout``."""
    import signal
    import time
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs a POSIX pseudo-terminal")
def test_interactive_through_a_pseudo_terminal(tmp_path):
    import pty
    import select
    env = dict(os.environ, TURSO_STREAM_HISTORY=str(tmp_path / "h"), PROMPT_TOOLKIT_NO_CPR="1",
               PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), TERM="xterm")
    pid, fd = pty.fork()
    if pid == 0:  # the child: the shell on the terminal
        os.execve(sys.executable, [sys.executable, "-m", "turso_stream"], env)
    seen = b""

    def read_until(marker: bytes, timeout: float = 20.0) -> None:
        nonlocal seen
        import time
        end = time.monotonic() + timeout
        while marker not in seen and time.monotonic() < end:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    seen += os.read(fd, 4096)
                except OSError:
                    break
        assert marker in seen, seen

    try:
        read_until(b"sqlite>")
        os.write(fd, b"select 40 +\r")
        read_until(b"   ...>")  # the continuation prompt of an unfinished statement
        os.write(fd, b"2;\r")
        read_until(b"42\r\n")
        os.write(fd, b"select * form t;\r")
        read_until(b'Parse error: near "form": syntax error')
        os.write(fd, b".quit\r")
    finally:
        status = _reap(pid)
        os.close(fd)
    assert b"Traceback" not in seen
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 1  # an error happened
    assert "+select 40 +" in (tmp_path / "h").read_text()


def test_progress_hook_reports_during_import(tmp_path):
    csv = tmp_path / "big.csv"
    csv.write_text("n\n" + "".join(f"{i}\n" for i in range(25)))
    out, err = io.StringIO(), io.StringIO()
    shell = Shell(":memory:", stdout=out, stderr=err)
    shell.interactive, shell.progress_every = True, 10
    shell.process_lines([f".import --csv {csv} big", "select count(*) from big;"])
    shell.close()
    assert out.getvalue() == "25\n"
    assert "importing " in err.getvalue() and ": 20" in err.getvalue()
