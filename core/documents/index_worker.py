"""The index worker: embedding model, re-ranker and Chroma in a process of their own.

Running sentence-transformers (torch) and Chroma inside the application
process holds Python's interpreter lock for long stretches: importing torch
stalled the GUI's event loop for 200-300 ms on the first document, and every
Chroma upsert holds it for its whole call (20-65 ms for 16 vectors, spikes
past 100 ms). Here both live in one spawned worker process at background
priority; the application sends texts and vectors over a pipe and gets
vectors, token offsets, search hits and re-ranking scores back (a batch of 64 chunks is about
100 KB, far cheaper to copy than to compute). torch and chromadb are never
imported by the application itself.

Requests carry everything they need (the model folder, the library's Chroma
folder), so the worker is stateless from the caller's point of view: a
crashed worker fails the call in progress with a
:class:`~core.errors.DocumentError` and a new one is started on the next
call. One worker serves the whole application process (:func:`index_worker`)
and ends with it.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing as mp
import os
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from core.documents.embedder import EmbedderInfo, load_embedder
from core.errors import DocumentError, LibraryDamagedError
from core.priority import lower_this_process

# Texts per request when embedding a batch: a search waits for at most one such request
# (about a second on 2 busy cores) instead of a whole 64-chunk ingestion batch.
EMBED_REQUEST = 16

_VECTOR_METHODS = frozenset({"upsert", "delete_sha", "count", "stray_shas", "query", "embeddings"})


class _UnreadableError(Exception):
    """A library's Chroma database cannot be opened (its files are damaged)."""


class _Served:
    """The worker's state: models and Chroma collections, opened on first use."""

    def __init__(self) -> None:
        self.vectors: dict[str, Any] = {}
        self.embedder = load_embedder  # loads each model folder once in this process

    def handle(self, op: str, args: tuple[Any, ...]) -> Any:
        if op == "load":
            return self.embedder(*args).info
        if op == "offsets":
            folder, name, text = args
            return np.asarray(self.embedder(folder, name).token_offsets(text), dtype=np.int32)
        if op == "embed":
            folder, name, texts = args
            return self.embedder(folder, name).embed(texts)
        if op == "vectors":
            folder, method, rest = args
            if method not in _VECTOR_METHODS:
                raise ValueError(f"unknown vector operation {method!r}")
            vec = self.vectors.get(folder)
            if vec is None:
                from core.documents.vectors import ChromaVectors

                try:
                    vec = self.vectors[folder] = ChromaVectors(Path(folder))
                except Exception as exc:
                    # SQLite's own words for a damaged file (codes 26 and 11), as Chroma
                    # passes them on; anything else (a lock, a full disk) is no damage
                    if any(w in str(exc) for w in ("not a database", "malformed")):
                        raise _UnreadableError(f"{type(exc).__name__}: {exc}") from exc
                    raise
            return getattr(vec, method)(*rest)
        if op == "rerank":
            from core.retrieval.reranker import load_cross_encoder

            folder, query, texts = args
            return load_cross_encoder(folder).scores(query, texts)
        if op == "try_reranker":
            from core.retrieval.reranker import try_cross_encoder

            try:
                try_cross_encoder(args[0])
            except DocumentError as exc:
                return exc.message
            return None
        if op == "close_vectors":
            self.vectors.pop(args[0], None)
            return None
        raise ValueError(f"unknown request {op!r}")


def _serve(conn: Connection) -> None:
    """Worker process: answer requests until the pipe closes."""
    lower_this_process()
    served = _Served()
    conn.send(("ok", os.getpid()))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the application ended
            return
        if msg is None:
            return
        op, args = msg
        try:
            result = served.handle(op, args)
        except _UnreadableError as exc:
            reply: tuple[str, Any] = ("unreadable", str(exc))
        except Exception as exc:  # noqa: BLE001 - the caller gets the reason
            reply = ("error", f"{type(exc).__name__}: {exc}")
        else:
            reply = ("ok", result)
        try:
            conn.send(reply)
        except (OSError, ValueError):
            return


