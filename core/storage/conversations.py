"""Conversations and their messages, in SQLite in the data directory.

Crash safety is the point of this module: a message is written the moment it
exists. The user's message is stored before the model is asked; the
assistant's message is created at its first token (status ``streaming``) and
rewritten as it grows (the engine throttles that to about twice a second) and
once more at the end. SQLite runs in WAL mode with ``synchronous=NORMAL``:
every committed transaction survives the process being killed (only a power
cut may lose the last ones), and readers never block the writer.

One connection is shared by the engine's single-worker ``"conversations"``
executor; a lock guards it anyway so that a script calling the store from
several threads cannot interleave transactions. A second Lectern process on
the same data directory is safe: SQLite serialises writers across processes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

from core.errors import LecternError, UsageError
from core.events import Event
from core.types import GenerationStats, Message, Passage, Role

MessageStatus = Literal["complete", "streaming", "stopped", "failed"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    system_prompt TEXT NOT NULL DEFAULT '',
    model TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    activity INTEGER NOT NULL DEFAULT 0  -- bumped on every change: orders the list exactly
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    content TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'complete',
    error TEXT NOT NULL DEFAULT '',
    stats TEXT,
    sources TEXT NOT NULL DEFAULT '[]',
    searched_for TEXT NOT NULL DEFAULT '',  -- the question as searched, if respelled
    model TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages(conversation_id, id);
"""
SCHEMA_VERSION = 2
# columns added after version 1, with their definitions (added to older files at open)
_ADDED_COLUMNS = {"messages": {"searched_for": "TEXT NOT NULL DEFAULT ''"}}


class ConversationNotFoundError(LecternError):
    """No conversation (or message) with that id."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Conversation:
    """A conversation's header (its messages are read separately)."""

    id: str
    title: str
    system_prompt: str
    model: str | None
    created_at: str
    updated_at: str
    message_count: int = 0


@dataclass(frozen=True)
class StoredMessage:
    """A message as stored, with what the answer was based on and how fast it came."""

    id: int
    conversation_id: str
    role: Role
    content: str
    status: MessageStatus = "complete"
    error: str = ""
    stats: GenerationStats | None = None
    sources: tuple[Passage, ...] = ()
    model: str | None = None
    created_at: str = field(default_factory=_now)
    # the question as searched when misspelled words were corrected ("buld" -> "build")
    searched_for: str = ""

    def as_message(self) -> Message:
        return Message(self.role, self.content)


@dataclass(frozen=True)
class MessageStored(Event):
    """A message was written (the user's before the model runs, the answer at its first token)."""

    message: StoredMessage


def _stats_json(stats: GenerationStats | None) -> str | None:
    return None if stats is None else json.dumps(asdict(stats))


def _stats_from(raw: str | None) -> GenerationStats | None:
    if not raw:
        return None
    data = json.loads(raw)
    return GenerationStats(**data)


def _sources_json(sources: Sequence[Passage]) -> str:
    return json.dumps([asdict(p) for p in sources])


def _sources_from(raw: str) -> tuple[Passage, ...]:
    return tuple(Passage(**p) for p in json.loads(raw or "[]"))


