"""One question's retrievals from several libraries merged into one list of passages."""

from __future__ import annotations

from dataclasses import replace

from core.retrieval.grounding import Retrieval, merged
from core.types import Passage


def _retrieval(library: str, scores: list[float], covered: bool, order: bool) -> Retrieval:
    passages = [Passage(f"{library}.pdf", i + 1, f"{library} {i}", s) for i, s in enumerate(scores)]
    return Retrieval(passages, covered, max(scores), reranked=covered, reranker_order=order)


def test_one_library_is_returned_as_it_is() -> None:
    one = _retrieval("a", [0.9, 0.5], True, True)
    assert merged([one], 1) is one


def test_scores_are_compared_only_where_they_mean_the_same() -> None:
    # a: the cross-encoder read an answer (probabilities); b: covered, hybrid order (fused
    # scores, which can exceed 1); c: does not cover the question (closest matches only)
    a = _retrieval("a", [0.8, 0.3], covered=True, order=True)
    b = _retrieval("b", [1.2, 0.9], covered=True, order=False)
    c = _retrieval("c", [1.5, 0.7], covered=False, order=False)
    out = merged([c, b, a], 5)
    assert [(p.file, p.score) for p in out.passages] == [
        ("a.pdf", 0.8),
        ("a.pdf", 0.3),
        ("b.pdf", 1.2),
        ("b.pdf", 0.9),
        ("c.pdf", 1.5),
    ]
    assert out.covered and out.relevance == 1.5
    assert out.reranker_order and not out.reranked  # c was not re-ranked
    # without a library where the cross-encoder was sure, covered passages by score
    out = merged([b, _retrieval("d", [1.0], covered=True, order=False), c], 3)
    assert [(p.file, p.score) for p in out.passages] == [
        ("b.pdf", 1.2),
        ("d.pdf", 1.0),
        ("b.pdf", 0.9),
    ]
    assert not out.reranker_order


def test_nothing_covered() -> None:
    out = merged([_retrieval("a", [0.2], False, False), _retrieval("b", [0.3], False, False)], 2)
    assert not out.covered and [p.file for p in out.passages] == ["b.pdf", "a.pdf"]


def test_what_was_searched_for_is_the_best_librarys() -> None:
    # each library corrects a misspelled word against its own words
    a = replace(_retrieval("a", [0.5], True, False), searched_for="how to build")
    b = replace(_retrieval("b", [0.9], False, False), searched_for="how to bold")
    c = _retrieval("c", [0.4], True, False)
    assert merged([b, c, a], 2).searched_for == "how to build"  # covered, most relevant
    assert merged([b, c], 2).searched_for == ""  # the covering one searched as asked
