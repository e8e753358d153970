"""Typed events that flow from the engine up to front ends.

Long operations are async iterators of these frozen dataclasses; the desktop
bridge turns them into Qt signals, the CLI prints them. Areas with events of
their own (downloads, ingestion) define them next to their code and derive
from :class:`Event`.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import LecternError
from core.types import GenerationStats, Passage


@dataclass(frozen=True)
class Event:
    """Base of all engine events."""


@dataclass(frozen=True)
class Token(Event):
    """A piece of answer text, in order."""

    text: str


@dataclass(frozen=True)
class Sources(Event):
    """The passages an answer is grounded on (sent before the first token)."""

    passages: tuple[Passage, ...]
    # the question as searched when misspelled words were corrected ("buld" -> "build")
    searched_for: str = ""


@dataclass(frozen=True)
class Progress(Event):
    """Progress of a long operation; ``total`` is 0 when unknown."""

    task: str
    done: float
    total: float
    message: str = ""


@dataclass(frozen=True)
class Done(Event):
    """The operation finished; ``cancelled`` tells whether it was stopped early."""

    text: str = ""
    stats: GenerationStats | None = None
    cancelled: bool = False


@dataclass(frozen=True)
class Failed(Event):
    """The operation failed with a user-facing error; the engine is still usable."""

    error: LecternError
