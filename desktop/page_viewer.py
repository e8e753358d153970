"""The page viewer: a PDF page rendered with PyMuPDF, the cited passage highlighted.

Opened by clicking a citation. Rendering runs in the ``"viewer"`` executor
(never on the GUI thread); only the finished pixels are painted here. A newer
request supersedes an older one still rendering, so paging quickly through a
large document never queues up stale pages.
"""

from __future__ import annotations

import dataclasses
import html
from pathlib import Path

from PySide6.QtCore import QPoint, QRectF, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QColor,
    QDesktopServices,
    QImage,
    QKeySequence,
    QPainter,
    QPixmap,
    QResizeEvent,
    QShortcut,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.documents.extraction import tesseract_available
from core.executors import run_blocking, run_in_process
from core.types import Passage
from desktop.bridge import EngineBridge
from desktop.documents.page_render import Rect, RenderedPage, ocr_passage_rects, render_page
from desktop.errors import error_text

HIGHLIGHT = QColor(255, 214, 10, 150)  # marker yellow
ZOOM_STEP = 1.25


class _PageCanvas(QScrollArea):
    """Scrollable page image; Ctrl+wheel zooms."""

    zoom_requested = Signal(float)  # factor
    width_changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setWidget(self.image)
        self.setWidgetResizable(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setStyleSheet("QScrollArea { background: #5a5a5a; } QLabel { background: #5a5a5a; }")

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self.width_changed.emit()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom_requested.emit(ZOOM_STEP if event.angleDelta().y() > 0 else 1 / ZOOM_STEP)
            event.accept()
            return
        super().wheelEvent(event)


class PageViewer(QWidget):
    """A window showing one PDF page at a time; :meth:`show_passage` opens a citation."""

    rendered = Signal()  # a page is on screen (tests wait for it)
    render_failed = Signal(str)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("pageViewer")
        self.bridge = bridge
        self.path = ""
        self.page_number = 0  # 1-based; 0 before the first render
        self.page_count = 0
        self.zoom: float | None = None  # None: fit the page to the window's width
        self.passage: Passage | None = None
        self.highlight_rects: list[Rect] = []  # PDF points, on the passage's page only
        self._request = 0
        self._tag = f"viewer:render:{id(self)}"
        bridge.failed.connect(self._on_failed)
        self.resize(760, 900)

        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setWordWrap(True)
        self.quote = QLabel()
        self.quote.setWordWrap(True)
        self.quote.setTextFormat(Qt.TextFormat.RichText)
        self.quote.setStyleSheet(
            "QLabel { background: #fff6cc; color: #3a3000; border-left: 4px solid #e6a000;"
            " padding: 6px; }"
        )
        self.quote.setMaximumHeight(90)

        self.prev_button = self._tool("‹ Previous", "Previous page (PgUp)", self.previous_page)
        self.next_button = self._tool("Next ›", "Next page (PgDown)", self.next_page)
        self.page_box = QSpinBox()
        self.page_box.setAccessibleName("Page")
        self.page_box.setKeyboardTracking(False)
        self.page_box.valueChanged.connect(self._on_page_box)
        self.count_label = QLabel()
        self.zoom_out_button = self._tool("−", "Zoom out (Ctrl+-)", self.zoom_out)
        self.zoom_label = QLabel("Fit")
        self.zoom_label.setMinimumWidth(44)
        self.zoom_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.zoom_in_button = self._tool("+", "Zoom in (Ctrl++)", self.zoom_in)
        self.fit_button = self._tool("Fit width", "Fit the page to the window", self.fit_width)
        self.system_button = self._tool(
            "Open in system viewer",
            "Open the document in your usual application for it",
            self.open_external,
        )
        self.status = QLabel()
        self.status.setStyleSheet("color: #a00;")
        self.status.setWordWrap(True)
        self.status.hide()

        bar = QHBoxLayout()
        for w in (self.prev_button, self.page_box, self.count_label, self.next_button):
            bar.addWidget(w)
        bar.addSpacing(16)
        for w in (self.zoom_out_button, self.zoom_label, self.zoom_in_button, self.fit_button):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.system_button)

        self.canvas = _PageCanvas()
        self.canvas.zoom_requested.connect(self._zoom_by)
        # fit-to-width follows the window's width, re-rendered once resizing pauses
        self._refit = QTimer(self)
        self._refit.setSingleShot(True)
        self._refit.setInterval(120)
        self._refit.timeout.connect(self._on_refit)
        self.canvas.width_changed.connect(self._refit.start)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.quote)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        layout.addWidget(self.canvas, 1)

        for keys, slot in (
            (QKeySequence.StandardKey.MoveToPreviousPage, self.previous_page),
            (QKeySequence.StandardKey.MoveToNextPage, self.next_page),
            (QKeySequence.StandardKey.ZoomIn, self.zoom_in),
            (QKeySequence.StandardKey.ZoomOut, self.zoom_out),
            (QKeySequence.StandardKey.Close, self.close),
        ):
            QShortcut(QKeySequence(keys), self, slot)
        self._update_controls()

    def _tool(self, text: str, tip: str, slot: object) -> QToolButton:
        b = QToolButton()
        b.setText(text)
        b.setToolTip(tip)
        b.setAccessibleName(tip.split(" (")[0])
        b.clicked.connect(slot)
        return b

    # -- opening ------------------------------------------------------------
    def show_passage(self, passage: Passage) -> None:
        """Open the cited page with the passage highlighted, and bring the window up."""
        self.passage = passage
        self.quote.setText(f"“{html.escape(_shorten(passage.text, 420))}”")
        self.quote.setVisible(bool(passage.text))
        self.open_page(passage.path or passage.file, passage.page)

    def open_page(self, path: str, page: int) -> None:
        """Show ``page`` (1-based) of the PDF at ``path``."""
        if self.passage is not None and (self.passage.path or self.passage.file) != path:
            self.passage = None
            self.quote.hide()
        self.path = path
        self.setWindowTitle(f"{Path(path).name} — Lectern")
        self.show()
        self.raise_()
        self.activateWindow()
        self._render(page)

    # -- navigation -----------------------------------------------------------
    def previous_page(self) -> None:
        if self.page_number > 1:
            self._render(self.page_number - 1)

    def next_page(self) -> None:
        if self.page_number < self.page_count:
            self._render(self.page_number + 1)

    def zoom_in(self) -> None:
        self._zoom_by(ZOOM_STEP)

    def zoom_out(self) -> None:
        self._zoom_by(1 / ZOOM_STEP)

    def fit_width(self) -> None:
        self.zoom = None
        self._render(self.page_number or 1)

    def open_external(self) -> None:
        """Hand the PDF to the desktop's PDF application."""
        if self.path:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.path))

    def _zoom_by(self, factor: float) -> None:
        if not self.path:
            return
        current = self.zoom if self.zoom is not None else self._last_zoom
        self.zoom = max(0.25, min(current * factor, 6.0))
        self._render(self.page_number or 1)

    def _on_refit(self) -> None:
        if self.zoom is None and self.path and self.page_number:
            self._render(self.page_number)

    def fit_width_px(self) -> int:
        """The width a page gets in fit-to-width mode (device-independent pixels)."""
        # from the scroll area's outer width, so a scroll bar appearing does not change it
        c = self.canvas
        inner = c.width() - 2 * c.frameWidth() - c.verticalScrollBar().sizeHint().width()
        return max(200, inner - 24)

    def _on_page_box(self, value: int) -> None:
        if self.path and value != self.page_number:
            self._render(value)

    # -- rendering ----------------------------------------------------------------
    _last_zoom = 1.0

    def _render(self, page: int) -> None:
        self._request += 1
        request = self._request
        p = self.passage
        on_passage_page = p is not None and p.page == page
        dpr = self.devicePixelRatioF()
        fit = self.fit_width_px()
        coro = run_blocking(
            "viewer",
            render_page,
            self.path,
            page,
            zoom=None if self.zoom is None else self.zoom * dpr,
            fit_width_px=int(fit * dpr),
            passage_text=p.text if p is not None and on_passage_page else "",
            char_start=p.char_start if p is not None and on_passage_page else 0,
            char_end=p.char_end if p is not None and on_passage_page else 0,
        )
        self.bridge.submit(
            f"{self._tag}:{request}",
            coro,
            on_done=lambda result: self._show(request, result),
        )

    def _on_failed(self, tag: str, error: BaseException) -> None:
        if not tag.startswith(f"{self._tag}:") or tag != f"{self._tag}:{self._request}":
            return
        message, _hint = error_text(error)
        if isinstance(error, OSError | RuntimeError | ValueError):
            message = f"Cannot show {Path(self.path).name}: {error}"
        self._say(message, error=True)
        self.render_failed.emit(message)

    def _say(self, text: str, error: bool) -> None:
        """A line above the page: an error in red, a note in grey."""
        self.status.setStyleSheet("color: #a00;" if error else "color: palette(placeholder-text);")
        self.status.setText(text)
        self.status.show()

    def _find_by_ocr(self, request: int, page: RenderedPage) -> None:
        """A passage on a scanned page: read the page by OCR (seconds), then highlight."""
        p = self.passage
        if p is None or not tesseract_available():
            return
        self._say("Finding the passage on this scanned page (OCR)…", error=False)
        # in a process of its own: PyMuPDF holds the interpreter lock for the whole
        # OCR call (3.6 s for a page here), which from a thread froze the window
        coro = run_in_process(
            "viewer-ocr", ocr_passage_rects, self.path, page.page, p.text, p.char_start, p.char_end
        )

        def found(rects: list[Rect]) -> None:
            if request != self._request:
                return  # the reader moved on
            self.status.hide()
            if rects:
                shown = dataclasses.replace(page, highlights_pt=rects, scanned=False)
                self._show(request, shown)

        self.bridge.submit(f"{self._tag}:{request}", coro, on_done=found)

    def _show(self, request: int, page: RenderedPage) -> None:
        if request != self._request:
            return  # a newer page was asked for meanwhile
        self.status.hide()
        if page.scanned:
            self._find_by_ocr(request, page)
        dpr = self.devicePixelRatioF()
        self._last_zoom = page.zoom / dpr
        image = QImage(
            page.samples, page.width, page.height, page.stride, QImage.Format.Format_RGB888
        ).copy()  # own the pixels; ``samples`` goes away with the render result
        self.highlight_rects = list(page.highlights_pt)
        if page.highlights_pt:
            # a marker stroke: filled, no outline (outlines of stacked lines look like a
            # table); multiplied, so the text stays black on yellow
            painter = QPainter(image)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(HIGHLIGHT)
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Multiply)
            pad = max(1, round(page.zoom))
            for x0, y0, x1, y1 in page.highlights_px:
                painter.drawRect(QRectF(x0 - pad, y0, x1 - x0 + 2 * pad, y1 - y0))
            painter.end()
        pixmap = QPixmap.fromImage(image)
        pixmap.setDevicePixelRatio(dpr)
        self.canvas.image.setPixmap(pixmap)
        self.canvas.image.setMinimumSize(int(page.width / dpr), int(page.height / dpr))
        self.page_number = page.page
        self.page_count = page.page_count
        self._update_controls()
        if page.highlights_px:
            # bring the passage into view, a little below the top edge
            y = int(page.highlights_px[0][1] / dpr)
            self.canvas.verticalScrollBar().setValue(max(0, y - 80))
        else:
            self.canvas.verticalScrollBar().setValue(0)
        self.rendered.emit()

    def _update_controls(self) -> None:
        name = html.escape(Path(self.path).name) if self.path else "No document"
        where = f" — page {self.page_number} of {self.page_count}" if self.page_number else ""
        self.title.setText(f"<b>{name}</b>{where}")
        self.page_box.blockSignals(True)
        self.page_box.setRange(1 if self.page_count else 0, max(self.page_count, 1))
        self.page_box.setValue(self.page_number)
        self.page_box.blockSignals(False)
        self.count_label.setText(f"of {self.page_count}" if self.page_count else "")
        self.prev_button.setEnabled(self.page_number > 1)
        self.next_button.setEnabled(0 < self.page_number < self.page_count)
        has = bool(self.path)
        for b in (self.zoom_in_button, self.zoom_out_button, self.fit_button, self.system_button):
            b.setEnabled(has)
        self.zoom_label.setText("Fit" if self.zoom is None else f"{self.zoom * 100 / 1.0:.0f}%")

    def scroll_position(self) -> QPoint:
        """Where the page is scrolled to (for tests and restoring)."""
        return QPoint(
            self.canvas.horizontalScrollBar().value(), self.canvas.verticalScrollBar().value()
        )


def _shorten(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rsplit(" ", 1)[0] + "…"
