"""The ``lectern`` entry point: a command when one is given, else the desktop app.

Qt is imported only when the window is really wanted, so CLI commands start
fast and work on machines without a display.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys


def _start_gui(args: argparse.Namespace) -> int:
    from desktop.app import run_app

    return run_app(data_dir=args.data_dir)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point."""
    multiprocessing.freeze_support()  # worker processes inside a PyInstaller bundle
    from core.cli import main as cli_main

    return cli_main(sys.argv[1:] if argv is None else argv, start_gui=_start_gui)


if __name__ == "__main__":
    sys.exit(main())
