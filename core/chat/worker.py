"""The llama.cpp worker: a separate process that owns the model.

A bad GGUF, an out-of-memory abort or any crash inside llama.cpp kills only
this process; the application sees :class:`~core.errors.WorkerCrashedError`
and starts a new worker on the next request. The process is started with the
``spawn`` method (no forked copies of Qt or Chroma state) and talks over one
duplex pipe: the parent sends a request, the worker answers with a stream of
replies ending in a terminal one. Stop is a shared boolean that the worker
reads between tokens and, through an abort callback, inside a prefill.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

from core.chat.protocol import (
    GenerateRequest,
    Loaded,
    LoadRequest,
    ShutdownRequest,
    TokenizeRequest,
    Tokens,
    UnloadRequest,
    WorkerError,
)
from core.errors import GenerationError, LecternError, WorkerCrashedError
from core.events import Done

TERMINAL = (Done, Loaded, Tokens, WorkerError)


def worker_main(conn: Connection, cancel: Any, hide_gpus: bool = False) -> None:
    """Entry point of the worker process: serve requests until told to stop.

    ``hide_gpus``: CUDA sees no device here (before llama.cpp is first loaded). A
    CUDA build makes a CUDA context (about 0.5 GiB, measured on an H200) as soon as
    it loads a model, even with no layers on the GPU; a processor-only load must
    not need GPU memory, or it fails when another program has filled the GPU.
    """
    if hide_gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    # Ctrl+C in a terminal reaches the whole process group; the parent decides what stops
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from core.chat.llama_backend import LlamaBackend

    backend: LlamaBackend | None = None
    while True:
        try:
            req = conn.recv()
        except (EOFError, OSError):
            break
        if isinstance(req, ShutdownRequest):
            break
        try:
            if isinstance(req, LoadRequest):
                if backend is not None:
                    backend.close()
                    backend = None
                backend = LlamaBackend(req.config, req.template, cancel)
                conn.send(backend.loaded())
            elif isinstance(req, GenerateRequest):
                if backend is None:
                    raise GenerationError("No model is loaded.")
                backend.generate(req, conn.send)
            elif isinstance(req, TokenizeRequest):
                if backend is None:
                    raise GenerationError("No model is loaded.")
                conn.send(
                    Tokens(
                        backend.tokenize(
                            req.text, add_special=req.add_special, parse_special=req.parse_special
                        )
                    )
                )
            elif isinstance(req, UnloadRequest):
                if backend is not None:
                    backend.close()
                    backend = None
                conn.send(Done())
            else:
                raise GenerationError(f"Unknown request {type(req).__name__}.")
        except LecternError as exc:
            conn.send(WorkerError(type(exc).__name__, exc.message, exc.hint))
        except Exception as exc:  # noqa: BLE001 - the worker's boundary: report, keep serving
            conn.send(WorkerError("GenerationError", f"{type(exc).__name__}: {exc}"))
    if backend is not None:
        backend.close()


def error_from(reply: WorkerError) -> LecternError:
    """Rebuild the typed error a worker reported."""
    import core.errors as errors
    from core.chat import templates

    cls = getattr(errors, reply.kind, None) or getattr(templates, reply.kind, None)
    if not (isinstance(cls, type) and issubclass(cls, LecternError)):
        cls = GenerationError
    return cls(reply.message, reply.hint)


class WorkerProcess:
    """The parent's handle on one worker process (restartable)."""

    def __init__(self) -> None:
        self._mp = multiprocessing.get_context("spawn")
        self.cancel = self._mp.RawValue(ctypes.c_bool, False)
        self._proc: Any = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()  # one request at a time: queue, don't share
        self.hides_gpus = False  # the worker was started without NVIDIA GPUs (worker_main)

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, hide_gpus: bool | None = None) -> None:
        """Start a fresh worker (the previous one, if any, is stopped first).

        ``hide_gpus``: whether it sees no NVIDIA GPU; None keeps the last choice.
        """
        self.stop()
        if hide_gpus is not None:
            self.hides_gpus = hide_gpus
        parent, child = self._mp.Pipe(duplex=True)
        proc = self._mp.Process(
            target=worker_main,
            args=(child, self.cancel, self.hides_gpus),
            name="lectern-llama",
            daemon=True,
        )
        proc.start()
        child.close()  # so that recv() sees EOF when the worker dies
        self._proc, self._conn = proc, parent

    def request(self, req: object) -> Iterator[object]:
        """Send ``req`` and yield the replies, the terminal one last.

        Raises :class:`WorkerCrashedError` when the process dies meanwhile.
        """
        with self._lock:
            if not self.alive:
                self.start()
            conn = self._conn
            assert conn is not None
            try:
                conn.send(req)
            except (OSError, ValueError) as exc:
                raise self._crashed() from exc
            while True:
                try:
                    # blocking: the worker's death closes its end of the pipe (ours was
                    # closed after the start), so recv() raises EOFError rather than hang;
                    # no poll() per token either
                    reply = conn.recv()
                except (EOFError, OSError) as exc:
                    raise self._crashed() from exc
                yield reply
                if isinstance(reply, TERMINAL):
                    return

    def _crashed(self) -> WorkerCrashedError:
        code = None
        if self._proc is not None:
            self._proc.join(timeout=2)
            code = self._proc.exitcode
        self._cleanup()
        return crash_error(code)

    def _cleanup(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
        self._proc = None
        self._conn = None

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the worker to exit; kill it if it does not (e.g. stuck in a long load)."""
        proc, conn = self._proc, self._conn
        if proc is None:
            return
        self.cancel.value = True
        if conn is not None and proc.is_alive():
            with contextlib.suppress(OSError, ValueError):
                conn.send(ShutdownRequest())
        proc.join(timeout)
        if proc.is_alive():
            proc.kill()
            proc.join(2)
        self.cancel.value = False
        self._cleanup()


def crash_error(exitcode: int | None) -> WorkerCrashedError:
    """What a user reads when the model process died with ``exitcode``.

    An illegal instruction means llama.cpp was built for another processor (or for
    instructions a virtual machine reports but traps): restarting cannot help, a
    rebuild does. A kill is most often the system reclaiming memory.
    """
    if exitcode == -signal.SIGILL:
        return WorkerCrashedError(
            "The model process stopped on an illegal instruction, one this computer's "
            "processor cannot run.",
            hint="llama-cpp-python was built for another processor; rebuild it on this "
            "computer as the README's set-up section says",
        )
    if exitcode == -signal.SIGKILL:
        return WorkerCrashedError(
            "The model process was killed, most often by the system when memory runs out.",
            hint="Lectern starts it again on the next question; a smaller model or a "
            "shorter context needs less memory",
        )
    # no parentheses: a stored answer's error is read back as "message (hint)"
    if exitcode is not None and exitcode < 0:
        try:
            detail = f", signal {signal.Signals(-exitcode).name}"
        except ValueError:
            detail = f", signal {-exitcode}"
    else:
        detail = f", exit code {exitcode}" if exitcode is not None else ""
    return WorkerCrashedError(
        f"The model process stopped unexpectedly{detail}.",
        hint="Lectern starts it again on the next question",
    )
