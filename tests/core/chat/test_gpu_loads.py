"""Loads with and without GPU layers (the paths measured on a real GPU by bench/gpu_offload).

A load with layers on the GPU runs one batch at once, so that a GPU short of memory fails
there and the load ladder can step down; a load without GPU layers runs in a worker that
cannot see the GPU. On this machine's processor-only build llama.cpp keeps the layers on
the CPU, but the loads take the same paths as on a GPU.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
from pathlib import Path

import pytest

from core.chat.generator import LocalGenerator
from core.chat.llama_backend import LlamaBackend
from core.chat.load_config import LoadConfig
from core.chat.protocol import ShutdownRequest
from core.chat.service import ChatService
from core.chat.templates import fallback_template
from core.chat.worker import worker_main
from core.errors import ModelLoadError
from core.events import Done
from tests.core.chat.conftest import raw_request


def _answer(backend: LlamaBackend, prompt: str) -> str:
    events: list[object] = []
    backend.generate(raw_request(prompt, 12), events.append)
    done = events[-1]
    assert isinstance(done, Done)
    assert done.stats is not None and done.stats.cached_tokens == 0
    return done.text


def test_gpu_layers_warm_up_at_load_and_leave_nothing_cached(
    starter_gguf: Path, backend: LlamaBackend
) -> None:
    config = LoadConfig(
        model_path=str(starter_gguf), n_ctx=512, n_threads=1, n_threads_batch=1,
        n_batch=64, n_ubatch=64, n_gpu_layers=99,
    )  # fmt: skip
    gpu = LlamaBackend(config, fallback_template("gemma"), ctypes.c_bool(False))
    try:
        assert gpu.loaded().warm_up_tokens == 64  # one full micro-batch
        assert backend.loaded().warm_up_tokens == 0  # no GPU layers: nothing to warm up
        # the cache is empty again: the first answer reuses nothing, and it is the answer
        # of a model loaded without a warm-up
        prompt = "The three primary colours are"
        assert _answer(gpu, prompt) == _answer(backend, prompt)
    finally:
        gpu.close()


def test_a_processor_only_load_runs_in_a_worker_that_cannot_see_the_gpu(
    starter_gguf: Path,
) -> None:
    cpu = LoadConfig(
        model_path=str(starter_gguf), n_ctx=512, n_threads=1, n_threads_batch=1,
        n_batch=64, n_ubatch=64,
    )  # fmt: skip
    generator = LocalGenerator()
    template = fallback_template("gemma")
    try:
        assert generator.load(cpu, template).warm_up_tokens == 0
        first = generator.worker.pid
        assert generator.worker.hides_gpus
        generator.load(cpu.with_changes(n_ctx=1024), template)
        assert generator.worker.pid == first  # still processor-only: the same worker
        # layers on the GPU: a worker that sees it, and the load's warm-up batch
        assert generator.load(cpu.with_changes(n_gpu_layers=99), template).warm_up_tokens == 64
        assert not generator.worker.hides_gpus and generator.worker.pid != first
        # after a crash, the next request restarts the worker as it was
        generator.load(cpu, template)
        generator.worker.stop()
        generator.worker.start()
        assert generator.worker.hides_gpus
    finally:
        generator.close()


def test_the_load_ladder_steps_past_a_configuration_that_fails(
    starter_gguf: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # on the GPU machine a rung failed for want of memory (bench gpu_offload, "squeezed");
    # here the first rung fails because llama.cpp cannot open its file
    good = LoadConfig(
        model_path=str(starter_gguf), n_ctx=512, n_threads=1, n_threads_batch=1,
        n_batch=64, n_ubatch=64,
    )  # fmt: skip
    bad = good.with_changes(model_path=str(tmp_path / "gone.gguf"), n_ctx=1024)
    service = ChatService(LocalGenerator())
    try:
        with caplog.at_level(logging.WARNING, logger="core.chat.service"):
            loaded = service.load_sync(str(starter_gguf), None, [bad, good])
        assert loaded.config == good and loaded.n_ctx == 512
        assert any("gone.gguf" in r.getMessage() for r in caplog.records)
        with pytest.raises(ModelLoadError, match=r"gone\.gguf"):
            service.load_sync(str(starter_gguf), None, [bad])
    finally:
        service.close()


@pytest.mark.parametrize(("hide", "seen"), [(True, ""), (False, "0")])
def test_the_worker_hides_nvidia_gpus_before_llama_cpp_starts(
    hide: bool, seen: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the worker's entry point itself, run here and told to stop after its set-up
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    parent, child = multiprocessing.Pipe()
    parent.send(ShutdownRequest())
    sigint = signal.getsignal(signal.SIGINT)
    try:
        worker_main(child, ctypes.c_bool(False), hide)
    finally:
        signal.signal(signal.SIGINT, sigint)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == seen
