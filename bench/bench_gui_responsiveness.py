"""GUI responsiveness: the longest event-loop stall while a model streams and a download runs.

The real main window runs offscreen on the qasync loop. A ``QTimer`` firing
every 5 ms records the gaps between its ticks; a gap longer than the
interval is time the loop could not run (a stall). Measured three ways:

* ``idle``: the window alone, to show the machine's own noise;
* ``stream_and_download``: eight answers in a row from the starter model
  (re-rendered as Markdown as they grow) while the starter GGUF
  downloads from the local fake Hub (tests/core/models/fake_hub.py,
  throttled so it lasts the whole answer; bytes are written and hashed);
* the same for the answers alone (``stream_only``), and
* ``long_answer_render``: the worst re-render of one answer growing to
  20,000 characters (the starter model's own answers are short), and
* ``scanned_citation``: a citation on a scanned page opened in the page
  viewer, from the click until OCR has found and highlighted the passage
  (needs Tesseract; the OCR runs in a worker process).

Bar (SPEC §3): no stall over 50 ms. The machine's load average is reported
with the figures: on a shared 2-core machine other processes steal time
from the loop, and stalls measured then are upper bounds.
"""

from __future__ import annotations

import asyncio
import collections
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
INTERVAL_MS = 5
BAR_MS = 50.0
HUB_SCRIPT = """
import sys, time
from pathlib import Path
from tests.core.models.fake_hub import FakeFile, FakeHub, FakeRepo
hub = FakeHub()
name = "gemma-bench-Q4_K_M.gguf"
hub.add_repo(FakeRepo("bench/gemma-GGUF", commit="e5" * 20,
             files={name: FakeFile(name, path=Path(sys.argv[1]), sha256=sys.argv[2])}))
hub.switches.delay_per_block_s = 0.01  # about 25 MB/s: the download outlasts the answers
hub.start()
print(hub.endpoint, flush=True)
time.sleep(3600)
"""
ROUNDS = 8
# the starter model answers briefly, so one measurement is several answers in a row
QUESTIONS = (
    "Write a very long essay about the history of Rome.",
    "Count from 1 to 1000, one number per line.",
    "Tell me about owls.",
    "Write Python code that prints the numbers from 1 to 10, then explain it.",
)


class StallMeter:
    """Records the gaps between ticks of a 5 ms timer, and what the GUI thread did in long ones.

    A watchdog thread looks at the GUI thread's Python stack when no tick came
    for 30 ms: Lectern code on it means the stall is ours; the Qt event loop
    waiting (``run_forever``/``exec``) means the thread was not given the CPU
    (or the GIL) by a busy machine.
    """

    def __init__(self) -> None:
        import threading

        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self.stall_stacks: collections.Counter[str] = collections.Counter()
        self._last = 0.0
        self._running = False
        self._main = threading.get_ident()
        self.timer = QTimer()
        self.timer.setInterval(INTERVAL_MS)
        self.timer.timeout.connect(self._tick)
        threading.Thread(target=self._watch, daemon=True, name="stall-watchdog").start()

    def start(self) -> None:
        self.gaps.clear()
        self._last = time.perf_counter()
        self._running = True
        self.timer.start()

    def stop(self) -> dict[str, object]:
        self.timer.stop()
        self._running = False
        out: dict[str, object] = dict(summary(self.gaps))
        out["where_long_stalls_were"] = dict(self.stall_stacks.most_common(5))
        self.stall_stacks.clear()
        return out

    def _watch(self) -> None:
        import traceback

        seen = 0.0
        while True:
            time.sleep(0.005)
            last = self._last
            if self._running and time.perf_counter() - last > 0.030 and last != seen:
                seen = last
                frame = sys._current_frames().get(self._main)
                if frame is None:
                    continue
                frames = traceback.extract_stack(frame)[-3:]
                where = " < ".join(f"{Path(f.filename).name}:{f.name}" for f in reversed(frames))
                self.stall_stacks[where] += 1

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


