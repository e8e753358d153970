"""The chat service: one loaded model, answers as async event streams.

Owns a :class:`~core.chat.generator.Generator` (llama.cpp in a worker
process by default). Loading validates the GGUF first (header, metadata and
tensor sizes against the file size) so a truncated or foreign file is a
one-line :class:`~core.errors.ModelFileError`, never a llama.cpp crash; then
tries the given configurations in order until one loads. When the worker
has died (a crash, a kill), the next answer reloads the same configuration
in a fresh worker first.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.chat.generator import LocalGenerator
from core.chat.load_config import LoadConfig
from core.chat.protocol import GenerateRequest
from core.chat.templates import ChatTemplate, resolve_template
from core.errors import GenerationError, LecternError, ModelLoadError, WorkerCrashedError
from core.events import Done, Event, Failed, Progress, Token
from core.executors import executor, run_blocking
from core.models.gguf_info import read_info
from core.models.registry import ModelRecord

_END = object()


log = logging.getLogger(__name__)


def _described(config: LoadConfig) -> str:
    return (
        f"n_gpu_layers={config.n_gpu_layers} n_ctx={config.n_ctx} "
        f"kv={config.type_k}/{config.type_v} flash_attn={config.flash_attn} "
        f"threads={config.n_threads}"
    )


@dataclass(frozen=True)
class LoadedModel:
    """The model that answers now, and how llama.cpp was set up for it."""

    record: ModelRecord | None
    path: str
    config: LoadConfig
    n_ctx: int
    n_gpu_layers: int
    template_source: str  # "gguf" | "override" | "fallback:<family>"
    memory: dict[str, int] = field(default_factory=dict)  # llama.cpp's buffer sizes, bytes
    template: ChatTemplate | None = None
    load_log: str = ""  # llama.cpp's buffer-size log lines (core.hardware.corrections parses them)


class ChatService:
    """Load, answer, stop, unload; safe to use from any thread or event loop."""

    def __init__(self, generator: LocalGenerator | None = None) -> None:
        self.generator = generator or LocalGenerator()
        self.loaded: LoadedModel | None = None
        self._lock = threading.Lock()  # loads and generations do not interleave

    # -- loading ----------------------------------------------------------
    def load_sync(
        self, path: str, record: ModelRecord | None, configs: Sequence[LoadConfig]
    ) -> LoadedModel:
        """Validate ``path`` and load it with the first configuration that works."""
        info = read_info(Path(path))
        if not configs:
            raise ModelLoadError(f"No way to load {Path(path).name} on this machine.")
        with self._lock:
            self.loaded = None
            error: LecternError | None = None
            for config in configs:
                template = resolve_template(info.architecture, info.metadata, config.chat_template)
                try:
                    loaded = self.generator.load(config, template)
                except ModelLoadError as exc:
                    error = exc  # try the next, smaller configuration
                    log.warning("loading %s failed with %s: %s", path, _described(config), exc)
                    continue
                except WorkerCrashedError:
                    # llama.cpp aborted (an assertion, out of memory): a fresh worker
                    # tries the next configuration
                    error = ModelLoadError(
                        f"llama.cpp crashed while loading {Path(path).name}.",
                        hint="the file may be damaged, or too large for this machine",
                    )
                    log.warning("llama.cpp crashed loading %s with %s", path, _described(config))
                    continue
                log.info(
                    "loaded %s: %s; %d GPU layers, context %d, template from %s",
                    path,
                    _described(config),
                    loaded.n_gpu_layers,
                    loaded.n_ctx,
                    template.source,
                )
                self.loaded = LoadedModel(
                    record=record,
                    path=path,
                    config=config,
                    n_ctx=loaded.n_ctx,
                    n_gpu_layers=loaded.n_gpu_layers,
                    template_source=template.source,
                    memory=dict(loaded.memory),
                    template=template,
                    load_log=loaded.load_log,
                )
                return self.loaded
        assert error is not None
        raise error

    async def load(
        self, path: str, record: ModelRecord | None, configs: Sequence[LoadConfig]
    ) -> LoadedModel:
        """Validate and load a model (see :meth:`load_sync`)."""
        return await run_blocking("chat-load", self.load_sync, path, record, configs)

    @property
    def needs_reload(self) -> bool:
        """A model was loaded but its worker is gone (crash or kill)."""
        return self.loaded is not None and not self.generator.is_loaded

    async def unload(self) -> None:
        """Free the model (the worker process stays for the next load)."""
        self.loaded = None
        await run_blocking("chat-load", self.generator.unload)

    # -- answering --------------------------------------------------------
    def run_sync(self, request: GenerateRequest, sink: Callable[[Event], None]) -> None:
        """Generate, passing each event to ``sink``; restarts a dead worker first."""
        with self._lock:
            if self.needs_reload:
                sink(Progress("load", 0, 1, "Restarting the model process…"))
                loaded = self.loaded
                assert loaded is not None and loaded.template is not None
                try:
                    self.generator.load(loaded.config, loaded.template)
                except LecternError as exc:
                    sink(Failed(exc))
                    return
                sink(Progress("load", 1, 1, "Model loaded"))
            t0 = time.perf_counter()
            ttft = 0.0
            for ev in self.generator.generate(request):
                if isinstance(ev, Token) and not ttft:
                    ttft = time.perf_counter() - t0
                if isinstance(ev, Done) and ev.stats is not None:
                    # time to first token as the caller sees it (worker and pipe included)
                    extra = {**ev.stats.extra, "worker_ttft_s": ev.stats.ttft_s}
                    stats = dataclasses.replace(ev.stats, ttft_s=ttft, extra=extra)
                    ev = dataclasses.replace(ev, stats=stats)
                sink(ev)

    async def stream(self, request: GenerateRequest) -> AsyncIterator[Event]:
        """The events of one answer; leaving early stops the generation."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        put = queue.put_nowait

        def sink(ev: Event) -> None:
            loop.call_soon_threadsafe(put, ev)

        def pump() -> None:
            try:
                self.run_sync(request, sink)
            except LecternError as exc:
                sink(Failed(exc))
            except Exception as exc:  # noqa: BLE001 - surfaced as an event, never lost
                sink(Failed(GenerationError(f"{type(exc).__name__}: {exc}")))
            finally:
                loop.call_soon_threadsafe(put, _END)

        future = loop.run_in_executor(executor("chat"), pump)
        finished = False
        try:
            while True:
                ev = await queue.get()
                if ev is _END:
                    finished = True
                    break
                assert isinstance(ev, Event)
                yield ev
        finally:
            if not finished:
                self.stop()  # the consumer went away: do not keep generating
            if finished:
                await future

    def stop(self) -> None:
        """Stop the current answer within one token (also inside a long prefill)."""
        self.generator.cancel()

    def close(self) -> None:
        """Stop the worker process."""
        self.loaded = None
        self.generator.close()
