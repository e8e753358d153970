"""Run a real ``lectern index`` until a named point of the ingestion, then ``kill -9`` it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.documents.faults import PAUSE_ENV
from tests.conftest import REPO


def index_until_killed(data: Path, point: str, paths: list[Path], library: str) -> None:
    """``lectern index PATHS --library LIBRARY``, killed with SIGKILL exactly at ``point``."""
    env = dict(os.environ, **{PAUSE_ENV: point})
    proc = subprocess.Popen(
        [sys.executable, "-m", "desktop.launcher", "--data-dir", str(data), "index"]
        + [str(p) for p in paths]
        + ["--library", library],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 240
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if line.startswith(f"LECTERN-PAUSED {point}"):
                break
            assert time.monotonic() < deadline, "never reached the pause point"
        else:
            pytest.fail(f"index ended without pausing at {point}: {''.join(seen[-20:])}")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
