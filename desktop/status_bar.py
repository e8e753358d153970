"""The status bar: loaded model, its offload, memory use and the last answer's speed.

Memory is sampled every :data:`MEMORY_INTERVAL_MS` in an executor (psutil
walks ``/proc`` for the llama.cpp worker process, which can take a few
milliseconds on a busy machine: not on the GUI thread). VRAM is what the
hardware area's ``Engine.hardware()`` detected (used / total, or "no GPU").
"""

from __future__ import annotations

import contextlib
from typing import Any

import psutil
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from core.executors import run_blocking
from core.types import GenerationStats
from desktop.bridge import EngineBridge
from desktop.models.formatting import human_size

MEMORY_INTERVAL_MS = 3000


def memory_snapshot() -> tuple[int, int, int]:
    """(bytes used by Lectern incl. its worker processes, system used, system total)."""
    vm = psutil.virtual_memory()
    me = psutil.Process()
    rss = me.memory_info().rss
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            rss += child.memory_info().rss
    return rss, vm.total - vm.available, vm.total


def offload_text(loaded: Any) -> str:
    """``CPU only`` / ``GPU: all 26 layers`` / ``GPU: 12 layers`` for a LoadedModel."""
    layers = int(getattr(loaded, "n_gpu_layers", 0) or 0)
    if layers == 0:
        return "CPU only"
    if layers < 0:
        return "GPU: all layers"
    return f"GPU: {layers} layers"


class StatusBar(QStatusBar):
    """Permanent labels on the right; transient messages on the left."""

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.model_label = QLabel("No model loaded")
        self.model_label.setAccessibleName("Loaded model")
        self.offload_label = QLabel("")
        self.offload_label.setAccessibleName("Offload")
        self.memory_label = QLabel("RAM …")
        self.memory_label.setAccessibleName("Memory use")
        self.speed_label = QLabel("")
        self.speed_label.setAccessibleName("Last answer speed")
        for label in (self.model_label, self.offload_label, self.memory_label, self.speed_label):
            label.setStyleSheet("padding: 0 10px; border-left: 1px solid palette(mid);")
            self.addPermanentWidget(label)
        self.offload_label.hide()
        self.speed_label.hide()
        self._timer = QTimer(self)
        self._timer.setInterval(MEMORY_INTERVAL_MS)
        self._timer.timeout.connect(self.refresh_memory)

    def start(self) -> None:
        self.refresh_memory()
        self._timer.start()

    def set_loaded(self, loaded: Any) -> None:
        """Show a LoadedModel (gen's type), or None for "no model"."""
        if loaded is None:
            self.model_label.setText("No model loaded")
            self.offload_label.hide()
            return
        record = getattr(loaded, "record", None)
        name = record.name if record is not None else str(getattr(loaded, "path", "model"))
        ctx = getattr(loaded, "n_ctx", 0)
        self.model_label.setText(f"{name}" + (f" · {ctx} ctx" if ctx else ""))
        self.offload_label.setText(offload_text(loaded))
        self.offload_label.show()

    def set_last_stats(self, stats: GenerationStats | None) -> None:
        if stats is None or not stats.decode_tps:
            return
        self.speed_label.setText(f"{stats.decode_tps:.1f} tok/s")
        self.speed_label.setToolTip(
            f"Last answer: first token after {stats.ttft_s:.2f} s, prompt "
            f"{stats.prefill_tps:.0f} tok/s, {stats.completion_tokens} tokens"
        )
        self.speed_label.show()

    def refresh_memory(self) -> None:
        if self.bridge.busy("status-memory"):
            return

        async def sample() -> tuple[tuple[int, int, int], str]:
            mem = await run_blocking("status", memory_snapshot)
            return mem, await self._vram()

        self.bridge.submit("status-memory", sample(), on_done=self._show_memory)

    async def _vram(self) -> str:
        """The GPU's memory as the hardware area detected it (cached after the first call)."""
        hardware = getattr(self.bridge.engine, "hardware", None)
        if hardware is None:
            return "—"
        try:
            info = await hardware()
        except Exception:  # noqa: BLE001 - a status label must never raise
            return "—"
        gpu = getattr(info, "gpu", None)
        if gpu is None:
            return "none (no GPU)"
        total = int(getattr(gpu, "total_bytes", 0) or 0)
        free = getattr(gpu, "free_bytes", None)
        if free is None:
            return human_size(total)
        return f"{human_size(total - int(free))} / {human_size(total)}"

    def _show_memory(self, result: tuple[tuple[int, int, int], str]) -> None:
        (mine, used, total), vram = result
        self.memory_label.setText(
            f"RAM {human_size(mine)} (system {human_size(used)} of {human_size(total)})"
            f" · VRAM {vram}"
        )
