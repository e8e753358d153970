"""Render a PDF page with PyMuPDF and find where a cited passage sits on it.

Blocking functions without Qt: the page viewer runs them in the ``"viewer"``
executor and turns the pixels into a ``QImage`` on the GUI thread.

Passages carry character offsets into the page's extracted text
(``page.get_text()``). The words PyMuPDF reports (``get_text("words")``) are
located in that same text in order, so the offsets map to word rectangles
without any fuzzy matching. When the offsets do not fit the page (a document
changed after it was indexed, or an index written by another version), the
passage's own words are looked for on the page instead. On a scanned page
(no text layer) indexing read the text by OCR; :func:`ocr_passage_rects`
reads it again the same way, so the offsets hold there too.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from core.documents.extraction import MIN_PAGE_CHARS, OCR_DPI, visible_chars
from core.documents.formats import document_type

if TYPE_CHECKING:
    import pymupdf

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 in PDF points

_cache: dict[str, tuple[float, Any]] = {}  # path -> (mtime, open document); one thread only


def import_pymupdf() -> ModuleType:
    """PyMuPDF, imported on first use (blocking; call it in an executor).

    PyMuPDF 2 loads its ONNX page-layout model when imported (about a second of
    work that holds the interpreter lock and so freezes the window). Rendering
    and ``get_text()`` never use it, so in this process it is left out.
    """
    if "pymupdf" not in sys.modules:
        sys.modules.setdefault("pymupdf.layout", None)  # type: ignore[arg-type]
    import pymupdf

    return pymupdf


@dataclass(frozen=True)
class RenderedPage:
    """One rendered page: RGB pixels plus where the highlight goes (in pixels)."""

    path: str
    page: int  # 1-based
    page_count: int
    zoom: float
    width: int
    height: int
    stride: int
    samples: bytes
    page_width_pt: float
    highlights_pt: list[Rect] = field(default_factory=list)
    # a passage was asked for on a page without a text layer (a scan): only OCR finds it
    scanned: bool = False

    @property
    def highlights_px(self) -> list[Rect]:
        z = self.zoom
        return [(x0 * z, y0 * z, x1 * z, y1 * z) for x0, y0, x1, y1 in self.highlights_pt]


def _open(path: str) -> pymupdf.Document:
    pymupdf = import_pymupdf()
    mtime = os.stat(path).st_mtime
    cached = _cache.get(path)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    for _, old in _cache.values():
        old.close()
    _cache.clear()
    # the same filetype as indexing used: a text file's pages are laid out alike
    doc = pymupdf.open(path, filetype=document_type(path) or "pdf")
    _cache[path] = (mtime, doc)
    return doc


def close_cached() -> None:
    """Close the cached document (call from the same executor)."""
    for _, doc in _cache.values():
        doc.close()
    _cache.clear()


def page_size(path: str, page: int) -> tuple[int, float, float]:
    """(page count, width, height in points) of a 1-based page (blocking)."""
    doc = _open(path)
    p = doc[max(0, min(page, doc.page_count) - 1)]
    return doc.page_count, p.rect.width, p.rect.height


def render_page(
    path: str,
    page: int,
    zoom: float | None = None,
    fit_width_px: int = 0,
    passage_text: str = "",
    char_start: int = 0,
    char_end: int = 0,
) -> RenderedPage:
    """Render page ``page`` (1-based, clamped) at ``zoom`` (or to fit ``fit_width_px``).

    When a passage is given, its rectangles on the page are found as well.
    Raises ``OSError``/``pymupdf.FileDataError`` for a missing or unreadable file.
    """
    pymupdf = import_pymupdf()
    doc = _open(path)
    if doc.needs_pass:
        raise PermissionError("the PDF is encrypted")
    number = max(1, min(page, doc.page_count))
    pg = doc[number - 1]
    if zoom is None:
        zoom = fit_width_px / pg.rect.width if fit_width_px > 0 and pg.rect.width > 0 else 1.5
    zoom = max(0.2, min(zoom, 8.0))
    pix = pg.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), alpha=False)
    rects: list[Rect] = []
    scanned = False
    if passage_text or char_end > char_start:
        rects = passage_rects(pg, passage_text, char_start, char_end)
        scanned = not rects and not has_text_layer(pg)
    # page coordinates start at the page's top-left corner; pixmaps too
    ox, oy = pg.rect.x0, pg.rect.y0
    return RenderedPage(
        path=path,
        page=number,
        page_count=doc.page_count,
        zoom=zoom,
        width=pix.width,
        height=pix.height,
        stride=pix.stride,
        samples=bytes(pix.samples),
        page_width_pt=pg.rect.width,
        highlights_pt=[(x0 - ox, y0 - oy, x1 - ox, y1 - oy) for x0, y0, x1, y1 in rects],
        scanned=scanned,
    )


def has_text_layer(page: pymupdf.Page) -> bool:
    """Whether the page has text of its own (as extraction counts it)."""
    return visible_chars(page.get_text()) >= MIN_PAGE_CHARS


def ocr_passage_rects(
    path: str, page: int, passage_text: str, char_start: int = 0, char_end: int = 0
) -> list[Rect]:
    """The passage's rectangles on a scanned page, found by OCR (seconds; blocking).

    The page is read as indexing read it (same resolution), so the passage's
    character offsets point into the same text.
    """
    doc = _open(path)
    pg = doc[max(1, min(page, doc.page_count)) - 1]
    textpage = pg.get_textpage_ocr(full=True, dpi=OCR_DPI)
    rects = passage_rects(pg, passage_text, char_start, char_end, textpage)
    ox, oy = pg.rect.x0, pg.rect.y0
    return [(x0 - ox, y0 - oy, x1 - ox, y1 - oy) for x0, y0, x1, y1 in rects]


def _norm(s: str) -> str:
    return " ".join(s.split()).lower()


def _located_words(
    page: pymupdf.Page, text: str, textpage: Any = None
) -> list[tuple[int, int, Rect, int, int]]:
    """Each word of the page as (start, end offset in ``text``, rect, block, line)."""
    out: list[tuple[int, int, Rect, int, int]] = []
    pos = 0
    for x0, y0, x1, y1, word, block, line, _n in page.get_text("words", textpage=textpage):
        at = text.find(word, pos)
        if at < 0 or at - pos > 200 + len(word) * 4:  # not found nearby: skip, keep position
            continue
        out.append((at, at + len(word), (x0, y0, x1, y1), block, line))
        pos = at + len(word)
    return out


def _merge_lines(words: list[tuple[int, int, Rect, int, int]]) -> list[Rect]:
    """One rectangle per text line instead of one per word (reads as a marker stroke)."""
    merged: list[Rect] = []
    key: tuple[int, int] | None = None
    for _s, _e, (x0, y0, x1, y1), block, line in words:
        if merged and key == (block, line):
            a0, b0, a1, b1 = merged[-1]
            merged[-1] = (min(a0, x0), min(b0, y0), max(a1, x1), max(b1, y1))
        else:
            merged.append((x0, y0, x1, y1))
            key = (block, line)
    return merged


def passage_rects(
    page: pymupdf.Page,
    passage_text: str,
    char_start: int = 0,
    char_end: int = 0,
    textpage: Any = None,
) -> list[Rect]:
    """Rectangles (PDF points) covering the passage on ``page``; empty if not found.

    ``textpage``: the page's text as OCR read it (for a scanned page).
    """
    text = page.get_text(textpage=textpage)
    words = _located_words(page, text, textpage)
    if not words:
        return []
    if 0 <= char_start < char_end <= len(text):
        span = text[char_start:char_end]
        head = _norm(passage_text)[:40]
        # trust the offsets when they point at the passage (or no text to compare)
        if not head or _norm(span).startswith(head[: max(8, len(head) // 2)]):
            inside = [w for w in words if w[1] > char_start and w[0] < char_end]
            if inside:
                return _merge_lines(inside)
    return _merge_lines(_words_by_text(text, words, passage_text))


def _words_by_text(
    text: str, words: list[tuple[int, int, Rect, int, int]], passage_text: str
) -> list[tuple[int, int, Rect, int, int]]:
    """The run of page words that spells the passage (its first words anchor the search)."""
    wanted = re.findall(r"\S+", passage_text)
    if not wanted:
        return []
    page_words = [text[s:e] for s, e, *_ in words]
    for anchor in (6, 3, 1):
        a = min(anchor, len(wanted))
        head = wanted[:a]
        for i in range(len(page_words) - a + 1):
            if page_words[i : i + a] == head:
                return words[i : i + len(wanted)]
    return []
