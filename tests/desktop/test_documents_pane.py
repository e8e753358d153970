"""The documents pane with the real engine: drops, failures, citations, removal, watched folders."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from core.documents.events import DocumentStatus, IndexSummary
from core.engine import Engine
from core.settings import load_settings, save_settings
from desktop.bridge import EngineBridge
from desktop.panes.documents_pane import DocumentsPane
from tests.core.documents.killing import index_until_killed
from tests.core.documents.pdfs import FACTS, text_pdf
from tests.desktop.conftest import SCREENSHOTS, AsyncQt
from tests.desktop.test_page_viewer import FACT, FILLER, make_pdf

pytestmark = pytest.mark.qt_log_ignore("does not support raise")

REPO = Path(__file__).resolve().parents[2]
OTHER = (
    "Sourdough bread needs a starter of flour and water that ferments for several days. "
    "Bakers feed it daily and keep it in a warm kitchen. "
)


@pytest.fixture
def engine_dir(data_dir: Path, starter_embedder: Path, starter_gguf: Path) -> Path:
    """A data directory that uses the session's starter models in place (nothing copied)."""
    settings = load_settings(data_dir / "settings.json")
    settings.retrieval.embedder = str(starter_embedder)
    settings.models.default_model = str(starter_gguf)
    settings.generation.max_tokens = 8
    settings.generation.temperature = 0.0
    save_settings(data_dir / "settings.json", settings)
    return data_dir


@pytest.fixture
def pane(qtbot: QtBot, aqt: AsyncQt, engine_dir: Path) -> Iterator[DocumentsPane]:
    engine = Engine(engine_dir)
    p = DocumentsPane(EngineBridge(engine), watch_interval_s=0.3)
    qtbot.addWidget(p)
    p.resize(340, 640)
    p.show()
    aqt.until(lambda: p.libraries.count() > 0)
    yield p
    p.close_down()
    aqt.run(engine.close())


@pytest.fixture
def pdfs(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "pdfs"
    folder.mkdir()
    good = make_pdf(folder / "lighthouses.pdf", [FILLER * 3, FILLER + FACT + " " + FILLER])
    bread = make_pdf(folder / "bread.pdf", [OTHER * 4])
    corrupt = folder / "broken.pdf"
    corrupt.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40)
    return {"good": good, "bread": bread, "corrupt": corrupt}


