"""The load ladder: configurations to try, best first, when a load runs out of memory.

The planner's estimate is good but not exact (drivers, other programs and
fragmentation take memory it cannot see). When llama.cpp still fails to
allocate, the loader walks down this list: the plan, then fewer GPU layers
(KV cache in RAM), then a shorter context, then the processor alone. Each
step needs strictly less GPU memory than the one before, so the last one,
CPU only with the floor context, is the one most likely to load.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.chat.load_config import LoadConfig
from core.hardware.planner import Plan


@dataclass(frozen=True)
class Threads:
    """Thread counts and batch sizes for llama.cpp (not the planner's business)."""

    n_threads: int
    n_threads_batch: int
    n_batch: int = 512
    n_ubatch: int = 512


def build_ladder(
    plan: Plan, model_path: str, threads: Threads, chat_template: str | None = None
) -> list[LoadConfig]:
    """The configurations to try in order, without duplicates."""

    def config(n_gpu_layers: int, n_ctx: int, offload_kqv: bool, kv_type: str) -> LoadConfig:
        return LoadConfig(
            model_path=model_path,
            n_ctx=n_ctx,
            n_gpu_layers=n_gpu_layers,
            n_threads=threads.n_threads,
            n_threads_batch=threads.n_threads_batch,
            n_batch=threads.n_batch,
            n_ubatch=threads.n_ubatch,
            offload_kqv=offload_kqv,
            type_k=kv_type,
            type_v=kv_type,
            flash_attn=kv_type != "f16",
            chat_template=chat_template,
        )

    g, ctx, kv = plan.n_gpu_layers, plan.n_ctx, plan.type_k
    steps = [config(g, ctx, plan.offload_kqv, kv)]
    if g > 0:
        # a quarter of the layers back to the CPU, the KV cache with them into RAM
        g = max(0, g - max(2, plan.n_layers_total // 4))
        steps.append(config(g, ctx, False, kv))
    if ctx > plan.n_ctx_floor:
        ctx = max(plan.n_ctx_floor, ctx // 2)
        steps.append(config(g, ctx, g == 0, kv))
    steps.append(config(0, plan.n_ctx_floor, True, kv))
    unique: list[LoadConfig] = []
    for s in steps:
        if s not in unique:
            unique.append(s)
    return unique
