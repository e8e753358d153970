"""The ``lectern`` command line (see SPEC §2 for the contract).

Exit status 0 on success, 1 on a user-facing error (one line on stderr, no
traceback), 2 on bad usage. Progress goes to stderr, results to stdout.
Each command group lives in its own module with a ``register`` function.
This module is the one place where errors become exit codes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from core import __version__
from core.cli import chat_cmd, docs_cmd, hardware_cmd, models_cmd
from core.errors import LecternError, UsageError
from core.logs import start_logging, stop_logging, unexpected_error_line
from core.paths import DataPaths, resolve_data_dir

COMMAND_MODULES = (models_cmd, hardware_cmd, docs_cmd, chat_cmd)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lectern", description="Chat with local models about your documents.")
    parser.add_argument("--version", action="version", version=f"lectern {__version__}")
    parser.add_argument(
        "--data-dir", metavar="DIR", help="keep all state under DIR (also: LECTERN_HOME)"
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>", parser_class=_Parser)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(
    argv: Sequence[str] | None = None,
    start_gui: Callable[[argparse.Namespace], int] | None = None,
) -> int:
    """Run one command; with no command, call ``start_gui`` (the desktop app)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        if start_gui is None:
            parser.print_help(sys.stderr)
            return 2
        return start_gui(args)
    start_logging(DataPaths(resolve_data_dir(args.data_dir)))
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"lectern: error: {exc}", file=sys.stderr)
        return 2
    except LecternError as exc:
        print(f"lectern: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lectern: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if os.environ.get("LECTERN_DEBUG"):
            raise
        # a bug: one line for the user, the traceback in the log file
        message, hint = unexpected_error_line(exc)
        print(f"lectern: error: {message} ({hint})", file=sys.stderr)
        return 1
    finally:
        stop_logging()
