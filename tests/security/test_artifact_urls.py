"""`/artifacts/{sha256}` is an address, not a path: nothing but 64 lowercase hex digits names a
blob, so `..`, encoded slashes, NUL, case tricks and trailing parts all answer 404 and neither
read nor write any file. Requests go over a raw socket, so the path reaches the server exactly
as written (HTTP clients normalise `..` away). Host and Origin are checked as for /mcp.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.common import entry, write_tokens
from tests.server.test_transports import serving

TOKEN = "writer-token-0123456789abcdef"
DATA = b"the one real artifact\n"
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, Path]]:
    where = tmp_path_factory.mktemp("artifact-urls")
    (where / "secret.txt").write_text("not an artifact")
    tokens = write_tokens(where / "tokens", entry(TOKEN))
    with serving(where, "http", where / "taskloom.db", env={"TASKLOOM_TOKENS_FILE": str(tokens)}) as (url, _, _):
        host, port = url.removeprefix("http://").removesuffix("/mcp").rsplit(":", 1)
        status, _ = request(host, int(port), "PUT", f"/artifacts/{SHA}?name=real.txt", DATA)
        assert status == 201
        yield host, int(port), where


def request(
    host: str, port: int, method: str, target: str, body: bytes = b"", extra: dict[str, str] | None = None
) -> tuple[int, bytes]:
    headers = {"host": f"{host}:{port}", "authorization": f"Bearer {TOKEN}", "content-length": str(len(body)),
               "connection": "close", **(extra or {})}
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(head.encode("latin-1") + body)
        answer = b""
        while more := sock.recv(65536):
            answer += more
    status = int(answer.split(b" ", 2)[1])
    return status, answer.partition(b"\r\n\r\n")[2]


TRAVERSALS = [
    "/artifacts/../secret.txt",
    "/artifacts/..%2fsecret.txt",
    "/artifacts/%2e%2e/%2e%2e/etc/passwd",
    f"/artifacts/{SHA}/../secret.txt",
    f"/artifacts/{SHA}/",
    f"/artifacts/{SHA}%00",
    f"/artifacts/{SHA}%0A",
    f"/artifacts/{SHA.upper()}",
    f"/artifacts/{SHA[:63]}",
    f"/artifacts/{SHA[:2]}/{SHA[2:]}",
    f"/artifacts/tmp/{SHA}",
    "/artifacts/",
    "/artifacts",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_anything_but_a_sha256_is_not_found_and_reads_no_file(served, target):
    host, port, _ = served
    status, body = request(host, port, "GET", target)
    assert status == 404, (target, body)
    assert b'"not_found"' in body and b"not an artifact" not in body and DATA not in body


@pytest.mark.parametrize("target", TRAVERSALS)
def test_an_upload_to_anything_but_a_sha256_writes_no_file(served, target):
    host, port, where = served
    before = sorted(p for p in where.rglob("*") if not p.name.startswith("serve-"))
    status, body = request(host, port, "PUT", target + "?name=evil.txt", b"evil")
    assert status == 404, (target, body)
    assert sorted(p for p in where.rglob("*") if not p.name.startswith("serve-")) == before
    assert (where / "secret.txt").read_text() == "not an artifact"


def test_a_name_with_directories_is_refused_before_any_bytes_move(served):
    host, port, where = served
    data = os.urandom(64)
    digest = hashlib.sha256(data).hexdigest()
    status, body = request(host, port, "PUT", f"/artifacts/{digest}?name=..%2F..%2Fevil.html", data)
    assert status == 400 and b'"invalid_input"' in body
    assert request(host, port, "GET", f"/artifacts/{digest}")[0] == 404
    assert not list(where.parent.glob("evil.html")) and not list(where.glob("evil.html"))


def test_a_foreign_host_or_origin_is_refused_as_on_mcp(served):
    host, port, _ = served
    assert request(host, port, "GET", f"/artifacts/{SHA}", b"", {"host": "evil.example"})[0] == 421
    assert request(host, port, "GET", f"/artifacts/{SHA}", b"", {"origin": "http://evil.example"})[0] == 403
    assert request(host, port, "PUT", f"/artifacts/{SHA}?name=x", DATA, {"origin": "http://localhost:1"})[0] == 403
    assert request(host, port, "GET", f"/artifacts/{SHA}")[0] == 200
