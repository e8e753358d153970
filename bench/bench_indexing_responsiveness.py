"""Responsiveness: the longest GUI event-loop stall while a 300-page PDF is indexed and an
answer streams at the same time (SPEC §3: never more than 50 ms).

The real main window (offscreen) with the real engine: the PDF is dropped onto the
documents pane, and while it is extracted and embedded the chat pane asks question after
question, rendering every token. A 5 ms precise ``QTimer`` is the probe: any gap between
two of its ticks beyond 5 ms is time the event loop could not run. Reports the longest
stall, the 99th percentile, how many exceeded the bar, split into the warm-up (the
embedding model being loaded for the first time) and the steady part, and the machine's
load, since other processes on a small machine distort the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

PAGES = int(os.environ.get("LECTERN_BENCH_PAGES", "300"))
BAR_MS = 50.0
PROBE_MS = 5
QUESTION = "What does the report say about the harbour lighthouses and their keepers?"

_VOCABULARY = (
    "harbour lighthouse keeper lamp storm coast channel fishing boat tide chart beacon "
    "signal winter summer village museum cottage rope anchor lens oil mirror tower stair "
    "island reef current northern southern century visitor record logbook weather wind "
    "rain fog night morning repair engineer council budget report survey"
)
_WORDS = _VOCABULARY.split()


def make_pdf(path: Path, pages: int) -> Path:
    """A text PDF of ``pages`` pages, ~2,000 characters each, deterministic."""
    import pymupdf

    rng = random.Random(7)
    doc = pymupdf.open()
    for n in range(1, pages + 1):
        sentences: list[str] = []
        while sum(len(s) for s in sentences) < 2000:
            words = rng.choices(_WORDS, k=rng.randint(8, 18))
            sentences.append(" ".join(words).capitalize() + ".")
        page = doc.new_page(width=595, height=842)
        page.insert_textbox(
            pymupdf.Rect(50, 50, 545, 800), f"Section {n}. " + " ".join(sentences), fontsize=10
        )
    doc.save(str(path))
    doc.close()
    return path


def _machine_load() -> dict[str, Any]:
    import psutil

    me = os.getpid()
    others = 0.0
    procs = list(psutil.process_iter(["pid"]))
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.cpu_percent(None)
    time.sleep(1.0)
    for p in procs:
        with contextlib.suppress(psutil.Error):
            if p.pid != me:
                others += p.cpu_percent(None)
    return {
        "cpus": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "other_processes_cpu_percent": round(others, 1),
    }


_CONTROL = """
import json, signal, time
lates, stop = [], []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
while not stop:
    t = time.perf_counter()
    time.sleep(0.005)
    lates.append((time.perf_counter() - t - 0.005) * 1000)
lates.sort()
print(json.dumps({"max_stall_ms": round(lates[-1], 1),
                  "p99_stall_ms": round(lates[int(0.99 * (len(lates) - 1))], 1),
                  "stalls_over_bar": sum(1 for v in lates if v > 50)}))
"""


def _stalls(ticks: list[float]) -> dict[str, Any]:
    """Event-loop stalls from the probe's tick times: gaps beyond the probe interval."""
    gaps = sorted((b - a) * 1000 - PROBE_MS for a, b in itertools.pairwise(ticks))
    if not gaps:
        return {"ticks": 0}
    return {
        "max_stall_ms": round(gaps[-1], 1),
        "p99_stall_ms": round(gaps[int(0.99 * (len(gaps) - 1))], 1),
        "median_stall_ms": round(statistics.median(gaps), 2),
        "stalls_over_bar": sum(1 for g in gaps if g > BAR_MS),
        "ticks": len(gaps),
    }


def run() -> dict[str, Any]:
    import subprocess

    import qasync
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from core.engine import Engine
    from desktop.bridge import EngineBridge
    from desktop.main_window import MainWindow

    result: dict[str, Any] = {"bar_ms": BAR_MS, "pages": PAGES, "probe_ms": PROBE_MS}
    result["load_before"] = _machine_load()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        engine = Engine(data)
        engine.ensure_starter_models_sync()
        engine.settings.generation.max_tokens = 200
        engine.save_settings()
        first = make_pdf(Path(tmp) / "first.pdf", 2)
        pdf = make_pdf(Path(tmp) / "harbour-report.pdf", PAGES)
        window = MainWindow(EngineBridge(engine))
        window.resize(1280, 800)
        window.show()
        window.start()
        docs, chat = window.documents_pane, window.chat_pane

        async def until(pred: Any, timeout: float) -> None:
            end = time.monotonic() + timeout
            while not pred():
                if time.monotonic() > end:
                    raise TimeoutError("benchmark condition not met")
                await asyncio.sleep(0.05)

        ticks: list[float] = []
        probe = QTimer()
        probe.setTimerType(Qt.TimerType.PreciseTimer)
        probe.setInterval(PROBE_MS)
        probe.timeout.connect(lambda: ticks.append(time.perf_counter()))

        def state(path: Path) -> str:
            s = docs.documents.state_of(str(path.resolve()))
            return s.state if s is not None else ""

        async def first_use() -> dict[str, Any]:
            """A first small PDF in a fresh process: loads the embedding model."""
            await until(lambda: window.models_pane.list.count() > 0, 300)
            await engine.load_model()  # generation speed is not what is measured here
            await asyncio.sleep(1.0)
            ticks.clear()
            probe.start()
            t0 = time.perf_counter()
            docs.add_paths([first])
            await until(lambda: state(first) in ("ready", "failed") and not docs.queue.busy(), 300)
            probe.stop()
            return {"s": round(time.perf_counter() - t0, 1), **_stalls(ticks)}

        async def indexing_while_answering() -> dict[str, Any]:
            await asyncio.sleep(1.0)
            ticks.clear()
            answers = 0
            probe.start()
            t0 = time.perf_counter()
            docs.add_paths([pdf])
            while state(pdf) not in ("ready", "failed"):
                if not chat.streaming:
                    chat.new_chat()
                    chat.input.setPlainText(QUESTION)
                    chat.send()
                    answers += 1
                await asyncio.sleep(0.05)
                if time.perf_counter() - t0 > 1200:
                    raise TimeoutError("indexing took more than 20 minutes")
            elapsed = time.perf_counter() - t0
            probe.stop()
            if chat.streaming:
                chat.stop()
            await until(lambda: not chat.streaming, 30)
            return {
                "state": state(pdf),
                "index_s": round(elapsed, 1),
                "pages_per_s": round(PAGES / elapsed, 2),
                "answers_started": answers,
                **_stalls(ticks),
            }

        with loop:
            result["first_use"] = loop.run_until_complete(first_use())
            # a separate, idle process measures what the machine alone does to a 5 ms sleep
            control = subprocess.Popen(
                [sys.executable, "-c", _CONTROL], stdout=subprocess.PIPE, text=True
            )
            try:
                main = loop.run_until_complete(indexing_while_answering())
            finally:
                control.terminate()
                out, _err = control.communicate(timeout=30)
            main["idle_process_on_this_machine"] = json.loads(out) if out.strip() else {}
            loop.run_until_complete(engine.close())
        window.close()
    result["indexing_while_answering"] = main
    result["max_stall_ms"] = main.get("max_stall_ms")
    result["passes_bar"] = (main.get("max_stall_ms") or 0) <= BAR_MS
    result["load_after"] = _machine_load()
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
