"""The main window opens, shows the three panes and, in the background, the starter model."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from core.engine import Engine
from desktop.bridge import EngineBridge
from desktop.main_window import MainWindow
from tests.desktop.conftest import AsyncQt


def test_window_shows_three_panes_and_the_starter_model(
    qtbot: QtBot, aqt: AsyncQt, data_dir: Path, tmp_path: Path
) -> None:
    window = MainWindow(EngineBridge(Engine(data_dir)))
    qtbot.addWidget(window)
    window.show()
    assert window.windowTitle() == "Lectern"
    names = [w.objectName() for i in range(3) if (w := window.splitter.widget(i)) is not None]
    assert names == ["modelsPane", "documentsPane", "chatPane"]
    assert window.models_pane.list.count() == 0  # nothing loaded before the window shows
    window.start()
    aqt.until(lambda: window.models_pane.list.count() > 0, timeout=120)
    assert "Gemma 3 270M" in window.models_pane.list.item(0).text()
    shot = tmp_path / "main-window.png"
    assert window.grab().save(str(shot))
    assert shot.stat().st_size > 10_000


def test_layout_is_remembered(qtbot: QtBot, aqt: AsyncQt, data_dir: Path) -> None:
    engine = Engine(data_dir)
    window = MainWindow(EngineBridge(engine))
    qtbot.addWidget(window)
    window.resize(800, 600)  # the offscreen screen is 800x600; restore clamps to it
    window.show()
    window.splitter.setSizes([200, 300, 300])
    sizes = window.splitter.sizes()
    window.close()
    assert (data_dir / "ui-state.json").exists()
    again = MainWindow(EngineBridge(engine))
    qtbot.addWidget(again)
    again.show()
    assert again.splitter.sizes()[:2] == sizes[:2]  # the last pane takes what is left


def test_controls_have_accessible_names_and_shortcuts(
    qtbot: QtBot, aqt: AsyncQt, data_dir: Path
) -> None:
    from PySide6.QtWidgets import (
        QAbstractButton,
        QAbstractItemView,
        QHeaderView,
        QLineEdit,
        QPlainTextEdit,
        QWidget,
    )

    window = MainWindow(EngineBridge(Engine(data_dir)))
    qtbot.addWidget(window)
    window.show()
    unnamed = []
    for pane in (window.models_pane, window.chat_pane):
        for kind in (QAbstractButton, QLineEdit, QPlainTextEdit, QAbstractItemView):
            for w in pane.findChildren(kind):  # type: ignore[type-var]
                assert isinstance(w, QWidget)
                if isinstance(w, QHeaderView) or type(w.parent()).__name__ in (
                    "QTabBar",
                    "QLineEdit",
                ):
                    continue  # Qt's own parts of a tree, a tab bar or a line edit
                if not w.accessibleName() and not (isinstance(w, QAbstractButton) and w.text()):
                    unnamed.append(f"{type(w).__name__} {w.objectName()}")
    assert unnamed == []
    shortcuts = {a.shortcut().toString() for a in window.actions()}
    assert {"Ctrl+N", "Ctrl+F"} <= shortcuts
    window.activateWindow()
    qtbot.waitActive(window)
    next(a for a in window.actions() if a.shortcut().toString() == "Ctrl+F").trigger()
    qtbot.waitUntil(window.chat_pane.conversation_list.search.hasFocus, timeout=3000)


def test_a_gguf_dropped_on_the_window_is_added_as_a_model(
    qtbot: QtBot, aqt: AsyncQt, data_dir: Path, tmp_path: Path, starter_gguf: Path
) -> None:
    from PySide6.QtCore import QPointF

    from tests.desktop.test_documents_pane import drop

    window = MainWindow(EngineBridge(Engine(data_dir)))
    qtbot.addWidget(window)
    window.resize(1200, 700)
    window.show()
    models = window.models_pane
    models.tabs.setCurrentIndex(1)
    # a truncated model dropped on the chat side: refused, and the reason is shown
    half = tmp_path / "half.gguf"
    half.write_bytes(starter_gguf.read_bytes()[:1_000_000])
    assert drop(window, [half], QPointF(window.width() - 60, 80))
    aqt.until(lambda: "truncated" in models.local.message.text())
    assert models.tabs.currentWidget() is models.local
    assert models.engine.registry.list() == []
    # a whole one: registered where it is and selected in Installed; a PDF dropped with
    # it is queued for indexing as any dropped PDF is (the model was not)
    from tests.desktop.test_page_viewer import FILLER, make_pdf

    pdf = make_pdf(tmp_path / "notes.pdf", [FILLER])
    docs = window.documents_pane
    assert drop(window, [starter_gguf, pdf], QPointF(window.width() - 60, 80))
    assert docs.documents.state_of(str(pdf.resolve())) is not None
    assert docs.documents.state_of(str(starter_gguf.resolve())) is None
    docs.queue.cancel_all()
    aqt.until(lambda: models.current_record() is not None)
    rec = models.current_record()
    assert rec is not None and rec.path == str(starter_gguf) and rec.source == "imported"
    assert models.tabs.currentIndex() == 0
    assert models.local.message.styleSheet() == ""  # the earlier error's colour is gone


def test_the_ticked_libraries_are_remembered(qtbot: QtBot, aqt: AsyncQt, data_dir: Path) -> None:
    # every start ticked "default" alone: a library made with 'lectern index' or ticked
    # the day before was not searched until ticked again
    engine = Engine(data_dir)
    for name in ("manuals", "notes"):
        aqt.run(engine.create_library(name))
    window = MainWindow(EngineBridge(engine))
    qtbot.addWidget(window)
    window.show()
    window.start()
    # the first start searches every library there is
    aqt.until(lambda: window.documents_pane.libraries.count() == 3)
    assert window.chat_pane.active_libraries == ["default", "manuals", "notes"]
    window.documents_pane.set_active_libraries(["notes"])
    window.close()

    again = MainWindow(EngineBridge(engine))
    qtbot.addWidget(again)
    again.show()
    again.start()
    aqt.until(lambda: again.documents_pane.libraries.count() == 3)
    assert again.documents_pane.active_libraries() == ["notes"]
    assert again.chat_pane.active_libraries == ["notes"]
    ticked = [
        item.text().split()[0]
        for i in range(3)
        if (item := again.documents_pane.libraries.item(i)).checkState() == Qt.CheckState.Checked
    ]
    assert ticked == ["notes"]
    again.close()
