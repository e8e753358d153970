"""Hardware and plans in plain words, for people who are not experts.

The wizard and ``lectern hardware`` print these. No jargon a user would
have to look up ("VRAM", "offload", "KV cache") without saying what it means.
"""

from __future__ import annotations

import sys

from core.hardware.detect import HardwareInfo
from core.hardware.planner import Fit, Plan
from core.hardware.probes import GIB

FIT_LABELS: dict[str, str] = {
    "gpu": "Fits on the graphics card",
    "partial": "Partly on the graphics card",
    "cpu": "Runs on the processor",
    "too_large": "Too large for this computer",
    "unknown": "Not checked yet",
}

FIT_EXPLAINED: dict[str, str] = {
    "gpu": "The whole model fits in the graphics card's memory: answers come quickly.",
    "partial": (
        "Part of the model fits in the graphics card's memory, the rest runs on the "
        "processor: noticeably slower than a model that fits completely."
    ),
    "cpu": "The model runs on the processor: fine for small models, slow for large ones.",
    "too_large": "The model needs more memory than this computer has free.",
    "unknown": "",
}


def gib(n: float) -> str:
    """Bytes as the "GB" people see on boxes (binary, one decimal)."""
    return f"{n / GIB:.1f} GB" if n < 10 * GIB else f"{n / GIB:.0f} GB"


def fit_label(fit: Fit | str) -> str:
    """Short label for a fit ("Fits on the graphics card")."""
    return FIT_LABELS.get(fit, fit)


def describe_hardware(hw: HardwareInfo) -> list[str]:
    """A few sentences about the machine."""
    cpu = hw.cpu
    cores = f"{cpu.physical_cores} cores" if cpu.physical_cores else "an unknown number of cores"
    lines = [f"Processor: {cpu.model} with {cores}."]
    fast = [f for f in ("avx512", "avx2", "neon") if cpu.has(f)]
    if fast:
        names = {"avx512": "AVX-512", "avx2": "AVX2", "neon": "NEON"}
        lines.append(
            f"It supports {names[fast[0]]}, the instructions that make language models fast "
            "on a processor."
        )
    elif cpu.flags or cpu.architecture in ("x86_64", "AMD64"):
        lines.append("It lacks AVX2, so models will run slowly on the processor.")
    lines.append(
        f"Memory: {gib(hw.ram_total_bytes)} in total, {gib(hw.ram_available_bytes)} free now."
    )
    gpu = hw.gpu
    if gpu is None:
        lines.append(
            "No graphics card that can run language models was found; models will run on "
            "the processor."
        )
    elif gpu.unified_memory and gpu.vendor == "apple":
        lines.append(
            f"Graphics: {gpu.name}, sharing the computer's memory; up to "
            f"{gib(gpu.working_set_bytes or 0)} of it can hold a model."
        )
    else:
        free = f", {gib(gpu.free_bytes)} free" if gpu.free_bytes is not None else ""
        lines.append(f"Graphics card: {gpu.name} with {gib(gpu.total_bytes)} of memory{free}.")
    if hw.needs_gpu_build:
        lines.append(
            "The installed llama.cpp cannot use the graphics card yet; see below how to get "
            "a version that can."
        )
    elif gpu is not None and hw.gpu_offload_possible:
        lines.append("Lectern can use the graphics card to run models faster.")
    if not hw.llama.installed and not hw.simulated:
        lines.append("llama.cpp (the engine that runs models) could not be started.")
    return lines


def describe_plan(plan: Plan) -> str:
    """One or two sentences about how a model will run."""
    est = plan.estimate
    parts = [FIT_EXPLAINED.get(plan.fit, "")]
    if plan.fit == "partial":
        parts.append(f"{plan.n_gpu_layers} of {plan.n_layers_total} layers on the graphics card.")
    if plan.fit != "too_large":
        need = est.vram_bytes + est.ram_bytes
        parts.append(
            f"It can remember about {plan.n_ctx:,} tokens of conversation and documents "
            f"(roughly {plan.n_ctx * 3 // 4:,} words) and needs about {gib(need)} of memory."
        )
    return " ".join(p for p in parts if p)


def gpu_build_instructions(hw: HardwareInfo) -> str:
    """The exact steps to install a llama.cpp build that uses this machine's GPU."""
    gpu = hw.gpu
    pip = f'"{sys.executable}" -m pip install --force-reinstall --no-cache-dir'
    pkg = "llama-cpp-python==" + (hw.llama.version or "0.3.36")
    if gpu is None:
        return ""
    if getattr(sys, "frozen", False):
        # a bundle carries its own llama.cpp; pip cannot replace it
        return (
            "This Lectern package contains a llama.cpp for the processor only. To use the "
            "graphics card, install Lectern from its source code into a Python 3.11+ "
            "environment (see the README) and rebuild llama.cpp there as follows.\n\n"
            + _build_steps(
                gpu.vendor, "python -m pip install --force-reinstall --no-cache-dir", pkg
            )
        )
    return _build_steps(gpu.vendor, pip, pkg)


def _build_steps(vendor: str, pip: str, pkg: str) -> str:
    if vendor == "nvidia":
        return (
            "Your NVIDIA card needs a llama.cpp built with CUDA. Install the CUDA Toolkit "
            "(12.x, from developer.nvidia.com/cuda-downloads) and a C++ compiler, then run:\n\n"
            f'    CMAKE_ARGS="-DGGML_CUDA=on" {pip} --no-binary llama-cpp-python {pkg}\n\n'
            "On Windows, in PowerShell:\n\n"
            f'    $env:CMAKE_ARGS="-DGGML_CUDA=on"; & {pip} --no-binary llama-cpp-python {pkg}\n\n'
            "Restart Lectern afterwards."
        )
    if vendor == "amd":
        return (
            "Your AMD card needs a llama.cpp built with ROCm (HIP) or Vulkan. With ROCm 6 "
            "installed (rocm.docs.amd.com), run:\n\n"
            f'    CMAKE_ARGS="-DGGML_HIP=on" {pip} --no-binary llama-cpp-python {pkg}\n\n'
            "Or, with the Vulkan SDK installed (works on most AMD and Intel cards):\n\n"
            f'    CMAKE_ARGS="-DGGML_VULKAN=on" {pip} --no-binary llama-cpp-python {pkg}\n\n'
            "Restart Lectern afterwards."
        )
    if vendor == "apple":
        return (
            "On Apple Silicon llama.cpp uses Metal by default. This build was made without "
            "it; reinstall with:\n\n"
            f'    CMAKE_ARGS="-DGGML_METAL=on" {pip} --no-binary llama-cpp-python {pkg}\n\n'
            "Restart Lectern afterwards."
        )
    return ""
