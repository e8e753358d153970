"""Bad GGUF files and a killed worker: clear errors, and the engine keeps working."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from core.cli import main
from core.engine import Engine
from core.errors import ModelFileError, ModelLoadError, WorkerCrashedError
from core.events import Failed, Progress, Token
from core.types import Message

from .conftest import GREEDY, collect, done_of, raw_request


def _bad_files(tmp_path: Path, starter_gguf: Path) -> dict[str, Path]:
    truncated = tmp_path / "truncated.gguf"
    with starter_gguf.open("rb") as src:
        truncated.write_bytes(src.read(starter_gguf.stat().st_size // 2))
    wrong_magic = tmp_path / "wrong-magic.gguf"
    with starter_gguf.open("rb") as src:
        wrong_magic.write_bytes(b"GGML" + src.read(1 << 20)[4:])
    random_bytes = tmp_path / "random.gguf"
    random_bytes.write_bytes(os.urandom(1 << 16))
    return {
        "truncated": truncated,
        "wrong magic": wrong_magic,
        "random": random_bytes,
        "missing": tmp_path / "missing.gguf",
    }


async def test_bad_gguf_files_fail_cleanly_and_the_engine_keeps_answering(
    chat_engine: Engine, tmp_path: Path, starter_gguf: Path
) -> None:
    worker_pid = chat_engine.chat_service.generator.worker.pid
    for name, path in _bad_files(tmp_path, starter_gguf).items():
        with pytest.raises(ModelFileError) as info:
            await chat_engine.load_model(str(path))
        assert "\n" not in str(info.value), name
        events = await collect(
            chat_engine.chat([Message("user", "Hi")], model=str(path), sampling=GREEDY)
        )
        failed = [e for e in events if isinstance(e, Failed)]
        assert len(failed) == 1 and isinstance(failed[0].error, ModelFileError), name
    # llama.cpp never saw those files: the same worker still serves the loaded model
    assert chat_engine.chat_service.generator.worker.pid == worker_pid
    done_of(await collect(chat_engine.chat([Message("user", "Hi")], sampling=GREEDY)))


def test_cli_reports_a_bad_gguf_in_one_line(
    tmp_path: Path, starter_gguf: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _bad_files(tmp_path, starter_gguf)["truncated"]
    rc = main(
        ["--data-dir", str(tmp_path / "data"), "ask", "Hi", "--no-library", "--model", str(bad)]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert err[-1].startswith("lectern: error: truncated.gguf is truncated")


@pytest.mark.parametrize(
    ("sig", "says", "hint"),
    [
        # the system reclaiming memory; a restart helps
        (signal.SIGKILL, "was killed", "starts it again"),
        # llama.cpp built for another processor (or a VM that traps AMX): a rebuild helps
        (signal.SIGILL, "an illegal instruction", "rebuild it on this computer"),
    ],
)
async def test_killed_worker_fails_the_answer_and_the_next_one_works(
    chat_engine: Engine, sig: signal.Signals, says: str, hint: str
) -> None:
    svc = chat_engine.chat_service
    events = []
    async for ev in svc.stream(raw_request("Once upon a time", max_tokens=300)):
        events.append(ev)
        if isinstance(ev, Token) and len(events) == 2:
            pid = svc.generator.worker.pid
            assert pid is not None
            os.kill(pid, sig)
    failed = [e for e in events if isinstance(e, Failed)]
    assert len(failed) == 1 and isinstance(failed[0].error, WorkerCrashedError)
    assert says in str(failed[0].error) and hint in failed[0].error.hint
    assert isinstance(events[-1], Failed)
    # the next request restarts the worker, reloads the model and answers
    events = await collect(chat_engine.chat([Message("user", "Hi")], sampling=GREEDY))
    assert any(isinstance(e, Progress) and e.task == "load" for e in events)
    done_of(events)
    assert svc.generator.worker.pid != pid


async def test_a_gguf_llama_cpp_rejects_is_a_load_error(
    chat_engine: Engine, tmp_path: Path
) -> None:
    import gguf
    import numpy as np

    path = tmp_path / "alien.gguf"  # well-formed GGUF of an architecture llama.cpp lacks
    writer = gguf.GGUFWriter(str(path), "nosucharch")
    writer.add_uint32("nosucharch.block_count", 1)
    writer.add_uint32("nosucharch.embedding_length", 8)
    writer.add_uint32("nosucharch.attention.head_count", 1)
    writer.add_uint32("nosucharch.feed_forward_length", 16)
    writer.add_uint32("nosucharch.context_length", 512)
    writer.add_uint32("nosucharch.vocab_size", 4)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ModelLoadError, match=r"alien\.gguf"):
        await chat_engine.load_model(str(path))
    # the worker survived; the starter loads and answers again
    assert chat_engine.chat_service.generator.worker.alive
    await chat_engine.load_model()
    done_of(await collect(chat_engine.chat([Message("user", "Hi")], sampling=GREEDY)))
