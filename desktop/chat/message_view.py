"""One message in the transcript: a bubble with its text, sources, statistics and actions.

While an answer streams, tokens are appended to a buffer and the bubble is
re-rendered at most every :data:`RENDER_INTERVAL_MS` (Markdown of the whole
text each time: a few milliseconds even for long answers, and it keeps the
rendering exactly what the finished answer will look like). The last render
happens when the answer ends, so the final text is always exact.
"""

from __future__ import annotations

import contextlib
import html
import re

from PySide6.QtCore import QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QResizeEvent, QTextCursor
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.types import GenerationStats, Passage, Role
from desktop.chat.markdown import MarkdownRenderer
from desktop.theme import bubble_colors

RENDER_INTERVAL_MS = 80
FENCE = re.compile(r"^ {0,3}(```|~~~)")


def stable_boundary(text: str) -> int:
    """Where the finished blocks of streaming Markdown end (0: none finished yet).

    That is just after the last blank line that is outside a code fence and is
    followed by a new top-level block (not an indented continuation).
    """
    boundary = 0
    in_fence = False
    pos = 0
    lines = text.split("\n")
    for i, line in enumerate(lines[:-1]):  # the last line may still be growing
        pos += len(line) + 1
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and not line.strip():
            nxt = lines[i + 1]
            if nxt and not nxt[0].isspace():
                boundary = pos
    return boundary


