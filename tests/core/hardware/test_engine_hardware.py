"""The engine's hardware section: detection cache, plans, fit labels, ladder, corrections."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from core.engine import Engine
from core.events import Progress
from core.hardware.detect import Sources, simulated_hardware
from core.hardware.measure import SpeedMeasured
from core.hardware.probes import LlamaBuildInfo
from core.hardware.service import HardwareService
from core.models.starter import STARTER_MODEL_ID


async def test_plans_and_fit_labels(starter_data_dir: Path) -> None:
    engine = Engine(starter_data_dir)
    assert engine.fit_label_for_size(5_000_000_000) == "unknown"  # never detects on the caller
    hw = await engine.hardware()
    assert await engine.hardware() is hw  # cached
    plan = await engine.plan_model(STARTER_MODEL_ID)
    assert plan.fit in ("gpu", "partial", "cpu") and plan.n_ctx == 8192
    gpu24 = simulated_hardware(gpu_vendor="nvidia", gpu_vram_gb=24, ram_gb=32)
    assert (await engine.plan_model(STARTER_MODEL_ID, gpu24)).fit == "gpu"
    # catalog entries (size only) on a 6 GB card with 16 GB of RAM
    nv6 = simulated_hardware(gpu_vendor="nvidia", gpu_vram_gb=6, ram_gb=16)
    label = engine.fit_label_for_size
    assert label(491_000_000, parameters_b=0.5, hardware=nv6) == "gpu"
    assert label(8_540_000_000, parameters_b=8, quantization="Q8_0", hardware=nv6) == "partial"
    assert label(40_000_000_000, parameters_b=70, hardware=nv6) == "too_large"
    cpu = simulated_hardware(gpu_vendor="none", ram_gb=16)
    assert label(4_920_000_000, parameters_b=8, hardware=cpu) == "cpu"
    assert label(4_920_000_000) in ("gpu", "partial", "cpu")  # now that detection ran


async def test_settings_reach_the_plan(starter_data_dir: Path, tmp_path: Path) -> None:
    engine = Engine(tmp_path / "data")
    path = Engine(starter_data_dir).registry.get(STARTER_MODEL_ID).path
    engine.settings.generation.n_ctx = 4096
    hw = simulated_hardware(gpu_vendor="nvidia", gpu_vram_gb=8, ram_gb=16)
    engine.settings.generation.n_gpu_layers = 5
    plan = await engine.plan_model(path, hw)
    assert (plan.n_ctx, plan.n_gpu_layers, plan.fit) == (4096, 5, "partial")


@pytest.mark.slow
async def test_load_ladder_and_correction_from_a_real_load(
    starter_gguf: Path, data_dir: Path
) -> None:
    engine = Engine(data_dir)
    try:
        ladder = engine.load_config_for(str(starter_gguf), None)
        plan = engine.plan_model_sync(starter_gguf)
        first = ladder[0]
        assert (first.n_gpu_layers, first.n_ctx, first.type_k) == (
            plan.n_gpu_layers,
            plan.n_ctx,
            plan.type_k,
        )
        assert ladder[-1].n_gpu_layers == 0 and ladder[-1].n_ctx == plan.n_ctx_floor
        loaded = await engine.load_model(str(starter_gguf))
        assert loaded.config == first and loaded.n_ctx == plan.n_ctx
        engine.record_load_memory(loaded)
        stored = json.loads((data_dir / "hardware" / "corrections.json").read_text())
        (entry,) = stored.values()
        # the estimate was within 15% of what llama.cpp allocated (weights, compute buffer);
        # the KV cache is exact arithmetic and never corrected (see corrections.py)
        for part in ("weights", "compute"):
            assert 0.85 < entry[part] < 1.15, (part, entry)
        assert entry["kv"] == 1.0 and entry["kv_observed"] > 0
        assert entry["flash_attn"] is True  # "auto", resolved by llama.cpp on the processor
        corrected = engine.plan_model_sync(starter_gguf)
        assert corrected.n_ctx == plan.n_ctx  # a small correction changes no decision here

        # the wizard's speed measurement, shortened so even the base starter model (whose answer
        # ends at its first blank line) is still writing when the time is up
        events = [ev async for ev in engine.measure_speed(str(starter_gguf), seconds=0.1)]
        result = events[-1]
        assert isinstance(result, SpeedMeasured), events[-1]
        assert result.tokens >= 1 and result.decode_tps > 0 and result.prefill_tps > 0
        assert result.stopped  # stopped at the time limit, not left to write 32k tokens
        assert any(isinstance(e, Progress) and e.task == "measure" for e in events)
        assert "tokens/s" in result.in_words()
    finally:
        await engine.close()


def test_a_load_is_planned_on_the_gpu_memory_free_now(starter_gguf: Path, data_dir: Path) -> None:
    free_mib = {"now": 11512}

    def nvidia_smi(argv: list[str]) -> str:
        if argv[0] != "nvidia-smi":
            raise FileNotFoundError(argv[0])
        return f"0, NVIDIA GeForce RTX 3060, 12288, {free_mib['now']}, 550.54.14, 8.6\n"

    src = Sources(
        runner=nvidia_smi,
        probe_llama=lambda: LlamaBuildInfo(installed=True, supports_gpu_offload=True),
    )
    engine = Engine(data_dir)
    engine._hardware_service = HardwareService(engine.paths, src)
    try:
        first = engine.load_config_for(str(starter_gguf), None)[0]
        assert first.n_gpu_layers == 19  # all 18 blocks and the output
        # another program takes the GPU after detection: the next load is planned without it
        free_mib["now"] = 300
        assert engine.load_config_for(str(starter_gguf), None)[0].n_gpu_layers == 0
        assert engine.plan_model_sync(starter_gguf).fit == "cpu"
        assert engine.hardware_service.detect().gpus[0].free_bytes == 11512 * 2**20  # cached
    finally:
        asyncio.run(engine.close())
