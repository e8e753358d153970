from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import DataDirError
from core.paths import ENV_VAR, DataPaths, default_data_dir, resolve_data_dir


def test_explicit_beats_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "explicit") == (tmp_path / "explicit").resolve()


def test_environment_beats_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert resolve_data_dir(None) == (tmp_path / "env").resolve()


def test_default_is_the_platform_user_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert resolve_data_dir(None) == default_data_dir()
    assert "lectern" in str(default_data_dir()).lower()


def test_ensure_creates_layout(tmp_path: Path) -> None:
    paths = DataPaths(tmp_path / "d").ensure()
    for d in (paths.models_dir, paths.libraries_dir, paths.embedders_dir, paths.logs_dir):
        assert d.is_dir()


def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(DataDirError, match="Cannot create the data directory"):
        DataPaths(blocker / "sub").ensure()