class AutoHeightBrowser(QTextBrowser):
    """A text browser as tall as its content (the transcript scrolls, not each bubble)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setOpenLinks(False)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.viewport().setAutoFillBackground(False)
        self.document().setDocumentMargin(2)
        self.document().contentsChanged.connect(self._fit)
        self._fit_pending = False

    def _fit(self) -> None:
        # one height update per event-loop turn, however many edits a render makes: laying
        # out the document to measure it is the expensive part
        if not self._fit_pending:
            self._fit_pending = True
            # with self as the context: a bubble deleted meanwhile (a conversation
            # switched, the window closed) cancels the call instead of meeting it dead
            QTimer.singleShot(0, self, self._apply_fit)

    def _apply_fit(self) -> None:
        self._fit_pending = False
        # QTextEdit keeps the document as wide as the viewport itself (WidgetWidth wrapping);
        # setting the width here again would throw the whole layout away each time
        height = int(self.document().size().height()) + 4
        if height != self.height():
            self.setFixedHeight(height)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(400, self.height())


class MessageView(QFrame):
    """A chat bubble. Emits requests for the actions; the chat pane carries them out."""

    copy_requested = Signal(object)  # self
    edit_requested = Signal(object)
    regenerate_requested = Signal(object)
    citation_clicked = Signal(int)  # 1-based source number

    def __init__(
        self,
        role: Role,
        text: str,
        renderer: MarkdownRenderer,
        *,
        message_id: int | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.role = role
        self.message_id = message_id
        self.renderer = renderer
        self._text = text
        self._status = ""
        self._error = ""
        # incremental rendering: text already fixed in the document, and where the tail starts
        self._stable_len = 0
        self._tail_pos = 0
        self._rendered_prefix = ""
        self.sources: tuple[Passage, ...] = ()
        self.stats: GenerationStats | None = None
        colors = bubble_colors(renderer.dark)
        self._colors = colors
        self.setObjectName("userBubble" if role == "user" else "assistantBubble")
        bg = colors["user_bg"] if role == "user" else colors["assistant_bg"]
        self.setStyleSheet(
            f"QFrame#{self.objectName()} {{ background: {bg}; border: 1px solid "
            f"{colors['border']}; border-radius: 10px; }}"
        )
        who = QLabel("You" if role == "user" else "Lectern")
        who.setStyleSheet(f"color: {colors['muted']}; font-weight: 600;")
        self.copy_button = self._tool("Copy", "Copy this message to the clipboard")
        self.copy_button.clicked.connect(lambda: self.copy_requested.emit(self))
        self.edit_button = self._tool("Edit", "Edit this message and send it again")
        self.edit_button.clicked.connect(lambda: self.edit_requested.emit(self))
        self.regenerate_button = self._tool("Regenerate", "Answer this question again")
        self.regenerate_button.clicked.connect(lambda: self.regenerate_requested.emit(self))
        self.edit_button.setVisible(role == "user")
        self.regenerate_button.setVisible(False)
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(who)
        header.addStretch(1)
        for b in (self.edit_button, self.regenerate_button, self.copy_button):
            header.addWidget(b)

        self.body = AutoHeightBrowser()
        self.body.setAccessibleName("Your message" if role == "user" else "Answer")
        self.body.anchorClicked.connect(self._on_anchor)
        self.sources_label = QLabel()
        self.sources_label.setAccessibleName("Sources")
        self.sources_label.setWordWrap(True)
        self.sources_label.setTextFormat(Qt.TextFormat.RichText)
        self.sources_label.linkActivated.connect(self._on_link)
        self.sources_label.hide()
        self.footer = QLabel()
        self.footer.setAccessibleName("Answer statistics")
        self.footer.setWordWrap(True)
        self.footer.setStyleSheet(f"color: {colors['muted']}; font-size: 11px;")
        self.footer.hide()
        self.error_label = QLabel()
        self.error_label.setAccessibleName("Error")
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet(
            f"background: {colors['error_bg']}; color: {colors['error_fg']};"
            " border-radius: 6px; padding: 6px;"
        )
        self.error_label.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 8)
        layout.setSpacing(4)
        layout.addLayout(header)
        layout.addWidget(self.body)
        layout.addWidget(self.error_label)
        layout.addWidget(self.sources_label)
        layout.addWidget(self.footer)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(RENDER_INTERVAL_MS)
        self._timer.timeout.connect(self.render_now)
        self.renders = 0  # how often the body was re-rendered (tests, bench)
        self.render_now()

    def _tool(self, text: str, tip: str) -> QToolButton:
        b = QToolButton()
        b.setText(text)
        b.setToolTip(tip)
        b.setAccessibleName(text)
        b.setAutoRaise(True)
        b.setCursor(Qt.CursorShape.PointingHandCursor)
        return b

    # -- text ----------------------------------------------------------------
    @property
    def text(self) -> str:
        return self._text

    def shown_text(self) -> str:
        """What the reader sees now (plain text of the rendered body)."""
        return self.body.toPlainText()

    def append(self, piece: str) -> None:
        """Add streamed text; rendered within :data:`RENDER_INTERVAL_MS`."""
        self._text += piece
        self._status = ""
        if not self._timer.isActive():
            self._timer.start()

    def set_text(self, text: str) -> None:
        self._text = text
        self.render_now()

    def set_status(self, status: str) -> None:
        """A short grey line shown while there is no text yet ("Loading the model…")."""
        self._status = status
        self.render_now()

    def render_now(self) -> None:
        self._timer.stop()
        self.renders += 1
        if self._text and self.role == "assistant":
            self._render_incrementally()
            return
        self._stable_len = self._tail_pos = 0
        if self._text:
            # the user's words are shown as typed, not interpreted as Markdown
            body = html.escape(self._text).replace("\n", "<br>")
            self.body.setHtml(f"<p>{body}</p>")
        else:
            muted = self._colors["muted"]
            self.body.setHtml(f'<p style="color:{muted}"><i>{html.escape(self._status)}</i></p>')

    def _render_incrementally(self) -> None:
        """Re-render only the text after the last finished block.

        Finished blocks (before the last blank line outside a code fence) are
        rendered once and stay in the document; only the growing tail is
        replaced. A render costs the size of the last paragraph or code block,
        not of the whole answer, so long answers stream as smoothly as short ones.
        """
        doc = self.body.document()
        boundary = stable_boundary(self._text)
        if (
            self._stable_len == 0
            or boundary < self._stable_len
            or not self._text.startswith(self._rendered_prefix)
        ):
            doc.clear()
            self._stable_len = self._tail_pos = 0
            self._rendered_prefix = ""
        cursor = QTextCursor(doc)
        cursor.setPosition(self._tail_pos)
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        if boundary > self._stable_len:
            cursor.insertHtml(self.renderer.render(self._text[self._stable_len : boundary]))
            cursor.insertBlock()
            self._stable_len = boundary
            self._tail_pos = cursor.position()
            self._rendered_prefix = self._text[:boundary]
        tail = self._text[self._stable_len :]
        if tail.strip():
            cursor.insertHtml(self.renderer.render(tail))

    # -- outcome -------------------------------------------------------------
    def set_sources(self, passages: tuple[Passage, ...], searched_for: str = "") -> None:
        """The answer's sources as links, after what was searched for when the question's
        spelling was corrected."""
        self.sources = passages
        lines = []
        if searched_for:
            muted = self._colors["muted"]
            lines.append(
                f'<span style="color:{muted}">Searched for: <i>{html.escape(searched_for)}</i>'
                "</span>"
            )
        if passages:
            link = self.renderer.colors["link"]
            items = [
                f'<a style="color:{link}; text-decoration:none" href="cite:{i}">[{i}] '
                f"{html.escape(p.file)}, p.&nbsp;{p.page}</a>"
                for i, p in enumerate(passages, 1)
            ]
            lines.append("Sources: " + " &nbsp;·&nbsp; ".join(items))
        self.sources_label.setText("<br>".join(lines))
        self.sources_label.setVisible(bool(lines))

    def set_stats(self, stats: GenerationStats | None, note: str = "") -> None:
        from core.storage.recording import stats_summary

        self.stats = stats
        line = " · ".join(x for x in (note, stats_summary(stats)) if x)
        self.footer.setText(line)
        self.footer.setVisible(bool(line))

    def set_error(self, message: str, hint: str = "") -> None:
        text = f"<b>{html.escape(message)}</b>"
        if hint:
            text += f"<br>{html.escape(hint[0].upper() + hint[1:])}."
        self.error_label.setText(text)
        self.error_label.show()
        self._error = f"{message} {hint}".strip()

    @property
    def error_text(self) -> str:
        """The error shown in place ("" when none)."""
        return self._error

    def finish(self) -> None:
        """The answer is complete: render the exact final text."""
        self.render_now()

    # -- links ---------------------------------------------------------------
    def _on_anchor(self, url: QUrl) -> None:
        self._on_link(url.toString())

    def _on_link(self, href: str) -> None:
        if href.startswith("cite:"):
            with contextlib.suppress(ValueError):
                self.citation_clicked.emit(int(href.removeprefix("cite:")))
        elif href.startswith(("http://", "https://")):
            from PySide6.QtGui import QDesktopServices

            QDesktopServices.openUrl(QUrl(href))
