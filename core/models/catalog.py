"""The curated model catalog shipped in ``resources/catalog.json``.

A short list of well-known instruct models in GGUF, small to large, each
with its Hub repository, a few quantisations and their approximate sizes.
The exact sizes and checksums come from the Hub when a file is listed or
downloaded; the catalog only has to be right about names.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from core.errors import LecternError

Tier = Literal["small", "medium", "large"]


@dataclass(frozen=True)
class CatalogFile:
    """One downloadable quantisation of a catalog model."""

    quantization: str
    filename: str
    size_bytes: int  # approximate until listed from the Hub

    def to_json(self) -> dict[str, object]:
        return {
            "quantization": self.quantization,
            "filename": self.filename,
            "size_bytes": self.size_bytes,
        }


@dataclass(frozen=True)
class CatalogEntry:
    """A curated model."""

    id: str
    name: str
    family: str
    parameters_b: float
    tier: Tier
    repo_id: str
    licence: str
    gated: bool
    context_length: int
    recommended_quantization: str
    description: str
    files: tuple[CatalogFile, ...]

    @property
    def recommended_file(self) -> CatalogFile:
        """The file to offer first (the recommended quantisation, else the first)."""
        for f in self.files:
            if f.quantization == self.recommended_quantization:
                return f
        return self.files[0]

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "family": self.family,
            "parameters_b": self.parameters_b,
            "tier": self.tier,
            "repo_id": self.repo_id,
            "licence": self.licence,
            "gated": self.gated,
            "context_length": self.context_length,
            "recommended_quantization": self.recommended_quantization,
            "description": self.description,
            "files": [f.to_json() for f in self.files],
        }


def resources_dir() -> Path:
    """The shipped ``resources`` folder (source tree or PyInstaller bundle)."""
    bundle = getattr(sys, "_MEIPASS", None)
    candidates = [Path(__file__).resolve().parents[2] / "resources"]
    if bundle:
        candidates.insert(0, Path(bundle) / "resources")
    for c in candidates:
        if c.is_dir():
            return c
    return candidates[-1]


def _entry(raw: dict[str, Any]) -> CatalogEntry:
    return CatalogEntry(
        id=str(raw["id"]),
        name=str(raw["name"]),
        family=str(raw["family"]),
        parameters_b=float(raw["parameters_b"]),
        tier=raw["tier"],
        repo_id=str(raw["repo_id"]),
        licence=str(raw["licence"]),
        gated=bool(raw["gated"]),
        context_length=int(raw["context_length"]),
        recommended_quantization=str(raw["recommended_quantization"]),
        description=str(raw.get("description", "")),
        files=tuple(
            CatalogFile(str(f["quantization"]), str(f["filename"]), int(f["size_bytes"]))
            for f in raw["files"]
        ),
    )


def load_catalog(path: Path | None = None) -> list[CatalogEntry]:
    """Read the catalog, smallest models first."""
    path = path or resources_dir() / "catalog.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        entries = [_entry(m) for m in raw["models"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LecternError(
            f"The model catalog {path} cannot be read: {exc}",
            hint="reinstall Lectern; search the Hub meanwhile",
        ) from exc
    return sorted(entries, key=lambda e: (e.parameters_b, e.name))


@cache
def shipped_catalog() -> tuple[CatalogEntry, ...]:
    """The catalog shipped with Lectern (read once)."""
    return tuple(load_catalog())
