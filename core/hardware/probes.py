"""Probes: one small function per thing to find out about this machine.

Every probe runs isolated: :func:`run_probe` gives it its own daemon thread
and a deadline, and turns any exception or overrun into a
:class:`ProbeOutcome` with an error text. A broken driver, a hung
``nvidia-smi`` or a missing library therefore costs at most the timeout and
never crashes the application.

The parsing is kept apart from the reading (``parse_*`` functions take the
text a tool printed or a file held), so tests feed recorded outputs of real
machines through the same code.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

T = TypeVar("T")
GpuVendor = Literal["nvidia", "amd", "apple", "intel", "other"]
GIB = 1024**3
MIB = 1024**2


# -- what probes return ------------------------------------------------------


@dataclass(frozen=True)
class CpuInfo:
    """The processor."""

    model: str = "unknown processor"
    architecture: str = ""  # x86_64, arm64, ...
    physical_cores: int = 0
    logical_cores: int = 0
    flags: tuple[str, ...] = ()  # the instruction sets that matter for llama.cpp: avx2, ...

    def has(self, flag: str) -> bool:
        return flag in self.flags


@dataclass(frozen=True)
class GpuInfo:
    """One graphics processor and its memory (bytes)."""

    vendor: GpuVendor
    name: str
    total_bytes: int
    free_bytes: int | None = None  # None when the driver does not say
    index: int = 0
    compute_capability: str | None = None  # NVIDIA, e.g. "8.6"
    driver: str | None = None
    unified_memory: bool = False  # shares the system RAM (Apple Silicon, APUs)
    working_set_bytes: int | None = None  # Metal's recommended maximum working set
    source: str = ""  # nvml, nvidia-smi, sysfs, sysctl, llama.cpp, simulated

    @property
    def usable_bytes(self) -> int:
        """What a model may occupy before the driver's own reserve is taken off."""
        if self.working_set_bytes:
            return self.working_set_bytes
        return self.free_bytes if self.free_bytes is not None else self.total_bytes


@dataclass(frozen=True)
class LlamaBuildInfo:
    """What the installed llama.cpp (llama-cpp-python) build can do."""

    installed: bool = False
    version: str = ""
    supports_gpu_offload: bool = False
    system_info: str = ""
    backends: tuple[str, ...] = ()  # e.g. ("CPU",), ("CUDA", "CPU"), ("Metal", "BLAS", "CPU")
    devices: tuple[dict[str, Any], ...] = ()  # {"name", "description", "type", "total", "free"}
    cpu_features: tuple[str, ...] = ()  # AVX2, AVX512, NEON... as the build reports them
    error: str = ""


@dataclass(frozen=True)
class ProbeOutcome(Generic[T]):
    """What one probe found, or why it found nothing."""

    name: str
    value: T | None
    error: str = ""
    seconds: float = 0.0


def run_probe(name: str, fn: Callable[[], T], timeout: float = 5.0) -> ProbeOutcome[T]:
    """Run ``fn`` in its own daemon thread; never raises, never waits past ``timeout``.

    A probe that hangs (a wedged driver) is abandoned, not killed: its thread
    is a daemon, so it cannot keep the process alive.
    """
    box: dict[str, Any] = {}
    start = time.monotonic()

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - a probe must never take the app down
            box["error"] = f"{type(exc).__name__}: {exc}"

    thread = threading.Thread(target=target, name=f"lectern-probe-{name}", daemon=True)
    thread.start()
    thread.join(timeout)
    seconds = time.monotonic() - start
    if thread.is_alive():
        return ProbeOutcome(name, None, f"timed out after {timeout:.0f} s", seconds)
    if "error" in box:
        return ProbeOutcome(name, None, box["error"], seconds)
    return ProbeOutcome(name, box.get("value"), "", seconds)


def run_command(argv: list[str], timeout: float = 5.0) -> str:
    """Run a tool and return its standard output (raises on failure or timeout)."""
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited with {proc.returncode}: {proc.stderr.strip()[:200]}")
    return proc.stdout


# -- CPU -----------------------------------------------------------------------

