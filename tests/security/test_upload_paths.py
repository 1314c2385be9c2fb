"""Path uploads read only inside the roots, and say nothing about what lies outside them.

One real `taskloom serve --transport http` with a root (TASKLOOM_ROOTS), driven by the SDK's
client; `taskloom artifacts put` as a subprocess. Beside the root is a directory the server
must never read, holding one file.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client

from taskloom.server.errors import error_of
from tests.security.common import rows
from tests.server.test_transports import PROJECT, TASKLOOM, serving

SECRET = b"outside-secret-bytes-7f3a\n"


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, Path, Path, Path]]:
    """(url, db, root, outside) of one server for the module."""
    tmp = tmp_path_factory.mktemp("uploads").resolve()
    root, outside = tmp / "root", tmp / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    (root / "door").symlink_to(outside, target_is_directory=True)
    (root / "to-secret").symlink_to(outside / "secret.txt")
    (root / "to-nothing").symlink_to(outside / "nothing.txt")
    db = tmp / "t.db"
    with serving(tmp, "http", db, env={"TASKLOOM_ROOTS": str(root)}) as (url, _, _):
        yield url, db, root, outside


async def upload_error(url: str, path: str) -> dict:
    async with Client(url) as c:
        result = await c.call_tool("artifacts_upload", {"name": "f.txt", "path": path})
    assert result.is_error, f"{path} was accepted"
    return {**error_of(result), "text": result.content[0].text}


async def test_a_hard_link_inside_the_root_to_a_file_outside_is_refused_with_what_to_do(served):
    url, db, root, outside = served
    os.link(outside / "secret.txt", root / "linked.txt")
    error = await upload_error(url, "linked.txt")
    assert error["code"] == "invalid_input"
    assert "hard-linked" in error["message"] and "cp, not ln" in error["hint"]
    sha = hashlib.sha256(SECRET).hexdigest()
    assert rows(db, "SELECT count(*) FROM artifacts WHERE sha256 = ?", sha) == [(0,)]
    assert not [p for p in Path(f"{db}-artifacts").rglob("*") if p.is_file() and p.read_bytes() == SECRET]


async def test_a_file_with_two_names_both_inside_the_root_is_refused_too(served):
    """No portable call lists a file's other names, so whether they are inside cannot be told."""
    url, _, root, _ = served
    (root / "twice.txt").write_text("inside\n")
    os.link(root / "twice.txt", root / "twice-again.txt")
    assert (await upload_error(url, "twice.txt"))["code"] == "invalid_input"


# Pairs of paths outside the root, the first naming a file that exists, the second nothing.
OUTSIDE_PAIRS = {
    "absolute": ("{outside}/secret.txt", "{outside}/nothing.txt"),
    "dot-dot": ("../outside/secret.txt", "../outside/nothing.txt"),
    "symlinked directory": ("door/secret.txt", "door/nothing.txt"),
    "symlinked file": ("to-secret", "to-nothing"),
    "a missing directory on the way": ("{outside}/secret.txt", "{outside}/no/such/dir.txt"),
}


@pytest.mark.parametrize("how", OUTSIDE_PAIRS)
async def test_an_outside_file_that_exists_and_one_that_does_not_get_the_same_answer(served, how: str):
    url, _, _, outside = served
    there, missing = (p.format(outside=outside) for p in OUTSIDE_PAIRS[how])
    first, second = await upload_error(url, there), await upload_error(url, missing)
    assert first["code"] == second["code"] == "invalid_input"
    assert first["text"].replace(there, "<path>") == second["text"].replace(missing, "<path>")
    assert "outside the directories" in first["message"]


async def test_a_missing_file_inside_the_root_is_not_found(served):
    url, _, root, _ = served
    for path in ("missing.txt", str(root / "sub" / "missing.txt")):
        assert (await upload_error(url, path))["code"] == "not_found"


def test_the_cli_whose_root_is_slash_uploads_a_hard_linked_file(served, tmp_path):
    """A person at the shell may read any file (the CLI's root is /): nothing lies outside it."""
    _, db, _, _ = served
    (tmp_path / "a.txt").write_text("shell user's file\n")
    os.link(tmp_path / "a.txt", tmp_path / "b.txt")
    done = subprocess.run(
        [TASKLOOM, "artifacts", "put", str(tmp_path / "b.txt"), "--db", str(db), "--project", PROJECT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "stored" in done.stdout
