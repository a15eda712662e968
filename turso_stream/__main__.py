"""Command line entry point: ``turso-stream [DB]`` (the SQL shell) and ``turso-stream demo [DIR]``."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``demo`` to the tour; everything else (no arguments, a database path,
    options) starts the SQL shell, as ``sqlite3`` would."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "demo":
        from turso_stream.demo import run
        run(args[1] if len(args) > 1 else None)
        return 0
    from turso_stream.shell import main as shell_main
    return shell_main(args)


if __name__ == "__main__":
    sys.exit(main())