# /proc/cpuinfo flag -> the name we report; x86 lists "flags", ARM lists "Features"
_X86_FLAGS = {
    "avx": "avx",
    "avx2": "avx2",
    "fma": "fma",
    "f16c": "f16c",
    "avx512f": "avx512",
    "avx512_vnni": "avx512_vnni",
    "avx512_bf16": "avx512_bf16",
    "avx_vnni": "avx_vnni",
    "amx_int8": "amx",
}
_ARM_FLAGS = {"asimd": "neon", "fphp": "fp16", "asimddp": "dotprod", "sve": "sve", "i8mm": "i8mm"}


def parse_cpuinfo(text: str) -> tuple[str, tuple[str, ...], int]:
    """(model name, instruction-set flags, logical processors) from ``/proc/cpuinfo``."""
    model = ""
    raw_flags: set[str] = set()
    processors = 0
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "processor":
            processors += 1
        elif key in ("model name", "hardware", "cpu model") and not model:
            model = value
        elif key in ("flags", "features") and not raw_flags:
            raw_flags = set(value.split())
    flags = [v for k, v in _X86_FLAGS.items() if k in raw_flags]
    flags += [v for k, v in _ARM_FLAGS.items() if k in raw_flags]
    return model or "unknown processor", tuple(dict.fromkeys(flags)), processors


