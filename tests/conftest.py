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


@pytest.fixture
def chat_data_dir(tmp_path: Path, starter_data_dir: Path) -> Path:
    """A private data directory with the starter models already in place (linked, not copied).

    The GGUF is hard-linked (symlinked across file systems) where the starter
    installer puts it and the registry is copied, so ``ensure_starter_models``
    finds everything installed; answers are kept short for tests.
    """
    import json
    import os

    from core.models.starter import STARTER_MODEL_ID, starter_model_path
    from core.paths import DataPaths
    from core.settings import load_settings, save_settings

    src = DataPaths(starter_data_dir)
    dst = DataPaths(tmp_path / "chat-data").ensure()
    rec = Engine(starter_data_dir).registry.get(STARTER_MODEL_ID)
    target = starter_model_path(dst)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(rec.path, target)
    except OSError:
        target.symlink_to(rec.path)
    registry = json.loads(src.model_registry_file.read_text(encoding="utf-8"))
    for r in registry["models"]:
        if r["id"] == STARTER_MODEL_ID:
            r["path"] = str(target)
    dst.model_registry_file.write_text(json.dumps(registry), encoding="utf-8")
    for folder in src.embedders_dir.iterdir():
        (dst.embedders_dir / folder.name).symlink_to(folder, target_is_directory=True)
    settings = load_settings(dst.settings_file)
    settings.generation.max_tokens = 12
    settings.generation.temperature = 0.0
    settings.generation.seed = 7
    save_settings(dst.settings_file, settings)
    return dst.root
