"""No path stores a secret: each free-text field, written through each way in, is masked on disk.

One real `taskloom serve` over streamable HTTP for the module, driven by the SDK's client, and the
CLI (`taskloom import`, `taskloom artifacts put`) run as subprocesses on the same database. After
each write the raw `.db`, `-wal` and `-shm` files are read: the secret must be absent and a marker
word written beside it present (so the scan is known to see what was written). Each case has its
own secret and marker, so a failure names its field and path.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from taskloom.server.errors import error_of
from tests.conftest import disk_bytes
from tests.security.common import rows
from tests.server.test_transports import PROJECT, TASKLOOM, serving

PLAN_FIELDS = [
    "stream.name",
    "stream.description",
    "sprint.title",
    "sprint.goal",
    "role.name",
    "role.instructions",
]
ARTIFACT_FIELDS = ["artifact.name", "artifact.description"]
CASES = (
    [(f, "stream_create") for f in ("stream.name", "stream.description")]
    + [(f, "sprint_create") for f in ("sprint.title", "sprint.goal")]
    + [(f, "plan_import") for f in PLAN_FIELDS]
    + [(f, "taskloom import") for f in PLAN_FIELDS]
    + [(f, "artifacts_upload") for f in ARTIFACT_FIELDS]
    + [(f, "taskloom artifacts put") for f in ARTIFACT_FIELDS]
    + [("task.reason", "task_review approve"), ("task.title", "task_update")]
)


def secret_of(field: str, path: str) -> str:
    """A fake GitHub token of its own per case (the redactor knows the ghp_ format)."""
    return "ghp_" + hashlib.sha256(f"{field}|{path}".encode()).hexdigest()[:36]


def marker_of(field: str, path: str) -> str:
    return "zebracorn" + hashlib.sha256(f"marker|{field}|{path}".encode()).hexdigest()[:12]


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, Path, Path]]:
    """(url, db, a scratch directory) of one server for the module."""
    tmp = tmp_path_factory.mktemp("redaction")
    db = tmp / "t.db"
    with serving(tmp, "http", db) as (url, _, _):
        yield url, db, tmp


def cli(db: Path, *args: str) -> str:
    done = subprocess.run(
        [TASKLOOM, *args, "--db", str(db), "--project", PROJECT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def plan_with(field: str, text: str, n: str) -> dict[str, Any]:
    """A plan with `text` in `field` (on a stream, sprint or role of its own, coded by `n`)."""
    kind, attr = field.split(".")
    if kind == "role":
        return {"roles": [{"slug": f"role-{n}", attr: text}]}
    return {f"{kind}s": [{"code": f"{kind}-{n}", attr: text}]}


async def ok(c: Client, tool: str, **args: Any) -> dict[str, Any]:
    result = await c.call_tool(tool, args)
    assert not result.is_error, f"{tool}: {result.content[0].text}"
    return result.structured_content


async def write(path: str, field: str, text: str, n: str, c: Client, db: Path, tmp: Path) -> None:
    kind, attr = field.split(".")
    if path in ("stream_create", "sprint_create"):
        await ok(c, path, code=f"{kind}-{n}", **{attr: text})
    elif path == "plan_import":
        await ok(c, "plan_import", **plan_with(field, text, n))
    elif path == "taskloom import":
        plan = tmp / f"plan-{n}.json"
        plan.write_text(json.dumps(plan_with(field, text, n)), encoding="utf-8")
        cli(db, "import", str(plan))
    elif path == "artifacts_upload":
        name, description = (f"{text}.txt", None) if attr == "name" else ("notes.txt", text)
        await ok(c, "artifacts_upload", name=name, content=f"bytes of {n}", description=description)
    elif path == "taskloom artifacts put":
        file = tmp / f"upload-{n}.txt"
        file.write_text(f"bytes of {n}", encoding="utf-8")
        flag = ["--name", f"{text}.txt"] if attr == "name" else ["--description", text]
        cli(db, "artifacts", "put", str(file), *flag)
    elif path == "task_review approve":
        code = (await ok(c, "task_create", tasks=[{"title": "reviewed", "requires_review": True}]))["tasks"][
            0
        ]["code"]
        await ok(c, "task_claim", task=code)
        await ok(c, "task_done", task=code, summary="ready")
        await ok(c, "task_review", task=code, approve=True, reason=text)
    elif path == "task_update":
        code = (await ok(c, "task_create", tasks=[{"title": "to rename"}]))["tasks"][0]["code"]
        await ok(c, "task_update", task=code, title=text)
    else:
        raise AssertionError(path)


@pytest.mark.parametrize(("field", "path"), CASES, ids=[f"{f}-via-{p.replace(' ', '-')}" for f, p in CASES])
async def test_a_secret_in_a_stored_field_never_reaches_the_database_files(served, field: str, path: str):
    url, db, tmp = served
    secret, marker = secret_of(field, path), marker_of(field, path)
    n = str(CASES.index((field, path)))
    async with Client(url) as c:
        await write(path, field, f"{marker} uses {secret}", n, c, db, tmp)
    data = disk_bytes(db)
    assert marker.encode() in data, "the marker is missing: the scan cannot see this field"
    assert secret.encode() not in data, f"{field} written via {path} is stored in plain text"


async def test_a_memory_key_holding_a_secret_is_refused_and_reaches_no_file(served):
    """A key names an entry, so it is refused rather than masked (a masked key would not be found
    again by the key given); the event log, which used to copy keys raw, never sees it."""
    url, db, _ = served
    secret = secret_of("memory.key", "memory_set")
    async with Client(url) as c:
        result = await c.call_tool("memory_set", {"key": f"creds/{secret}", "value": "v", "scope": "project"})
    assert result.is_error
    assert error_of(result)["code"] == "invalid_input"
    assert "secret" in result.content[0].text
    assert secret.encode() not in disk_bytes(db)


async def test_deleting_an_old_entry_whose_key_holds_a_secret_masks_the_key_in_the_event_log(served):
    """Entries written before keys were checked can still be deleted; the event says so without the key."""
    url, db, _ = served
    secret = secret_of("memory.key", "memory_delete")
    conn = sqlite3.connect(db)
    with conn:
        project = conn.execute("SELECT id FROM projects WHERE name = ?", (PROJECT,)).fetchone()[0]
        conn.execute(
            "INSERT INTO memory (project_id, scope, key, value, updated_at) VALUES (?, 'project', ?, 'v', 0)",
            (project, f"old/{secret}"),
        )
    conn.close()
    async with Client(url) as c:
        assert (await ok(c, "memory_delete", key=f"old/{secret}", scope="project"))["deleted"]
    [(subject,)] = rows(
        db, "SELECT subject FROM events WHERE kind = 'memory.deleted' ORDER BY id DESC LIMIT 1"
    )
    assert subject == "old/[REDACTED]"
