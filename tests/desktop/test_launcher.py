"""Starting the window where there is no display: one clear line, not Qt's abort."""

from __future__ import annotations

import os
from pathlib import Path

from desktop.launcher import NO_DISPLAY, no_display
from tests.core.cli.test_cli_basics import lectern


def test_no_display_is_said_in_one_line(tmp_path: Path) -> None:
    # Qt aborted the process (exit 134) with advice about xcb-cursor0
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    out = lectern("--data-dir", str(tmp_path / "data"), env=env)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [NO_DISPLAY]
    assert not (tmp_path / "data").exists()  # nothing was started


def test_which_environments_have_a_display() -> None:
    assert no_display({}, "linux")
    assert not no_display({"DISPLAY": ":0"}, "linux")
    assert not no_display({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert not no_display({"QT_QPA_PLATFORM": "offscreen"}, "linux")  # asked for explicitly
    assert not no_display({}, "darwin") and not no_display({}, "win32")
