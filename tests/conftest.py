"""Shared fixtures: temporary data directories and the real starter models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.engine import Engine

REPO = Path(__file__).resolve().parent.parent
SHARED_EVAL = REPO.parent / "shared" / "eval"

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the real Hub
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty, private data directory."""
    d = tmp_path / "lectern-data"
    d.mkdir()
    return d


@pytest.fixture(scope="session")
def starter_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the real starter models installed once per session.

    Tests must not change its registry; they may read and load its models.
    """
    d = tmp_path_factory.mktemp("starter-data")
    Engine(d).ensure_starter_models_sync()
    return d


@pytest.fixture(scope="session")
def starter_gguf(starter_data_dir: Path) -> Path:
    """Path of the real starter Gemma 3 270M GGUF."""
    from core.models.starter import STARTER_MODEL_ID

    return Path(Engine(starter_data_dir).registry.get(STARTER_MODEL_ID).path)


@pytest.fixture(scope="session")
def starter_embedder(starter_data_dir: Path) -> Path:
    """Folder of the real starter all-MiniLM-L6-v2 model."""
    return Engine(starter_data_dir).starter_embedder_path()
