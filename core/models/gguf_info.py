"""Read what a GGUF file is without loading it into llama.cpp.

The header, metadata and tensor directory are parsed here with ``struct``
over a memory map, using the ``gguf`` package's constants (value types,
quantisation block sizes, file types). ``gguf.GGUFReader`` would do the same
but decodes every element of the tokenizer arrays into numpy views, which
takes over ten seconds for Gemma's 262k-token vocabulary; we skip those
arrays and read the rest in milliseconds.

Every bound is checked, so a truncated or foreign file gets a clear
:class:`ModelFileError` instead of reaching llama.cpp.
"""

from __future__ import annotations

import mmap
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ModelFileError

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
_HEADER = struct.Struct("<4sIQQ")  # magic, version, tensor count, metadata kv count
_QUANT_RE = re.compile(r"(?i)(?:^|[-_.])((?:IQ|Q)\d(?:_[A-Z0-9]+)*|F16|BF16|F32)(?=[-_.]|$)")
# Arrays that are large and of no use outside llama.cpp: skipped, only their length is kept.
SKIPPED_ARRAYS = frozenset(
    {
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.scores",
        "tokenizer.ggml.token_type",
        "tokenizer.ggml.merges",
        "tokenizer.ggml.precompiled_charsmap",
    }
)
_SCALARS: dict[int, struct.Struct] = {
    0: struct.Struct("<B"),  # UINT8
    1: struct.Struct("<b"),  # INT8
    2: struct.Struct("<H"),  # UINT16
    3: struct.Struct("<h"),  # INT16
    4: struct.Struct("<I"),  # UINT32
    5: struct.Struct("<i"),  # INT32
    6: struct.Struct("<f"),  # FLOAT32
    7: struct.Struct("<?"),  # BOOL
    10: struct.Struct("<Q"),  # UINT64
    11: struct.Struct("<q"),  # INT64
    12: struct.Struct("<d"),  # FLOAT64
}
_STRING, _ARRAY = 8, 9
_U32, _U64 = struct.Struct("<I"), struct.Struct("<Q")


@dataclass(frozen=True)
class TensorInfo:
    """One tensor's directory entry: enough to size it without reading it."""

    name: str
    shape: tuple[int, ...]  # GGUF order: innermost dimension first
    ggml_type: int
    offset: int  # relative to the start of the data section
    n_elements: int
    n_bytes: int


@dataclass(frozen=True)
class GGUFInfo:
    """What the registry and planner need to know about a GGUF file."""

    path: Path
    size_bytes: int
    architecture: str
    name: str
    parameters: int
    quantization: str
    context_length: int | None
    has_chat_template: bool
    metadata: dict[str, Any]
    tensors: tuple[TensorInfo, ...]
    data_offset: int


class _Cursor:
    """Bounds-checked little-endian reads from a buffer."""

    def __init__(self, buf: Any, name: str) -> None:
        self.buf = buf
        self.pos = 0
        self.name = name

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if n < 0 or end > len(self.buf):
            raise ModelFileError(
                f"{self.name} is truncated or damaged (header runs past the end of the file).",
                hint="download it again",
            )
        out = self.buf[self.pos : end]
        self.pos = end
        return bytes(out)

    def unpack(self, st: struct.Struct) -> Any:
        return st.unpack(self.take(st.size))[0]

    def string(self) -> str:
        n = self.unpack(_U64)
        if n > 1 << 28:
            raise ModelFileError(f"{self.name} has a corrupt GGUF header (string of {n} bytes).")
        return self.take(n).decode("utf-8", "replace")

    def skip_string(self) -> None:
        n = self.unpack(_U64)
        self.take(n) if n > len(self.buf) else setattr(self, "pos", self.pos + n)
        if self.pos > len(self.buf):
            self.take(1)  # raises the truncation error

    def _skip_strings(self, count: int) -> None:
        # a tight loop: vocabularies hold 100k-260k strings and this runs on every import
        buf, pos, end = self.buf, self.pos, len(self.buf)
        unpack = _U64.unpack_from
        for _ in range(count):
            if pos + 8 > end:
                break
            pos += 8 + unpack(buf, pos)[0]
            if pos > end:
                break
        else:
            self.pos = pos
            return
        self.pos = end
        self.take(1)  # raises the truncation error

    def value(self, vtype: int, keep: bool = True) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == _STRING:
            if keep:
                return self.string()
            self.skip_string()
            return None
        if vtype == _ARRAY:
            etype = self.unpack(_U32)
            count = self.unpack(_U64)
            if count > 1 << 32:
                raise ModelFileError(f"{self.name} has a corrupt GGUF header (array of {count}).")
            if not keep:
                if etype in _SCALARS:
                    self.take(_SCALARS[etype].size * count)
                elif etype == _STRING:
                    self._skip_strings(count)
                else:
                    for _ in range(count):
                        self.value(etype, keep=False)
                return count
            return [self.value(etype) for _ in range(count)]
        raise ModelFileError(f"{self.name} has a corrupt GGUF header (value type {vtype}).")


