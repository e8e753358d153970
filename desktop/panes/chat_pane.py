"""The chat pane: conversations on the left, the transcript and the message box on the right.

It drives the engine only through the bridge. An answer is one stream under
the tag :data:`ChatPane.TAG` (one generation at a time, as llama.cpp serves
one); the engine stores the messages as they arrive (``Engine.send_message``),
so this pane only shows them. Engine errors appear in place in the answer's
bubble with their hint, never as a traceback.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.events import Done, Event, Failed, Progress, Sources, Token
from core.settings import GenerationSettings
from core.storage.conversations import Conversation, MessageStored, StoredMessage
from core.types import Passage, Role
from desktop.bridge import EngineBridge
from desktop.chat.composer import Composer
from desktop.chat.conversation_list import ConversationList
from desktop.chat.markdown import MarkdownRenderer
from desktop.chat.message_view import MessageView
from desktop.chat.transcript import Transcript
from desktop.elided_label import ElidedLabel
from desktop.errors import error_line, error_text
from desktop.theme import is_dark

STATUS_NOTES = {"stopped": "stopped", "streaming": "interrupted", "failed": "failed"}


class ChatPane(QWidget):
    """Conversation list, transcript and input; emits ``citation_activated(Passage)``."""

    TAG = "chat"

    citation_activated = Signal(object)  # core.types.Passage
    answer_finished = Signal(object)  # GenerationStats | None
    conversation_changed = Signal(object)  # Conversation | None
    model_changed = Signal()  # a chat loaded a model (the status bar shows it)
    status_message = Signal(str)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatPane")
        self.bridge = bridge
        self.engine = bridge.engine
        self.renderer = MarkdownRenderer(dark=is_dark())
        self.conversation: Conversation | None = None
        self.active_libraries: list[str] = []
        self._library_documents: dict[str, int] | None = None  # None: not known yet
        self.model: str | None = None
        self.sampling: GenerationSettings | None = None
        self._answer_view: MessageView | None = None
        self._user_view: MessageView | None = None
        self._editing: MessageView | None = None
        self._first_token_at: float | None = None

        self.conversation_list = ConversationList()
        self.conversations = self.conversation_list.list
        self.title_label = ElidedLabel("New chat", mode=Qt.TextElideMode.ElideRight, tooltip=True)
        self.title_label.setAccessibleName("Conversation title")
        self.title_label.setStyleSheet("font-weight: 600; font-size: 14px;")
        self.system_button = QPushButton("System prompt…")
        self.system_button.setAccessibleName("System prompt")
        self.system_button.setToolTip("Instructions the model follows in this conversation")
        self.export_button = QPushButton("Export…")
        self.export_button.setAccessibleName("Export conversation to Markdown")
        self.transcript = Transcript(self.renderer)
        self.scope_label = QLabel()
        self.scope_label.setAccessibleName("Answering from")
        self.scope_label.setStyleSheet("color: palette(placeholder-text); font-size: 11px;")
        self.edit_banner = QLabel("Editing a message: Ctrl+Enter sends it again, Esc cancels.")
        self.edit_banner.setAccessibleName("Editing")
        self.edit_banner.hide()
        self.input = Composer()
        self.send_button = QPushButton("Send")
        self.send_button.setAccessibleName("Send")
        self.send_button.setToolTip("Send (Ctrl+Enter)")
        self.send_button.setDefault(True)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setAccessibleName("Stop")
        self.stop_button.setToolTip("Stop the answer (Esc)")
        self.stop_button.hide()

        header = QHBoxLayout()
        header.addWidget(self.title_label, 1)
        header.addWidget(self.system_button)
        header.addWidget(self.export_button)
        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        row.addLayout(buttons)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addLayout(header)
        rl.addWidget(self.transcript, 1)
        rl.addWidget(self.edit_banner)
        rl.addWidget(self.scope_label)
        rl.addLayout(row)
        split = QSplitter()
        split.addWidget(self.conversation_list)
        split.addWidget(right)
        split.setStretchFactor(1, 3)
        split.setSizes([180, 480])
        split.setChildrenCollapsible(False)
        self.splitter = split
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(split)

        self.input.submitted.connect(self.send)
        self.input.escaped.connect(self.escape)
        self.send_button.clicked.connect(self.send)
        self.stop_button.clicked.connect(self.stop)
        self.system_button.clicked.connect(self._edit_current_system_prompt)
        self.export_button.clicked.connect(self._export_current)
        cl = self.conversation_list
        cl.selected.connect(self.open_conversation)
        cl.new_requested.connect(self.new_chat)
        cl.search_changed.connect(self.refresh_conversations)
        cl.rename_requested.connect(self.rename_conversation)
        cl.delete_requested.connect(self.delete_conversation)
        cl.export_requested.connect(self.export_conversation)
        cl.system_prompt_requested.connect(self.edit_system_prompt)
        esc = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        esc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        esc.activated.connect(self.escape)
        bridge.engine_event.connect(self._on_event)
        bridge.finished.connect(self._on_finished)
        bridge.failed.connect(self._on_failed)
        self._update_header()
        self._update_scope()

    # -- public API ------------------------------------------------------------
    @property
    def streaming(self) -> bool:
        return self.bridge.busy(self.TAG)

    def start(self) -> None:
        """List the stored conversations (after the window is shown)."""
        self.refresh_conversations()

    def set_active_libraries(self, names: list[str]) -> None:
        """Answer from these libraries (``[]``: plain chat); the documents pane calls it.

        Libraries without documents cannot ground an answer: the engine leaves
        them out, and the line above the message box says so.
        """
        self.active_libraries = list(names)
        self._library_documents = None
        self._update_scope()
        if names and hasattr(self.engine, "list_libraries"):
            self.bridge.submit(
                "chat-libraries", self.engine.list_libraries(), on_done=self._got_libraries
            )

    def _got_libraries(self, infos: list[Any]) -> None:
        self._library_documents = {i.name: i.documents for i in infos}
        self._update_scope()

    def set_model(self, model_id: str | None, sampling: GenerationSettings | None = None) -> None:
        """The model (and its sampling settings) that answers from now on."""
        self.model = model_id
        self.sampling = sampling

    def set_dark(self, dark: bool) -> None:
        """Switch the answer colours (code, links, bubbles) to the light or dark scheme."""
        if dark == self.renderer.dark:
            return
        self.renderer = MarkdownRenderer(dark=dark)
        self.transcript.renderer = self.renderer
        if self.conversation is not None and not self.streaming:
            conv_id, self.conversation = self.conversation.id, None
            self.open_conversation(conv_id)  # redraw the bubbles in the new colours

    def new_chat(self) -> None:
        """Start a new conversation (stored when its first message is sent)."""
        self._cancel_edit()
        self._detach_stream()
        self.conversation = None
        self.transcript.clear()
        self.conversation_list.mark_current(None)
        self._update_header()
        self.conversation_changed.emit(None)
        self.input.setFocus()

    def focus_search(self) -> None:
        self.conversation_list.focus_search()

    def send(self) -> None:
        """Send the message box's text (or resend the message being edited)."""
        text = self.input.toPlainText().strip()
        if not text or self.streaming:
            return
        self.input.clear()
        editing = self._editing
        self._cancel_edit()
        if editing is not None and editing.message_id is not None and self.conversation:
            self.transcript.remove_from(editing)
            self._user_view = self._add_view("user", text)
            events = self.engine.edit_and_resend(
                self.conversation.id,
                editing.message_id,
                text,
                libraries=self.active_libraries,
                model=self.model,
                sampling=self.sampling,
            )
        else:
            self._user_view = self._add_view("user", text)
            events = self._new_turn(text)
        self._start_answer(events)

    def stop(self) -> None:
        """Stop the answer being generated (what was shown is kept)."""
        if not self.streaming:
            return
        stop = getattr(self.engine, "stop_generation", None)
        if stop is not None:
            stop()
        else:
            self.bridge.cancel(self.TAG)
        self.status_message.emit("Stopping…")

    def escape(self) -> None:
        if self.streaming:
            self.stop()
        elif self._editing is not None:
            self._cancel_edit()
            self.input.clear()

    def regenerate(self) -> None:
        """Answer the last question again (the old answer is replaced)."""
        if self.streaming or self.conversation is None:
            return
        users = [v for v in self.transcript.views if v.role == "user"]
        if not users:
            return
        last = users[-1]
        i = self.transcript.views.index(last)
        if i + 1 < len(self.transcript.views):
            self.transcript.remove_from(self.transcript.views[i + 1])
        self._user_view = None
        self._start_answer(
            self.engine.regenerate(
                self.conversation.id,
                libraries=self.active_libraries,
                model=self.model,
                sampling=self.sampling,
            )
        )

    def edit_message(self, view: MessageView) -> None:
        """Put a sent message back into the message box for editing and resending."""
        if self.streaming or view.message_id is None:
            return
        self._editing = view
        self.input.setPlainText(view.text)
        self.input.setFocus()
        self.edit_banner.show()

    def copy_message(self, view: MessageView) -> None:
        QGuiApplication.clipboard().setText(view.text)
        self.status_message.emit("Copied to the clipboard.")

    def open_conversation(self, conversation_id: str) -> None:
        """Show a stored conversation."""
        if self.conversation is not None and self.conversation.id == conversation_id:
            return
        self._cancel_edit()
        self._detach_stream()

        async def load() -> tuple[Conversation, list[StoredMessage]]:
            conv = await self.engine.get_conversation(conversation_id)
            return conv, await self.engine.conversation_messages(conversation_id)

        self.bridge.submit("chat-open", load(), on_done=self._show_conversation)

    def refresh_conversations(self, query: str | None = None) -> None:
        q = self.conversation_list.search.text() if query is None else query
        self.bridge.submit(
            "chat-list",
            self.engine.list_conversations(q),
            on_done=self.conversation_list.set_conversations,
        )

    def rename_conversation(self, conversation_id: str, title: str | None = None) -> None:
        if title is None:
            current = self.conversation.title if self.conversation else ""
            title, ok = QInputDialog.getText(self, "Rename chat", "Title:", text=current)
            if not ok or not title.strip():
                return
        self.bridge.submit(
            "chat-rename",
            self.engine.rename_conversation(conversation_id, title),
            on_done=self._conversation_updated,
        )

    def delete_conversation(self, conversation_id: str, confirm: bool = True) -> None:
        if confirm:
            answer = QMessageBox.question(
                self, "Delete chat", "Delete this conversation? This cannot be undone."
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        if self.conversation is not None and self.conversation.id == conversation_id:
            self.new_chat()

        async def delete() -> None:
            await self.engine.delete_conversation(conversation_id)

        self.bridge.submit("chat-delete", delete(), on_done=lambda _r: self.refresh_conversations())

    def export_conversation(self, conversation_id: str, path: str | None = None) -> None:
        if path is None:
            title = self.conversation.title if self.conversation else "chat"
            safe = "".join(c if c.isalnum() or c in " -_" else "_" for c in title).strip() or "chat"
            path, _ = QFileDialog.getSaveFileName(
                self, "Export chat", str(Path.home() / f"{safe}.md"), "Markdown (*.md)"
            )
            if not path:
                return
        self.bridge.submit(
            "chat-export",
            self.engine.export_conversation(conversation_id, path),
            on_done=lambda p: self.status_message.emit(f"Exported to {p}"),
        )

    def edit_system_prompt(self, conversation_id: str, prompt: str | None = None) -> None:
        if prompt is None:
            current = self.conversation.system_prompt if self.conversation else ""
            prompt, ok = QInputDialog.getMultiLineText(
                self, "System prompt", "Instructions the model follows in this chat:", current
            )
            if not ok:
                return
        self.bridge.submit(
            "chat-system",
            self.engine.set_system_prompt(conversation_id, prompt),
            on_done=self._conversation_updated,
        )

    # -- answers ---------------------------------------------------------------
    async def _new_turn(self, text: str) -> AsyncIterator[Event]:
        if self.conversation is None:
            conv = await self.engine.create_conversation()
            self._set_conversation(conv)
        assert self.conversation is not None
        async for ev in self.engine.send_message(
            self.conversation.id,
            text,
            libraries=self.active_libraries,
            model=self.model,
            sampling=self.sampling,
        ):
            yield ev

    def _start_answer(self, events: AsyncIterator[Event]) -> None:
        for v in self.transcript.views:
            v.regenerate_button.hide()
        view = self._add_view("assistant", "")
        view.set_status("Thinking…")
        view.set_stats(None, "Writing…  (Esc stops)")
        self._answer_view = view
        self._first_token_at = None
        self.send_button.setEnabled(False)
        self.stop_button.show()
        self.bridge.stream(self.TAG, events)

    def _detach_stream(self) -> None:
        """Stop showing a running answer (the engine still stores it) and stop it."""
        if self.streaming:
            self.stop()
        self._answer_view = None
        self._user_view = None

    def _on_event(self, tag: str, ev: Event) -> None:
        if tag != self.TAG:
            return
        view = self._answer_view
        if isinstance(ev, Token):
            if view is not None:
                if self._first_token_at is None:
                    self._first_token_at = time.monotonic()
                view.append(ev.text)
        elif isinstance(ev, MessageStored):
            if ev.message.role == "user":
                if self._user_view is not None:
                    self._user_view.message_id = ev.message.id
                # the first message names the conversation: show the new title
                self.bridge.submit(
                    "chat-title",
                    self.engine.get_conversation(ev.message.conversation_id),
                    on_done=self._conversation_updated,
                )
            elif view is not None:
                view.message_id = ev.message.id
        elif isinstance(ev, Sources):
            if view is not None:
                view.set_sources(tuple(ev.passages), ev.searched_for)
        elif isinstance(ev, Progress):
            if ev.task == "load" and ev.total and ev.done >= ev.total:
                self.model_changed.emit()
            if view is not None and not view.text:
                what = "Loading the model" if ev.task == "load" else ev.message or ev.task
                pct = f" {100 * ev.done / ev.total:.0f}%" if ev.total else ""
                view.set_status(f"{what}…{pct}")
        elif isinstance(ev, Done):
            if view is not None:
                view.set_text(ev.text or view.text)
                view.set_stats(ev.stats, "stopped" if ev.cancelled else "")
                view.finish()
                if not view.text and not ev.cancelled:
                    view.set_status("(no answer)")
            self.answer_finished.emit(ev.stats)
        elif isinstance(ev, Failed):
            if view is not None:
                view.set_error(ev.error.message, ev.error.hint)
                view.set_stats(None, STATUS_NOTES["failed"])
                view.finish()
                if not view.text:
                    view.set_status("")
            self.answer_finished.emit(None)

    def _on_finished(self, tag: str) -> None:
        if tag != self.TAG:
            return
        self.send_button.setEnabled(True)
        self.stop_button.hide()
        if self._answer_view is not None:
            self._answer_view.finish()
        self._answer_view = None
        self._user_view = None
        self._show_regenerate()
        self.refresh_conversations()

    def _on_failed(self, tag: str, error: BaseException) -> None:
        if tag == self.TAG and self._answer_view is not None:
            message, hint = error_text(error)
            self._answer_view.set_error(message, hint)
            self._answer_view.set_status("")
            self._answer_view.set_stats(None, STATUS_NOTES["failed"])
        elif tag.startswith("chat"):
            self.status_message.emit(error_line(error))

    # -- showing conversations -------------------------------------------------
    def _add_view(self, role: Role, text: str, message_id: int | None = None) -> MessageView:
        view = self.transcript.add(role, text, message_id)
        self._connect_view(view)
        return view

    def _connect_view(self, view: MessageView) -> None:
        view.copy_requested.connect(self.copy_message)
        view.edit_requested.connect(self.edit_message)
        view.regenerate_requested.connect(lambda _v: self.regenerate())
        view.citation_clicked.connect(lambda n, v=view: self._cite(v, n))

    def _cite(self, view: MessageView, number: int) -> None:
        if 1 <= number <= len(view.sources):
            passage: Passage = view.sources[number - 1]
            self.citation_activated.emit(passage)

    def _show_conversation(self, loaded: tuple[Conversation, list[StoredMessage]]) -> None:
        conv, messages = loaded
        self._set_conversation(conv)
        self.transcript.clear()
        for m in messages:
            if m.role == "system":
                continue
            view = self._add_view(m.role, m.content, m.id)
            if m.role == "assistant":
                view.set_sources(m.sources, m.searched_for)
                view.set_stats(m.stats, STATUS_NOTES.get(m.status, ""))
                if m.status == "failed":
                    message, _, hint = m.error.partition(" (")
                    view.set_error(message, hint.removesuffix(")"))
        self._show_regenerate()

    def _show_regenerate(self) -> None:
        views = self.transcript.views
        for v in views:
            v.regenerate_button.hide()
        if views and views[-1].role == "assistant" and views[-1].message_id is not None:
            views[-1].regenerate_button.show()

    def _set_conversation(self, conv: Conversation) -> None:
        self.conversation = conv
        self.conversation_list.mark_current(conv.id)
        self._update_header()
        self.conversation_changed.emit(conv)

    def _conversation_updated(self, conv: Conversation) -> None:
        if self.conversation is not None and self.conversation.id == conv.id:
            self.conversation = conv
            self._update_header()
        self.refresh_conversations()

    def _update_header(self) -> None:
        self.title_label.set_full_text(self.conversation.title if self.conversation else "New chat")
        self.system_button.setEnabled(self.conversation is not None)
        self.export_button.setEnabled(self.conversation is not None)

    def _update_scope(self) -> None:
        known = self._library_documents
        usable = [n for n in self.active_libraries if known is None or known.get(n, 0) > 0]
        if usable:
            self.scope_label.setText("Answering from your documents in: " + ", ".join(usable))
        elif self.active_libraries:
            self.scope_label.setText(
                "Plain chat: the ticked library has no documents yet (drop PDFs on the window)"
            )
        else:
            self.scope_label.setText("Plain chat: no document library ticked")

    def _edit_current_system_prompt(self) -> None:
        if self.conversation is not None:
            self.edit_system_prompt(self.conversation.id)

    def _export_current(self) -> None:
        if self.conversation is not None:
            self.export_conversation(self.conversation.id)

    def _cancel_edit(self) -> None:
        self._editing = None
        self.edit_banner.hide()
