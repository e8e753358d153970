"""The ``lectern`` entry point: a command when one is given, else the desktop app.

Qt is imported only when the window is really wanted, so CLI commands start
fast and work on machines without a display.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from collections.abc import Mapping

NO_DISPLAY = (
    "lectern: error: No display to open the window on: DISPLAY and WAYLAND_DISPLAY are "
    "not set. Start Lectern from the desktop, or use the command line (lectern --help)."
)


def no_display(env: Mapping[str, str], platform: str) -> bool:
    """Whether Qt would find no display here (it would abort the process)."""
    if not platform.startswith(("linux", "freebsd")) or env.get("QT_QPA_PLATFORM"):
        return False  # Windows and macOS always have one; an explicit platform is honoured
    return not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def _start_gui(args: argparse.Namespace) -> int:
    if no_display(os.environ, sys.platform):
        print(NO_DISPLAY, file=sys.stderr)
        return 1
    from desktop.app import run_app

    return run_app(data_dir=args.data_dir)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point."""
    multiprocessing.freeze_support()  # worker processes inside a PyInstaller bundle
    from core.cli import main as cli_main

    return cli_main(sys.argv[1:] if argv is None else argv, start_gui=_start_gui)


if __name__ == "__main__":
    sys.exit(main())