class IndexWorker:
    """The worker process and its pipe; calls are serialised (thread-safe).

    Urgent calls (a search: one query vector, one Chroma query) go before the
    ingestion requests waiting at the same time.
    """

    def __init__(self) -> None:
        self._ctx = mp.get_context("spawn")
        self._proc: Any = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        self._turn = threading.Condition()
        self._urgent = 0  # urgent calls waiting or running

    def _start(self) -> Connection:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_serve, args=(child,), name="lectern-index", daemon=True)
        proc.start()
        child.close()
        try:
            parent.recv()
        except (EOFError, OSError):
            proc.join(5)
            parent.close()
            raise DocumentError(
                f"The indexing process could not be started (exit code {proc.exitcode})."
            ) from None
        self._proc, self._conn = proc, parent
        return parent

    def call(self, op: str, *args: Any, urgent: bool = False) -> Any:
        """Run one request in the worker (started, or restarted, as needed)."""
        with self._turn:
            if urgent:
                self._urgent += 1
            else:
                self._turn.wait_for(lambda: self._urgent == 0)
        try:
            return self._call(op, args)
        finally:
            if urgent:
                with self._turn:
                    self._urgent -= 1
                    self._turn.notify_all()

    def _call(self, op: str, args: tuple[Any, ...]) -> Any:
        with self._lock:
            conn = self._conn
            if conn is None or self._proc is None or not self._proc.is_alive():
                self._stop()
                conn = self._start()
            try:
                conn.send((op, args))
                status, value = conn.recv()
            except (EOFError, OSError):
                self._stop()
                raise DocumentError(
                    "The indexing process stopped unexpectedly.",
                    hint="try again; it is restarted on the next use",
                ) from None
        if status == "unreadable":  # only the vectors op says so; args[0] is the folder
            raise LibraryDamagedError.of(
                Path(args[0]).parent, f"its vector index cannot be read ({value})"
            )
        if status != "ok":
            raise DocumentError("The indexing process could not do this.", hint=str(value))
        return value

    @property
    def pid(self) -> int | None:
        """The worker's process id (None when it is not running)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.is_alive() else None

    def _stop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(None)
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            self._proc.join(2)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(5)
            self._proc = None

    def close(self) -> None:
        """Stop the worker process (a later call starts a new one)."""
        with self._lock:
            self._stop()


class RemoteEmbedder:
    """A sentence-transformers model served by the index worker."""

    def __init__(self, worker: IndexWorker, folder: Path, name: str | None = None) -> None:
        self.worker = worker
        self.folder = folder
        self.name = name
        try:
            self.info: EmbedderInfo = worker.call("load", str(folder), name)
        except DocumentError as exc:
            raise DocumentError(
                f"The embedding model in {folder} could not be loaded.", hint=exc.hint
            ) from None

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character spans of ``text``'s tokens (no special tokens, no truncation)."""
        spans: np.ndarray = self.worker.call("offsets", str(self.folder), self.name, text)
        return [(int(s), int(e)) for s, e in spans]

    def count_tokens(self, text: str) -> int:
        return len(self.worker.call("offsets", str(self.folder), self.name, text))

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Normalised float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.info.dimension), dtype=np.float32)
        folder = str(self.folder)
        if len(texts) == 1:  # a query: before any waiting ingestion batch
            one: np.ndarray = self.worker.call("embed", folder, self.name, list(texts), urgent=True)
            return one
        parts = [
            self.worker.call("embed", folder, self.name, list(texts[i : i + EMBED_REQUEST]))
            for i in range(0, len(texts), EMBED_REQUEST)
        ]
        return np.concatenate(parts)

    def embed_query(self, text: str) -> np.ndarray:
        """The vector of one query."""
        return self.embed([text])[0]


class RemoteVectors:
    """One library's Chroma collection (see :class:`~core.documents.vectors.ChromaVectors`)."""

    def __init__(self, worker: IndexWorker, folder: Path) -> None:
        self.worker = worker
        self.folder = str(folder)

    def _call(self, method: str, *args: Any) -> Any:
        return self.worker.call("vectors", self.folder, method, args)

    def upsert(self, ids: list[str], vectors: np.ndarray, metas: list[dict[str, Any]]) -> None:
        self._call("upsert", ids, vectors, metas)

    def delete_sha(self, sha: str) -> None:
        self._call("delete_sha", sha)

    def count(self) -> int:
        return int(self._call("count"))

    def stray_shas(self, known: list[str]) -> set[str]:
        result: set[str] = self._call("stray_shas", known)
        return result

    def query(self, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        result: list[tuple[str, float]] = self.worker.call(
            "vectors", self.folder, "query", (vector, n), urgent=True
        )
        return result

    def embeddings(self) -> tuple[list[str], np.ndarray]:
        result: tuple[list[str], np.ndarray] = self._call("embeddings")
        return result

    def close(self) -> None:
        """Let the worker close this collection (the library folder may be moved next)."""
        if self.worker.pid is not None:
            with contextlib.suppress(DocumentError):
                self.worker.call("close_vectors", self.folder)


class RemoteReranker:
    """A cross-encoder (:mod:`core.retrieval.reranker`) served by the index worker."""

    def __init__(self, worker: IndexWorker, folder: Path) -> None:
        self.worker = worker
        self.folder = str(folder)

    def scores(self, query: str, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        out: list[float] = self.worker.call("rerank", self.folder, query, list(texts), urgent=True)
        return out


_worker = IndexWorker()
_embedders: dict[str, RemoteEmbedder] = {}
_embedders_lock = threading.Lock()


def index_worker() -> IndexWorker:
    """The index worker of this application process."""
    return _worker


def start_embedder(folder: str | os.PathLike[str], name: str | None = None) -> RemoteEmbedder:
    """The model in ``folder``, loaded in the index worker (once per application process)."""
    key = str(Path(folder).resolve())
    with _embedders_lock:
        emb = _embedders.get(key)
        if emb is None:
            emb = _embedders[key] = RemoteEmbedder(_worker, Path(key), name)
        return emb


def start_reranker(folder: str | os.PathLike[str]) -> RemoteReranker:
    """The cross-encoder in ``folder``, run in the index worker (loaded on first use)."""
    return RemoteReranker(_worker, Path(folder).resolve())


def try_reranker(folder: str | os.PathLike[str]) -> str | None:
    """Load the cross-encoder in ``folder`` in the index worker (not kept) and score one
    pair: None when it works, else why not."""
    problem: str | None = _worker.call("try_reranker", str(Path(folder).resolve()), urgent=True)
    return problem


@atexit.register
def stop_index_worker() -> None:
    """Stop the worker process (at exit)."""
    _worker.close()