def drop(widget: QWidget, paths: list[Path], at: QPointF | None = None) -> bool:
    """Drag ``paths`` over ``widget`` and drop them, as the platform would; True if taken.

    Qt delivers a drop only to the widget that accepted the drag's enter event, so
    both are sent, through the application (event filters included).
    """
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = at if at is not None else QPointF(widget.width() / 2, widget.height() / 2)
    args = (pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton)
    enter = QDragEnterEvent(*args, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    if not enter.isAccepted():
        return False
    event = QDropEvent(*args, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)
    return bool(event.isAccepted())


def state_of(pane: DocumentsPane, path: Path) -> str:
    s = pane.documents.state_of(str(path.resolve()))
    return s.state if s is not None else ""


def settled(pane: DocumentsPane, *paths: Path) -> bool:
    return all(state_of(pane, p) in ("ready", "failed") for p in paths) and not pane.queue.busy()


def index_long_pdf(
    pane: DocumentsPane, aqt: AsyncQt, folder: Path, library: str = "default"
) -> Path:
    """Add a 200-chunk PDF (four embedding batches) to ``library``; return once it embeds."""
    records = [f"Record {i}: the valve in room {i} was checked." for i in range(200)]
    big = text_pdf(folder / "big.pdf", records)
    embedding: list[DocumentStatus] = []

    def on_status(ev: DocumentStatus) -> None:
        if ev.state == "embedding":
            embedding.append(ev)

    pane.queue.status.connect(on_status)
    pane.add_paths([big], library=library)
    aqt.until(lambda: bool(embedding), timeout=60)
    pane.queue.status.disconnect(on_status)
    return big


def test_drop_index_explain_failure_and_remove(
    pane: DocumentsPane, aqt: AsyncQt, pdfs: dict[str, Path]
) -> None:
    seen: list[DocumentStatus] = []
    shot = SCREENSHOTS / "documents-pane-indexing.png"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot.unlink(missing_ok=True)

    def watch(ev: DocumentStatus) -> None:
        seen.append(ev)
        if ev.state == "embedding" and not shot.exists():
            # the pane while a document is being indexed, once its layout caught up
            QTimer.singleShot(50, lambda: shot.exists() or pane.grab().save(str(shot)))

    pane.queue.status.connect(watch)
    assert drop(pane, [pdfs["corrupt"], pdfs["good"], pdfs["bread"]])
    every = (pdfs["good"], pdfs["corrupt"], pdfs["bread"])
    aqt.until(lambda: settled(pane, *every), timeout=90)

    assert state_of(pane, pdfs["good"]) == "ready"
    good = pane.documents.state_of(str(pdfs["good"].resolve()))
    assert good is not None and good.pages == 2 and good.chunks >= 1
    assert state_of(pane, pdfs["corrupt"]) == "failed"
    bad = pane.documents.state_of(str(pdfs["corrupt"].resolve()))
    assert bad is not None and bad.reason
    row = pane.documents.rows[str(pdfs["corrupt"].resolve())][1]
    assert row.reason.isVisibleTo(row)
    assert row.reason.text() == bad.reason.replace(bad.path, bad.file)  # no long temp path
    # hovering the name shows the row's full path (the label has no tooltip of its own)
    assert row.toolTip() == bad.path and not row.name.toolTip()
    # live progress was shown on the way
    assert {"extracting", "embedding"} & {e.state for e in seen}
    assert shot.exists()
    assert "2 indexed" in pane.status.text() and "1 failed" in pane.status.text()
    # the list survives a reload from the engine (it is not just what the events said)
    # (wait for the reload itself: the list shown before it already met the conditions)
    reloaded: list[object] = []
    pane.active_libraries_changed.connect(reloaded.append)
    pane.refresh()
    aqt.until(lambda: bool(reloaded) and pane.documents.count() == 3)
    assert state_of(pane, pdfs["good"]) == "ready"
    assert "(2 documents)" in pane.libraries.item(0).text() or "(3 documents)" in (
        pane.libraries.item(0).text()
    )
    # a file Lectern does not read is refused when dragged in, and named if added anyway
    other = pdfs["good"].with_suffix(".docx")
    other.write_text("not a document Lectern reads")
    assert not drop(pane, [other])
    pane.add_paths([other])
    assert "Skipped (Lectern reads PDF, EPUB, HTML, text and Markdown files)" in pane.status.text()
    assert other.name in pane.status.text()

    # removing a document takes it out of search (and so out of answers)
    engine = pane.bridge.engine
    query = "keeper of the Port Avalon lighthouse"
    before = aqt.run(engine.search(query, "default"))
    assert isinstance(before, list) and before[0].file == "lighthouses.pdf"
    pane.documents.rows[str(pdfs["good"].resolve())][0].setSelected(True)
    assert pane.remove_button.isEnabled()
    pane.remove_button.click()
    aqt.until(lambda: pane.documents.state_of(str(pdfs["good"].resolve())) is None)
    after = aqt.run(engine.search(query, "default"))
    assert isinstance(after, list) and all(p.file != "lighthouses.pdf" for p in after)
    assert pane.documents.count() == 2
    assert pdfs["good"].exists()  # the file itself is never touched


def test_pdf_copied_into_a_watched_folder_is_indexed(
    pane: DocumentsPane, aqt: AsyncQt, pdfs: dict[str, Path], tmp_path: Path
) -> None:
    watched = tmp_path / "watched"
    watched.mkdir()
    pane.watch_folder(watched)
    assert pane.watched_list.count() == 1
    assert pane.bridge.engine.settings.retrieval.watched_folders == {str(watched): "default"}
    shutil.copy(pdfs["good"], watched / "copied.pdf")
    aqt.until(lambda: state_of(pane, watched / "copied.pdf") == "ready", timeout=60)
    # the setting was persisted
    aqt.until(
        lambda: (
            load_settings(pane.bridge.engine.paths.settings_file).retrieval.watched_folders
            == {str(watched): "default"}
        )
    )
    # deleting it from the folder removes it from the library
    (watched / "copied.pdf").unlink()
    aqt.until(lambda: state_of(pane, watched / "copied.pdf") == "", timeout=30)
    pane.watched_list.item(0).setSelected(True)
    pane.unwatch_button.click()
    assert pane.bridge.engine.settings.retrieval.watched_folders == {}
    assert pane.watched_list.count() == 0


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_documents_left_half_indexed_are_finished_at_start(
    qtbot: QtBot, aqt: AsyncQt, engine_dir: Path, tmp_path: Path
) -> None:
    records = [f"Record {i}: the pump in hall {i} was serviced." for i in range(70)]
    long = text_pdf(tmp_path / "long.pdf", records)  # 70 chunks: two embedding batches
    short = text_pdf(tmp_path / "short.pdf", FACTS)
    # the last session was killed between two embedding batches of long.pdf
    index_until_killed(engine_dir, "embedding", [long, short], "default")
    engine = Engine(engine_dir)
    libs = aqt.run(engine.list_libraries())
    assert isinstance(libs, list) and [(lb.name, lb.unfinished) for lb in libs] == [("default", 2)]

    said: list[str] = []
    pane = DocumentsPane(EngineBridge(engine))

    def on_busy(busy: bool) -> None:
        if busy:
            said.append(pane.status.text())  # what the pane says as the run starts

    pane.queue.busy_changed.connect(on_busy)
    qtbot.addWidget(pane)
    pane.show()
    try:
        aqt.until(lambda: settled(pane, long, short), timeout=120)
        assert state_of(pane, long) == state_of(pane, short) == "ready"
        assert said and "Finishing 2 documents left half-indexed" in said[0]
        libs = aqt.run(engine.list_libraries())
        assert isinstance(libs, list) and libs[0].unfinished == 0
        hits = aqt.run(engine.search("pump in hall 42 serviced", "default", k=10))
        assert isinstance(hits, list) and ("long.pdf", 43) in {(h.file, h.page) for h in hits}
    finally:
        pane.close_down()
        aqt.run(engine.close())


def test_a_stopped_document_says_stopped_not_indexing(
    pane: DocumentsPane, aqt: AsyncQt, tmp_path: Path
) -> None:
    big = index_long_pdf(pane, aqt, tmp_path)
    pane.stop_button.click()
    aqt.until(lambda: not pane.queue.busy() and state_of(pane, big) == "stopped", timeout=60)
    item, row = pane.documents.rows[str(big.resolve())]
    assert row.badge.text() == "Stopped"
    assert not row.progress.isVisibleTo(row)  # no busy bar: nothing is running
    assert "resumes at the next start" in row.details.full_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert pane.grab().save(str(SCREENSHOTS / "documents-pane-stopped.png"))
    docs = aqt.run(pane.bridge.engine.list_documents("default"))
    assert isinstance(docs, list) and docs[0].state == "embedding"  # stored as it was
    item.setSelected(True)
    assert pane.reindex_button.isEnabled() and pane.remove_button.isEnabled()
    pane.reindex_button.click()  # Re-index finishes it now
    aqt.until(lambda: state_of(pane, big) == "ready" and not pane.queue.busy(), timeout=120)


def test_libraries_create_rename_tick_and_delete(pane: DocumentsPane, aqt: AsyncQt) -> None:
    changes: list[list[str]] = []
    pane.active_libraries_changed.connect(changes.append)
    pane.create_library("papers")
    aqt.until(lambda: "papers" in pane.libraries.names())
    assert pane.current_library() == "papers"
    assert "papers" in pane.active_libraries()  # a new library is searched by default
    pane.rename_library("papers", "articles")
    aqt.until(lambda: "articles" in pane.libraries.names())
    assert "papers" not in pane.libraries.names()
    assert "articles" in pane.active_libraries()
    pane.set_active_libraries(["default"])
    assert changes[-1] == ["default"]
    pane.delete_library("articles")
    aqt.until(lambda: "articles" not in pane.libraries.names())
    assert pane.current_library() == "default"


def test_the_pane_opens_on_a_library_with_documents(
    qtbot: QtBot, aqt: AsyncQt, engine_dir: Path, pdfs: dict[str, Path]
) -> None:
    # it opened on the empty "default" (shown even when it does not exist yet)
    engine = Engine(engine_dir)

    async def index() -> None:
        async for _ev in engine.index([pdfs["good"]], "manuals"):
            pass

    aqt.run(index())
    p = DocumentsPane(EngineBridge(engine), watch_interval_s=0.3)
    qtbot.addWidget(p)
    p.show()
    aqt.until(lambda: p.documents.count() == 1)
    assert p.libraries.names() == ["default", "manuals"]
    assert p.current_library() == "manuals"
    p.close_down()
    aqt.run(engine.close())


def test_a_damaged_library_says_so_and_can_be_deleted(
    qtbot: QtBot, aqt: AsyncQt, engine_dir: Path, pdfs: dict[str, Path]
) -> None:
    # an unreadable library made the whole library list fail: no library could be shown
    engine = Engine(engine_dir)
    aqt.run(engine.create_library("broken"))
    aqt.run(engine.close())
    (engine_dir / "libraries" / "broken" / "index.sqlite3").write_bytes(b"\x07" * 5000)
    engine = Engine(engine_dir)
    p = DocumentsPane(EngineBridge(engine), watch_interval_s=0.3)
    qtbot.addWidget(p)
    p.resize(340, 640)
    p.show()
    aqt.until(lambda: p.libraries.names() == ["default", "broken"])
    assert p.libraries.item(1).text() == "broken   (damaged)"
    p.add_paths([pdfs["good"]], library="default")
    aqt.until(lambda: p.documents.count() == 1 and not p.queue.busy(), timeout=120)
    p.libraries.select("broken")
    aqt.until(lambda: p.documents.count() == 0)  # not the rows of the library shown before
    assert p.status.text().startswith("The library 'broken' is damaged: index.sqlite3: ")
    assert "index its PDFs again" in p.status.text()
    p.grab().save(str(SCREENSHOTS / "documents-pane-damaged.png"))
    p.delete_library("broken")
    aqt.until(lambda: p.libraries.names() == ["default"])
    assert not (engine_dir / "libraries" / "broken").exists()
    p.close_down()
    aqt.run(engine.close())


def test_deleting_a_library_stops_its_indexing(
    pane: DocumentsPane, aqt: AsyncQt, tmp_path: Path
) -> None:
    more = text_pdf(tmp_path / "more.pdf", FACTS)
    summaries: list[IndexSummary] = []
    pane.queue.summary.connect(lambda _library, summary: summaries.append(summary))
    pane.create_library("big")
    aqt.until(lambda: "big" in pane.libraries.names())
    index_long_pdf(pane, aqt, tmp_path, "big")
    pane.add_paths([more], library="big")  # waits behind the first job
    pane.delete_library("big")
    aqt.until(lambda: "big" not in pane.libraries.names() and not pane.queue.busy(), timeout=60)
    # the running job stopped part-way and the waiting one never ran (it would have
    # made the library again)
    assert len(summaries) == 1 and summaries[0].cancelled and not summaries[0].indexed
    libs = aqt.run(pane.bridge.engine.list_libraries())
    assert isinstance(libs, list) and "big" not in {lb.name for lb in libs}


def test_renaming_a_library_while_it_is_indexed_keeps_one_library(
    pane: DocumentsPane, aqt: AsyncQt, tmp_path: Path
) -> None:
    more = text_pdf(tmp_path / "more.pdf", FACTS)
    pane.create_library("papers")
    aqt.until(lambda: "papers" in pane.libraries.names())
    index_long_pdf(pane, aqt, tmp_path, "papers")
    pane.add_paths([more], library="papers")  # waits behind the first job
    pane.rename_library("papers", "articles")
    aqt.until(lambda: "articles" in pane.libraries.names() and not pane.queue.busy(), timeout=120)
    engine = pane.bridge.engine
    libs = aqt.run(engine.list_libraries())
    assert isinstance(libs, list) and [lb.name for lb in libs] == ["articles"]  # no new "papers"
    docs = aqt.run(engine.list_documents("articles"))
    assert isinstance(docs, list)
    assert sorted((d.file, d.state) for d in docs) == [("big.pdf", "ready"), ("more.pdf", "ready")]


def test_a_file_removed_while_it_waits_is_never_indexed(
    pane: DocumentsPane, aqt: AsyncQt, tmp_path: Path
) -> None:
    more = text_pdf(tmp_path / "more.pdf", FACTS)
    big = index_long_pdf(pane, aqt, tmp_path)
    pane.add_paths([more])  # waits behind the first job
    aqt.until(lambda: state_of(pane, more) == "queued")
    pane.remove_documents([str(more.resolve())])
    aqt.until(lambda: not pane.queue.busy() and state_of(pane, big) == "ready", timeout=120)
    aqt.until(lambda: state_of(pane, more) == "")  # its row is gone, with no error
    assert "No document" not in pane.status.text()
    docs = aqt.run(pane.bridge.engine.list_documents("default"))
    assert isinstance(docs, list) and [d.file for d in docs] == ["big.pdf"]


def test_a_row_says_what_is_being_read(qtbot: QtBot) -> None:
    from desktop.documents.document_row import DocumentRow, RowState

    reading = RowState("/x/a.pdf", "a.pdf", "extracting", done=3, total=40)
    row = DocumentRow(reading)
    qtbot.addWidget(row)
    assert row.details.full_text() == "reading page 3 of 40"
    scanned = RowState("/x/b.pdf", "b.pdf", "extracting", done=2, total=9, ocr=True)
    row = DocumentRow(scanned)
    qtbot.addWidget(row)
    assert row.details.full_text() == "reading page 2 of 9 by OCR (scanned)"
    assert row.badge.text() == "Reading" and row.progress.maximum() == 9
