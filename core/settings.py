"""Typed, described user settings, persisted as JSON in the data directory.

User settings (this module) are kept apart from remembered UI state (window
geometry and the like, :class:`UiState`). The file carries a schema version;
:data:`MIGRATIONS` upgrades older files step by step on load.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import SettingsError

SCHEMA_VERSION = 2


class _Section(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True)


class GenerationSettings(_Section):
    """How answers are sampled and how llama.cpp is run."""

    system_prompt: str = Field(
        "You are Lectern, a helpful assistant. Answer concisely and accurately.",
        description="Default system prompt for new conversations.",
    )
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="0 means greedy decoding.")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="Nucleus sampling cut-off.")
    top_k: int = Field(40, ge=0, le=1000, description="Keep the k most likely tokens; 0 = all.")
    min_p: float = Field(0.05, ge=0.0, le=1.0, description="Drop tokens below min_p × top prob.")
    repeat_penalty: float = Field(1.1, ge=0.5, le=2.0, description="Penalty for repeated tokens.")
    dry_multiplier: float = Field(
        0.0,
        ge=0.0,
        le=5.0,
        description=(
            "Penalty for repeating a run of words the answer has already written (DRY); 0 = off."
        ),
    )
    seed: int = Field(-1, ge=-1, description="Random seed; -1 picks a new one each time.")
    max_tokens: int = Field(1024, ge=1, le=32768, description="Longest answer in tokens.")
    n_threads: int | None = Field(
        None, ge=1, le=512, description="CPU threads for llama.cpp; empty = physical cores."
    )
    n_ctx: int | None = Field(
        None, ge=256, le=1_048_576, description="Context length; empty = chosen by the planner."
    )
    n_gpu_layers: int | None = Field(
        None, ge=-1, description="Layers on the GPU; empty = chosen by the planner, -1 = all."
    )


class RetrievalSettings(_Section):
    """How documents are chunked, embedded and searched."""

    embedder: str = Field(
        "starter:all-MiniLM-L6-v2",
        description="Embedding model: 'starter:all-MiniLM-L6-v2' or a local model folder.",
    )
    chunk_tokens: int = Field(
        200, ge=32, le=8192, description="Chunk size in embedder tokens (capped at its limit)."
    )
    chunk_overlap_tokens: int = Field(
        40, ge=0, le=2048, description="Tokens shared between neighbouring chunks."
    )
    top_k: int = Field(6, ge=1, le=50, description="Passages given to the model per question.")
    relevance_threshold: float = Field(
        0.39,
        ge=-1.0,
        le=1.0,
        description="Passages scoring below this are not relevant; see the README.",
    )
    rerank: bool = Field(
        True,
        description="Re-order a question's best passages with a cross-encoder (more accurate,"
        " about 0.6-1 s slower on 2 cores); see the README.",
    )
    rerank_candidates: int = Field(
        30, ge=1, le=200, description="How many of the best chunks the cross-encoder reads."
    )
    reranker: str = Field(
        "starter:ms-marco-MiniLM-L-12-v2",
        description="Re-ranking model: 'starter:ms-marco-MiniLM-L-12-v2' (offline) or a folder"
        " with model.onnx and tokenizer.json, such as one fetched with"
        " 'lectern models pull REPO_ID --reranker'.",
    )
    correct_spelling: bool = Field(
        True,
        description="Correct a question's misspelled words (ones the library never uses, one"
        " edit from one it does: 'buld' -> 'build') before searching; see the README.",
    )
    watched_folders: dict[str, str] = Field(
        default_factory=dict,
        description="Folders whose documents are indexed automatically: folder -> library name.",
    )


class ModelSettings(_Section):
    """Which model answers, and Hub access."""

    default_model: str | None = Field(None, description="Model id used when none is chosen.")
    hf_token: str | None = Field(
        None, description="Hugging Face token for gated repositories (else the standard location)."
    )
    download_reserve_mb: int = Field(
        1024,
        ge=0,
        le=100_000_000,
        description="Free disk space (MB) a download must leave behind; it is refused otherwise.",
    )


class Settings(_Section):
    """All user settings."""

    schema_version: int = SCHEMA_VERSION
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    first_run_done: bool = Field(False, description="The first-run wizard has been completed.")


class UiState(_Section):
    """Remembered window state; not a user setting."""

    window_geometry: str | None = None
    splitter_sizes: list[int] = Field(default_factory=list)
    last_conversation_id: str | None = None
    # the libraries ticked in the documents pane (searched when you ask); None: never chosen
    active_libraries: list[str] | None = None


# Relevance thresholds earlier versions shipped as their default: a file holding one of them
# carries the default of its day, not a choice (the bar was re-measured for 0.39).
_OLD_DEFAULT_THRESHOLDS = (0.0, 0.45, 0.42)


def _v1_to_v2(raw: dict[str, Any]) -> dict[str, Any]:
    retrieval = raw.get("retrieval")
    if isinstance(retrieval, dict) and retrieval.get("relevance_threshold") in (
        _OLD_DEFAULT_THRESHOLDS
    ):
        retrieval["relevance_threshold"] = RetrievalSettings().relevance_threshold
    return raw


# version N -> function turning a version-N dict into a version-N+1 dict
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def _migrate(raw: dict[str, Any]) -> dict[str, Any]:
    version = int(raw.get("schema_version", 1))
    if version > SCHEMA_VERSION:
        raise SettingsError(
            f"The settings file was written by a newer Lectern (schema {version}).",
            hint="update Lectern, or use another --data-dir",
        )
    while version < SCHEMA_VERSION:
        raw = MIGRATIONS[version](raw)
        version += 1
        raw["schema_version"] = version
    return raw


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file so that a crash leaves either the old or the new content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_settings(path: Path) -> Settings:
    """Read settings; defaults when the file does not exist yet."""
    if not path.exists():
        return Settings()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        return Settings.model_validate(_migrate(raw))
    except (ValueError, ValidationError) as exc:
        raise SettingsError(
            f"The settings file {path} is invalid: {str(exc).splitlines()[0]}",
            hint="fix or delete it; Lectern will recreate it with defaults",
        ) from exc


def save_settings(path: Path, settings: Settings) -> None:
    """Persist settings atomically."""
    atomic_write_text(path, settings.model_dump_json(indent=2))


def load_ui_state(path: Path) -> UiState:
    """Read UI state; a broken file just means defaults (it is only cosmetic)."""
    try:
        return UiState.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return UiState()


def save_ui_state(path: Path, state: UiState) -> None:
    """Persist UI state atomically."""
    atomic_write_text(path, state.model_dump_json(indent=2))
