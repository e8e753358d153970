"""Named document libraries and the ingestion pipeline that fills them.

A library is a folder under the data directory's ``libraries/`` holding a
:class:`~core.documents.store.LibraryStore`. Documents are identified by path
and stored by content: the sha256 of the file decides whether it changed
(an unchanged file is not re-indexed) and two names with the same content
share one set of chunks.

Ingestion (:class:`Indexer`) runs in a worker thread of the engine; each
document goes queued → extracting → embedding → ready (or failed with a
reason) and every state is written to the store first, so a run that is
killed is picked up by the next one: documents still queued, extracting or
embedding are processed again, and embedding resumes at the first chunk that
was not stored.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.documents.chunking import Chunk, chunk_pages, embedding_text
from core.documents.embedder import Embedder, EmbedderInfo
from core.documents.events import DocumentStatus, IndexSummary
from core.documents.extraction import ExtractedDocument, ExtractionError, Extractor
from core.documents.formats import documents_under
from core.documents.store import LibraryStore, NewChunk, fault_point
from core.errors import (
    DocumentError,
    LibraryDamagedError,
    LibraryLockedError,
    LibraryNotFoundError,
    UsageError,
)
from core.events import Event
from core.locking import FileLock
from core.models.registry import sha256_file

EMBED_BATCH = 64
_NAME_OK = re.compile(r"^[^/\\\x00-\x1f:*?\"<>|]{1,64}$")
PENDING_STATES = ("queued", "extracting", "embedding")


@dataclass(frozen=True)
class LibraryInfo:
    """A library as listed: size, its embedder, and whether it must be re-indexed."""

    name: str
    documents: int
    chunks: int
    embedder: str
    needs_reindex: bool = False
    unfinished: int = 0  # documents an interrupted run left queued, extracting or embedding
    damaged: str = ""  # why the library cannot be read (then it can only be deleted)


@dataclass(frozen=True)
class DocumentRecord:
    """One document of a library and its state."""

    path: str
    file: str
    sha256: str
    state: str
    reason: str
    pages: int
    chunks: int
    added_at: float


@dataclass(frozen=True)
class ChunkingConfig:
    """Chunk size and overlap in embedder tokens."""

    max_tokens: int = 200
    overlap: int = 40

    def to_json(self) -> dict[str, int]:
        return {"max_tokens": self.max_tokens, "overlap": self.overlap}


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files as given, folders replaced by the documents below them (sorted); duplicates dropped.

    In a folder, the files whose names say they are documents Lectern reads
    (:func:`core.documents.formats.documents_under`).
    """
    out: dict[Path, None] = {}
    for raw in paths:
        p = Path(raw).expanduser().absolute()
        if p.is_dir():
            for f in documents_under(p):
                if f.is_file():
                    out.setdefault(f, None)
        else:
            out.setdefault(p, None)
    return list(out)


def missing_reason(p: Path) -> str:
    """Why a path that is not a regular file cannot be indexed."""
    return "file not found" if not p.exists() else "not a regular file"


