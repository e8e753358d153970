"""Conversations outlive the window: restart, export, and a kill -9 in the middle of an answer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from pytestqt.qtbot import QtBot

from core.engine import Engine
from core.storage.conversations import ConversationStore
from desktop.bridge import EngineBridge
from desktop.main_window import MainWindow
from tests.conftest import REPO
from tests.desktop.conftest import AsyncQt


def test_conversation_survives_a_restart_and_exports(
    qtbot: QtBot, aqt: AsyncQt, chat_data_dir: Path, tmp_path: Path
) -> None:
    engine = Engine(chat_data_dir)
    window = MainWindow(EngineBridge(engine))
    qtbot.addWidget(window)
    window.show()
    window.start()
    chat = window.chat_pane
    chat.input.setPlainText("Tell me about owls.")
    chat.send()
    aqt.until(lambda: chat.streaming)
    aqt.until(lambda: not chat.streaming, timeout=120)
    answer = chat.transcript.views[-1].text
    assert answer, (chat.transcript.views[-1].error_text, chat.active_libraries)
    assert chat.conversation is not None
    conv_id = chat.conversation.id
    chat.edit_system_prompt(conv_id, "Answer like a pirate.")
    aqt.until(lambda: chat.conversation is not None and "pirate" in chat.conversation.system_prompt)
    window.close()
    aqt.run(engine.close())

    # a new application on the same data directory shows the conversation again
    engine2 = Engine(chat_data_dir)
    again = MainWindow(EngineBridge(engine2))
    qtbot.addWidget(again)
    again.show()
    again.start()
    chat2 = again.chat_pane
    aqt.until(lambda: chat2.conversation_list.ids() == [conv_id])
    aqt.until(lambda: len(chat2.transcript.views) == 2)  # reopened where the user left
    assert [v.text for v in chat2.transcript.views] == ["Tell me about owls.", answer]
    assert "tok/s" in chat2.transcript.views[1].footer.text()
    assert chat2.conversation is not None
    assert chat2.conversation.system_prompt == "Answer like a pirate."
    assert again.windowTitle() == "Tell me about owls. — Lectern"

    out = tmp_path / "owls.md"
    chat2.export_conversation(conv_id, str(out))
    aqt.until(out.exists)
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Tell me about owls.\n")
    assert "## System prompt\n\nAnswer like a pirate." in text
    assert "## You\n\nTell me about owls." in text
    assert f"## Lectern\n\n{answer.strip()}" in text

    # rename, search and delete from the list
    chat2.rename_conversation(conv_id, "Owls")
    aqt.until(lambda: chat2.conversation_list.titles() == ["Owls"])
    chat2.conversation_list.search.setText("no such words")
    aqt.until(lambda: chat2.conversation_list.ids() == [])
    chat2.conversation_list.search.setText(answer.split()[0])  # found by its answer's text
    aqt.until(lambda: chat2.conversation_list.ids() == [conv_id])
    chat2.conversation_list.search.clear()
    chat2.delete_conversation(conv_id, confirm=False)
    aqt.until(lambda: chat2.conversation_list.ids() == [])
    assert chat2.conversation is None and chat2.transcript.views == []
    aqt.run(engine2.close())


CRASH_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys, time
    import qasync
    from PySide6.QtWidgets import QApplication
    from core.engine import Engine
    from core.events import Token
    from desktop.bridge import EngineBridge
    from desktop.panes.chat_pane import ChatPane

    if __name__ == "__main__":
        app = QApplication([])
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        engine = Engine(sys.argv[1])
        # greedy and without repetition penalties the starter model writes until
        # max_tokens after this history: the answer is still streaming when the test
        # kills the app
        engine.settings.generation.max_tokens = 2000
        engine.settings.generation.temperature = 0.0
        engine.settings.generation.repeat_penalty = 1.0
        engine.settings.generation.dry_multiplier = 0.0
        pane = ChatPane(EngineBridge(engine))
        pane.show()
        tokens = []
        pane.bridge.engine_event.connect(
            lambda tag, ev: tokens.append(ev.text) if isinstance(ev, Token) else None
        )

        async def drive():
            pane.open_conversation(sys.argv[2])
            while len(pane.transcript.views) < 2:
                await asyncio.sleep(0.02)
            pane.input.setPlainText("Tell me everything about the Roman Empire in a long essay.")
            pane.send()
            while len(tokens) < 8:
                await asyncio.sleep(0.01)
                if not pane.streaming:
                    print("ENDED-EARLY", flush=True)
                    return
            shown = pane.transcript.views[-1].text
            # keep streaming for longer than the save interval, then report and wait to be killed
            t0 = time.monotonic()
            while time.monotonic() - t0 < 1.2:
                await asyncio.sleep(0.01)
            if not pane.streaming:
                print("ENDED-EARLY", flush=True)
                return
            sys.stdout.write("SHOWN " + shown.encode("unicode_escape").decode() + "\\n")
            sys.stdout.flush()
            await asyncio.sleep(60)

        loop.run_until_complete(drive())
    """
)


def test_kill_mid_answer_loses_no_earlier_message(chat_data_dir: Path, tmp_path: Path) -> None:
    store = ConversationStore(chat_data_dir / "conversations.sqlite3")
    conv = store.create("Earlier chat")
    q1 = store.add_message(conv.id, "user", "What is Rome?")
    a1 = store.add_message(conv.id, "assistant", "Rome is the capital city of Italy.")
    store.close()
    script = tmp_path / "crash_chat.py"
    script.write_text(CRASH_SCRIPT, encoding="utf-8")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, str(script), str(chat_data_dir), conv.id],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the script reports (or dies)
        assert line.startswith("SHOWN "), f"the script did not stream long enough: {line!r}"
        shown = line.removeprefix("SHOWN ").rstrip("\n").encode().decode("unicode_escape")
        assert shown
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    time.sleep(0.1)
    store = ConversationStore(chat_data_dir / "conversations.sqlite3")
    messages = store.messages(conv.id)
    store.close()
    assert [(m.id, m.content) for m in messages[:2]] == [(q1.id, q1.content), (a1.id, a1.content)]
    assert (messages[2].role, messages[2].content) == (
        "user",
        "Tell me everything about the Roman Empire in a long essay.",
    )
    partial = messages[3]
    assert partial.role == "assistant" and partial.status == "streaming"  # it never finished
    # everything that was on screen one save interval before the kill is on disk
    assert partial.content.startswith(shown), (partial.content, shown)
    assert len(messages) == 4
