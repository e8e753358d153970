from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.errors import SettingsError
from core.settings import (
    SCHEMA_VERSION,
    Settings,
    load_settings,
    load_ui_state,
    save_settings,
)


def test_defaults_when_missing(tmp_path: Path) -> None:
    assert load_settings(tmp_path / "nope.json") == Settings()


def test_round_trip(tmp_path: Path) -> None:
    s = Settings()
    s.generation.temperature = 0.2
    s.retrieval.top_k = 9
    save_settings(tmp_path / "s.json", s)
    loaded = load_settings(tmp_path / "s.json")
    assert loaded.generation.temperature == 0.2
    assert loaded.retrieval.top_k == 9
    assert json.loads((tmp_path / "s.json").read_text())["schema_version"] == SCHEMA_VERSION


def test_bounds_are_enforced() -> None:
    s = Settings()
    with pytest.raises(ValidationError):
        s.generation.temperature = 5.0


def test_invalid_file_is_a_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "s.json"
    f.write_text('{"generation": {"temperature": "hot"}}')
    with pytest.raises(SettingsError, match="invalid"):
        load_settings(f)
    f.write_text("{not json")
    with pytest.raises(SettingsError):
        load_settings(f)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "s.json"
    f.write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(SettingsError, match="newer Lectern"):
        load_settings(f)


def test_broken_ui_state_falls_back_to_defaults(tmp_path: Path) -> None:
    f = tmp_path / "ui.json"
    f.write_text("garbage")
    assert load_ui_state(f).window_geometry is None


@pytest.mark.parametrize(("saved", "loaded"), [(0.42, 0.39), (0.45, 0.39), (0.0, 0.39), (0.5, 0.5)])
def test_an_old_default_relevance_threshold_moves_to_the_new_default(
    tmp_path: Path, saved: float, loaded: float
) -> None:
    f = tmp_path / "s.json"
    old = {"schema_version": 1, "retrieval": {"relevance_threshold": saved, "top_k": 8}}
    f.write_text(json.dumps(old))
    settings = load_settings(f)
    assert settings.retrieval.relevance_threshold == loaded  # a user's own 0.5 is kept
    assert settings.retrieval.top_k == 8 and settings.schema_version == SCHEMA_VERSION == 2
