"""The interactive front end: prompts, line editing and history through prompt_toolkit.

Prompts are sqlite3's (``sqlite> `` for a new statement, ``   ...> `` while one is
unfinished).  Every line entered is kept in a history file (``~/.turso_stream_history``,
or ``$TURSO_STREAM_HISTORY``), so the arrow keys recall earlier lines across sessions.
Ctrl-C discards the unfinished statement; Ctrl-D (end of input) leaves the shell.
Errors are reported without ``near line N`` (sqlite3 omits it interactively).
"""

from __future__ import annotations

import os

from prompt_toolkit import PromptSession
from prompt_toolkit.history import FileHistory

import turso_stream
from turso_stream.shell.core import Shell

__all__ = ["run_interactive", "history_path", "make_session", "PROMPT", "CONTINUE_PROMPT"]

PROMPT = "sqlite> "
CONTINUE_PROMPT = "   ...> "


def history_path() -> str:
    """Where line history is kept."""
    return os.environ.get("TURSO_STREAM_HISTORY") or os.path.join(
        os.path.expanduser("~"), ".turso_stream_history")


def make_session(**kwargs) -> PromptSession:
    """A prompt_toolkit session with the file history (tests pass input/output)."""
    return PromptSession(history=FileHistory(history_path()), **kwargs)


def banner(no_db: bool) -> str:
    text = (f"turso_stream {turso_stream.__version__} "
            f"(SQLite {turso_stream.sqlite_version} dialect)\n"
            'Enter ".help" for usage hints.\n')
    if no_db:
        text += ("Connected to a transient in-memory database.\n"
                 'Use ".open FILENAME" to reopen on a persistent database.\n')
    return text


def run_interactive(shell: Shell, no_db: bool = False, session: PromptSession | None = None,
                    show_banner: bool = True) -> None:
    """Read lines from ``session`` until end of input, feeding them to ``shell``."""
    shell.interactive = True
    if session is None:
        session = make_session()
    if show_banner:
        shell.write(banner(no_db))
        shell.out.flush()
    state = {"buf": [], "start": 0}
    lineno = 0
    while True:
        prompt = CONTINUE_PROMPT if state["buf"] else PROMPT
        try:
            line = session.prompt(prompt)
        except KeyboardInterrupt:
            state["buf"] = []
            continue
        except EOFError:
            break
        lineno += 1
        shell.feed_line(state, line, lineno, where_lines=False)
    shell.finish_input(state, where_lines=False)
