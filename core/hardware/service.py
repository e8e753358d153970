"""The hardware service behind the engine: cached detection, plans, ladders, corrections.

Detection runs once per engine (about a second: one probe starts llama.cpp
in a separate process) and is cached; plans are cheap and made on demand.
"""

from __future__ import annotations

import threading
from pathlib import Path

from core.errors import ModelNotFoundError
from core.hardware.corrections import CorrectionStore
from core.hardware.detect import HardwareInfo, Sources, detect_hardware, with_current_memory
from core.hardware.model_shape import ModelShape, read_model_shape
from core.hardware.planner import (
    Correction,
    Fit,
    Plan,
    PlanOptions,
    approximate_shape,
    estimate_config,
    plan,
)
from core.models.registry import ModelRecord, ModelRegistry
from core.paths import DataPaths
from core.settings import GenerationSettings


def _int_or_none(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def plan_options(
    generation: GenerationSettings, overrides: dict[str, object] | None = None
) -> PlanOptions:
    """Planner options from the settings and a model's own overrides (which win)."""
    ov = overrides or {}
    n_ctx = _int_or_none(ov.get("n_ctx")) or generation.n_ctx
    layers = _int_or_none(ov.get("n_gpu_layers"))
    if layers is None:
        layers = generation.n_gpu_layers
    return PlanOptions(n_ctx=n_ctx, n_gpu_layers=layers)


class HardwareService:
    """One per engine."""

    def __init__(self, paths: DataPaths, sources: Sources | None = None) -> None:
        self.corrections = CorrectionStore(paths.root / "hardware" / "corrections.json")
        self._sources = sources  # where detection reads (tests: recorded outputs)
        self._info: HardwareInfo | None = None
        self._lock = threading.Lock()

    @property
    def cached(self) -> HardwareInfo | None:
        """The detected hardware if detection already ran."""
        return self._info

    def detect(self, refresh: bool = False) -> HardwareInfo:
        """Detect once (blocking); later calls return the cached result."""
        with self._lock:
            if self._info is None or refresh:
                self._info = detect_hardware(self._sources)
            return self._info

    def current(self) -> HardwareInfo:
        """The detected machine with its free RAM and GPU memory as they are now.

        What plans a load uses: the GPU memory another program took since
        detection is not offered to the model (see ``with_current_memory``).
        """
        return with_current_memory(self.detect(), self._sources)

    def plan_file(
        self,
        path: str | Path,
        hw: HardwareInfo,
        options: PlanOptions,
        *,
        corrected: bool = True,
    ) -> tuple[Plan, ModelShape]:
        """Plan a GGUF file (header only) on ``hw``, with the stored correction if any."""
        shape = read_model_shape(path)
        corr = self.corrections.get(path) if corrected else None
        return plan(shape, hw, options, corr), shape

    def fit_for_size(
        self,
        size_bytes: int,
        hw: HardwareInfo,
        options: PlanOptions,
        *,
        parameters_b: float | None = None,
        quantization: str = "",
        context_length: int | None = None,
    ) -> Plan:
        """Plan a model known only by file size (catalog and Hub entries)."""
        shape = approximate_shape(
            size_bytes,
            parameters_b=parameters_b,
            quantization=quantization,
            context_length=context_length,
        )
        return plan(shape, hw, options)

    def record_load(
        self,
        path: str | Path,
        hw: HardwareInfo,
        *,
        n_gpu_layers: int,
        n_ctx: int,
        kv_type: str,
        offload_kqv: bool,
        reported: dict[str, int],
        flash_attn: bool | None = None,
    ) -> Correction | None:
        """Compare a real load's buffer sizes with the estimate; keep the ratios.

        ``flash_attn``: whether llama.cpp's "auto" turned flash attention on (for an
        f16 cache; None when the load does not tell, e.g. a q8_0 cache, which asks
        for it: what an earlier load learnt is kept).
        """
        if not reported.get("weights"):
            return None
        if flash_attn is None:
            before = self.corrections.get(path)
            flash_attn = before.flash_attn if before else True
        shape = read_model_shape(path)
        est = estimate_config(
            shape,
            hw,
            n_gpu_layers=n_gpu_layers,
            n_ctx=n_ctx,
            kv_type=kv_type,
            offload_kqv=offload_kqv,
            correction=Correction(flash_attn=flash_attn),
        )
        return self.corrections.record(path, est, reported, flash_attn=flash_attn)


FitLabel = Fit


def resolve_model(registry: ModelRegistry, model: str | Path) -> tuple[str, ModelRecord | None]:
    """(GGUF path, registry record or None) for a model id or a path."""
    try:
        rec = registry.get(str(model))
        return rec.path, rec
    except ModelNotFoundError:
        p = Path(model).expanduser()
        if p.is_file():
            return str(p.resolve()), None
        raise
