"""The one place where engine errors become dialogs."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from core.errors import LecternError
from core.logs import unexpected_text


def error_text(error: BaseException) -> tuple[str, str]:
    """(message, hint) for any error; unexpected ones get a generic message."""
    if isinstance(error, LecternError):
        return error.message, error.hint
    return unexpected_text(error)


def error_line(error: BaseException) -> str:
    """The message and its hint as one line of sentences, for status bars and notices."""
    message, hint = error_text(error)
    return join_hint(message, hint)


def join_hint(message: str, hint: str) -> str:
    """``"Cannot open x (file is not a database). Move the file away."``."""
    if not hint:
        return message
    stop = "" if message.endswith((".", "!", "?", ":")) else "."
    end = "" if hint.endswith((".", "!", "?")) else "."
    return f"{message}{stop} {hint[0].upper()}{hint[1:]}{end}"


def show_error(parent: QWidget | None, error: BaseException, title: str = "Lectern") -> None:
    """A modal warning with the message and, below it, the hint."""
    message, hint = error_text(error)
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, parent=parent)
    if hint:
        box.setInformativeText(hint[0].upper() + hint[1:] + ".")
    box.exec()
