"""Artifacts' bytes over plain HTTP (`/artifacts/{sha256}`), against real `taskloom serve --transport
http` processes on SQLite and on PostgreSQL, reached by a real MCP client (which hands out the
URLs) and by httpx or a raw socket (which moves the bytes).

One server per backend serves the module (1 MiB artifact limit, so limits are cheap to pass);
the quota test starts one of its own.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2 as httpx
import pytest

from taskloom.config import Settings
from taskloom.services import uploads
from taskloom.services.app import Taskloom
from tests.conftest import call, call_error
from tests.security.common import bearer, connect, entry, write_tokens
from tests.server.test_transports import PROJECT, serving

MiB = 1024 * 1024
LIMIT = MiB
WRITE = "alice-token-0123456789abcdef"  # bound to agent alice
SHARED = "shared-token-for-any-agent"
READER = "reader-token-0123456789abcdef"


@dataclass(frozen=True)
class Server:
    mcp: str  # the MCP endpoint
    base: str  # http://127.0.0.1:PORT
    db: str  # a SQLite path or a PostgreSQL URL
    blobs: Path | None  # SQLite's blob directory; None on PostgreSQL

    def url(self, sha: str) -> str:
        return f"{self.base}/artifacts/{sha}"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tokens_file(where: Path) -> Path:
    return write_tokens(where / "tokens", entry(WRITE, "alice"), entry(SHARED), entry(READER, access="read"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    where = tmp_path_factory.mktemp(f"http-{request.param}")
    if request.param == "sqlite":
        db, blobs = str(where / "taskloom.db"), where / "taskloom.db-artifacts"
    else:
        cluster = request.getfixturevalue("pg_cluster")
        admin, template = request.getfixturevalue("pg_admin"), request.getfixturevalue("pg_template")
        name = "t_http_" + os.urandom(4).hex()
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        db, blobs = cluster.dsn(name), None
    env = {"TASKLOOM_TOKENS_FILE": str(tokens_file(where)), "TASKLOOM_ARTIFACT_MAX_BYTES": str(LIMIT)}
    try:
        with serving(where, "http", db, env=env) as (url, _, _):
            yield Server(url, url.removesuffix("/mcp"), db, blobs)
    finally:
        if blobs is None:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def temp_files(server: Server) -> list[Path]:
    tmp = server.blobs / "tmp" if server.blobs else None
    return sorted(tmp.iterdir()) if tmp and tmp.is_dir() else []


async def put(server: Server, data: bytes, digest: str | None = None, token: str = WRITE, **query: Any) -> httpx.Response:
    async with httpx.AsyncClient(headers=bearer(token)) as http:
        return await http.put(server.url(digest or sha(data)), content=data, params={"name": "f.bin", **query})


async def get(server: Server, digest: str, token: str | None = WRITE, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(headers=bearer(token) if token else {}) as http:
        return await http.get(server.url(digest), headers=headers)


async def test_an_mcp_client_gets_both_urls_from_the_tools_and_the_bytes_go_straight_through(server):
    data = os.urandom(700 * 1024)
    async with connect(server.mcp, "http", WRITE) as client:
        made = await call(client, "task_create", tasks=[{"title": "Holder"}])
        task = made["tasks"][0]["code"]
        ticket = await call(client, "artifacts_upload", name="big.bin", sha256=sha(data), links=[f"task:{task}"])
        assert ticket["artifact"] is None and "PUT" in ticket["message"]
        async with httpx.AsyncClient(headers=bearer(WRITE)) as http:
            stored = await http.put(ticket["upload_url"], content=data)
        assert stored.status_code == 201, stored.text
        assert stored.json()["artifact"]["links"] == [f"task:{task}"]
        assert stored.json()["artifact"]["uploaded_by"] == "alice"
        got = await call(client, "artifacts_get", artifact=sha(data), want="url")
        assert got["encoding"] == "url" and got["url"] == server.url(sha(data))
        # Asking again for bytes the project holds needs no second step.
        again = await call(client, "artifacts_upload", name="big.bin", sha256=sha(data))
        assert again["new"] is False and again["upload_url"] == "" and again["artifact"]["size"] == len(data)
    async with httpx.AsyncClient(headers=bearer(READER)) as http:  # a read-only token reads
        whole = await http.get(got["url"])
        part = await http.get(got["url"], headers={"range": "bytes=1000-1999"})
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "application/octet-stream"
    assert whole.headers["content-disposition"].startswith('attachment; filename="big.bin"')
    assert whole.headers["x-content-type-options"] == "nosniff"
    assert part.status_code == 206 and part.content == data[1000:2000]


async def test_the_url_ways_are_refused_over_stdio_with_a_clear_error(client):
    await call(client, "artifacts_upload", name="a.txt", content="hello")
    digest = sha(b"hello")
    assert (await call_error(client, "artifacts_get", artifact=digest, want="url"))["code"] == "invalid_input"
    refused = await call_error(client, "artifacts_upload", name="b.txt", sha256=digest)
    assert refused["code"] == "invalid_input" and "HTTP" in refused["message"]
    both = await call_error(client, "artifacts_upload", name="b.txt", sha256=digest, content="x")
    assert "without content" in both["message"]


async def test_bytes_that_do_not_hash_to_the_declared_sha256_are_refused_and_nothing_is_stored(server):
    data, other = os.urandom(300 * 1024), os.urandom(16)
    refused = await put(server, data, sha(other))
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_input" and "nothing was stored" in refused.json()["message"]
    for digest in (sha(data), sha(other)):
        assert (await get(server, digest)).json()["error"] == "not_found"
    assert temp_files(server) == []
    if server.blobs is not None:
        assert not (server.blobs / sha(data)[:2] / sha(data)[2:]).exists()
    assert (await put(server, data)).status_code == 201  # the right hash goes through
    again = await put(server, data, link="project")
    assert again.status_code == 200 and again.json()["new"] is False  # held already: links only


async def test_tokens_are_checked_as_for_the_tools(server):
    data = os.urandom(1024)
    for token in (None, "wrong-token"):
        async with httpx.AsyncClient(headers=bearer(token) if token else {}) as http:
            for answer in (await http.get(server.url(sha(data))), await http.put(server.url(sha(data)), content=data)):
                assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"
    read_only = await put(server, data, token=READER)
    assert read_only.status_code == 403 and read_only.json()["error"] == "read_only"
    impostor = await put(server, data, agent="bob")
    assert impostor.status_code == 400 and "alice" in impostor.json()["message"]
    assert (await get(server, sha(data))).status_code == 404  # none of them stored anything
    shared = await put(server, data, token=SHARED, agent="carol")
    assert shared.status_code == 201 and shared.json()["artifact"]["uploaded_by"] == "carol"


async def test_another_projects_artifact_is_not_found_though_its_bytes_are_stored(server, tmp_path):
    data = os.urandom(2048)
    settings = Settings(db_path=Path(server.db) if server.blobs else tmp_path / "x.db",
                        db_url=None if server.blobs else server.db, project="other", default_agent="zed")
    other = await Taskloom.open(settings)
    try:
        await uploads.upload(other, uploads.Source(content_base64=base64.b64encode(data).decode()),
                             name="secret.bin")
    finally:
        await other.close()
    hidden = await get(server, sha(data))
    assert hidden.status_code == 404 and hidden.json()["error"] == "not_found"
    assert PROJECT in hidden.json()["message"]


async def test_an_upload_over_the_limit_is_refused_while_it_streams(server):
    declared = await put(server, os.urandom(LIMIT + 1))
    assert declared.status_code == 413 and declared.json()["error"] == "too_large"
    # Chunked, so no length is declared: the refusal comes at the piece that passes the limit,
    # while the rest of the body is still unsent.
    head, piece = _put_head(server, sha(b"never"), chunked=True), os.urandom(256 * 1024)
    with socket.create_connection(_address(server)) as sock:
        sock.sendall(head)
        for _ in range(LIMIT // len(piece) + 1):
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        answer = _read_answer(sock)
    assert answer.startswith(b"HTTP/1.1 413") and b'"too_large"' in answer
    await _no_temp_files_within(server, 10)
    assert temp_files(server) == []


async def test_a_client_that_drops_mid_upload_leaves_nothing_behind(server):
    data = os.urandom(900 * 1024)
    with socket.create_connection(_address(server)) as sock:
        sock.sendall(_put_head(server, sha(data), length=len(data)))
        sock.sendall(data[: 300 * 1024])
        if server.blobs is not None:
            with anyio.fail_after(10):
                while not temp_files(server):  # the server has begun writing this upload
                    await anyio.sleep(0.01)
    await _no_temp_files_within(server, 10)
    assert (await get(server, sha(data))).status_code == 404
    assert (await put(server, data)).status_code == 201  # and the same bytes store fine after


async def test_download_headers_never_let_a_browser_run_an_artifact(server):
    cases = {
        "page.html": ("text/html", "application/octet-stream", "attachment"),
        "pic.svg": ("image/svg+xml", "application/octet-stream", "attachment"),
        "notes.txt": ("text/plain", "text/plain; charset=utf-8", "inline"),
        "dot.png": ("image/png", "image/png", "inline"),
    }
    for name, (declared, served, how) in cases.items():
        data = f"<script>alert(1)</script>{name}".encode()
        assert (await put(server, data, name=name, media_type=declared)).status_code == 201
        answer = await get(server, sha(data))
        assert answer.headers["content-type"] == served, name
        assert answer.headers["content-disposition"].startswith(how), name
        assert answer.headers["content-security-policy"].startswith("sandbox")
        assert answer.headers["x-taskloom-media-type"] == declared


async def test_quota_is_enforced_while_the_bytes_stream(tmp_path):
    db = tmp_path / "taskloom.db"
    env = {"TASKLOOM_TOKENS_FILE": str(tokens_file(tmp_path)), "TASKLOOM_ARTIFACT_QUOTA_BYTES": str(MiB)}
    with serving(tmp_path, "http", db, env=env) as (url, _, _):
        server = Server(url, url.removesuffix("/mcp"), str(db), tmp_path / "taskloom.db-artifacts")
        assert (await put(server, os.urandom(700 * 1024))).status_code == 201
        over = await put(server, os.urandom(400 * 1024))  # declared: refused before the body
        assert over.status_code == 413 and over.json()["details"]["left"] == MiB - 700 * 1024
        head, piece = _put_head(server, sha(b"x"), chunked=True), os.urandom(100 * 1024)
        with socket.create_connection(_address(server)) as sock:
            sock.sendall(head)
            for _ in range(4):  # 400 KiB, past the 324 KiB left; the terminating chunk never goes
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            answer = _read_answer(sock)
        assert answer.startswith(b"HTTP/1.1 413") and b"quota" in answer
        await _no_temp_files_within(server, 10)
        assert (await put(server, os.urandom(300 * 1024))).status_code == 201  # what is left still fits


def _address(server: Server) -> tuple[str, int]:
    host, port = server.base.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _put_head(server: Server, digest: str, *, length: int | None = None, chunked: bool = False) -> bytes:
    size = b"transfer-encoding: chunked" if chunked else b"content-length: %d" % length
    host = server.base.removeprefix("http://").encode()
    return (b"PUT /artifacts/%s?name=f.bin HTTP/1.1\r\nhost: %s\r\nauthorization: Bearer %s\r\n%s\r\n\r\n"
            % (digest.encode(), host, WRITE.encode(), size))


def _read_answer(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    got = b""
    while b"\r\n\r\n" not in got or not got.rstrip().endswith(b"}"):
        more = sock.recv(65536)
        if not more:
            break
        got += more
    return got


async def _no_temp_files_within(server: Server, seconds: float) -> None:
    """The server cleans up after a refused or dropped upload as soon as it notices; wait for that."""
    with anyio.fail_after(seconds):
        while temp_files(server):
            await anyio.sleep(0.01)


async def test_over_sse_the_tools_hand_out_the_same_urls(tmp_path):
    data = os.urandom(4096)
    env = {"TASKLOOM_TOKENS_FILE": str(tokens_file(tmp_path))}
    with serving(tmp_path, "sse", tmp_path / "taskloom.db", env=env) as (url, _, _):
        server = Server(url, url.removesuffix("/sse"), "", None)
        async with connect(url, "sse", WRITE) as client:
            ticket = (await client.call_tool("artifacts_upload", {"name": "s.bin", "sha256": sha(data)})).structured_content
            async with httpx.AsyncClient(headers=bearer(WRITE)) as http:
                assert (await http.put(ticket["upload_url"], content=data)).status_code == 201
            got = (await client.call_tool("artifacts_get", {"artifact": sha(data), "want": "url"})).structured_content
        assert got["url"] == server.url(sha(data))
        assert (await get(server, sha(data))).content == data


async def test_the_upload_urls_parameters_are_held_to_the_tools_rules_before_any_bytes_move(server):
    data = os.urandom(1024)
    # artifacts_upload takes at most 2000 characters of description; the URL must not take more.
    long = await put(server, data, description="d" * 2001)
    assert long.status_code == 413 and long.json()["error"] == "too_large"
    # A name that is not UTF-8 is refused, not stored as replacement characters.
    async with httpx.AsyncClient(headers=bearer(WRITE)) as http:
        garbled = await http.put(server.url(sha(data)) + "?name=%FF%FE.bin", content=data)
    assert garbled.status_code == 400 and garbled.json()["error"] == "invalid_input"
    assert (await get(server, sha(data))).status_code == 404
    fits = await put(server, data, description="d" * 2000)
    assert fits.status_code == 201 and len(fits.json()["artifact"]["description"]) == 2000


async def test_a_bad_range_is_ignored_and_one_past_the_end_is_refused_in_json(server):
    data = os.urandom(5000)
    assert (await put(server, data)).status_code == 201
    for garbled in ("bytes", "pages=0-10", "bytes=x-y", "bytes=20-10"):
        whole = await get(server, sha(data), range=garbled)
        assert whole.status_code == 200 and whole.content == data, garbled
    past = await get(server, sha(data), range="bytes=5000-")
    assert past.status_code == 416
    assert past.headers["content-range"] == "bytes */5000"
    assert past.headers["content-type"] == "application/json"
    assert past.json()["error"] == "invalid_input" and "5000" in past.json()["message"] and past.json()["hint"]


async def test_a_wrong_host_is_refused_in_json_on_the_artifact_routes(server):
    async with httpx.AsyncClient(headers={**bearer(WRITE), "host": "evil.example"}) as http:
        answer = await http.get(server.url("0" * 64))
    assert answer.status_code == 421
    assert answer.json()["error"] == "forbidden" and "Host" in answer.json()["message"] and answer.json()["hint"]


async def test_the_put_answer_leaves_out_the_empty_optional_fields(server):
    answer = await put(server, os.urandom(3000))
    assert answer.status_code == 201
    assert "upload_url" not in answer.json() and "message" not in answer.json()
    assert answer.json()["new"] is True and answer.json()["artifact"]["size"] == 3000


async def test_head_answers_the_size_and_type_without_a_body(server):
    data = os.urandom(4000)
    assert (await put(server, data, name="n.txt", media_type="text/plain")).status_code == 201
    async with httpx.AsyncClient(headers=bearer(READER)) as http:
        head = await http.head(server.url(sha(data)))
        missing = await http.head(server.url("1" * 64))
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == "4000" and head.headers["content-type"] == "text/plain; charset=utf-8"
    assert head.headers["accept-ranges"] == "bytes" and head.headers["etag"] == f'"{sha(data)}"'
    assert missing.status_code == 404
