"""Artifact throughput: a 10 MiB artifact up and down over stdio and HTTP, against the disk.

    .venv/bin/python -m tests.benchmarks.bench_artifacts [--mib 10] [--reps 5]

Side by side in one run:
- the baseline: reading the same file from disk (page-cached, as the server's reads are);
- upload by `content_base64` over stdio and HTTP, and by `path` over stdio (no bytes on the wire);
- download by `artifacts_get` (base64) and by `resources/read` over stdio and HTTP, and by
  `artifacts_get(want="path")` plus a file read over stdio;
- the extra database bytes per artifact (1,000 small distinct artifacts, each linked to a task).
Each upload uses fresh random bytes, so deduplication never shortcuts the work.
"""

from __future__ import annotations

import argparse
import base64
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from tests.benchmarks.common import checkpoint, child_env, fmt, http_server, median, open_app, serve_argv

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


async def _http(db: Path, files: list[Path]) -> dict[str, float]:
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    with http_server(db, "bench-art-http") as (url, _):
        # The SDK client buffers at most 1 MiB per server-sent event unless told otherwise.
        async with (
            streamable_http_client(url, max_sse_event_size=None) as (read, write),
            ClientSession(read, write) as client,
        ):
            await client.initialize()
            return await _session_figures(client, files, by_path=False)


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


def run(mib: int = 10, reps: int = 5, small: int = 1000, workdir: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        root = Path(tmp)
        files = []
        for i in range(reps):
            path = root / f"blob-{i}.bin"
            path.write_bytes(os.urandom(mib * MIB))
            files.append(path)
        disk = median([_disk_read(p) for p in files for _ in range(3)])
        stdio = anyio.run(_stdio, root / "stdio.db", files, root)
        http = anyio.run(_http, root / "http.db", files)
        per_artifact = anyio.run(_db_bytes_per_artifact, root / "small.db", small)
    size = mib * MIB
    figures: dict[str, Any] = {"size_mib": mib, "reps": reps, "disk_read_mib_s": size / disk / MIB}
    for transport, got in (("stdio", stdio), ("http", http)):
        for way, seconds in got.items():
            figures[f"{transport}_{way}_mib_s"] = size / seconds / MIB
            figures[f"{transport}_{way}_x_disk"] = seconds / disk
    figures["db_bytes_per_artifact"] = per_artifact
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=10)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    figures = run(args.mib, args.reps)
    for key, value in figures.items():
        print(f"{key:34} {fmt(value)}")


if __name__ == "__main__":
    main()
