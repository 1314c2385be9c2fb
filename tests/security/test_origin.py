"""A browser `Origin` is accepted only from the server's own origin or one named by `--allow-origin`.

A page on another local port (`http://localhost:3000`) must not drive a loopback server that
needs no token. Real `taskloom serve` processes on `--port 0`, so "own origin" has to mean the
port the OS actually picked; raw requests (httpx2) check statuses exactly. Requests with no
Origin at all (CLI and SDK clients, the Inspector) are unaffected.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from tests.security.common import JSON_IN
from tests.server.test_http_security import CREATE, initialize, port_of, task_count
from tests.server.test_transports import PROJECT, TASKLOOM, terminate

OTHER_PAGES = ["http://localhost:3000", "http://127.0.0.1:3000", "http://[::1]:3000", "http://localhost"]


@contextmanager
def serving_any_port(
    tmp_path: Path, transport: str, *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[str, Path]]:
    """`taskloom serve --port 0 ARGS...`: yields (the URL it prints, with the port the OS picked; db)."""
    db = tmp_path / f"{transport}.db"
    command = [TASKLOOM, "serve", "--transport", transport, "--port", "0", "--db", str(db), "--project", PROJECT]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TASKLOOM_")}
    proc = subprocess.Popen(
        [*command, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**clean, **(env or {})},
        cwd=tmp_path,
    )
    try:
        seen = []
        for line in proc.stderr:  # the server says where it listens once it does; EOF if it dies
            seen.append(line)
            if found := re.search(r"taskloom serving \S+ on (\S+)", line):
                break
        else:
            pytest.fail(f"the server exited with {proc.wait()} before listening:\n{''.join(seen)}")
        yield found.group(1), db
    finally:
        terminate(proc)
        proc.stderr.close()


async def post_status(url: str, origin: str | None) -> int:
    """The status of a stateless task_create and of a handshake-era initialize, sent with `origin`."""
    headers, body = CREATE
    extra = {"origin": origin} if origin is not None else {}
    async with httpx2.AsyncClient(timeout=10) as http:
        modern = await http.post(url, headers={**headers, **extra}, json=body)
        legacy = await http.post(url, headers={**JSON_IN, **extra}, json=initialize())
    assert modern.status_code == legacy.status_code, (origin, modern.text, legacy.text)
    if modern.status_code == 403:
        assert "Invalid Origin header" in modern.text
    return modern.status_code


async def sse_status(url: str, origin: str) -> int:
    headers = {"accept": "text/event-stream", "origin": origin}
    async with httpx2.AsyncClient(timeout=10) as http, http.stream("GET", url, headers=headers) as response:
        return response.status_code


async def test_a_page_on_another_local_port_is_refused_and_the_servers_own_origin_accepted(tmp_path):
    with serving_any_port(tmp_path, "http") as (url, db):
        port = port_of(url)
        assert port != 0
        for origin in [*OTHER_PAGES, f"http://localhost:{port + 1}", f"https://localhost:{port}"]:
            assert await post_status(url, origin) == 403, origin
        assert task_count(db) == 0
        own = [f"http://127.0.0.1:{port}", f"http://localhost:{port}", f"http://[::1]:{port}", None]
        for origin in own:
            assert await post_status(url, origin) == 200, origin
        assert task_count(db) == len(own)


async def test_sse_refuses_a_page_on_another_local_port_and_accepts_its_own_origin(tmp_path):
    with serving_any_port(tmp_path, "sse") as (url, _):
        port = port_of(url)
        for origin in OTHER_PAGES:
            assert await sse_status(url, origin) == 403, origin
        assert await sse_status(url, f"http://localhost:{port}") == 200


async def test_origins_named_by_allow_origin_or_the_environment_are_accepted_and_no_others(tmp_path):
    flags = ["--allow-origin", "http://localhost:3000", "--allow-origin", "HTTPS://Tools.Example:443/"]
    with serving_any_port(tmp_path, "http", *flags) as (url, _):
        assert await post_status(url, "http://localhost:3000") == 200
        assert await post_status(url, "https://tools.example") == 200
        for origin in ["http://127.0.0.1:3000", "http://localhost:3001", "http://tools.example"]:
            assert await post_status(url, origin) == 403, origin

    env = {"TASKLOOM_ALLOW_ORIGINS": "http://localhost:6274, http://[::1]:6274"}
    with serving_any_port(tmp_path, "http", env=env) as (url, _):
        assert await post_status(url, "http://localhost:6274") == 200
        assert await post_status(url, "http://[::1]:6274") == 200
        assert await post_status(url, "http://localhost:3000") == 403
        assert await post_status(url, f"http://localhost:{port_of(url)}") == 200


@pytest.mark.parametrize(
    "value", ["localhost:3000", "http://localhost:3000/app", "*", "ftp://localhost", "http://", "http://h:99999"]
)
def test_an_allow_origin_that_is_not_an_origin_is_refused_before_anything_starts(tmp_path, value):
    db = tmp_path / "never.db"
    args = ["serve", "--transport", "http", "--port", "0", "--db", str(db), "--allow-origin", value]
    done = subprocess.run(
        [TASKLOOM, *args], capture_output=True, text=True, timeout=60, cwd=tmp_path, stdin=subprocess.DEVNULL, check=False
    )
    assert done.returncode == 2, done.stderr
    assert value in done.stderr and "scheme://host[:port]" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not db.exists()
