"""The shape of a model, as the planner needs it, read from a GGUF header.

Nothing is loaded: the metadata and the tensor directory come from our fast
header reader (:mod:`core.models.gguf_info`, which skips the tokenizer
arrays that make ``gguf.GGUFReader`` take seconds on big vocabularies).
The tensor sizes are the real ones of this file, per layer, so a model with
mixed quantisations (Q4_K_M keeps some layers at Q6_K) is sized exactly.

Key names follow llama.cpp (``src/llama-model.cpp``, ``llm_load_hparams``):
``{arch}.attention.head_count_kv`` may be one number or one per layer;
``{arch}.attention.sliding_window`` is the window of the sliding-window
(SWA) layers, and which layers slide comes from
``{arch}.attention.sliding_window_pattern`` (a period or one bool per layer)
or, where converters do not write it, from llama.cpp's per-architecture
default (Gemma 3: five sliding layers, then one global).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ModelFileError
from core.models.gguf_info import TensorInfo, quantization_name, read_gguf
from core.models.splits import local_parts

# llama.cpp's hard-coded SWA periods (n_pattern: every n-th layer is global)
DEFAULT_SWA_PATTERN = {"gemma2": 2, "gemma3": 6, "gemma3n": 5, "cohere2": 4, "gpt-oss": 2}
_BLOCK_RE = re.compile(r"^blk\.(\d+)\.")
INPUT_TENSORS = ("token_embd.weight", "token_embd_norm.weight", "per_layer_token_embd.weight")


@dataclass(frozen=True)
class ModelShape:
    """Sizes and attention geometry of one model."""

    name: str
    architecture: str
    quantization: str
    file_bytes: int
    n_layer: int
    n_ctx_train: int
    n_embd: int
    n_ff: int
    n_vocab: int
    n_head: tuple[int, ...]  # per layer
    n_head_kv: tuple[int, ...]  # per layer (0 for layers without attention)
    head_dim_k: int
    head_dim_v: int
    swa_layers: tuple[bool, ...]  # per layer: uses the sliding window
    sliding_window: int  # 0 = no sliding-window attention
    layer_bytes: tuple[int, ...]  # weights of block i
    input_bytes: int  # token embeddings: always kept in RAM by llama.cpp
    output_bytes: int  # output norm + output matrix (offloaded as "layer n_layer")
    other_bytes: int = 0  # anything else (rope frequency tables ...), counted with the output
    output_tied: bool = False  # no output matrix: the token embeddings are reused

    @property
    def weights_bytes(self) -> int:
        """All tensors of the file (what a CPU-only load maps)."""
        return self.input_bytes + sum(self.layer_bytes) + self.output_bytes + self.other_bytes

    @property
    def output_layer_gpu_bytes(self) -> int:
        """What the output "layer" occupies on a GPU.

        With tied embeddings llama.cpp loads the token embeddings a second
        time, into the output layer's GPU buffer; on the CPU the mapping is shared.
        """
        return self.output_bytes + self.other_bytes + (self.input_bytes if self.output_tied else 0)

    @property
    def n_offloadable(self) -> int:
        """``n_gpu_layers`` that puts everything on the GPU: the blocks plus the output."""
        return self.n_layer + 1

    def kv_bytes_per_cell(self, layer: int, bytes_per_element: float = 2.0) -> float:
        """K and V bytes one token occupies in ``layer``'s cache."""
        return self.n_head_kv[layer] * (self.head_dim_k + self.head_dim_v) * bytes_per_element


def _per_layer(value: Any, n_layer: int, what: str) -> tuple[int, ...]:
    if isinstance(value, list):
        if len(value) != n_layer:
            raise ModelFileError(f"GGUF {what} has {len(value)} entries for {n_layer} layers.")
        return tuple(int(v) for v in value)
    return (int(value),) * n_layer


