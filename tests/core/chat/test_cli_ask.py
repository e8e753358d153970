"""``lectern ask --no-library --json`` on the real starter model."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from core.cli import main
from core.engine import Engine


def test_ask_json(chat_data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # greedy decoding (chat_data_dir): a sampled answer of the 270M model was once blank
    rc = main(
        [
            "--data-dir",
            str(chat_data_dir),
            "ask",
            "What is the capital of France?",
            "--no-library",
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    out = json.loads(captured.out)
    assert set(out) == {"answer", "sources", "stats"}
    assert out["answer"].strip() and out["sources"] == []
    assert set(out["stats"]) == {
        "ttft_s",
        "prompt_tokens",
        "prefill_tps",
        "completion_tokens",
        "decode_tps",
    }
    assert out["stats"]["prompt_tokens"] > 0 and out["stats"]["completion_tokens"] > 0
    # how the model was loaded is in the log, for a bug report
    log = (chat_data_dir / "logs" / "lectern.log").read_text(encoding="utf-8")
    assert "INFO core.chat.service: loaded " in log and "n_gpu_layers=0 n_ctx=" in log


def test_an_empty_question_is_refused_before_any_model_loads(
    chat_data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # it was sent to the model as it was, which wrote a page of invented text
    rc = main(["--data-dir", str(chat_data_dir), "ask", "  \n", "--no-library", "--json"])
    captured = capsys.readouterr()
    assert rc == 2
    assert captured.out == ""
    assert captured.err.strip().splitlines() == ["lectern: error: The question is empty."]


def test_a_mistyped_model_is_refused_before_the_search(
    chat_data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # with a library that did not cover the question, it answered and exited 0
    rc = main(["--data-dir", str(chat_data_dir), "ask", "Why?", "--model", "nosuch"])
    captured = capsys.readouterr()
    assert rc == 1 and captured.out == ""
    assert captured.err.strip().splitlines() == [
        "lectern: error: No model 'nosuch'. (see 'lectern models list' for installed models)"
    ]


def test_a_models_own_settings_apply_on_the_command_line(
    data_dir: Path, starter_gguf: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # set in Models → Settings…, they applied in the desktop chat only
    engine = Engine(data_dir)
    record = asyncio.run(engine.import_model(starter_gguf))
    engine.registry.update_overrides(record.id, {"max_tokens": 2, "temperature": 0.0})
    argv = ["--data-dir", str(data_dir), "ask", "Tell me a long story.", "--no-library"]
    assert main([*argv, "--model", record.id, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 0 < out["stats"]["completion_tokens"] <= 2
