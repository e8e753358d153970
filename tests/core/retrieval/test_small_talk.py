"""Greetings and thanks are not searched for in the documents (the model answers them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.retrieval.small_talk import is_small_talk
from tests.conftest import REPO, SHARED_EVAL


@pytest.mark.parametrize(
    "message",
    ["hi", "Hello!", "hey there", "Good morning", "thanks", "Thank you, that helps.",
     "Perfect, thank you!", "great, thanks!", "ok", "How are you?", "Who are you?"],
)  # fmt: skip
def test_small_talk(message: str) -> None:
    assert is_small_talk(message)


@pytest.mark.parametrize(
    "message",
    ["hi, how do I install AMC?", "Thanks, and how do I print the sheets?",
     "ok so what is the default port?", "hello world program in gri", "Who are the authors?",
     "What is AMC?"],
)  # fmt: skip
def test_questions_are_not_small_talk(message: str) -> None:
    assert not is_small_talk(message)


def test_no_question_of_the_benchmarks_is_small_talk() -> None:
    files = [*SHARED_EVAL.glob("*.jsonl"), *(REPO / "bench" / "dev").glob("*.jsonl")]
    questions = [
        json.loads(line)["question"]
        for f in files
        for line in Path(f).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    assert len(questions) > 100 and not [q for q in questions if is_small_talk(q)]
