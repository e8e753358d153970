"""Sentence-transformers embedders: the model itself and what the rest of the engine needs of it.

The application runs the model in a worker process of its own
(:mod:`core.documents.index_worker`); :class:`LocalEmbedder` is the model
in the current process (that worker, and benchmarks measuring the model alone).

An embedder has an identity (``EmbedderInfo``: name, dimension and a
fingerprint of its files) that a library records when it is created; a library
opened with a different embedder refuses to mix vectors and asks for a
re-index. Vectors are L2-normalised, so cosine similarity is a dot product.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

_cache: dict[str, LocalEmbedder] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class EmbedderInfo:
    """What a library remembers about the model its vectors came from."""

    name: str
    dimension: int
    fingerprint: str
    max_tokens: int

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dimension": self.dimension,
            "fingerprint": self.fingerprint,
            "max_tokens": self.max_tokens,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> EmbedderInfo:
        return cls(
            str(raw["name"]), int(raw["dimension"]), str(raw["fingerprint"]), int(raw["max_tokens"])
        )

    def same_model(self, other: EmbedderInfo) -> bool:
        return self.dimension == other.dimension and self.fingerprint == other.fingerprint


def _fingerprint(folder: Path) -> str:
    """Identity of a model folder from its configuration and weight sizes (cheap, stable)."""
    h = hashlib.sha256()
    for f in sorted(folder.rglob("*")):
        if not f.is_file():
            continue
        rel = f.relative_to(folder).as_posix()
        h.update(rel.encode())
        if f.suffix in (".json", ".txt") and f.stat().st_size < 2_000_000:
            h.update(f.read_bytes())
        else:
            h.update(str(f.stat().st_size).encode())
    return h.hexdigest()[:16]


def physical_cores() -> int:
    try:
        import psutil

        return int(psutil.cpu_count(logical=False) or os.cpu_count() or 1)
    except ImportError:  # pragma: no cover - psutil is a dependency
        return os.cpu_count() or 1


def _use_threads(n: int) -> None:
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


class Embedder(Protocol):
    """What chunking, ingestion and search use of an embedding model."""

    info: EmbedderInfo

    def token_offsets(self, text: str) -> list[tuple[int, int]]: ...

    def count_tokens(self, text: str) -> int: ...

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class LocalEmbedder:
    """A sentence-transformers model loaded in this process (CPU)."""

    def __init__(self, folder: Path, name: str | None = None) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # its "Loading weights" bar would clutter stderr
        # Batches (indexing) use all physical cores but one, which stays free for the GUI
        # and llama.cpp; one query uses one thread. torch's threads spin-wait for each
        # other, so on a busy machine more threads than free cores is several times
        # slower (measured on 2 cores under load: a query 170 ms with 2 threads, 20 ms
        # with 1; a batch of 64 short chunks 1.1 s with 2 threads).
        self.batch_threads = max(1, physical_cores() - 1)
        self.query_threads = 1
        _use_threads(self.batch_threads)
        self.folder = folder
        self.model: Any = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        self.tokenizer: Any = self.model.tokenizer
        dim = self.model.get_embedding_dimension()
        if not dim:
            dim = len(self.model.encode(["x"])[0])
        self.info = EmbedderInfo(
            name=name or folder.name,
            dimension=int(dim),
            fingerprint=_fingerprint(folder),
            max_tokens=int(self.model.max_seq_length or 256),
        )
        # One lock for the model and its tokenizer: a fast tokenizer used from two threads
        # at once fails ("Already borrowed"), and torch gains nothing from parallel batches.
        self._lock = threading.RLock()

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character spans of ``text``'s tokens (no special tokens, no truncation)."""
        with self._lock:
            enc = self.tokenizer(
                text,
                add_special_tokens=False,
                return_offsets_mapping=True,
                truncation=False,
                verbose=False,
            )
        return [(int(s), int(e)) for s, e in enc["offset_mapping"] if e > s]

    def count_tokens(self, text: str) -> int:
        return len(self.token_offsets(text))

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Normalised float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.info.dimension), dtype=np.float32)
        with self._lock:
            _use_threads(self.query_threads if len(texts) == 1 else self.batch_threads)
            vecs = self.model.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vecs, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """The vector of one query."""
        return self.embed([text])[0]


def load_embedder(folder: str | os.PathLike[str], name: str | None = None) -> LocalEmbedder:
    """The embedder in ``folder``, loaded in this process, once."""
    key = str(Path(folder).resolve())
    with _cache_lock:
        emb = _cache.get(key)
        if emb is None:
            emb = _cache[key] = LocalEmbedder(Path(key), name)
        return emb
