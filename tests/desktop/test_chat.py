"""The chat pane against the real engine and the starter model (offscreen).

Answers are kept short (``chat_data_dir`` sets max_tokens 12, greedy
decoding); the stop test raises the limit and stops after a few tokens.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from core.engine import Engine
from core.events import Done, Event, Token
from core.models.starter import STARTER_MODEL_ID
from core.storage.conversations import StoredMessage
from desktop.bridge import EngineBridge
from desktop.panes.chat_pane import ChatPane
from tests.desktop.conftest import AsyncQt


class Recorder:
    """Collects the chat stream's events and what the answer bubble held at each token."""

    def __init__(self, pane: ChatPane) -> None:
        self.pane = pane
        self.events: list[Event] = []
        self.text_at_token: list[str] = []
        pane.bridge.engine_event.connect(self._on)

    def _on(self, tag: str, ev: Event) -> None:
        if tag != ChatPane.TAG:
            return
        self.events.append(ev)
        if isinstance(ev, Token) and self.pane._answer_view is not None:
            self.text_at_token.append(self.pane._answer_view.text)

    @property
    def tokens(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, Token)]

    @property
    def done(self) -> list[Done]:
        return [e for e in self.events if isinstance(e, Done)]


@pytest.fixture
def engine(aqt: AsyncQt, chat_data_dir: Path) -> Iterator[Engine]:
    e = Engine(chat_data_dir)
    yield e
    aqt.run(e.close())


@pytest.fixture
def pane(qtbot: QtBot, engine: Engine) -> ChatPane:
    p = ChatPane(EngineBridge(engine))
    qtbot.addWidget(p)
    p.resize(900, 700)
    p.show()
    p.start()
    return p


