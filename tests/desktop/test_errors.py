"""How an engine error reads in one line (status bar, notices)."""

from __future__ import annotations

from pathlib import Path

from core.engine import Engine
from core.errors import ModelFileError
from core.logs import start_logging, stop_logging
from desktop.bridge import EngineBridge
from desktop.errors import error_line, join_hint
from tests.desktop.conftest import AsyncQt


def test_message_and_hint_read_as_two_sentences() -> None:
    # they were run together: "... file is not a database move the file away to ..."
    assert join_hint("Cannot open x: file is not a database", "move the file away") == (
        "Cannot open x: file is not a database. Move the file away."
    )
    assert join_hint("The file is damaged.", "download it again.") == (
        "The file is damaged. Download it again."
    )
    assert join_hint("Nothing to do", "") == "Nothing to do"
    assert error_line(ModelFileError("x.gguf is truncated", hint="download it again")) == (
        "x.gguf is truncated. Download it again."
    )
    assert error_line(RuntimeError("boom")).startswith("Something went wrong: RuntimeError: boom.")


def test_a_bug_in_a_background_task_is_logged_and_points_at_the_log(
    aqt: AsyncQt, data_dir: Path
) -> None:
    # "please report it" gave nothing to report: no log file was written
    engine = Engine(data_dir)
    where = start_logging(engine.paths)
    try:
        bridge = EngineBridge(engine)
        failures: list[BaseException] = []
        bridge.failed.connect(lambda _tag, exc: failures.append(exc))

        async def buggy() -> None:
            raise ZeroDivisionError("division by zero")

        bridge.submit("docs:list-libraries", buggy())
        aqt.until(lambda: bool(failures))
        assert error_line(failures[0]) == (
            "Something went wrong: ZeroDivisionError: division by zero. This is a bug in "
            f"Lectern; please report it with the log file {where}."
        )
        assert where is not None
        text = where.read_text(encoding="utf-8")
        assert "docs:list-libraries failed: division by zero" in text
        assert 'raise ZeroDivisionError("division by zero")' in text
    finally:
        stop_logging()
