"""The one async facade that front ends drive.

``Engine`` owns the data directory, the settings and the services. Every
method that may block (disk, llama.cpp, embeddings) is async and runs its
work in a named executor or a worker process, so a GUI event loop stays
responsive. Services are created lazily: opening an engine loads no model.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from pathlib import Path

from core.chat.load_config import LoadConfig, default_threads
from core.chat.protocol import GenerateRequest, Sampling
from core.chat.service import ChatService, LoadedModel
from core.documents.index_worker import try_reranker
from core.documents.library import DocumentRecord, LibraryInfo
from core.documents.service import DocumentService
from core.errors import DocumentError, LecternError, ModelNotFoundError, UsageError
from core.events import Done, Event, Failed, Progress, Sources, Token
from core.executors import executor, run_blocking
from core.hardware.corrections import flash_attn_from_log, normalize_reported
from core.hardware.detect import HardwareInfo
from core.hardware.ladder import Threads, build_ladder
from core.hardware.measure import measure_speed
from core.hardware.planner import Plan
from core.hardware.service import HardwareService, plan_options, resolve_model
from core.models import hub
from core.models.catalog import CatalogEntry, shipped_catalog
from core.models.downloads import Downloader, PartialDownload, stream_download, stream_transfer
from core.models.gguf_info import read_info
from core.models.hub import HubRepo, RemoteModelFile, resolve_token
from core.models.importer import DiscoveredModel, discover, import_model
from core.models.overrides import sampling_for
from core.models.registry import ModelRecord, ModelRegistry
from core.models.rerankers import STARTER_PREFIX, download_reranker, reranker_problem
from core.models.starter import (
    STARTER_MODEL_ID,
    ensure_starter_embedder,
    ensure_starter_model,
    ensure_starter_reranker,
)
from core.paths import DataPaths, resolve_data_dir
from core.retrieval.follow_up import in_context
from core.retrieval.grounding import Retrieval
from core.retrieval.small_talk import is_small_talk
from core.settings import (
    GenerationSettings,
    Settings,
    atomic_write_text,
    load_settings,
    save_settings,
)
from core.storage.conversations import (
    Conversation,
    ConversationStore,
    MessageStored,
    StoredMessage,
)
from core.storage.recording import record_answer
from core.types import GenerationStats, Message, Passage


class Engine:
    """Lectern's engine for one data directory."""

    def __init__(self, data_dir: str | os.PathLike[str] | None = None) -> None:
        self.paths = DataPaths(resolve_data_dir(data_dir)).ensure()
        self.settings: Settings = load_settings(self.paths.settings_file)
        self.registry = ModelRegistry(self.paths.model_registry_file)
        self._downloader: Downloader | None = None
        self._download_cancels: dict[tuple[str, str | None], threading.Event] = {}

    # -- settings ---------------------------------------------------------
    def save_settings(self) -> None:
        """Persist the current settings."""
        save_settings(self.paths.settings_file, self.settings)

    # -- models -----------------------------------------------------------
    def ensure_starter_models_sync(self) -> ModelRecord:
        """Install the offline starter models if needed (blocking)."""
        ensure_starter_embedder(self.paths)
        return ensure_starter_model(self.paths, self.registry)

    async def ensure_starter_models(self) -> ModelRecord:
        """Install the offline starter models if needed."""
        return await run_blocking("models", self.ensure_starter_models_sync)

    def _install_starter_if_named(self, model: str | Path) -> None:
        """The starter model is registered on first use: naming it is a use."""
        if str(model) == STARTER_MODEL_ID:
            self.ensure_starter_models_sync()

    async def list_models(self) -> list[ModelRecord]:
        """Installed models, starter first."""
        return await run_blocking("models", self.registry.list)

    def starter_embedder_path(self) -> Path:
        """Folder of the starter sentence-transformers model (installing it if needed)."""
        return ensure_starter_embedder(self.paths)

    # -- chat and generation (generation engine) ----------------------------
    @property
    def chat_service(self) -> ChatService:
        """The chat service (its llama.cpp worker process starts on the first load)."""
        svc: ChatService | None = getattr(self, "_chat_service", None)
        if svc is None:
            svc = self._chat_service = ChatService()
        return svc

    @property
    def loaded_model(self) -> LoadedModel | None:
        """The model that answers now, if one is loaded."""
        svc: ChatService | None = getattr(self, "_chat_service", None)
        return svc.loaded if svc is not None else None

    def resolve_chat_model(self, model: str | None = None) -> tuple[ModelRecord | None, str]:
        """(record, path) for a model id or GGUF path; None: the default model, else the starter."""
        model = model or self.settings.models.default_model
        if model is None:
            rec = self.ensure_starter_models_sync()
            return rec, rec.path
        self._install_starter_if_named(model)
        try:
            rec = self.registry.get(model)
            return rec, rec.path
        except ModelNotFoundError:
            p = Path(model).expanduser()
            if p.suffix.lower() == ".gguf" or p.exists() or os.sep in model:
                return None, str(p.absolute())  # validated (missing, truncated...) on load
            raise

    def load_config_for(self, path: str, record: ModelRecord | None) -> list[LoadConfig]:
        """The configurations to try, in order, to load ``path`` (the load ladder).

        First the planner's choice for this machine (GPU layers, context, KV
        cache; see core/hardware/planner.py), then fewer GPU layers, a shorter
        context, and the CPU alone (core/hardware/ladder.py).
        """
        gen = self.settings.generation
        overrides = record.overrides if record else {}
        threads = gen.n_threads or default_threads()
        template = overrides.get("chat_template")
        hw = self.hardware_service.current()  # free GPU memory as it is now, not at detection
        plan, _shape = self.hardware_service.plan_file(path, hw, plan_options(gen, overrides))
        return build_ladder(
            plan,
            path,
            Threads(n_threads=threads, n_threads_batch=threads),
            template if isinstance(template, str) else None,
        )

    def load_model_sync(self, model: str | None = None) -> LoadedModel:
        """Blocking :meth:`load_model`."""
        rec, path = self.resolve_chat_model(model)
        loaded = self.loaded_model
        if loaded is not None and loaded.path == path and not self.chat_service.needs_reload:
            return loaded
        read_info(Path(path))  # a bad file fails here, before any configuration is planned
        loaded = self.chat_service.load_sync(path, rec, self.load_config_for(path, rec))
        self.record_load_memory(loaded)  # the planner learns from llama.cpp's real buffer sizes
        return loaded

    async def load_model(self, model: str | None = None) -> LoadedModel:
        """Load a model (id or GGUF path; None: the default model, else the starter).

        Validates the GGUF first: a missing, truncated or foreign file raises
        :class:`~core.errors.ModelFileError`. A model already loaded is kept.
        """
        return await run_blocking("chat-load", self.load_model_sync, model)

    async def unload_model(self) -> None:
        """Free the loaded model."""
        svc: ChatService | None = getattr(self, "_chat_service", None)
        if svc is not None:
            await svc.unload()

    def chat(
        self,
        messages: Sequence[Message],
        *,
        model: str | None = None,
        sampling: GenerationSettings | None = None,
        passages: Sequence[Passage] = (),
        run_on: bool = False,
    ) -> AsyncIterator[Event]:
        """Answer the last (user) message of ``messages``.

        Yields ``Progress(task="load")`` while a model loads, ``Sources`` (the
        passages that fit into the prompt, numbered from 1) when passages are
        given, ``Progress(task="prefill")`` during a long prompt, ``Token``s,
        then exactly one ``Done(text, stats, cancelled)`` or ``Failed(error)``.
        A system message at the start replaces the default system prompt.
        ``run_on`` (speed measurement) ignores end-of-answer tokens and stop
        strings: the model writes until ``max_tokens`` or a stop.
        """
        msgs = list(messages)

        async def events() -> AsyncGenerator[Event, None]:
            if not msgs or msgs[-1].role != "user":
                yield Failed(UsageError("The last message must be the user's question."))
                return
            history = tuple(m for m in msgs[:-1] if m.role != "system")
            try:
                rec, path = await run_blocking("chat-load", self.resolve_chat_model, model)
                loaded = self.loaded_model
                if loaded is None or loaded.path != path:
                    name = rec.name if rec else Path(path).name
                    yield Progress("load", 0, 1, f"Loading {name}…")
                    await self.load_model(model)
                    yield Progress("load", 1, 1, f"Loaded {name}")
            except LecternError as exc:
                yield Failed(exc)
                return
            # the model's own sampling (Models → Settings…) unless the caller chose
            settings = sampling or sampling_for(rec, self.settings.generation)
            system = settings.system_prompt
            if msgs[0].role == "system":
                system = msgs[0].content
            request = GenerateRequest(
                system_prompt=system,
                history=history,
                question=msgs[-1],
                passages=tuple(passages),
                sampling=Sampling(
                    temperature=settings.temperature,
                    top_p=settings.top_p,
                    top_k=settings.top_k,
                    min_p=settings.min_p,
                    repeat_penalty=settings.repeat_penalty,
                    dry_multiplier=settings.dry_multiplier,
                    seed=settings.seed,
                    max_tokens=settings.max_tokens,
                    ignore_eos=run_on,
                ),
            )
            async for ev in self.chat_service.stream(request):
                yield ev

        return events()

    def stop_generation(self) -> None:
        """Stop the current answer (thread-safe; within one token, also mid-prompt)."""
        svc: ChatService | None = getattr(self, "_chat_service", None)
        if svc is not None:
            svc.stop()

    def ask(
        self,
        question: str,
        *,
        library: str | Sequence[str] | None = None,
        model: str | None = None,
        history: Sequence[Message] = (),
        sampling: GenerationSettings | None = None,
    ) -> AsyncIterator[Event]:
        """Answer ``question``; with a library, grounded on its passages (cited as [n]).

        ``sampling`` replaces the generation settings (a model's own overrides).

        With a library, ``Progress(task="search")`` comes before and after the search
        (messages "Searching the documents", then "Thinking"). When the library holds
        nothing relevant, the answer is ``NOT_COVERED_ANSWER`` and no model runs.
        """

        async def events() -> AsyncGenerator[Event, None]:
            passages: tuple[Passage, ...] = ()
            searched_for = ""
            if not question.strip():
                yield Failed(UsageError("The question is empty."))
                return
            if model is not None:  # a mistyped --model fails before the search, not after
                try:
                    await run_blocking("chat-load", self.resolve_chat_model, model)
                except LecternError as exc:
                    yield Failed(exc)
                    return
            # "Thanks!" or "Hi" is answered by the model, not searched for and refused
            library_or_none = None if is_small_talk(question) else library
            if library_or_none is not None:
                from core.retrieval.grounding import NOT_COVERED_ANSWER

                # a question is re-ranked (about 0.6 s on 2 cores): say what is happening
                yield Progress("search", 0, 0, "Searching the documents")
                try:
                    hits = await self._retrieve_in_context(question, library_or_none, history)
                except LecternError as exc:
                    yield Failed(exc)
                    return
                yield Progress("search", 1, 0, "Thinking")
                searched_for = hits.searched_for
                if not hits.covered:
                    yield Sources((), searched_for)
                    yield Token(NOT_COVERED_ANSWER)
                    yield Done(NOT_COVERED_ANSWER, GenerationStats())
                    return
                passages = tuple(hits.passages)
            async for ev in self.chat(
                [*history, Message("user", question)],
                model=model,
                sampling=sampling,
                passages=passages,
            ):
                if isinstance(ev, Sources) and searched_for:
                    ev = Sources(ev.passages, searched_for)
                yield ev

        return events()

    # -- documents and retrieval (document library) -------------------------
    @property
    def documents(self) -> DocumentService:
        """The document library service (created on first use; loads nothing yet)."""
        svc: DocumentService | None = self.__dict__.get("_documents")
        if svc is None:
            svc = self.__dict__["_documents"] = DocumentService(
                self.paths,
                lambda: self.settings.retrieval,
                self._embedder_folder,
                self._reranker_folder,
            )
        return svc

    def _embedder_folder(self) -> Path:
        name = self.settings.retrieval.embedder
        if name.startswith("starter:"):
            return self.starter_embedder_path()
        folder = Path(name).expanduser()
        if not folder.is_dir():
            raise DocumentError(
                f"The embedding model folder {folder} does not exist.",
                hint="choose another embedder in Settings → Retrieval",
            )
        return folder

    def _reranker_folder(self) -> Path:
        choice = self.settings.retrieval.reranker
        if choice.startswith(STARTER_PREFIX):
            return ensure_starter_reranker(self.paths)
        problem = reranker_problem(choice)
        if problem:
            raise DocumentError(
                problem, hint="choose another re-ranking model in Settings → Documents"
            )
        return Path(choice).expanduser()

    def download_reranker(
        self, repo_id: str, revision: str | None = None
    ) -> AsyncGenerator[Event, None]:
        """Download, verify and try a re-ranking model (an ONNX cross-encoder), yielding
        ``DownloadProgress`` events.

        Ends with ``RerankerInstalled(folder)``, ``Failed(error)``, or
        ``Done(cancelled=True)`` after :meth:`cancel_download` with ``filename=None``
        (the partial files stay and the next call resumes them). It does not change
        the settings: choosing the new model is the caller's (``retrieval.reranker``).
        """
        reserve = self.settings.models.download_reserve_mb * 1_000_000

        def start(token: str | None, cancel: threading.Event) -> AsyncIterator[Event]:
            def run(emit: Callable[[Event], None]) -> Event:
                return download_reranker(
                    self.downloader,
                    repo_id,
                    revision,
                    token=token,
                    reserve_bytes=reserve,
                    try_model=try_reranker,
                    emit=emit,
                    cancel=cancel,
                )

            return stream_transfer(run, repo_id, repo_id, cancel)

        return self._tracked_download((repo_id, None), start)

    def _tracked_download(
        self,
        key: tuple[str, str | None],
        start: Callable[[str | None, threading.Event], AsyncIterator[Event]],
    ) -> AsyncGenerator[Event, None]:
        """The events of ``start(token, cancel)``, stoppable with :meth:`cancel_download`."""
        cancel = threading.Event()
        self._download_cancels[key] = cancel

        async def events() -> AsyncGenerator[Event, None]:
            try:
                token = await run_blocking("hub", self.hub_token)
                async for event in start(token, cancel):
                    yield event
            finally:
                if self._download_cancels.get(key) is cancel:
                    del self._download_cancels[key]

        return events()

    def _stream_ingest(
        self, work: Callable[[Callable[[Event], None]], object]
    ) -> AsyncIterator[Event]:
        """Run blocking ingestion ``work(emit)`` in the "ingest" executor, yielding its events."""

        async def events() -> AsyncGenerator[Event, None]:
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue[Event | None] = asyncio.Queue()

            def emit(ev: Event) -> None:
                loop.call_soon_threadsafe(queue.put_nowait, ev)

            def run() -> None:
                try:
                    work(emit)
                except LecternError as exc:
                    emit(Failed(exc))
                finally:
                    loop.call_soon_threadsafe(queue.put_nowait, None)

            fut = loop.run_in_executor(executor("ingest"), run)
            try:
                while (ev := await queue.get()) is not None:
                    yield ev
            finally:
                if not fut.done():
                    self.documents.cancel_indexing()
                await asyncio.shield(fut)

        return events()

    def index(self, paths: Sequence[str | Path], library: str = "default") -> AsyncIterator[Event]:
        """Add documents and folders (recursing for PDF, EPUB, HTML, text and Markdown files) to
        ``library`` (created if missing).

        Yields ``DocumentStatus`` events, then one ``IndexSummary`` (or ``Failed``).
        Documents left half-done by an interrupted run are finished too.
        """
        return self._stream_ingest(lambda emit: self.documents.index(paths, library, emit))

    def cancel_indexing(self) -> None:
        """Stop indexing after the current batch (thread-safe); the next run resumes."""
        self.documents.cancel_indexing()

    def reindex(self, library: str, file_or_path: str | None = None) -> AsyncIterator[Event]:
        """Index one document (or the whole library) again, e.g. after changing the embedder."""
        return self._stream_ingest(lambda emit: self.documents.reindex(library, file_or_path, emit))

    async def list_libraries(self) -> list[LibraryInfo]:
        """All libraries with document and chunk counts and their embedder."""
        return await run_blocking("search", self.documents.list_libraries)

    async def create_library(self, name: str) -> None:
        """Make an empty library."""
        await run_blocking("ingest", self.documents.create_library, name)

    async def rename_library(self, old: str, new: str) -> None:
        await run_blocking("ingest", self.documents.rename_library, old, new)

    async def delete_library(self, name: str) -> None:
        """Delete a library and its index (the PDFs themselves are never touched)."""
        await run_blocking("ingest", self.documents.delete_library, name)

    async def list_documents(self, library: str = "default") -> list[DocumentRecord]:
        """The documents of a library with their state."""
        return await run_blocking("search", self.documents.list_documents, library)

    async def remove_document(self, file_or_path: str, library: str = "default") -> None:
        """Remove a document (by path or file name) from a library."""
        await run_blocking("ingest", self.documents.remove_document, file_or_path, library)

    async def search(self, query: str, library: str = "default", k: int = 6) -> list[Passage]:
        """The ``k`` best passages (one per page), best first."""
        return await run_blocking("search", self.documents.search, query, library, k)

    async def _retrieve_in_context(
        self, question: str, library: str | Sequence[str], history: Sequence[Message]
    ) -> Retrieval:
        """Retrieve for a question; a follow-up ("And on Fedora?") with the one before it."""
        text = in_context(question, [m.content for m in history if m.role == "user"])
        if text is not None:
            hits = await self.retrieve_for_question(text, library)
            if hits.covered:
                return hits
        return await self.retrieve_for_question(question, library)

    async def retrieve_for_question(self, question: str, library: str | Sequence[str]) -> Retrieval:
        """Passages to answer from, and whether the library covers the question at all."""
        return await run_blocking("search", self.documents.retrieve, question, library)

    # -- model catalog, Hub search and downloads (models) --------------------
    @property
    def downloader(self) -> Downloader:
        """The model downloader for this data directory."""
        if self._downloader is None:
            self._downloader = Downloader(self.paths, self.registry)
        return self._downloader

    def hub_token(self) -> str | None:
        """The Hugging Face token in use: the setting, else huggingface_hub's standard one."""
        return resolve_token(self.settings.models.hf_token)

    def catalog(self) -> list[CatalogEntry]:
        """The curated models shipped with Lectern, smallest first."""
        return list(shipped_catalog())

    async def search_hub(self, query: str, limit: int = 20) -> list[HubRepo]:
        """GGUF repositories on the Hub matching ``query``, most downloaded first."""
        return await run_blocking("hub", hub.search, query, limit, self.hub_token())

    async def list_repo_files(
        self, repo_id: str, revision: str | None = None
    ) -> list[RemoteModelFile]:
        """A repository's GGUF models with sizes (split files grouped), smallest first."""
        return await run_blocking("hub", hub.list_gguf_files, repo_id, revision, self.hub_token())

    def download_model(
        self, repo_id: str, filename: str, revision: str | None = None
    ) -> AsyncGenerator[Event, None]:
        """Download, verify and register a model, yielding ``DownloadProgress`` events.

        Ends with ``DownloadFinished(record)``, ``Failed(error)``, or
        ``Done(cancelled=True)`` after :meth:`cancel_download` (the partial file
        stays and the next call resumes it).
        """
        reserve = self.settings.models.download_reserve_mb * 1_000_000

        def start(token: str | None, cancel: threading.Event) -> AsyncIterator[Event]:
            return stream_download(
                self.downloader,
                repo_id,
                filename,
                revision,
                token=token,
                reserve_bytes=reserve,
                cancel=cancel,
            )

        return self._tracked_download((repo_id, filename), start)

    def cancel_download(self, repo_id: str, filename: str | None) -> None:
        """Stop a running download (thread-safe); its partial file is kept for resuming.
        ``filename`` None: the re-ranker download of ``repo_id``."""
        cancel = self._download_cancels.get((repo_id, filename))
        if cancel is not None:
            cancel.set()

    async def partial_downloads(self) -> list[PartialDownload]:
        """Interrupted downloads that :meth:`download_model` would resume."""
        return await run_blocking("models", self.downloader.partials)

    async def import_model(self, path: str | Path) -> ModelRecord:
        """Register a GGUF file where it is (never moved or copied)."""
        return await run_blocking("models", import_model, self.registry, path)

    def delete_model_sync(self, model_id: str) -> ModelRecord:
        """Forget a model; delete its files (and partials) only if Lectern downloaded them."""
        rec = self.registry.get(model_id)
        if rec.source == "starter":
            raise UsageError("The starter model comes with Lectern and cannot be deleted.")
        self.registry.remove(rec.id)
        if rec.source == "downloaded":
            models_dir = self.paths.models_dir.resolve()
            for f in [Path(p) for p in rec.parts] or [Path(rec.path)]:
                if f.resolve().is_relative_to(models_dir):
                    f.unlink(missing_ok=True)
                    parent = f.parent
                    while parent.resolve() != models_dir and not any(parent.iterdir()):
                        parent.rmdir()
                        parent = parent.parent
            if rec.repo_id and rec.filename:
                self.downloader.remove_partials(rec.repo_id, rec.filename)
        return rec

    async def delete_model(self, model_id: str) -> None:
        """Forget a model; delete its files (and partials) only if Lectern downloaded them."""
        await run_blocking("models", self.delete_model_sync, model_id)

    async def discover_local_models(self) -> list[DiscoveredModel]:
        """GGUF models in the Hugging Face cache, LM Studio and GPT4All folders."""
        return await run_blocking("models", discover, self.registry)

    # -- hardware and offload planning (hardware) ----------------------------
    @property
    def hardware_service(self) -> HardwareService:
        """Cached hardware detection, the planner and per-model load corrections."""
        svc: HardwareService | None = getattr(self, "_hardware_service", None)
        if svc is None:
            svc = self._hardware_service = HardwareService(self.paths)
        return svc

    async def hardware(self, refresh: bool = False) -> HardwareInfo:
        """This machine's CPU, RAM, GPUs and llama.cpp build (detected once, then cached)."""
        return await run_blocking("hardware", self.hardware_service.detect, refresh)

    def plan_model_sync(self, model: str | Path, hardware: HardwareInfo | None = None) -> Plan:
        """Blocking :meth:`plan_model`."""
        self._install_starter_if_named(model)
        path, rec = resolve_model(self.registry, model)
        hw = hardware or self.hardware_service.current()
        opts = plan_options(self.settings.generation, rec.overrides if rec else None)
        return self.hardware_service.plan_file(path, hw, opts)[0]

    async def plan_model(self, model: str | Path, hardware: HardwareInfo | None = None) -> Plan:
        """How a model (id or GGUF path) would run here, or on ``hardware`` if given.

        ``Plan.fit`` is "gpu", "partial", "cpu" or "too_large"; ``n_gpu_layers``,
        ``n_ctx`` and the KV-cache type are what the first load will use.
        """
        return await run_blocking("hardware", self.plan_model_sync, model, hardware)

    def fit_label_for_size(
        self,
        size_bytes: int,
        *,
        parameters_b: float | None = None,
        quantization: str = "",
        context_length: int | None = None,
        hardware: HardwareInfo | None = None,
    ) -> str:
        """Fit ("gpu", "partial", "cpu", "too_large") of a model known only by its file size.

        For catalog and Hub entries that are not downloaded. Uses ``hardware``
        or the cached detection; returns "unknown" before :meth:`hardware` has
        run once (it never detects here, so it is safe on the GUI thread).
        """
        hw = hardware or self.hardware_service.cached
        if hw is None:
            return "unknown"
        return self.hardware_service.fit_for_size(
            size_bytes,
            hw,
            plan_options(self.settings.generation),
            parameters_b=parameters_b,
            quantization=quantization,
            context_length=context_length,
        ).fit

    def measure_speed(
        self, model: str | None = None, seconds: float = 20.0
    ) -> AsyncIterator[Event]:
        """Let ``model`` (default: the usual one) write for ``seconds`` and report its speed.

        Yields ``Progress`` ("load", then "measure") and one
        :class:`~core.hardware.measure.SpeedMeasured` or ``Failed``.
        """
        return measure_speed(self, model=model, seconds=seconds)

    def record_load_memory(self, loaded: LoadedModel) -> None:
        """After a real load: keep llama.cpp's buffer sizes vs the estimate for this model.

        The next plan for the same file is corrected by the ratios. Never
        raises: a correction is an optimisation, not a requirement.
        """
        cfg = loaded.config
        with contextlib.suppress(LecternError, OSError, ValueError):
            self.hardware_service.record_load(
                loaded.path,
                self.hardware_service.detect(),
                n_gpu_layers=loaded.n_gpu_layers,
                n_ctx=loaded.n_ctx,
                kv_type=cfg.type_k,
                offload_kqv=cfg.offload_kqv,
                reported=normalize_reported(loaded.memory),
                flash_attn=flash_attn_from_log(loaded.load_log) if cfg.type_k == "f16" else None,
            )

    # -- conversations (desktop chat) ----------------------------------------
    @property
    def conversations(self) -> ConversationStore:
        """The conversation database of this data directory (opened on first use)."""
        store: ConversationStore | None = getattr(self, "_conversation_store", None)
        if store is None:
            store = self._conversation_store = ConversationStore(self.paths.conversations_db)
        return store

    async def list_conversations(self, query: str = "") -> list[Conversation]:
        """Conversations, most recent first; ``query`` matches titles and message text."""
        return await run_blocking("conversations", self.conversations.conversations, query)

    async def create_conversation(
        self, title: str = "New chat", system_prompt: str | None = None
    ) -> Conversation:
        """Start a conversation (system prompt: the given one, else the default setting)."""
        prompt = self.settings.generation.system_prompt if system_prompt is None else system_prompt
        return await run_blocking("conversations", self.conversations.create, title, prompt)

    async def get_conversation(self, conversation_id: str) -> Conversation:
        return await run_blocking("conversations", self.conversations.get, conversation_id)

    async def conversation_messages(self, conversation_id: str) -> list[StoredMessage]:
        """A conversation's messages, oldest first."""
        return await run_blocking("conversations", self.conversations.messages, conversation_id)

    async def rename_conversation(self, conversation_id: str, title: str) -> Conversation:
        return await run_blocking(
            "conversations", self.conversations.rename, conversation_id, title
        )

    async def delete_conversation(self, conversation_id: str) -> None:
        await run_blocking("conversations", self.conversations.delete, conversation_id)

    async def set_system_prompt(self, conversation_id: str, prompt: str) -> Conversation:
        """Change a conversation's system prompt (used from its next answer on)."""
        return await run_blocking(
            "conversations", self.conversations.set_system_prompt, conversation_id, prompt
        )

    async def export_conversation(self, conversation_id: str, path: str | Path) -> Path:
        """Write a conversation to a Markdown file; returns the file's path."""
        text = await run_blocking(
            "conversations", self.conversations.export_markdown, conversation_id
        )
        target = Path(path)
        try:
            await run_blocking("conversations", atomic_write_text, target, text)
        except OSError as exc:  # a read-only folder, a full disk: the user's to fix
            raise LecternError(
                f"Cannot write {target}: {exc.strerror or exc}",
                hint="choose another folder",
            ) from exc
        return target

    def send_message(
        self,
        conversation_id: str,
        text: str,
        *,
        libraries: Sequence[str] = (),
        model: str | None = None,
        sampling: GenerationSettings | None = None,
    ) -> AsyncIterator[Event]:
        """Store the user's message, answer it and store the answer as it streams.

        Yields ``MessageStored`` for the user's message, then the answer's events
        (``MessageStored`` for the answer before its first ``Token``) ending with
        ``Done`` or ``Failed``. With ``libraries`` the question is answered from
        those document libraries (:meth:`ask`), else as plain chat (:meth:`chat`).
        """
        return self._converse(conversation_id, text, None, libraries, model, sampling)

    def regenerate(
        self,
        conversation_id: str,
        *,
        libraries: Sequence[str] = (),
        model: str | None = None,
        sampling: GenerationSettings | None = None,
    ) -> AsyncIterator[Event]:
        """Answer the last user message again, replacing the answers after it."""
        return self._converse(conversation_id, None, None, libraries, model, sampling)

    def edit_and_resend(
        self,
        conversation_id: str,
        message_id: int,
        text: str,
        *,
        libraries: Sequence[str] = (),
        model: str | None = None,
        sampling: GenerationSettings | None = None,
    ) -> AsyncIterator[Event]:
        """Replace a user message (and drop everything after it), then answer it."""
        return self._converse(conversation_id, text, message_id, libraries, model, sampling)

    async def _converse(
        self,
        conversation_id: str,
        text: str | None,
        replace_from: int | None,
        libraries: Sequence[str],
        model: str | None,
        sampling: GenerationSettings | None,
    ) -> AsyncIterator[Event]:
        store = self.conversations
        conv = await run_blocking("conversations", store.get, conversation_id)
        stored = await run_blocking("conversations", store.messages, conversation_id)
        if replace_from is not None:
            await run_blocking("conversations", store.truncate, conversation_id, replace_from)
            stored = [m for m in stored if m.id < replace_from]
        if text is None:  # regenerate: drop what follows the last user message
            users = [m for m in stored if m.role == "user"]
            if not users:
                raise UsageError("There is no question to answer again.")
            last = users[-1]
            after = [m for m in stored if m.id > last.id]
            if after:
                await run_blocking("conversations", store.truncate, conversation_id, after[0].id)
            stored = [m for m in stored if m.id <= last.id]
            question = last.content
            history = stored[:-1]
        else:
            if not stored and conv.title == "New chat":
                title = " ".join(text.split())[:60] or "New chat"
                await run_blocking("conversations", store.rename, conversation_id, title)
            user = await run_blocking(
                "conversations", store.add_message, conversation_id, "user", text
            )
            yield MessageStored(user)
            question = text
            history = stored
        # failed or empty answers are not part of what the model is shown
        past = [m.as_message() for m in history if m.content.strip() and m.status != "failed"]
        system = [Message("system", conv.system_prompt)] if conv.system_prompt.strip() else []
        if libraries:
            # only libraries that hold documents can ground an answer; none: plain chat
            try:
                counts = {i.name: i.documents for i in await self.list_libraries()}
            except LecternError:
                counts = {}
            libraries = [name for name in libraries if counts.get(name, 0) > 0]
        if libraries:
            # a leading system message in the history is the conversation's system prompt
            library = libraries[0] if len(libraries) == 1 else list(libraries)
            events = self.ask(
                question,
                library=library,
                model=model,
                history=[*system, *past],
                sampling=sampling,
            )
        else:
            messages = [*system, *past, Message("user", question)]
            events = self.chat(messages, model=model, sampling=sampling)

        def model_name() -> str | None:
            loaded = self.loaded_model
            if loaded is None:
                return model
            return loaded.record.id if loaded.record is not None else loaded.path

        async for ev in record_answer(store, conversation_id, events, model=model_name):
            yield ev

    async def close(self) -> None:
        """Release resources (worker processes, open stores)."""
        for cancel in list(self._download_cancels.values()):
            cancel.set()  # downloads stop between blocks; their partial files stay for resuming
        documents = self.__dict__.pop("_documents", None)
        if documents is not None:
            await run_blocking("ingest", documents.close)
        chat = self.__dict__.pop("_chat_service", None)
        if chat is not None:
            await run_blocking("chat-load", chat.close)
        store = self.__dict__.pop("_conversation_store", None)
        if store is not None:
            await run_blocking("conversations", store.close)
