"""Artifact uploads against real `taskloom serve` processes: a server killed mid-upload, and
path uploads over HTTP, which are refused unless the server was given roots.

The killed server is driven with raw JSON-RPC over its pipes, so that the test holds its pid and
can SIGKILL it the moment it reports the first stored megabyte. The HTTP servers are reached
with the SDK's client.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import threading
from pathlib import Path
from typing import Any

from mcp import Client
from mcp_types.version import LATEST_HANDSHAKE_VERSION

from taskloom.clock import ManualClock
from taskloom.config import Settings
from taskloom.server import build_server
from taskloom.services.app import Taskloom
from tests.conftest import call, call_error
from tests.server.test_transports import (
    PROJECT,
    TASKLOOM,
    free_port,
    serving,
    terminate,
    wait_until_listening,
)

MiB = 1024 * 1024
BIG = 20 * MiB


def rpc(proc: subprocess.Popen, message: dict[str, Any]) -> None:
    proc.stdin.write(json.dumps({"jsonrpc": "2.0", **message}).encode() + b"\n")
    proc.stdin.flush()


def next_message(proc: subprocess.Popen) -> dict[str, Any]:
    line = proc.stdout.readline()
    assert line, "the server closed its stdout"
    return json.loads(line)


def kill_on_first_progress(tmp_path: Path, db: Path, log: Path) -> None:
    """Start a stdio server, upload the big file by path, SIGKILL the server at its first progress report."""
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [TASKLOOM, "serve", "--transport", "stdio", "--db", str(db), "--project", PROJECT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            cwd=tmp_path,
            env={**os.environ, "TASKLOOM_AGENT": "doomed"},
        )
    watchdog = threading.Timer(60, proc.kill)  # a hung server fails the test instead of hanging it
    watchdog.start()
    try:
        rpc(proc, {"id": 1, "method": "initialize", "params": {
            "protocolVersion": LATEST_HANDSHAKE_VERSION, "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}}})
        assert next_message(proc)["id"] == 1
        rpc(proc, {"method": "notifications/initialized"})
        rpc(proc, {"id": 2, "method": "tools/call", "params": {
            "name": "artifacts_upload", "arguments": {"name": "big.bin", "path": "big.bin"},
            "_meta": {"progressToken": "up"}}})
        message = next_message(proc)
        assert message.get("method") == "notifications/progress", message
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        watchdog.cancel()
        terminate(proc)
        proc.stdin.close()
        proc.stdout.close()


async def test_a_server_killed_mid_upload_leaves_no_partial_blob_or_row_and_gc_clears_its_temp_file(
    tmp_path, clock: ManualClock
):
    data = os.urandom(BIG)
    (tmp_path / "big.bin").write_bytes(data)
    db = tmp_path / "t.db"
    kill_on_first_progress(tmp_path, db, tmp_path / "serve.log")

    blobs_root = tmp_path / "t.db-artifacts"
    temps = list((blobs_root / "tmp").iterdir())
    assert len(temps) == 1 and 0 < temps[0].stat().st_size < BIG, "the kill did not land mid-upload"
    for blob in blobs_root.glob("??/*"):  # anything visible is whole
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.parent.name + blob.name
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT count(*) FROM artifacts").fetchone()[0] == 0
    finally:
        conn.close()

    settings = Settings(db_path=db, project=PROJECT, default_agent="after", artifact_roots=(tmp_path,))
    app = await Taskloom.open(settings, clock)
    try:
        async with Client(build_server(app), mode="legacy") as client:
            swept = await call(client, "artifacts_gc", older_than_seconds=0)
            assert swept["temp_files_removed"] == 1
            assert list((blobs_root / "tmp").iterdir()) == []
            # The interrupted upload can simply be done again.
            again = await call(client, "artifacts_upload", name="big.bin", path="big.bin")
            assert again["new"] is True and again["artifact"]["sha256"] == hashlib.sha256(data).hexdigest()
    finally:
        await app.close()


# ---------------------------------------------------------------- path uploads over HTTP


async def test_an_http_server_without_roots_refuses_path_uploads_and_local_paths(tmp_path):
    (tmp_path / "notes.txt").write_text("in the server's working directory")
    with serving(tmp_path, "http", tmp_path / "t.db") as (url, _, _):
        async with Client(url) as client:
            for path in ("notes.txt", str(tmp_path / "notes.txt")):
                error = await call_error(client, "artifacts_upload", name="n.txt", path=path)
                assert error["code"] == "invalid_input" and "--root" in error["hint"]
            art = (await call(client, "artifacts_upload", name="n.txt", content="bytes are fine"))["artifact"]
            local = await call_error(client, "artifacts_get", artifact=art["uri"], want="path")
            assert local["code"] == "invalid_input"
    assert not list((tmp_path / "t.db-artifacts").glob("tmp/*"))


def serving_with_root(tmp_path: Path, db: Path, root: Path):
    """`taskloom serve --transport http --root ROOT`: `serving` does not pass extra flags."""
    port = free_port()
    log = tmp_path / f"serve-root-{port}.log"
    args = [TASKLOOM, "serve", "--transport", "http", "--port", str(port), "--db", str(db), "--project", PROJECT]
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [*args, "--root", str(root)], stdin=subprocess.DEVNULL, stdout=err, stderr=err, cwd=tmp_path,
            env={k: v for k, v in os.environ.items() if not k.startswith("TASKLOOM_")},
        )
    try:
        wait_until_listening(proc, port, log)
    except BaseException:
        terminate(proc)
        raise
    return f"http://127.0.0.1:{port}/mcp", proc


async def test_an_http_server_given_a_root_reads_paths_inside_it_and_nothing_outside(tmp_path):
    root = tmp_path / "shared"
    root.mkdir()
    (root / "report.md").write_text("# from the root\n")
    (root / "escape.md").symlink_to(tmp_path / "secret.md")
    (tmp_path / "secret.md").write_text("not for you")
    url, proc = serving_with_root(tmp_path, tmp_path / "t.db", root)
    try:
        async with Client(url) as client:
            inside = await call(client, "artifacts_upload", name="report.md", path="report.md", agent="remote")
            got = await call(client, "artifacts_get", artifact=inside["artifact"]["uri"])
            assert got["text"] == "# from the root\n"
            for path in ("../secret.md", str(tmp_path / "secret.md"), "escape.md", "/etc/hostname"):
                error = await call_error(client, "artifacts_upload", name="x.md", path=path, agent="remote")
                assert error["code"] == "invalid_input", (path, error)
    finally:
        terminate(proc)


