"""Command line entry point: ``turso-stream demo [DIR]``."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print("usage: turso-stream demo [DIR]   run a short tour of the engine")
        return 0 if args else 2
    if args[0] == "demo":
        from turso_stream.demo import run
        run(args[1] if len(args) > 1 else None)
        return 0
    print(f"turso-stream: unknown command {args[0]!r} (the SQL shell is not built yet; "
          "try 'turso-stream demo')", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
