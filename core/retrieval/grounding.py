"""What a grounded answer is made of, and what is said when the documents are silent."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.types import Passage

NOT_COVERED_ANSWER = (
    "The documents in this library do not seem to cover that: I found no passage that is "
    "relevant enough to answer from. Try rephrasing, or add the document that covers it."
)


@dataclass(frozen=True)
class Retrieval:
    """Passages for a question and whether they are relevant enough to answer from."""

    passages: list[Passage] = field(default_factory=list)
    covered: bool = False
    relevance: float = 0.0  # the score the relevance threshold was applied to
    reranked: bool = False  # whether a cross-encoder ordered the passages (covered ones only)
