"""GPU offload on a real NVIDIA GPU: the planner's plans against what llama.cpp uses.

Runs where an NVIDIA GPU and a llama.cpp build with GPU offload are found;
elsewhere it reports ``skipped`` with the reason (and what was detected).
``bench/gpu_device.sh`` builds llama-cpp-python with CUDA on a borrowed GPU
machine and runs it there.

The model is a synthetic Llama of 1.1 billion parameters in f16 (2.2 GB,
``bench/synthetic_gguf.py``): real tensors, random weights. Four cases, each
through Lectern's own path (detection, ``plan``, ``build_ladder``,
``ChatService.load_sync`` in the worker process, a greedy generation):

* **full**: the GPU as it is. The plan should put every layer on the GPU.
* **crowded**: another process holds GPU memory, so that about 60 % of the
  model fits in the planner's budget; detection runs again and the plan
  offloads part of the layers, with the KV cache in RAM.
* **squeezed**: planned as *crowded*, then the other process takes more
  memory before the load, so that the plan no longer fits (another program
  started in between). The load ladder must fall back to its next rung,
  with a clean out-of-memory failure of the first.
* **cpu**: no layers on the GPU, for the speed comparison.

Then a synthetic Gemma 3 of Gemma 3 1B's shape (f16, 2.0 GB: tied
embeddings that llama.cpp copies to the GPU as the output layer, a 262,144-token
vocabulary, five sliding-window layers to one global) in two cases,
**gemma3-full** and **gemma3-crowded** (about 60 % fits, as above), reported
under ``gemma3``. Each model is also loaded with everything on the GPU and a
q8_0 KV cache, which asks for flash attention outright (``quantized_kv``; with a
build without the flash-attention kernels they load, but the attention does
not run on the GPU: their prefill speed shows it). Each case records whether
llama.cpp ran flash attention (``flash_attn``; f16 caches ask for "auto"),
and is estimated accordingly, as Lectern's load corrections do.

Each case reports the plan, the rung that loaded, llama.cpp's buffer sizes
per device, the GPU memory the load really took (free memory before the
load minus after it, read through NVML; this includes the worker's CUDA
context, which the planner covers with its driver reserve), prefill and
decode tokens/s. Bars: every case loads and answers; the full plan puts every
layer on the GPU and the crowded one part of them; the squeezed case loads on
a lower rung than the first; llama.cpp's GPU buffers are within 10 % of the
planner's estimate.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.bench_generation import raw_request, run_request
from bench.synthetic_gguf import GEMMA3_1B, LLAMA_1B, SyntheticShape, write_synthetic_gguf

GIB = 1024**3

# a second process that holds GPU memory through the CUDA driver API (no framework needed):
# reads byte counts from stdin, allocates each, answers "ok" or "fail <code>"
_HOG = r"""
import ctypes, sys
cuda = ctypes.CDLL("libcuda.so.1")
assert cuda.cuInit(0) == 0
dev = ctypes.c_int()
assert cuda.cuDeviceGet(ctypes.byref(dev), 0) == 0
ctx = ctypes.c_void_p()
assert cuda.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev) == 0
assert cuda.cuCtxSetCurrent(ctx) == 0
held = []
print("ready", flush=True)
for line in sys.stdin:
    n = int(line)
    ptr = ctypes.c_uint64()
    rc = cuda.cuMemAlloc_v2(ctypes.byref(ptr), ctypes.c_size_t(n))
    held.append(ptr)
    print("ok" if rc == 0 else f"fail {rc}", flush=True)
"""


class GpuHog:
    """Another program on the GPU: holds as much memory as it is told to."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _HOG],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"GPU memory holder did not start: {line!r}")

    def take(self, n_bytes: int) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        # in pieces of at most 8 GiB (one huge allocation can fail where pieces fit)
        while n_bytes > 0:
            piece = min(n_bytes, 8 * GIB)
            self.proc.stdin.write(f"{piece}\n")
            self.proc.stdin.flush()
            answer = self.proc.stdout.readline().strip()
            if answer != "ok":
                raise RuntimeError(f"could not hold {piece} bytes of GPU memory: {answer}")
            n_bytes -= piece

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def _free_gpu_bytes() -> int:
    from core.hardware.probes import probe_nvidia

    gpus = probe_nvidia()
    free = gpus[0].free_bytes
    assert free is not None
    return free


