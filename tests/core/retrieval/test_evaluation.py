"""Retrieval metrics on hand-made results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import UsageError
from core.retrieval.evaluation import Question, judge, load_questions, metrics
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
