"""The page viewer renders the cited page off the GUI thread and highlights the passage."""

from __future__ import annotations

from pathlib import Path

import pymupdf
import pytest
from pytestqt.qtbot import QtBot

from core.engine import Engine
from core.executors import started_processes
from core.types import Passage
from desktop.bridge import EngineBridge
from desktop.documents.page_render import passage_rects
from desktop.page_viewer import PageViewer
from tests.desktop.conftest import SCREENSHOTS, AsyncQt

# raising a window means nothing on the offscreen platform, which says so
pytestmark = pytest.mark.qt_log_ignore("does not support raise")

REPO = Path(__file__).resolve().parents[2]

FILLER = (
    "Lighthouses along the northern coast were built in the nineteenth century to guide "
    "fishing boats through the narrow channels. Most of them are automated today, and their "
    "keepers' cottages have become small museums that visitors can tour in the summer. "
)
FACT = (
    "The keeper of the Port Avalon lighthouse was Matilda Vance, who repaired the great lamp "
    "by hand during the storm of 1887 and kept it burning for nine nights."
)


def make_pdf(path: Path, pages: list[str]) -> Path:
    """A real PDF with wrapped text, one string per page."""
    doc = pymupdf.open()
    for text in pages:
        page = doc.new_page(width=595, height=842)
        page.insert_textbox(pymupdf.Rect(60, 70, 535, 780), text, fontsize=12, fontname="helv")
    doc.save(str(path))
    doc.close()
    return path


@pytest.fixture
def lighthouse_pdf(tmp_path: Path) -> Path:
    return make_pdf(
        tmp_path / "lighthouses.pdf",
        [FILLER * 3, FILLER + FACT + " " + FILLER, FILLER * 2],
    )


def passage_on_page(path: Path, page: int, needle: str) -> Passage:
    """A passage as the engine returns it: offsets into ``page.get_text()``."""
    with pymupdf.open(str(path)) as doc:
        text = doc[page - 1].get_text()
    start = " ".join(text.split()).find(" ".join(needle.split()))
    assert start >= 0
    # map back to raw offsets: find the first word, then walk to cover the passage
    first = needle.split()[0]
    raw_start = text.find(first, max(0, start - 50))
    raw_end = raw_start
    for word in needle.split():
        raw_end = text.find(word, raw_end) + len(word)
    return cited(path, page, text, raw_start, raw_end)


def cited(path: Path, page: int, page_text: str, start: int, end: int) -> Passage:
    """The passage ``page_text[start:end]`` of ``page``, as a search would return it."""
    return Passage(
        file=path.name,
        page=page,
        text=page_text[start:end],
        score=0.9,
        path=str(path),
        library="default",
        char_start=start,
        char_end=end,
    )


def open_viewer(qtbot: QtBot, data_dir: Path) -> PageViewer:
    viewer = PageViewer(EngineBridge(Engine(data_dir)))
    qtbot.addWidget(viewer)
    viewer.resize(700, 820)
    return viewer


def test_citation_opens_its_page_with_the_passage_highlighted(
    qtbot: QtBot, aqt: AsyncQt, data_dir: Path, lighthouse_pdf: Path
) -> None:
    viewer = open_viewer(qtbot, data_dir)
    passage = passage_on_page(lighthouse_pdf, 2, FACT)
    viewer.show_passage(passage)
    aqt.until(lambda: viewer.page_number == 2)
    assert viewer.page_count == 3
    assert "page 2 of 3" in viewer.title.text()
    assert viewer.highlight_rects, "the passage must be highlighted"
    # the highlight covers where PyMuPDF itself finds the passage's words, and not much else
    with pymupdf.open(str(lighthouse_pdf)) as doc:
        found = doc[1].search_for("Matilda Vance")
    assert found
    hit = found[0]
    assert any(
        x0 <= hit.x0 + 1 and hit.x1 - 1 <= x1 and y0 <= hit.y0 + 1 and hit.y1 - 1 <= y1
        for x0, y0, x1, y1 in viewer.highlight_rects
    )
    top = min(r[1] for r in viewer.highlight_rects)
    bottom = max(r[3] for r in viewer.highlight_rects)
    assert bottom - top < 200  # three-odd lines of text, not the whole page
    assert viewer.canvas.image.pixmap() is not None
    assert not viewer.canvas.image.pixmap().isNull()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert viewer.grab().save(str(SCREENSHOTS / "page-viewer-highlight.png"))

    # paging away drops the highlight; coming back brings it again
    viewer.next_page()
    aqt.until(lambda: viewer.page_number == 3)
    assert viewer.highlight_rects == []
    assert not viewer.next_button.isEnabled()
    viewer.previous_page()
    aqt.until(lambda: viewer.page_number == 2)
    assert viewer.highlight_rects