def parse_sysctl(text: str) -> dict[str, str]:
    """``sysctl`` output (``key: value`` lines) as a dict."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def cpu_from_sysctl(values: Mapping[str, str]) -> CpuInfo:
    """The processor of a Mac (or BSD) from ``sysctl`` values."""
    flags = []
    if values.get("hw.optional.neon") == "1" or values.get("hw.optional.AdvSIMD") == "1":
        flags.append("neon")
    if values.get("hw.optional.arm.FEAT_DotProd") == "1":
        flags.append("dotprod")
    if values.get("hw.optional.arm.FEAT_I8MM") == "1":
        flags.append("i8mm")
    if values.get("hw.optional.avx2_0") == "1":
        flags.append("avx2")
    if values.get("hw.optional.avx512f") == "1":
        flags.append("avx512")
    arm = values.get("hw.optional.arm64") == "1"
    return CpuInfo(
        model=values.get("machdep.cpu.brand_string") or "unknown processor",
        architecture="arm64" if arm else platform.machine(),
        physical_cores=int(values.get("hw.physicalcpu") or 0),
        logical_cores=int(values.get("hw.logicalcpu") or 0),
        flags=tuple(flags),
    )


def probe_cpu(cpuinfo_path: Path = Path("/proc/cpuinfo")) -> CpuInfo:
    """The processor: /proc/cpuinfo on Linux, sysctl on macOS, platform elsewhere."""
    import psutil

    physical = psutil.cpu_count(logical=False) or 0
    logical = psutil.cpu_count(logical=True) or 0
    if cpuinfo_path.exists():
        model, flags, processors = parse_cpuinfo(cpuinfo_path.read_text(errors="replace"))
        return CpuInfo(model, platform.machine(), physical, logical or processors, flags)
    if sys.platform == "darwin":
        return cpu_from_sysctl(parse_sysctl(run_command(["sysctl", *SYSCTL_KEYS])))
    return CpuInfo(
        platform.processor() or "unknown processor", platform.machine(), physical, logical
    )


def probe_ram() -> tuple[int, int]:
    """(total, available) system memory in bytes."""
    import psutil

    vm = psutil.virtual_memory()
    return int(vm.total), int(vm.available)


# -- NVIDIA --------------------------------------------------------------------


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def nvidia_from_nvml(nvml: Any) -> list[GpuInfo]:
    """NVIDIA GPUs through an NVML module (``pynvml`` from nvidia-ml-py)."""
    nvml.nvmlInit()
    try:
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        gpus = []
        for i in range(int(nvml.nvmlDeviceGetCount())):
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
            mem = nvml.nvmlDeviceGetMemoryInfo(handle)
            try:
                major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
                cc: str | None = f"{major}.{minor}"
            except Exception:  # noqa: BLE001 - very old drivers lack it; the GPU still counts
                cc = None
            gpus.append(
                GpuInfo(
                    vendor="nvidia",
                    name=_text(nvml.nvmlDeviceGetName(handle)),
                    total_bytes=int(mem.total),
                    free_bytes=int(mem.free),
                    index=i,
                    compute_capability=cc,
                    driver=driver,
                    source="nvml",
                )
            )
        return gpus
    finally:
        nvml.nvmlShutdown()


NVIDIA_SMI_QUERY = "index,name,memory.total,memory.free,driver_version,compute_cap"


def parse_nvidia_smi_csv(text: str) -> list[GpuInfo]:
    """GPUs from ``nvidia-smi --query-gpu=<NVIDIA_SMI_QUERY> --format=csv,noheader,nounits``.

    Memory columns are MiB. Older drivers print ``[N/A]`` or ``[Not Supported]``
    for fields they lack (compute_cap before 510); those become ``None``.
    """
    gpus = []
    for line in text.strip().splitlines():
        cols = [c.strip() for c in line.split(",")]
        if len(cols) < 4 or not cols[0].isdigit():
            continue

        def opt(i: int, cols: list[str] = cols) -> str | None:
            v = cols[i] if i < len(cols) else ""
            return None if not v or v.startswith("[") or v == "N/A" else v

        total, free = opt(2), opt(3)
        if total is None:
            continue
        gpus.append(
            GpuInfo(
                vendor="nvidia",
                name=cols[1],
                total_bytes=int(float(total) * MIB),
                free_bytes=int(float(free) * MIB) if free is not None else None,
                index=int(cols[0]),
                driver=opt(4),
                compute_capability=opt(5),
                source="nvidia-smi",
            )
        )
    return gpus


def probe_nvidia(runner: Callable[[list[str]], str] = run_command) -> list[GpuInfo]:
    """NVIDIA GPUs: NVML first, ``nvidia-smi`` when NVML cannot be loaded."""
    try:
        import pynvml

        return nvidia_from_nvml(pynvml)
    except Exception as nvml_error:  # noqa: BLE001 - no driver library is the common case
        try:
            out = runner(
                ["nvidia-smi", f"--query-gpu={NVIDIA_SMI_QUERY}", "--format=csv,noheader,nounits"]
            )
        except FileNotFoundError:
            return []  # no driver at all: no NVIDIA GPU, not an error
        except Exception as smi_error:
            raise RuntimeError(f"NVML: {nvml_error}; nvidia-smi: {smi_error}") from smi_error
        return parse_nvidia_smi_csv(out)


# -- AMD (Linux sysfs) ---------------------------------------------------------

_CARD_RE = re.compile(r"^card(\d+)$")
AMD_PCI_VENDOR = "0x1002"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return None


def amd_from_sysfs(drm_root: Path = Path("/sys/class/drm")) -> list[GpuInfo]:
    """AMD GPUs from the amdgpu driver's files under ``/sys/class/drm/cardN/device``.

    ``mem_info_vram_total`` / ``mem_info_vram_used`` are bytes. An APU (graphics
    inside the processor) has a small VRAM carve-out and shares system memory
    through GTT; it is marked ``unified_memory``.
    """
    if not drm_root.is_dir():
        return []
    gpus = []
    cards = sorted(
        (int(m.group(1)), p)
        for p in drm_root.iterdir()
        if (m := _CARD_RE.match(p.name)) is not None
    )
    for idx, card in cards:
        dev = card / "device"
        if _read(dev / "vendor") != AMD_PCI_VENDOR:
            continue
        total = _read(dev / "mem_info_vram_total")
        if total is None or not total.isdigit():
            continue
        used = _read(dev / "mem_info_vram_used")
        name = _read(dev / "product_name") or f"AMD Radeon GPU ({_read(dev / 'device') or '?'})"
        total_b = int(total)
        gpus.append(
            GpuInfo(
                vendor="amd",
                name=name,
                total_bytes=total_b,
                free_bytes=total_b - int(used) if used and used.isdigit() else None,
                index=idx,
                driver="amdgpu",
                unified_memory=total_b < 2 * GIB,  # an APU's carve-out, not a real card
                source="sysfs",
            )
        )
    return gpus


# -- Apple Silicon ---------------------------------------------------------------

SYSCTL_KEYS = [
    "hw.memsize",
    "hw.physicalcpu",
    "hw.logicalcpu",
    "hw.optional.arm64",
    "hw.optional.neon",
    "hw.optional.AdvSIMD",
    "hw.optional.arm.FEAT_DotProd",
    "hw.optional.arm.FEAT_I8MM",
    "machdep.cpu.brand_string",
    "iogpu.wired_limit_mb",
]


def metal_working_set(memsize: int, wired_limit_mb: int = 0) -> int:
    """Metal's recommended maximum working set for a Mac with ``memsize`` bytes.

    macOS lets the GPU wire about two thirds of unified memory up to 36 GB and
    three quarters above (what ``recommendedMaxWorkingSetSize`` reports); an
    administrator can change it with ``sysctl iogpu.wired_limit_mb``.
    """
    if wired_limit_mb > 0:
        return wired_limit_mb * MIB
    return memsize * 2 // 3 if memsize <= 36 * GIB else memsize * 3 // 4


def apple_from_sysctl(values: Mapping[str, str]) -> list[GpuInfo]:
    """The GPU of an Apple Silicon Mac (unified memory) from ``sysctl`` values."""
    if values.get("hw.optional.arm64") != "1" or not values.get("hw.memsize", "").isdigit():
        return []
    memsize = int(values["hw.memsize"])
    limit = values.get("iogpu.wired_limit_mb", "0")
    brand = values.get("machdep.cpu.brand_string") or "Apple Silicon"
    return [
        GpuInfo(
            vendor="apple",
            name=f"{brand} GPU",
            total_bytes=memsize,
            free_bytes=None,
            unified_memory=True,
            working_set_bytes=metal_working_set(memsize, int(limit) if limit.isdigit() else 0),
            driver="Metal",
            source="sysctl",
        )
    ]


def probe_apple(runner: Callable[[list[str]], str] = run_command) -> list[GpuInfo]:
    """Apple Silicon GPU (macOS only)."""
    if sys.platform != "darwin":
        return []
    # sysctl prints the keys it knows and complains about the others: keep stdout
    proc = subprocess.run(["sysctl", *SYSCTL_KEYS], capture_output=True, text=True, timeout=5)
    return apple_from_sysctl(parse_sysctl(proc.stdout))


# -- llama.cpp build -------------------------------------------------------------

_FEATURE_RE = re.compile(r"([A-Z][A-Z0-9_]*)\s*=\s*1")
_BACKEND_NAMES = (
    "CUDA",
    "Metal",
    "HIP",
    "ROCm",
    "Vulkan",
    "SYCL",
    "OpenCL",
    "BLAS",
    "CANN",
    "MUSA",
)


def parse_system_info(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(backends, CPU features) from ``llama_print_system_info()``.

    It looks like ``CUDA : ARCHS = 890 | ... | CPU : SSE3 = 1 | AVX2 = 1 | ...``:
    sections separated by the backend name and a colon.
    """
    backends = []
    for name in _BACKEND_NAMES:
        if re.search(rf"(^|\|\s*|\s){name}\s*:", text):
            backends.append(name)
    cpu_part = text.split("CPU :", 1)[-1] if "CPU :" in text else text
    features = tuple(dict.fromkeys(_FEATURE_RE.findall(cpu_part)))
    if "CPU :" in text or features:
        backends.append("CPU")
    return tuple(backends), features


