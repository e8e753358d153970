"""The words Lectern says to the model: grounded instruction and numbered sources.

Sources go into the last user turn, right before the question: small models
attend best to what is close to the question, and the system prompt plus
earlier turns stay an unchanged prefix that the KV cache can reuse.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.types import Message, Passage

GROUNDED_INSTRUCTION = (
    "Answer the question using only the numbered sources below. "
    "Cite every source you use by its number in square brackets, like [1] or [2][3]. "
    "If the sources do not contain the answer, say that the documents do not cover it."
)


def format_source(number: int, passage: Passage, text: str | None = None) -> str:
    """One numbered source: ``[n] file, p. N`` then its text."""
    body = passage.text if text is None else text
    return f"[{number}] {passage.file}, p. {passage.page}\n{body.strip()}"


def grounded_question(question: str, sources: Sequence[str]) -> str:
    """The last user turn when passages are given: instruction, sources, question."""
    if not sources:
        return question
    joined = "\n\n".join(sources)
    return f"{GROUNDED_INSTRUCTION}\n\nSources:\n\n{joined}\n\nQuestion: {question.strip()}"


def build_messages(
    system_prompt: str,
    history: Sequence[Message],
    question: Message,
    sources: Sequence[str] = (),
) -> list[Message]:
    """System prompt, earlier turns, then the (grounded) question."""
    out: list[Message] = []
    if system_prompt.strip():
        out.append(Message("system", system_prompt.strip()))
    out.extend(m for m in history if m.role != "system")
    out.append(Message("user", grounded_question(question.content, sources)))
    return out
