"""The planner's arithmetic on the shapes of real models, table-driven."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from bench.synthetic_gguf import GEMMA3_1B, LLAMA_1B, write_synthetic_gguf
from core.hardware.detect import HardwareInfo, simulated_hardware
from core.hardware.ladder import Threads, build_ladder
from core.hardware.model_shape import ModelShape, read_model_shape
from core.hardware.planner import (
    GIB,
    KV_BYTES,
    MIB,
    Correction,
    PlanOptions,
    approximate_shape,
    budgets,
    estimate_config,
    plan,
)
from tests.core.hardware.real_shapes import (
    GEMMA3_4B,
    LLAMA3_8B,
    LLAMA3_8B_Q8,
    MISTRAL_7B,
    QWEN25_7B,
    REAL_MODELS,
    Arch,
    real_shape,
)

PROFILES: dict[str, HardwareInfo] = {
    "cpu-8gb": simulated_hardware(gpu_vendor="none", ram_gb=8),
    "nvidia-6gb": simulated_hardware(gpu_vendor="nvidia", gpu_vram_gb=6, ram_gb=16),
    "nvidia-24gb": simulated_hardware(gpu_vendor="nvidia", gpu_vram_gb=24, ram_gb=32),
    "apple-16gb": simulated_hardware(gpu_vendor="apple", ram_gb=16),
    "amd-8gb": simulated_hardware(gpu_vendor="amd", gpu_vram_gb=8, ram_gb=16),
}


@pytest.mark.parametrize("arch", REAL_MODELS, ids=lambda a: a.name)
def test_tensor_sizes_add_up_to_the_published_file(arch: Arch) -> None:
    shape = real_shape(arch)
    # the rest of the file is the header and the tokenizer (a few MB)
    assert 0.99 < shape.weights_bytes / arch.published_file_bytes <= 1.0


def test_shapes_carry_the_real_geometry() -> None:
    llama = real_shape(LLAMA3_8B)
    assert (llama.n_layer, llama.n_head[0], llama.n_head_kv[0], llama.head_dim_k) == (
        32,
        32,
        8,
        128,
    )
    # Llama 3: 32 layers x 8 KV heads x (128 + 128) x 2 bytes = 128 KiB per token
    kv = estimate_config(llama, PROFILES["cpu-8gb"], n_gpu_layers=0, n_ctx=8192).kv_bytes
    assert kv == 8192 * 32 * 8 * 256 * 2 == 1 * GIB
    gemma = real_shape(GEMMA3_4B)
    assert gemma.output_tied and gemma.sliding_window == 1024
    # llama.cpp's Gemma 3 pattern: layers 5, 11, 17, 23, 29 are global, the rest slide
    assert [i for i, swa in enumerate(gemma.swa_layers) if not swa] == [5, 11, 17, 23, 29]


# (model, profile) -> (fit, n_gpu_layers, n_ctx, kv type, KV cache on the GPU)
EXPECTED = [
    (LLAMA3_8B, "cpu-8gb", ("cpu", 0, 8192, "f16", True)),
    (LLAMA3_8B, "nvidia-6gb", ("gpu", 33, 8192, "f16", False)),
    (LLAMA3_8B, "nvidia-24gb", ("gpu", 33, 8192, "f16", True)),
    (LLAMA3_8B, "apple-16gb", ("gpu", 33, 8192, "f16", True)),
    (LLAMA3_8B, "amd-8gb", ("gpu", 33, 8192, "f16", True)),
    (QWEN25_7B, "cpu-8gb", ("cpu", 0, 8192, "f16", True)),
    (QWEN25_7B, "nvidia-6gb", ("gpu", 29, 8192, "f16", True)),
    (QWEN25_7B, "nvidia-24gb", ("gpu", 29, 8192, "f16", True)),
    (QWEN25_7B, "apple-16gb", ("gpu", 29, 8192, "f16", True)),
    (QWEN25_7B, "amd-8gb", ("gpu", 29, 8192, "f16", True)),
    (GEMMA3_4B, "cpu-8gb", ("cpu", 0, 8192, "f16", True)),
    (GEMMA3_4B, "nvidia-6gb", ("gpu", 35, 8192, "f16", True)),
    (GEMMA3_4B, "nvidia-24gb", ("gpu", 35, 8192, "f16", True)),
    (GEMMA3_4B, "apple-16gb", ("gpu", 35, 8192, "f16", True)),
    (GEMMA3_4B, "amd-8gb", ("gpu", 35, 8192, "f16", True)),
    (MISTRAL_7B, "cpu-8gb", ("cpu", 0, 8192, "f16", True)),
    (MISTRAL_7B, "nvidia-6gb", ("gpu", 33, 8192, "q8_0", True)),
    (MISTRAL_7B, "nvidia-24gb", ("gpu", 33, 8192, "f16", True)),
    (MISTRAL_7B, "apple-16gb", ("gpu", 33, 8192, "f16", True)),
    (MISTRAL_7B, "amd-8gb", ("gpu", 33, 8192, "f16", True)),
    # 8.5 GB of weights: too much for 8 GB of RAM, split on 6 and 8 GB cards
    (LLAMA3_8B_Q8, "cpu-8gb", ("too_large", 0, 2048, "q8_0", True)),
    (LLAMA3_8B_Q8, "nvidia-6gb", ("partial", 20, 8192, "f16", False)),
    (LLAMA3_8B_Q8, "nvidia-24gb", ("gpu", 33, 8192, "f16", True)),
    (LLAMA3_8B_Q8, "apple-16gb", ("gpu", 33, 8192, "f16", True)),
    (LLAMA3_8B_Q8, "amd-8gb", ("partial", 30, 8192, "f16", False)),
]


@pytest.mark.parametrize(
    ("arch", "profile", "expected"),
    EXPECTED,
    ids=[f"{a.name}@{p}" for a, p, _ in EXPECTED],
)
def test_decisions(arch: Arch, profile: str, expected: tuple[object, ...]) -> None:
    hw = PROFILES[profile]
    p = plan(real_shape(arch), hw)
    assert (p.fit, p.n_gpu_layers, p.n_ctx, p.type_k, p.offload_kqv) == expected
    assert p.flash_attn == (p.type_k != "f16")  # a quantised V cache needs flash attention
    b = budgets(hw)
    if p.fit != "too_large":
        assert p.estimate.vram_bytes <= b.vram
        assert p.estimate.ram_bytes + (p.estimate.vram_bytes if b.unified else 0) <= b.ram
    else:
        assert p.estimate.ram_bytes > b.ram


# a long context (32k) asked for: the KV cache moves to RAM before the context shrinks
LONG = PlanOptions(desired_ctx=32768)
EXPECTED_LONG = [
    (MISTRAL_7B, "nvidia-6gb", ("gpu", 33, 32768, "f16", False)),
    (GEMMA3_4B, "nvidia-6gb", ("gpu", 35, 32768, "f16", False)),
    (QWEN25_7B, "cpu-8gb", ("cpu", 0, 32768, "q8_0", True)),
    (LLAMA3_8B, "nvidia-24gb", ("gpu", 33, 8192, "f16", True)),  # Llama 3's own limit: 8192
    (LLAMA3_8B_Q8, "nvidia-6gb", ("partial", 20, 8192, "f16", False)),
]


@pytest.mark.parametrize(
    ("arch", "profile", "expected"),
    EXPECTED_LONG,
    ids=[f"{a.name}@{p}" for a, p, _ in EXPECTED_LONG],
)
def test_long_context_decisions(arch: Arch, profile: str, expected: tuple[object, ...]) -> None:
    p = plan(real_shape(arch), PROFILES[profile], LONG)
    assert (p.fit, p.n_gpu_layers, p.n_ctx, p.type_k, p.offload_kqv) == expected


def test_context_shrinks_but_never_below_the_floor() -> None:
    shape = real_shape(MISTRAL_7B)
    tight = simulated_hardware(gpu_vendor="none", ram_gb=6.2)
    p = plan(shape, tight, LONG)
    assert p.fit == "cpu" and 2048 <= p.n_ctx < 32768 and p.n_ctx % 256 == 0
    assert any("shortened" in r for r in p.reasons)
    tiny = simulated_hardware(gpu_vendor="none", ram_gb=4)
    p = plan(shape, tiny, LONG)
    assert p.fit == "too_large" and p.n_ctx == 2048


def test_a_model_with_a_small_context_limit_keeps_it() -> None:
    shape = real_shape(LLAMA3_8B)
    p = plan(shape, PROFILES["nvidia-24gb"], PlanOptions(desired_ctx=4096, min_ctx=8192))
    assert p.n_ctx == 4096  # the floor never exceeds what was asked for


def test_user_overrides_win() -> None:
    shape = real_shape(LLAMA3_8B)
    p = plan(shape, PROFILES["nvidia-24gb"], PlanOptions(n_ctx=4096, n_gpu_layers=10))
    assert (p.n_ctx, p.n_gpu_layers, p.fit) == (4096, 10, "partial")
    p = plan(shape, PROFILES["nvidia-24gb"], PlanOptions(n_gpu_layers=-1))
    assert p.n_gpu_layers == shape.n_offloadable
    # a GPU layer count means nothing without a GPU
    assert plan(shape, PROFILES["cpu-8gb"], PlanOptions(n_gpu_layers=-1)).n_gpu_layers == 0


def test_no_gpu_build_means_cpu_even_with_a_gpu() -> None:
    hw = PROFILES["nvidia-24gb"]
    real = HardwareInfo(
        cpu=hw.cpu,
        ram_total_bytes=hw.ram_total_bytes,
        ram_available_bytes=hw.ram_available_bytes,
        gpus=hw.gpus,
        llama=hw.llama,  # installed, CPU only
        simulated=False,
    )
    assert real.needs_gpu_build and not real.gpu_offload_possible
    assert plan(real_shape(LLAMA3_8B), real).fit == "cpu"


def _kv_for(shape: ModelShape, ctx: int, swa_full: bool) -> int:
    opts = PlanOptions(swa_full=swa_full)
    return estimate_config(
        shape, PROFILES["cpu-8gb"], n_gpu_layers=0, n_ctx=ctx, opts=opts
    ).kv_bytes


def test_sliding_window_layers_hold_only_the_window() -> None:
    shape = real_shape(GEMMA3_4B)
    per_layer_cell = 4 * (256 + 256) * 2  # 4 KV heads, key+value 256 each, f16
    full = _kv_for(shape, 8192, swa_full=True)
    assert full == 34 * 8192 * per_layer_cell
    # 5 global layers keep 8192 cells, 29 sliding ones window + ubatch = 1536 cells
    assert _kv_for(shape, 8192, swa_full=False) == (5 * 8192 + 29 * 1536) * per_layer_cell


def test_per_layer_kv_heads_are_respected() -> None:
    base = real_shape(LLAMA3_8B)
    heads = tuple(0 if i % 2 else 8 for i in range(32))  # every other layer without a KV cache
    varied = ModelShape(**{**base.__dict__, "n_head_kv": heads})
    assert _kv_for(varied, 4096, True) == _kv_for(base, 4096, True) // 2


def test_q8_kv_cache_is_about_half_of_f16() -> None:
    shape = real_shape(QWEN25_7B)
    hw = PROFILES["cpu-8gb"]
    f16 = estimate_config(shape, hw, n_gpu_layers=0, n_ctx=8192).kv_bytes
    q8 = estimate_config(shape, hw, n_gpu_layers=0, n_ctx=8192, kv_type="q8_0").kv_bytes
    assert q8 == int(f16 / 2 * KV_BYTES["q8_0"])


def _grid_is_monotonic(shape: ModelShape, vendor: str, opts: PlanOptions) -> list[str]:
    vrams = [0.5 * i for i in range(0, 33)]  # 0 .. 16 GiB
    rams = [4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0]
    grid = {
        (v, r): plan(shape, simulated_hardware(gpu_vendor=vendor, gpu_vram_gb=v, ram_gb=r), opts)
        for v in vrams
        for r in rams
    }
    bad = []
    for (v, r), p in grid.items():
        for nxt in ((v + 0.5, r), (v, rams[rams.index(r) + 1] if r != rams[-1] else r)):
            q = grid.get(nxt)
            if q is None or q is p:
                continue
            if q.n_gpu_layers < p.n_gpu_layers or q.n_ctx < p.n_ctx:
                bad.append(
                    f"{(v, r)}->{nxt}: {p.n_gpu_layers}/{p.n_ctx} -> {q.n_gpu_layers}/{q.n_ctx}"
                )
    return bad


@pytest.mark.parametrize("arch", REAL_MODELS, ids=lambda a: a.name)
def test_more_memory_never_gives_fewer_layers_or_less_context(arch: Arch) -> None:
    shape = real_shape(arch)
    for vendor in ("nvidia", "amd"):
        for opts in (PlanOptions(), LONG):
            assert _grid_is_monotonic(shape, vendor, opts) == []
    # Apple: one pool of memory, the GPU may use Metal's share of it
    apple = [
        plan(shape, simulated_hardware(gpu_vendor="apple", ram_gb=r), LONG) for r in range(4, 65, 2)
    ]
    for a, b in itertools.pairwise(apple):
        assert b.n_gpu_layers >= a.n_gpu_layers and b.n_ctx >= a.n_ctx


def test_ladder_steps_down_to_the_cpu() -> None:
    shape = real_shape(LLAMA3_8B_Q8)
    hw = PROFILES["nvidia-6gb"]
    p = plan(shape, hw)
    ladder = build_ladder(p, "/models/llama.gguf", Threads(4, 4))
    assert [(c.n_gpu_layers, c.n_ctx, c.offload_kqv) for c in ladder] == [
        (20, 8192, False),
        (12, 8192, False),
        (12, 4096, False),
        (0, 2048, True),
    ]
    vram = [
        estimate_config(
            shape, hw, n_gpu_layers=c.n_gpu_layers, n_ctx=c.n_ctx, offload_kqv=c.offload_kqv
        ).vram_bytes
        for c in ladder
    ]
    assert vram == sorted(vram, reverse=True) and vram[-1] == 0
    assert all(c.model_path == "/models/llama.gguf" and c.n_threads == 4 for c in ladder)


def test_ladder_for_a_cpu_plan_is_short() -> None:
    p = plan(real_shape(QWEN25_7B), PROFILES["cpu-8gb"])
    ladder = build_ladder(p, "m.gguf", Threads(2, 2))
    assert [(c.n_gpu_layers, c.n_ctx) for c in ladder] == [(0, 8192), (0, 4096), (0, 2048)]


@pytest.mark.parametrize("arch", [LLAMA3_8B, QWEN25_7B, MISTRAL_7B, LLAMA3_8B_Q8], ids=str)
def test_size_only_estimate_agrees_with_the_real_shape(arch: Arch) -> None:
    approx = approximate_shape(
        arch.published_file_bytes, parameters_b=7.5, quantization=arch.quant, context_length=8192
    )
    for name, hw in PROFILES.items():
        real = plan(real_shape(arch), hw).fit
        guess = plan(approx, hw).fit
        assert guess == real or {guess, real} <= {"gpu", "partial"}, name


# llama.cpp's "CUDA0 model buffer size" (MiB) for the synthetic 1.1B f16 Llama of
# bench/synthetic_gguf.py, recorded on an NVIDIA H200 (bench gpu_offload, 2026-11-27)
H200_CUDA0_MODEL_MIB = {17: 1981.3, 13: 1517.2, 9: 1053.1}


def test_gpu_weights_match_llama_cpp_on_a_real_gpu(tmp_path: Path) -> None:
    model = write_synthetic_gguf(tmp_path / "synthetic.gguf", LLAMA_1B, header_only=True)
    shape = read_model_shape(model)
    hw = simulated_hardware(gpu_vendor="nvidia", gpu_vram_gb=140, ram_gb=128)
    for layers, mib in H200_CUDA0_MODEL_MIB.items():
        est = estimate_config(shape, hw, n_gpu_layers=layers, n_ctx=8192, offload_kqv=False)
        # the output layer goes first, then the last blocks: 13 layers are 12 blocks and it
        assert abs(est.gpu_weights_bytes / MIB - mib) < 0.2, (layers, est.gpu_weights_bytes)


def test_gemma3_weights_and_kv_match_llama_cpp_on_a_real_gpu(tmp_path: Path) -> None:
    """The synthetic Gemma 3 1B on an NVIDIA H100 (bench gpu_offload, 2026-11-28).

    Its output layer is the tied token embeddings, which llama.cpp loads a second time
    into the GPU while the CPU keeps its own mapping; the KV cache holds 21 sliding-window
    layers and 5 global ones, all full size (``swa_full``).
    """
    model = write_synthetic_gguf(tmp_path / "gemma3.gguf", GEMMA3_1B, header_only=True)
    shape = read_model_shape(model)
    hw = simulated_hardware(gpu_vendor="nvidia", gpu_vram_gb=80, ram_gb=128)
    # layers on the GPU: (CUDA0 model, CPU_Mapped model, CUDA0 KV) in MiB, as llama.cpp logged
    recorded = {27: (1907.4, 576.0, 208.0), 10: (1036.9, 1446.5, 0.0)}
    for layers, (gpu_mib, cpu_mib, kv_mib) in recorded.items():
        est = estimate_config(shape, hw, n_gpu_layers=layers, n_ctx=8192, offload_kqv=layers == 27)
        assert abs(est.gpu_weights_bytes / MIB - gpu_mib) < 0.2, (layers, est.gpu_weights_bytes)
        cpu_weights = est.weights_bytes - est.gpu_weights_bytes
        assert abs(cpu_weights / MIB - cpu_mib) < 0.2, (layers, cpu_weights)
        assert abs(est.gpu_kv_bytes / MIB - kv_mib) < 0.1, (layers, est.gpu_kv_bytes)


def test_f16_caches_are_planned_with_flash_attention() -> None:
    """llama.cpp's "auto" runs flash attention where it can; a load that showed it could not
    (``Correction.flash_attn``) is planned with the attention scores' buffer instead."""
    qwen, amd = real_shape(QWEN25_7B), PROFILES["amd-8gb"]
    opts = PlanOptions(desired_ctx=32768)
    with_fa = plan(qwen, amd, opts)
    without = plan(qwen, amd, opts, Correction(flash_attn=False))
    # 32768 cells x 28 heads of scores take 1.9 GiB: the cache no longer fits beside them
    assert (with_fa.fit, with_fa.n_ctx, with_fa.type_k, with_fa.offload_kqv) == (
        "gpu", 32768, "f16", True
    )  # fmt: skip
    assert (without.fit, without.n_ctx, without.type_k, without.offload_kqv) == (
        "gpu", 32768, "f16", False
    )  # fmt: skip
    scores = estimate_config(
        qwen, amd, n_gpu_layers=-1, n_ctx=32768, correction=Correction(flash_attn=False)
    )
    assert with_fa.estimate.compute_bytes < 400 * MIB and scores.compute_bytes > 1800 * MIB


def test_no_quantized_cache_where_flash_attention_did_not_run() -> None:
    """A q8_0 cache needs flash attention; without it llama.cpp runs the attention elsewhere."""
    mistral, nv6 = real_shape(MISTRAL_7B), PROFILES["nvidia-6gb"]
    assert plan(mistral, nv6).type_k == "q8_0"  # the README's table: "gpu, KV q8_0"
    learnt = plan(mistral, nv6, correction=Correction(flash_attn=False))
    assert learnt.type_k == "f16" and learnt.fit in ("gpu", "partial")
    assert learnt.n_gpu_layers > 0 and learnt.n_ctx == 8192
    # and the plan says why (`lectern plan`, the model's details)
    assert learnt.reasons[-1].startswith("flash attention did not run when this model was last")
    assert not [r for r in plan(mistral, nv6).reasons if "flash attention did not" in r]