def validate_header(path: Path) -> None:
    """Raise :class:`ModelFileError` unless ``path`` starts like a GGUF file."""
    if not path.exists():
        raise ModelFileError(f"Model file not found: {path}")
    if not path.is_file():
        raise ModelFileError(f"Not a file: {path}")
    size = path.stat().st_size
    if size < _HEADER.size:
        raise ModelFileError(
            f"{path.name} is not a GGUF model (only {size} bytes).",
            hint="the file is empty or truncated; download it again",
        )
    with path.open("rb") as fh:
        magic, version, n_tensors, n_kv = _HEADER.unpack(fh.read(_HEADER.size))
    if magic != GGUF_MAGIC:
        raise ModelFileError(
            f"{path.name} is not a GGUF model (wrong magic bytes).",
            hint="Lectern runs GGUF files; convert other formats with llama.cpp",
        )
    if version not in SUPPORTED_VERSIONS:
        raise ModelFileError(f"{path.name} uses GGUF version {version}, which is not supported.")
    if n_tensors == 0 or n_tensors > 1_000_000 or n_kv > 1_000_000:
        raise ModelFileError(f"{path.name} has a corrupt GGUF header.")


def tensor_nbytes(ggml_type: int, n_elements: int) -> int:
    """Bytes a tensor of ``n_elements`` of ``ggml_type`` occupies."""
    import gguf

    try:
        block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(ggml_type)]
    except (ValueError, KeyError) as exc:
        raise ModelFileError(f"Unknown tensor type {ggml_type}; is Lectern up to date?") from exc
    return n_elements * type_size // block


def read_gguf(path: Path) -> tuple[dict[str, Any], tuple[TensorInfo, ...], int]:
    """(metadata, tensor directory, data section offset); validates bounds."""
    validate_header(path)
    size = path.stat().st_size
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        cur = _Cursor(mm, path.name)
        _magic, _version, n_tensors, n_kv = _HEADER.unpack(cur.take(_HEADER.size))
        meta: dict[str, Any] = {}
        for _ in range(n_kv):
            key = cur.string()
            vtype = cur.unpack(_U32)
            keep = key not in SKIPPED_ARRAYS
            value = cur.value(vtype, keep=keep)
            meta[key] = value if keep else {"skipped_array_len": value}
        raw_tensors = []
        for _ in range(n_tensors):
            name = cur.string()
            n_dims = cur.unpack(_U32)
            if n_dims > 8:
                raise ModelFileError(f"{path.name} has a corrupt tensor directory.")
            shape = tuple(cur.unpack(_U64) for _ in range(n_dims))
            ggml_type = cur.unpack(_U32)
            offset = cur.unpack(_U64)
            raw_tensors.append((name, shape, ggml_type, offset))
        align = int(meta.get("general.alignment", DEFAULT_ALIGNMENT)) or DEFAULT_ALIGNMENT
        data_offset = (cur.pos + align - 1) // align * align
    tensors = []
    for name, shape, ggml_type, offset in raw_tensors:
        n = 1
        for d in shape:
            n *= d
        tensors.append(TensorInfo(name, shape, ggml_type, offset, n, tensor_nbytes(ggml_type, n)))
    end = max((data_offset + t.offset + t.n_bytes for t in tensors), default=data_offset)
    if end > size:
        raise ModelFileError(
            f"{path.name} is truncated ({size} of {end} bytes).",
            hint="the download was incomplete; download it again",
        )
    return meta, tuple(tensors), data_offset


def quantization_name(file_type: int | None, filename: str) -> str:
    """Human quantisation label (``Q4_K_M``) from ``general.file_type`` or the file name."""
    import gguf

    if file_type is not None:
        try:
            return gguf.LlamaFileType(file_type).name.removeprefix("MOSTLY_")
        except ValueError:
            pass
    m = _QUANT_RE.search(Path(filename).stem)
    return m.group(1).upper() if m else "unknown"


def read_info(path: Path) -> GGUFInfo:
    """Validate and describe a GGUF file (no model load)."""
    meta, tensors, data_offset = read_gguf(path)
    arch = str(meta.get("general.architecture", "unknown"))
    ctx = meta.get(f"{arch}.context_length")
    return GGUFInfo(
        path=path,
        size_bytes=path.stat().st_size,
        architecture=arch,
        name=str(meta.get("general.name") or path.stem),
        parameters=sum(t.n_elements for t in tensors),
        quantization=quantization_name(meta.get("general.file_type"), path.name),
        context_length=int(ctx) if ctx is not None else None,
        has_chat_template=bool(meta.get("tokenizer.chat_template")),
        metadata=meta,
        tensors=tensors,
        data_offset=data_offset,
    )
