"""Learning from real loads: llama.cpp's reported buffer sizes against our estimate.

When llama.cpp loads a model it logs each buffer it allocates
(``CPU_Mapped model buffer size = 241.52 MiB``, ``CUDA0 KV buffer size =
...``, ``CPU compute buffer size = ...``). :func:`parse_buffer_sizes` reads
those lines; :class:`CorrectionStore` keeps, per model file, the ratio of
what llama.cpp reported to what the planner estimated for the weights and
the compute buffer, and the planner multiplies its next estimate for that
model by them. Ratios are clamped to 0.5-2.0 so that one odd load cannot
make a model look absurdly large or small.

It also keeps whether llama.cpp ran flash attention when asked for "auto"
(:func:`flash_attn_from_log`): the planner estimates f16 caches with it, and
a build or model without it has a compute buffer several times larger.

The KV cache is not corrected: its size is exact arithmetic (cells × heads
× head size × bytes, the same formula llama.cpp uses, checked against real
loads to the byte), so a differing report means the report is incomplete
(e.g. one of Gemma's two caches missing), not that the estimate is wrong.
The observed ratio is stored as ``kv_observed`` for diagnosis.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from core.hardware.planner import Correction, MemoryEstimate
from core.settings import atomic_write_text

MIB = 1024**2
_BUFFER_RE = re.compile(
    r"(?P<dev>[A-Za-z0-9_]+)\s+(?P<kind>model|KV|compute|output|RS)\s+buffer size\s*=\s*"
    r"(?P<mib>[0-9.]+)\s*MiB"
)
_KIND = {"model": "weights", "KV": "kv", "RS": "kv", "compute": "compute", "output": "output"}


def parse_buffer_sizes(log: str) -> dict[str, int]:
    """Buffer sizes in bytes from llama.cpp's load log, keyed ``"<device> <kind>"``.

    Also adds the totals ``weights``, ``kv``, ``compute``, ``output`` (all
    devices) and ``gpu`` (everything not in a CPU, AMX or pinned ``*_Host``
    buffer). A buffer that is logged twice (one per sequence or per KV group,
    e.g. Gemma's global and sliding-window caches) is summed.
    """
    out: dict[str, int] = {}
    totals = {"weights": 0, "kv": 0, "compute": 0, "output": 0, "gpu": 0}
    for m in _BUFFER_RE.finditer(log):
        n = int(float(m.group("mib")) * MIB)
        key = f"{m.group('dev')} {m.group('kind')}"
        out[key] = out.get(key, 0) + n
        totals[_KIND[m.group("kind")]] += n
        dev = m.group("dev").upper()
        # CUDA_Host: pinned RAM; AMX: the weights repacked for Intel's matrix unit, in RAM
        if not dev.startswith(("CPU", "AMX")) and not dev.endswith("_HOST"):
            totals["gpu"] += n
    if out:
        out.update(totals)
    return out


# "auto" resolved: "Flash Attention enabled" / "... not supported, set to disabled" (the pinned
# llama.cpp), "Flash Attention was auto, set to enabled|disabled" (other versions)
_FLASH_ATTN_RE = re.compile(
    r"Flash Attention (?:was auto, set to )?(?P<auto>enabled|disabled|not supported)"
    r"|flash_attn\s*=\s*(?P<set>enabled|disabled)"
)


def flash_attn_from_log(log: str) -> bool | None:
    """Whether llama.cpp ran flash attention, from its load log (None: the log does not say).

    "auto" is resolved in a later line ("Flash Attention enabled", or "... not
    supported, set to disabled"), which wins over the ``flash_attn = auto`` line.
    """
    found: bool | None = None
    for m in _FLASH_ATTN_RE.finditer(log):
        if m.group("auto"):
            return m.group("auto") == "enabled"
        found = m.group("set") == "enabled"
    return found


def model_key(path: str | Path) -> str:
    """Corrections are per file: name and size identify it well enough."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError:
        size = 0
    return f"{p.name}:{size}"


def _ratio(reported: int, estimated: int) -> float:
    if reported <= 0 or estimated <= 0:
        return 1.0
    return min(2.0, max(0.5, reported / estimated))


class CorrectionStore:
    """Per-model corrections in ``<data dir>/hardware/corrections.json``."""

    def __init__(self, file: Path) -> None:
        self.file = file

    def _read(self) -> dict[str, dict[str, object]]:
        try:
            raw = json.loads(self.file.read_text(encoding="utf-8"))
            return raw if isinstance(raw, dict) else {}
        except (OSError, ValueError):
            return {}

    def get(self, path: str | Path) -> Correction | None:
        """The stored correction for this model file, if it was loaded before."""
        entry = self._read().get(model_key(path))
        if not entry:
            return None
        try:
            return Correction(
                weights=float(entry["weights"]),  # type: ignore[arg-type]
                kv=float(entry["kv"]),  # type: ignore[arg-type]
                compute=float(entry["compute"]),  # type: ignore[arg-type]
                flash_attn=bool(entry.get("flash_attn", True)),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def record(
        self,
        path: str | Path,
        estimate: MemoryEstimate,
        reported: dict[str, int],
        *,
        flash_attn: bool = True,
    ) -> Correction:
        """Store reported/estimated ratios for this model.

        ``estimate`` is made without ratios but with ``flash_attn`` as the load ran.
        """
        kv_ratio = _ratio(reported.get("kv", 0), estimate.kv_bytes)
        corr = Correction(
            weights=_ratio(reported.get("weights", 0), estimate.weights_bytes),
            compute=_ratio(
                reported.get("compute", 0) + reported.get("output", 0), estimate.compute_bytes
            ),
            flash_attn=flash_attn,
        )
        data = self._read()
        data[model_key(path)] = {
            **asdict(corr),
            "kv_observed": kv_ratio,
            "reported": {k: reported[k] for k in ("weights", "kv", "compute") if k in reported},
            "estimated": {
                "weights": estimate.weights_bytes,
                "kv": estimate.kv_bytes,
                "compute": estimate.compute_bytes,
            },
            "updated": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        atomic_write_text(self.file, json.dumps(data, indent=2))
        return corr


def normalize_reported(memory: dict[str, int]) -> dict[str, int]:
    """Totals (``weights``, ``kv``, ``compute``, ``output``) from either memory report.

    Accepts :func:`parse_buffer_sizes`' dict or the chat worker's
    (``"model:CPU_Mapped"``, ``"kv:CPU"``... plus ``weights_bytes`` totals).
    """
    if "weights" in memory:
        return dict(memory)
    out = {"weights": 0, "kv": 0, "compute": 0, "output": 0, "gpu": 0}
    kinds = {"model": "weights", "kv": "kv", "rs": "kv", "compute": "compute", "output": "output"}
    for key, n in memory.items():
        kind, sep, dev = key.partition(":")
        if not sep or kind.lower() not in kinds:
            continue
        out[kinds[kind.lower()]] += n
        if not dev.upper().startswith("CPU") and not dev.upper().endswith("_HOST"):
            out["gpu"] += n
    return out
