"""The `cineflow` command: one entry point, one module per subcommand in this package.

Each module here defines `register(subparsers)`, which adds its subcommand and sets `func` to the
function that runs it. Modules import heavy libraries (torch, av) inside that function, so that
`cineflow --help` and argument errors stay instant.

User errors (bad arguments, unreadable files) print one line and exit with code 2; set
CINEFLOW_DEBUG=1 to see the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cineflow", description="Open text-to-video on a laptop CPU.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as e:
        if os.environ.get("CINEFLOW_DEBUG"):
            raise
        print(f"cineflow {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
