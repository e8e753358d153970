"""End to end in the main window: drop a PDF on the window, ask in the chat pane, click the
citation, and the page viewer shows the cited page with the passage highlighted."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from core.engine import Engine
from desktop.bridge import EngineBridge
from desktop.main_window import MainWindow
from tests.desktop.conftest import AsyncQt
from tests.desktop.test_documents_pane import engine_dir  # noqa: F401 - fixture
from tests.desktop.test_page_viewer import FACT, FILLER, make_pdf

pytestmark = pytest.mark.qt_log_ignore("does not support raise")


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
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(pdf))])
    drop = QDropEvent(
        QPointF(window.width() - 40, 60),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, drop)
    assert drop.isAccepted()
    path = str(pdf.resolve())
    aqt.until(lambda: (s := docs.documents.state_of(path)) is not None and s.state == "ready", 90)
    assert chat.active_libraries == ["default"]

    chat.input.setPlainText("Who was the keeper of the Port Avalon lighthouse?")
    chat.send()
    aqt.until(lambda: chat.streaming, 10)
    aqt.until(lambda: not chat.streaming, 120)
    answer = chat.transcript.views[-1]
    assert answer.role == "assistant"
    assert answer.sources, "the answer must cite the PDF"
    assert answer.sources[0].file == "lighthouses.pdf" and answer.sources[0].page == 2
    assert answer.sources_label.isVisibleTo(answer)

    answer.sources_label.linkActivated.emit("cite:1")  # what clicking “[1] …” does
    viewer = docs.viewer
    assert viewer is not None
    aqt.until(lambda: viewer.page_number == 2 and viewer.path == path, 30)
    assert viewer.highlight_rects
    assert viewer.isVisible()
    aqt.run(engine.close())