def _swa_layers(meta: dict[str, Any], arch: str, n_layer: int, window: int) -> tuple[bool, ...]:
    if window <= 0:
        return (False,) * n_layer
    pattern = meta.get(f"{arch}.attention.sliding_window_pattern")
    if isinstance(pattern, list):
        return tuple(bool(v) for v in _per_layer(pattern, n_layer, "sliding_window_pattern"))
    period = int(pattern) if pattern is not None else DEFAULT_SWA_PATTERN.get(arch, 0)
    if period <= 0:
        # a window without a pattern: every layer slides (Mistral v0.1 style)
        return (True,) * n_layer
    # llama.cpp set_swa_pattern: layer il slides unless il % period == period - 1
    return tuple(il % period < period - 1 for il in range(n_layer))


def shape_from_gguf(
    meta: dict[str, Any], tensors: tuple[TensorInfo, ...], file_bytes: int, filename: str = ""
) -> ModelShape:
    """Build a :class:`ModelShape` from parsed metadata and tensor directory."""
    arch = str(meta.get("general.architecture", ""))
    if not arch:
        raise ModelFileError(
            f"{filename or 'The model'} has no general.architecture in its header."
        )

    def key(name: str, default: Any = None) -> Any:
        return meta.get(f"{arch}.{name}", default)

    n_layer = int(key("block_count", 0))
    if n_layer <= 0:
        raise ModelFileError(f"{filename or 'The model'} has no {arch}.block_count.")
    n_embd = int(key("embedding_length", 0))
    n_head = _per_layer(key("attention.head_count", 0), n_layer, "head_count")
    n_head_kv = _per_layer(key("attention.head_count_kv", max(n_head)), n_layer, "head_count_kv")
    head_max = max(n_head) or 1
    head_k = int(key("attention.key_length", n_embd // head_max if head_max else 0))
    head_v = int(key("attention.value_length", head_k))
    ff = key("feed_forward_length", 0)
    n_ff = max(ff) if isinstance(ff, list) else int(ff)
    window = int(key("attention.sliding_window", 0) or 0)
    by_name = {t.name: t for t in tensors}
    tokens = meta.get("tokenizer.ggml.tokens")
    if isinstance(tokens, dict):
        n_vocab = int(tokens.get("skipped_array_len", 0))
    elif isinstance(tokens, list):
        n_vocab = len(tokens)
    else:
        n_vocab = int(key("vocab_size", 0))
    if not n_vocab and "token_embd.weight" in by_name:
        n_vocab = int(by_name["token_embd.weight"].shape[-1])
    layer_bytes = [0] * n_layer
    input_bytes = output_bytes = other_bytes = 0
    for t in tensors:
        m = _BLOCK_RE.match(t.name)
        if m and int(m.group(1)) < n_layer:
            layer_bytes[int(m.group(1))] += t.n_bytes
        elif t.name in INPUT_TENSORS:
            input_bytes += t.n_bytes
        elif t.name.startswith("output"):
            output_bytes += t.n_bytes
        else:
            other_bytes += t.n_bytes
    ctx_train = int(key("context_length", 0) or 0)
    return ModelShape(
        name=str(meta.get("general.name") or Path(filename).stem or arch),
        architecture=arch,
        quantization=quantization_name(meta.get("general.file_type"), filename),
        file_bytes=file_bytes,
        n_layer=n_layer,
        n_ctx_train=ctx_train,
        n_embd=n_embd,
        n_ff=n_ff,
        n_vocab=n_vocab,
        n_head=n_head,
        n_head_kv=n_head_kv,
        head_dim_k=head_k,
        head_dim_v=head_v,
        swa_layers=_swa_layers(meta, arch, n_layer, window),
        sliding_window=window,
        layer_bytes=tuple(layer_bytes),
        input_bytes=input_bytes,
        output_bytes=output_bytes,
        other_bytes=other_bytes,
        output_tied="output.weight" not in by_name,
    )


def read_model_shape(path: str | Path) -> ModelShape:
    """Read a GGUF file's shape (all parts of a split model); no model load."""
    path = Path(path)
    parts = [p for p in local_parts(path) if p.exists()] or [path]
    meta, tensors, _ = read_gguf(parts[0])
    for extra in parts[1:]:
        _meta, more, _ = read_gguf(extra)
        tensors = tensors + more
    size = sum(p.stat().st_size for p in parts)
    return shape_from_gguf(meta, tensors, size, path.name)
