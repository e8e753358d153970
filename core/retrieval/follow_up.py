"""Follow-up questions: "And on Fedora?", "How do I uninstall it?".

Asked after "How do I install AMC on Ubuntu?", such a question means nothing
alone: searched as it is, it was refused (relevance 0.25-0.38 on the eval
manuals) or, worse, answered from an unrelated page ("Can I turn it off?"
found a page of the Gri manual after a question about pbuilder). A short
question that leans on the one before (it starts with "and", "what about"...,
or refers back with "it", "that", "there"...) is searched together with the
previous question (``Engine.ask``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.retrieval.small_talk import is_small_talk

_MAX_WORDS = 8
_MAX_CHAIN = 3  # earlier messages searched with a follow-up, at most
_LEADS = re.compile(r"^(?:and|but|also|or|so|then|what\s+about|how\s+about)\b", re.IGNORECASE)
_REFERS = re.compile(
    r"\b(?:it|its|it's|that|this|they|them|their|those|these|there|he|she|him|her|one|ones)\b",
    re.IGNORECASE,
)


def is_follow_up(question: str) -> bool:
    """Whether ``question`` is a short one that leans on the question before it."""
    text = " ".join(question.split())
    if not text or len(text.split()) > _MAX_WORDS:
        return False
    return bool(_LEADS.match(text) or _REFERS.search(text))


def in_context(question: str, earlier: Sequence[str]) -> str | None:
    """The text to search for a follow-up, or None when ``question`` is not one.

    ``earlier`` are the user's earlier messages, oldest first. The question is
    preceded by the last one that stands alone and the follow-ups after it
    ("How do I install AMC on Ubuntu? And on Fedora? What about Mandriva?");
    greetings and thanks in between are skipped.
    """
    if not is_follow_up(question):
        return None
    chain: list[str] = []
    for message in reversed(earlier):
        if not message.strip() or is_small_talk(message):
            continue
        chain.insert(0, " ".join(message.split()))
        if not is_follow_up(message) or len(chain) == _MAX_CHAIN:
            break
    if not chain:
        return None
    return " ".join([*chain, " ".join(question.split())])
