"""Measure real generation speed on this machine (the wizard's optional 20 seconds).

Runs an ordinary chat through :meth:`Engine.chat` (so it measures exactly
what a user gets: the worker process, the template, the sampler), lets the
model write for a fixed time and stops it. Speeds come from the answer's own
statistics (prompt and generation tokens per second).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.events import Done, Event, Failed, Progress, Token
from core.types import Message

if TYPE_CHECKING:
    from core.engine import Engine

PROMPT = (
    "Write a long, detailed story about a lighthouse keeper who finds a message in a bottle "
    "during a storm. Describe everything; do not stop early."
)


@dataclass(frozen=True)
class SpeedMeasured(Event):
    """The result of a speed measurement."""

    model: str
    decode_tps: float  # generated tokens per second
    prefill_tps: float  # prompt tokens per second
    ttft_s: float  # seconds to the first token (model already loaded)
    tokens: int
    seconds: float
    stopped: bool = True  # stopped at the time limit (False: the model ended the answer itself)

    def in_words(self) -> str:
        """E.g. "about 12 words a second: faster than most people read"."""
        words = self.decode_tps * 0.75
        if words >= 8:
            pace = "faster than most people read"
        elif words >= 4:
            pace = "about reading speed"
        else:
            pace = "slower than reading speed: answers will take a while"
        if words < 0.5:
            rate = "less than one word a second"
        elif words < 1.5:
            rate = "about one word a second"
        else:
            rate = f"about {words:.0f} words a second"
        return f"{rate} ({self.decode_tps:.1f} tokens/s): {pace}"


def measure_speed(
    engine: Engine, *, model: str | None = None, seconds: float = 20.0
) -> AsyncIterator[Event]:
    """Yield ``Progress`` (task "load", then "measure") and one ``SpeedMeasured`` or ``Failed``."""

    async def events() -> AsyncIterator[Event]:
        sampling = engine.settings.generation.model_copy(
            update={"max_tokens": 32768, "temperature": 0.8, "seed": 1}
        )
        start: float | None = None
        tokens = 0
        stopped = False
        last_report = 0.0
        async for ev in engine.chat(
            [Message("user", PROMPT)], model=model, sampling=sampling, run_on=True
        ):
            if isinstance(ev, Progress):
                yield ev
            elif isinstance(ev, Token):
                now = time.monotonic()
                if start is None:
                    start = now
                tokens += 1
                elapsed = now - start
                if elapsed - last_report >= min(0.5, seconds / 4):
                    last_report = elapsed
                    rate = tokens / elapsed if elapsed > 0 else 0.0
                    yield Progress(
                        "measure", min(elapsed, seconds), seconds, f"{rate:.1f} tokens/s"
                    )
                if elapsed >= seconds and not stopped:
                    stopped = True
                    engine.stop_generation()
            elif isinstance(ev, Failed):
                yield ev
                return
            elif isinstance(ev, Done):
                elapsed = time.monotonic() - start if start is not None else 0.0
                stats = ev.stats
                n = stats.completion_tokens if stats and stats.completion_tokens else tokens
                decode = stats.decode_tps if stats and stats.decode_tps else n / max(elapsed, 1e-9)
                loaded = engine.loaded_model
                if loaded is not None:
                    name = loaded.record.name if loaded.record else Path(loaded.path).name
                else:
                    name = model or "the model"
                yield SpeedMeasured(
                    model=name,
                    decode_tps=decode,
                    prefill_tps=stats.prefill_tps if stats else 0.0,
                    ttft_s=stats.ttft_s if stats else 0.0,
                    tokens=n,
                    seconds=elapsed,
                    stopped=ev.cancelled,
                )
                return

    return events()
