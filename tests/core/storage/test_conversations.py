"""The conversation store: SQLite in the data directory, written as messages arrive."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.engine import Engine
from core.errors import GenerationError, LecternError
from core.events import Done, Event, Failed, Sources, Token
from core.storage.conversations import (
    ConversationNotFoundError,
    ConversationStore,
    MessageStored,
)
from core.storage.recording import record_answer
from core.types import GenerationStats, Passage


@pytest.fixture
def store(tmp_path: Path) -> ConversationStore:
    return ConversationStore(tmp_path / "conversations.sqlite3")


def test_database_is_in_wal_mode(store: ConversationStore) -> None:
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_create_list_rename_delete(store: ConversationStore) -> None:
    a = store.create("First", system_prompt="Be brief.")
    b = store.create()
    assert b.title == "New chat"
    store.add_message(a.id, "user", "hello")  # makes a the most recently active
    assert [c.id for c in store.conversations()] == [a.id, b.id]
    assert store.get(a.id).message_count == 1
    assert store.rename(b.id, "  Second ").title == "Second"
    assert [c.title for c in store.conversations()] == ["Second", "First"]
    assert store.set_system_prompt(a.id, "Be verbose.").system_prompt == "Be verbose."
    store.delete(a.id)
    assert [c.id for c in store.conversations()] == [b.id]
    with pytest.raises(ConversationNotFoundError):
        store.get(a.id)
    with pytest.raises(ConversationNotFoundError):
        store.delete(a.id)
    # the messages went with their conversation
    assert store.messages(a.id) == []


def test_search_matches_titles_and_message_text(store: ConversationStore) -> None:
    a = store.create("Tax return questions")
    b = store.create("Gardening")
    store.add_message(b.id, "user", "When do I plant TULIPS?")
    c = store.create("100% sure_thing")
    assert [x.id for x in store.search("tax")] == [a.id]
    assert [x.id for x in store.search("tulips")] == [b.id]
    # LIKE wildcards in the query are taken literally
    assert [x.id for x in store.search("100%")] == [c.id]
    assert [x.id for x in store.search("x_r")] == []  # "_" would match "Tax return"
    assert store.search("nothing like this") == []


def test_messages_keep_order_stats_and_sources(store: ConversationStore) -> None:
    conv = store.create()
    p = Passage(file="a.pdf", page=3, text="passage", score=0.8, path="/x/a.pdf", char_end=7)
    store.add_message(conv.id, "user", "q")
    m = store.add_message(conv.id, "assistant", "", status="streaming", sources=[p])
    stats = GenerationStats(ttft_s=0.1, prompt_tokens=5, completion_tokens=3, decode_tps=50.0)
    store.update_message(m.id, "the answer", status="complete", stats=stats)
    got = store.messages(conv.id)
    assert [(x.role, x.content) for x in got] == [("user", "q"), ("assistant", "the answer")]
    assert got[1].stats == stats and got[1].sources == (p,) and got[1].status == "complete"


def test_a_file_of_an_older_lectern_is_brought_up_to_date(tmp_path: Path) -> None:
    # version 1 had no searched_for column
    path = tmp_path / "conversations.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE conversations (id TEXT PRIMARY KEY, title TEXT NOT NULL,"
        " system_prompt TEXT NOT NULL DEFAULT '', model TEXT, created_at TEXT NOT NULL,"
        " updated_at TEXT NOT NULL, activity INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id TEXT"
        " NOT NULL REFERENCES conversations(id) ON DELETE CASCADE, role TEXT NOT NULL,"
        " content TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'complete', error TEXT NOT NULL"
        " DEFAULT '', stats TEXT, sources TEXT NOT NULL DEFAULT '[]', model TEXT,"
        " created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
        "INSERT INTO conversations VALUES ('c1', 'Old', '', NULL, 't', 't', 1);"
        "INSERT INTO messages (conversation_id, role, content, created_at, updated_at)"
        " VALUES ('c1', 'user', 'kept', 't', 't');"
        "PRAGMA user_version=1;"
    )
    old.close()
    store = ConversationStore(path)
    (m,) = store.messages("c1")
    assert (m.content, m.searched_for) == ("kept", "")
    answer = store.add_message("c1", "assistant", "a", searched_for="as searched")
    assert store.message(answer.id).searched_for == "as searched"
    store.close()
    assert ConversationStore(path).messages("c1")[1].searched_for == "as searched"


def test_truncate_removes_a_message_and_everything_after(store: ConversationStore) -> None:
    conv = store.create()
    ids = [
        store.add_message(conv.id, r, t).id  # type: ignore[arg-type]
        for r, t in [("user", "1"), ("assistant", "2"), ("user", "3"), ("assistant", "4")]
    ]
    assert store.truncate(conv.id, ids[2]) == 2
    assert [m.content for m in store.messages(conv.id)] == ["1", "2"]


def test_export_markdown(store: ConversationStore) -> None:
    conv = store.create("Recipes", system_prompt="You are a chef.")
    store.add_message(conv.id, "user", "How long do I boil an egg?")
    m = store.add_message(
        conv.id,
        "assistant",
        "About **9 minutes** [1].",
        sources=[Passage(file="eggs.pdf", page=2, text="t", score=1.0)],
    )
    store.update_message(
        m.id, "About **9 minutes** [1].", status="stopped", searched_for="How long to boil?"
    )
    md = store.export_markdown(conv.id)
    assert md.startswith("# Recipes\n")
    assert "## System prompt\n\nYou are a chef." in md
    assert "## You\n\nHow long do I boil an egg?" in md
    assert "## Lectern\n\nAbout **9 minutes** [1]." in md
    assert "1. eggs.pdf, page 2" in md and "*(stopped)*" in md
    assert "*Searched for: How long to boil?*\n\nSources:" in md


async def _events(*items: Event) -> AsyncIterator[Event]:
    for ev in items:
        yield ev


async def test_record_answer_creates_the_message_at_the_first_token(
    store: ConversationStore,
) -> None:
    conv = store.create()
    p = Passage(file="f.pdf", page=1, text="x", score=1.0)
    stats = GenerationStats(ttft_s=0.2, completion_tokens=2, decode_tps=10.0)
    seen: list[Event] = []
    async for ev in record_answer(
        store,
        conv.id,
        _events(Sources((p,), "Hallo?"), Token("Hel"), Token("lo"), Done("Hello", stats)),
        save_interval_s=0.0,
    ):
        seen.append(ev)
        if isinstance(ev, Sources):
            assert store.messages(conv.id) == []  # nothing shown yet, nothing stored
        if isinstance(ev, Token) and ev.text == "Hel":
            # what the front end is about to show is already on disk
            assert [m.content for m in store.messages(conv.id)] == ["Hel"]
    assert [type(e).__name__ for e in seen] == [
        "Sources",
        "MessageStored",
        "Token",
        "Token",
        "Done",
    ]
    stored = seen[1]
    assert isinstance(stored, MessageStored) and stored.message.status == "streaming"
    (m,) = store.messages(conv.id)
    assert (m.content, m.status, m.stats, m.sources) == ("Hello", "complete", stats, (p,))
    assert m.searched_for == "Hallo?"  # the question as searched (its spelling corrected)


async def test_record_answer_keeps_text_when_stopped_or_failed(store: ConversationStore) -> None:
    conv = store.create()
    async for _ in record_answer(store, conv.id, _events(Token("a"), Done("a", cancelled=True))):
        pass
    error = GenerationError("The model crashed.", hint="try another model")
    async for _ in record_answer(store, conv.id, _events(Token("b"), Failed(error))):
        pass
    stopped, failed = store.messages(conv.id)
    assert (stopped.content, stopped.status) == ("a", "stopped")
    assert (failed.content, failed.status) == ("b", "failed")
    assert failed.error == "The model crashed. (try another model)"


async def test_record_answer_saves_on_abandon(store: ConversationStore) -> None:
    conv = store.create()
    gen: Any = record_answer(store, conv.id, _events(Token("par"), Token("tial"), Done("partial")))
    async for ev in gen:
        if isinstance(ev, Token):
            break  # the consumer goes away after the first token
    await gen.aclose()
    (m,) = store.messages(conv.id)
    assert (m.content, m.status) == ("par", "stopped")


async def test_engine_conversation_api(data_dir: Path, tmp_path: Path) -> None:
    engine = Engine(data_dir)
    engine.settings.generation.system_prompt = "Default prompt."
    conv = await engine.create_conversation()
    assert conv.system_prompt == "Default prompt."
    assert [c.id for c in await engine.list_conversations()] == [conv.id]
    await engine.rename_conversation(conv.id, "Renamed")
    assert (await engine.get_conversation(conv.id)).title == "Renamed"
    await engine.set_system_prompt(conv.id, "Other.")
    out = await engine.export_conversation(conv.id, tmp_path / "out" / "chat.md")
    assert out.read_text(encoding="utf-8").startswith("# Renamed\n")
    # a folder that cannot be written is the user's to fix, not "a bug in Lectern"
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    with pytest.raises(LecternError) as err:
        await engine.export_conversation(conv.id, blocked / "chat.md")
    assert err.value.message.startswith(f"Cannot write {blocked / 'chat.md'}: ")
    assert err.value.hint == "choose another folder"
    assert engine.paths.conversations_db.exists()
    await engine.delete_conversation(conv.id)
    assert await engine.list_conversations() == []
    await engine.close()


async def test_text_before_a_pause_in_the_stream_is_saved(store: ConversationStore) -> None:
    import asyncio

    conv = store.create()
    seen_on_disk: list[str] = []

    async def slow() -> AsyncIterator[Event]:
        yield Token("first")
        yield Token(" second")
        await asyncio.sleep(0.4)  # the model stalls; nothing else arrives
        seen_on_disk.append(store.messages(conv.id)[0].content)
        yield Done("first second")

    async for _ in record_answer(store, conv.id, slow(), save_interval_s=0.1):
        pass
    assert seen_on_disk == ["first second"]