class ConversationStore:
    """Read and write conversations in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(SCHEMA)
            self._add_columns()
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise LecternError(
                f"The conversation database {path} cannot be opened: {exc}",
                hint="move the file away to start with an empty history",
            ) from exc
        self._lock = threading.RLock()

    def _add_columns(self) -> None:
        """Bring a file written by an older Lectern up to date (its data kept as it is)."""
        for table, columns in _ADDED_COLUMNS.items():
            have = {r["name"] for r in self._db.execute(f"PRAGMA table_info({table})")}
            for name, definition in columns.items():
                if name not in have:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {definition}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- conversations ---------------------------------------------------
    def create(
        self, title: str = "New chat", system_prompt: str = "", model: str | None = None
    ) -> Conversation:
        """Start an empty conversation."""
        now = _now()
        conv = Conversation(
            uuid.uuid4().hex, title.strip() or "New chat", system_prompt, model, now, now
        )
        with self._tx() as db:
            db.execute(
                "INSERT INTO conversations VALUES (?, ?, ?, ?, ?, ?,"
                " (SELECT COALESCE(MAX(activity), 0) + 1 FROM conversations))",
                (conv.id, conv.title, conv.system_prompt, conv.model, now, now),
            )
        return conv

    def _conversation(self, row: sqlite3.Row) -> Conversation:
        return Conversation(
            id=row["id"],
            title=row["title"],
            system_prompt=row["system_prompt"],
            model=row["model"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            message_count=row["n"],
        )

    _SELECT = (
        "SELECT c.*, (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) AS n "
        "FROM conversations c"
    )

    def get(self, conversation_id: str) -> Conversation:
        with self._lock:
            row = self._db.execute(f"{self._SELECT} WHERE c.id = ?", (conversation_id,)).fetchone()
        if row is None:
            raise ConversationNotFoundError(f"No conversation '{conversation_id}'.")
        return self._conversation(row)

    def conversations(self, query: str = "") -> list[Conversation]:
        """Conversations, most recently active first; ``query`` matches titles and messages."""
        with self._lock:
            if not query.strip():
                rows = self._db.execute(f"{self._SELECT} ORDER BY c.activity DESC").fetchall()
            else:
                like = (
                    "%"
                    + query.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                    + "%"
                )
                rows = self._db.execute(
                    f"{self._SELECT} WHERE c.title LIKE ?1 ESCAPE '\\' OR EXISTS ("
                    "SELECT 1 FROM messages m WHERE m.conversation_id = c.id "
                    "AND m.content LIKE ?1 ESCAPE '\\') ORDER BY c.activity DESC",
                    (like,),
                ).fetchall()
        return [self._conversation(r) for r in rows]

    def search(self, query: str) -> list[Conversation]:
        """Conversations whose title or any message contains ``query`` (case-insensitive)."""
        return self.conversations(query)

    def _touch(self, db: sqlite3.Connection, conversation_id: str) -> None:
        cur = db.execute(
            "UPDATE conversations SET updated_at = ?,"
            " activity = (SELECT MAX(activity) FROM conversations) + 1 WHERE id = ?",
            (_now(), conversation_id),
        )
        if cur.rowcount == 0:
            raise ConversationNotFoundError(f"No conversation '{conversation_id}'.")

    def rename(self, conversation_id: str, title: str) -> Conversation:
        if not title.strip():
            raise UsageError("A conversation needs a title.")
        with self._tx() as db:
            db.execute(
                "UPDATE conversations SET title = ? WHERE id = ?", (title.strip(), conversation_id)
            )
            self._touch(db, conversation_id)
        return self.get(conversation_id)

    def set_system_prompt(self, conversation_id: str, prompt: str) -> Conversation:
        with self._tx() as db:
            db.execute(
                "UPDATE conversations SET system_prompt = ? WHERE id = ?",
                (prompt, conversation_id),
            )
            self._touch(db, conversation_id)
        return self.get(conversation_id)

    def set_model(self, conversation_id: str, model: str | None) -> None:
        with self._tx() as db:
            db.execute("UPDATE conversations SET model = ? WHERE id = ?", (model, conversation_id))

    def delete(self, conversation_id: str) -> None:
        """Remove a conversation and its messages."""
        with self._tx() as db:
            cur = db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            if cur.rowcount == 0:
                raise ConversationNotFoundError(f"No conversation '{conversation_id}'.")

    # -- messages --------------------------------------------------------
    def _message(self, row: sqlite3.Row) -> StoredMessage:
        return StoredMessage(
            id=row["id"],
            conversation_id=row["conversation_id"],
            role=cast(Role, row["role"]),
            content=row["content"],
            status=cast(MessageStatus, row["status"]),
            error=row["error"],
            stats=_stats_from(row["stats"]),
            sources=_sources_from(row["sources"]),
            model=row["model"],
            created_at=row["created_at"],
            searched_for=row["searched_for"],
        )

    def add_message(
        self,
        conversation_id: str,
        role: Role,
        content: str,
        *,
        status: MessageStatus = "complete",
        sources: Sequence[Passage] = (),
        model: str | None = None,
        searched_for: str = "",
    ) -> StoredMessage:
        """Append a message; committed before this returns."""
        now = _now()
        with self._tx() as db:
            self._touch(db, conversation_id)
            cur = db.execute(
                "INSERT INTO messages (conversation_id, role, content, status, sources, model,"
                " created_at, updated_at, searched_for) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    role,
                    content,
                    status,
                    _sources_json(sources),
                    model,
                    now,
                    now,
                    searched_for,
                ),
            )
            message_id = int(cur.lastrowid or 0)
        return self.message(message_id)

    def update_message(
        self,
        message_id: int,
        content: str,
        *,
        status: MessageStatus | None = None,
        error: str | None = None,
        stats: GenerationStats | None = None,
        sources: Sequence[Passage] | None = None,
        searched_for: str | None = None,
    ) -> None:
        """Rewrite a message's text (and, when given, its status, error, stats, sources,
        and the question as searched)."""
        sets = ["content = ?", "updated_at = ?"]
        values: list[Any] = [content, _now()]
        if status is not None:
            sets.append("status = ?")
            values.append(status)
        if error is not None:
            sets.append("error = ?")
            values.append(error)
        if stats is not None:
            sets.append("stats = ?")
            values.append(_stats_json(stats))
        if sources is not None:
            sets.append("sources = ?")
            values.append(_sources_json(sources))
        if searched_for is not None:
            sets.append("searched_for = ?")
            values.append(searched_for)
        with self._tx() as db:
            cur = db.execute(
                f"UPDATE messages SET {', '.join(sets)} WHERE id = ?", (*values, message_id)
            )
            if cur.rowcount == 0:
                raise ConversationNotFoundError(f"No message {message_id}.")

    def message(self, message_id: int) -> StoredMessage:
        with self._lock:
            row = self._db.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            raise ConversationNotFoundError(f"No message {message_id}.")
        return self._message(row)

    def messages(self, conversation_id: str) -> list[StoredMessage]:
        """A conversation's messages, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,)
            ).fetchall()
        return [self._message(r) for r in rows]

    def truncate(self, conversation_id: str, from_message_id: int) -> int:
        """Delete a message and every later one (edit-and-resend, regenerate); returns how many."""
        with self._tx() as db:
            cur = db.execute(
                "DELETE FROM messages WHERE conversation_id = ? AND id >= ?",
                (conversation_id, from_message_id),
            )
            self._touch(db, conversation_id)
            return cur.rowcount

    # -- export ----------------------------------------------------------
    def export_markdown(self, conversation_id: str) -> str:
        """The conversation as a Markdown document (title, system prompt, turns, sources)."""
        conv = self.get(conversation_id)
        out = [f"# {conv.title}", ""]
        out.append(f"*Exported from Lectern on {datetime.now(UTC).strftime('%Y-%m-%d %H:%M')} UTC*")
        out.append("")
        if conv.system_prompt.strip():
            out += ["## System prompt", "", conv.system_prompt.strip(), ""]
        for m in self.messages(conversation_id):
            heading = {"user": "You", "assistant": "Lectern", "system": "System"}[m.role]
            out += [f"## {heading}", "", m.content.strip() or "*(no text)*", ""]
            if m.status == "stopped":
                out += ["*(stopped)*", ""]
            elif m.status == "streaming":
                out += ["*(interrupted)*", ""]
            elif m.status == "failed":
                out += [f"*(failed: {m.error})*", ""]
            if m.searched_for:
                out += [f"*Searched for: {m.searched_for}*", ""]
            if m.sources:
                out.append("Sources:")
                out.append("")
                out += [f"{i}. {p.file}, page {p.page}" for i, p in enumerate(m.sources, 1)]
                out.append("")
        return "\n".join(out).rstrip() + "\n"
