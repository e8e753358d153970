"""Download throughput: Lectern's verified download against a plain HTTP GET.

Both fetch the starter GGUF (~250 MB) from the fake Hub of the tests on
127.0.0.1, so the network is not the bottleneck and what is measured is our
own overhead: sha256 while writing, progress events, the asyncio hand-off
and the final registration. A plain ``GET`` that discards the bytes is the
upper bound.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

REPO = "bench/starter-GGUF"


def run() -> dict[str, object]:
    import httpx2
    import huggingface_hub.constants as hf_constants

    from core.engine import Engine
    from core.models.downloads import DownloadFinished
    from tests.core.models.fake_hub import FakeFile, FakeHub, FakeRepo

    with tempfile.TemporaryDirectory() as tmp:
        starter = Engine(Path(tmp) / "starter").ensure_starter_models_sync()
        size = starter.size_bytes
        hub = FakeHub()
        hub.add_repo(
            FakeRepo(
                REPO,
                commit="b" * 40,
                files={
                    "model-Q4_K_M.gguf": FakeFile(
                        "model-Q4_K_M.gguf", path=Path(starter.path), sha256=starter.sha256
                    )
                },
            )
        )
        hub.start()
        os.environ["HF_ENDPOINT"] = hub.endpoint
        hf_constants.HF_HUB_OFFLINE = False
        try:
            t0 = time.perf_counter()
            with httpx2.stream("GET", f"{hub.cdn_url}/cdn/{starter.sha256}") as resp:
                for _ in resp.iter_bytes():
                    pass
            raw_s = time.perf_counter() - t0

            engine = Engine(Path(tmp) / "data")

            async def download() -> int:
                n = 0
                async for event in engine.download_model(REPO, "model-Q4_K_M.gguf"):
                    n += 1
                    if isinstance(event, DownloadFinished):
                        return n
                raise RuntimeError(f"download failed: {event}")

            t0 = time.perf_counter()
            events = asyncio.run(download())
            lectern_s = time.perf_counter() - t0
        finally:
            hub.stop()
    return {
        "file_bytes": size,
        "plain_get_mb_s": round(size / raw_s / 1e6, 1),
        "lectern_download_mb_s": round(size / lectern_s / 1e6, 1),
        "ratio": round(raw_s / lectern_s, 3),
        "events": events,
    }
