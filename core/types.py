"""Plain data shared between the engine's services and front ends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    """One chat message."""

    role: Role
    content: str


@dataclass(frozen=True)
class Passage:
    """A retrieved piece of a document, citable by file and 1-based physical page."""

    file: str
    page: int
    text: str
    score: float
    path: str = ""
    library: str = ""
    chunk_id: str = ""
    char_start: int = 0  # offsets into the page's extracted text
    char_end: int = 0

    def to_json(self) -> dict[str, object]:
        return {"file": self.file, "page": self.page, "text": self.text, "score": self.score}


@dataclass(frozen=True)
class GenerationStats:
    """Timing of one answer, as the spec's ``ask --json`` reports it."""

    ttft_s: float = 0.0
    prompt_tokens: int = 0
    prefill_tps: float = 0.0
    completion_tokens: int = 0
    decode_tps: float = 0.0
    cached_tokens: int = 0  # prompt tokens reused from the previous turn's KV cache
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def model_ran(self) -> bool:
        """False for an answer no model produced (the library did not cover the question)."""
        return self.prompt_tokens > 0 or self.completion_tokens > 0

    def to_json(self) -> dict[str, float | int]:
        return {
            "ttft_s": self.ttft_s,
            "prompt_tokens": self.prompt_tokens,
            "prefill_tps": self.prefill_tps,
            "completion_tokens": self.completion_tokens,
            "decode_tps": self.decode_tps,
        }