def test_a_citation_on_a_scanned_page_is_found_by_ocr(
    qtbot: QtBot, aqt: AsyncQt, data_dir: Path, tmp_path: Path
) -> None:
    from core.documents.extraction import extract_in_process
    from tests.core.documents.pdfs import scanned_pdf, text_pdf

    pages = [FILLER * 2, FILLER + FACT + " " + FILLER]
    scan = scanned_pdf(tmp_path / "scan.pdf", pages)
    page_text = extract_in_process(str(scan), ocr=True).pages[1]  # as indexing read it
    start = page_text.index("The keeper")
    end = page_text.index("nine nights.") + len("nine nights.")
    viewer = open_viewer(qtbot, data_dir)
    viewer.show_passage(cited(scan, 2, page_text, start, end))
    aqt.until(lambda: viewer.page_number == 2)
    # the page shows at once; the highlight follows once OCR has read the page
    aqt.until(lambda: bool(viewer.highlight_rects), timeout=60)
    assert not viewer.status.isVisible()
    # OCR ran in a process of its own: from a thread, PyMuPDF held the interpreter
    # lock for the whole page and the window froze for seconds
    assert "viewer-ocr" in started_processes()
    # the highlight sits where the words stood on the page that was scanned
    with pymupdf.open(str(text_pdf(tmp_path / "original.pdf", pages))) as doc:
        hit = doc[1].search_for("Matilda Vance")[0]
    mid_x, mid_y = (hit.x0 + hit.x1) / 2, (hit.y0 + hit.y1) / 2
    assert any(x0 <= mid_x <= x1 and y0 <= mid_y <= y1 for x0, y0, x1, y1 in viewer.highlight_rects)
    top = min(r[1] for r in viewer.highlight_rects)
    bottom = max(r[3] for r in viewer.highlight_rects)
    assert bottom - top < 80  # the passage's few lines, not the page
    viewer.grab().save(str(tmp_path / "scan-viewer.png"))


def test_stale_offsets_fall_back_to_the_passage_text(lighthouse_pdf: Path) -> None:
    real = passage_on_page(lighthouse_pdf, 2, FACT)
    with pymupdf.open(str(lighthouse_pdf)) as doc:
        page = doc[1]
        by_offsets = passage_rects(page, real.text, real.char_start, real.char_end)
        by_text = passage_rects(page, real.text, 0, 0)  # no offsets at all
        shifted = passage_rects(page, real.text, 3, 90)  # offsets pointing elsewhere
        nowhere = passage_rects(page, "words that are not on this page at all", 0, 0)
    assert by_offsets
    assert by_text == by_offsets
    assert shifted == by_offsets
    assert nowhere == []


def test_zoom_and_a_missing_file(
    qtbot: QtBot, aqt: AsyncQt, data_dir: Path, lighthouse_pdf: Path, tmp_path: Path
) -> None:
    viewer = open_viewer(qtbot, data_dir)
    viewer.open_page(str(lighthouse_pdf), 1)

    def shown_width() -> int:
        pixmap = viewer.canvas.image.pixmap()
        return round(pixmap.width() / pixmap.devicePixelRatio())

    aqt.until(lambda: viewer.page_number == 1 and shown_width() == viewer.fit_width_px())
    fit_width = shown_width()
    viewer.zoom_in()
    aqt.until(lambda: shown_width() > fit_width)
    assert viewer.zoom_label.text().endswith("%")
    viewer.fit_width()
    aqt.until(lambda: shown_width() == viewer.fit_width_px())
    # a narrower window refits the page
    viewer.resize(500, 820)
    aqt.until(lambda: shown_width() == viewer.fit_width_px() < fit_width)

    messages: list[str] = []
    viewer.render_failed.connect(messages.append)
    viewer.open_page(str(tmp_path / "gone.pdf"), 1)
    aqt.until(lambda: bool(messages))
    assert "gone.pdf" in messages[0]
    assert viewer.status.isVisibleTo(viewer)


def test_a_citation_in_an_epub_opens_the_page_indexing_laid_out(
    qtbot: QtBot, aqt: AsyncQt, data_dir: Path, tmp_path: Path
) -> None:
    from core.documents.extraction import extract_in_process
    from tests.core.documents.ebooks import make_epub

    book = make_epub(
        tmp_path / "coast.epub",
        [("Harbours", [FILLER] * 8), ("Lights", [FILLER, FACT, FILLER])],
        title="The Northern Coast",
    )
    doc = extract_in_process(str(book))  # as indexing reads it: pages of PyMuPDF's layout
    page = next(i for i, t in enumerate(doc.pages, 1) if "Matilda Vance" in t)
    assert page > 1
    text = doc.pages[page - 1]
    start = text.index("The keeper of the Port Avalon")
    end = text.index("nine nights.") + len("nine nights.")
    viewer = open_viewer(qtbot, data_dir)
    viewer.show_passage(cited(book, page, text, start, end))
    aqt.until(lambda: viewer.page_number == page and bool(viewer.highlight_rects))
    assert viewer.page_count == len(doc.pages)
    with pymupdf.open(str(book), filetype="epub") as ref:
        hit = ref[page - 1].search_for("Matilda Vance")[0]
    assert any(
        x0 <= hit.x0 + 1 and hit.x1 - 1 <= x1 and y0 <= hit.y0 + 1 and hit.y1 - 1 <= y1
        for x0, y0, x1, y1 in viewer.highlight_rects
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert viewer.grab().save(str(SCREENSHOTS / "page-viewer-epub.png"))
