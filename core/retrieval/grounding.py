"""What a grounded answer is made of, and what is said when the documents are silent."""

from __future__ import annotations

from collections.abc import Sequence
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
    reranked: bool = False  # whether a cross-encoder read the passages (covered ones only)
    # whether the passages are in its order: it read one as an answer (see SearchParams.
    # rerank_sure); otherwise they are in the hybrid order, with the hybrid scores
    reranker_order: bool = False
    # the question as searched when its spelling was corrected ("buld" -> "build"), else ""
    searched_for: str = ""


def merged(results: Sequence[Retrieval], k: int) -> Retrieval:
    """One question's retrievals from several libraries, as one: the best ``k`` passages.

    Scores are compared only where they mean the same thing: passages of a library that
    covers the question come before those of one that does not, and among them the
    cross-encoder's probabilities (a library where it read a passage as an answer; only a
    covered one is re-ranked) before hybrid scores; each group is sorted by score.
    """
    if len(results) == 1:
        return results[0]
    ranked = sorted(
        ((r, p) for r in results for p in r.passages),
        key=lambda rp: (rp[0].covered, rp[0].reranker_order, rp[1].score),
        reverse=True,
    )
    return Retrieval(
        [p for _, p in ranked[:k]],
        any(r.covered for r in results),
        max((r.relevance for r in results), default=0.0),
        reranked=all(r.reranked for r in results),
        reranker_order=any(r.reranker_order for r in results),
        # each library corrects against its own words: say what the best one searched for
        searched_for=max(results, key=lambda r: (r.covered, r.relevance)).searched_for,
    )