def _settled_free() -> int:
    """Free GPU memory once a process that just ended has released its memory."""
    last = -1
    for _ in range(20):
        now = _free_gpu_bytes()
        if now == last:
            return now
        last = now
        time.sleep(0.25)
    return last


def _prompt(n_words: int) -> str:
    # two-letter words are single tokens of the synthetic vocabulary
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = [a + b for a in letters for b in letters]
    return " ".join(words[i % len(words)] for i in range(n_words))


def _generate(service: Any, prompt: str, max_tokens: int) -> Any:
    return run_request(service, raw_request(prompt, max_tokens))


def _case(
    name: str,
    model: Path,
    shape: Any,
    hw: Any,
    plan: Any,
    squeeze: Any = None,
    kv: str | None = None,
) -> dict[str, Any]:
    """Load ``model`` by the ladder of ``plan``; measure memory and speed.

    ``kv``: the first rung only, with this KV cache type and flash attention on.
    """
    from core.chat.generator import LocalGenerator
    from core.chat.load_config import default_threads
    from core.chat.service import ChatService
    from core.errors import LecternError
    from core.hardware.corrections import flash_attn_from_log, parse_buffer_sizes
    from core.hardware.ladder import Threads, build_ladder
    from core.hardware.planner import Correction, estimate_config

    threads = default_threads()
    ladder = build_ladder(plan, str(model), Threads(n_threads=threads, n_threads_batch=threads))
    if kv is not None:
        ladder = [ladder[0].with_changes(type_k=kv, type_v=kv, flash_attn=True)]
    if squeeze is not None:
        squeeze(ladder)
    free_before = _settled_free()
    service = ChatService(LocalGenerator())
    out: dict[str, Any] = {
        "case": name,
        "plan": {
            "fit": plan.fit,
            "n_gpu_layers": plan.n_gpu_layers,
            "n_layers_total": plan.n_layers_total,
            "n_ctx": plan.n_ctx,
            "kv": plan.type_k,
            "offload_kqv": plan.offload_kqv,
            "vram_budget_gib": round(plan.vram_budget_bytes / GIB, 3),
            "estimate_vram_gib": round(plan.estimate.vram_bytes / GIB, 3),
            "reasons": list(plan.reasons),
        },
        "ladder": [(c.n_gpu_layers, c.n_ctx, c.offload_kqv) for c in ladder],
        "gpu_free_before_gib": round(free_before / GIB, 3),
    }
    phase = "load"
    try:
        t0 = time.perf_counter()
        loaded = service.load_sync(str(model), None, ladder)
        out["load_s"] = round(time.perf_counter() - t0, 2)
        free_after = _free_gpu_bytes()
        rung = ladder.index(loaded.config)
        out["loaded_rung"] = rung
        out["loaded"] = {"n_gpu_layers": loaded.n_gpu_layers, "n_ctx": loaded.n_ctx}
        used = free_before - free_after
        out["gpu_used_gib"] = round(used / GIB, 3)
        out["gpu_free_after_gib"] = round(free_after / GIB, 3)
        # what llama.cpp made of "auto" (f16 caches); the estimate is made with the same
        fa = flash_attn_from_log(loaded.load_log)
        out["flash_attn"] = fa
        buffers = parse_buffer_sizes(loaded.load_log)
        out["llama_buffers_mib"] = {k: round(v / 2**20, 1) for k, v in buffers.items()}
        est = estimate_config(
            shape,
            hw,
            n_gpu_layers=loaded.config.n_gpu_layers,
            n_ctx=loaded.config.n_ctx,
            kv_type=loaded.config.type_k,
            offload_kqv=loaded.config.offload_kqv,
            correction=Correction(flash_attn=fa is not False),
        )
        out["estimate_mib"] = {
            "gpu_weights": round(est.gpu_weights_bytes / 2**20, 1),
            "gpu_kv": round(est.gpu_kv_bytes / 2**20, 1),
            "gpu_compute": round(est.gpu_compute_bytes / 2**20, 1),
            "vram": round(est.vram_bytes / 2**20, 1),
        }
        gpu_buffers = buffers.get("gpu", 0)
        if est.vram_bytes:
            out["llama_gpu_buffers_over_estimate"] = round(gpu_buffers / est.vram_bytes, 3)
            # the rest is the CUDA context and cuBLAS: the planner's driver reserve covers it
            out["gpu_used_minus_buffers_mib"] = round((used - gpu_buffers) / 2**20, 1)
        phase = "answer"
        _generate(service, "Warm up.", 4)
        prefill = _generate(service, _prompt(500), 1)
        decode = _generate(service, "Once upon a time", 65)
        out["prefill_tokens"] = prefill.prompt_tokens
        out["prefill_tps"] = round(prefill.prefill_tps, 1)
        out["decode_tps"] = round(decode.decode_tps, 1)
        # what the answers added (cuBLAS workspace, the CUDA memory pool)
        answered = free_before - _free_gpu_bytes()
        out["gpu_used_after_answers_gib"] = round(answered / GIB, 3)
        out["gpu_used_beyond_buffers_mib"] = round((answered - gpu_buffers) / 2**20, 1)
    except (LecternError, AssertionError) as exc:  # a failed case is a finding, reported
        out["error"] = f"{phase}: {type(exc).__name__}: {exc}"
    finally:
        service.close()
    return out


