"""The offload planner: how many layers on the GPU, how much context, which KV cache.

Pure arithmetic on a :class:`~core.hardware.model_shape.ModelShape` and a
:class:`~core.hardware.detect.HardwareInfo`; nothing here reads files or
touches a GPU, so it is tested table-driven on the shapes of real models.
The memory model follows what llama.cpp allocates (``llama-model.cpp``,
``llama-kv-cache.cpp``, ``ggml-backend`` graph allocation), cross-checked
with Ollama's estimator and gguf-parser:

* **Weights** per block from the real tensor sizes. llama.cpp counts the
  output layer as layer ``n_layer`` and offloads from the end: with
  ``n_gpu_layers = g`` the output and the last ``g - 1`` blocks are on the
  GPU (``llama-model.cpp``, ``i_gpu_start``; measured on an H200, README).
  Token embeddings always stay in RAM.
* **KV cache** per layer = cells × KV heads of that layer × (key + value head
  size) × bytes per element. Global layers hold ``n_ctx`` cells (padded to
  256); sliding-window layers only ``window + n_ubatch`` (llama.cpp's
  ``swa_full = false``).
* **Compute buffer** = the largest intermediate of the graph: the logits
  (``n_ubatch × n_vocab`` floats), the feed-forward activations, or, without
  flash attention, the attention scores ``n_ubatch × n_ctx × n_head`` floats.
  An f16 cache is loaded with flash attention "auto", which llama.cpp turns
  on where every layer's device has the kernels (the processor always, and
  GPU builds made with them, as llama.cpp's are by default), so it is
  estimated with flash attention unless a real load of the model showed
  otherwise (``Correction.flash_attn``, learnt from the load log).
* **Overhead and margin**: the GPU budget leaves the driver's context and a
  safety margin free; the RAM budget leaves the application's own memory.

The decision (documented in the README):

1. Maximise the layers on the GPU first (that is what makes a model fast),
   then the context, then prefer the KV cache on the GPU, then f16 over
   q8_0. A quantised (q8_0) KV cache needs flash attention and halves the
   cache; it is used only when f16 does not fit.
2. With everything on the GPU the KV cache goes on the GPU when it fits
   there; otherwise it stays in RAM (``offload_kqv = False``) at the full
   context, instead of shrinking the context or dropping layers. When only
   part of the model fits, the KV cache always stays in RAM so the GPU holds
   as many weight layers as possible.
3. The context shrinks (in steps of 256 cells) only when RAM and GPU
   together cannot hold the KV cache, and never below the floor (2048, or
   the model's own limit when that is smaller).

This ordering is monotonic by construction: more GPU memory or more RAM
never gives fewer GPU layers or a shorter context (the property is tested
over a grid). The reason: the GPU side of a "KV in RAM" configuration does
not depend on the context, and the RAM side only shrinks as layers move to
the GPU, so any context that fitted with fewer layers still fits with more.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

from core.hardware.detect import HardwareInfo
from core.hardware.model_shape import ModelShape
from core.hardware.probes import GIB, MIB

Fit = Literal["gpu", "partial", "cpu", "too_large"]
KvType = Literal["f16", "q8_0"]
KV_BYTES: dict[str, float] = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32, "f32": 4.0}
CTX_PAD = 256  # llama.cpp pads the KV cache to this many cells
DEFAULT_CTX = 8192
MIN_CTX = 2048
F32 = 4

# what the rest of Lectern (Qt, the embedder, the worker's Python) keeps in RAM
RAM_RESERVE_BYTES = 512 * MIB
# CUDA/ROCm context, cuBLAS/hipBLAS workspaces, memory pools: not visible as "used" before
# we load. NVIDIA: measured on an H200 (CUDA 13): 514 MiB of context, 702-716 MiB once
# answers ran (bench/bench_gpu_offload.py; smaller cards not measured)
GPU_DRIVER_RESERVE_BYTES = {"nvidia": 720 * MIB, "amd": 512 * MIB, "apple": 0, "intel": 512 * MIB}
GPU_MARGIN_FRACTION = 0.05


@dataclass(frozen=True)
class PlanOptions:
    """What the user asked for (``None`` = let the planner choose)."""

    desired_ctx: int = DEFAULT_CTX
    min_ctx: int = MIN_CTX
    n_ctx: int | None = None  # a fixed context (settings override)
    n_gpu_layers: int | None = None  # a fixed layer count (-1 = all)
    n_batch: int = 512
    n_ubatch: int = 512
    allow_quantized_kv: bool = True
    # llama-cpp-python's default (llama.cpp's context default): the sliding-window layers
    # get a full-size cache, which keeps the prompt cache reusable between turns
    swa_full: bool = True


@dataclass(frozen=True)
class Correction:
    """Measured/estimated ratios from a real load of this model (1.0 = estimate was right)."""

    weights: float = 1.0
    kv: float = 1.0
    compute: float = 1.0
    # whether llama.cpp ran flash attention when asked for "auto" (f16 caches): True until a
    # load of this model says otherwise (a GPU build without its kernels, an unsupported head)
    flash_attn: bool = True


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a configuration needs, and where."""

    weights_bytes: int
    kv_bytes: int
    compute_bytes: int
    vram_bytes: int
    ram_bytes: int
    gpu_weights_bytes: int = 0
    gpu_kv_bytes: int = 0
    gpu_compute_bytes: int = 0
    cpu_compute_bytes: int = 0

    def to_json(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Plan:
    """The planner's decision for one model on one machine."""

    model: str
    fit: Fit
    n_gpu_layers: int  # llama.cpp's n_gpu_layers; n_layers_total = everything
    n_layers_total: int
    n_ctx: int
    type_k: KvType
    type_v: KvType
    flash_attn: bool  # asked for outright (a q8_0 cache needs it); an f16 cache asks "auto"
    offload_kqv: bool
    estimate: MemoryEstimate
    vram_budget_bytes: int
    ram_budget_bytes: int
    unified_memory: bool
    n_ctx_desired: int
    n_ctx_floor: int
    reasons: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["estimate"] = self.estimate.to_json()
        out["reasons"] = list(self.reasons)
        return out


@dataclass(frozen=True)
class Budgets:
    """How much the model may use on the GPU and in RAM (bytes)."""

    vram: int
    ram: int
    unified: bool  # GPU memory is part of RAM (Apple Silicon): both limits apply to the sum
    gpu_vendor: str | None


def budgets(hw: HardwareInfo) -> Budgets:
    """The GPU and RAM budgets of a machine, after reserves and margins."""
    ram_free = hw.ram_available_bytes or int(hw.ram_total_bytes * 0.7)
    ram = max(0, ram_free - RAM_RESERVE_BYTES)
    gpu = hw.gpu if hw.gpu_offload_possible else None
    if gpu is None:
        return Budgets(0, ram, False, None)
    reserve = GPU_DRIVER_RESERVE_BYTES.get(gpu.vendor, 512 * MIB)
    margin = int(gpu.total_bytes * GPU_MARGIN_FRACTION)
    if gpu.unified_memory and gpu.working_set_bytes:
        margin = int(gpu.working_set_bytes * GPU_MARGIN_FRACTION)
    vram = max(0, gpu.usable_bytes - reserve - margin)
    return Budgets(vram, ram, gpu.unified_memory, gpu.vendor)


def _pad(n: int, to: int = CTX_PAD) -> int:
    return (n + to - 1) // to * to


class _Sizer:
    """Precomputed sums so each candidate configuration costs O(1)."""

    def __init__(self, shape: ModelShape, opts: PlanOptions, corr: Correction) -> None:
        self.s, self.o, self.c = shape, opts, corr
        n = shape.n_layer
        # suffix sums: weights / KV cells of the last k blocks (llama.cpp offloads from the end)
        self.w_suffix = [0] * (n + 1)
        self.kv_glob_suffix = [0.0] * (n + 1)
        self.kv_swa_suffix = [0.0] * (n + 1)
        for k in range(1, n + 1):
            il = n - k
            self.w_suffix[k] = self.w_suffix[k - 1] + shape.layer_bytes[il]
            per_cell = shape.kv_bytes_per_cell(il, 1.0)  # elements; times bytes later
            glob = 0.0 if shape.swa_layers[il] and not opts.swa_full else per_cell
            self.kv_glob_suffix[k] = self.kv_glob_suffix[k - 1] + glob
            self.kv_swa_suffix[k] = self.kv_swa_suffix[k - 1] + (per_cell - glob)
        self.weights_total = shape.weights_bytes
        ub = opts.n_ubatch
        self.out_buf = ub * (shape.n_vocab + shape.n_embd) * F32
        self.ffn_buf = ub * (2 * shape.n_ff + 2 * shape.n_embd) * F32
        self.io_buf = 2 * ub * shape.n_embd * F32
        self.logits_out = shape.n_vocab * F32  # llama.cpp's output buffer: one row of logits

    def _blocks_on_gpu(self, g: int) -> int:
        # llama.cpp counts the output as the last "layer": the first one to go to the GPU
        return min(max(g - 1, 0), self.s.n_layer)

    def gpu_weights(self, g: int) -> int:
        if g <= 0:
            return 0
        return self.w_suffix[self._blocks_on_gpu(g)] + self.s.output_layer_gpu_bytes

    def cpu_weights(self, g: int) -> int:
        if g <= 0:
            return self.weights_total
        # a tied output's GPU copy does not free the CPU's token embeddings
        on_gpu = self.w_suffix[self._blocks_on_gpu(g)] + self.s.output_bytes + self.s.other_bytes
        return self.weights_total - on_gpu

    def kv(self, ctx: int, kv_type: str, last_k: int | None = None) -> int:
        """KV bytes of the last ``last_k`` blocks (all when None)."""
        k = self.s.n_layer if last_k is None else min(last_k, self.s.n_layer)
        cells = _pad(ctx)
        swa_cells = min(cells, _pad(self.s.sliding_window + self.o.n_ubatch))
        elems = self.kv_glob_suffix[k] * cells + self.kv_swa_suffix[k] * swa_cells
        return int(elems * KV_BYTES[kv_type] * self.c.kv)

    def compute(self, ctx: int, flash_attn: bool) -> int:
        """The whole graph's compute buffer at this context."""
        s, ub = self.s, self.o.n_ubatch
        cells = _pad(ctx)
        if flash_attn:
            attn = ub * max(s.n_head) * s.head_dim_v * F32 * 2 + cells * ub * 2  # + f16 mask
        else:
            attn = ub * cells * max(s.n_head) * F32 + cells * ub * F32  # scores + mask
        peak = max(self.out_buf, self.ffn_buf, attn)
        return int((peak + self.io_buf + self.logits_out) * self.c.compute)

    def gpu_compute_kv_in_ram(self) -> int:
        """GPU compute when attention runs on the CPU: independent of the context."""
        return int(
            (max(self.ffn_buf, self.out_buf) + self.io_buf + self.logits_out) * self.c.compute
        )

    def estimate(
        self, g: int, ctx: int, kv_type: str, kv_on_gpu: bool, unified: bool
    ) -> MemoryEstimate:
        fa = kv_type != "f16" or self.c.flash_attn
        w_gpu = int(self.gpu_weights(g) * self.c.weights)
        w_cpu = int(self.cpu_weights(g) * self.c.weights)
        kv_all = self.kv(ctx, kv_type)
        kv_gpu = kv_all if kv_on_gpu else 0
        full = self.compute(ctx, fa)
        if g <= 0:
            gpu_comp, cpu_comp = (self.gpu_compute_kv_in_ram() if unified else 0), full
        elif kv_on_gpu:
            gpu_comp, cpu_comp = full, self.io_buf
        else:
            gpu_comp, cpu_comp = self.gpu_compute_kv_in_ram(), full
        vram = w_gpu + kv_gpu + gpu_comp
        ram = w_cpu + (kv_all - kv_gpu) + cpu_comp
        return MemoryEstimate(
            weights_bytes=w_gpu + w_cpu,
            kv_bytes=kv_all,
            compute_bytes=gpu_comp + cpu_comp,
            vram_bytes=vram,
            ram_bytes=ram,
            gpu_weights_bytes=w_gpu,
            gpu_kv_bytes=kv_gpu,
            gpu_compute_bytes=gpu_comp,
            cpu_compute_bytes=cpu_comp,
        )


def _fits(est: MemoryEstimate, b: Budgets) -> bool:
    if est.vram_bytes > b.vram:
        return False
    if b.unified:
        return est.vram_bytes + est.ram_bytes <= b.ram
    return est.ram_bytes <= b.ram


def context_bounds(shape: ModelShape, opts: PlanOptions) -> tuple[int, int]:
    """(floor, desired) context for this model: the model's own limit caps both."""
    limit = shape.n_ctx_train or opts.desired_ctx
    if opts.n_ctx is not None:
        fixed = min(opts.n_ctx, limit)
        return fixed, fixed
    desired = min(opts.desired_ctx, limit)
    return min(opts.min_ctx, desired), desired


def plan(
    shape: ModelShape,
    hw: HardwareInfo,
    opts: PlanOptions | None = None,
    correction: Correction | None = None,
) -> Plan:
    """Choose GPU layers, context and KV cache for ``shape`` on ``hw`` (see module doc)."""
    chosen = _plan(shape, hw, opts, correction)
    if correction is not None and not correction.flash_attn:
        why = (
            "flash attention did not run when this model was last loaded here: its attention "
            "buffers are counted, and the KV cache is not quantised"
        )
        chosen = replace(chosen, reasons=(*chosen.reasons, why))
    return chosen


def _plan(
    shape: ModelShape,
    hw: HardwareInfo,
    opts: PlanOptions | None,
    correction: Correction | None,
) -> Plan:
    opts = opts or PlanOptions()
    b = budgets(hw)
    sizer = _Sizer(shape, opts, correction or Correction())
    floor, desired = context_bounds(shape, opts)
    total = shape.n_offloadable
    if b.gpu_vendor is None:
        layer_choices = [0]
    elif opts.n_gpu_layers is not None:
        fixed = total if opts.n_gpu_layers < 0 else min(opts.n_gpu_layers, total)
        layer_choices = [fixed]
    else:
        layer_choices = list(range(total, -1, -1))
    # a q8_0 cache needs flash attention: where a load showed llama.cpp could not run it on
    # this model's devices, the attention would fall back to the processor (on an H100 build
    # without the kernels: prefill 1,519 tokens/s against 76,355 with f16)
    quantized_kv = opts.allow_quantized_kv and (correction is None or correction.flash_attn)
    kv_types: list[KvType] = ["f16", "q8_0"] if quantized_kv else ["f16"]
    # context candidates, best first: desired, then down to the floor in steps of 256
    ctxs = sorted({desired, *range(_pad(floor), desired, CTX_PAD), floor}, reverse=True)

    def best_ctx(g: int, kv_type: str, kv_gpu: bool) -> int | None:
        # requirements grow with the context: binary search the largest that fits
        lo, hi = 0, len(ctxs) - 1
        if not _fits(sizer.estimate(g, ctxs[hi], kv_type, kv_gpu, b.unified), b):
            return None
        while lo < hi:
            mid = (lo + hi) // 2
            if _fits(sizer.estimate(g, ctxs[mid], kv_type, kv_gpu, b.unified), b):
                hi = mid
            else:
                lo = mid + 1
        return ctxs[lo]

    for g in layer_choices:
        candidates: list[tuple[int, int, int, KvType, bool]] = []
        placements = (True, False) if g == total else (False,)
        for kv_gpu in placements:
            for kv_type in kv_types:
                c = best_ctx(g, kv_type, kv_gpu)
                if c is not None:
                    candidates.append((c, int(kv_gpu), int(kv_type == "f16"), kv_type, kv_gpu))
        if candidates:
            c, _, _, kv_type, kv_gpu = max(candidates)
            est = sizer.estimate(g, c, kv_type, kv_gpu, b.unified)
            fit: Fit = "gpu" if g == total else "partial" if g > 0 else "cpu"
            return _make_plan(shape, fit, g, c, kv_type, kv_gpu, est, b, floor, desired)
    # nothing fits: the smallest configuration, with as many layers as the GPU takes
    kv_type = kv_types[-1]
    g = next(
        (
            g
            for g in layer_choices
            if sizer.estimate(g, floor, kv_type, False, b.unified).vram_bytes <= b.vram
        ),
        0,
    )
    est = sizer.estimate(g, floor, kv_type, False, b.unified)
    return _make_plan(shape, "too_large", g, floor, kv_type, False, est, b, floor, desired)


def estimate_config(
    shape: ModelShape,
    hw: HardwareInfo,
    *,
    n_gpu_layers: int,
    n_ctx: int,
    kv_type: str = "f16",
    offload_kqv: bool = True,
    opts: PlanOptions | None = None,
    correction: Correction | None = None,
) -> MemoryEstimate:
    """The memory one given configuration needs (to compare with a real load)."""
    opts = opts or PlanOptions()
    b = budgets(hw)
    sizer = _Sizer(shape, opts, correction or Correction())
    g = shape.n_offloadable if n_gpu_layers < 0 else min(n_gpu_layers, shape.n_offloadable)
    kv_gpu = offload_kqv and g == shape.n_offloadable
    return sizer.estimate(g, n_ctx, kv_type, kv_gpu, b.unified)


def _make_plan(
    shape: ModelShape,
    fit: Fit,
    g: int,
    ctx: int,
    kv_type: str,
    kv_gpu: bool,
    est: MemoryEstimate,
    b: Budgets,
    floor: int,
    desired: int,
) -> Plan:
    total = shape.n_offloadable
    reasons = []
    gib = lambda n: f"{n / GIB:.1f} GiB"  # noqa: E731
    if fit == "too_large":
        reasons.append(
            f"needs {gib(est.ram_bytes + est.vram_bytes)} even with a {ctx}-token context; "
            f"{gib(b.ram + (0 if b.unified else b.vram))} is available"
        )
    elif fit == "gpu":
        reasons.append(f"all {total} layers fit in {gib(b.vram)} of GPU memory")
    elif fit == "partial":
        reasons.append(f"{g} of {total} layers fit in {gib(b.vram)} of GPU memory")
    elif b.gpu_vendor is None:
        reasons.append("no usable GPU: runs on the processor")
    else:
        reasons.append("not even one layer fits in the GPU memory left")
    if ctx < desired and fit != "too_large":
        reasons.append(f"context shortened from {desired} to {ctx} tokens to fit")
    if kv_type != "f16":
        reasons.append("KV cache quantised to q8_0 (with flash attention) to fit")
    if g > 0 and not kv_gpu:
        reasons.append("KV cache kept in RAM so the GPU holds more of the model")
    return Plan(
        model=shape.name,
        fit=fit,
        n_gpu_layers=g,
        n_layers_total=total,
        n_ctx=ctx,
        type_k=kv_type,  # type: ignore[arg-type]
        type_v=kv_type,  # type: ignore[arg-type]
        flash_attn=kv_type != "f16",
        offload_kqv=kv_gpu if g > 0 else True,
        estimate=est,
        vram_budget_bytes=b.vram,
        ram_budget_bytes=b.ram,
        unified_memory=b.unified,
        n_ctx_desired=desired,
        n_ctx_floor=floor,
        reasons=tuple(reasons),
    )


# -- entries without a local file (catalog, Hub search) --------------------------

_BITS_PER_WEIGHT = {
    "F32": 32.0, "F16": 16.0, "BF16": 16.0, "Q8_0": 8.5, "Q6_K": 6.56, "Q5_K_M": 5.69,
    "Q5_K_S": 5.54, "Q5_0": 5.5, "Q4_K_M": 4.85, "Q4_K_S": 4.58, "Q4_0": 4.55, "IQ4_XS": 4.25,
    "IQ4_NL": 4.5, "Q3_K_L": 4.27, "Q3_K_M": 3.91, "Q3_K_S": 3.5, "IQ3_M": 3.66, "Q2_K": 3.35,
}  # fmt: skip


def approximate_shape(
    size_bytes: int,
    *,
    parameters_b: float | None = None,
    quantization: str = "",
    context_length: int | None = None,
    name: str = "",
) -> ModelShape:
    """A plausible shape for a file known only by size (and maybe parameters).

    Used for catalog and Hub entries that are not downloaded: typical modern
    layouts (grouped-query attention with 8 KV heads of 128 above 3B
    parameters) are assumed. Good enough for a fit label, not for a load.
    """
    bpw = _BITS_PER_WEIGHT.get(quantization.upper(), 4.85)
    params = (parameters_b or 0) * 1e9 or size_bytes * 8 / bpw
    pb = params / 1e9
    n_layer = max(12, min(96, round(16 + 9 * math.log2(max(pb, 0.25) + 1))))
    n_embd = max(512, int(math.sqrt(params / (12 * n_layer)) // 128 * 128))
    kv_heads, head_dim = (8, 128) if pb >= 3 else (4, 64)
    n_head = max(kv_heads, n_embd // head_dim)
    vocab = 150_000
    io = int(size_bytes * min(0.25, 2 * vocab * n_embd * bpw / 8 / max(size_bytes, 1)))
    per_layer = (size_bytes - io) // n_layer
    return ModelShape(
        name=name or f"{pb:.1f}B",
        architecture="unknown",
        quantization=quantization or "unknown",
        file_bytes=size_bytes,
        n_layer=n_layer,
        n_ctx_train=context_length or 32768,
        n_embd=n_embd,
        n_ff=n_embd * 4,
        n_vocab=vocab,
        n_head=(n_head,) * n_layer,
        n_head_kv=(kv_heads,) * n_layer,
        head_dim_k=head_dim,
        head_dim_v=head_dim,
        swa_layers=(False,) * n_layer,
        sliding_window=0,
        layer_bytes=(per_layer,) * n_layer,
        input_bytes=io // 2,
        output_bytes=io - io // 2,
    )
