"""How llama.cpp is asked to load a model: one rung of the load ladder.

The engine tries a list of these in order (``Engine.load_config_for``), so a
configuration that runs out of memory can fall back to a smaller one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, kw_only=True)
class LoadConfig:
    """Everything llama.cpp needs to load one model into one context."""

    model_path: str
    n_ctx: int
    n_gpu_layers: int = 0
    n_threads: int
    n_threads_batch: int
    n_batch: int
    n_ubatch: int
    offload_kqv: bool = True
    type_k: str = "f16"
    type_v: str = "f16"
    flash_attn: bool = False
    chat_template: str | None = None  # per-model template override (Jinja source)

    def with_changes(self, **changes: object) -> LoadConfig:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


def default_threads() -> int:
    """Physical cores: llama.cpp gains nothing from hyper-threads and loses to contention."""
    import psutil

    return max(1, psutil.cpu_count(logical=False) or psutil.cpu_count() or 1)
