"""The GGUF shape reader on small real GGUF files written with the ``gguf`` package."""

from __future__ import annotations

import time
from pathlib import Path

import gguf
import numpy as np
import pytest

from core.errors import ModelFileError
from core.hardware.model_shape import read_model_shape

Q = gguf.GGMLQuantizationType
EMBD, FF, HEAD_DIM, VOCAB = 256, 512, 64, 320


def _add(
    w: gguf.GGUFWriter, name: str, shape: tuple[int, ...], qtype: Q, sizes: dict[str, int]
) -> None:
    """Add a tensor of numpy shape ``shape`` (outermost first), quantised to ``qtype``."""
    rng = np.random.default_rng(len(name))
    data = rng.standard_normal(shape).astype(np.float32)
    if qtype in (Q.F32, Q.F16):
        arr = data if qtype == Q.F32 else data.astype(np.float16)
        w.add_tensor(name, arr)
        sizes[name] = arr.nbytes
    else:
        packed = gguf.quants.quantize(data, qtype)
        w.add_tensor(name, packed, raw_dtype=qtype)
        sizes[name] = packed.nbytes


def write_model(
    path: Path,
    arch: str,
    n_layer: int,
    head_count_kv: int | list[int],
    *,
    tied: bool,
    sliding_window: int = 0,
    swa_pattern: list[bool] | None = None,
) -> dict[str, int]:
    """A small but complete GGUF; returns the bytes of every tensor as written."""
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name(f"tiny {arch}")
    w.add_file_type(int(gguf.LlamaFileType.MOSTLY_Q8_0))
    w.add_block_count(n_layer)
    w.add_context_length(4096)
    w.add_embedding_length(EMBD)
    w.add_feed_forward_length(FF)
    w.add_head_count(4)
    w.add_head_count_kv(head_count_kv)
    w.add_key_length(HEAD_DIM)
    w.add_value_length(HEAD_DIM)
    w.add_layer_norm_rms_eps(1e-6)
    if sliding_window:
        w.add_sliding_window(sliding_window)
    if swa_pattern is not None:
        w.add_array(f"{arch}.attention.sliding_window_pattern", swa_pattern)
    w.add_tokenizer_model("llama")
    w.add_token_list([f"tok{i}" for i in range(VOCAB)])
    w.add_token_scores([0.0] * VOCAB)
    sizes: dict[str, int] = {}
    kv = head_count_kv if isinstance(head_count_kv, list) else [head_count_kv] * n_layer
    _add(w, "token_embd.weight", (VOCAB, EMBD), Q.Q8_0, sizes)
    for i in range(n_layer):
        p = f"blk.{i}."
        _add(w, p + "attn_norm.weight", (EMBD,), Q.F32, sizes)
        _add(w, p + "attn_q.weight", (4 * HEAD_DIM, EMBD), Q.Q8_0, sizes)
        _add(w, p + "attn_k.weight", (kv[i] * HEAD_DIM, EMBD), Q.Q8_0, sizes)
        _add(w, p + "attn_v.weight", (kv[i] * HEAD_DIM, EMBD), Q.Q8_0, sizes)
        _add(w, p + "attn_output.weight", (EMBD, 4 * HEAD_DIM), Q.Q8_0, sizes)
        _add(w, p + "ffn_norm.weight", (EMBD,), Q.F32, sizes)
        _add(w, p + "ffn_gate.weight", (FF, EMBD), Q.Q8_0, sizes)
        _add(w, p + "ffn_up.weight", (FF, EMBD), Q.Q8_0, sizes)
        _add(w, p + "ffn_down.weight", (EMBD, FF), Q.F16, sizes)
    _add(w, "output_norm.weight", (EMBD,), Q.F32, sizes)
    if not tied:
        _add(w, "output.weight", (VOCAB, EMBD), Q.Q8_0, sizes)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return sizes


def _layer_sum(sizes: dict[str, int], i: int) -> int:
    return sum(n for name, n in sizes.items() if name.startswith(f"blk.{i}."))


def test_gemma3_style_file(tmp_path: Path) -> None:
    path = tmp_path / "tiny-gemma3-Q8_0.gguf"
    kv_heads = [2, 2, 1, 2, 2, 1, 2, 2, 1, 2, 2, 1]
    sizes = write_model(path, "gemma3", 12, kv_heads, tied=True, sliding_window=128)
    shape = read_model_shape(path)
    assert (shape.architecture, shape.name, shape.quantization) == ("gemma3", "tiny gemma3", "Q8_0")
    assert (shape.n_layer, shape.n_embd, shape.n_ff, shape.n_vocab) == (12, EMBD, FF, VOCAB)
    assert shape.n_ctx_train == 4096
    assert shape.n_head == (4,) * 12 and shape.n_head_kv == tuple(kv_heads)
    assert (shape.head_dim_k, shape.head_dim_v) == (HEAD_DIM, HEAD_DIM)
    # no pattern in the file: llama.cpp's Gemma 3 default, every sixth layer global
    assert shape.sliding_window == 128
    assert [i for i, s in enumerate(shape.swa_layers) if not s] == [5, 11]
    assert shape.layer_bytes == tuple(_layer_sum(sizes, i) for i in range(12))
    assert shape.layer_bytes[2] < shape.layer_bytes[0]  # one KV head fewer, smaller k/v matrices
    assert shape.input_bytes == sizes["token_embd.weight"]
    assert shape.output_tied and shape.output_bytes == sizes["output_norm.weight"]
    assert shape.output_layer_gpu_bytes == sizes["output_norm.weight"] + sizes["token_embd.weight"]
    assert shape.weights_bytes == sum(sizes.values())
    assert shape.kv_bytes_per_cell(2) == 1 * (64 + 64) * 2.0


def test_explicit_sliding_window_pattern_and_untied_output(tmp_path: Path) -> None:
    path = tmp_path / "tiny-llama.gguf"
    pattern = [True, False, True, True, False, False]
    sizes = write_model(path, "llama", 6, 2, tied=False, sliding_window=64, swa_pattern=pattern)
    shape = read_model_shape(path)
    assert shape.swa_layers == tuple(pattern)
    assert shape.n_head_kv == (2,) * 6
    assert not shape.output_tied
    assert shape.output_bytes == sizes["output.weight"] + sizes["output_norm.weight"]
    assert shape.weights_bytes == sum(sizes.values())


def test_no_window_means_no_sliding_layers(tmp_path: Path) -> None:
    path = tmp_path / "tiny-qwen2.gguf"
    write_model(path, "qwen2", 4, 2, tied=False)
    assert read_model_shape(path).swa_layers == (False,) * 4


def test_the_starter_model_reads_fast(starter_gguf: Path) -> None:
    start = time.perf_counter()
    shape = read_model_shape(starter_gguf)
    elapsed = time.perf_counter() - start
    assert (shape.architecture, shape.n_layer, shape.n_vocab) == ("gemma3", 18, 262144)
    assert shape.n_head_kv == (1,) * 18 and shape.head_dim_k == 256
    assert shape.sliding_window == 512 and shape.swa_layers.count(False) == 3
    assert shape.weights_bytes <= shape.file_bytes
    print(f"starter shape read in {elapsed * 1000:.0f} ms")


def test_broken_files_give_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\x01" * 40)
    with pytest.raises(ModelFileError):
        read_model_shape(bad)
    missing = tmp_path / "nope.gguf"
    with pytest.raises(ModelFileError):
        read_model_shape(missing)
