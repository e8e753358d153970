"""A GGUF model of any size with random weights, for measuring GPU offload.

The starter model is a quarter of a gigabyte in four packages, too big to
send to a borrowed GPU machine that cannot reach a package registry, and too
small to show how layers, KV cache and compute buffers share a GPU. This
writes a model of a chosen shape instead, a Llama or a Gemma 3 (tied
embeddings, per-head q/k norms, five sliding-window layers to one global):
real tensors that llama.cpp loads, offloads and runs like any other model
(the answers are nonsense, the memory and speed are real). The tokenizer is a small
SentencePiece-style vocabulary with byte fallback and a ChatML template, so
Lectern's own loader, template and generation code run unchanged.
"""

from __future__ import annotations

import itertools
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_SPECIALS = ("<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>")
_TOKEN_NORMAL, _TOKEN_UNKNOWN, _TOKEN_CONTROL, _TOKEN_BYTE = 1, 2, 3, 6
_ALIGN = 32  # GGUF's default alignment of tensor data


@dataclass(frozen=True)
class SyntheticShape:
    """The geometry of a Llama-style or Gemma 3 model."""

    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    n_vocab: int = 32000
    n_ctx_train: int = 131072
    arch: str = "llama"  # or "gemma3"
    n_head_dim: int = 0  # 0: n_embd // n_head
    sliding_window: int = 0  # gemma3 only

    @property
    def head_dim(self) -> int:
        return self.n_head_dim or self.n_embd // self.n_head

    @property
    def gemma(self) -> bool:
        return self.arch == "gemma3"

    @property
    def parameters(self) -> int:
        hd = self.head_dim
        attn = self.n_embd * hd * (2 * self.n_head + 2 * self.n_head_kv)
        ffn = 3 * self.n_embd * self.n_ff
        norms = 4 * self.n_embd + 2 * hd if self.gemma else 2 * self.n_embd
        matrices = 1 if self.gemma else 2  # Gemma's output reuses the token embeddings
        return self.n_layer * (attn + ffn + norms) + matrices * self.n_vocab * self.n_embd


# about the size of Llama 3.2 1B (with a smaller vocabulary): 2.2 GB in f16
LLAMA_1B = SyntheticShape(n_layer=16, n_embd=2048, n_ff=8192, n_head=32, n_head_kv=8)
# small enough for a test on the processor
TINY = SyntheticShape(n_layer=4, n_embd=128, n_ff=256, n_head=4, n_head_kv=2, n_vocab=1024)
# the shape of Gemma 3 1B (its 262,144-token vocabulary, a 512-token window): 2.0 GB in f16
GEMMA3_1B = SyntheticShape(
    n_layer=26, n_embd=1152, n_ff=6912, n_head=4, n_head_kv=1, n_vocab=262144,
    n_ctx_train=32768, arch="gemma3", n_head_dim=256, sliding_window=512,
)  # fmt: skip
TINY_GEMMA3 = SyntheticShape(
    n_layer=7, n_embd=128, n_ff=256, n_head=4, n_head_kv=1, n_vocab=1024,
    n_ctx_train=4096, arch="gemma3", n_head_dim=64, sliding_window=64,
)  # fmt: skip