_LLAMA_SCRIPT = r"""
import json, sys
out = {}
try:
    import llama_cpp
    out["version"] = getattr(llama_cpp, "__version__", "")
    out["gpu"] = bool(llama_cpp.llama_supports_gpu_offload())
    llama_cpp.llama_backend_init()
    info = llama_cpp.llama_print_system_info()
    out["system_info"] = info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)
    devices = []
    try:
        lib = llama_cpp.llama_cpp._lib
        import ctypes
        lib.ggml_backend_dev_count.restype = ctypes.c_size_t
        lib.ggml_backend_dev_get.restype = ctypes.c_void_p
        lib.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
        for fn in ("ggml_backend_dev_name", "ggml_backend_dev_description"):
            getattr(lib, fn).restype = ctypes.c_char_p
            getattr(lib, fn).argtypes = [ctypes.c_void_p]
        lib.ggml_backend_dev_type.restype = ctypes.c_int
        lib.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
        lib.ggml_backend_dev_memory.restype = None
        lib.ggml_backend_dev_memory.argtypes = [ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t)]
        types = {0: "cpu", 1: "gpu", 2: "igpu", 3: "accel"}
        for i in range(lib.ggml_backend_dev_count()):
            d = lib.ggml_backend_dev_get(i)
            free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
            lib.ggml_backend_dev_memory(d, ctypes.byref(free), ctypes.byref(total))
            devices.append({
                "name": lib.ggml_backend_dev_name(d).decode("utf-8", "replace"),
                "description": lib.ggml_backend_dev_description(d).decode("utf-8", "replace"),
                "type": types.get(lib.ggml_backend_dev_type(d), "other"),
                "total": int(total.value), "free": int(free.value),
            })
    except Exception as exc:
        out["devices_error"] = f"{type(exc).__name__}: {exc}"
    out["devices"] = devices
except Exception as exc:
    out["error"] = f"{type(exc).__name__}: {exc}"
sys.stdout.write("LECTERN-PROBE:" + json.dumps(out) + "\n")
"""


