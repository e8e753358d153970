"""The local model registry: every GGUF Lectern knows, with what it is.

Stored as JSON in the data directory's models folder; every change is a
read-modify-write under an inter-process lock and an atomic replace, so two
Lectern instances can share a data directory without losing entries.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from core.errors import ModelFileError, ModelNotFoundError
from core.locking import locked
from core.models.gguf_info import GGUFInfo, read_info
from core.models.splits import local_parts, split_info
from core.settings import atomic_write_text

Source = Literal["starter", "downloaded", "imported"]


@dataclass
class ModelRecord:
    """One installed or imported model."""

    id: str
    source: Source
    path: str
    size_bytes: int
    sha256: str
    architecture: str
    name: str
    parameters: int
    quantization: str
    context_length: int | None
    has_chat_template: bool
    repo_id: str | None = None
    filename: str | None = None
    revision: str | None = None
    added_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    # per-model user overrides (template, context, GPU layers, sampling)
    overrides: dict[str, object] = field(default_factory=dict)
    # every part of a split GGUF, first part (== path) first; empty for a single file
    parts: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def sha256_file(path: Path, chunk: int = 4 * 1024 * 1024) -> str:
    """Hex sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def make_model_id(info: GGUFInfo, repo_id: str | None = None) -> str:
    """A stable, readable id: ``repo-or-name/file-stem`` lower-cased and slugged."""
    base = repo_id or info.name
    split = split_info(info.path.name)
    stem = split[0] if split else info.path.stem  # one id for all parts of a split model
    slug = re.sub(r"[^a-z0-9._/-]+", "-", f"{base}/{stem}".lower()).strip("-")
    return re.sub(r"-{2,}", "-", slug)


class ModelRegistry:
    """Read and change the set of known models."""

    def __init__(self, registry_file: Path) -> None:
        self.file = registry_file
        self._lock_file = registry_file.with_suffix(".lock")

    def _read(self) -> dict[str, ModelRecord]:
        if not self.file.exists():
            return {}
        try:
            raw = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            # A damaged registry must not take the app down; entries can be re-imported.
            backup = self.file.with_suffix(".damaged.json")
            self.file.replace(backup)
            return {}
        return {r["id"]: ModelRecord(**r) for r in raw.get("models", [])}

    def _write(self, records: dict[str, ModelRecord]) -> None:
        payload = {"version": 1, "models": [r.to_json() for r in records.values()]}
        atomic_write_text(self.file, json.dumps(payload, indent=2))

    def list(self) -> list[ModelRecord]:
        """All records, starter first, then by name."""
        order = {"starter": 0, "downloaded": 1, "imported": 2}
        return sorted(self._read().values(), key=lambda r: (order[r.source], r.name, r.id))

    def get(self, id_or_path: str) -> ModelRecord:
        """Find a model by id, or by the path of a registered file."""
        records = self._read()
        if id_or_path in records:
            return records[id_or_path]
        p = Path(id_or_path).expanduser()
        if p.exists():
            # paths are stored as given (symlinks kept: the Hugging Face cache links
            # names to blobs), so compare what they point at
            resolved = p.resolve()
            for r in records.values():
                if Path(r.path).resolve() == resolved:
                    return r
        raise ModelNotFoundError(
            f"No model '{id_or_path}'.", hint="see 'lectern models list' for installed models"
        )

    def add(self, record: ModelRecord) -> ModelRecord:
        """Insert or replace a record (same id)."""
        with locked(self._lock_file):
            records = self._read()
            records[record.id] = record
            self._write(records)
        return record

    def remove(self, model_id: str) -> ModelRecord:
        """Forget a model (the caller decides whether to delete its file)."""
        with locked(self._lock_file):
            records = self._read()
            if model_id not in records:
                raise ModelNotFoundError(f"No model '{model_id}'.")
            rec = records.pop(model_id)
            self._write(records)
        return rec

    def update_overrides(self, model_id: str, overrides: dict[str, object]) -> ModelRecord:
        """Replace a model's per-model settings."""
        with locked(self._lock_file):
            records = self._read()
            if model_id not in records:
                raise ModelNotFoundError(f"No model '{model_id}'.")
            records[model_id].overrides = dict(overrides)
            self._write(records)
            return records[model_id]

    def record_for_file(
        self,
        path: Path,
        source: Source,
        *,
        sha256: str | None = None,
        model_id: str | None = None,
        repo_id: str | None = None,
        revision: str | None = None,
    ) -> ModelRecord:
        """Describe a GGUF file as a record (validates it; hashes it unless given).

        ``path`` may be the first part of a split GGUF: every part is validated
        and the size and parameter count cover all of them; ``sha256`` is the
        first part's. Symlinks are kept as given, because llama.cpp finds the
        other parts of a split model by name next to the first one.
        """
        path = Path(os.path.abspath(path))
        info = read_info(path)
        parts = local_parts(path)
        size, params = info.size_bytes, info.parameters
        if len(parts) > 1:
            if parts[0] != path:
                raise ModelFileError(
                    f"{path.name} is not the first part of a split model.",
                    hint=f"choose {parts[0].name} instead",
                )
            missing = [p.name for p in parts if not p.exists()]
            if missing:
                raise ModelFileError(
                    f"{path.name} is split into {len(parts)} files and "
                    f"{len(missing)} are missing ({missing[0]}...).",
                    hint="put all the parts in the same folder",
                )
            for part in parts[1:]:
                part_info = read_info(part)
                size += part_info.size_bytes
                params += part_info.parameters
        return ModelRecord(
            id=model_id or make_model_id(info, repo_id),
            source=source,
            path=str(path),
            size_bytes=size,
            sha256=sha256 or sha256_file(path),
            architecture=info.architecture,
            name=info.name,
            parameters=params,
            quantization=info.quantization,
            context_length=info.context_length,
            has_chat_template=info.has_chat_template,
            repo_id=repo_id,
            filename=path.name,
            revision=revision,
            parts=[str(p) for p in parts] if len(parts) > 1 else [],
        )
