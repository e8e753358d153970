"""Fit a conversation into the context window by token count.

What goes in, in order of priority: the system prompt, the question, the
retrieved passages (numbered, best first; the last one that does not fit
whole is cut), then as much history as fits, newest turns first, always
starting at a user turn. Room for the answer is kept free. Counting is done
on the fully rendered prompt (template markup included) with the model's
own tokenizer, so the result never exceeds ``n_ctx``.

The tokenizer is passed in as two functions, so this module runs the same in
the llama.cpp worker and in unit tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.chat.prompts import build_messages, format_source
from core.types import Message, Passage

# encode(messages) -> prompt tokens of the rendered conversation
Encoder = Callable[[Sequence[Message]], list[int]]
# truncate(text, n) -> the text cut to at most n tokens
Truncator = Callable[[str, int], str]

MIN_PASSAGE_TOKENS = 48  # a cut passage shorter than this is not worth citing
MIN_ANSWER_TOKENS = 16


@dataclass(frozen=True)
class FittedPrompt:
    """The conversation as it will be sent, with what had to be left out."""

    messages: list[Message]
    tokens: list[int]
    passages: tuple[Passage, ...]  # the passages in the prompt, numbered from 1, maybe cut
    history_kept: int  # how many of the history messages made it (the newest ones)
    history_dropped: int
    passages_dropped: int
    answer_room: int  # tokens left for the answer (≥ the requested room when possible)


def answer_room_for(n_ctx: int, max_tokens: int) -> int:
    """Tokens to keep free for the answer: the requested maximum, at most half the window."""
    return max(min(max_tokens, n_ctx // 2), min(MIN_ANSWER_TOKENS, n_ctx // 2))


def fit_prompt(
    *,
    system_prompt: str,
    history: Sequence[Message],
    question: Message,
    passages: Sequence[Passage] = (),
    n_ctx: int,
    max_tokens: int,
    encode: Encoder,
    truncate: Truncator,
) -> FittedPrompt:
    """The largest prompt that fits ``n_ctx`` while leaving room for ``max_tokens``."""
    budget = n_ctx - answer_room_for(n_ctx, max_tokens)
    history = [m for m in history if m.role != "system"]

    # the question alone (with the system prompt) must fit; cut it, then the system prompt
    system, q = system_prompt, question
    base = encode(build_messages(system, [], q))
    if len(base) > budget:
        q_len = len(encode([Message("user", q.content)])) - len(encode([Message("user", "")]))
        overhead = len(base) - q_len
        if overhead > budget // 2:
            system = truncate(system, max(budget // 4, 1))
            overhead = len(encode(build_messages(system, [], Message("user", ""))))
        q = Message("user", truncate(q.content, max(budget - overhead - 8, 1)))
        base = encode(build_messages(system, [], q))
        while len(base) > budget and q.content:
            q = Message("user", q.content[: len(q.content) * 3 // 4])
            base = encode(build_messages(system, [], q))

    # passages, best first; the first that does not fit whole is cut to the room left
    used: list[Passage] = []
    sources: list[str] = []
    current = base
    for p in passages:
        src = format_source(len(used) + 1, p)
        trial = encode(build_messages(system, [], q, [*sources, src]))
        if len(trial) <= budget:
            used.append(p)
            sources.append(src)
            current = trial
            continue
        room = budget - len(current) - (len(trial) - len(current) - _text_tokens(p.text, encode))
        room -= 8  # the cut changes token boundaries a little
        if room >= MIN_PASSAGE_TOKENS:
            cut = truncate(p.text, room)
            src = format_source(len(used) + 1, p, cut)
            trial = encode(build_messages(system, [], q, [*sources, src]))
            if len(trial) <= budget:
                used.append(_with_text(p, cut))
                sources.append(src)
                current = trial
        break

    # history, newest first, starting at a user turn so roles keep alternating
    starts = [k for k in range(len(history), 0, -1) if history[-k].role == "user"]
    candidates = [0, *sorted(starts)]
    lo, hi = 0, len(candidates) - 1
    best_tokens = current
    while lo < hi:  # largest candidate k that fits
        mid = (lo + hi + 1) // 2
        k = candidates[mid]
        toks = encode(build_messages(system, history[-k:], q, sources))
        if len(toks) <= budget:
            lo, best_tokens = mid, toks
        else:
            hi = mid - 1
    kept = candidates[lo]
    messages = build_messages(system, history[-kept:] if kept else [], q, sources)
    if kept and best_tokens is current:
        best_tokens = encode(messages)
    return FittedPrompt(
        messages=messages,
        tokens=best_tokens,
        passages=tuple(used),
        history_kept=kept,
        history_dropped=len(history) - kept,
        passages_dropped=len(passages) - len(used),
        answer_room=n_ctx - len(best_tokens),
    )


def _text_tokens(text: str, encode: Encoder) -> int:
    return len(encode([Message("user", text)])) - len(encode([Message("user", "")]))


def _with_text(p: Passage, text: str) -> Passage:
    from dataclasses import replace

    return replace(p, text=text, char_end=p.char_start + len(text) if p.char_end else 0)
