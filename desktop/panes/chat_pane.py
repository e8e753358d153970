"""The chat pane: conversations, the transcript and the message box."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)


class ChatPane(QWidget):
    """Conversation list on the left, transcript and input on the right."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatPane")
        self.conversations = QListWidget()
        self.conversations.setAccessibleName("Conversations")
        self.transcript = QTextBrowser()
        self.transcript.setAccessibleName("Transcript")
        self.transcript.setPlaceholderText("Ask a question about your documents.")
        self.input = QPlainTextEdit()
        self.input.setAccessibleName("Message")
        self.input.setPlaceholderText("Message Lectern…  (Ctrl+Enter to send)")
        self.input.setMaximumHeight(90)
        self.send_button = QPushButton("Send")
        self.send_button.setAccessibleName("Send")

        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(QLabel("<b>Chats</b>"))
        ll.addWidget(self.conversations, 1)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.transcript, 1)
        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        row.addWidget(self.send_button)
        rl.addLayout(row)

        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 3)
        split.setSizes([160, 480])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
