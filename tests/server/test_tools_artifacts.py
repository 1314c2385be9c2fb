"""The artifact tools through an in-process MCP client: upload, get, list, link, unlink, gc,
task_done's artifacts, tasks that show their dependencies' artifacts, and upload progress.

The binary round trip is a property: any bytes sent as content_base64 come back unchanged from
artifacts_get and from the resource read.
"""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from taskloom.clock import ManualClock
from taskloom.config import Settings
from taskloom.server import build_server
from taskloom.services.app import Taskloom
from tests.conftest import call, call_error

MiB = 1024 * 1024


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def upload(client: Client, name: str, data: bytes | str, **args) -> dict:
    source = {"content": data} if isinstance(data, str) else {"content_base64": b64(data)}
    return (await call(client, "artifacts_upload", name=name, **source, **args))["artifact"]


async def resource_bytes(client: Client, uri: str) -> tuple[bytes, str, str]:
    """(bytes, mimeType, 'text' or 'blob') of a resource read."""
    [content] = (await client.read_resource(uri)).contents
    if hasattr(content, "text"):
        return content.text.encode(), content.mime_type, "text"
    return base64.b64decode(content.blob), content.mime_type, "blob"


# ---------------------------------------------------------------- the binary round trip (a property)


@settings(
    max_examples=100,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.binary(max_size=4096), name=st.sampled_from(["blob.bin", "notes.txt", "noext"]))
async def test_any_bytes_uploaded_as_base64_come_back_equal_from_artifacts_get_and_the_resource(client, data, name):
    up = await call(client, "artifacts_upload", name=name, content_base64=b64(data))
    uri = up["artifact"]["uri"]
    got = await call(client, "artifacts_get", artifact=uri, want="base64", max_bytes=MiB)
    assert got["encoding"] == "base64" and base64.b64decode(got["base64"]) == data
    read, mime, _ = await resource_bytes(client, uri)
    assert read == data and mime == up["artifact"]["media_type"]


# ---------------------------------------------------------------- upload and get


async def test_upload_returns_the_uri_size_and_newness_and_get_returns_text_for_a_text_type(client):
    up = await call(client, "artifacts_upload", name="report.md", content="# Done\n", description="the report")
    art = up["artifact"]
    assert up["new"] is True and art["uri"] == "taskloom://artifacts/" + art["sha256"]
    assert (art["size"], art["media_type"], art["links"], art["uploaded_by"]) == (7, "text/markdown", ["project"], "tester")
    got = await call(client, "artifacts_get", artifact=art["sha256"])
    assert (got["encoding"], got["text"], got["truncated"]) == ("text", "# Done\n", False)
    assert got["artifact"]["description"] == "the report"


async def test_get_returns_base64_for_a_binary_type_and_nothing_inline_when_it_is_over_max_bytes(client):
    art = await upload(client, "pic.png", b"\x89PNG\r\n\x1a\n" + bytes(100))
    got = await call(client, "artifacts_get", artifact=art["uri"])
    assert got["encoding"] == "base64" and base64.b64decode(got["base64"]).startswith(b"\x89PNG")
    cut = await call(client, "artifacts_get", artifact=art["uri"], max_bytes=10)
    assert (cut["encoding"], cut["base64"]) == ("none", None)
    assert art["uri"] in cut["message"]


async def test_get_cuts_long_text_at_max_bytes_and_says_so(client):
    art = await upload(client, "log.txt", "ü" * 100)  # 200 bytes, the cut splits a character
    got = await call(client, "artifacts_get", artifact=art["uri"], max_bytes=51)
    assert got["truncated"] is True and got["text"].startswith("ü" * 25)
    assert "51 of 200" in got["message"]


async def test_get_with_want_path_gives_a_local_client_the_blobs_read_only_file(client, app):
    art = await upload(client, "data.bin", b"\x00\x01")
    got = await call(client, "artifacts_get", artifact=art["uri"], want="path")
    assert got["encoding"] == "path" and Path(got["path"]).read_bytes() == b"\x00\x01"
    if app.settings.db_url is None:  # the blob file itself; PostgreSQL's is a checked copy of the chunks
        assert Path(got["path"]).is_relative_to(app.blobs.root)


@pytest.mark.sqlite_only  # deletes the blob file on disk
async def test_get_with_want_path_of_bytes_missing_from_disk_is_not_found_instead_of_a_dead_path(client, app):
    art = await upload(client, "data.bin", b"\x00\x01")
    app.blobs.path(art["sha256"]).unlink()
    for want in ("path", "base64"):
        error = await call_error(client, "artifacts_get", artifact=art["uri"], want=want)
        assert error["code"] == "not_found" and "missing" in error["message"], want