def _vocabulary(n_vocab: int) -> tuple[list[str], list[int]]:
    tokens = list(_SPECIALS)
    types = [_TOKEN_UNKNOWN, _TOKEN_CONTROL, _TOKEN_CONTROL, _TOKEN_CONTROL, _TOKEN_CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [_TOKEN_BYTE] * 256
    letters = string.ascii_lowercase
    for size in itertools.count(1):
        for combo in itertools.product(letters, repeat=size):
            if len(tokens) >= n_vocab:
                return tokens, types
            tokens.append("▁" + "".join(combo))
            types.append(_TOKEN_NORMAL)
    raise AssertionError("unreachable")


def _tensors(shape: SyntheticShape) -> list[tuple[str, tuple[int, ...], type]]:
    """(name, numpy shape, dtype) of every tensor, in file order."""
    hd = shape.head_dim
    e, f32, f16 = shape.n_embd, np.float32, np.float16
    out: list[tuple[str, tuple[int, ...], type]] = [("token_embd.weight", (shape.n_vocab, e), f16)]
    for i in range(shape.n_layer):
        b = f"blk.{i}."
        out += [
            (b + "attn_norm.weight", (e,), f32),
            (b + "attn_q.weight", (shape.n_head * hd, e), f16),
            (b + "attn_k.weight", (shape.n_head_kv * hd, e), f16),
            (b + "attn_v.weight", (shape.n_head_kv * hd, e), f16),
            (b + "attn_output.weight", (e, shape.n_head * hd), f16),
            (b + "ffn_norm.weight", (e,), f32),
            (b + "ffn_gate.weight", (shape.n_ff, e), f16),
            (b + "ffn_up.weight", (shape.n_ff, e), f16),
            (b + "ffn_down.weight", (e, shape.n_ff), f16),
        ]
        if shape.gemma:
            out += [
                (b + "attn_q_norm.weight", (hd,), f32),
                (b + "attn_k_norm.weight", (hd,), f32),
                (b + "post_attention_norm.weight", (e,), f32),
                (b + "post_ffw_norm.weight", (e,), f32),
            ]
    out.append(("output_norm.weight", (e,), f32))
    if not shape.gemma:
        out.append(("output.weight", (shape.n_vocab, e), f16))
    return out


def write_synthetic_gguf(
    path: Path, shape: SyntheticShape, seed: int = 0, *, header_only: bool = False
) -> Path:
    """Write a model of ``shape`` with random f16 weights (f32 norms) to ``path``.

    ``header_only``: the tensor data is left as a hole (a sparse file of the full
    size), for tests that read only the header, as the planner does.
    """
    import gguf

    rng = np.random.default_rng(seed)
    # one block of random values, tiled into every tensor: fast for gigabytes
    base = (rng.standard_normal(1 << 20, dtype=np.float32) * 0.02).astype(np.float16)

    w = gguf.GGUFWriter(str(path), shape.arch)
    w.add_name(f"synthetic-{shape.parameters / 1e9:.1f}b")
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_context_length(shape.n_ctx_train)
    w.add_embedding_length(shape.n_embd)
    w.add_block_count(shape.n_layer)
    w.add_feed_forward_length(shape.n_ff)
    w.add_head_count(shape.n_head)
    w.add_head_count_kv(shape.n_head_kv)
    if shape.gemma:
        w.add_key_length(shape.head_dim)
        w.add_value_length(shape.head_dim)
        w.add_sliding_window(shape.sliding_window)
        w.add_rope_freq_base(1000000.0)
        w.add_layer_norm_rms_eps(1e-6)
    else:
        w.add_rope_dimension_count(shape.head_dim)
        w.add_rope_freq_base(500000.0)
        w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(shape.n_vocab)
    tokens, types = _vocabulary(shape.n_vocab)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([-float(i) for i in range(len(tokens))])
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(_SPECIALS.index("<|im_end|>"))
    w.add_add_bos_token(True)
    w.add_chat_template(CHATML)

    data_bytes = 0
    for name, dims, dtype in _tensors(shape):
        if header_only:
            nbytes = int(np.prod(dims)) * np.dtype(dtype).itemsize
            w.add_tensor_info(name, dims, np.dtype(dtype), nbytes)
            data_bytes += -(-nbytes // _ALIGN) * _ALIGN
        elif dtype is np.float32:
            w.add_tensor(name, np.ones(dims, dtype=np.float32))
        else:
            w.add_tensor(name, np.resize(base, dims))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    if header_only:
        w.write_ti_data_to_file()
        w.close()
        with path.open("r+b") as f:
            f.seek(0, 2)
            start = -(-f.tell() // _ALIGN) * _ALIGN
            f.truncate(start + data_bytes)
        return path
    w.write_tensors_to_file()
    w.close()
    return path