def llama_build_from_report(report: Mapping[str, Any]) -> LlamaBuildInfo:
    """Turn the probe script's JSON report into :class:`LlamaBuildInfo`."""
    if "error" in report and "version" not in report:
        return LlamaBuildInfo(installed=False, error=str(report["error"]))
    system_info = str(report.get("system_info", ""))
    backends, features = parse_system_info(system_info)
    devices = tuple(dict(d) for d in report.get("devices", ()))
    # the device list is the better source of backends where this build exposes it
    for d in devices:
        name = str(d.get("name", ""))
        for b in _BACKEND_NAMES:
            if name.upper().startswith(b.upper()) and b not in backends:
                backends = (b, *backends)
    return LlamaBuildInfo(
        installed=True,
        version=str(report.get("version", "")),
        supports_gpu_offload=bool(report.get("gpu", False)),
        system_info=system_info.strip(),
        backends=backends,
        devices=devices,
        cpu_features=features,
        error=str(report.get("error", "")),
    )


def _child_report(conn: Any) -> None:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(_LLAMA_SCRIPT, "<llama-probe>", "exec"), {})
    conn.send(buf.getvalue())
    conn.close()


def _report_in_child(timeout: float) -> str:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_report, args=(child,), daemon=True)
    proc.start()
    try:
        if not parent.poll(timeout):
            raise TimeoutError(f"llama.cpp probe took over {timeout:.0f} s")
        return str(parent.recv())
    finally:
        proc.join(1)
        if proc.is_alive():
            proc.kill()


def probe_llama_build(timeout: float = 30.0) -> LlamaBuildInfo:
    """Ask the installed llama.cpp what it can do, in a separate process.

    Loading a GPU build initialises its driver (CUDA takes seconds and some
    GPU memory); doing that in a throw-away process keeps the application's
    own process clean and safe from a crashing driver.
    """
    if getattr(sys, "frozen", False):
        # inside a bundle there is no Python to run a script with: a spawned child
        # process of the bundle itself (multiprocessing.freeze_support is called)
        out = _report_in_child(timeout)
    else:
        env = dict(os.environ, GGML_LOG_LEVEL="error")
        proc = subprocess.run(
            [sys.executable, "-c", _LLAMA_SCRIPT],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        out = proc.stdout
        if "LECTERN-PROBE:" not in out:
            tail = proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
            return LlamaBuildInfo(installed=False, error=f"llama.cpp probe failed: {tail[0]}")
    line = out.rsplit("LECTERN-PROBE:", 1)[-1].splitlines()[0]
    return llama_build_from_report(json.loads(line))


@dataclass
class ProbeLog:
    """Errors of the probes that failed, for the JSON report and bug reports."""

    errors: dict[str, str] = field(default_factory=dict)

    def take(self, outcome: ProbeOutcome[T], default: T) -> T:
        if outcome.error:
            self.errors[outcome.name] = outcome.error
        return default if outcome.value is None else outcome.value
