"""Detection with recorded outputs of real machines: the parsing is real, the hardware absent."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from core.hardware import probes
from core.hardware.describe import describe_hardware, gpu_build_instructions
from core.hardware.detect import (
    HardwareInfo,
    Sources,
    detect_hardware,
    simulated_hardware,
    with_current_memory,
)
from core.hardware.probes import GIB, MIB, LlamaBuildInfo

CPUINFO_X86 = """\
processor	: 0
vendor_id	: GenuineIntel
cpu family	: 6
model		: 154
model name	: 12th Gen Intel(R) Core(TM) i7-1260P
flags		: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush \
mmx fxsr sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc pni pclmulqdq ssse3 \
fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand avx2 bmi1 bmi2 avx_vnni sha_ni

processor	: 1
vendor_id	: GenuineIntel
model name	: 12th Gen Intel(R) Core(TM) i7-1260P
flags		: fpu vme de pse avx avx2
"""

CPUINFO_ARM = """\
processor	: 0
BogoMIPS	: 243.75
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm \
lrcpc dcpop asimddp ssbs
CPU implementer	: 0x41
CPU part	: 0xd0c

processor	: 1
Features	: fp asimd
"""

# nvidia-smi --query-gpu=index,name,memory.total,memory.free,driver_version,compute_cap
#            --format=csv,noheader,nounits  (two cards; an old driver without compute_cap)
NVIDIA_SMI = """\
0, NVIDIA GeForce RTX 3060, 12288, 11512, 550.54.14, 8.6
1, NVIDIA GeForce GTX 1060 6GB, 6144, 5901, 550.54.14, 6.1
"""
NVIDIA_SMI_OLD = "0, Quadro P2000, 5120, [N/A], 470.223.02, [Not Supported]\n"

SYSCTL_M2 = """\
hw.memsize: 17179869184
hw.physicalcpu: 10
hw.logicalcpu: 10
hw.optional.arm64: 1
hw.optional.neon: 1
hw.optional.AdvSIMD: 1
hw.optional.arm.FEAT_DotProd: 1
hw.optional.arm.FEAT_I8MM: 0
machdep.cpu.brand_string: Apple M2 Pro
iogpu.wired_limit_mb: 0
"""

SYSTEM_INFO_CUDA = (
    "CUDA : ARCHS = 500,610,700,750,800,860,890 | USE_GRAPHS = 1 | PEER_MAX_BATCH_SIZE = 128 | "
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | "
    "LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
)
SYSTEM_INFO_METAL = (
    "Metal : EMBED_LIBRARY = 1 | BF16 = 1 | CPU : NEON = 1 | ARM_FMA = 1 | FP16_VA = 1 | "
    "DOTPROD = 1 | ACCELERATE = 1 | REPACK = 1 | "
)


def test_cpuinfo_x86_and_arm() -> None:
    model, flags, n = probes.parse_cpuinfo(CPUINFO_X86)
    assert model == "12th Gen Intel(R) Core(TM) i7-1260P" and n == 2
    assert {"avx", "avx2", "fma", "f16c", "avx_vnni"} <= set(flags) and "avx512" not in flags
    model, flags, n = probes.parse_cpuinfo(CPUINFO_ARM)
    assert model == "unknown processor" and n == 2
    assert {"neon", "fp16", "dotprod"} <= set(flags)


def test_nvidia_smi_csv() -> None:
    gpus = probes.parse_nvidia_smi_csv(NVIDIA_SMI)
    assert [g.name for g in gpus] == ["NVIDIA GeForce RTX 3060", "NVIDIA GeForce GTX 1060 6GB"]
    assert gpus[0].total_bytes == 12 * GIB and gpus[0].free_bytes == 11512 * MIB
    assert (gpus[0].compute_capability, gpus[0].driver, gpus[1].index) == ("8.6", "550.54.14", 1)
    old = probes.parse_nvidia_smi_csv(NVIDIA_SMI_OLD)[0]
    assert (old.total_bytes, old.free_bytes, old.compute_capability) == (5 * GIB, None, None)
    assert probes.parse_nvidia_smi_csv("No devices were found\n") == []


class FakeNvml:
    """The NVML calls pynvml offers, answering like a machine with one RTX 4090."""

    def __init__(self) -> None:
        self.shut_down = False

    def nvmlInit(self) -> None:  # noqa: N802 - NVML's names
        pass

    def nvmlShutdown(self) -> None:  # noqa: N802
        self.shut_down = True

    def nvmlSystemGetDriverVersion(self) -> bytes:  # noqa: N802
        return b"560.35.03"  # older pynvml versions return bytes

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        return 1

    def nvmlDeviceGetHandleByIndex(self, i: int) -> object:  # noqa: N802
        return ("handle", i)

    def nvmlDeviceGetName(self, handle: object) -> str:  # noqa: N802
        return "NVIDIA GeForce RTX 4090"

    def nvmlDeviceGetMemoryInfo(self, handle: object) -> Any:  # noqa: N802
        return SimpleNamespace(total=25757220864, free=25098715136, used=658505728)

    def nvmlDeviceGetCudaComputeCapability(self, handle: object) -> tuple[int, int]:  # noqa: N802
        return (8, 9)


def test_nvml() -> None:
    nvml = FakeNvml()
    (gpu,) = probes.nvidia_from_nvml(nvml)
    assert (gpu.name, gpu.compute_capability, gpu.driver) == (
        "NVIDIA GeForce RTX 4090",
        "8.9",
        "560.35.03",
    )
    assert (gpu.total_bytes, gpu.free_bytes, gpu.source) == (25757220864, 25098715136, "nvml")
    assert nvml.shut_down


def test_nvidia_falls_back_to_nvidia_smi_when_nvml_is_missing() -> None:
    # this machine has pynvml but no NVIDIA driver library: NVML fails for real
    calls: list[list[str]] = []

    def runner(argv: list[str]) -> str:
        calls.append(argv)
        return NVIDIA_SMI

    gpus = probes.probe_nvidia(runner)
    assert calls and calls[0][0] == "nvidia-smi"
    assert len(gpus) == 2 and gpus[0].source == "nvidia-smi"

    def absent(argv: list[str]) -> str:
        raise FileNotFoundError(argv[0])

    assert probes.probe_nvidia(absent) == []  # no driver at all is not an error


def _amd_card(root: Path, n: int, vendor: str, total: int, used: int, name: str | None) -> None:
    dev = root / f"card{n}" / "device"
    dev.mkdir(parents=True)
    (dev / "vendor").write_text(vendor + "\n")
    (dev / "device").write_text("0x744c\n")
    if vendor == probes.AMD_PCI_VENDOR:
        (dev / "mem_info_vram_total").write_text(f"{total}\n")
        (dev / "mem_info_vram_used").write_text(f"{used}\n")
    if name:
        (dev / "product_name").write_text(name + "\n")


def test_amd_sysfs(tmp_path: Path) -> None:
    drm = tmp_path / "drm"
    _amd_card(drm, 0, "0x8086", 0, 0, None)  # an Intel iGPU: ignored
    _amd_card(drm, 1, probes.AMD_PCI_VENDOR, 25753026560, 1073741824, None)  # RX 7900 XTX
    _amd_card(drm, 2, probes.AMD_PCI_VENDOR, 536870912, 104857600, "AMD Radeon 780M")  # an APU
    (drm / "card1-DP-1").mkdir()  # connectors sit next to the cards
    (drm / "version").write_text("drm 1.1.0\n")
    gpus = probes.amd_from_sysfs(drm)
    assert [(g.index, g.name) for g in gpus] == [
        (1, "AMD Radeon GPU (0x744c)"),
        (2, "AMD Radeon 780M"),
    ]
    assert gpus[0].total_bytes == 25753026560 and gpus[0].free_bytes == 25753026560 - GIB
    assert not gpus[0].unified_memory and gpus[1].unified_memory
    assert probes.amd_from_sysfs(tmp_path / "missing") == []


def test_apple_sysctl() -> None:
    values = probes.parse_sysctl(SYSCTL_M2)
    (gpu,) = probes.apple_from_sysctl(values)
    assert gpu.vendor == "apple" and gpu.unified_memory and gpu.total_bytes == 16 * GIB
    assert gpu.working_set_bytes == 16 * GIB * 2 // 3  # macOS's default share up to 36 GB
    assert gpu.usable_bytes == gpu.working_set_bytes
    cpu = probes.cpu_from_sysctl(values)
    assert (cpu.model, cpu.physical_cores, cpu.architecture) == ("Apple M2 Pro", 10, "arm64")
    assert cpu.flags == ("neon", "dotprod")
    # an administrator raised the limit; big Macs get three quarters
    assert probes.metal_working_set(16 * GIB, wired_limit_mb=14000) == 14000 * MIB
    assert probes.metal_working_set(64 * GIB) == 48 * GIB
    assert probes.apple_from_sysctl(probes.parse_sysctl("hw.memsize: 17179869184\n")) == []


def test_llama_system_info() -> None:
    backends, features = probes.parse_system_info(SYSTEM_INFO_CUDA)
    assert backends == ("CUDA", "CPU") and "AVX2" in features and "ARCHS" not in features
    backends, features = probes.parse_system_info(SYSTEM_INFO_METAL)
    assert backends == ("Metal", "CPU") and "NEON" in features
    report = {
        "version": "0.3.36",
        "gpu": True,
        "system_info": SYSTEM_INFO_METAL,
        "devices": [
            {
                "name": "Metal",
                "description": "Apple M2 Pro",
                "type": "gpu",
                "total": 11453251584,
                "free": 11453251584,
            },
            {"name": "BLAS", "description": "Accelerate", "type": "accel", "total": 0, "free": 0},
        ],
    }
    build = probes.llama_build_from_report(report)
    assert build.installed and build.supports_gpu_offload
    assert build.backends[:2] == ("BLAS", "Metal") or set(build.backends) >= {
        "Metal",
        "BLAS",
        "CPU",
    }
    assert not probes.llama_build_from_report({"error": "ModuleNotFoundError"}).installed


def test_the_real_llama_build_of_this_machine() -> None:
    build = probes.probe_llama_build()
    assert build.installed and build.version
    assert "CPU" in build.backends and build.devices
    assert any(d["type"] == "cpu" for d in build.devices)
    # inside a PyInstaller bundle the same report comes from a spawned child process
    report = probes._report_in_child(timeout=60)
    line = report.rsplit("LECTERN-PROBE:", 1)[-1].splitlines()[0]
    assert probes.llama_build_from_report(json.loads(line)).backends == build.backends


def test_probes_that_hang_or_fail_never_take_detection_down() -> None:
    out = probes.run_probe("slow", lambda: time.sleep(5), timeout=0.2)
    assert out.value is None and "timed out" in out.error
    out2 = probes.run_probe("broken", lambda: 1 / 0, timeout=1)
    assert out2.value is None and "ZeroDivisionError" in out2.error
    assert probes.run_probe("fine", lambda: 42).value == 42


def test_detect_with_recorded_outputs(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO_X86)
    drm = tmp_path / "drm"
    _amd_card(drm, 0, probes.AMD_PCI_VENDOR, 8 * GIB, GIB // 2, "AMD Radeon RX 7600")

    def runner(argv: list[str]) -> str:
        if argv[0] == "nvidia-smi":
            raise FileNotFoundError(argv[0])
        raise AssertionError(argv)

    def hanging_llama() -> LlamaBuildInfo:
        time.sleep(5)
        return LlamaBuildInfo(installed=True)

    src = Sources(
        cpuinfo=cpuinfo, drm_root=drm, runner=runner, probe_llama=hanging_llama, llama_timeout=0.3
    )
    hw = detect_hardware(src)
    assert hw.cpu.model == "12th Gen Intel(R) Core(TM) i7-1260P" and hw.cpu.has("avx2")
    assert hw.ram_total_bytes > 0 and 0 < hw.ram_available_bytes <= hw.ram_total_bytes
    assert hw.gpu is not None and hw.gpu.name == "AMD Radeon RX 7600"
    assert hw.gpu.free_bytes == 8 * GIB - GIB // 2
    assert "llama.cpp" in hw.probe_errors and not hw.llama.installed
    assert not hw.gpu_offload_possible
    # and it survives the JSON round trip the CLI prints
    again = HardwareInfo.from_json(json.loads(json.dumps(hw.to_json())))
    assert again == hw


def test_describe_in_plain_words() -> None:
    hw = simulated_hardware(gpu_vendor="nvidia", gpu_vram_gb=8, ram_gb=16)
    text = " ".join(describe_hardware(hw))
    assert "simulated NVIDIA GPU with 8.0 GB of memory" in text
    assert "16 GB in total" in text and "AVX2" in text
    apple = " ".join(describe_hardware(simulated_hardware(gpu_vendor="apple", ram_gb=16)))
    assert "sharing the computer's memory" in apple and "up to 11 GB" in apple


@pytest.mark.parametrize(
    ("vendor", "needle"),
    [("nvidia", "-DGGML_CUDA=on"), ("amd", "-DGGML_HIP=on"), ("apple", "-DGGML_METAL=on")],
)
def test_gpu_build_steps(vendor: str, needle: str) -> None:
    base = simulated_hardware(gpu_vendor=vendor, gpu_vram_gb=8, ram_gb=16)
    hw = HardwareInfo(
        cpu=base.cpu,
        ram_total_bytes=base.ram_total_bytes,
        ram_available_bytes=base.ram_available_bytes,
        gpus=base.gpus,
        llama=LlamaBuildInfo(installed=True, version="0.3.36", backends=("CPU",)),
    )
    assert hw.needs_gpu_build
    steps = gpu_build_instructions(hw)
    assert needle in steps and "--no-binary llama-cpp-python llama-cpp-python==0.3.36" in steps
    assert "The installed llama.cpp cannot use the graphics card" in " ".join(describe_hardware(hw))


def test_free_memory_is_read_again_for_each_plan(tmp_path: Path) -> None:
    smi = {"out": NVIDIA_SMI}

    def runner(argv: list[str]) -> str:
        if argv[0] == "nvidia-smi":
            if not smi["out"]:
                raise FileNotFoundError(argv[0])
            return smi["out"]
        raise FileNotFoundError(argv[0])

    src = Sources(
        cpuinfo=tmp_path / "none", drm_root=tmp_path / "none", runner=runner,
        probe_llama=lambda: LlamaBuildInfo(installed=True, supports_gpu_offload=True),
    )  # fmt: skip
    hw = detect_hardware(src)
    assert [g.free_bytes for g in hw.gpus] == [11512 * MIB, 5901 * MIB]
    # a game starts on the first card and the other one frees some memory
    smi["out"] = NVIDIA_SMI.replace(", 11512,", ", 812,").replace(", 5901,", ", 6000,")
    now = with_current_memory(hw, src)
    assert [g.free_bytes for g in now.gpus] == [812 * MIB, 6000 * MIB]
    assert now.gpus[0].name == hw.gpus[0].name and now.cpu == hw.cpu and now.llama == hw.llama
    assert now.ram_available_bytes > 0
    # nvidia-smi gone: the detected figures stay
    smi["out"] = ""
    assert with_current_memory(hw, src).gpus == hw.gpus
    # a simulated machine is what it was said to be
    simulated = simulated_hardware(gpu_vendor="nvidia", gpu_vram_gb=8, ram_gb=16)
    assert with_current_memory(simulated, src) is simulated
