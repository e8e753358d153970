"""``lectern hardware ...`` commands (filled in by their issue)."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Add this group's sub-commands to the parser."""
