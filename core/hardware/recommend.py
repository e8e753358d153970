"""Which catalog models fit this machine, and which one to recommend.

Each catalog entry's recommended file is planned from its size and
parameter count (no download needed). The recommendation is the most
capable model that runs *comfortably*:

* with a usable GPU: the largest model that fits entirely on it;
* on the processor: the largest model small enough to answer at about
  reading speed. Generating a token reads every weight once, so speed is
  roughly memory bandwidth / model size; a laptop's ~25 GB/s gives about
  ten tokens a second for a 2.5 GB file (half that without AVX2/NEON);
* gated models (which need a Hugging Face token) only when nothing else fits.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.hardware.detect import HardwareInfo
from core.hardware.planner import Plan, PlanOptions, approximate_shape, plan
from core.models.catalog import CatalogEntry, CatalogFile

CPU_COMFORT_BYTES = 2_500_000_000
CPU_COMFORT_BYTES_SLOW = 1_200_000_000  # no AVX2 / NEON


@dataclass(frozen=True)
class CatalogFit:
    """One catalog model's recommended file, and how it would run here."""

    entry: CatalogEntry
    file: CatalogFile
    plan: Plan

    @property
    def fit(self) -> str:
        return self.plan.fit

    @property
    def speed(self) -> str:
        """A rough speed class: "fast", "reading speed", "slow" (measured speed is better)."""
        if self.plan.fit == "gpu":
            return "fast"
        if self.plan.fit == "partial":
            return "moderate"
        if self.plan.fit == "too_large":
            return "—"
        return "reading speed" if self.file.size_bytes <= CPU_COMFORT_BYTES else "slow"


def catalog_fits(
    entries: list[CatalogEntry], hw: HardwareInfo, options: PlanOptions | None = None
) -> list[CatalogFit]:
    """Plan every entry's recommended file on ``hw`` (catalog order)."""
    out = []
    for e in entries:
        f = e.recommended_file
        shape = approximate_shape(
            f.size_bytes,
            parameters_b=e.parameters_b,
            quantization=f.quantization,
            context_length=e.context_length,
            name=e.name,
        )
        out.append(CatalogFit(e, f, plan(shape, hw, options)))
    return out


def recommend(fits: list[CatalogFit], hw: HardwareInfo) -> CatalogFit | None:
    """The model to suggest first (see the module docstring), or None for an empty list."""
    if not fits:
        return None
    fast_cpu = any(hw.cpu.has(f) for f in ("avx2", "avx512", "neon"))
    cpu_limit = CPU_COMFORT_BYTES if fast_cpu else CPU_COMFORT_BYTES_SLOW

    def pick(candidates: list[CatalogFit]) -> CatalogFit | None:
        for allow_gated in (False, True):
            pool = [c for c in candidates if allow_gated or not c.entry.gated]
            if pool:
                return max(pool, key=lambda c: (c.entry.parameters_b, -c.file.size_bytes))
        return None

    if hw.gpu_offload_possible:
        on_gpu = pick([c for c in fits if c.fit == "gpu"])
        if on_gpu is not None:
            return on_gpu
    comfortable = pick([c for c in fits if c.fit != "too_large" and c.file.size_bytes <= cpu_limit])
    if comfortable is not None:
        return comfortable
    return min(fits, key=lambda c: c.file.size_bytes)
