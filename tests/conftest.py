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


# -- documents and retrieval ------------------------------------------------------
def docs_data_dir_with_embedder(root: Path, starter_embedder: Path) -> Path:
    """A fresh data directory that links the starter embedder (no copy, no Gemma)."""
    from core.paths import DataPaths

    paths = DataPaths(root).ensure()
    link = paths.embedders_dir / starter_embedder.name
    if not link.exists():
        link.symlink_to(starter_embedder, target_is_directory=True)
    return root


@pytest.fixture(scope="session")
def docs_embedder(starter_embedder: Path):  # type: ignore[no-untyped-def]
    """The real all-MiniLM-L6-v2 loaded in the test process, once (engines use its worker)."""
    from core.documents.embedder import load_embedder

    return load_embedder(starter_embedder, "all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def ubuntu_library(
    tmp_path_factory: pytest.TempPathFactory, starter_embedder: Path, docs_embedder: object
) -> Path:
    """A data directory whose library "eval" holds shared/eval's Ubuntu Packaging Guide.

    Indexed once per session; tests must only read it (search, list, eval).
    """
    import asyncio

    from core.documents.events import IndexSummary

    root = docs_data_dir_with_embedder(tmp_path_factory.mktemp("docs-eval"), starter_embedder)

    async def build() -> IndexSummary:
        engine = Engine(root)
        summary = None
        try:
            async for ev in engine.index(
                [SHARED_EVAL / "pdfs" / "ubuntu-packaging-guide.pdf"], "eval"
            ):
                if isinstance(ev, IndexSummary):
                    summary = ev
        finally:
            await engine.close()
        assert summary is not None
        return summary

    summary = asyncio.run(build())
    assert len(summary.indexed) == 1, summary
    return root
