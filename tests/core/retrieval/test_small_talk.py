"""Greetings and thanks are not searched for in the documents (the model answers them)."""

from __future__ import annotations

import pytest

from core.retrieval.small_talk import is_small_talk
from tests.core.retrieval.questions import benchmark_questions


@pytest.mark.parametrize(
    "message",
    ["hi", "Hello!", "hey there", "Good morning", "thanks", "Thank you, that helps.",
     "Perfect, thank you!", "great, thanks!", "ok", "How are you?", "Who are you?",
     # typed in a hurry: one slip in a longer word, and the short forms
     "Thnaks!", "Thansk", "helo there", "Thnak you so much", "Awsome, thx", "thank u", "thnx",
     "What's up?",
     # the usual greetings and thanks of a few other languages
     "Merci beaucoup !", "Danke schön", "¡Muchas gracias!", "Grazie mille", "Obrigado", "Hola",
     "Bonjour", "Guten Morgen"],
)  # fmt: skip
def test_small_talk(message: str) -> None:
    assert is_small_talk(message)


@pytest.mark.parametrize(
    "message",
    ["hi, how do I install AMC?", "Thanks, and how do I print the sheets?",
     "ok so what is the default port?", "hello world program in gri", "Who are the authors?",
     "What is AMC?", "tool", "Thnaks, and how do I print the sheets?", "Hello world program?",
     "Hola, ¿cómo instalo AMC?", "salut, comment imprimer les copies ?"],
)  # fmt: skip
def test_questions_are_not_small_talk(message: str) -> None:
    assert not is_small_talk(message)


def test_no_question_of_the_benchmarks_is_small_talk() -> None:
    questions = benchmark_questions()
    assert len(questions) > 100 and not [q for q in questions if is_small_talk(q)]
