"""Downloads from the fake Hub: verified, resumable, pinned, refused when they must be."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from core.engine import Engine
from core.errors import (
    AccessDeniedError,
    DiskSpaceError,
    DownloadInProgressError,
    HubError,
    ModelNotFoundError,
    RemoteNotFoundError,
    VerificationError,
)
from core.events import Done, Event, Failed
from core.models.downloads import Downloader, DownloadFinished, DownloadProgress
from tests.core.models.conftest import (
    GATED_REPO,
    GRANTED_TOKEN,
    PENDING_TOKEN,
    SPLIT_REPO,
    STARTER_FILE,
    STARTER_REPO,
)
from tests.core.models.fake_hub import FakeHub


async def collect(engine: Engine, repo: str, filename: str, **kw: str) -> list[Event]:
    return [e async for e in engine.download_model(repo, filename, **kw)]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while b := fh.read(1 << 22):
            h.update(b)
    return h.hexdigest()


def leftovers(engine: Engine) -> list[str]:
    d = engine.paths.downloads_dir
    return sorted(p.name for p in d.iterdir() if not p.name.endswith(".lock")) if d.exists() else []


async def test_full_download_is_verified_pinned_and_registered(
    fake_hub: FakeHub, data_dir: Path, starter_gguf: Path, starter_sha256: str
) -> None:
    engine = Engine(data_dir)
    events = await collect(engine, STARTER_REPO, STARTER_FILE)
    *progress, finished = events
    assert isinstance(finished, DownloadFinished), finished
    assert progress and all(isinstance(e, DownloadProgress) for e in progress)
    done = [e.bytes_done for e in progress]  # type: ignore[attr-defined]
    size = starter_gguf.stat().st_size
    assert done == sorted(done) and done[-1] == size
    assert all(e.bytes_total == size for e in progress)  # type: ignore[attr-defined]

    rec = finished.record
    path = Path(rec.path)
    assert path == data_dir / "models" / "lectern-test" / "gemma-3-270m-it-GGUF" / STARTER_FILE
    assert sha256(path) == starter_sha256 == rec.sha256
    assert (rec.source, rec.repo_id, rec.revision) == ("downloaded", STARTER_REPO, "a1" * 20)
    assert (rec.architecture, rec.quantization) == ("gemma3", "Q4_K_M")
    assert engine.registry.get(rec.id).path == rec.path
    assert leftovers(engine) == []
    # pinned: the file was asked for at the resolved commit, never at "main"
    resolves = fake_hub.requests(prefix=f"/{STARTER_REPO}/resolve/")
    assert resolves and all(f"/resolve/{'a1' * 20}/" in r["path"] for r in resolves)
    (get,) = fake_hub.requests("GET", "/cdn/")
    assert "range" not in get["headers"]

    # a second request for the same file is answered from the registry
    again = await collect(engine, STARTER_REPO, STARTER_FILE)
    assert isinstance(again[-1], DownloadFinished) and again[-1].record.id == rec.id
    assert len(fake_hub.requests("GET", "/cdn/")) == 1


async def test_dropped_connection_resumes_with_a_range_request(
    fake_hub: FakeHub, data_dir: Path, starter_gguf: Path, starter_sha256: str
) -> None:
    size = starter_gguf.stat().st_size
    fake_hub.switches.drop_after = size // 2
    events = await collect(Engine(data_dir), STARTER_REPO, STARTER_FILE)
    assert isinstance(events[-1], DownloadFinished), events[-1]
    first, second = fake_hub.requests("GET", "/cdn/")
    assert "range" not in first["headers"]
    assert second["headers"]["range"] == f"bytes={size // 2}-"
    assert sha256(Path(events[-1].record.path)) == starter_sha256


async def test_a_server_that_ignores_range_makes_the_download_start_over(
    fake_hub: FakeHub, data_dir: Path, starter_gguf: Path, starter_sha256: str
) -> None:
    fake_hub.switches.drop_after = starter_gguf.stat().st_size // 2
    fake_hub.switches.ignore_range = True
    events = await collect(Engine(data_dir), STARTER_REPO, STARTER_FILE)
    assert isinstance(events[-1], DownloadFinished), events[-1]
    assert fake_hub.requests("GET", "/cdn/")[-1]["headers"]["range"]  # it asked to resume...
    assert sha256(Path(events[-1].record.path)) == starter_sha256  # ...and got it right anyway


async def test_bytes_that_do_not_match_the_sha256_are_rejected(
    fake_hub: FakeHub, data_dir: Path, starter_gguf: Path
) -> None:
    fake_hub.switches.corrupt_at = starter_gguf.stat().st_size // 3
    engine = Engine(data_dir)
    events = await collect(engine, STARTER_REPO, STARTER_FILE)
    assert isinstance(events[-1], Failed)
    assert isinstance(events[-1].error, VerificationError)
    assert "checksum" in events[-1].error.message
    assert engine.registry.list() == []  # nothing registered
    assert leftovers(engine) == []  # the partial is removed
    assert not (data_dir / "models" / "lectern-test").exists()


async def test_cancel_keeps_the_partial_and_a_restart_resumes_it(
    fake_hub: FakeHub, data_dir: Path, starter_gguf: Path, starter_sha256: str
) -> None:
    fake_hub.switches.delay_per_block_s = 0.01  # about 25 MB/s
    engine = Engine(data_dir)
    events: list[Event] = []
    async for event in engine.download_model(STARTER_REPO, STARTER_FILE):
        events.append(event)
        if isinstance(event, DownloadProgress) and event.bytes_done > 5_000_000:
            engine.cancel_download(STARTER_REPO, STARTER_FILE)
    assert isinstance(events[-1], Done) and events[-1].cancelled
    moving = [e for e in events if isinstance(e, DownloadProgress) and e.speed_bps > 0]
    assert moving and all(e.eta_s is not None and e.eta_s > 0 for e in moving)
    assert engine.registry.list() == []
    (partial,) = await engine.partial_downloads()
    assert (partial.repo_id, partial.filename, partial.commit) == (
        STARTER_REPO,
        STARTER_FILE,
        "a1" * 20,
    )
    assert 5_000_000 < partial.bytes_done < starter_gguf.stat().st_size
    assert Path(partial.partial_path).stat().st_size == partial.bytes_done

    # "restart": a new engine on the same data directory resumes from the partial
    fake_hub.switches.delay_per_block_s = 0.0
    restarted = Engine(data_dir)
    events = await collect(restarted, STARTER_REPO, STARTER_FILE)
    assert isinstance(events[-1], DownloadFinished), events[-1]
    first = next(e for e in events if isinstance(e, DownloadProgress))
    assert first.bytes_done == partial.bytes_done  # progress starts where it stopped
    last_get = fake_hub.requests("GET", "/cdn/")[-1]
    assert last_get["headers"]["range"] == f"bytes={partial.bytes_done}-"
    assert sha256(Path(events[-1].record.path)) == starter_sha256
    assert leftovers(restarted) == []


async def test_gated_repository_needs_a_token(
    fake_hub: FakeHub, data_dir: Path, tmp_path: Path
) -> None:
    engine = Engine(data_dir)
    (failed,) = await collect(engine, GATED_REPO, "tiny-F16.gguf")
    assert isinstance(failed, Failed) and isinstance(failed.error, AccessDeniedError)
    assert "gated" in failed.error.message and "token" in failed.error.message
    assert "accept the licence" in failed.error.hint

    engine.settings.models.hf_token = PENDING_TOKEN  # a token without accepted licence
    (failed,) = await collect(engine, GATED_REPO, "tiny-F16.gguf")
    assert isinstance(failed, Failed) and isinstance(failed.error, AccessDeniedError)
    assert "no access" in failed.error.message
    assert f"{fake_hub.endpoint}/{GATED_REPO}" in failed.error.hint
    assert engine.registry.list() == []

    # a granted token from huggingface_hub's standard location works
    engine.settings.models.hf_token = None
    token_file = tmp_path / "hf-home" / "token"
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.write_text(GRANTED_TOKEN)
    events = await collect(engine, GATED_REPO, "tiny-F16.gguf")
    assert isinstance(events[-1], DownloadFinished), events[-1]
    get = fake_hub.requests("GET", f"/{GATED_REPO}/resolve/")[-1]
    assert get["headers"]["authorization"] == f"Bearer {GRANTED_TOKEN}"
    # the token is not sent on to the CDN (another origin)
    assert "authorization" not in fake_hub.requests("GET", "/cdn/")[-1]["headers"]


async def test_missing_file_or_repository_is_not_found(fake_hub: FakeHub, data_dir: Path) -> None:
    engine = Engine(data_dir)
    (failed,) = await collect(engine, STARTER_REPO, "gemma-3-270m-it-Q8_0.gguf")
    assert isinstance(failed, Failed) and isinstance(failed.error, RemoteNotFoundError)
    assert STARTER_FILE in failed.error.hint  # says what there is instead
    (failed,) = await collect(engine, "nobody/nothing-GGUF", "x.gguf")
    assert isinstance(failed, Failed) and isinstance(failed.error, RemoteNotFoundError)
    assert fake_hub.requests("GET", "/cdn/") == []


async def test_not_enough_disk_space_is_refused_before_downloading(
    fake_hub: FakeHub, data_dir: Path
) -> None:
    import shutil

    engine = Engine(data_dir)
    free_mb = shutil.disk_usage(data_dir).free // 1_000_000
    engine.settings.models.download_reserve_mb = free_mb  # the 250 MB model cannot fit
    (failed,) = await collect(engine, STARTER_REPO, STARTER_FILE)
    assert isinstance(failed, Failed) and isinstance(failed.error, DiskSpaceError)
    assert "GB are free" in failed.error.message
    assert fake_hub.requests("GET", "/cdn/") == []
    assert leftovers(engine) == []


async def test_split_model_downloads_all_parts(
    fake_hub: FakeHub, data_dir: Path, tiny_ggufs: dict[str, Path]
) -> None:
    engine = Engine(data_dir)
    # asking for any part fetches the whole model
    events = await collect(engine, SPLIT_REPO, "tiny-Q8_0-00002-of-00003.gguf")
    assert isinstance(events[-1], DownloadFinished), events[-1]
    rec = events[-1].record
    assert Path(rec.path).name == "tiny-Q8_0-00001-of-00003.gguf"
    assert [Path(p).name for p in rec.parts] == [
        f"tiny-Q8_0-{n:05d}-of-00003.gguf" for n in (1, 2, 3)
    ]
    for n, part in enumerate(rec.parts, start=1):
        assert Path(part).read_bytes() == tiny_ggufs[f"part{n}"].read_bytes()
    assert rec.size_bytes == sum(Path(p).stat().st_size for p in rec.parts)
    assert rec.id == "lectern-test/tiny-split-gguf/tiny-q8_0"


async def test_delete_removes_a_downloaded_model_and_its_partials(
    fake_hub: FakeHub, data_dir: Path
) -> None:
    engine = Engine(data_dir)
    rec = (await collect(engine, SPLIT_REPO, "tiny-F16.gguf"))[-1].record  # type: ignore[attr-defined]
    await engine.delete_model(rec.id)
    assert not Path(rec.path).exists()
    assert not (data_dir / "models" / "lectern-test").exists()  # empty folders go too
    with pytest.raises(ModelNotFoundError):
        engine.registry.get(rec.id)


async def test_a_connection_that_keeps_breaking_fails_and_keeps_the_partial(
    fake_hub: FakeHub, data_dir: Path, starter_sha256: str
) -> None:
    engine = Engine(data_dir)
    downloader = Downloader(engine.paths, engine.registry, retries=1, retry_wait_s=0.01)
    fake_hub.switches.drop_after = 1_000_000  # the first GET stops there, later ones at once
    fake_hub.switches.drop_times = 10
    with pytest.raises(HubError, match="broke"):
        downloader.download(STARTER_REPO, STARTER_FILE)
    assert len(fake_hub.requests("GET", "/cdn/")) == 3  # first try, then 1 + 1 retries
    (partial,) = await engine.partial_downloads()
    assert partial.bytes_done == 1_000_000
    assert engine.registry.list() == []

    fake_hub.switches.drop_after = None
    events = await collect(engine, STARTER_REPO, STARTER_FILE)
    assert isinstance(events[-1], DownloadFinished), events[-1]
    assert events[-1].record.sha256 == starter_sha256
    assert fake_hub.requests("GET", "/cdn/")[-1]["headers"]["range"] == "bytes=1000000-"


async def test_the_same_file_is_not_downloaded_twice_at_once(
    fake_hub: FakeHub, data_dir: Path
) -> None:
    fake_hub.switches.delay_per_block_s = 0.01
    first, second = Engine(data_dir), Engine(data_dir)  # e.g. two windows
    events: list[Event] = []
    async for event in first.download_model(STARTER_REPO, STARTER_FILE):
        events.append(event)
        if isinstance(event, DownloadProgress) and event.bytes_done > 1_000_000:
            (refused,) = await collect(second, STARTER_REPO, STARTER_FILE)
            assert isinstance(refused, Failed)
            assert isinstance(refused.error, DownloadInProgressError)
            first.cancel_download(STARTER_REPO, STARTER_FILE)
    assert isinstance(events[-1], Done) and events[-1].cancelled
