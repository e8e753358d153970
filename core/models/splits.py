"""Names of split GGUF files (``model-00001-of-00003.gguf``).

llama.cpp's ``gguf-split`` cuts large models into numbered parts; a model is
loaded from its first part and the others are found next to it by name. The
Hub, the registry and the importer all need to group such parts, so the
naming rule lives here once.
"""

from __future__ import annotations

import re
from pathlib import Path

_SPLIT_RE = re.compile(r"^(?P<stem>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)


def split_info(filename: str) -> tuple[str, int, int] | None:
    """``(stem, part number, part count)`` for a split part's name, else None."""
    m = _SPLIT_RE.match(Path(filename).name)
    if m is None:
        return None
    no, count = int(m["no"]), int(m["count"])
    if not 1 <= no <= count:
        return None
    return m["stem"], no, count


def part_name(first: str, no: int) -> str:
    """The name of part ``no`` of the split file whose first part is ``first``."""
    info = split_info(first)
    if info is None:
        raise ValueError(f"{first} is not a split GGUF name")
    stem, _no, count = info
    parent = first.rsplit("/", 1)[0] + "/" if "/" in first else ""
    return f"{parent}{Path(stem).name}-{no:05d}-of-{count:05d}.gguf"


def all_part_names(first: str) -> list[str]:
    """Every part's name, in order, given any part's name (a plain file gives itself)."""
    info = split_info(first)
    if info is None:
        return [first]
    return [part_name(first, n) for n in range(1, info[2] + 1)]


def is_secondary_part(filename: str) -> bool:
    """True for parts 2..n of a split file (they are never offered on their own)."""
    info = split_info(filename)
    return info is not None and info[1] > 1


def local_parts(path: Path) -> list[Path]:
    """All part files of a local model, first part first (a plain file gives itself)."""
    return [path.with_name(Path(n).name) for n in all_part_names(path.name)]
