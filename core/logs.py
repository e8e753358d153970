"""Lectern's log file: ``logs/lectern.log`` in the data directory.

Warnings and errors of every library, and Lectern's own information, go to a
small rotating file, so that an error a user meets can be reported with its
details; warnings also go to stderr, as Python prints them without a handler.
Unexpected errors (a bug in Lectern) are written there with their traceback,
while the user sees one line (:func:`unexpected_error_line`).
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path
from typing import TextIO

from core.paths import DataPaths

LOG_FILE = "lectern.log"
_MAX_BYTES = 1_000_000
_BACKUPS = 3
_OWN = ("core", "desktop", "lectern")

log = logging.getLogger("lectern")


class _Stderr(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a record comes (as Python's last resort)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


class _NotFileOnly(logging.Filter):
    """Keeps what is meant for the file alone (a bug's traceback) off the console."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "file_only", False)


class _OwnInfoOrWarnings(logging.Filter):
    """Lectern's own records from INFO up; everything else from WARNING up."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name.split(".")[0] in _OWN


def log_file(paths: DataPaths) -> Path:
    return paths.logs_dir / LOG_FILE


_added: list[logging.Handler] = []
_old_level: list[int] = []


def start_logging(paths: DataPaths) -> Path | None:
    """Send this process's log records to ``logs/lectern.log``; None if it cannot be written.

    A log file that cannot be written (a read-only data directory) never stops
    Lectern: it then logs to stderr only. :func:`stop_logging` undoes it.
    """
    target = log_file(paths)
    stop_logging()  # a second start replaces the first (the level saved stays one)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler | None = logging.handlers.RotatingFileHandler(
            target, maxBytes=_MAX_BYTES, backupCount=_BACKUPS, encoding="utf-8"
        )
    except OSError:
        handler = None
    root = logging.getLogger()
    _old_level.append(root.level)
    if handler is not None:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
        )
        handler.addFilter(_OwnInfoOrWarnings())
        _added.append(handler)
    if sys.stderr is not None:  # a windowed app on Windows has none
        console = _Stderr()  # what Python printed without a handler
        console.setLevel(logging.WARNING)
        console.addFilter(_NotFileOnly())
        _added.append(console)
    for h in _added:
        root.addHandler(h)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    return target if handler is not None else None


def stop_logging() -> None:
    """Remove what :func:`start_logging` added (at exit, and between in-process runs)."""
    root = logging.getLogger()
    for h in _added:
        root.removeHandler(h)
        h.close()
    _added.clear()
    if _old_level:
        root.setLevel(_old_level.pop())


def current_log_file() -> Path | None:
    """The file this process logs to now, if any."""
    for h in _added:
        if isinstance(h, logging.handlers.RotatingFileHandler):
            return Path(h.baseFilename)
    return None


def bug_hint() -> str:
    """What to do about an error Lectern did not expect."""
    where = current_log_file()
    if where is None:
        return "this is a bug in Lectern; please report it"
    return f"this is a bug in Lectern; please report it with the log file {where}"


def log_unexpected(error: BaseException, context: str = "unexpected error") -> None:
    """Write an unexpected error and its traceback to the log."""
    log.error(
        "%s: %s",
        context,
        error,
        exc_info=(type(error), error, error.__traceback__),
        extra={"file_only": True},  # the user is shown one line, not this traceback
    )


def unexpected_text(error: BaseException) -> tuple[str, str]:
    """(message, hint) for an error Lectern did not expect (a bug)."""
    return f"Something went wrong: {type(error).__name__}: {error}", bug_hint()


def unexpected_error_line(error: BaseException) -> tuple[str, str]:
    """:func:`unexpected_text`, after writing the error's traceback to the log."""
    log_unexpected(error)
    return unexpected_text(error)
