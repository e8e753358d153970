"""The log file: what goes into logs/lectern.log, and how a bug reads for the user."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.cli import docs_cmd, main
from core.logs import current_log_file, start_logging, stop_logging, unexpected_error_line
from core.paths import DataPaths


@pytest.fixture
def logging_to(data_dir: Path) -> Iterator[Path]:
    where = start_logging(DataPaths(data_dir))
    assert where == data_dir / "logs" / "lectern.log" == current_log_file()
    yield where
    stop_logging()


def test_lecterns_own_information_and_everyones_warnings_are_kept(
    logging_to: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logging.getLogger("core.documents.service").info("indexed 3 files")
    logging.getLogger("chromadb.telemetry").info("chatter nobody needs")
    logging.getLogger("httpx").warning("connection reset")
    for h in logging.getLogger().handlers:
        h.flush()
    text = logging_to.read_text(encoding="utf-8")
    assert "INFO core.documents.service: indexed 3 files" in text
    assert "WARNING httpx: connection reset" in text
    assert "chatter" not in text
    # warnings are still printed, as Python did without a handler
    assert capsys.readouterr().err.splitlines() == ["connection reset"]


def test_a_bug_is_written_with_its_traceback_and_shown_in_one_line(
    logging_to: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    meta: dict[str, str] = {}
    try:
        meta["embedder"]  # a real KeyError, with a real traceback
    except KeyError as exc:
        message, hint = unexpected_error_line(exc)
    assert message == "Something went wrong: KeyError: 'embedder'"
    assert hint == f"this is a bug in Lectern; please report it with the log file {logging_to}"
    text = logging_to.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "KeyError: 'embedder'" in text
    assert capsys.readouterr().err == ""  # the traceback is for the file, not the user


def test_the_handlers_go_when_logging_stops(data_dir: Path) -> None:
    before = list(logging.getLogger().handlers)
    level = logging.getLogger().level
    start_logging(DataPaths(data_dir))
    stop_logging()
    assert logging.getLogger().handlers == before and logging.getLogger().level == level
    assert current_log_file() is None


def test_a_command_that_fails_unexpectedly_says_one_line_and_logs_the_rest(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the traceback used to be printed for the user (SPEC: one clear line, no traceback)
    def broken(_args: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(docs_cmd, "cmd_libraries", broken)  # the bug injected, nothing mocked
    assert main(["--data-dir", str(data_dir), "docs", "libraries"]) == 1
    log = data_dir / "logs" / "lectern.log"
    assert capsys.readouterr().err.splitlines() == [
        "lectern: error: Something went wrong: RuntimeError: boom (this is a bug in Lectern; "
        f"please report it with the log file {log})"
    ]
    text = log.read_text(encoding="utf-8")
    assert 'raise RuntimeError("boom")' in text
    assert current_log_file() is None  # main() leaves the process's logging as it found it


def test_without_stderr_the_log_file_is_still_written(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a windowed application on Windows runs with sys.stderr set to None: the console
    # handler failed on every warning (logging swallows that, so count its failures)
    failures: list[logging.LogRecord] = []
    monkeypatch.setattr(logging.Handler, "handleError", lambda _h, rec: failures.append(rec))
    monkeypatch.setattr("sys.stderr", None)
    where = start_logging(DataPaths(data_dir))
    try:
        logging.getLogger("httpx").warning("connection reset")
    finally:
        stop_logging()
    assert where is not None and "connection reset" in where.read_text(encoding="utf-8")
    assert failures == []
