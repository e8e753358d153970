"""What this machine has: :class:`HardwareInfo`, detected or simulated.

:func:`detect_hardware` runs every probe of :mod:`core.hardware.probes` in
isolation (each with its own timeout) and keeps whatever the others found
when one fails. :func:`simulated_hardware` builds the "what if" machines of
``lectern plan --gpu-vram-gb ...`` and of the planner tests.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from core.hardware import probes
from core.hardware.probes import GIB, CpuInfo, GpuInfo, LlamaBuildInfo, ProbeLog, run_probe


@dataclass(frozen=True)
class HardwareInfo:
    """The machine, as far as the planner is concerned."""

    cpu: CpuInfo
    ram_total_bytes: int
    ram_available_bytes: int
    gpus: tuple[GpuInfo, ...] = ()
    llama: LlamaBuildInfo = field(default_factory=LlamaBuildInfo)
    platform: str = sys.platform
    simulated: bool = False
    probe_errors: dict[str, str] = field(default_factory=dict)

    @property
    def gpu(self) -> GpuInfo | None:
        """The GPU llama.cpp would use first (the one with the most memory)."""
        usable = [g for g in self.gpus if g.vendor in ("nvidia", "amd", "apple")]
        if not usable:
            return None
        return max(usable, key=lambda g: (g.total_bytes, -g.index))

    @property
    def gpu_offload_possible(self) -> bool:
        """A GPU is present and the llama.cpp build can use it (always, when simulated)."""
        if self.gpu is None:
            return False
        return self.simulated or self.llama.supports_gpu_offload

    @property
    def needs_gpu_build(self) -> bool:
        """There is a GPU, but the installed llama.cpp runs on the CPU only."""
        return (
            self.gpu is not None
            and not self.simulated
            and self.llama.installed
            and not self.llama.supports_gpu_offload
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``lectern hardware --json``)."""
        out = asdict(self)
        out["cpu"]["flags"] = list(self.cpu.flags)
        out["gpu"] = asdict(self.gpu) if self.gpu else None
        out["gpu_offload_possible"] = self.gpu_offload_possible
        out["needs_gpu_build"] = self.needs_gpu_build
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> HardwareInfo:
        """Inverse of :meth:`to_json` (unknown keys ignored)."""
        cpu = dict(raw.get("cpu", {}))
        cpu["flags"] = tuple(cpu.get("flags", ()))
        llama = dict(raw.get("llama", {}))
        for key in ("backends", "cpu_features", "devices"):
            llama[key] = tuple(llama.get(key, ()))
        return cls(
            cpu=CpuInfo(**cpu),
            ram_total_bytes=int(raw["ram_total_bytes"]),
            ram_available_bytes=int(raw["ram_available_bytes"]),
            gpus=tuple(GpuInfo(**g) for g in raw.get("gpus", ())),
            llama=LlamaBuildInfo(**llama),
            platform=str(raw.get("platform", sys.platform)),
            simulated=bool(raw.get("simulated", False)),
            probe_errors=dict(raw.get("probe_errors", {})),
        )


@dataclass(frozen=True)
class Sources:
    """Where detection reads from; tests point these at recorded outputs."""

    cpuinfo: Path = Path("/proc/cpuinfo")
    drm_root: Path = Path("/sys/class/drm")
    runner: Callable[[list[str]], str] = probes.run_command
    probe_llama: Callable[[], LlamaBuildInfo] = probes.probe_llama_build
    timeout: float = 5.0
    llama_timeout: float = 40.0


def detect_hardware(sources: Sources | None = None) -> HardwareInfo:
    """Detect CPU, RAM, GPUs and the llama.cpp build (blocking, a second or two)."""
    src = sources or Sources()
    log = ProbeLog()
    cpu = log.take(run_probe("cpu", lambda: probes.probe_cpu(src.cpuinfo), src.timeout), CpuInfo())
    total, available = log.take(run_probe("ram", probes.probe_ram, src.timeout), (0, 0))
    gpus: list[GpuInfo] = []
    gpus += log.take(run_probe("nvidia", lambda: probes.probe_nvidia(src.runner), src.timeout), [])
    gpus += log.take(run_probe("amd", lambda: probes.amd_from_sysfs(src.drm_root), src.timeout), [])
    gpus += log.take(run_probe("apple", lambda: probes.probe_apple(src.runner), src.timeout), [])
    llama = log.take(run_probe("llama.cpp", src.probe_llama, src.llama_timeout), LlamaBuildInfo())
    if llama.error and "llama.cpp" not in log.errors:
        log.errors["llama.cpp"] = llama.error
    cpu = _with_build_features(cpu, llama)
    gpus = _with_metal_limit(gpus, llama)
    return HardwareInfo(
        cpu=cpu,
        ram_total_bytes=total,
        ram_available_bytes=available,
        gpus=tuple(gpus),
        llama=llama,
        probe_errors=dict(log.errors),
    )


