"""Screenshots of the main window, light and dark, while an answer streams.

Run from the repository root: ``.venv/bin/python docs/screenshots/take_screenshots.py``.
Each theme runs in its own process (the palette is chosen once per process,
``LECTERN_THEME`` decides it), offscreen, with the real starter model in a
temporary data directory. A finished conversation is stored first so the
list and an answer with statistics and sources show; then a question is sent
and the window is grabbed once enough of the answer has streamed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

QUESTION = "Write Python code that prints the numbers from 1 to 10, then explain it."
EARLIER_ANSWER = (
    "Lectern keeps everything on your computer [1]. Models are **GGUF** files run by "
    "llama.cpp, and your PDFs are indexed locally [2].\n\n"
    "- no account\n- no upload\n- works offline\n\n"
    "```python\nimport lectern\nprint(lectern.__version__)\n```"
)


def _one(theme: str, out: Path) -> None:
    os.environ["LECTERN_THEME"] = theme
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(REPO))
    import qasync
    from PySide6.QtWidgets import QApplication

    from core.engine import Engine
    from core.events import Token
    from core.types import GenerationStats, Passage
    from desktop.bridge import EngineBridge
    from desktop.main_window import MainWindow

    app = QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(tmp)
        engine.ensure_starter_models_sync()
        engine.settings.generation.max_tokens = 400
        engine.settings.generation.temperature = 0.0
        store = engine.conversations
        old = store.create("What does Lectern do with my files?", "You are Lectern.")
        store.add_message(old.id, "user", "What does Lectern do with my files?")
        stats = GenerationStats(
            ttft_s=0.21, prompt_tokens=412, prefill_tps=812.0, completion_tokens=58, decode_tps=84.7
        )
        m = store.add_message(
            old.id,
            "assistant",
            EARLIER_ANSWER,
            sources=[
                Passage(file="Lectern guide.pdf", page=2, text="", score=0.9),
                Passage(file="Privacy notes.pdf", page=5, text="", score=0.8),
            ],
        )
        store.update_message(m.id, EARLIER_ANSWER, status="complete", stats=stats)
        store.create("Summarise the tax letter")
        window = MainWindow(EngineBridge(engine))
        window.resize(1440, 880)
        window.show()
        window.start()
        tokens: list[str] = []
        window.bridge.engine_event.connect(
            lambda tag, ev: tokens.append(ev.text) if isinstance(ev, Token) else None
        )

        async def drive() -> None:
            await asyncio.sleep(1.0)
            window.chat_pane.open_conversation(old.id)
            await asyncio.sleep(0.5)
            window.chat_pane.input.setPlainText(QUESTION)
            window.chat_pane.send()
            while len(tokens) < 25 and window.chat_pane.streaming:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.12)  # let the throttled render catch up
            window.grab().save(str(out))
            window.chat_pane.stop()
            while window.chat_pane.streaming:
                await asyncio.sleep(0.05)
            await engine.close()

        loop.run_until_complete(asyncio.wait_for(drive(), 300))
    # leave without tearing Qt down piece by piece (the picture is saved)
    os._exit(0)


def main() -> int:
    if len(sys.argv) == 3:
        _one(sys.argv[1], Path(sys.argv[2]))
        return 0
    for theme in ("light", "dark"):
        out = HERE / f"main-window-{theme}.png"
        subprocess.run([sys.executable, __file__, theme, str(out)], check=True, cwd=REPO)
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
