"""End to end in the main window: drop a PDF on the window, ask in the chat pane, click the
citation, and the page viewer shows the cited page with the passage highlighted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PySide6.QtCore import QPointF
from pytestqt.qtbot import QtBot

from core.engine import Engine
from desktop.bridge import EngineBridge
from desktop.main_window import MainWindow
from desktop.panes.chat_pane import ChatPane
from tests.desktop.conftest import SCREENSHOTS, AsyncQt
from tests.desktop.test_documents_pane import drop, engine_dir  # noqa: F401 - fixture
from tests.desktop.test_page_viewer import FACT, FILLER, make_pdf

pytestmark = pytest.mark.qt_log_ignore("does not support raise")


def ask(aqt: AsyncQt, chat: ChatPane, question: str) -> None:
    """Type and send a question, and wait for the whole answer.

    Sent from inside the running event loop, as a click would be: widgets that
    process events while handling it must find the loop running.
    """

    async def send() -> None:
        chat.input.setPlainText(question)
        chat.send()
        await asyncio.sleep(0)

    aqt.run(send())
    aqt.until(lambda: not chat.streaming, 120)


def test_drop_on_window_ask_and_open_the_citation(
    qtbot: QtBot,
    aqt: AsyncQt,
    engine_dir: Path,  # noqa: F811 - fixture
    tmp_path: Path,
) -> None:
    pdf = make_pdf(tmp_path / "lighthouses.pdf", [FILLER * 3, FILLER + FACT + " " + FILLER])
    engine = Engine(engine_dir)
    window = MainWindow(EngineBridge(engine))
    qtbot.addWidget(window)
    window.show()
    window.start()
    docs, chat = window.documents_pane, window.chat_pane
    aqt.until(lambda: docs.libraries.count() > 0)

    # dropped on the window (not on the pane): the pane still takes it
    assert drop(window, [pdf], QPointF(window.width() - 40, 60))
    path = str(pdf.resolve())
    aqt.until(lambda: (s := docs.documents.state_of(path)) is not None and s.state == "ready", 90)
    assert chat.active_libraries == ["default"]

    ask(aqt, chat, "Who was the keeper of the Port Avalon lighthouse?")
    answer = chat.transcript.views[-1]
    assert answer.role == "assistant"
    assert answer.sources, f"no sources; answer {answer.text!r}, error {answer.error_text!r}"
    assert answer.sources[0].file == "lighthouses.pdf" and answer.sources[0].page == 2
    assert answer.sources_label.isVisibleTo(answer)

    answer.sources_label.linkActivated.emit("cite:1")  # what clicking “[1] …” does
    viewer = docs.viewer
    assert viewer is not None
    aqt.until(lambda: viewer.page_number == 2 and viewer.path == path, 30)
    assert viewer.highlight_rects
    assert viewer.isVisible()
    assert "Searched for" not in answer.sources_label.text()

    # a misspelled question is searched for as corrected, and the answer says so
    ask(aqt, chat, "Who was the keepr of the Port Avalon lighthuose?")
    typo = chat.transcript.views[-1]
    assert typo.sources and typo.sources[0].page == 2
    assert (
        "Searched for: <i>Who was the keeper of the Port Avalon lighthouse?</i>"
        in typo.sources_label.text()
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    typo.grab().save(str(SCREENSHOTS / "chat-searched-for.png"))
    # it is kept with the conversation: shown again when the conversation is reopened
    assert chat.conversation is not None
    conversation = chat.conversation.id
    shown = typo.sources_label.text()
    chat.new_chat()
    chat.open_conversation(conversation)
    aqt.until(lambda: len(chat.transcript.views) == 4)  # two questions, two answers
    assert chat.transcript.views[-1].sources_label.text() == shown

    # once the document is removed, answers no longer cite it
    docs.remove_documents([path])
    aqt.until(lambda: docs.documents.state_of(path) is None)
    ask(aqt, chat, "Who was the keeper of the Port Avalon lighthouse?")
    again = chat.transcript.views[-1]
    assert again is not answer and again.role == "assistant"
    assert all(p.path != path for p in again.sources)
    aqt.run(engine.close())
