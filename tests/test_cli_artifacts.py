"""`taskloom artifacts put|ls|get` as a person runs them: the console script as a subprocess on
a real SQLite file, bytes in and out unchanged, and what it stored visible to MCP clients.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client

from taskloom.cli.main import main
from taskloom.config import Settings
from taskloom.server import build_server
from taskloom.services.app import Taskloom
from tests.conftest import call
from tests.server.test_transports import TASKLOOM

PROJECT = "cli"
BINARY = bytes(range(256)) * 3 + b"\x00\xff trailing"


def taskloom(tmp_path: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKLOOM_")}
    env["TASKLOOM_AGENT"] = "person"
    return subprocess.run(
        [TASKLOOM, "artifacts", *args, "--db", str(tmp_path / "t.db"), "--project", PROJECT],
        check=False,
        input=stdin,
        capture_output=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )


def ok(tmp_path: Path, *args: str, stdin: bytes = b"") -> bytes:
    done = taskloom(tmp_path, *args, stdin=stdin)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


async def test_put_ls_and_get_as_subprocesses_round_trip_a_file_and_stdin_byte_for_byte(tmp_path):
    (tmp_path / "report.md").write_text("# Report\n\nnaïve ✓\n", encoding="utf-8")
    sha = hashlib.sha256(BINARY).hexdigest()

    first = ok(tmp_path, "put", "report.md").decode()
    assert first.startswith("taskloom://artifacts/") and "text/markdown" in first and "(stored)" in first
    piped = ok(tmp_path, "put", "-", "--name", "dump.bin", stdin=BINARY).decode()
    assert f"taskloom://artifacts/{sha}" in piped and "application/octet-stream" in piped

    table = ok(tmp_path, "ls").decode()
    assert sha[:12] in table and "report.md" in table and "dump.bin" in table
    assert ok(tmp_path, "get", sha[:12]) == BINARY  # to stdout, by the prefix ls shows

    # What the person stored, an agent reads.
    settings = Settings(db_path=tmp_path / "t.db", project=PROJECT, default_agent="agent")
    app = await Taskloom.open(settings)
    try:
        async with Client(build_server(app), mode="legacy") as client:
            got = await call(client, "artifacts_get", artifact=sha, want="base64")
            assert base64.b64decode(got["base64"]) == BINARY and got["artifact"]["uploaded_by"] == "person"
    finally:
        await app.close()


# ---------------------------------------------------------------- the rest in-process (each subprocess costs ~1 s of CPU)


@pytest.fixture
def cli(tmp_path, monkeypatch, capsysbinary):
    """Run `taskloom artifacts ...` through main(); returns (exit code, stdout bytes, stderr text)."""
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("TASKLOOM_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TASKLOOM_AGENT", "person")

    def run(*args: str, stdin: bytes = b"") -> tuple[int, bytes, str]:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        code = main(["artifacts", *args, "--db", str(tmp_path / "t.db"), "--project", PROJECT])
        out, err = capsysbinary.readouterr()
        return code, out, err.decode()

    return run


def test_get_writes_the_bytes_to_a_file_given_by_uri(cli, tmp_path):
    out = cli("put", "-", "--name", "dump.bin", stdin=BINARY)[1]
    uri = out.split()[0].decode()
    assert cli("get", uri, "-o", "copy.bin")[0] == 0
    assert (tmp_path / "copy.bin").read_bytes() == BINARY


def test_putting_the_same_file_again_says_it_was_already_stored(cli, tmp_path):
    (tmp_path / "a.txt").write_text("same")
    assert b"(stored)" in cli("put", "a.txt")[1]
    assert b"already stored; links added" in cli("put", "a.txt", "--name", "other.txt")[1]


def test_ls_json_filters_and_get_info_show_the_metadata(cli, tmp_path):
    (tmp_path / "report.md").write_text("# r")
    (tmp_path / "data.csv").write_text("a,b")
    cli("put", "report.md", "--description", "weekly")
    cli("put", "data.csv", "--type", "text/csv")
    code, out, _ = cli("ls", "--json", "--name", "*.md")
    listed = json.loads(out)
    assert code == 0 and [a["name"] for a in listed["artifacts"]] == ["report.md"] and listed["total"] == 1
    assert [a["name"] for a in json.loads(cli("ls", "--json", "--type", "text/csv")[1])["artifacts"]] == ["data.csv"]
    info = json.loads(cli("get", listed["artifacts"][0]["sha256"], "--info")[1])
    assert (info["name"], info["description"], info["links"], info["uploaded_by"]) == (
        "report.md", "weekly", ["project"], "person"
    )


def test_cli_errors_are_one_line_with_exit_code_2_and_store_nothing(cli, tmp_path):
    cases = [
        ("get", "abcdef123456"),  # no such artifact
        ("get", "abc"),  # prefix too short
        ("put", "missing.txt"),
        ("put", "-", "--link", "task:T-9"),
        ("put", "-", "--name", "a/b"),
        ("put", "-", "--type", "nonsense"),
    ]
    for args in cases:
        code, _, err = cli(*args)
        assert code == 2 and err.startswith("taskloom: ") and err.count("\n") == 1, (args, err)
    assert cli("ls")[1] == b"no artifacts\n"