def with_current_memory(hw: HardwareInfo, sources: Sources | None = None) -> HardwareInfo:
    """``hw`` with the free RAM and each discrete GPU's free memory read again.

    Detection runs once per engine, but programs start and stop while Lectern
    runs (a game takes the GPU, a browser the RAM), so the engine re-reads the
    free amounts before it plans a load. Only the quick probes run (psutil,
    NVML or ``nvidia-smi``, the amdgpu sysfs files); a probe that fails or no
    longer finds a GPU leaves the detected figure. Simulated machines are
    returned unchanged.
    """
    if hw.simulated:
        return hw
    src = sources or Sources()
    log = ProbeLog()
    _total, available = log.take(run_probe("ram", probes.probe_ram, src.timeout), (0, 0))
    vendors = {g.vendor for g in hw.gpus}
    readers: dict[str, Callable[[], list[GpuInfo]]] = {
        "nvidia": lambda: probes.probe_nvidia(src.runner),
        "amd": lambda: probes.amd_from_sysfs(src.drm_root),
    }
    fresh: list[GpuInfo] = []
    for vendor, read in readers.items():
        if vendor in vendors:
            found: list[GpuInfo] = log.take(run_probe(vendor, read, src.timeout), [])
            fresh += found
    free = {(g.vendor, g.index, g.name): g.free_bytes for g in fresh}
    gpus = tuple(
        replace(g, free_bytes=now)
        if (now := free.get((g.vendor, g.index, g.name))) is not None
        else g
        for g in hw.gpus
    )
    return replace(hw, ram_available_bytes=available or hw.ram_available_bytes, gpus=gpus)


def _with_build_features(cpu: CpuInfo, llama: LlamaBuildInfo) -> CpuInfo:
    # Windows has no /proc/cpuinfo; llama.cpp's own report names the instruction sets
    if cpu.flags or not llama.cpu_features:
        return cpu
    names = {"AVX2": "avx2", "AVX": "avx", "AVX512": "avx512", "NEON": "neon", "FMA": "fma"}
    flags = tuple(v for k, v in names.items() if k in llama.cpu_features)
    return replace(cpu, flags=flags)


def _with_metal_limit(gpus: list[GpuInfo], llama: LlamaBuildInfo) -> list[GpuInfo]:
    # a Metal build reports recommendedMaxWorkingSetSize as the device's memory: exact
    metal = [d for d in llama.devices if str(d.get("name", "")).startswith("Metal")]
    if not metal or not metal[0].get("total"):
        return gpus
    limit = int(metal[0]["total"])
    return [
        replace(g, working_set_bytes=limit, source=f"{g.source}+llama.cpp")
        if g.vendor == "apple"
        else g
        for g in gpus
    ]


def simulated_hardware(
    *,
    gpu_vendor: str = "none",
    gpu_vram_gb: float | None = None,
    ram_gb: float | None = None,
    base: HardwareInfo | None = None,
) -> HardwareInfo:
    """A machine with the given GPU and RAM (GiB), the rest from ``base`` or generic.

    ``apple`` means unified memory: ``ram_gb`` is the whole memory and the GPU
    may use Metal's working set of it (``gpu_vram_gb`` is then ignored unless
    no RAM size is given). RAM "available" is the total less what a desktop
    session typically holds (1.5 GiB, or 15 % on small machines).
    """
    cpu = base.cpu if base else CpuInfo("simulated processor", "x86_64", 8, 16, ("avx2",))
    if ram_gb is not None:
        total = int(ram_gb * GIB)
    elif gpu_vendor == "apple" and gpu_vram_gb is not None:
        total = int(gpu_vram_gb * GIB)
    elif base is not None:
        total = base.ram_total_bytes
    else:
        total = 16 * GIB
    if ram_gb is None and base is not None and gpu_vendor != "apple":
        available = base.ram_available_bytes
    else:
        available = total - min(int(1.5 * GIB), int(total * 0.15))
    gpus: tuple[GpuInfo, ...] = ()
    if gpu_vendor == "apple":
        gpus = (
            GpuInfo(
                vendor="apple",
                name="simulated Apple Silicon GPU",
                total_bytes=total,
                unified_memory=True,
                working_set_bytes=probes.metal_working_set(total),
                source="simulated",
            ),
        )
    elif gpu_vendor in ("nvidia", "amd"):
        vram = int((gpu_vram_gb if gpu_vram_gb is not None else 8) * GIB)
        gpus = (
            GpuInfo(
                vendor=gpu_vendor,  # type: ignore[arg-type]
                name=f"simulated {gpu_vendor.upper()} GPU",
                total_bytes=vram,
                free_bytes=vram,
                source="simulated",
            ),
        )
    elif gpu_vendor != "none":
        raise ValueError(f"unknown GPU vendor {gpu_vendor!r}")
    llama = base.llama if base else LlamaBuildInfo(installed=True, backends=("CPU",))
    return HardwareInfo(
        cpu=cpu,
        ram_total_bytes=total,
        ram_available_bytes=available,
        gpus=gpus,
        llama=llama,
        simulated=True,
    )
