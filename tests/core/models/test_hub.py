"""Hub search and repository listing against the fake Hub."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.engine import Engine
from core.errors import AccessDeniedError, HubError, RemoteNotFoundError, UsageError
from tests.core.models.conftest import GATED_REPO, SPLIT_REPO, STARTER_FILE, STARTER_REPO
from tests.core.models.fake_hub import INVALID_TOKEN, FakeHub


async def test_search_finds_gguf_repositories_most_downloaded_first(
    fake_hub: FakeHub, data_dir: Path
) -> None:
    repos = await Engine(data_dir).search_hub("GGUF")
    assert [r.repo_id for r in repos] == [STARTER_REPO, GATED_REPO, SPLIT_REPO]
    assert repos[0].downloads == 1200 and repos[0].author == "lectern-test"
    assert [r.gated for r in repos] == [False, True, False]
    # the search went to the Hub's model search with the GGUF library filter
    (req,) = fake_hub.requests("GET", "/api/models")
    assert "filter=gguf" in req["query"] and "search=GGUF" in req["query"]


async def test_search_matches_words_and_skips_non_gguf_repositories(
    fake_hub: FakeHub, data_dir: Path
) -> None:
    engine = Engine(data_dir)
    assert [r.repo_id for r in await engine.search_hub("gemma")] == [STARTER_REPO]
    assert await engine.search_hub("nothing-like-this") == []
    assert len(await engine.search_hub("gguf", limit=1)) == 1
    with pytest.raises(UsageError):
        await engine.search_hub("   ")


async def test_listing_groups_split_files_with_sizes(
    fake_hub: FakeHub, data_dir: Path, tiny_ggufs: dict[str, Path]
) -> None:
    files = await Engine(data_dir).list_repo_files(SPLIT_REPO)
    by_name = {f.filename: f for f in files}
    # the incomplete split upload and the vision projector are not offered
    assert set(by_name) == {"tiny-F16.gguf", "tiny-Q8_0-00001-of-00003.gguf"}
    split = by_name["tiny-Q8_0-00001-of-00003.gguf"]
    assert split.parts == [f"tiny-Q8_0-{n:05d}-of-00003.gguf" for n in (1, 2, 3)]
    assert split.size_bytes == sum(tiny_ggufs[f"part{n}"].stat().st_size for n in (1, 2, 3))
    assert split.quantization == "Q8_0"
    assert split.revision == "b2" * 20
    single = by_name["tiny-F16.gguf"]
    assert single.parts == ["tiny-F16.gguf"] and single.quantization == "F16"
    assert single.size_bytes == tiny_ggufs["single"].stat().st_size


async def test_listing_the_starter_repository(
    fake_hub: FakeHub, data_dir: Path, starter_gguf: Path
) -> None:
    (f,) = await Engine(data_dir).list_repo_files(STARTER_REPO)
    assert (f.filename, f.quantization) == (STARTER_FILE, "Q4_K_M")
    assert f.size_bytes == starter_gguf.stat().st_size


async def test_unknown_repository_and_revision_are_clear_errors(
    fake_hub: FakeHub, data_dir: Path
) -> None:
    engine = Engine(data_dir)
    with pytest.raises(RemoteNotFoundError, match="No repository 'nobody/nothing'"):
        await engine.list_repo_files("nobody/nothing")
    with pytest.raises(RemoteNotFoundError, match="revision"):
        await engine.list_repo_files(STARTER_REPO, revision="f" * 40)
    with pytest.raises(UsageError, match="not a Hub repository id"):
        await engine.list_repo_files("not a repo id!")


async def test_unreachable_hub_is_a_hub_error(
    fake_hub: FakeHub, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_hub.stop()
    with pytest.raises(HubError, match="Cannot reach the Hugging Face Hub"):
        await Engine(data_dir).search_hub("gemma")


async def test_offline_mode_is_honoured(
    fake_hub: FakeHub, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubError, match="HF_HUB_OFFLINE"):
        await Engine(data_dir).search_hub("gemma")
    assert fake_hub.requests() == []


async def test_an_invalid_token_is_access_denied(fake_hub: FakeHub, data_dir: Path) -> None:
    engine = Engine(data_dir)
    engine.settings.models.hf_token = INVALID_TOKEN
    with pytest.raises(AccessDeniedError, match="HTTP 401") as err:
        await engine.list_repo_files(STARTER_REPO)
    assert "token" in err.value.hint
