"""GUI responsiveness: the longest event-loop stall while a model streams and a download runs.

The real main window runs offscreen on the qasync loop. A ``QTimer`` firing
every 5 ms records the gaps between its ticks; a gap longer than the
interval is time the loop could not run (a stall). Measured three ways:

* ``idle``: the window alone, to show the machine's own noise;
* ``stream_and_download``: an answer from the starter model (up to 300
  tokens, re-rendered as Markdown as it grows) while the starter GGUF
  downloads from the local fake Hub (tests/core/models/fake_hub.py,
  throttled so it lasts the whole answer; bytes are written and hashed);
* the same numbers for the answer alone are reported in ``stream_only``.

Bar (SPEC §3): no stall over 50 ms. The machine's load average is reported
with the figures: on a shared 2-core machine other processes steal time
from the loop, and stalls measured then are upper bounds.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
INTERVAL_MS = 5
BAR_MS = 50.0
# the starter model answers this one at length (greedy), so the stream lasts
QUESTION = "Count from 1 to 300, separated by commas."


class StallMeter:
    """Records the gaps between ticks of a 5 ms timer."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self._last = 0.0
        self.timer = QTimer()
        self.timer.setInterval(INTERVAL_MS)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.gaps.clear()
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> dict[str, float]:
        self.timer.stop()
        return summary(self.gaps)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append((now - self._last) * 1000.0)
        self._last = now


def summary(gaps: list[float]) -> dict[str, float]:
    if not gaps:
        return {"ticks": 0}
    ordered = sorted(gaps)
    return {
        "ticks": len(gaps),
        "max_gap_ms": round(ordered[-1], 1),
        "max_stall_ms": round(max(0.0, ordered[-1] - INTERVAL_MS), 1),
        "p99_gap_ms": round(ordered[int(0.99 * (len(ordered) - 1))], 1),
        "median_gap_ms": round(statistics.median(ordered), 2),
        "gaps_over_bar": sum(1 for g in gaps if g - INTERVAL_MS > BAR_MS),
    }


def run() -> dict[str, object]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["HF_HUB_OFFLINE"] = "0"
    sys.path.insert(0, str(REPO))
    import qasync
    from PySide6.QtWidgets import QApplication

    from core.engine import Engine
    from core.events import Done, Token
    from core.models.downloads import DownloadProgress
    from desktop.bridge import EngineBridge
    from desktop.main_window import MainWindow
    from tests.core.models.fake_hub import FakeFile, FakeHub, FakeRepo

    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    result: dict[str, object] = {"bar_ms": BAR_MS, "timer_interval_ms": INTERVAL_MS}
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(tmp)
        starter = engine.ensure_starter_models_sync()
        engine.settings.generation.max_tokens = 300
        engine.settings.generation.temperature = 0.0
        hub = FakeHub()
        hub.add_repo(
            FakeRepo(
                "bench/gemma-GGUF",
                commit="e5" * 20,
                files={
                    "gemma-bench-Q4_K_M.gguf": FakeFile(
                        "gemma-bench-Q4_K_M.gguf", path=Path(starter.path), sha256=starter.sha256
                    )
                },
            )
        )
        hub.start()
        os.environ["HF_ENDPOINT"] = hub.endpoint
        import huggingface_hub.constants as hf_constants

        hf_constants.HF_HUB_OFFLINE = False
        window = MainWindow(EngineBridge(engine))
        window.resize(1280, 800)
        window.show()
        window.start()
        meter = StallMeter()
        tokens: list[str] = []
        done: list[Any] = []
        progress: list[int] = []

        def on_event(tag: str, ev: object) -> None:
            if isinstance(ev, Token):
                tokens.append(ev.text)
            elif isinstance(ev, Done) and tag == "chat":
                done.append(ev)
            elif isinstance(ev, DownloadProgress):
                progress.append(ev.bytes_done)

        window.bridge.engine_event.connect(on_event)
        chat = window.chat_pane

        async def answer(question: str) -> dict[str, float]:
            tokens.clear()
            done.clear()
            chat.new_chat()
            chat.input.setPlainText(question)
            chat.send()
            meter.start()
            while chat.streaming:
                await asyncio.sleep(0.05)
            stats = meter.stop()
            stats["tokens"] = len(tokens)
            ev = done[0] if done else None
            if ev is not None and ev.stats is not None:
                stats["decode_tps"] = round(ev.stats.decode_tps, 1)
            view = chat.transcript.views[-1] if chat.transcript.views else None
            stats["renders"] = view.renders if view is not None else 0
            return stats

        async def scenario() -> None:
            await asyncio.sleep(2.0)  # start-up work settles (starter check, lists)
            meter.start()
            await asyncio.sleep(2.0)
            result["idle"] = meter.stop()
            await engine.load_model()  # load once, outside the measurement
            result["stream_only"] = await answer(QUESTION)
            hub.switches.delay_per_block_s = 0.01  # ~25 MB/s: the download outlasts the answer
            window.models_pane.download("bench/gemma-GGUF", "gemma-bench-Q4_K_M.gguf")
            while not progress:
                await asyncio.sleep(0.05)
            both = await answer(QUESTION)
            both["download_bytes_during"] = progress[-1] if progress else 0
            result["stream_and_download"] = both
            engine.cancel_download("bench/gemma-GGUF", "gemma-bench-Q4_K_M.gguf")
            await asyncio.sleep(0.5)
            await engine.close()

        try:
            loop.run_until_complete(asyncio.wait_for(scenario(), 600))
        finally:
            hub.stop()
        worst = result["stream_and_download"]["max_stall_ms"]  # type: ignore[index]
        result["max_stall_ms"] = worst
        result["passes_bar"] = worst <= BAR_MS
        result["machine"] = {
            "cpus": os.cpu_count(),
            "loadavg_1m_5m_15m": [round(x, 2) for x in os.getloadavg()],
            "note": "stalls measured while other processes load the machine are upper bounds",
        }
        window.hide()
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
    os._exit(0)
