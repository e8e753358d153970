"""Which questions lean on the one before them (searched together with it)."""

from __future__ import annotations

import pytest

from core.retrieval.follow_up import in_context, is_follow_up
from tests.core.retrieval.questions import benchmark_questions


@pytest.mark.parametrize(
    "question",
    ["And on Fedora?", "What about Mandriva?", "How do I uninstall it?", "Can I turn it off?",
     "Where is it configured?", "What is its default value?", "but why?"],
)  # fmt: skip
def test_follow_ups(question: str) -> None:
    assert is_follow_up(question)


@pytest.mark.parametrize(
    "question",
    ["Which version is needed?", "What is the capital of France?", "",
     "How do I make the scanned answer sheets line up when it has been printed crooked?"],
)  # fmt: skip
def test_questions_that_stand_alone(question: str) -> None:
    assert not is_follow_up(question)


def test_no_question_of_the_benchmarks_is_a_follow_up() -> None:
    questions = benchmark_questions()
    assert len(questions) > 100 and not [q for q in questions if is_follow_up(q)]


def test_a_follow_up_is_searched_after_the_question_it_leans_on() -> None:
    install = "How do I install AMC\non Ubuntu?"
    assert (
        in_context("And on  Fedora?", [install]) == "How do I install AMC on Ubuntu? And on Fedora?"
    )
    # a chain of follow-ups keeps the question they all lean on; thanks are skipped
    assert in_context("What about Mandriva?", [install, "And on Fedora?", "Thanks!"]) == (
        "How do I install AMC on Ubuntu? And on Fedora? What about Mandriva?"
    )
    assert in_context("Which version is needed?", [install]) is None  # stands alone
    assert in_context("And on Fedora?", []) is None
    assert in_context("And on Fedora?", ["Hi!"]) is None
