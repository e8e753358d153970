"""One library's Chroma collection: the vectors of its chunks.

Used inside the index worker process (:mod:`core.documents.index_worker`):
Chroma's Rust calls hold Python's interpreter lock for their whole duration
(an upsert of 16 vectors took 20-65 ms, with spikes past 100 ms as the HNSW
index grows), which in the application process stalled the GUI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

COLLECTION = "chunks"
# HNSW search breadth: Chroma's default (10) misses small documents next to a big one.
SEARCH_EF = 128
CONSTRUCTION_EF = 128


class ChromaVectors:
    """The ``chunks`` collection of the Chroma database in ``folder`` (cosine space)."""

    def __init__(self, folder: Path) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        self.folder = folder
        self._client: Any = chromadb.PersistentClient(
            path=str(folder),
            settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False),
        )
        self._collection: Any = self._client.get_or_create_collection(
            COLLECTION,
            metadata={
                "hnsw:space": "cosine",
                "hnsw:search_ef": SEARCH_EF,
                "hnsw:construction_ef": CONSTRUCTION_EF,
            },
            embedding_function=None,
        )
        try:
            self._max_batch = max(1, int(self._client.get_max_batch_size()))
        except Exception:  # noqa: BLE001 - older clients: a safe, small batch
            self._max_batch = 1000

    def upsert(self, ids: list[str], vectors: np.ndarray, metas: list[dict[str, Any]]) -> None:
        """Write vectors under deterministic ids (writing twice overwrites)."""
        step = self._max_batch
        for i in range(0, len(ids), step):
            self._collection.upsert(
                ids=ids[i : i + step],
                embeddings=vectors[i : i + step],
                metadatas=metas[i : i + step],
            )

    def delete_sha(self, sha: str) -> None:
        """Delete every vector of one content."""
        self._collection.delete(where={"sha": sha})

    def count(self) -> int:
        return int(self._collection.count())

    def stray_shas(self, known: list[str]) -> set[str]:
        """Content hashes that have vectors but are not in ``known``."""
        where: dict[str, Any] | None = {"sha": {"$nin": known}} if known else None
        got = self._collection.get(where=where, include=["metadatas"])
        return {str(m.get("sha")) for m in (got.get("metadatas") or []) if m is not None}

    def query(self, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the ``n`` nearest vectors, best first."""
        res = self._collection.query(query_embeddings=[vector], n_results=n, include=["distances"])
        ids = res["ids"][0]
        dists = res["distances"][0]
        return [(str(i), 1.0 - float(d)) for i, d in zip(ids, dists, strict=True)]

    def embeddings(self) -> tuple[list[str], np.ndarray]:
        """Every id with its vector (benchmarks copy a library's vectors with this)."""
        got = self._collection.get(include=["embeddings"])
        return [str(i) for i in got["ids"]], np.asarray(got["embeddings"], dtype=np.float32)
