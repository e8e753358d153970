"""The on-disk store of one library: Chroma vectors, SQLite rows, FTS5 keywords, a journal.

Layout of a library folder::

    library.json      name, embedder identity, chunking settings
    index.sqlite3     documents, contents (the ingestion journal), chunks, chunks_fts
    chroma/           Chroma PersistentClient (one collection, cosine space), opened
                      by the index worker process (core/documents/index_worker.py)
    owner.lock        held by the one process that writes to the library

Crash safety. Chunk ids are deterministic (content sha256 + chunk index), so
writing a batch to Chroma twice overwrites instead of duplicating. Every
batch goes to Chroma first and then, in one SQLite transaction, to the chunk
table, the FTS index and the journal's ``chunks_done`` counter. A kill
between the two leaves vectors that SQLite does not know; the next run
re-writes that batch (same ids) or, when the content is abandoned, deletes
every vector with its ``sha`` metadata. Removal is journalled too (state
``removing`` first), so a kill half-way through a removal is finished by the
next writer. :meth:`LibraryStore.recover` does this and runs whenever a
writer opens the library.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.documents.embedder import EmbedderInfo
from core.documents.faults import fault_point
from core.documents.index_worker import RemoteVectors, index_worker
from core.errors import DocumentError, LibraryDamagedError, LibraryLockedError
from core.locking import FileLock

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    path TEXT PRIMARY KEY,
    file TEXT NOT NULL,
    sha TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    pages INTEGER NOT NULL DEFAULT 0,
    chunks INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    mtime REAL NOT NULL DEFAULT 0,
    added_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_sha ON documents(sha);
CREATE TABLE IF NOT EXISTS contents (
    sha TEXT PRIMARY KEY,
    state TEXT NOT NULL,             -- embedding | ready | removing
    title TEXT NOT NULL DEFAULT '',
    pages INTEGER NOT NULL DEFAULT 0,
    chunks INTEGER NOT NULL DEFAULT 0,
    chunks_done INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    sha TEXT NOT NULL,
    idx INTEGER NOT NULL,
    page INTEGER NOT NULL,
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL,
    heading TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_sha_idx ON chunks(sha, idx);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    body, tokenize = 'porter unicode61 remove_diacritics 2'
);
"""


def _row(r: Sequence[Any], with_file: bool = False) -> ChunkRow:
    return ChunkRow(
        int(r[0]),
        str(r[1]),
        str(r[2]),
        int(r[3]),
        int(r[4]),
        int(r[5]),
        int(r[6]),
        str(r[7]),
        str(r[8]),
        file=str(r[9] or "") if with_file else "",
        path=str(r[10] or "") if with_file else "",
    )


def chunk_id(sha: str, index: int) -> str:
    """The deterministic id of chunk ``index`` of the content with this sha256."""
    return f"{sha}:{index}"


@dataclass(frozen=True)
class ChunkRow:
    """A stored chunk, with the file name it is shown under."""

    rowid: int
    id: str
    sha: str
    idx: int
    page: int
    char_start: int
    char_end: int
    heading: str
    text: str
    file: str = ""
    path: str = ""


@dataclass(frozen=True)
class NewChunk:
    """A chunk to store: its row data, the text for BM25, and its vector."""

    idx: int
    page: int
    char_start: int
    char_end: int
    heading: str
    text: str
    keyword_text: str


