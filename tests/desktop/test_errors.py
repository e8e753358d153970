"""How an engine error reads in one line (status bar, notices)."""

from __future__ import annotations

from core.errors import ModelFileError
from desktop.errors import error_line, join_hint


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
