"""Context budget: never over n_ctx, newest history kept, passages trimmed."""

from __future__ import annotations

from collections.abc import Sequence

from core.chat.budget import answer_room_for, fit_prompt
from core.chat.llama_backend import LlamaBackend
from core.chat.protocol import GenerateRequest, Sampling
from core.chat.templates import fallback_template
from core.events import Done
from core.types import Message, Passage


def words(messages: Sequence[Message]) -> list[int]:
    """A stand-in tokenizer: one token per word plus 3 per message of markup."""
    return list(range(sum(len(m.content.split()) + 3 for m in messages)))


def cut(text: str, n: int) -> str:
    return " ".join(text.split()[:n])


def history(turns: int, size: int) -> list[Message]:
    out = []
    for i in range(turns):
        out.append(Message("user", f"q{i} " + "w " * size))
        out.append(Message("assistant", f"a{i} " + "w " * size))
    return out


def passage(i: int, size: int) -> Passage:
    return Passage(file=f"doc{i}.pdf", page=i + 1, text=f"p{i} " + "x " * size, score=1.0)


def test_long_history_keeps_the_newest_turns_and_never_exceeds() -> None:
    hist = history(100, 50)
    fitted = fit_prompt(
        system_prompt="sys",
        history=hist,
        question=Message("user", "the question"),
        passages=[passage(0, 100)],
        n_ctx=1000,
        max_tokens=200,
        encode=words,
        truncate=cut,
    )
    assert len(fitted.tokens) <= 1000 - 200
    assert fitted.answer_room >= 200
    assert 0 < fitted.history_kept < len(hist)
    kept = fitted.messages[1:-1]
    assert kept == hist[-fitted.history_kept :]  # the newest, in order
    assert kept[0].role == "user"
    assert fitted.passages == (passage(0, 100),)
    assert fitted.messages[-1].content.endswith("Question: the question")
    assert "[1] doc0.pdf, p. 1" in fitted.messages[-1].content


def test_passages_come_before_history_and_the_last_one_is_cut() -> None:
    ps = [passage(i, 300) for i in range(4)]
    fitted = fit_prompt(
        system_prompt="sys",
        history=history(5, 20),
        question=Message("user", "q"),
        passages=ps,
        n_ctx=1000,
        max_tokens=200,
        encode=words,
        truncate=cut,
    )
    assert len(fitted.tokens) <= 800
    assert fitted.passages[:2] == tuple(ps[:2])
    assert len(fitted.passages) == 3 and fitted.passages_dropped == 1
    assert fitted.passages[2].text != ps[2].text and ps[2].text.startswith(fitted.passages[2].text)
    assert fitted.history_kept == 0


def test_an_oversized_question_is_cut_to_fit() -> None:
    fitted = fit_prompt(
        system_prompt="sys",
        history=[],
        question=Message("user", "w " * 5000),
        n_ctx=512,
        max_tokens=64,
        encode=words,
        truncate=cut,
    )
    assert len(fitted.tokens) <= 512 - answer_room_for(512, 64)


def test_real_tokenizer_budget(backend: LlamaBackend) -> None:
    backend.template = fallback_template("gemma")
    hist = history(40, 30)
    fitted = fit_prompt(
        system_prompt="You are helpful.",
        history=hist,
        question=Message("user", "And now?"),
        passages=[passage(0, 80), passage(1, 400)],
        n_ctx=backend.n_ctx,
        max_tokens=64,
        encode=backend.encode_messages,
        truncate=backend.truncate,
    )
    assert len(fitted.tokens) <= backend.n_ctx - 64
    assert fitted.tokens == backend.encode_messages(fitted.messages)
    assert len(fitted.passages) == 2 and fitted.passages[1].text != passage(1, 400).text


def test_a_long_conversation_is_answered_without_overflowing(backend: LlamaBackend) -> None:
    backend.template = fallback_template("completion")
    events: list[object] = []
    req = GenerateRequest(
        system_prompt="You are helpful.",
        history=tuple(history(60, 40)),
        question=Message("user", "What is the capital of France?"),
        sampling=Sampling(temperature=0.0, repeat_penalty=1.0, dry_multiplier=0.0, max_tokens=8),
    )
    backend.generate(req, events.append)
    done = events[-1]
    assert isinstance(done, Done) and not done.cancelled
    assert done.stats is not None
    assert done.stats.prompt_tokens + done.stats.completion_tokens <= backend.n_ctx
    assert done.stats.prompt_tokens > backend.n_ctx // 2  # history was used, not dropped wholesale
