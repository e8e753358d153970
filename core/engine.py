"""The one async facade that front ends drive.

``Engine`` owns the data directory, the settings and the services. Every
method that may block (disk, llama.cpp, embeddings) is async and runs its
work in a named executor or a worker process, so a GUI event loop stays
responsive. Services are created lazily: opening an engine loads no model.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.executors import run_blocking
from core.models.registry import ModelRecord, ModelRegistry
from core.models.starter import ensure_starter_embedder, ensure_starter_model
from core.paths import DataPaths, resolve_data_dir
from core.settings import Settings, load_settings, save_settings


class Engine:
    """Lectern's engine for one data directory."""

    def __init__(self, data_dir: str | os.PathLike[str] | None = None) -> None:
        self.paths = DataPaths(resolve_data_dir(data_dir)).ensure()
        self.settings: Settings = load_settings(self.paths.settings_file)
        self.registry = ModelRegistry(self.paths.model_registry_file)

    # -- settings ---------------------------------------------------------
    def save_settings(self) -> None:
        """Persist the current settings."""
        save_settings(self.paths.settings_file, self.settings)

    # -- models -----------------------------------------------------------
    def ensure_starter_models_sync(self) -> ModelRecord:
        """Install the offline starter models if needed (blocking)."""
        ensure_starter_embedder(self.paths)
        return ensure_starter_model(self.paths, self.registry)

    async def ensure_starter_models(self) -> ModelRecord:
        """Install the offline starter models if needed."""
        return await run_blocking("models", self.ensure_starter_models_sync)

    async def list_models(self) -> list[ModelRecord]:
        """Installed models, starter first."""
        return await run_blocking("models", self.registry.list)

    def starter_embedder_path(self) -> Path:
        """Folder of the starter sentence-transformers model (installing it if needed)."""
        return ensure_starter_embedder(self.paths)

    # -- chat and generation (generation engine) ----------------------------

    # -- documents and retrieval (document library) -------------------------

    # -- model catalog, Hub search and downloads (models) --------------------

    # -- hardware and offload planning (hardware) ----------------------------

    # -- conversations (desktop chat) ----------------------------------------

    async def close(self) -> None:
        """Release resources (worker processes, open stores)."""
