"""A small stand-in for the Hugging Face Hub, on 127.0.0.1, for tests.

It answers the endpoints huggingface_hub 2.4 calls for what Lectern does:

* ``GET /api/models?search=&filter=gguf&sort=&limit=`` (search),
* ``GET /api/models/{repo}`` and ``/api/models/{repo}/revision/{rev}`` with
  ``siblings`` (and sizes, blob ids and LFS sha256 when ``blobs=true``),
* ``HEAD``/``GET /{repo}/resolve/{rev}/{file}``: 302 to a second server (the
  "CDN", another origin, as on the real Hub) with ``X-Repo-Commit``, ``ETag``,
  ``X-Linked-Etag`` and ``X-Linked-Size``; 401/403 with ``X-Error-Code:
  GatedRepo`` for gated repositories without an accepted token; 404 with
  ``RepoNotFound``/``EntryNotFound``/``RevisionNotFound``,
* ``GET /cdn/{sha256}`` on the CDN with ``Range`` → 206 and ``Content-Range``.

Switches make the CDN drop the connection after N bytes, send a corrupted
byte, or send slowly; every request is logged with its headers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

BLOCK = 1 << 20
INVALID_TOKEN = "hf_invalid_token"


@dataclass
class FakeFile:
    """A file in a fake repository: bytes in memory or on disk."""

    name: str
    path: Path | None = None
    data: bytes | None = None
    sha256: str = ""
    lfs: bool = True

    def __post_init__(self) -> None:
        if not self.sha256:
            h = hashlib.sha256()
            if self.data is not None:
                h.update(self.data)
            else:
                assert self.path is not None
                with self.path.open("rb") as fh:
                    while b := fh.read(BLOCK):
                        h.update(b)
            self.sha256 = h.hexdigest()

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else self.path.stat().st_size  # type: ignore[union-attr]

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` exclusive."""
        if self.data is not None:
            return self.data[start:end]
        assert self.path is not None
        with self.path.open("rb") as fh:
            fh.seek(start)
            return fh.read(end - start)

    @property
    def blob_id(self) -> str:
        h = hashlib.sha1(usedforsecurity=False)
        h.update(f"blob {self.size}\0".encode())
        h.update(self.data if self.data is not None else b"")
        return h.hexdigest()


@dataclass
class FakeRepo:
    repo_id: str
    commit: str
    files: dict[str, FakeFile]
    gated: bool = False
    allowed_tokens: set[str] = field(default_factory=set)
    downloads: int = 0
    likes: int = 0
    tags: list[str] = field(default_factory=lambda: ["gguf"])


@dataclass
class Switches:
    """Failure modes of the CDN, set by tests."""

    drop_after: int | None = None  # close the connection after this many body bytes...
    drop_times: int = 1  # ...this many times
    corrupt_at: int | None = None  # flip the byte at this file offset
    delay_per_block_s: float = 0.0  # throttle (seconds per 256 KiB)
    ignore_range: bool = False  # answer Range requests with the whole file (some proxies do)


class FakeHub:
    """The two servers (Hub API + CDN) and their state."""

    def __init__(self) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.switches = Switches()
        self.log: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.hub = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, cdn=False))
        self.cdn = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, cdn=True))
        self.hub.daemon_threads = self.cdn.daemon_threads = True
        self._threads = [
            threading.Thread(target=s.serve_forever, args=(0.05,), daemon=True)
            for s in (self.hub, self.cdn)
        ]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.hub.server_address[1]}"

    @property
    def cdn_url(self) -> str:
        return f"http://127.0.0.1:{self.cdn.server_address[1]}"

    def start(self) -> FakeHub:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        for s in (self.hub, self.cdn):
            s.shutdown()
            s.server_close()

    def add_repo(self, repo: FakeRepo) -> FakeRepo:
        self.repos[repo.repo_id] = repo
        return repo

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.log.append(entry)

    def requests(self, method: str | None = None, prefix: str = "") -> list[dict[str, Any]]:
        """Logged requests, filtered by method and path prefix."""
        with self._lock:
            return [
                r
                for r in self.log
                if (method is None or r["method"] == method) and r["path"].startswith(prefix)
            ]

    def blob(self, sha: str) -> FakeFile | None:
        for repo in self.repos.values():
            for f in repo.files.values():
                if f.sha256 == sha:
                    return f
        return None


