"""How sizes, speeds, times and fit labels read in the model picker."""

from __future__ import annotations

from typing import Any

UNKNOWN_FIT = "—"

FIT_WORDS = {
    "gpu": "fits on GPU",
    "partial": "partly on GPU",
    "cpu": "CPU only",
    "too_large": "too large",
}


def human_size(n: float) -> str:
    """``1.23 GB``, ``456 MB``, ``12 KB`` (decimal units, as the Hub shows them)."""
    if n >= 1e9:
        return f"{n / 1e9:.2f} GB"
    if n >= 1e6:
        return f"{n / 1e6:.0f} MB"
    if n >= 1e3:
        return f"{n / 1e3:.0f} KB"
    return f"{int(n)} B"


def human_speed(bps: float) -> str:
    return f"{human_size(bps)}/s" if bps > 0 else "…"


def human_eta(seconds: float | None) -> str:
    """``12 s left``, ``3 min left``, ``1 h 5 min left``; empty when unknown."""
    if seconds is None or seconds < 0:
        return ""
    s = int(seconds + 0.5)
    if s < 60:
        return f"{s} s left"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s left" if s < 600 else f"{s // 60} min left"
    return f"{s // 3600} h {(s % 3600) // 60} min left"


def progress_line(done: int, total: int, speed_bps: float, eta_s: float | None) -> str:
    """``120 MB of 253 MB · 12 MB/s · 11 s left``."""
    parts = [f"{human_size(done)} of {human_size(total)}" if total else human_size(done)]
    parts.append(human_speed(speed_bps))
    eta = human_eta(eta_s)
    if eta:
        parts.append(eta)
    return " · ".join(parts)


def fit_label(engine: Any, size_bytes: int, **details: Any) -> str:
    """The planner's words for whether a file of this size fits this machine, or "—".

    Uses the hardware area's ``Engine.fit_label_for_size`` (quick: it compares
    against the cached hardware detection and answers "unknown" before there is
    one). ``details`` (parameters_b, quantization, context_length) sharpen it.
    """
    method = getattr(engine, "fit_label_for_size", None)
    if method is None or size_bytes <= 0:
        return UNKNOWN_FIT
    try:
        label = method(size_bytes, **details)
    except Exception:  # noqa: BLE001 - a label is decoration; never break the list
        return UNKNOWN_FIT
    text = str(getattr(label, "value", label))
    return FIT_WORDS.get(text, UNKNOWN_FIT)
