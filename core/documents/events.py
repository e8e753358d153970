"""Events of document ingestion, streamed by ``Engine.index`` and ``Engine.reindex``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from core.events import Event

DocumentState = Literal["queued", "extracting", "embedding", "ready", "failed", "unchanged"]


@dataclass(frozen=True)
class DocumentStatus(Event):
    """Where one document stands; ``done``/``total`` count pages or chunks of the current step."""

    library: str
    path: str
    file: str
    state: DocumentState
    reason: str = ""
    pages: int = 0
    chunks: int = 0
    done: int = 0
    total: int = 0
    ocr: bool = False  # done/total count pages read by OCR (a scanned document)


@dataclass(frozen=True)
class IndexSummary(Event):
    """The end of an indexing run: which files were indexed, unchanged, or failed (and why)."""

    indexed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False
