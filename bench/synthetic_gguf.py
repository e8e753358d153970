"""A GGUF model of any size with random weights, for measuring GPU offload.

The starter model is a quarter of a gigabyte in four packages, too big to
send to a borrowed GPU machine that cannot reach a package registry, and too
small to show how layers, KV cache and compute buffers share a GPU. This
writes a Llama-architecture model of a chosen shape instead: real tensors
that llama.cpp loads, offloads and runs like any other model (the answers
are nonsense, the memory and speed are real). The tokenizer is a small
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


@dataclass(frozen=True)
class SyntheticShape:
    """The geometry of a Llama-style model."""

    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    n_vocab: int = 32000
    n_ctx_train: int = 131072

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def parameters(self) -> int:
        hd = self.head_dim
        attn = self.n_embd * hd * (2 * self.n_head + 2 * self.n_head_kv)
        ffn = 3 * self.n_embd * self.n_ff
        return self.n_layer * (attn + ffn + 2 * self.n_embd) + 2 * self.n_vocab * self.n_embd


# about the size of Llama 3.2 1B (with a smaller vocabulary): 2.2 GB in f16
LLAMA_1B = SyntheticShape(n_layer=16, n_embd=2048, n_ff=8192, n_head=32, n_head_kv=8)
# small enough for a test on the processor
TINY = SyntheticShape(n_layer=4, n_embd=128, n_ff=256, n_head=4, n_head_kv=2, n_vocab=1024)


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


def write_synthetic_gguf(path: Path, shape: SyntheticShape, seed: int = 0) -> Path:
    """Write a model of ``shape`` with random f16 weights (f32 norms) to ``path``."""
    import gguf

    rng = np.random.default_rng(seed)
    # one block of random values, tiled into every tensor: fast for gigabytes
    base = (rng.standard_normal(1 << 20, dtype=np.float32) * 0.02).astype(np.float16)

    def weights(*dims: int) -> np.ndarray:
        return np.resize(base, dims)

    hd = shape.head_dim
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(f"synthetic-{shape.parameters / 1e9:.1f}b")
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_context_length(shape.n_ctx_train)
    w.add_embedding_length(shape.n_embd)
    w.add_block_count(shape.n_layer)
    w.add_feed_forward_length(shape.n_ff)
    w.add_head_count(shape.n_head)
    w.add_head_count_kv(shape.n_head_kv)
    w.add_rope_dimension_count(hd)
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

    norm = np.ones(shape.n_embd, dtype=np.float32)
    w.add_tensor("token_embd.weight", weights(shape.n_vocab, shape.n_embd))
    for i in range(shape.n_layer):
        b = f"blk.{i}."
        w.add_tensor(b + "attn_norm.weight", norm)
        w.add_tensor(b + "attn_q.weight", weights(shape.n_head * hd, shape.n_embd))
        w.add_tensor(b + "attn_k.weight", weights(shape.n_head_kv * hd, shape.n_embd))
        w.add_tensor(b + "attn_v.weight", weights(shape.n_head_kv * hd, shape.n_embd))
        w.add_tensor(b + "attn_output.weight", weights(shape.n_embd, shape.n_head * hd))
        w.add_tensor(b + "ffn_norm.weight", norm)
        w.add_tensor(b + "ffn_gate.weight", weights(shape.n_ff, shape.n_embd))
        w.add_tensor(b + "ffn_up.weight", weights(shape.n_ff, shape.n_embd))
        w.add_tensor(b + "ffn_down.weight", weights(shape.n_embd, shape.n_ff))
    w.add_tensor("output_norm.weight", norm)
    w.add_tensor("output.weight", weights(shape.n_vocab, shape.n_embd))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