def send(aqt: AsyncQt, pane: ChatPane, text: str) -> None:
    pane.input.setPlainText(text)
    QTest.keyClick(pane.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    aqt.until(lambda: pane.streaming)


def wait_idle(aqt: AsyncQt, pane: ChatPane) -> None:
    aqt.until(lambda: not pane.streaming, timeout=120)


def stored(aqt: AsyncQt, pane: ChatPane) -> list[StoredMessage]:
    assert pane.conversation is not None
    return aqt.run(pane.engine.conversation_messages(pane.conversation.id))  # type: ignore[return-value]


def test_tokens_arrive_in_order_and_the_answer_is_stored(aqt: AsyncQt, pane: ChatPane) -> None:
    rec = Recorder(pane)
    send(aqt, pane, "Tell me about owls.")
    wait_idle(aqt, pane)
    assert len(rec.done) == 1, rec.events
    (done,) = rec.done
    assert not done.cancelled and done.text
    tokens = rec.tokens
    assert len(tokens) >= 2
    # the bubble grew token by token, in order
    assert rec.text_at_token == ["".join(tokens[: i + 1]) for i in range(len(tokens))]
    user, answer = pane.transcript.views
    assert (user.role, user.text) == ("user", "Tell me about owls.")
    assert answer.text == done.text == "".join(tokens)
    # what is on screen is the rendered final text (rendered after the last token)
    words = done.text.split()
    assert words and words[0].strip("*_#`") in answer.shown_text()
    assert "tok/s" in answer.footer.text()
    # stored: the question and the complete answer with its statistics
    messages = stored(aqt, pane)
    assert [(m.role, m.content, m.status) for m in messages] == [
        ("user", "Tell me about owls.", "complete"),
        ("assistant", done.text, "complete"),
    ]
    assert messages[1].stats is not None and messages[1].stats.completion_tokens >= len(tokens)
    assert messages[1].model == STARTER_MODEL_ID
    assert pane.conversation is not None and pane.conversation.title == "Tell me about owls."
    aqt.until(lambda: pane.conversation_list.titles() == ["Tell me about owls."])


def test_stop_mid_answer_with_escape(aqt: AsyncQt, pane: ChatPane) -> None:
    pane.engine.settings.generation.max_tokens = 400
    rec = Recorder(pane)
    send(aqt, pane, "Count from 1 to 200, separated by commas.")
    aqt.until(lambda: len(rec.tokens) >= 3)
    QTest.keyClick(pane.input, Qt.Key.Key_Escape)
    wait_idle(aqt, pane)
    (done,) = rec.done
    assert done.cancelled
    assert len(rec.tokens) < 300
    answer = pane.transcript.views[-1]
    assert "stopped" in answer.footer.text()
    (_, saved) = stored(aqt, pane)
    assert saved.status == "stopped" and saved.content == done.text and saved.content


def test_regenerate_replaces_the_answer(aqt: AsyncQt, pane: ChatPane) -> None:
    send(aqt, pane, "Say hello.")
    wait_idle(aqt, pane)
    first = stored(aqt, pane)[1]
    answer = pane.transcript.views[-1]
    assert answer.regenerate_button.isVisible()
    pane.engine.settings.generation.seed = 99  # regenerate with another seed...
    pane.engine.settings.generation.temperature = 1.0  # ...so the text may differ
    answer.regenerate_button.click()
    aqt.until(lambda: pane.streaming)
    wait_idle(aqt, pane)
    messages = stored(aqt, pane)
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[1].id != first.id and messages[1].status == "complete"
    assert [v.role for v in pane.transcript.views] == ["user", "assistant"]
    assert pane.transcript.views[-1].text == messages[1].content


def test_edit_and_resend(aqt: AsyncQt, pane: ChatPane) -> None:
    send(aqt, pane, "What is two plus two?")
    wait_idle(aqt, pane)
    send_second = "And three plus three?"
    send(aqt, pane, send_second)
    wait_idle(aqt, pane)
    assert len(stored(aqt, pane)) == 4
    first_user = pane.transcript.views[0]
    first_user.edit_button.click()
    assert pane.input.toPlainText() == "What is two plus two?"
    assert pane.edit_banner.isVisible()
    pane.input.setPlainText("What is five plus five?")
    pane.send_button.click()
    wait_idle(aqt, pane)
    messages = stored(aqt, pane)
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[0].content == "What is five plus five?"
    assert pane.transcript.views[0].text == "What is five plus five?"
    assert len(pane.transcript.views) == 2 and not pane.edit_banner.isVisible()


def test_an_error_is_shown_in_place_with_its_hint(aqt: AsyncQt, pane: ChatPane) -> None:
    pane.set_model("/nowhere/missing-model.gguf")
    send(aqt, pane, "Hello?")
    wait_idle(aqt, pane)
    answer = pane.transcript.views[-1]
    assert "missing-model.gguf" in answer.error_text
    assert "Traceback" not in answer.error_text
    # the footer no longer says it is writing
    assert answer.footer.text() == "failed"
    (_, saved) = stored(aqt, pane)
    assert saved.status == "failed" and "missing-model.gguf" in saved.error


def test_citations_open_their_passage(aqt: AsyncQt, pane: ChatPane) -> None:
    from PySide6.QtCore import QUrl

    from core.types import Passage

    store = pane.engine.conversations
    conv = store.create("Cited")
    store.add_message(conv.id, "user", "Where is it?")
    passages = [
        Passage(file="a.pdf", page=2, text="alpha", score=0.9, path="/docs/a.pdf"),
        Passage(file="b.pdf", page=7, text="beta", score=0.8, path="/docs/b.pdf"),
    ]
    store.add_message(conv.id, "assistant", "In both [1] and [2].", sources=passages)
    pane.open_conversation(conv.id)
    aqt.until(lambda: len(pane.transcript.views) == 2)
    answer = pane.transcript.views[1]
    assert "a.pdf, p.&nbsp;2" in answer.sources_label.text()
    assert 'href="cite:2"' in answer.body.toHtml()
    opened: list[Passage] = []
    pane.citation_activated.connect(opened.append)
    answer.body.anchorClicked.emit(QUrl("cite:2"))  # the [2] in the text
    answer.sources_label.linkActivated.emit("cite:1")  # the first source in the strip
    assert opened == [passages[1], passages[0]]
    # copy puts the answer's Markdown on the clipboard
    from PySide6.QtGui import QGuiApplication

    answer.copy_button.click()
    assert QGuiApplication.clipboard().text() == "In both [1] and [2]."
    # switching to dark redraws the conversation in dark colours
    pane.set_dark(True)
    aqt.until(lambda: len(pane.transcript.views) == 2 and pane.transcript.views[1].renderer.dark)
    assert pane.transcript.views[1].sources == tuple(passages)


def test_a_long_title_is_cut_and_the_conversation_list_keeps_its_width(
    aqt: AsyncQt, pane: ChatPane
) -> None:
    title = "When building Gri from source, how do I install it somewhere other than " * 3
    conv = pane.engine.conversations.create(title.strip())
    pane.refresh_conversations()
    list_width = pane.conversation_list.width()
    pane.open_conversation(conv.id)
    aqt.until(lambda: pane.title_label.full_text() == title.strip())
    aqt.until(lambda: pane.title_label.text().endswith("…"))
    assert pane.title_label.toolTip() == title.strip()
    # a QLabel would have asked for the whole title's width and squeezed the list
    assert pane.conversation_list.width() >= list_width > 100
