"""Helpers shared by the CLI commands: JSON and table output, opening the engine."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from core.engine import Engine


def open_engine(args: argparse.Namespace) -> Engine:
    """The engine for the command's ``--data-dir`` (or ``LECTERN_HOME``/default)."""
    return Engine(getattr(args, "data_dir", None))


def print_json(value: Any) -> None:
    """Results go to stdout as one JSON document."""
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def progress(message: str) -> None:
    """Progress goes to stderr, so stdout stays machine-readable."""
    print(message, file=sys.stderr, flush=True)


def human_size(n: float) -> str:
    """1536 -> '1.5 KB' (decimal units, as download pages show them)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"
