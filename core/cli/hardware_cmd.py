"""``lectern hardware`` and ``lectern plan``: what this machine has, how a model would run."""

from __future__ import annotations

import argparse
from typing import Any

from core.cli.output import open_engine, print_json
from core.errors import UsageError
from core.hardware.describe import describe_hardware, describe_plan, fit_label, gib
from core.hardware.detect import HardwareInfo, simulated_hardware


def register(sub: Any) -> None:
    """Add this group's sub-commands to the parser."""
    hw = sub.add_parser("hardware", help="show the detected CPU, memory, GPUs and llama.cpp build")
    hw.add_argument("--json", action="store_true", help="machine-readable output")
    hw.set_defaults(func=cmd_hardware)

    plan = sub.add_parser("plan", help="how a model would run here (GPU layers, context, memory)")
    plan.add_argument("model", metavar="MODEL", help="model id (see 'models list') or GGUF path")
    plan.add_argument("--json", action="store_true", help="machine-readable output")
    plan.add_argument(
        "--gpu-vram-gb", type=float, metavar="N", help="simulate a GPU with N GiB of memory"
    )
    plan.add_argument(
        "--gpu-vendor",
        choices=("nvidia", "amd", "apple", "none"),
        help="simulate this GPU vendor (apple = unified memory of --ram-gb)",
    )
    plan.add_argument("--ram-gb", type=float, metavar="N", help="simulate N GiB of RAM")
    plan.add_argument("--ctx", type=int, metavar="N", help="ask for this context length")
    plan.set_defaults(func=cmd_plan)


def cmd_hardware(args: argparse.Namespace) -> int:
    engine = open_engine(args)
    hw = engine.hardware_service.detect()
    if args.json:
        print_json(hw.to_json())
        return 0
    for line in describe_hardware(hw):
        print(line)
    print()
    print(f"CPU flags: {', '.join(hw.cpu.flags) or 'unknown'}")
    for g in hw.gpus:
        extra = f", compute capability {g.compute_capability}" if g.compute_capability else ""
        print(f"GPU {g.index}: {g.vendor} {g.name}, {gib(g.total_bytes)}{extra} [{g.source}]")
    build = hw.llama
    if build.installed:
        gpu = "with GPU offload" if build.supports_gpu_offload else "CPU only"
        print(f"llama.cpp: llama-cpp-python {build.version}, {gpu}, backends: "
              f"{', '.join(build.backends) or 'unknown'}")  # fmt: skip
    for name, error in hw.probe_errors.items():
        print(f"(probe {name} failed: {error})")
    return 0


def _simulated(args: argparse.Namespace) -> HardwareInfo | None:
    if args.gpu_vendor is None and args.gpu_vram_gb is None and args.ram_gb is None:
        return None
    for name in ("gpu_vram_gb", "ram_gb"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be positive")
    vendor = args.gpu_vendor or ("nvidia" if args.gpu_vram_gb is not None else "none")
    if vendor in ("nvidia", "amd") and args.gpu_vram_gb is None:
        raise UsageError(f"--gpu-vendor {vendor} needs --gpu-vram-gb")
    return simulated_hardware(gpu_vendor=vendor, gpu_vram_gb=args.gpu_vram_gb, ram_gb=args.ram_gb)


def cmd_plan(args: argparse.Namespace) -> int:
    engine = open_engine(args)
    if args.ctx is not None:
        if args.ctx < 256:
            raise UsageError("--ctx must be at least 256")
        engine.settings.generation.n_ctx = args.ctx  # this run only; not saved
    hw = _simulated(args)
    plan = engine.plan_model_sync(args.model, hw)
    if args.json:
        out = plan.to_json()
        out["simulated"] = hw is not None
        print_json(out)
        return 0
    est = plan.estimate
    print(f"{plan.model}: {fit_label(plan.fit)}")
    print(describe_plan(plan))
    print(
        f"GPU layers {plan.n_gpu_layers}/{plan.n_layers_total}, context {plan.n_ctx}, "
        f"KV cache {plan.type_k}{' in RAM' if not plan.offload_kqv else ''}"
    )
    print(
        f"memory: weights {gib(est.weights_bytes)}, KV cache {gib(est.kv_bytes)}, "
        f"compute {gib(est.compute_bytes)}; GPU {gib(est.vram_bytes)} of "
        f"{gib(plan.vram_budget_bytes)}, RAM {gib(est.ram_bytes)} of {gib(plan.ram_budget_bytes)}"
    )
    for reason in plan.reasons:
        print(f"- {reason}")
    return 0
