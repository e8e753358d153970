"""The speed measurement in words, as the wizard shows it."""

from __future__ import annotations

import pytest

from core.hardware.measure import SpeedMeasured


@pytest.mark.parametrize(
    ("tps", "words"),
    [
        (0.5, "less than one word a second (0.5 tokens/s): slower than reading speed"),
        (1.2, "about one word a second (1.2 tokens/s): slower than reading speed"),
        (8.0, "about 6 words a second (8.0 tokens/s): about reading speed"),
        (49.2, "about 37 words a second (49.2 tokens/s): faster than most people read"),
    ],
)
def test_speed_in_words(tps: float, words: str) -> None:
    measured = SpeedMeasured(
        model="m.gguf", decode_tps=tps, prefill_tps=100.0, ttft_s=0.1, tokens=10, seconds=1.0
    )
    assert measured.in_words().startswith(words)
