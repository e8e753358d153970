"""Streaming, determinism, stop (during decoding and during prefill), prefix reuse.

All on the real starter model in one shared worker process.
"""

from __future__ import annotations

from core.engine import Engine
from core.events import Done, Event, Progress, Sources, Token
from core.types import Message, Passage

from .conftest import GREEDY, collect, done_of, raw_request, tokens_of


async def test_answer_streams_tokens_then_one_done(chat_engine: Engine) -> None:
    events = await collect(
        chat_engine.chat([Message("user", "What is the capital of France?")], sampling=GREEDY)
    )
    done = done_of(events)
    tokens = tokens_of(events)
    assert tokens and "".join(tokens) == done.text
    assert events[-1] is done  # nothing after Done, every Token before it
    assert "Paris" in done.text  # a sane answer from the starter model
    stats = done.stats
    assert stats is not None
    assert stats.prompt_tokens > 5 and 0 < stats.completion_tokens <= GREEDY.max_tokens
    assert stats.ttft_s > 0 and stats.prefill_tps > 0


async def test_greedy_and_seeded_sampling_are_deterministic(chat_engine: Engine) -> None:
    msgs = [Message("user", "Why is the sky blue?")]
    greedy = [
        done_of(await collect(chat_engine.chat(msgs, sampling=GREEDY))).text for _ in range(2)
    ]
    assert greedy[0] == greedy[1] and greedy[0]
    seeded = GREEDY.model_copy(update={"temperature": 0.9, "seed": 1234, "top_k": 100})
    runs = [done_of(await collect(chat_engine.chat(msgs, sampling=seeded))).text for _ in range(2)]
    assert runs[0] == runs[1]


async def test_sources_come_first_and_are_numbered_in_the_prompt(chat_engine: Engine) -> None:
    p = Passage(file="guide.pdf", page=3, text="The office opens at 9 am.", score=0.9)
    events = await collect(
        chat_engine.chat(
            [Message("user", "When does the office open?")], sampling=GREEDY, passages=[p]
        )
    )
    kinds = [type(e) for e in events if not isinstance(e, Progress)]
    assert kinds[0] is Sources and kinds[-1] is Done
    assert events[[type(e) for e in events].index(Sources)].passages == (p,)  # type: ignore[attr-defined]


async def test_stop_during_decoding_stops_within_one_token(chat_engine: Engine) -> None:
    svc = chat_engine.chat_service
    after_stop = 0
    stopped = False
    events: list[Event] = []
    async for ev in svc.stream(raw_request("Once upon a time", max_tokens=400)):
        events.append(ev)
        if isinstance(ev, Token):
            if stopped:
                after_stop += 1
            elif len(tokens_of(events)) == 3:
                chat_engine.stop_generation()
                stopped = True
    done = done_of(events)
    assert done.cancelled
    assert done.stats is not None and done.stats.completion_tokens < 400
    # one token may already be in the pipe when Stop is pressed, one more in llama_decode
    assert after_stop <= 2


async def test_stop_during_a_long_prefill(chat_engine: Engine) -> None:
    svc = chat_engine.chat_service
    prompt = "The quick brown fox jumps over the lazy dog. " * 400  # ~4000 tokens
    events: list[Event] = []
    async for ev in svc.stream(raw_request(prompt, max_tokens=8)):
        events.append(ev)
        if isinstance(ev, Progress) and ev.task == "prefill":
            chat_engine.stop_generation()  # after the first chunk of several
    done = done_of(events)
    assert done.cancelled and not tokens_of(events)
    assert done.stats is not None
    prefilled = done.stats.extra["prefilled_tokens"]
    assert done.stats.prompt_tokens > 3000
    assert 0 < prefilled < done.stats.prompt_tokens - chat_engine.loaded_model.config.n_batch  # type: ignore[union-attr]
    # the KV cache is consistent afterwards: the next answer works and reuses the prefix
    after = done_of(await collect(svc.stream(raw_request(prompt[:400], max_tokens=4))))
    assert not after.cancelled and after.stats is not None and after.stats.cached_tokens > 0


async def test_follow_up_question_reuses_the_cached_prefix(chat_engine: Engine) -> None:
    q1 = [Message("user", "What is the capital of Italy? " + "Please answer briefly. " * 20)]
    first = done_of(await collect(chat_engine.chat(q1, sampling=GREEDY)))
    q2 = [*q1, Message("assistant", first.text), Message("user", "And of Spain?")]
    second = done_of(await collect(chat_engine.chat(q2, sampling=GREEDY)))
    assert first.stats is not None and second.stats is not None
    assert second.stats.cached_tokens >= first.stats.prompt_tokens - 3
    assert second.stats.extra["prefilled_tokens"] < second.stats.prompt_tokens / 2


def repeated_runs(text: str, n: int = 8) -> int:
    """How many runs of ``n`` words in ``text`` repeat an earlier one."""
    words = text.split()
    runs = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(runs) - len(set(runs))


async def test_the_repetition_guard_ends_a_loop(chat_engine: Engine) -> None:
    # greedy, the starter model says one sentence over and over until max_tokens
    msgs = [Message("user", "Tell me a story about a girl named Lily.")]
    plain = GREEDY.model_copy(update={"max_tokens": 150})
    looped = done_of(await collect(chat_engine.chat(msgs, sampling=plain)))
    guarded = done_of(
        await collect(
            chat_engine.chat(msgs, sampling=plain.model_copy(update={"dry_multiplier": 0.8}))
        )
    )
    assert looped.stats is not None and looped.stats.completion_tokens == 150
    assert repeated_runs(looped.text) > 50
    # DRY lowers the tokens that would go on repeating a run of the answer's own words
    assert repeated_runs(guarded.text) == 0
    assert guarded.stats is not None and guarded.stats.completion_tokens < 150
    # the start, before anything repeats, is the same greedy answer
    assert guarded.text[:40] == looped.text[:40]
