"""One engine with the real starter model, shared by the chat tests (one worker process)."""

from __future__ import annotations

import asyncio
import ctypes
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.chat.llama_backend import LlamaBackend
from core.chat.load_config import LoadConfig
from core.chat.protocol import GenerateRequest, Sampling
from core.chat.templates import fallback_template
from core.engine import Engine
from core.events import Done, Event, Failed, Token
from core.settings import GenerationSettings
from core.types import Message

GREEDY = GenerationSettings(
    temperature=0.0, repeat_penalty=1.0, dry_multiplier=0.0, max_tokens=12, seed=7
)


@pytest.fixture(scope="session")
def chat_engine(starter_data_dir: Path) -> Iterator[Engine]:
    """An engine on the starter data dir with the starter model loaded (one worker)."""
    engine = Engine(starter_data_dir)
    engine.load_model_sync()
    yield engine
    asyncio.run(engine.close())


@pytest.fixture(scope="session")
def backend(starter_gguf: Path) -> Iterator[LlamaBackend]:
    """llama.cpp in this process with a small context: the real tokenizer, quick prompts."""
    config = LoadConfig(
        model_path=str(starter_gguf),
        n_ctx=512,
        n_threads=1,
        n_threads_batch=1,
        n_batch=64,
        n_ubatch=64,
    )
    b = LlamaBackend(config, fallback_template("gemma"), ctypes.c_bool(False))
    yield b
    b.close()


async def collect(events: object) -> list[Event]:
    """All events of an async iterator."""
    out: list[Event] = []
    async for ev in events:  # type: ignore[attr-defined]
        out.append(ev)
    return out


def done_of(events: list[Event]) -> Done:
    """The one Done event (fails on Failed)."""
    failed = [e for e in events if isinstance(e, Failed)]
    assert not failed, failed[0].error
    dones = [e for e in events if isinstance(e, Done)]
    assert len(dones) == 1
    return dones[0]


def tokens_of(events: list[Event]) -> list[str]:
    return [e.text for e in events if isinstance(e, Token)]


def raw_request(prompt: str, max_tokens: int, *, ignore_eos: bool = True) -> GenerateRequest:
    """A request that sends ``prompt`` as is (no template, no budget), greedy."""
    return GenerateRequest(
        system_prompt="",
        history=(),
        question=Message("user", ""),
        raw_prompt=prompt,
        sampling=Sampling(
            temperature=0.0,
            repeat_penalty=1.0,
            dry_multiplier=0.0,
            max_tokens=max_tokens,
            ignore_eos=ignore_eos,
        ),
    )
