"""The shapes of real models, as their GGUF files describe them.

Metadata and tensor directories are rebuilt from each model's published
configuration (layers, heads, KV heads, head sizes, feed-forward and
vocabulary sizes) and llama.cpp's Q4_K_M recipe (``llama_tensor_get_type``:
Q4_K everywhere, Q6_K for the output matrix and for ``attn_v``/``ffn_down``
in the first and last eighth of the layers and every third one between),
then read by the same code that reads real files. The test checks that the
tensor sizes add up to the published file sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gguf

from core.hardware.model_shape import ModelShape, shape_from_gguf
from core.models.gguf_info import TensorInfo, tensor_nbytes

Q = gguf.GGMLQuantizationType


@dataclass(frozen=True)
class Arch:
    name: str
    arch: str
    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_ff: int
    n_vocab: int
    n_ctx: int
    tied: bool
    published_file_bytes: int  # size of the Q4_K_M file on the Hub
    qkv_bias: bool = False
    qk_norm: bool = False  # Gemma 3 normalises q and k per head
    post_norms: bool = False  # Gemma's extra norms after attention and FFN
    sliding_window: int = 0
    quant: str = "Q4_K_M"  # or "Q8_0": every matrix Q8_0


LLAMA3_8B = Arch(
    "Llama 3 8B Instruct Q4_K_M", "llama", 32, 4096, 32, 8, 128, 14336, 128256, 8192,
    tied=False, published_file_bytes=4_920_739_232,
)  # fmt: skip
QWEN25_7B = Arch(
    "Qwen 2.5 7B Instruct Q4_K_M", "qwen2", 28, 3584, 28, 4, 128, 18944, 152064, 32768,
    tied=False, published_file_bytes=4_683_073_536, qkv_bias=True,
)  # fmt: skip
GEMMA3_4B = Arch(
    "Gemma 3 4B it Q4_K_M", "gemma3", 34, 2560, 8, 4, 256, 10240, 262208, 131072,
    tied=True, published_file_bytes=2_489_757_856, qk_norm=True, post_norms=True,
    sliding_window=1024,
)  # fmt: skip
MISTRAL_7B = Arch(
    "Mistral 7B Instruct v0.3 Q4_K_M", "llama", 32, 4096, 32, 8, 128, 14336, 32768, 32768,
    tied=False, published_file_bytes=4_372_812_000,
)  # fmt: skip
LLAMA3_8B_Q8 = Arch(
    "Llama 3 8B Instruct Q8_0", "llama", 32, 4096, 32, 8, 128, 14336, 128256, 8192,
    tied=False, published_file_bytes=8_540_770_880, quant="Q8_0",
)  # fmt: skip
REAL_MODELS = (LLAMA3_8B, QWEN25_7B, GEMMA3_4B, MISTRAL_7B, LLAMA3_8B_Q8)


def _use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def gguf_directory(a: Arch) -> tuple[dict[str, Any], tuple[TensorInfo, ...]]:
    """(metadata, tensor directory) as the Q4_K_M file of this model holds them."""
    meta: dict[str, Any] = {
        "general.architecture": a.arch,
        "general.name": a.name,
        "general.file_type": int(gguf.LlamaFileType.MOSTLY_Q4_K_M),
        f"{a.arch}.block_count": a.n_layer,
        f"{a.arch}.context_length": a.n_ctx,
        f"{a.arch}.embedding_length": a.n_embd,
        f"{a.arch}.feed_forward_length": a.n_ff,
        f"{a.arch}.attention.head_count": a.n_head,
        f"{a.arch}.attention.head_count_kv": a.n_head_kv,
        f"{a.arch}.attention.key_length": a.head_dim,
        f"{a.arch}.attention.value_length": a.head_dim,
        "tokenizer.ggml.tokens": {"skipped_array_len": a.n_vocab},
    }
    if a.sliding_window:
        meta[f"{a.arch}.attention.sliding_window"] = a.sliding_window
    tensors: list[TensorInfo] = []
    q8 = a.quant == "Q8_0"
    if q8:
        meta["general.file_type"] = int(gguf.LlamaFileType.MOSTLY_Q8_0)

    def add(name: str, shape: tuple[int, ...], qtype: Q) -> None:
        if q8 and qtype != Q.F32:
            qtype = Q.Q8_0
        n = 1
        for d in shape:
            n *= d
        tensors.append(TensorInfo(name, shape, int(qtype), 0, n, tensor_nbytes(int(qtype), n)))

    e, hd, n_layer = a.n_embd, a.head_dim, a.n_layer
    add("token_embd.weight", (e, a.n_vocab), Q.Q6_K if a.tied else Q.Q4_K)
    for i in range(n_layer):
        more = _use_more_bits(i, n_layer)
        p = f"blk.{i}."
        add(p + "attn_norm.weight", (e,), Q.F32)
        add(p + "attn_q.weight", (e, a.n_head * hd), Q.Q4_K)
        add(p + "attn_k.weight", (e, a.n_head_kv * hd), Q.Q4_K)
        add(p + "attn_v.weight", (e, a.n_head_kv * hd), Q.Q6_K if more else Q.Q4_K)
        add(p + "attn_output.weight", (a.n_head * hd, e), Q.Q4_K)
        if a.qkv_bias:
            add(p + "attn_q.bias", (a.n_head * hd,), Q.F32)
            add(p + "attn_k.bias", (a.n_head_kv * hd,), Q.F32)
            add(p + "attn_v.bias", (a.n_head_kv * hd,), Q.F32)
        if a.qk_norm:
            add(p + "attn_q_norm.weight", (hd,), Q.F32)
            add(p + "attn_k_norm.weight", (hd,), Q.F32)
        if a.post_norms:
            add(p + "post_attention_norm.weight", (e,), Q.F32)
            add(p + "post_ffw_norm.weight", (e,), Q.F32)
        add(p + "ffn_norm.weight", (e,), Q.F32)
        add(p + "ffn_gate.weight", (e, a.n_ff), Q.Q4_K)
        add(p + "ffn_up.weight", (e, a.n_ff), Q.Q4_K)
        add(p + "ffn_down.weight", (a.n_ff, e), Q.Q6_K if more else Q.Q4_K)
    add("output_norm.weight", (e,), Q.F32)
    if not a.tied:
        add("output.weight", (e, a.n_vocab), Q.Q6_K)
    return meta, tuple(tensors)


def real_shape(a: Arch) -> ModelShape:
    """The model's shape, read by the planner's own GGUF-to-shape code."""
    meta, tensors = gguf_directory(a)
    return shape_from_gguf(meta, tensors, a.published_file_bytes, f"{a.name}.gguf")