class LibraryStore:
    """One library's storage. Open with ``writer=True`` to take the owner lock."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.meta_file = folder / "library.json"
        if not self.meta_file.exists():
            raise DocumentError(f"{folder} is not a Lectern library (library.json missing).")
        try:
            self.meta: dict[str, Any] = json.loads(self.meta_file.read_text(encoding="utf-8"))
            if not isinstance(self.meta, dict):
                raise ValueError("not a JSON object")
            EmbedderInfo.from_json(self.meta["embedder"])  # what every search needs
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LibraryDamagedError.of(folder, f"library.json cannot be read ({exc})") from exc
        self._lock = threading.RLock()
        self._owner: FileLock | None = None
        self._owner_depth = 0
        self.db = sqlite3.connect(folder / "index.sqlite3", check_same_thread=False, timeout=30)
        try:
            self.db.isolation_level = None  # explicit BEGIN/COMMIT in tx()
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise LibraryDamagedError.of(folder, f"index.sqlite3: {exc}") from exc
        self._vectors: RemoteVectors | None = None
        self._total: tuple[int, int] | None = None
        self._scratch: sqlite3.Connection | None = None

    # -- ownership ----------------------------------------------------------
    def take_ownership(self) -> None:
        """Become the one writer of this library (re-entrant); finishes interrupted work."""
        with self._lock:
            if self._owner is None:
                owner = FileLock(self.folder / "owner.lock")
                if not owner.acquire(timeout=0):
                    holder = ""
                    with contextlib.suppress(OSError):
                        holder = (self.folder / "owner.lock").read_text().strip()
                    pid = f" (pid {holder})" if holder else ""
                    raise LibraryLockedError(
                        f"The library '{self.meta.get('name', self.folder.name)}' is being "
                        f"changed by another Lectern process{pid}.",
                        hint="wait for it to finish, or close the other Lectern",
                    )
                self._owner = owner
                self.recover()
            self._owner_depth += 1

    def release_ownership(self) -> None:
        with self._lock:
            self._owner_depth = max(0, self._owner_depth - 1)
            if self._owner_depth == 0 and self._owner is not None:
                self._owner.release()
                self._owner = None

    @contextmanager
    def owned(self) -> Iterator[LibraryStore]:
        """``with store.owned():`` writes, holding the owner lock."""
        self.take_ownership()
        try:
            yield self
        finally:
            self.release_ownership()

    # -- creation ---------------------------------------------------------
    @staticmethod
    def create(folder: Path, name: str, embedder: EmbedderInfo, chunking: dict[str, int]) -> None:
        """Make a new, empty library folder."""
        folder.mkdir(parents=True, exist_ok=False)
        meta = {
            "name": name,
            "embedder": embedder.to_json(),
            "chunking": chunking,
            "created_at": time.time(),
            "format": 1,
        }
        (folder / "library.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @property
    def embedder(self) -> EmbedderInfo:
        return EmbedderInfo.from_json(self.meta["embedder"])

    def set_embedder(self, info: EmbedderInfo, chunking: dict[str, int]) -> None:
        """Record a new embedder (after everything was removed for a re-index)."""
        self.meta["embedder"] = info.to_json()
        self.meta["chunking"] = chunking
        self._write_meta()

    def set_name(self, name: str) -> None:
        self.meta["name"] = name
        self._write_meta()

    def _write_meta(self) -> None:
        tmp = self.meta_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.meta, indent=2), encoding="utf-8")
        tmp.replace(self.meta_file)

    # -- Chroma (in the index worker process) -------------------------------
    @property
    def vectors(self) -> RemoteVectors:
        """This library's Chroma collection, served by the index worker process."""
        if self._vectors is None:
            self._vectors = RemoteVectors(index_worker(), self.folder / "chroma")
        return self._vectors

    def chroma_count(self) -> int:
        return self.vectors.count()

    # -- SQLite helpers -----------------------------------------------------
    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One SQLite transaction, serialised with other users of this store."""
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self.db.execute(sql, args).fetchall())

    # -- the journal --------------------------------------------------------
    def begin_content(self, sha: str, title: str, pages: int, chunks: int) -> int:
        """Start (or resume) storing a content; returns how many chunks are already stored."""
        with self.tx() as db:
            row = db.execute("SELECT state, chunks, chunks_done FROM contents WHERE sha=?", (sha,))
            got = row.fetchone()
            if got is not None and got[0] == "embedding" and got[1] == chunks:
                return int(got[2])
            if got is not None:
                # Different chunking than the interrupted run, or a leftover: start clean.
                db.execute("UPDATE contents SET state='removing' WHERE sha=?", (sha,))
        if got is not None:
            self._purge_content(sha)
        with self.tx() as db:
            db.execute(
                "INSERT INTO contents(sha, state, title, pages, chunks, chunks_done, updated_at) "
                "VALUES (?, 'embedding', ?, ?, ?, 0, ?)",
                (sha, title, pages, chunks, time.time()),
            )
        return 0

    def add_chunks(self, sha: str, chunks: Sequence[NewChunk], vectors: np.ndarray) -> None:
        """Store one batch: Chroma first, then rows + FTS + journal in one transaction."""
        ids = [chunk_id(sha, c.idx) for c in chunks]
        metas = [{"sha": sha, "page": c.page} for c in chunks]
        self.vectors.upsert(ids, vectors, metas)
        fault_point("between-chroma-and-fts")
        with self.tx() as db:
            for cid, c in zip(ids, chunks, strict=True):
                cur = db.execute(
                    "INSERT OR REPLACE INTO chunks(id, sha, idx, page, char_start, char_end, "
                    "heading, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (cid, sha, c.idx, c.page, c.char_start, c.char_end, c.heading, c.text),
                )
                db.execute(
                    "INSERT INTO chunks_fts(rowid, body) VALUES (?, ?)",
                    (cur.lastrowid, c.keyword_text),
                )
            db.execute(
                "UPDATE contents SET chunks_done=?, updated_at=? WHERE sha=?",
                (max(c.idx for c in chunks) + 1, time.time(), sha),
            )

    def finish_content(self, sha: str) -> None:
        with self.tx() as db:
            db.execute(
                "UPDATE contents SET state='ready', updated_at=? WHERE sha=?", (time.time(), sha)
            )

    def content_state(self, sha: str) -> str | None:
        rows = self.query("SELECT state FROM contents WHERE sha=?", (sha,))
        return str(rows[0][0]) if rows else None

    def _purge_content(self, sha: str) -> None:
        """Delete a content's vectors, rows and keywords (its state is already 'removing')."""
        self.vectors.delete_sha(sha)
        with self.tx() as db:
            rowids = [r[0] for r in db.execute("SELECT rowid FROM chunks WHERE sha=?", (sha,))]
            db.executemany("DELETE FROM chunks_fts WHERE rowid=?", [(r,) for r in rowids])
            db.execute("DELETE FROM chunks WHERE sha=?", (sha,))
            db.execute("DELETE FROM contents WHERE sha=?", (sha,))

    def remove_content(self, sha: str) -> None:
        """Journal a removal, then carry it out (a kill in between is finished by recover())."""
        with self.tx() as db:
            db.execute("UPDATE contents SET state='removing' WHERE sha=?", (sha,))
        self._purge_content(sha)

    def recover(self) -> None:
        """Finish interrupted removals and drop contents that no document refers to."""
        orphans = self.query(
            "SELECT sha FROM contents WHERE state='removing' OR sha NOT IN "
            "(SELECT sha FROM documents WHERE sha != '')"
        )
        for (sha,) in orphans:
            self.remove_content(sha)
        # Vectors whose content is unknown to SQLite (killed right after a Chroma write of a
        # content whose journal row was then dropped): compare counts, and clean by sha.
        known = {r[0] for r in self.query("SELECT sha FROM contents")}
        n_rows = self.query("SELECT count(*) FROM chunks")[0][0]
        if self.chroma_count() != n_rows:
            for sha in self.vectors.stray_shas(sorted(known)):
                self.vectors.delete_sha(sha)

    # -- documents ----------------------------------------------------------
    def upsert_document(self, path: str, file: str, **fields: Any) -> None:
        """Add a document row or update some of its fields (a new row without a state is queued).

        SQLite checks NOT NULL before it looks for the conflicting row, so an
        update that leaves ``state`` out must still give one for the insert.
        """
        cols = ["path", "file", *fields.keys()]
        vals = [path, file, *fields.values()]
        updates = ", ".join(f"{c}=excluded.{c}" for c in cols[1:])
        if "state" not in fields:
            cols.append("state")  # for a new row only: not among the updated columns
            vals.append("queued")
        with self.tx() as db:
            db.execute(
                f"INSERT INTO documents({', '.join(cols)}, added_at) "
                f"VALUES ({', '.join('?' for _ in cols)}, ?) "
                f"ON CONFLICT(path) DO UPDATE SET {updates}",
                (*vals, time.time()),
            )

    def delete_document(self, path: str) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM documents WHERE path=?", (path,))

    def documents(self) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT path, file, sha, state, reason, pages, chunks, size, mtime, added_at "
            "FROM documents ORDER BY added_at, path"
        )
        keys = ("path", "file", "sha", "state", "reason", "pages", "chunks", "size", "mtime")
        return [dict(zip((*keys, "added_at"), r, strict=True)) for r in rows]

    def sha_refcount(self, sha: str) -> int:
        return int(self.query("SELECT count(*) FROM documents WHERE sha=?", (sha,))[0][0])

    # -- reading ------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Row counts that must agree after any crash: chunks, FTS rows, vectors, journal."""
        q = self.query
        return {
            "chunks": int(q("SELECT count(*) FROM chunks")[0][0]),
            "fts": int(q("SELECT count(*) FROM chunks_fts")[0][0]),
            "vectors": self.chroma_count(),
            "journal_chunks": int(q("SELECT coalesce(sum(chunks_done), 0) FROM contents")[0][0]),
            "contents": int(q("SELECT count(*) FROM contents")[0][0]),
            "documents": int(q("SELECT count(*) FROM documents")[0][0]),
        }

    def chunk_count(self) -> int:
        return int(self.query("SELECT count(*) FROM chunks")[0][0])

    def dense_search(self, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the ``n`` nearest vectors, best first."""
        if self.total_chunks() == 0:
            return []
        # n may exceed the number of vectors (Chroma then returns them all).
        return self.vectors.query(vector, n)

    def keyword_search(self, match: str, n: int) -> list[tuple[int, float]]:
        """(chunk rowid, BM25 score, higher is better) for an FTS5 MATCH expression."""
        if not match:
            return []
        try:
            rows = self.query(
                "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? "
                "ORDER BY rank LIMIT ?",
                (match, n),
            )
        except sqlite3.OperationalError:
            return []  # a query FTS5 cannot parse finds nothing rather than failing search
        return [(int(r), float(s)) for r, s in rows]

    def texts_with(
        self, word: str, limit: int, offset: int = 0, sha: str | None = None
    ) -> list[str]:
        """Texts of chunks whose index holds ``word`` (tokenised like the index, so its stem:
        "Windows" finds "window" too; 'AMC-TXT' is the phrase "amc txt"), at most
        ``limit`` after skipping ``offset``; only the content ``sha`` when given."""
        phrase = '"' + word.replace('"', '""') + '"'
        sql = "SELECT c.text FROM chunks_fts f JOIN chunks c ON c.rowid = f.rowid "
        args: tuple[object, ...] = (phrase,)
        if sha is None:
            sql += "WHERE chunks_fts MATCH ? "
        else:
            span = self.query("SELECT min(rowid), max(rowid) FROM chunks WHERE sha = ?", (sha,))
            if not span or span[0][0] is None:
                return []
            # the rowid range lets FTS5 skip the other contents' postings
            sql += "WHERE chunks_fts MATCH ? AND f.rowid BETWEEN ? AND ? AND c.sha = ? "
            args += (span[0][0], span[0][1], sha)
        try:
            rows = self.query(sql + "LIMIT ? OFFSET ?", (*args, limit, offset))
        except sqlite3.OperationalError:
            return []  # a word FTS5 cannot parse is in no chunk
        return [str(r[0]) for r in rows]

    def total_chunks(self) -> int:
        """Number of stored chunks (cached until this or another connection commits)."""
        with self._lock:
            version = int(self.db.execute("PRAGMA data_version").fetchone()[0])
            if self._total is None or self._total[0] != version or self.db.in_transaction:
                n = int(self.db.execute("SELECT count(*) FROM chunks").fetchone()[0])
                self._total = (version, n)
            return self._total[1]

    def term_frequencies(self, words: Sequence[str]) -> list[tuple[str, int]]:
        """(word, number of chunks containing it) for each word, tokenised like the index.

        The words are run through the same FTS5 tokenizer (porter stems) in a scratch
        table and looked up in the index's vocabulary: no posting list is read.
        """
        if not words:
            return []
        with self._lock:
            if self._scratch is None:
                self._scratch = sqlite3.connect(":memory:", check_same_thread=False)
                self._scratch.execute(
                    "CREATE VIRTUAL TABLE q USING fts5(w, tokenize = "
                    "'porter unicode61 remove_diacritics 2')"
                )
                self._scratch.execute("CREATE VIRTUAL TABLE qv USING fts5vocab(q, 'instance')")
                self.db.execute(
                    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_vocab "
                    "USING fts5vocab(main, chunks_fts, 'row')"
                )
            sc = self._scratch
            sc.execute("DELETE FROM q")
            sc.executemany("INSERT INTO q(rowid, w) VALUES (?, ?)", list(enumerate(words)))
            stems: dict[int, list[str]] = {}
            for doc, term in sc.execute("SELECT doc, term FROM qv"):
                stems.setdefault(int(doc), []).append(str(term))
            out = []
            for i, w in enumerate(words):
                dfs = [
                    int(r[0]) if r else 0
                    for r in (
                        self.db.execute(
                            "SELECT doc FROM temp.chunks_vocab WHERE term = ?", (t,)
                        ).fetchone()
                        for t in stems.get(i, [])
                    )
                ]
                out.append((w, min(dfs) if dfs else 0))
            return out

    def chunks_by(self, *, ids: Sequence[str] = (), rowids: Sequence[int] = ()) -> list[ChunkRow]:
        """Chunk rows (with the first file name that holds their content), in no order."""
        if not ids and not rowids:
            return []
        col, keys = ("id", list(ids)) if ids else ("rowid", list(rowids))
        raw: list[tuple[Any, ...]] = []
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            raw += self.query(
                "SELECT rowid, id, sha, idx, page, char_start, char_end, heading, text "
                f"FROM chunks WHERE {col} IN ({','.join('?' for _ in part)})",
                part,
            )
        shas = sorted({r[2] for r in raw})
        names: dict[str, tuple[str, str]] = {}
        for i in range(0, len(shas), 500):
            part = shas[i : i + 500]
            for sha, file, path in self.query(
                "SELECT sha, file, path FROM documents WHERE sha IN "
                f"({','.join('?' for _ in part)}) ORDER BY added_at DESC",
                part,
            ):
                names[sha] = (file, path)  # the earliest added wins (rows come newest first)
        return [_row((*r, *names.get(r[2], ("", ""))), with_file=True) for r in raw]

    def neighbours(self, sha: str, idx: int, before: int, after: int) -> list[ChunkRow]:
        rows = self.query(
            "SELECT rowid, id, sha, idx, page, char_start, char_end, heading, text FROM chunks "
            "WHERE sha=? AND idx BETWEEN ? AND ? ORDER BY idx",
            (sha, idx - before, idx + after),
        )
        return [_row(r) for r in rows]

    def close(self) -> None:
        with self._lock:
            self.db.close()
            if self._scratch is not None:
                self._scratch.close()
                self._scratch = None
        if self._vectors is not None:
            self._vectors.close()
            self._vectors = None
        if self._owner is not None:
            self._owner.release()
            self._owner = None
            self._owner_depth = 0