def long_answer_render() -> dict[str, float]:
    """Worst render (and event processing) while a 20,000-character answer grows."""
    from PySide6.QtWidgets import QApplication

    from desktop.chat.markdown import MarkdownRenderer
    from desktop.chat.transcript import Transcript

    app = QApplication.instance()
    assert app is not None
    block = (
        "The keeper climbed the **stairs** again [1].\n\n- oil\n- wick\n\n"
        "```python\ndef light(lamp):\n    return lamp.on()\n```\n\n"
    )
    text = (block * 200)[:20_000]
    transcript = Transcript(MarkdownRenderer())
    transcript.resize(800, 600)
    transcript.show()
    view = transcript.add("assistant", "")
    view.set_text(text[:400])  # warm-up: lexers, fonts, first layout
    app.processEvents()
    worst = {5_000: 0.0, 20_000: 0.0}
    for end in range(400, len(text) + 1, 40):  # a token is about 4 characters; 10 per render
        t0 = time.perf_counter()
        view.set_text(text[:end])
        app.processEvents()
        dt = (time.perf_counter() - t0) * 1000.0
        for size in worst:
            if end <= size:
                worst[size] = max(worst[size], dt)
    transcript.hide()
    return {f"worst_ms_up_to_{k}_chars": round(v, 1) for k, v in worst.items()}


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

    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    result: dict[str, object] = {"bar_ms": BAR_MS, "timer_interval_ms": INTERVAL_MS}
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(tmp)
        starter = engine.ensure_starter_models_sync()
        engine.settings.generation.max_tokens = 300
        engine.settings.generation.temperature = 0.0
        engine.settings.generation.repeat_penalty = 1.0  # the Rome essay then runs to max_tokens
        # the fake Hub runs in its own process, as a real server would: its threads must
        # not compete with the GUI for this process's GIL
        hub = subprocess.Popen(
            [sys.executable, "-c", HUB_SCRIPT, starter.path, starter.sha256],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert hub.stdout is not None
        os.environ["HF_ENDPOINT"] = hub.stdout.readline().strip()
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

        async def answer(rounds: int) -> dict[str, object]:
            """Several questions in one conversation (the starter model answers briefly)."""
            tokens.clear()
            done.clear()
            chat.new_chat()
            meter.start()
            for i in range(rounds):
                chat.input.setPlainText(QUESTIONS[i % len(QUESTIONS)])
                chat.send()
                while chat.streaming:
                    await asyncio.sleep(0.05)
            stats = meter.stop()
            stats["answers"] = len(done)
            stats["tokens"] = len(tokens)
            speeds = [ev.stats.decode_tps for ev in done if ev.stats is not None]
            if speeds:
                stats["decode_tps_median"] = round(statistics.median(speeds), 1)
            stats["renders"] = sum(v.renders for v in chat.transcript.views)
            return stats

        async def scanned_citation() -> dict[str, object]:
            """Open a citation on a scanned page; measure until its highlight is drawn."""
            from core.documents.extraction import extract_in_process, tesseract_available
            from core.types import Passage
            from tests.core.documents.pdfs import FACTS, scanned_pdf

            if not tesseract_available():
                return {"skipped": "Tesseract is not installed"}
            scan = scanned_pdf(Path(tmp) / "scan.pdf", [FACTS[0] * 4, FACTS[1] * 4])
            text = extract_in_process(str(scan), ocr=True).pages[1]  # as indexing read it
            start = text.index("Quindle")
            end = start + 120
            docs = window.documents_pane
            meter.start()
            t0 = time.perf_counter()
            docs.open_citation(
                Passage(
                    file="scan.pdf",
                    page=2,
                    text=text[start:end],
                    score=1.0,
                    path=str(scan),
                    char_start=start,
                    char_end=end,
                )
            )
            viewer = docs.viewer
            while viewer is None or not viewer.highlight_rects:
                await asyncio.sleep(0.05)
                viewer = docs.viewer
                if time.perf_counter() - t0 > 120:
                    break
            stats = meter.stop()
            stats["highlight_after_s"] = round(time.perf_counter() - t0, 2)
            stats["highlighted"] = bool(viewer is not None and viewer.highlight_rects)
            if viewer is not None:
                viewer.hide()
            return stats

        async def scenario() -> None:
            await asyncio.sleep(2.0)  # start-up work settles (starter check, lists)
            meter.start()
            await asyncio.sleep(2.0)
            result["idle"] = meter.stop()
            await engine.load_model()  # load once, outside the measurement
            result["stream_only"] = await answer(ROUNDS)
            window.models_pane.download("bench/gemma-GGUF", "gemma-bench-Q4_K_M.gguf")
            while not progress:
                await asyncio.sleep(0.05)
            both = await answer(ROUNDS)
            both["download_bytes_during"] = progress[-1] if progress else 0
            result["stream_and_download"] = both
            engine.cancel_download("bench/gemma-GGUF", "gemma-bench-Q4_K_M.gguf")
            await asyncio.sleep(0.5)
            result["scanned_citation"] = await scanned_citation()
            await engine.close()

        result["long_answer_render"] = long_answer_render()
        try:
            loop.run_until_complete(asyncio.wait_for(scenario(), 600))
        finally:
            hub.kill()
            hub.wait(10)
        measured = ["stream_only", "stream_and_download"]
        if "max_stall_ms" in result["scanned_citation"]:  # type: ignore[operator]
            measured.append("scanned_citation")
        worst = max(result[name]["max_stall_ms"] for name in measured)  # type: ignore[index]
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