def _handler(hub: FakeHub, cdn: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        # -- helpers ------------------------------------------------------------
        def _send(
            self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
            h = {"Content-Type": "application/json"}
            h.update(headers or {})
            self._send(status, json.dumps(value).encode(), h)

        def _error(self, status: int, code: str, message: str) -> None:
            self._json(
                status, {"error": message}, {"X-Error-Code": code, "X-Error-Message": message}
            )

        def _token(self) -> str | None:
            auth = self.headers.get("Authorization", "")
            return auth.removeprefix("Bearer ").strip() or None

        def _log(self) -> None:
            hub.record(
                {
                    "server": "cdn" if cdn else "hub",
                    "method": self.command,
                    "path": urlsplit(self.path).path,
                    "query": urlsplit(self.path).query,
                    "headers": {k.lower(): v for k, v in self.headers.items()},  # lower-cased names
                }
            )

        # -- routes -------------------------------------------------------------
        def do_HEAD(self) -> None:
            self._route()

        def do_GET(self) -> None:
            self._route()

        def _route(self) -> None:
            self._log()
            url = urlsplit(self.path)
            path = unquote(url.path)
            query = parse_qs(url.query)
            if cdn:
                return self._cdn(path)
            if self._token() == INVALID_TOKEN:  # the Hub rejects a bad token on every call
                return self._send(
                    401,
                    b'{"error": "Invalid credentials in Authorization header"}',
                    {"X-Error-Message": "Invalid credentials in Authorization header"},
                )
            if path == "/api/models":
                return self._search(query)
            if path.startswith("/api/models/"):
                return self._model_info(path.removeprefix("/api/models/"), query)
            if "/resolve/" in path:
                return self._resolve(path)
            return self._error(404, "NotFound", "no such route")

        def _search(self, query: dict[str, list[str]]) -> None:
            words = query.get("search", [""])[0].lower().split()
            filters = query.get("filter", [])
            limit = int(query.get("limit", ["1000"])[0])
            found = [
                r
                for r in hub.repos.values()
                if all(w in r.repo_id.lower() for w in words) and all(f in r.tags for f in filters)
            ]
            found.sort(key=lambda r: -r.downloads)
            self._json(
                200,
                [
                    {
                        "_id": r.repo_id,
                        "id": r.repo_id,
                        "author": r.repo_id.split("/")[0],
                        "downloads": r.downloads,
                        "likes": r.likes,
                        "gated": "manual" if r.gated else False,
                        "lastModified": "2025-01-01T00:00:00.000Z",
                        "tags": r.tags,
                    }
                    for r in found[:limit]
                ],
            )

        def _model_info(self, rest: str, query: dict[str, list[str]]) -> None:
            rev = None
            if "/revision/" in rest:
                rest, rev = rest.split("/revision/", 1)
            repo = hub.repos.get(rest)
            if repo is None:
                return self._error(404, "RepoNotFound", "Repository not found")
            if rev not in (None, "main", repo.commit):
                return self._error(404, "RevisionNotFound", "Invalid rev id: " + rev)
            blobs = query.get("blobs", ["false"])[0].lower() == "true"
            siblings = []
            for f in repo.files.values():
                s: dict[str, Any] = {"rfilename": f.name}
                if blobs:
                    s["size"] = f.size if not f.lfs else 134
                    s["blobId"] = f.blob_id if not f.lfs else "0" * 40
                    if f.lfs:
                        s["lfs"] = {"size": f.size, "sha256": f.sha256, "pointerSize": 134}
                siblings.append(s)
            self._json(
                200,
                {
                    "_id": repo.repo_id,
                    "id": repo.repo_id,
                    "modelId": repo.repo_id,
                    "author": repo.repo_id.split("/")[0],
                    "sha": repo.commit,
                    "lastModified": "2025-01-01T00:00:00.000Z",
                    "private": False,
                    "disabled": False,
                    "gated": "manual" if repo.gated else False,
                    "downloads": repo.downloads,
                    "likes": repo.likes,
                    "tags": repo.tags,
                    "library_name": "gguf",
                    "siblings": siblings,
                },
            )

        def _resolve(self, path: str) -> None:
            repo_part, rest = path.lstrip("/").split("/resolve/", 1)
            rev, _, filename = rest.partition("/")
            repo = hub.repos.get(repo_part)
            if repo is None:
                return self._error(404, "RepoNotFound", "Repository not found")
            token = self._token()
            if repo.gated and token not in repo.allowed_tokens:
                if token is None:
                    return self._error(
                        401,
                        "GatedRepo",
                        "Access to model is restricted. You must be authenticated.",
                    )
                return self._error(
                    403, "GatedRepo", "Access to model is restricted and you are not in the list."
                )
            if rev not in ("main", repo.commit):
                return self._error(404, "RevisionNotFound", "Invalid rev id")
            f = repo.files.get(filename)
            if f is None:
                return self._error(404, "EntryNotFound", "Entry not found")
            headers = {
                "X-Repo-Commit": repo.commit,
                "ETag": f'"{f.sha256}"',
                "X-Linked-Etag": f'"{f.sha256}"',
                "X-Linked-Size": str(f.size),
                "Location": f"{hub.cdn_url}/cdn/{f.sha256}",
            }
            self._send(302, b"", headers)

        def _cdn(self, path: str) -> None:
            f = hub.blob(path.removeprefix("/cdn/"))
            if f is None:
                return self._send(404, b"no such blob")
            size = f.size
            start, status = 0, 200
            rng = None if hub.switches.ignore_range else self.headers.get("Range")
            headers = {"ETag": f'"{f.sha256}"', "Accept-Ranges": "bytes"}
            if rng:
                spec = rng.removeprefix("bytes=")
                first, _, last = spec.partition("-")
                start = int(first)
                if start >= size:
                    return self._send(416, b"", {"Content-Range": f"bytes */{size}"})
                if last:
                    raise NotImplementedError("closed ranges are not used by Lectern")
                status = 206
                headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(size - start))
            self.end_headers()
            if self.command == "HEAD":
                return
            self._stream(f, start, size)

        def _stream(self, f: FakeFile, start: int, size: int) -> None:
            sw = hub.switches
            drop_at = None
            if sw.drop_after is not None and sw.drop_times > 0 and start <= sw.drop_after:
                sw.drop_times -= 1
                drop_at = sw.drop_after
            pos = start
            step = 256 * 1024
            while pos < size:
                end = min(size, pos + step)
                if drop_at is not None:
                    end = min(end, drop_at)
                block = bytearray(f.read(pos, end))
                if sw.corrupt_at is not None and pos <= sw.corrupt_at < end:
                    block[sw.corrupt_at - pos] ^= 0xFF
                try:
                    self.wfile.write(block)
                    self.wfile.flush()
                except OSError:
                    return  # the client went away (cancel, kill)
                pos = end
                if drop_at is not None and pos >= drop_at:
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if sw.delay_per_block_s:
                    time.sleep(sw.delay_per_block_s)

    return Handler
