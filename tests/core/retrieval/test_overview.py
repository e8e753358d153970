"""Which questions ask what a document is about as a whole (answered from its opening pages)."""

from __future__ import annotations

import pytest

from core.retrieval.overview import about_every_document, is_overview_question
from tests.core.retrieval.questions import benchmark_questions


@pytest.mark.parametrize(
    "question",
    [
        "What is this manual about?",
        "What's the manual about in general?",
        "Summarize this document.",
        "summarise the attached pdf",
        "Give me an overview of the document",
        "Give me a summary of this user manual!",
        "What does this document describe?",
        "What do the PDFs cover?",
        "What are the main topics of this book?",
        "What is this e-book about?",
        "Summarize my notes.",
        "What does the EPUB cover?",
    ],
)
def test_questions_about_a_whole_document(question: str) -> None:
    assert is_overview_question(question)


@pytest.mark.parametrize(
    "question",
    [
        "What does the manual say about the SMTP port?",
        "What does this document describe about grading?",
        "Summarize the section on installation",
        "How do I summarize results in this manual?",
        "What is AMC?",
        "What is the manual's default port?",
        "What do my notes say about the compost heap?",
    ],
)
def test_questions_about_something_in_a_document(question: str) -> None:
    assert not is_overview_question(question)


def test_no_question_of_the_benchmarks_is_taken_for_one() -> None:
    # the route must not turn an unanswerable question into a covered one
    questions = benchmark_questions()
    assert len(questions) > 100
    assert [q for q in questions if is_overview_question(q)] == []


def test_one_document_or_all_of_them() -> None:
    assert about_every_document("What are these documents about?")
    assert about_every_document("Summarize my PDFs")
    assert not about_every_document("What is this manual about?")
