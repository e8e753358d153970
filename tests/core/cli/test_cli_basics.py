"""The CLI contract for the foundation: --version, --data-dir, models list."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from core import __version__
from tests.conftest import REPO


def lectern(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_version() -> None:
    out = lectern("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"lectern {__version__}"


def test_models_list_json_shows_the_starter_model(data_dir: Path) -> None:
    out = lectern("--data-dir", str(data_dir), "models", "list", "--json")
    assert out.returncode == 0, out.stderr
    models = json.loads(out.stdout)
    starter = next(m for m in models if m["source"] == "starter")
    assert starter["architecture"] == "gemma3"
    assert starter["quantization"] == "Q4_K_M"
    assert starter["size_bytes"] == Path(starter["path"]).stat().st_size
    assert Path(starter["path"]).is_relative_to(data_dir)


def test_lectern_home_is_honoured(data_dir: Path) -> None:
    import os

    env = dict(os.environ, LECTERN_HOME=str(data_dir))
    out = lectern("models", "list", env=env)
    assert out.returncode == 0, out.stderr
    assert "gemma" in out.stdout.lower()
    assert (data_dir / "models" / "registry.json").exists()


def test_bad_usage_exits_2_without_traceback() -> None:
    out = lectern("models", "frobnicate")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr


def test_unusable_data_dir_exits_1_with_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = lectern("--data-dir", str(blocker / "sub"), "models", "list")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