class LibraryManager:
    """The libraries of one data directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._stores: dict[str, LibraryStore] = {}
        self._lock = threading.RLock()

    @staticmethod
    def check_name(name: str) -> str:
        name = name.strip()
        if not _NAME_OK.match(name) or name.startswith(".") or name in ("..",):
            raise UsageError(
                f"'{name}' cannot be a library name.",
                hint="use up to 64 letters, digits, spaces, dots, dashes or underscores",
            )
        return name

    def folder(self, name: str) -> Path:
        return self.root / self.check_name(name)

    def exists(self, name: str) -> bool:
        return (self.folder(name) / "library.json").exists()

    def names(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "library.json").exists())

    def create(self, name: str, embedder: EmbedderInfo, chunking: ChunkingConfig) -> None:
        folder = self.folder(name)
        if self.exists(name):
            raise UsageError(f"A library named '{name}' already exists.")
        if folder.exists():  # a half-created leftover without library.json
            shutil.rmtree(folder)
        LibraryStore.create(folder, name, embedder, chunking.to_json())

    def store(self, name: str) -> LibraryStore:
        """The open store of a library (opened once, shared by readers and writers)."""
        with self._lock:
            st = self._stores.get(name)
            if st is None:
                if not self.exists(name):
                    raise LibraryNotFoundError(
                        f"There is no library named '{name}'.",
                        hint="index documents into it first: lectern index PATH --library NAME",
                    )
                st = self._stores[name] = LibraryStore(self.folder(name))
            return st

    def close_store(self, name: str) -> None:
        with self._lock:
            st = self._stores.pop(name, None)
            if st is not None:
                st.close()

    def rename(self, old: str, new: str) -> None:
        new = self.check_name(new)
        if not self.exists(old):
            raise LibraryNotFoundError(f"There is no library named '{old}'.")
        if self.exists(new):
            raise UsageError(f"A library named '{new}' already exists.")
        with self._lock:
            st = self.store(old)
            st.take_ownership()
            st.close()
            self._stores.pop(old, None)
            self.folder(old).rename(self.folder(new))
            st = self.store(new)
            st.set_name(new)

    def delete(self, name: str) -> None:
        if not self.exists(name):
            raise LibraryNotFoundError(f"There is no library named '{name}'.")
        with self._lock:
            try:
                st = self.store(name)
                st.take_ownership()  # refuse while another process writes to it
            except LibraryDamagedError:  # what cannot be opened can still be deleted
                if name in self._stores:
                    self._stores.pop(name).close()
                self._delete_damaged(name)
                return
            st.close()
            self._stores.pop(name, None)
            shutil.rmtree(self.folder(name))

    def _delete_damaged(self, name: str) -> None:
        folder = self.folder(name)
        owner = FileLock(folder / "owner.lock")
        if not owner.acquire(timeout=0):
            raise LibraryLockedError(
                f"The library '{name}' is being changed by another Lectern process.",
                hint="wait for it to finish, or close the other Lectern",
            )
        owner.release()
        shutil.rmtree(folder)

    def close(self) -> None:
        with self._lock:
            for st in self._stores.values():
                st.close()
            self._stores.clear()


def document_records(store: LibraryStore) -> list[DocumentRecord]:
    return [
        DocumentRecord(
            d["path"],
            d["file"],
            d["sha"],
            d["state"],
            d["reason"],
            d["pages"],
            d["chunks"],
            d["added_at"],
        )
        for d in store.documents()
    ]


class Indexer:
    """Adds documents to one library (the caller holds the store's ownership)."""

    def __init__(
        self,
        library: str,
        store: LibraryStore,
        embedder: Embedder,
        extractor: Extractor,
        chunking: ChunkingConfig,
        emit: Callable[[Event], None],
        cancel: threading.Event | None = None,
    ) -> None:
        self.library = library
        self.store = store
        self.embedder = embedder
        self.extractor = extractor
        self.chunking = chunking
        self.emit = emit
        self.cancel = cancel or threading.Event()
        self.summary = IndexSummary()

    def _status(self, path: str, state: str, **kw: object) -> None:
        self.emit(
            DocumentStatus(self.library, path, Path(path).name, state, **kw)  # type: ignore[arg-type]
        )

    def _fail(self, path: str, reason: str, sha: str = "") -> None:
        self.store.upsert_document(path, Path(path).name, sha=sha, state="failed", reason=reason)
        self.summary.failed.append((path, reason))
        self._status(path, "failed", reason=reason)

    # -- queueing -----------------------------------------------------------
    def queue(self, paths: Sequence[Path]) -> None:
        """Hash each file and queue it, or report it unchanged / already stored."""
        known = {d["path"]: d for d in self.store.documents()}
        for p in paths:
            path = str(p)
            if self.cancel.is_set():
                return
            if not p.is_file():
                if path in known:  # its file is gone: the document says so
                    self._fail(path, missing_reason(p))
                else:  # a mistyped path is reported, never stored as a document
                    self.summary.failed.append((path, missing_reason(p)))
                    self._status(path, "failed", reason=missing_reason(p))
                continue
            try:
                sha = sha256_file(p)
                st = p.stat()
            except OSError as exc:
                self._fail(path, f"cannot read the file: {exc.strerror or exc}")
                continue
            old = known.get(path)
            if old is not None and old["sha"] == sha and old["state"] == "ready":
                self.summary.unchanged.append(path)
                self._status(path, "unchanged", pages=old["pages"], chunks=old["chunks"])
                continue
            self.store.upsert_document(
                path, p.name, sha=sha, state="queued", reason="", size=st.st_size, mtime=st.st_mtime
            )
            if old is not None and old["sha"] and old["sha"] != sha:
                self._drop_if_unused(old["sha"])
            self._status(path, "queued")

    def _drop_if_unused(self, sha: str) -> None:
        if self.store.sha_refcount(sha) == 0 and self.store.content_state(sha) is not None:
            self.store.remove_content(sha)

    # -- processing ---------------------------------------------------------
    def process_pending(self, rehash: bool = True) -> None:
        """Index every document still queued, extracting or embedding (this run's and leftovers)."""
        for doc in self.store.documents():
            if self.cancel.is_set():
                self.summary = IndexSummary(
                    self.summary.indexed, self.summary.unchanged, self.summary.failed, True
                )
                return
            if doc["state"] not in PENDING_STATES:
                continue
            # a document whose content another name just brought in is ready already
            # (reported then): the list above was read before that
            now = self.store.query("SELECT state FROM documents WHERE path=?", (doc["path"],))
            if not now or now[0][0] not in PENDING_STATES:
                continue
            self._process(doc["path"], doc["sha"], rehash and doc["state"] != "queued")
        if self.cancel.is_set():
            self.summary = IndexSummary(
                self.summary.indexed, self.summary.unchanged, self.summary.failed, True
            )

    def _process(self, path: str, sha: str, rehash: bool) -> None:
        p = Path(path)
        if rehash or not sha:
            try:
                sha = sha256_file(p)
            except OSError as exc:
                self._fail(path, f"cannot read the file: {exc.strerror or exc}")
                return
            self.store.upsert_document(path, p.name, sha=sha)
        state = self.store.content_state(sha)
        if state == "ready":  # the same content under another name: stored once
            row = self.store.query("SELECT pages, chunks FROM contents WHERE sha=?", (sha,))[0]
            self.store.upsert_document(
                path, p.name, state="ready", reason="", pages=row[0], chunks=row[1]
            )
            self.summary.indexed.append(path)
            self._status(path, "ready", pages=row[0], chunks=row[1])
            return
        self.store.upsert_document(path, p.name, state="extracting")
        self._status(path, "extracting")
        try:
            doc = self.extractor.extract(
                p,
                lambda done, total: self._status(path, "extracting", done=done, total=total),
                self.cancel,
                lambda done, total: self._status(
                    path, "extracting", done=done, total=total, ocr=True
                ),
            )
        except ExtractionError as exc:
            if self.cancel.is_set():
                self.store.upsert_document(path, p.name, state="queued")
                return
            self._fail(path, exc.reason, sha)
            self._drop_if_unused_failed(sha)
            return
        fault_point("after-extraction")
        chunks = chunk_pages(
            doc.pages,
            self.embedder.token_offsets,
            self._max_chunk_tokens(doc),
            self.chunking.overlap,
            doc.toc,
        )
        if not chunks:
            self._fail(path, "no text found in the document", sha)
            return
        self._embed(path, sha, doc, chunks)

    def _drop_if_unused_failed(self, sha: str) -> None:
        ready = self.store.query(
            "SELECT count(*) FROM documents WHERE sha=? AND state != 'failed'", (sha,)
        )[0][0]
        if not ready and self.store.content_state(sha) is not None:
            self.store.remove_content(sha)

    def _max_chunk_tokens(self, doc: ExtractedDocument) -> int:
        # Room for the title/heading line and the model's [CLS]/[SEP] inside its limit.
        room = (
            self.embedder.info.max_tokens - 2 - min(48, self.embedder.count_tokens(doc.title) + 24)
        )
        return max(16, min(self.chunking.max_tokens, room))

    def _embed(self, path: str, sha: str, doc: ExtractedDocument, chunks: list[Chunk]) -> None:
        p = Path(path)
        n = len(chunks)
        start = self.store.begin_content(sha, doc.title, len(doc.pages), n)
        self.store.upsert_document(path, p.name, state="embedding", pages=len(doc.pages), chunks=n)
        self._status(path, "embedding", pages=len(doc.pages), chunks=n, done=start, total=n)
        for i in range(start, n, EMBED_BATCH):
            if self.cancel.is_set():
                return  # stays 'embedding': the next run resumes at chunk i
            batch = chunks[i : i + EMBED_BATCH]
            texts = [embedding_text(doc.title, c.heading, c.text) for c in batch]
            vectors = self.embedder.embed(texts)
            self.store.add_chunks(
                sha,
                [
                    NewChunk(c.index, c.page, c.char_start, c.char_end, c.heading, c.text, t)
                    for c, t in zip(batch, texts, strict=True)
                ],
                vectors,
            )
            done = min(n, i + EMBED_BATCH)
            self._status(path, "embedding", pages=len(doc.pages), chunks=n, done=done, total=n)
            if done < n:
                fault_point("embedding")
        self.store.finish_content(sha)
        for d in self.store.query(
            "SELECT path, file FROM documents WHERE sha=? AND state IN (?, ?, ?)",
            (sha, *PENDING_STATES),
        ):
            self.store.upsert_document(
                d[0], d[1], state="ready", reason="", pages=len(doc.pages), chunks=n
            )
            self.summary.indexed.append(d[0])
            self._status(d[0], "ready", pages=len(doc.pages), chunks=n, done=n, total=n)


def remove_document(store: LibraryStore, file_or_path: str) -> list[str]:
    """Forget documents matching a path or a file name; drop their content if unused.

    Returns the paths removed; raises if nothing matched or a name is ambiguous.
    """
    docs = store.documents()
    wanted = str(Path(file_or_path).expanduser().absolute())
    matches = [d for d in docs if d["path"] == wanted] or [
        d for d in docs if d["file"] == file_or_path
    ]
    if not matches:
        raise DocumentError(f"No document '{file_or_path}' in this library.")
    if len(matches) > 1:
        raise UsageError(
            f"Several documents are called '{file_or_path}'.",
            hint="give the full path: " + ", ".join(d["path"] for d in matches),
        )
    doc = matches[0]
    store.delete_document(doc["path"])
    if doc["sha"] and store.sha_refcount(doc["sha"]) == 0 and store.content_state(doc["sha"]):
        store.remove_content(doc["sha"])
    return [doc["path"]]
