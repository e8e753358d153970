"""The document service behind the engine's "documents and retrieval" methods.

Everything here is blocking; the engine runs it in its named executors
("ingest" for indexing and other writes, "search" for queries) and streams
ingestion events back to the event loop. It owns the extraction worker
process, the shared embedder and the open library stores.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from core.documents.embedder import Embedder, _fingerprint
from core.documents.events import DocumentStatus, IndexSummary
from core.documents.extraction import Extractor
from core.documents.index_worker import RemoteReranker, start_embedder, start_reranker
from core.documents.library import (
    PENDING_STATES,
    ChunkingConfig,
    DocumentRecord,
    Indexer,
    LibraryInfo,
    LibraryManager,
    document_records,
    expand_paths,
    missing_reason,
    remove_document,
)
from core.documents.store import LibraryStore
from core.errors import DocumentError, LecternError, LibraryDamagedError, UsageError
from core.events import Event
from core.paths import DataPaths
from core.retrieval.grounding import Retrieval, merged
from core.retrieval.hybrid import HybridSearcher, SearchParams
from core.settings import RetrievalSettings
from core.types import Passage

log = logging.getLogger(__name__)


class DocumentService:
    """Libraries, ingestion and search for one data directory."""

    def __init__(
        self,
        paths: DataPaths,
        settings: Callable[[], RetrievalSettings],
        embedder_folder: Callable[[], Path],
        reranker_folder: Callable[[], Path] | None = None,
    ) -> None:
        self.paths = paths
        self._settings = settings
        self._embedder_folder = embedder_folder
        self._reranker_folder = reranker_folder
        self._reranker: RemoteReranker | None = None
        self._reranker_choice: str | None = None  # the setting _reranker was made for
        self.reranker_problem = ""  # why questions are not re-ranked, if they should be
        self.manager = LibraryManager(paths.libraries_dir)
        self._extractor: Extractor | None = None
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._fingerprints: dict[Path, str] = {}

    # -- shared resources ---------------------------------------------------
    @property
    def settings(self) -> RetrievalSettings:
        return self._settings()

    def embedder(self) -> Embedder:
        """The configured embedder, served by the index worker process (loaded once)."""
        folder = self._embedder_folder()
        name = self.settings.embedder.removeprefix("starter:")
        return start_embedder(folder, name)

    def reranker(self) -> RemoteReranker | None:
        """The cross-encoder for questions, or None when re-ranking is off or unavailable.

        A missing or damaged re-ranking model is not an error for the user's question: it
        is answered with hybrid ranking alone, and :attr:`reranker_problem` says why
        (the settings dialog shows it). A new ``reranker`` setting is used from the next
        question on.
        """
        if not self.settings.rerank or self._reranker_folder is None:
            return None
        if self.settings.reranker != self._reranker_choice:
            self._reranker_choice = self.settings.reranker
            self._reranker = None
            self.reranker_problem = ""
        if self._reranker is None and not self.reranker_problem:
            try:
                self._reranker = start_reranker(self._reranker_folder())
            except LecternError as exc:
                self.reranker_problem = exc.message
                log.warning("questions are not re-ranked: %s", exc.message)
        return self._reranker

    def embedder_fingerprint(self) -> str:
        """The configured embedder's identity without loading it (cached per folder)."""
        folder = self._embedder_folder()
        fp = self._fingerprints.get(folder)
        if fp is None:
            fp = self._fingerprints[folder] = _fingerprint(folder)
        return fp

    @property
    def extractor(self) -> Extractor:
        with self._lock:
            if self._extractor is None:
                self._extractor = Extractor()
            return self._extractor

    def chunking(self) -> ChunkingConfig:
        s = self.settings
        return ChunkingConfig(s.chunk_tokens, s.chunk_overlap_tokens)

    def params(self) -> SearchParams:
        s = self.settings
        rerank = s.rerank_candidates if s.rerank else 0
        return SearchParams(
            threshold=s.relevance_threshold,
            rerank_candidates=rerank,
            correct_spelling=s.correct_spelling,
        )

    def close(self) -> None:
        with self._lock:
            if self._extractor is not None:
                self._extractor.close()
                self._extractor = None
        self.manager.close()

    # -- libraries ----------------------------------------------------------
    def _check_embedder(self, name: str, store: LibraryStore) -> None:
        if store.embedder.fingerprint != self.embedder_fingerprint():
            raise DocumentError(
                f"The library '{name}' was indexed with another embedding model "
                f"({store.embedder.name}).",
                hint=f"re-index it (lectern docs reindex --library '{name}', or Re-index in "
                "the Documents pane) to search it with the current one",
            )

    def ensure_library(self, name: str) -> LibraryStore:
        if not self.manager.exists(name):
            self.manager.create(name, self.embedder().info, self.chunking())
        return self.manager.store(name)

    def list_libraries(self) -> list[LibraryInfo]:
        fp = self.embedder_fingerprint()
        out = []
        for name in self.manager.names():
            try:
                st = self.manager.store(name)
            except LibraryDamagedError as exc:  # listed, so that it can be deleted
                out.append(LibraryInfo(name, 0, 0, "", damaged=exc.reason))
                continue
            marks = ",".join("?" * len(PENDING_STATES))
            docs, unfinished = st.query(
                f"SELECT count(*), coalesce(sum(state IN ({marks})), 0) FROM documents",
                PENDING_STATES,
            )[0]
            out.append(
                LibraryInfo(
                    name,
                    int(docs),
                    st.chunk_count(),
                    st.embedder.name,
                    needs_reindex=st.embedder.fingerprint != fp,
                    unfinished=int(unfinished),
                )
            )
        return out

    def create_library(self, name: str) -> None:
        self.manager.create(name, self.embedder().info, self.chunking())

    def rename_library(self, old: str, new: str) -> None:
        self.manager.rename(old, new)

    def delete_library(self, name: str) -> None:
        self.manager.delete(name)

    def list_documents(self, library: str) -> list[DocumentRecord]:
        return document_records(self.manager.store(library))

    def remove_document(self, file_or_path: str, library: str) -> list[str]:
        store = self.manager.store(library)
        with store.owned():
            return remove_document(store, file_or_path)

    # -- ingestion ----------------------------------------------------------
    def cancel_indexing(self) -> None:
        self._cancel.set()

    def index(
        self,
        paths: Sequence[str | Path],
        library: str,
        emit: Callable[[Event], None],
        *,
        reindex: bool = False,
    ) -> IndexSummary:
        """Queue and index ``paths`` (and leftovers of an interrupted run); emits the summary."""
        self._cancel.clear()
        files = expand_paths(paths)
        if not self.manager.exists(library) and not any(p.is_file() for p in files):
            # nothing to add: a mistyped path or an empty folder makes no library
            summary = IndexSummary(failed=[(str(p), missing_reason(p)) for p in files])
            for path, reason in summary.failed:
                emit(DocumentStatus(library, path, Path(path).name, "failed", reason=reason))
            _log_summary(library, summary)
            emit(summary)
            return summary
        store = self.ensure_library(library)
        with store.owned():
            embedder = self.embedder()
            if reindex:
                self._reset_for_reindex(store, paths)
            else:
                self._check_embedder(library, store)
            chunking = ChunkingConfig(**store.meta.get("chunking", self.chunking().to_json()))
            indexer = Indexer(
                library, store, embedder, self.extractor, chunking, emit, self._cancel
            )
            indexer.queue(files)
            indexer.process_pending()
            summary = indexer.summary
        _log_summary(library, summary)
        emit(summary)
        return summary

    def _reset_for_reindex(self, store: LibraryStore, paths: Sequence[str | Path]) -> None:
        """Drop the stored content of the given documents (all if none given) and queue them."""
        docs = store.documents()
        chosen = docs
        if paths:
            wanted = {str(p) for p in paths}
            chosen = [d for d in docs if d["path"] in wanted or d["file"] in wanted]
            if not chosen:
                raise UsageError("No such document in this library: " + ", ".join(sorted(wanted)))
        shas = {d["sha"] for d in chosen if d["sha"]}
        if len(chosen) == len(docs):
            shas |= {r[0] for r in store.query("SELECT sha FROM contents")}
            store.set_embedder(self.embedder().info, self.chunking().to_json())
        for d in chosen:
            store.upsert_document(d["path"], d["file"], state="queued", reason="")
        for sha in shas:
            if store.content_state(sha) is not None:
                store.remove_content(sha)

    def reindex(
        self, library: str, file_or_path: str | None, emit: Callable[[Event], None]
    ) -> IndexSummary:
        store = self.manager.store(library)
        paths: list[str] = []
        # One document alone may be re-indexed only with the library's own embedder;
        # after a change of embedder every document must be (vectors are never mixed).
        if file_or_path and store.embedder.fingerprint == self.embedder_fingerprint():
            paths = [file_or_path]
        with store.owned():
            self._cancel.clear()
            self._reset_for_reindex(store, paths)
            embedder = self.embedder()
            chunking = ChunkingConfig(**store.meta.get("chunking", self.chunking().to_json()))
            indexer = Indexer(
                library, store, embedder, self.extractor, chunking, emit, self._cancel
            )
            for d in store.documents():
                if d["state"] == "queued":
                    emit(DocumentStatus(library, d["path"], d["file"], "queued"))
            indexer.process_pending(rehash=True)
            summary = indexer.summary
        _log_summary(library, summary)
        emit(summary)
        return summary

    # -- search ---------------------------------------------------------------
    def searcher(self, library: str, questions: bool = False) -> HybridSearcher:
        """Search in one library; ``questions``: with the re-ranker (when it is on)."""
        store = self.manager.store(library)
        self._check_embedder(library, store)
        reranker = self.reranker() if questions else None
        return HybridSearcher(store, self.embedder(), library, reranker)

    def search(self, query: str, library: str, k: int) -> list[Passage]:
        if not query.strip():
            raise UsageError("The search query is empty.")
        return self.searcher(library).search(query, k, self.params())

    def retrieve(
        self, question: str, libraries: str | Sequence[str], k: int | None = None
    ) -> Retrieval:
        names = [libraries] if isinstance(libraries, str) else list(libraries)
        k = k or self.settings.top_k
        params = self.params()
        results = [self.searcher(n, questions=True).retrieve(question, k, params) for n in names]
        return merged(results, k)


def _log_summary(library: str, summary: IndexSummary) -> None:
    log.info(
        "library %r: %d indexed, %d unchanged, %d failed%s",
        library,
        len(summary.indexed),
        len(summary.unchanged),
        len(summary.failed),
        " (cancelled)" if summary.cancelled else "",
    )
    for path, reason in summary.failed:
        log.info("library %r: %s failed: %s", library, path, reason)