async def test_get_with_want_path_is_refused_to_a_client_over_http(settings: Settings, clock: ManualClock):
    app = await Taskloom.open(dataclasses.replace(settings, transport="http"), clock)
    try:
        async with Client(build_server(app), mode="legacy") as client:
            art = await upload(client, "data.bin", b"\x00\x01")
            error = await call_error(client, "artifacts_get", artifact=art["uri"], want="path")
            assert error["code"] == "invalid_input"
    finally:
        await app.close()


async def test_get_of_an_unknown_artifact_is_not_found_and_a_malformed_reference_is_invalid(client):
    assert (await call_error(client, "artifacts_get", artifact="0" * 64))["code"] == "not_found"
    assert (await call_error(client, "artifacts_get", artifact="taskloom://artifacts/xyz"))["code"] == "invalid_input"


async def test_an_upload_over_the_limit_is_a_too_large_tool_error_with_a_next_step(settings, clock):
    app = await Taskloom.open(dataclasses.replace(settings, artifact_max_bytes=10), clock)
    try:
        async with Client(build_server(app), mode="legacy") as client:
            error = await call_error(client, "artifacts_upload", name="big.txt", content="x" * 11)
            assert error["code"] == "too_large" and "Nothing was stored" in error["hint"]
    finally:
        await app.close()


async def test_an_over_limit_base64_upload_reports_its_exact_decoded_size_whatever_its_padding(settings, clock):
    app = await Taskloom.open(dataclasses.replace(settings, artifact_max_bytes=4000), clock)
    try:
        async with Client(build_server(app), mode="legacy") as client:
            for size in (4001, 4002, 4003, 5000):  # no, two and one '=' of padding; 5000 was shown as 4999
                error = await call_error(client, "artifacts_upload", name="big.bin", content_base64=b64(b"x" * size))
                assert error["code"] == "too_large"
                assert error["message"].startswith(f"The artifact is {size} bytes;"), error["message"]
    finally:
        await app.close()


async def test_an_invalid_media_type_through_the_tool_is_invalid_input(client):
    error = await call_error(client, "artifacts_upload", name="a.txt", content="a", media_type="not a type")
    assert error["code"] == "invalid_input"


# ---------------------------------------------------------------- list, link, unlink, gc


async def test_list_filters_by_task_stream_sprint_name_and_media_type_newest_first_with_pages(client, clock):
    await call(client, "stream_create", code="api")
    await call(client, "sprint_create", code="S1")
    await call(client, "task_create", tasks=[{"title": "in api", "stream": "api", "sprint": "S1"}, {"title": "other"}])
    names = ["a.md", "b.png", "c.md", "d.txt"]
    links = [["task:T-1"], ["stream:api"], ["sprint:S1"], ["task:T-2"]]
    for name, link in zip(names, links, strict=True):
        await upload(client, name, name if name != "b.png" else b"\x89PNG", links=link)
        clock.advance(1)

    async def listed(**filters) -> list[str]:
        return [a["name"] for a in (await call(client, "artifacts_list", **filters))["artifacts"]]

    assert await listed() == ["d.txt", "c.md", "b.png", "a.md"]
    assert await listed(task="T-1") == ["a.md"]
    assert await listed(stream="api") == ["b.png", "a.md"]  # the stream's own and its tasks'
    assert await listed(sprint="S1") == ["c.md", "a.md"]
    assert await listed(name="*.md") == ["c.md", "a.md"]
    assert await listed(name="B.P") == ["b.png"]  # substring, case-insensitive
    assert await listed(media_type="image/") == ["b.png"]
    page = await call(client, "artifacts_list", limit=3)
    assert (len(page["artifacts"]), page["total"], page["next_offset"]) == (3, 4, 3)
    last = await call(client, "artifacts_list", limit=3, offset=3)
    assert ([a["name"] for a in last["artifacts"]], last["next_offset"]) == (["a.md"], None)
    assert (await call_error(client, "artifacts_list", task="T-404"))["code"] == "not_found"


async def test_link_and_unlink_are_safe_to_repeat_and_an_unknown_target_changes_nothing(client):
    await call(client, "task_create", tasks=[{"title": "t"}])
    art = await upload(client, "x.txt", "x")
    for _ in range(2):
        linked = await call(client, "artifacts_link", artifact=art["uri"], links=["task:T-1"])
        assert linked["links"] == ["project", "task:T-1"]
    assert (await call_error(client, "artifacts_link", artifact=art["uri"], links=["task:T-9"]))["code"] == "not_found"
    assert (await call_error(client, "artifacts_link", artifact=art["uri"], links=["bogus"]))["code"] == "invalid_input"
    for _ in range(2):
        unlinked = await call(client, "artifacts_unlink", artifact=art["uri"], links=["project", "task:T-1"])
        assert unlinked["links"] == []
    # Unlinked is not deleted: it stays listed and readable until gc's grace period has passed.
    assert (await call(client, "artifacts_get", artifact=art["uri"]))["text"] == "x"


