"""Import GGUF files already on disk, and find the ones other tools downloaded.

An imported model is registered where it is: Lectern never moves, copies or
deletes a file it did not download. Discovery looks in the Hugging Face cache,
LM Studio's and GPT4All's model folders and offers what it finds; importing
one is the user's choice.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from core.errors import ModelFileError, ModelNotFoundError
from core.models.gguf_info import quantization_name, validate_header
from core.models.registry import ModelRecord, ModelRegistry
from core.models.splits import is_secondary_part, local_parts

DiscoverySource = Literal["huggingface-cache", "lm-studio", "gpt4all"]


@dataclass(frozen=True)
class DiscoveredModel:
    """A GGUF model another tool put on this computer."""

    path: str
    source: DiscoverySource
    size_bytes: int  # all parts of a split model
    quantization: str
    repo_id: str | None
    registered: bool  # already in Lectern's registry

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "source": self.source,
            "size_bytes": self.size_bytes,
            "quantization": self.quantization,
            "repo_id": self.repo_id,
            "registered": self.registered,
        }


def import_model(
    registry: ModelRegistry, path: str | os.PathLike[str], repo_id: str | None = None
) -> ModelRecord:
    """Validate a GGUF file and register it in place (source ``imported``).

    Importing the same file again returns its existing record. A different
    file whose id is taken gets a numbered id.
    """
    p = Path(os.path.abspath(Path(path).expanduser()))
    if not p.exists():
        raise ModelFileError(f"No such file: {p}")
    if p.is_dir():
        raise ModelFileError(f"{p} is a folder.", hint="choose a .gguf file")
    try:
        return registry.get(str(p))
    except ModelNotFoundError:
        pass
    validate_header(p)
    if repo_id is None:
        repo_id = _repo_from_hf_cache_path(p)
    record = registry.record_for_file(p, "imported", repo_id=repo_id)
    taken = {r.id for r in registry.list()}
    base, n = record.id, 2
    while record.id in taken:
        record.id = f"{base}-{n}"
        n += 1
    return registry.add(record)


def _repo_from_hf_cache_path(path: Path) -> str | None:
    parts = path.parts
    for i, part in enumerate(parts[:-2]):
        if part.startswith("models--") and parts[i + 1] == "snapshots":
            return "/".join(part.removeprefix("models--").split("--"))
    return None


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, as huggingface_hub would find it now."""
    if env := os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE"):
        return Path(env).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "huggingface"
    )
    return Path(home).expanduser() / "hub"


def lm_studio_dirs() -> list[Path]:
    """LM Studio's model folders (new and old locations)."""
    home = Path.home()
    return [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"]


def gpt4all_dirs() -> list[Path]:
    """GPT4All's model folder on this platform."""
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
        return [base / "nomic.ai" / "GPT4All"]
    if sys.platform == "darwin":
        return [home / "Library" / "Application Support" / "nomic.ai" / "GPT4All"]
    data = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return [data / "nomic.ai" / "GPT4All"]


def discovery_roots() -> list[tuple[DiscoverySource, Path]]:
    """Where other tools keep their models, on this computer."""
    roots: list[tuple[DiscoverySource, Path]] = [("huggingface-cache", hf_cache_dir())]
    roots += [("lm-studio", d) for d in lm_studio_dirs()]
    roots += [("gpt4all", d) for d in gpt4all_dirs()]
    return roots


def _hf_cache_repo(path: Path, root: Path) -> str | None:
    # <cache>/models--owner--name/snapshots/<commit>/<file>
    rel = path.relative_to(root).parts
    if rel and rel[0].startswith("models--"):
        return "/".join(rel[0].removeprefix("models--").split("--"))
    return None


def _lm_studio_repo(path: Path, root: Path) -> str | None:
    # <models>/<publisher>/<repo>/<file>
    rel = path.relative_to(root).parts
    return f"{rel[0]}/{rel[1]}" if len(rel) >= 3 else None


def _candidates(source: DiscoverySource, root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    if source == "huggingface-cache":
        # only the named snapshot links: blobs carry no names
        return sorted(root.glob("models--*/snapshots/*/**/*.gguf"))
    return sorted(p for p in root.rglob("*") if p.suffix.lower() == ".gguf")


def discover(
    registry: ModelRegistry, roots: list[tuple[DiscoverySource, Path]] | None = None
) -> list[DiscoveredModel]:
    """GGUF models other tools downloaded, each once (split models by their first part)."""
    known = set()
    for rec in registry.list():
        try:
            known.add(Path(rec.path).resolve())
        except OSError:
            continue
    seen: set[Path] = set()
    out = []
    for source, root in roots if roots is not None else discovery_roots():
        for path in _candidates(source, root):
            if is_secondary_part(path.name) or "mmproj" in path.name.lower():
                continue
            try:
                real = path.resolve()
                if real in seen or not real.is_file():
                    continue
                parts = local_parts(path)
                if not all(p.exists() for p in parts):
                    continue
                size = sum(p.stat().st_size for p in parts)
            except OSError:
                continue
            seen.add(real)
            repo = (
                _hf_cache_repo(path, root)
                if source == "huggingface-cache"
                else _lm_studio_repo(path, root)
                if source == "lm-studio"
                else None
            )
            out.append(
                DiscoveredModel(
                    path=str(path),
                    source=source,
                    size_bytes=size,
                    quantization=quantization_name(None, path.name),
                    repo_id=repo,
                    registered=real in known,
                )
            )
    return out