def _hardware_json(hw: Any) -> dict[str, Any]:
    return {
        "gpus": [
            {
                "name": g.name,
                "vendor": g.vendor,
                "total_gib": round(g.total_bytes / GIB, 2),
                "free_gib": None if g.free_bytes is None else round(g.free_bytes / GIB, 2),
                "compute_capability": g.compute_capability,
                "driver": g.driver,
                "source": g.source,
            }
            for g in hw.gpus
        ],
        "llama": {
            "installed": hw.llama.installed,
            "version": hw.llama.version,
            "supports_gpu_offload": hw.llama.supports_gpu_offload,
            "backends": list(hw.llama.backends),
            "error": hw.llama.error,
        },
        "gpu_offload_possible": hw.gpu_offload_possible,
        "needs_gpu_build": hw.needs_gpu_build,
        "probe_errors": dict(hw.probe_errors),
    }


def run() -> dict[str, Any]:
    from core.hardware.detect import detect_hardware
    from core.hardware.model_shape import read_model_shape
    from core.hardware.planner import (
        GPU_DRIVER_RESERVE_BYTES,
        GPU_MARGIN_FRACTION,
        PlanOptions,
        estimate_config,
        plan,
    )

    hw = detect_hardware()
    result: dict[str, Any] = {"hardware": _hardware_json(hw)}
    if hw.gpu is None or hw.gpu.vendor != "nvidia":
        return {**result, "skipped": "no NVIDIA GPU found"}
    if not hw.gpu_offload_possible:
        return {**result, "skipped": "the installed llama.cpp build has no GPU offload"}
    options = PlanOptions()
    reserve = GPU_DRIVER_RESERVE_BYTES["nvidia"]
    margin = int(hw.gpu.total_bytes * GPU_MARGIN_FRACTION)

    def write(tmp: str, synthetic: SyntheticShape, name: str) -> tuple[Path, Any, dict[str, Any]]:
        t0 = time.perf_counter()
        model = write_synthetic_gguf(Path(tmp) / name, synthetic)
        shape = read_model_shape(model)
        about = {
            "file_gib": round(model.stat().st_size / GIB, 3),
            "parameters": synthetic.parameters,
            "architecture": shape.architecture,
            "n_layer": shape.n_layer,
            "write_s": round(time.perf_counter() - t0, 1),
        }
        return model, shape, about

    def crowd(hog: GpuHog, shape: Any, full_plan: Any) -> tuple[Any, Any]:
        """Another program takes memory until 60 % of the model's plan fits; plan again."""
        target_free = int(0.6 * full_plan.estimate.vram_bytes) + reserve + margin
        hog.take(max(0, _settled_free() - target_free))
        crowded_hw = replace(hw, gpus=tuple(detect_hardware().gpus))
        return crowded_hw, plan(shape, crowded_hw, options)

    with tempfile.TemporaryDirectory(prefix="lectern-gpu-") as tmp:
        model, shape, result["model"] = write(tmp, LLAMA_1B, "synthetic-1b-f16.gguf")
        cases = []
        full_plan = plan(shape, hw, options)
        cases.append(_case("full", model, shape, hw, full_plan))

        hog = GpuHog()
        try:
            crowded_hw, crowded = crowd(hog, shape, full_plan)
            cases.append(_case("crowded", model, shape, crowded_hw, crowded))

            # what a load takes beyond llama.cpp's buffers (CUDA context, cuBLAS, memory pool),
            # as measured in the first case
            beyond = cases[0].get("gpu_used_beyond_buffers_mib", reserve / 2**20)
            overhead = int(beyond * 2**20)

            def squeeze(ladder: list[Any]) -> None:
                # what each of the first two rungs takes on the GPU
                def need(c: Any) -> int:
                    est = estimate_config(
                        shape, crowded_hw, n_gpu_layers=c.n_gpu_layers, n_ctx=c.n_ctx,
                        kv_type=c.type_k, offload_kqv=c.offload_kqv,
                    )  # fmt: skip
                    return est.vram_bytes + overhead

                if len(ladder) < 2 or ladder[1].n_gpu_layers == 0:
                    return
                between = (need(ladder[0]) + need(ladder[1])) // 2
                hog.take(max(0, _settled_free() - between))

            cases.append(_case("squeezed", model, shape, crowded_hw, crowded, squeeze))
        finally:
            hog.close()
        cpu_plan = plan(shape, hw, replace(options, n_gpu_layers=0))
        cases.append(_case("cpu", model, shape, hw, cpu_plan))
        # everything on the GPU with a q8_0 cache, which asks for flash attention outright
        quantized = [_case("full-q8_0", model, shape, hw, full_plan, kv="q8_0")]
        model.unlink()

        gmodel, gshape, gabout = write(tmp, GEMMA3_1B, "synthetic-gemma3-1b-f16.gguf")
        gemma_full = plan(gshape, hw, options)
        gemma_cases = [_case("gemma3-full", gmodel, gshape, hw, gemma_full)]
        hog = GpuHog()
        try:
            gemma_hw, gemma_crowded = crowd(hog, gshape, gemma_full)
            gemma_cases.append(_case("gemma3-crowded", gmodel, gshape, gemma_hw, gemma_crowded))
        finally:
            hog.close()
        quantized.append(_case("gemma3-full-q8_0", gmodel, gshape, hw, gemma_full, kv="q8_0"))
        result["gemma3"] = {"model": gabout, "cases": gemma_cases}
        result["quantized_kv"] = quantized
    result["cases"] = cases
    by = {c["case"]: c for c in cases}
    result["bars"] = {
        "all_cases_load_and_answer": all("error" not in c for c in cases),
        "full_plan_all_layers": by["full"].get("loaded", {}).get("n_gpu_layers")
        == full_plan.n_layers_total,
        "crowded_partial": 0 < crowded.n_gpu_layers < crowded.n_layers_total,
        "squeezed_fell_back": by["squeezed"].get("loaded_rung", 0) > 0,
        "gpu_buffers_within_10pct_of_estimate": all(
            abs(c.get("llama_gpu_buffers_over_estimate", 1.0) - 1.0) <= 0.10
            for c in cases + gemma_cases
            if c["case"] != "cpu"
        ),
        "gemma3_cases_load_and_answer": all("error" not in c for c in gemma_cases),
        "gemma3_full_all_layers": gemma_cases[0].get("loaded", {}).get("n_gpu_layers")
        == gemma_full.n_layers_total,
        "gemma3_crowded_partial": 0 < gemma_crowded.n_gpu_layers < gemma_crowded.n_layers_total,
        "quantized_kv_load_and_answer": all("error" not in c for c in quantized),
        "gpu_offload_speedup": round(
            by["full"].get("decode_tps", 0) / max(by["cpu"].get("decode_tps", 0), 1e-9), 1
        ),
    }
    result["threads"] = os.cpu_count()
    return result
