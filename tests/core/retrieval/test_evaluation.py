"""Retrieval metrics on hand-made results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import UsageError
from core.retrieval.evaluation import (
    Question,
    intervals,
    judge,
    load_questions,
    metrics,
    page_ranks,
)
from core.types import Passage
from tests.conftest import SHARED_EVAL


def _p(file: str, page: int, text: str = "") -> Passage:
    return Passage(file=file, page=page, text=text, score=0.0)


def test_hits_mrr_and_refusals() -> None:
    q1 = Question("q1", "?", "a.pdf", (3,), "the exact   phrase")
    q2 = Question("q2", "?", "a.pdf", (7,), "never found")
    none = Question("n1", "?")
    results = [
        judge(q1, [_p("a.pdf", 1), _p("b.pdf", 3, "has the exact phrase here")], True),
        judge(q2, [_p("a.pdf", 2), _p("a.pdf", 3), _p("a.pdf", 7)], False),
        judge(none, [_p("a.pdf", 1)], False),
    ]
    m = metrics(results)
    assert m["page_hit@1"] == 0.0 and m["page_hit@3"] == 0.5
    assert m["evidence_hit@1"] == 0.0 and m["evidence_hit@3"] == 0.5
    assert m["either_hit@3"] == 1.0
    assert m["page_mrr@10"] == pytest.approx((0 + 1 / 3) / 2, abs=1e-4)
    assert m["either_mrr@10"] == pytest.approx((1 / 2 + 1 / 3) / 2, abs=1e-4)
    assert m["false_refusals"] == 0.5 and m["unanswerable_rejected"] == 1.0


def test_loads_the_shared_eval_sets(tmp_path: Path) -> None:
    qa = load_questions(SHARED_EVAL / "qa.jsonl")
    assert len(qa) == 36 and all(q.answerable for q in qa)
    un = load_questions(SHARED_EVAL / "unanswerable.jsonl")
    assert len(un) == 8 and not any(q.answerable for q in un)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "no id"}) + "\n")
    with pytest.raises(UsageError):
        load_questions(bad)
    # an empty file gave every metric as 0.0 with exit 0; a binary one crashed
    bad.write_text("\n\n")
    with pytest.raises(UsageError, match="holds no questions"):
        load_questions(bad)
    bad.write_bytes(bytes(range(256)))
    with pytest.raises(UsageError, match="is not a text file"):
        load_questions(bad)


def test_page_ranks_and_bootstrap_intervals() -> None:
    qs = [Question(f"q{i}", "?", "a.pdf", (i,), "") for i in range(1, 11)]
    # q1..q6 hit at rank 1, q7 and q8 at rank 2, q9 and q10 miss the top 10.
    results = [
        judge(q, [_p("a.pdf", q.pages[0] if n < 6 else 99), _p("a.pdf", q.pages[0])], True)
        for n, q in enumerate(qs[:8])
    ] + [judge(q, [_p("a.pdf", 99)] * 10, True) for q in qs[8:]]
    results.append(judge(Question("n1", "?"), [_p("a.pdf", 1)], False))
    ranks = page_ranks(results)
    assert ranks == {f"q{i}": 1 for i in range(1, 7)} | {"q7": 2, "q8": 2, "q9": None, "q10": None}

    ci = intervals(results, rounds=500)
    lo, hi = ci["page_hit@1"]
    # the point value 0.6 lies inside, and resampling 10 questions spreads it widely
    assert lo < 0.6 < hi and hi - lo > 0.3
    assert ci["page_mrr@10"][0] < metrics(results)["page_mrr@10"] < ci["page_mrr@10"][1]
    assert intervals(results, rounds=500) == ci  # same seed, same interval
    assert intervals([results[-1]]) == {}  # no answerable question: nothing to resample
