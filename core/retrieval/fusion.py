"""Combining ranked lists (dense and keyword) into one ranking."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

RRF_K = 60


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[K]], weights: Sequence[float] | None = None, k: int = RRF_K
) -> dict[K, float]:
    """Score = sum over lists of weight / (k + rank), rank from 1 (Cormack et al., 2009)."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[K, float] = {}
    for ranking, w in zip(rankings, weights, strict=True):
        for rank, key in enumerate(ranking, 1):
            scores[key] = scores.get(key, 0.0) + w / (k + rank)
    return scores


def max_normalised(scores: Mapping[K, float]) -> dict[K, float]:
    """Scores divided by the best one (BM25 has no fixed scale; this gives 0..1)."""
    if not scores:
        return {}
    top = max(scores.values())
    if top <= 0:
        return dict.fromkeys(scores, 0.0)
    return {key: max(0.0, s) / top for key, s in scores.items()}


def weighted_sum(parts: Sequence[tuple[Mapping[K, float], float]]) -> dict[K, float]:
    """Sum of ``weight × score`` over score maps (missing keys count 0)."""
    out: dict[K, float] = {}
    for scores, w in parts:
        for key, s in scores.items():
            out[key] = out.get(key, 0.0) + w * s
    return out
