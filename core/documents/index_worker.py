"""The embedding model in a worker process of its own.

Loading sentence-transformers (torch, transformers) and running it inside the
application process holds Python's GIL for long stretches: importing torch
alone stalled the GUI's event loop for 200-300 ms on the first document. Here
the model lives in a spawned process; the application sends it texts and gets
vectors and token offsets back over a pipe (a batch of 64 chunks is about
100 KB of floats, far cheaper to copy than to compute).

:class:`EmbedderProcess` has the interface of
:class:`~core.documents.embedder.LocalEmbedder`; one process per model folder
is shared by every engine of the application process (:func:`start_embedder`)
and ends with it. A crashed worker fails the current call with a
:class:`~core.errors.DocumentError` and is started again on the next one.
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

from core.documents.embedder import EmbedderInfo, LocalEmbedder
from core.errors import DocumentError
from core.priority import lower_this_process

_processes: dict[str, EmbedderProcess] = {}
_processes_lock = threading.Lock()


def _serve(conn: Connection, folder: str, name: str | None) -> None:
    """Worker process: load the model, then answer requests until the pipe closes."""
    lower_this_process()
    try:
        embedder = LocalEmbedder(Path(folder), name)
    except Exception as exc:  # noqa: BLE001 - any loading error is reported, not raised
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", embedder.info))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the application ended
            return
        if msg is None:
            return
        op, arg = msg
        try:
            if op == "offsets":
                result: Any = np.asarray(embedder.token_offsets(arg), dtype=np.int32)
            elif op == "embed":
                result = embedder.embed(arg)
            else:
                raise ValueError(f"unknown request {op!r}")
        except Exception as exc:  # noqa: BLE001 - the caller gets the reason
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        else:
            conn.send(("ok", result))


class EmbedderProcess:
    """A sentence-transformers model served by a worker process (thread-safe)."""

    def __init__(self, folder: Path, name: str | None = None) -> None:
        self.folder = folder
        self.name = name
        self._ctx = mp.get_context("spawn")
        self._proc: Any = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        with self._lock:
            self.info: EmbedderInfo = self._start()

    def _start(self) -> EmbedderInfo:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=_serve,
            args=(child, str(self.folder), self.name),
            name="lectern-embed",
            daemon=True,
        )
        proc.start()
        child.close()
        try:
            status, value = parent.recv()
        except (EOFError, OSError):
            proc.join(5)
            parent.close()
            raise DocumentError(
                f"The embedding model in {self.folder} could not be started "
                f"(its process ended with code {proc.exitcode})."
            ) from None
        if status != "ready":
            proc.join(5)
            parent.close()
            raise DocumentError(
                f"The embedding model in {self.folder} could not be loaded.", hint=str(value)
            )
        self._proc, self._conn = proc, parent
        info: EmbedderInfo = value
        return info

    def _call(self, op: str, arg: Any) -> Any:
        with self._lock:
            if self._conn is None or self._proc is None or not self._proc.is_alive():
                self._stop()
                self.info = self._start()
            conn = self._conn
            assert conn is not None
            try:
                conn.send((op, arg))
                status, value = conn.recv()
            except (EOFError, OSError, BrokenPipeError):
                self._stop()
                raise DocumentError(
                    "The embedding model's process stopped unexpectedly.",
                    hint="try again; it is restarted on the next use",
                ) from None
        if status != "ok":
            raise DocumentError("The embedding model failed on this text.", hint=str(value))
        return value

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character spans of ``text``'s tokens (no special tokens, no truncation)."""
        spans: np.ndarray = self._call("offsets", text)
        return [(int(s), int(e)) for s, e in spans]

    def count_tokens(self, text: str) -> int:
        return len(self._call("offsets", text))

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Normalised float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.info.dimension), dtype=np.float32)
        vectors: np.ndarray = self._call("embed", list(texts))
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        """The vector of one query."""
        return self.embed([text])[0]

    @property
    def pid(self) -> int | None:
        """The worker's process id (None when it is not running)."""
        return self._proc.pid if self._proc is not None and self._proc.is_alive() else None

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
        """Stop the worker process (a later call starts it again)."""
        with self._lock:
            self._stop()


def start_embedder(folder: str | os.PathLike[str], name: str | None = None) -> EmbedderProcess:
    """The worker serving the model in ``folder``, started once per application process."""
    key = str(Path(folder).resolve())
    with _processes_lock:
        proc = _processes.get(key)
        if proc is None:
            proc = _processes[key] = EmbedderProcess(Path(key), name)
        return proc


@atexit.register
def stop_embedders() -> None:
    """Stop every embedding worker of this process."""
    with _processes_lock:
        procs = list(_processes.values())
        _processes.clear()
    for proc in procs:
        proc.close()
