"""Artifact throughput: a 10 MiB artifact up and down over stdio and HTTP, against the disk.

    .venv/bin/python -m tests.benchmarks.bench_artifacts [--mib 10] [--reps 5] [--base DIR]

Side by side in one run:
- the baseline: reading the same file from disk (page-cached, as the server's reads are);
- upload by `content_base64` over stdio and HTTP, and by `path` over stdio (no bytes on the wire);
- download by `artifacts_get` (base64) and by `resources/read` over stdio and HTTP, and by
  `artifacts_get(want="path")` plus a file read over stdio;
- over HTTP, the direct URLs (issue 17): `artifacts_get(want="url")` then a GET, and the
  client's sha256 of the file, `artifacts_upload(sha256=...)` then a PUT; each timed beside a
  disk read of the same file made just before it (the ratio is per round, so a load spike hits
  both sides), in wall time and in CPU (server process + this client), and beside the floor of
  any durable store: hash, write and fsync the same bytes locally;
- `--base DIR`: the same HTTP ways a checkout of the previous release offers (base64), in the
  same run, its server importing DIR/src;
- the extra database bytes per artifact (1,000 small distinct artifacts, each linked to a task).
Each upload uses fresh random bytes, so deduplication never shortcuts the work. The HTTP servers
run this checkout's src/ (not whatever `taskloom` the venv has installed).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from tests.benchmarks.common import (
    ROOT,
    checkpoint,
    child_env,
    fmt,
    http_server,
    median,
    open_app,
    serve_argv,
)

MIB = 1024 * 1024
# run_all's settings: --quick keeps the whole suite to a couple of minutes.
QUICK = {"mib": 2, "reps": 3, "small": 200}
FULL: dict[str, int] = {}


def _disk_read(path: Path) -> float:
    start = time.perf_counter()
    with path.open("rb") as f:
        f.read()
    return time.perf_counter() - start


async def _timed(fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> float:
    start = time.perf_counter()
    await fn(*args, **kwargs)
    return time.perf_counter() - start


async def _session_figures(client: Any, files: list[Path], by_path: bool) -> dict[str, float]:
    """Median seconds for each way up and down, on one open client session."""
    times: dict[str, list[float]] = {
        "up_base64": [], "up_path": [], "get_base64": [], "read_resource": [], "get_path": []
    }
    size = files[0].stat().st_size

    async def call(tool: str, **args: Any) -> dict[str, Any]:
        result = await client.call_tool(tool, args)
        if result.is_error:
            raise RuntimeError(f"{tool}: {result.content[0].text}")
        return result.structured_content

    for i, path in enumerate(files):
        encoded = base64.b64encode(path.read_bytes()).decode()
        t = await _timed(call, "artifacts_upload", name=f"up-{i}.bin", content_base64=encoded)
        times["up_base64"].append(t)
        uri = (await call("artifacts_list", limit=1))["artifacts"][0]["uri"]
        times["get_base64"].append(await _timed(call, "artifacts_get", artifact=uri, max_bytes=size))
        times["read_resource"].append(await _timed(client.read_resource, uri))
    if by_path:  # a local (stdio) caller can skip the wire both ways

        async def via_path(uri: str) -> None:
            local = (await call("artifacts_get", artifact=uri, want="path"))["path"]
            Path(local).read_bytes()

        for uri in [a["uri"] for a in (await call("artifacts_list", limit=len(files)))["artifacts"]]:
            times["get_path"].append(await _timed(via_path, uri))
        for i, path in enumerate(files):
            # Same bytes again by path would dedup: flip one byte so it is new content.
            fresh = path.with_suffix(".path")
            data = bytearray(path.read_bytes())
            data[0] ^= 0xFF
            fresh.write_bytes(bytes(data))
            times["up_path"].append(
                await _timed(call, "artifacts_upload", name=f"path-{i}.bin", path=str(fresh))
            )
    return {k: median(v) for k, v in times.items() if v}


async def _stdio(db: Path, files: list[Path], root: Path) -> dict[str, float]:
    from mcp import Client, StdioServerParameters

    argv = serve_argv(db)
    params = StdioServerParameters(
        command=argv[0], args=argv[1:], env=child_env(TASKLOOM_AGENT="bench-art", TASKLOOM_ROOTS=str(root))
    )
    async with Client(params, mode="legacy") as client:
        return await _session_figures(client, files, by_path=True)


async def _http(db: Path, files: list[Path], src: Path, direct: bool) -> dict[str, float]:
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    with http_server(db, "bench-art-http", src=src) as (url, proc):
        # The SDK client buffers at most 1 MiB per server-sent event unless told otherwise.
        async with (
            streamable_http_client(url, max_sse_event_size=None) as (read, write),
            ClientSession(read, write) as client,
        ):
            await client.initialize()
            figures = await _session_figures(client, files, by_path=False)
            if direct:
                figures |= await _direct_figures(client, files, proc.pid)
            return figures


def _cpu(pid: int) -> float:
    """CPU seconds of the server process plus this one so far."""
    import psutil

    server = psutil.Process(pid).cpu_times()
    return server.user + server.system + time.process_time()


def _durable_write(data: bytes, where: Path) -> None:
    """What any durable local store of these bytes costs: hash them, write, fsync, rename."""
    hashlib.sha256(data).hexdigest()
    temp = where.with_suffix(".tmp")
    with temp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, where)


def _raw(url: str, method: str, body: bytes) -> bytes:
    """One request over a bare socket, the answer's body read into one buffer (as `curl -o` does)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    head = f"{method} {target} HTTP/1.1\r\nhost: {parts.netloc}\r\ncontent-length: {len(body)}\r\n\r\n"
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(head.encode() + body if len(body) < 65536 else head.encode())
        if len(body) >= 65536:
            sock.sendall(body)
        got = b""
        while b"\r\n\r\n" not in got:
            got += sock.recv(65536)
        header, _, start = got.partition(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        length = int(next(line.split(b":", 1)[1] for line in header.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")))
        buf = bytearray(length)
        view = memoryview(buf)
        view[: len(start)] = start
        done = len(start)
        while done < length:
            done += sock.recv_into(view[done:])
    if status not in (200, 201):
        raise RuntimeError(f"{method}: {status} {bytes(buf[:300])!r}")
    return bytes(buf)


async def _direct_figures(client: Any, files: list[Path], pid: int) -> dict[str, float]:
    """Each way through the /artifacts URLs beside a disk read of the same file just before it:
    median seconds, and median per-round ratios to that read in wall time and in CPU."""
    import httpx2

    async def call(tool: str, **args: Any) -> dict[str, Any]:
        result = await client.call_tool(tool, args)
        if result.is_error:
            raise RuntimeError(f"{tool}: {result.content[0].text}")
        return result.structured_content

    rounds: dict[str, list[tuple[float, float, float, float]]] = {}

    def beside_disk(way: str, path: Path, wall: float, cpu: float, disk: tuple[float, float]) -> None:
        rounds.setdefault(way, []).append((wall, cpu, wall / disk[0], cpu / disk[1]))

    def disk_read(path: Path) -> tuple[float, float]:
        w, c = time.perf_counter(), time.process_time()
        with path.open("rb") as f:
            f.read()
        return time.perf_counter() - w, time.process_time() - c

    async with httpx2.AsyncClient(timeout=120) as http:
        for i, path in enumerate(files):
            fresh = path.with_suffix(".url")
            data = bytearray(path.read_bytes())
            data[1] ^= 0xFF  # new content: no deduplication
            fresh.write_bytes(bytes(data))
            disk_read(fresh)  # page-cached, as the server's blob reads are

            disk = disk_read(fresh)
            w, c = time.perf_counter(), _cpu(pid)
            body = fresh.read_bytes()
            ticket = await call("artifacts_upload", name=f"url-{i}.bin", sha256=hashlib.sha256(body).hexdigest())
            put_w, put_c = time.perf_counter(), _cpu(pid)
            answer = await http.put(ticket["upload_url"], content=body)
            if answer.status_code != 201:
                raise RuntimeError(f"PUT: {answer.status_code} {answer.text[:300]}")
            end_w, end_c = time.perf_counter(), _cpu(pid)
            beside_disk("up_url", fresh, end_w - w, end_c - c, disk)
            beside_disk("up_put_only", fresh, end_w - put_w, end_c - put_c, disk)

            disk = disk_read(fresh)
            w, c = time.perf_counter(), time.process_time()
            _durable_write(body, fresh.with_suffix(".copy"))
            beside_disk("durable_write_floor", fresh, time.perf_counter() - w, time.process_time() - c, disk)

            disk = disk_read(fresh)
            w, c = time.perf_counter(), _cpu(pid)
            got = await call("artifacts_get", artifact=answer.json()["artifact"]["uri"], want="url")
            get_w, get_c = time.perf_counter(), _cpu(pid)
            down = await http.get(got["url"])
            if down.content != body:
                raise RuntimeError("GET returned other bytes")
            end_w, end_c = time.perf_counter(), _cpu(pid)
            beside_disk("get_url", fresh, end_w - w, end_c - c, disk)
            beside_disk("get_only", fresh, end_w - get_w, end_c - get_c, disk)

            # The same GET and PUT from a client that only moves bytes (as curl does): what the
            # server costs, without httpx's own Python per 64 KiB.
            disk = disk_read(fresh)
            w, c = time.perf_counter(), _cpu(pid)
            if await anyio.to_thread.run_sync(_raw, got["url"], "GET", b"") != body:
                raise RuntimeError("raw GET returned other bytes")
            beside_disk("get_raw_client", fresh, time.perf_counter() - w, _cpu(pid) - c, disk)
            data[2] ^= 0xFF
            other = bytes(data)
            ticket = await call("artifacts_upload", name=f"raw-{i}.bin", sha256=hashlib.sha256(other).hexdigest())
            disk = disk_read(fresh)
            w, c = time.perf_counter(), _cpu(pid)
            await anyio.to_thread.run_sync(_raw, ticket["upload_url"], "PUT", other)
            beside_disk("put_raw_client", fresh, time.perf_counter() - w, _cpu(pid) - c, disk)
    out: dict[str, float] = {}
    for way, got_rounds in rounds.items():
        out[f"{way}_s"] = median([r[0] for r in got_rounds])
        out[f"{way}_x_disk_wall"] = median([r[2] for r in got_rounds])
        out[f"{way}_x_disk_cpu"] = median([r[3] for r in got_rounds])
    return out


async def _db_bytes_per_artifact(db: Path, count: int) -> float:
    from taskloom.models import Plan
    from taskloom.services import artifacts, planning, uploads

    async with open_app(db) as app:
        await app.write(planning.import_plan, Plan.model_validate({"tasks": [{"key": "t", "title": "Holder"}]}))
        checkpoint(db)
        before = db.stat().st_size
        for i in range(count):
            await uploads.upload(
                app, uploads.Source(content=f"artifact {i}"), name=f"a{i}.txt", links=["task:T-1"]
            )
        assert (await app.read(artifacts.listing, limit=1)).total == count
    checkpoint(db)
    return (db.stat().st_size - before) / count


def run(
    mib: int = 10, reps: int = 5, small: int = 1000, workdir: Path | None = None, base: Path | None = None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        root = Path(tmp)
        files = []
        for i in range(reps):
            path = root / f"blob-{i}.bin"
            path.write_bytes(os.urandom(mib * MIB))
            files.append(path)
        disk = median([_disk_read(p) for p in files for _ in range(3)])
        stdio = anyio.run(_stdio, root / "stdio.db", files, root)
        http = anyio.run(_http, root / "http.db", files, ROOT / "src", True)
        old = anyio.run(_http, root / "base.db", files, base / "src", False) if base else {}
        per_artifact = anyio.run(_db_bytes_per_artifact, root / "small.db", small)
    size = mib * MIB
    figures: dict[str, Any] = {"size_mib": mib, "reps": reps, "disk_read_mib_s": size / disk / MIB}
    for transport, got in (("stdio", stdio), ("http", http), ("base_http", old)):
        for way, seconds in got.items():
            if "_x_disk" in way or way.endswith("_s"):  # the direct ways carry their own ratios
                figures[f"{transport}_{way}"] = seconds
                continue
            figures[f"{transport}_{way}_mib_s"] = size / seconds / MIB
            figures[f"{transport}_{way}_x_disk"] = seconds / disk
    figures["db_bytes_per_artifact"] = per_artifact
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=10)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--base", type=Path, help="a checkout of the previous release, measured in the same run")
    args = parser.parse_args()
    figures = run(args.mib, args.reps, base=args.base)
    for key, value in figures.items():
        print(f"{key:34} {fmt(value)}")


if __name__ == "__main__":
    main()
