"""The estimate for the starter model against what llama.cpp really allocates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.synthetic_gguf import TINY, TINY_GEMMA3, SyntheticShape, write_synthetic_gguf
from core.engine import Engine
from core.hardware.corrections import CorrectionStore, flash_attn_from_log, parse_buffer_sizes
from core.hardware.detect import simulated_hardware
from core.hardware.model_shape import read_model_shape
from core.hardware.planner import (
    Correction,
    MemoryEstimate,
    PlanOptions,
    estimate_config,
    plan,
)
from core.hardware.service import HardwareService
from core.paths import DataPaths

MIB = 1024**2

LOAD = """
import sys, llama_cpp
path, n_ctx, kv = sys.argv[1], int(sys.argv[2]), sys.argv[3]
kw = {} if kv == "f16" else {"flash_attn": True, "type_k": 8, "type_v": 8}  # 8 = GGML_TYPE_Q8_0
llama_cpp.Llama(path, n_ctx=n_ctx, n_batch=512, n_ubatch=512, n_threads=2, n_gpu_layers=0,
                verbose=True, **kw)
"""

# recorded from a real load (llama-cpp-python 0.3.36, CPU, n_ctx 8192)
RECORDED_LOG = """\
load_tensors:   CPU_Mapped model buffer size =   235.16 MiB
load_tensors:   CPU_REPACK model buffer size =    12.66 MiB
llama_context:        CPU  output buffer size =     1.00 MiB
llama_kv_cache:        CPU KV buffer size =    24.00 MiB
llama_kv_cache:        CPU KV buffer size =   120.00 MiB
sched_reserve:        CPU compute buffer size =   514.50 MiB
~llama_context:        CPU compute buffer size is 514.5020 MiB, matches expectation of 514.5020 MiB
"""


def test_parse_buffer_sizes() -> None:
    sizes = parse_buffer_sizes(RECORDED_LOG)
    assert sizes["CPU_Mapped model"] == int(235.16 * MIB)
    assert sizes["CPU KV"] == 144 * MIB  # Gemma's global and sliding-window caches, summed
    assert sizes["weights"] == int(235.16 * MIB) + int(12.66 * MIB)
    assert sizes["compute"] == int(
        514.5 * MIB
    )  # the "is ... matches expectation" line is not a second buffer
    assert sizes["gpu"] == 0
    cuda = parse_buffer_sizes(
        "load_tensors:        CUDA0 model buffer size =  4403.49 MiB\n"
        "llama_kv_cache:      CUDA0 KV buffer size =  1024.00 MiB\n"
        "sched_reserve:      CUDA0 compute buffer size =   560.00 MiB\n"
        "sched_reserve:  CUDA_Host compute buffer size =    24.01 MiB\n"
    )
    assert cuda["gpu"] == int(4403.49 * MIB) + 1024 * MIB + 560 * MIB
    assert cuda["compute"] == 560 * MIB + int(24.01 * MIB)
    # a CUDA build on a processor with AMX, no layers on the GPU (seen on an H200 machine):
    # the AMX copy of the weights is in RAM
    amx = parse_buffer_sizes(
        "load_tensors:          AMX model buffer size =  1981.00 MiB\n"
        "load_tensors:   CPU_Mapped model buffer size =  1981.30 MiB\n"
        "llama_kv_cache:        CPU KV buffer size =   256.00 MiB\n"
    )
    assert amx["gpu"] == 0 and amx["weights"] == 1981 * MIB + int(1981.3 * MIB)


@pytest.mark.slow
@pytest.mark.parametrize("kv", ["f16", "q8_0"])
def test_estimate_matches_a_real_cpu_load(starter_gguf: Path, kv: str, tmp_path: Path) -> None:
    shape = read_model_shape(starter_gguf)
    hw = simulated_hardware(gpu_vendor="none", ram_gb=16)
    p = plan(shape, hw)
    assert (p.fit, p.n_gpu_layers, p.n_ctx) == ("cpu", 0, 8192)
    est = estimate_config(shape, hw, n_gpu_layers=0, n_ctx=p.n_ctx, kv_type=kv)
    proc = subprocess.run(
        [sys.executable, "-c", LOAD, str(starter_gguf), str(p.n_ctx), kv],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    real = parse_buffer_sizes(proc.stderr)
    real_total = real["weights"] + real["kv"] + real["compute"] + real["output"]
    est_total = est.weights_bytes + est.kv_bytes + est.compute_bytes
    print(
        f"\n{kv}: estimate {est_total / MIB:.1f} MiB (weights {est.weights_bytes / MIB:.1f}, "
        f"KV {est.kv_bytes / MIB:.1f}, compute {est.compute_bytes / MIB:.1f}); llama.cpp "
        f"{real_total / MIB:.1f} MiB (weights {real['weights'] / MIB:.1f}, "
        f"KV {real['kv'] / MIB:.1f}, "
        f"compute+output {(real['compute'] + real['output']) / MIB:.1f})"
    )
    assert abs(est_total - real_total) / real_total < 0.15
    assert abs(est.kv_bytes - real["kv"]) / real["kv"] < 0.15
    assert abs(est.weights_bytes - real["weights"]) / real["weights"] < 0.15

    # the correction learnt from this load makes the next estimate for this model exact-ish
    store = CorrectionStore(tmp_path / "corrections.json")
    corr = store.record(starter_gguf, est, real)
    assert store.get(starter_gguf) == corr
    again = estimate_config(shape, hw, n_gpu_layers=0, n_ctx=p.n_ctx, kv_type=kv, correction=corr)
    again_total = again.weights_bytes + again.kv_bytes + again.compute_bytes
    assert abs(again_total - real_total) / real_total < 0.01
    assert corr.kv == 1.0 and again.kv_bytes == est.kv_bytes == real["kv"]  # exact, not corrected


@pytest.mark.parametrize("synthetic", [TINY, TINY_GEMMA3], ids=["llama", "gemma3"])
def test_synthetic_models_load_in_llama_cpp(synthetic: SyntheticShape, tmp_path: Path) -> None:
    """The models bench gpu_offload measures on a GPU are ones llama.cpp loads as estimated."""
    model = write_synthetic_gguf(tmp_path / f"{synthetic.arch}.gguf", synthetic)
    shape = read_model_shape(model)
    assert shape.architecture == synthetic.arch
    assert shape.output_tied == synthetic.gemma
    if synthetic.gemma:  # llama.cpp's Gemma 3 pattern: layer 5 of 7 is the global one
        assert shape.swa_layers == (True,) * 5 + (False, True)
        assert shape.sliding_window == synthetic.sliding_window
    hw = simulated_hardware(gpu_vendor="none", ram_gb=16)
    est = estimate_config(shape, hw, n_gpu_layers=0, n_ctx=2048)
    proc = subprocess.run(
        [sys.executable, "-c", LOAD, str(model), "2048", "f16"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    real = parse_buffer_sizes(proc.stderr)
    assert real["weights"] == pytest.approx(est.weights_bytes, rel=0.01)
    assert real["kv"] == pytest.approx(est.kv_bytes, rel=0.001)


# many heads, a long context, a small vocabulary: the attention scores would be the largest
# buffer (512 MiB at 8192 tokens) if llama.cpp did not run flash attention
ATTENTION_HEAVY = SyntheticShape(
    n_layer=2, n_embd=1024, n_ff=1024, n_head=32, n_head_kv=8, n_vocab=1024, n_ctx_train=8192
)


@pytest.mark.slow
async def test_flash_attention_auto_is_estimated_and_learnt(tmp_path: Path) -> None:
    """An f16 cache is loaded with flash attention "auto": on the processor llama.cpp runs it."""
    model = write_synthetic_gguf(tmp_path / "attention-heavy.gguf", ATTENTION_HEAVY)
    shape = read_model_shape(model)
    hw = simulated_hardware(gpu_vendor="none", ram_gb=16)
    engine = Engine(tmp_path / "data")
    try:
        loaded = await engine.load_model(str(model))
        cfg = loaded.config
        assert (cfg.type_k, cfg.flash_attn, loaded.n_ctx) == ("f16", False, 8192)  # "auto"
        assert flash_attn_from_log(loaded.load_log) is True  # "auto" resolved to enabled
        real = parse_buffer_sizes(loaded.load_log)
        est = estimate_config(shape, hw, n_gpu_layers=0, n_ctx=8192)
        without = estimate_config(
            shape, hw, n_gpu_layers=0, n_ctx=8192, correction=Correction(flash_attn=False)
        )
        assert without.compute_bytes > 10 * real["compute"]  # what was estimated before
        assert real["compute"] == pytest.approx(est.compute_bytes, rel=0.15)
        engine.record_load_memory(loaded)
        stored = engine.hardware_service.corrections.get(model)
        assert stored is not None and stored.flash_attn
        assert 0.85 < stored.compute < 1.15
    finally:
        await engine.close()


def test_flash_attention_is_read_from_the_load_log() -> None:
    auto = "llama_context: flash_attn            = auto\nresolve_fused_ops: Flash Attention {}\n"
    assert flash_attn_from_log(auto.format("enabled")) is True
    # a GPU build without the kernels (llama.cpp's warning when "auto" finds no support)
    assert flash_attn_from_log(auto.format("not supported, set to disabled")) is False
    # other llama.cpp versions (seen in LM Studio's logs)
    assert flash_attn_from_log(auto.format("was auto, set to disabled")) is False
    assert flash_attn_from_log(auto.format("was auto, set to enabled")) is True
    assert flash_attn_from_log("llama_context: flash_attn            = enabled") is True
    assert flash_attn_from_log("llama_context: flash_attn            = disabled") is False
    assert flash_attn_from_log(RECORDED_LOG) is None


def test_a_load_without_flash_attention_is_learnt(tmp_path: Path) -> None:
    model = write_synthetic_gguf(tmp_path / "heavy.gguf", ATTENTION_HEAVY, header_only=True)
    shape = read_model_shape(model)
    hw = simulated_hardware(gpu_vendor="none", ram_gb=16)
    service = HardwareService(DataPaths(tmp_path / "data"))
    assert service.corrections.get(model) is None
    without = estimate_config(
        shape, hw, n_gpu_layers=0, n_ctx=8192, correction=Correction(flash_attn=False)
    )

    # llama.cpp reported the buffers of a load that ran without flash attention
    def record(kv_type: str, est: MemoryEstimate, flash_attn: bool | None) -> Correction | None:
        reported = {"weights": est.weights_bytes, "kv": est.kv_bytes, "compute": est.compute_bytes}
        return service.record_load(
            model, hw, n_gpu_layers=0, n_ctx=8192, kv_type=kv_type, offload_kqv=True,
            reported=reported, flash_attn=flash_attn,
        )  # fmt: skip

    corr = record("f16", without, False)
    assert corr == Correction(flash_attn=False)  # measured against the right formula: exact
    assert service.corrections.get(model) == corr
    assert service.plan_file(model, hw, PlanOptions())[0].estimate.compute_bytes == (
        without.compute_bytes
    )
    # a q8_0 load (flash attention asked for) says nothing about "auto": what was learnt stays
    q8 = estimate_config(shape, hw, n_gpu_layers=0, n_ctx=8192, kv_type="q8_0")
    assert record("q8_0", q8, None) == Correction(flash_attn=False)
