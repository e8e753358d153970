"""Generators: where answers come from, behind one small protocol.

:class:`LocalGenerator` runs llama.cpp in the worker process
(:mod:`core.chat.worker`). A remote OpenAI-compatible server would be another
implementation of the same protocol; the chat service does not care which.
All methods block; the chat service calls them from its own executor thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from core.chat.load_config import LoadConfig
from core.chat.protocol import (
    GenerateRequest,
    Loaded,
    LoadRequest,
    PromptFitted,
    TokenizeRequest,
    Tokens,
    UnloadRequest,
    WorkerError,
)
from core.chat.templates import ChatTemplate
from core.chat.worker import WorkerProcess, error_from
from core.errors import GenerationError, LecternError, WorkerCrashedError
from core.events import Done, Event, Failed, Progress, Sources, Token


class Generator(Protocol):
    """Something that loads a model and streams answers."""

    def load(self, config: LoadConfig, template: ChatTemplate) -> Loaded:
        """Load a model (raises a :class:`LecternError` on failure)."""
        ...

    def generate(self, request: GenerateRequest) -> Iterator[Event]:
        """Stream ``Sources`` (when passages were given), ``Progress``, ``Token``s, then
        exactly one ``Done`` or ``Failed``."""
        ...

    def cancel(self) -> None:
        """Stop the current generation soon (thread-safe)."""
        ...

    def unload(self) -> None:
        """Free the model."""
        ...

    def close(self) -> None:
        """Release everything (processes, connections)."""
        ...


class LocalGenerator:
    """llama.cpp in a worker process; survives the worker's death."""

    def __init__(self) -> None:
        self.worker = WorkerProcess()
        self._loaded: Loaded | None = None

    @property
    def is_loaded(self) -> bool:
        """A model is loaded in a live worker."""
        return self._loaded is not None and self.worker.alive

    def load(self, config: LoadConfig, template: ChatTemplate) -> Loaded:
        self._loaded = None
        # a processor-only load runs in a worker that cannot see the GPU (worker_main)
        hide_gpus = config.n_gpu_layers == 0
        if not self.worker.alive or self.worker.hides_gpus != hide_gpus:
            self.worker.start(hide_gpus=hide_gpus)
        reply = _last(self.worker.request(LoadRequest(config, template)))
        if isinstance(reply, WorkerError):
            raise error_from(reply)
        if not isinstance(reply, Loaded):
            raise GenerationError(f"Unexpected reply from the model process: {reply!r}")
        self._loaded = reply
        return reply

    def tokenize(self, text: str, add_special: bool = False) -> list[int]:
        """Token ids of ``text`` with the loaded model's vocabulary."""
        reply = _last(self.worker.request(TokenizeRequest(text, add_special, add_special)))
        if isinstance(reply, WorkerError):
            raise error_from(reply)
        assert isinstance(reply, Tokens)
        return reply.ids

    def generate(self, request: GenerateRequest) -> Iterator[Event]:
        if not self.is_loaded:
            yield Failed(GenerationError("No model is loaded."))
            return
        # a Stop pressed before this request must not cancel it; one pressed after the
        # flag is cleared (even before the worker reads the request) does
        self.worker.cancel.value = False
        try:
            for reply in self.worker.request(request):
                if isinstance(reply, PromptFitted):
                    if request.passages:
                        yield Sources(reply.passages)
                elif isinstance(reply, (Token, Progress, Done)):
                    yield reply
                elif isinstance(reply, WorkerError):
                    yield Failed(error_from(reply))
                else:
                    yield Failed(GenerationError(f"Unexpected reply: {reply!r}"))
        except WorkerCrashedError as exc:
            self._loaded = None
            yield Failed(exc)
        except LecternError as exc:
            yield Failed(exc)

    def cancel(self) -> None:
        self.worker.cancel.value = True

    def unload(self) -> None:
        if self.worker.alive and self._loaded is not None:
            for _ in self.worker.request(UnloadRequest()):
                pass
        self._loaded = None

    def close(self) -> None:
        self._loaded = None
        self.worker.stop()


def _last(replies: Iterator[object]) -> object:
    last: object = None
    for last in replies:  # noqa: B007 - only the terminal reply matters
        pass
    return last