async def test_gc_through_the_tool_keeps_linked_artifacts_and_collects_unlinked_ones_after_the_grace(client, clock):
    keep = await upload(client, "keep.txt", "keep")
    drop = await upload(client, "drop.txt", "drop")
    await call(client, "artifacts_unlink", artifact=drop["uri"], links=["project"])
    assert (await call(client, "artifacts_gc"))["artifacts_removed"] == 0
    clock.advance(601)
    dry = await call(client, "artifacts_gc", dry_run=True)
    assert (dry["artifacts_removed"], dry["blobs_removed"], dry["dry_run"]) == (1, 1, True)
    done = await call(client, "artifacts_gc")
    assert (done["artifacts_removed"], done["blobs_removed"], done["bytes_freed"]) == (1, 1, 4)
    assert (await call(client, "artifacts_get", artifact=keep["uri"]))["text"] == "keep"
    assert (await call_error(client, "artifacts_get", artifact=drop["uri"]))["code"] == "not_found"


# ---------------------------------------------------------------- tasks show their artifacts


async def test_the_agent_claiming_a_dependent_task_sees_the_artifacts_its_finished_dependency_produced(client):
    await call(client, "task_create", tasks=[{"title": "write report"}, {"title": "review it", "depends_on": ["T-1"]}])
    await call(client, "task_claim", task="T-1", agent="writer")
    report = await upload(client, "report.md", "# findings", agent="writer")
    # Not yet done: the dependent task does not show it.
    assert (await call(client, "task_get", task="T-2"))["artifacts"] == []
    done = await call(client, "task_done", task="T-1", summary="see report", artifacts=[report["uri"]], agent="writer")
    assert done["task"]["status"] == "done"

    claim = await call(client, "task_claim", agent="reviewer")
    assert claim["detail"]["task"]["code"] == "T-2"
    expected = {"uri": report["uri"], "name": "report.md", "media_type": "text/markdown", "size": 10, "task": "T-1"}
    assert claim["detail"]["artifacts"] == [expected]
    assert (await call(client, "task_get", task="T-2"))["artifacts"] == [expected]
    assert (await call(client, "task_get", task="T-1"))["artifacts"] == [expected]
    assert (await call(client, "artifacts_get", artifact=report["uri"]))["artifact"]["links"] == ["project", "task:T-1"]


async def test_a_tasks_own_artifacts_come_before_its_dependencies(client):
    await call(client, "task_create", tasks=[{"title": "a"}, {"title": "b", "depends_on": ["T-1"]}])
    dep = await upload(client, "dep.txt", "dep", links=["task:T-1"])
    await call(client, "task_claim", task="T-1")
    await call(client, "task_done", task="T-1", summary="ok")
    own = await upload(client, "own.txt", "own", links=["task:T-2"])
    listed = (await call(client, "task_get", task="T-2"))["artifacts"]
    assert [(a["uri"], a["task"]) for a in listed] == [(own["uri"], "T-2"), (dep["uri"], "T-1")]


async def test_task_done_with_an_unknown_artifact_fails_whole_and_the_task_stays_held(client):
    await call(client, "task_create", tasks=[{"title": "t"}])
    await call(client, "task_claim", task="T-1")
    real = await upload(client, "real.txt", "real")
    error = await call_error(
        client, "task_done", task="T-1", summary="done?", artifacts=[real["uri"], "taskloom://artifacts/" + "f" * 64]
    )
    assert error["code"] == "not_found"
    task = (await call(client, "task_get", task="T-1"))["task"]
    assert (task["status"], task["claimed_by"], task["summary"]) == ("in_progress", "tester", None)
    # Nothing of the failed call stuck: not even the link to the artifact that does exist.
    assert (await call(client, "artifacts_get", artifact=real["uri"]))["artifact"]["links"] == ["project"]
    bad = await call_error(client, "task_done", task="T-1", summary="done?", artifacts=["not-a-uri"])
    assert bad["code"] == "invalid_input"
    assert (await call(client, "task_done", task="T-1", summary="done", artifacts=[real["sha256"]]))["task"][
        "status"
    ] == "done"


# ---------------------------------------------------------------- progress


async def test_a_large_upload_reports_progress_to_a_client_that_asks_and_a_small_one_does_not(client):
    reports: list[tuple[float, float | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        reports.append((done, total))

    size = 3 * MiB + 5
    result = await client.call_tool(
        "artifacts_upload", {"name": "big.bin", "content_base64": b64(b"\x07" * size)}, progress_callback=on_progress
    )
    assert not result.is_error
    assert reports == [(MiB, size), (2 * MiB, size), (3 * MiB, size), (size, size)]

    reports.clear()
    await client.call_tool("artifacts_upload", {"name": "small.txt", "content": "hi"}, progress_callback=on_progress)
    assert reports == []


