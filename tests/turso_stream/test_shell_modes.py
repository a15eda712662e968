"""``.mode html|ascii|tcl`` and ``.width`` against the real sqlite3 3.40 shell, byte for
byte (stdout, stderr, exit status), through test_shell's two-shell harness."""

from __future__ import annotations

import pytest

from tests.turso_stream.test_shell import needs_sqlite3, same_as_sqlite
from turso_stream.shell.render import OutputSettings, render

SETUP = """CREATE TABLE t(a, b, c);
INSERT INTO t VALUES(1, 'x<y>&"q''', NULL), (2.5, 'multi
line', X'41'), (-3, 'back\\slash ctl' || char(1) || 'z', 'longer text value');
"""

SCRIPTS = {
    "html": ".mode html\nSELECT * FROM t;\n.headers on\nSELECT * FROM t;\n"
            ".nullvalue NIL\nSELECT c FROM t;\nSELECT * FROM t WHERE 0;\n",
    "ascii": ".mode ascii\nSELECT * FROM t;\n.headers on\nSELECT a, b FROM t;\n",
    "tcl": ".mode tcl\nSELECT * FROM t;\n.headers on\nSELECT * FROM t;\n"
           ".separator ,\nSELECT a, c FROM t;\n",
    "mode_errors": ".mode foo\n.mode\n.mode tcl\n.mode\n",
    "width_column": ".mode column\n.width 3 -5 8\nSELECT * FROM t;\n.headers on\n"
                    "SELECT * FROM t;\n.width 0 2\nSELECT * FROM t;\n.width\n"
                    "SELECT * FROM t;\n",
    "width_table": ".mode table\n.width -10 3 2\nSELECT * FROM t;\n.mode box\n"
                   ".width 4 -6\nSELECT a, b FROM t;\n.mode markdown\n.width 5 5 5\n"
                   "SELECT * FROM t;\n",
    "width_short_rows": ".mode column\n.headers on\n.width 1 -1\n"
                        "SELECT 12345 AS n, 'ab' AS s;\n.width -7\nSELECT 1 AS x, 2 AS y;\n",
}


@needs_sqlite3
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_modes_like_sqlite3(tmp_path, name):
    same_as_sqlite(tmp_path, SETUP + SCRIPTS[name])


def test_html_escapes_and_header_row():
    cfg = OutputSettings()
    cfg.set_mode("html")
    cfg.headers = True
    out = render(["a<b"], [("'&\"",), (None,)], cfg)
    assert out == ("<TR><TH>a&lt;b</TH>\n</TR>\n<TR><TD>&#39;&amp;&quot;</TD>\n</TR>\n"
                   "<TR><TD></TD>\n</TR>\n")


def test_tcl_quotes_like_c_strings():
    cfg = OutputSettings()
    cfg.set_mode("tcl")
    assert render(["x"], [("a\"b\\c\td\ne\x01",), (None,)], cfg) == \
        '"a\\"b\\\\c\\td\\ne\\001"\n""\n'


def test_width_cuts_cells_and_right_aligns():
    cfg = OutputSettings()
    cfg.set_mode("column")
    cfg.headers = False
    cfg.widths = [-4, 2]
    assert render(["a", "b"], [(1, "abcde")], cfg) == "   1  ab\n      cd\n      e \n"
