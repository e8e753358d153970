"""The one async facade that front ends drive.

``Engine`` owns the data directory, the settings and the services. Every
method that may block (disk, llama.cpp, embeddings) is async and runs its
work in a named executor or a worker process, so a GUI event loop stays
responsive. Services are created lazily: opening an engine loads no model.
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from pathlib import Path

from core.errors import UsageError
from core.events import Event
from core.executors import run_blocking
from core.models import hub
from core.models.catalog import CatalogEntry, shipped_catalog
from core.models.downloads import Downloader, PartialDownload, stream_download
from core.models.hub import HubRepo, RemoteModelFile, resolve_token
from core.models.importer import DiscoveredModel, discover, import_model
from core.models.registry import ModelRecord, ModelRegistry
from core.models.starter import ensure_starter_embedder, ensure_starter_model
from core.paths import DataPaths, resolve_data_dir
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
from core.types import Message


class Engine:
    """Lectern's engine for one data directory."""

    def __init__(self, data_dir: str | os.PathLike[str] | None = None) -> None:
        self.paths = DataPaths(resolve_data_dir(data_dir)).ensure()
        self.settings: Settings = load_settings(self.paths.settings_file)
        self.registry = ModelRegistry(self.paths.model_registry_file)
        self._downloader: Downloader | None = None
        self._download_cancels: dict[tuple[str, str], threading.Event] = {}

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

    async def list_models(self) -> list[ModelRecord]:
        """Installed models, starter first."""
        return await run_blocking("models", self.registry.list)

    def starter_embedder_path(self) -> Path:
        """Folder of the starter sentence-transformers model (installing it if needed)."""
        return ensure_starter_embedder(self.paths)

    # -- chat and generation (generation engine) ----------------------------

    # -- documents and retrieval (document library) -------------------------

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
        key = (repo_id, filename)
        cancel = threading.Event()
        self._download_cancels[key] = cancel

        async def events() -> AsyncGenerator[Event, None]:
            try:
                token = await run_blocking("hub", self.hub_token)
                async for event in stream_download(
                    self.downloader,
                    repo_id,
                    filename,
                    revision,
                    token=token,
                    reserve_bytes=self.settings.models.download_reserve_mb * 1_000_000,
                    cancel=cancel,
                ):
                    yield event
            finally:
                if self._download_cancels.get(key) is cancel:
                    del self._download_cancels[key]

        return events()

    def cancel_download(self, repo_id: str, filename: str) -> None:
        """Stop a running download (thread-safe); its partial file is kept for resuming."""
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
        await run_blocking("conversations", atomic_write_text, target, text)
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
        loaded = getattr(self, "loaded_model", None)
        model_name = model or (loaded.record.id if loaded is not None and loaded.record else None)
        if libraries:
            library: str | list[str] = libraries[0] if len(libraries) == 1 else list(libraries)
            events = self.ask(question, library=library, model=model, history=past)
        else:
            messages = [Message("system", conv.system_prompt)] if conv.system_prompt.strip() else []
            messages += [*past, Message("user", question)]
            events = self.chat(messages, model=model, sampling=sampling)
        async for ev in record_answer(store, conversation_id, events, model=model_name):
            yield ev

    async def close(self) -> None:
        """Release resources (worker processes, open stores)."""
        store = self.__dict__.pop("_conversation_store", None)
        if store is not None:
            await run_blocking("conversations", store.close)
