"""Broken clients: garbage, half frames and hang-ups on stdio; dropped streams over HTTP.

Every server here is the real console script. Over stdio the raw wire sends what no SDK client
would; the server must answer with a JSON-RPC error or end cleanly (exit code 0, nothing on
stderr that looks like a crash), and the database stays intact and usable by the next server.
Over SSE and streamable HTTP, clients that vanish mid-stream must not disturb a client that
keeps working on the same server at the same time.
"""

from __future__ import annotations

import base64
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp_types.version import LATEST_HANDSHAKE_VERSION

from tests.faults.common import Server, exec_server, integrity, rows, serve_argv
from tests.server.test_transports import PROJECT, TASKLOOM, _connect_and_drop_mid_stream, ok, serving

EXIT_DEADLINE = 20.0  # seconds for a server to end after its client hangs up


def start(tmp_path: Path, db: Path, name: str, agent: str = "client") -> Server:
    server = exec_server(tmp_path, serve_argv(db, PROJECT), agent, name)
    server.wire.initialize()
    return server


def assert_clean_exit(server: Server) -> None:
    assert server.proc.wait(EXIT_DEADLINE) == 0, server.stderr()
    assert "Traceback" not in server.stderr(), server.stderr()
    server.wire.close()


def until_ping(server: Server) -> list[dict[str, Any]]:
    """Send a ping; return whatever arrived before its answer (the answers to what came before)."""
    wire = server.wire
    rid = wire.request("ping")
    seen = []
    while True:
        message = wire.read(EXIT_DEADLINE)
        assert message is not None, f"server gone or silent: {server.stderr()[-2000:]}"
        if message.get("id") == rid:
            assert message == {"jsonrpc": "2.0", "id": rid, "result": {}}
            return seen
        seen.append(message)


# ------------------------------------------------------------------ stdio: malformed input

# (label, line, what the server answers today: an error code, a tool error, or nothing)
GARBAGE = [
    ("not JSON", b"not json at all", None),
    ("not UTF-8", b"\xff\xfe\x00garbage", None),
    ("a JSON string", b'"hello"', None),
    ("a JSON array", b"[1, 2, 3]", None),
    ("an empty object", b"{}", None),
    ("an empty line", b"", None),
    ("an object id", b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}', None),
    ("a response nobody asked for", b'{"jsonrpc": "2.0", "id": 4242, "result": {}}', None),
    ("an unknown method", b'{"jsonrpc": "2.0", "id": 101, "method": "no/such"}', -32601),
    (
        "a tool name that is a number",
        b'{"jsonrpc": "2.0", "id": 102, "method": "tools/call", "params": {"name": 5, "arguments": {}}}',
        -32602,
    ),
    (
        "arguments of the wrong types",
        (
            b'{"jsonrpc": "2.0", "id": 103, "method": "tools/call", "params": {"name": "task_create",'
            b' "arguments": {"tasks": "not a list", "agent": 7}}}'
        ),
        "invalid_input",
    ),
    (
        "a huge number where a string goes",
        b'{"jsonrpc": "2.0", "id": 104, "method": "tools/call", "params": {"name": "task_get",'
        b' "arguments": {"task": 1' + b"0" * 400 + b"}}}",
        "invalid_input",
    ),
]
# Requests with a usable id that today get no answer at all: a client waiting on them hangs.
UNANSWERED = [
    (
        "params that are not an object",
        b'{"jsonrpc": "2.0", "id": 201, "method": "tools/call", "params": "x"}',
    ),
    ("the wrong jsonrpc version", b'{"jsonrpc": "1.0", "id": 202, "method": "ping"}'),
    ("no method", b'{"jsonrpc": "2.0", "id": 203}'),
]


def test_a_stdio_server_survives_every_kind_of_malformed_line_and_answers_what_it_can(tmp_path):
    db = tmp_path / "garbage.db"
    server = start(tmp_path, db, "garbage")
    try:
        server.wire.call("task_create", tasks=[{"title": "before the garbage"}])
        for label, line, answer in GARBAGE + [(label, line, None) for label, line in UNANSWERED]:
            server.wire.send_bytes(line + b"\n")
            replies = until_ping(server)  # the server is alive and still in step with the client
            if answer is None:
                assert all("error" in r for r in replies), (label, replies)
            elif isinstance(answer, int):
                assert [r["error"]["code"] for r in replies] == [answer], (label, replies)
            else:
                [reply] = replies
                assert reply["result"]["isError"], (label, reply)
                assert reply["result"]["content"][0]["text"].startswith(answer + ":"), (label, reply)
        after = server.wire.call("task_create", tasks=[{"title": "after the garbage"}])
        assert after["tasks"][0]["code"] == "T-2"
        server.wire.close_stdin()
        assert_clean_exit(server)
    finally:
        server.cleanup()
    assert integrity(db) == "ok"
    assert [r["title"] for r in rows(db, "SELECT title FROM tasks ORDER BY id")] == [
        "before the garbage",
        "after the garbage",
    ]


def test_a_malformed_request_that_carries_an_id_gets_a_json_rpc_error_for_that_id(tmp_path):
    server = start(tmp_path, tmp_path / "ids.db", "ids")
    try:
        for label, line in UNANSWERED:
            server.wire.send_bytes(line + b"\n")
            replies = until_ping(server)
            assert len(replies) == 1 and "error" in replies[0], f"{label}: no error reply ({replies})"
        server.wire.close_stdin()
        assert_clean_exit(server)
    finally:
        server.cleanup()


def test_a_line_that_is_not_json_is_answered_with_a_parse_error(tmp_path):
    server = start(tmp_path, tmp_path / "parse.db", "parse")
    try:
        server.wire.send_bytes(b"not json at all\n")
        replies = until_ping(server)
        assert [(r.get("id"), r.get("error", {}).get("code")) for r in replies] == [(None, -32700)]
    finally:
        server.cleanup()


# ------------------------------------------------------------------ stdio: half frames and hang-ups


def test_a_truncated_frame_followed_by_eof_ends_the_server_cleanly_and_the_next_one_carries_on(tmp_path):
    db = tmp_path / "truncated.db"
    server = start(tmp_path, db, "truncated", agent="ann")
    try:
        server.wire.call("task_create", tasks=[{"title": "held across the crash"}, {"title": "spare"}])
        server.wire.call("task_claim", task="T-1")
        server.wire.send_bytes(
            b'{"jsonrpc": "2.0", "id": 77, "method": "tools/call", "params": {"name": "task_cl'
        )
        server.wire.close_stdin()
        assert_clean_exit(server)
    finally:
        server.cleanup()
    assert integrity(db) == "ok"

    again = start(tmp_path, db, "truncated-after", agent="ann")
    try:
        init = again.wire.call("agent_init")
        assert [t["code"] for t in init["held"]] == ["T-1"]
        assert (
            again.wire.call("task_done", task="T-1", summary="done after the hang-up")["task"]["status"]
            == "done"
        )
        again.wire.close_stdin()
        assert_clean_exit(again)
    finally:
        again.cleanup()


BIG_CREATE = 200  # tasks in one task_create: one transaction, so all or none of them exist


@pytest.mark.parametrize("hangup", ["closes stdin", "closes stdin and stdout"])
def test_a_client_that_hangs_up_mid_call_leaves_the_server_ending_cleanly_and_the_database_consistent(
    tmp_path, hangup
):
    db = tmp_path / "hangup.db"
    server = start(tmp_path, db, "hangup", agent="hal")
    try:
        server.wire.call("task_create", tasks=[{"title": "the claimed one"}])
        wire = server.wire
        wire.request("tools/call", {"name": "task_claim", "arguments": {"task": "T-1"}})
        tasks = [{"title": f"bulk {n}"} for n in range(BIG_CREATE)]
        wire.request("tools/call", {"name": "task_create", "arguments": {"tasks": tasks}})
        wire.close_stdin()
        if hangup == "closes stdin and stdout":
            wire.close()  # the server's replies now hit a broken pipe
        else:
            for reply in wire.drain(EXIT_DEADLINE):  # whatever it still says must be well-formed
                assert reply.get("jsonrpc") == "2.0" and ("result" in reply or "error" in reply), reply
        assert_clean_exit(server)
    finally:
        server.cleanup()

    assert integrity(db) == "ok"
    [claimed] = rows(db, "SELECT status, claimed_by FROM tasks WHERE code = 'T-1'")
    events = rows(db, "SELECT agent FROM events WHERE kind = 'task.claimed' AND subject = 'T-1'")
    # Committed whole or not at all: the claim with its event, or neither.
    assert (tuple(claimed), [e["agent"] for e in events]) in [
        (("in_progress", "hal"), ["hal"]),
        (("ready", None), []),
    ]
    [[bulk]] = rows(db, "SELECT count(*) FROM tasks WHERE title LIKE 'bulk %'")
    assert bulk in (0, BIG_CREATE)

    again = start(tmp_path, db, "hangup-after", agent="hal")
    try:
        held = [t["code"] for t in again.wire.call("agent_init")["held"]]
        if not held:
            assert again.wire.call("task_claim", task="T-1")["claimed"]
        assert (
            again.wire.call("task_done", task="T-1", summary="finished by the next server")["task"]["status"]
            == "done"
        )
        again.wire.close_stdin()
        assert_clean_exit(again)
    finally:
        again.cleanup()


def test_requests_still_running_when_stdin_closes_get_their_real_answers_before_the_server_exits(tmp_path):
    # The SDK answers them "Connection closed" although they go on and commit: a claim would be
    # held by an agent told it failed. The server now ends its input only once they are answered.
    db = tmp_path / "drain.db"
    server = start(tmp_path, db, "drain", agent="dee")
    try:
        server.wire.call("task_create", tasks=[{"title": "the claimed one"}])
        wire = server.wire
        big = wire.request("tools/call", {"name": "plan_import", "arguments": {
            "tasks": [{"key": f"k{n}", "title": f"bulk {n}"} for n in range(5_000)]}})
        claim = wire.request("tools/call", {"name": "task_claim", "arguments": {"task": "T-1"}})
        wire.close_stdin()
        replies = {r.get("id"): r for r in wire.drain(EXIT_DEADLINE)}
        assert_clean_exit(server)
    finally:
        server.cleanup()
    assert "error" not in replies[big] and "error" not in replies[claim], replies
    assert replies[claim]["result"]["structuredContent"]["claimed"] is True
    assert replies[big]["result"]["structuredContent"]["tasks_created"] == 5_000
    assert [tuple(r) for r in rows(db, "SELECT status, claimed_by FROM tasks WHERE code = 'T-1'")] == [
        ("in_progress", "dee")
    ]


def test_a_deeply_nested_json_line_on_stdio_gets_an_error_and_the_server_keeps_serving(tmp_path: Path):
    server = exec_server(tmp_path, serve_argv(tmp_path / "t.db", PROJECT), "client", "deep")
    try:
        server.wire.initialize()
        # Not JSON-RPC, so pydantic refuses it (its own depth limit) and rejection() re-parses it
        # with json.loads, which recurses once per bracket.
        server.wire.send_bytes(b"[" * 100_000 + b"\n")
        rid = server.wire.request("ping")
        replies = []
        while (message := server.wire.read(EXIT_DEADLINE)) is not None:
            replies.append(message)
            if message.get("id") == rid:
                break
        assert replies and replies[-1] == {"jsonrpc": "2.0", "id": rid, "result": {}}, server.stderr()[-2000:]
        assert replies[0].get("error", {}).get("code") in (-32700, -32600)
    finally:
        server.stop()
        server.cleanup()


def test_a_server_whose_stdin_is_dev_null_exits_cleanly_at_once(tmp_path):
    log = tmp_path / "devnull.stderr"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [TASKLOOM, *serve_argv(tmp_path / "null.db", PROJECT)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            cwd=tmp_path,
        )
    try:
        # Either it exits, or its crash shows on stderr: no need to wait out a hang.
        deadline = time.monotonic() + EXIT_DEADLINE
        while proc.poll() is None and "Traceback" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "Traceback" not in log.read_text(), log.read_text()
        assert proc.poll() == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        proc.stdout.close()


# ------------------------------------------------------------------ HTTP: streams dropped mid-way

DROPS = 4


async def steady_client(call_tool, prefix: str, stop: anyio.Event) -> int:
    """Create and read back tasks until told to stop (and at least a few times); returns how many."""
    n = 0
    while not stop.is_set() or n < 3:
        n += 1
        made = await ok(call_tool, "task_create", tasks=[{"title": f"{prefix} {n}"}])
        code = made["tasks"][0]["code"]
        got = await ok(call_tool, "task_get", task=code)
        assert got["task"]["title"] == f"{prefix} {n}"
    return n


async def test_the_sse_server_keeps_serving_a_working_client_while_others_drop_mid_stream(tmp_path):
    with serving(tmp_path, "sse", tmp_path / "sse.db", agent="sse-agent") as (url, proc, log):
        base = url.removesuffix("/sse")
        stop = anyio.Event()
        done: dict[str, Any] = {}
        async with sse_client(url) as (read, write), ClientSession(read, write) as session:
            await session.initialize()

            async def steady() -> None:
                done["steady"] = await steady_client(session.call_tool, "steady", stop)

            async def droppers() -> None:
                done["dropped"] = [
                    await _connect_and_drop_mid_stream(base, f"dropped {n}") for n in range(DROPS)
                ]
                stop.set()

            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(steady)
                    tg.start_soon(droppers)
            status = await ok(session.call_tool, "project_status")
        assert status["total"] == done["steady"] + DROPS
        assert proc.poll() is None, log.read_text()
    assert "Traceback" not in log.read_text(), log.read_text()


JSON_AND_SSE = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


async def open_session(http: httpx2.AsyncClient) -> dict[str, str]:
    """A raw streamable-HTTP session: initialize, then the initialized notification; returns its headers."""
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": LATEST_HANDSHAKE_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "dropper", "version": "0"},
        },
    }
    response = await http.post("/mcp", json=init, headers=JSON_AND_SSE)
    assert response.status_code == 200, response.text
    headers = {
        **JSON_AND_SSE,
        "mcp-session-id": response.headers["mcp-session-id"],
        "mcp-protocol-version": LATEST_HANDSHAKE_VERSION,
    }
    sent = await http.post(
        "/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers
    )
    assert sent.status_code == 202, sent.text
    return headers


UPLOAD_BYTES = 2_500_000  # three 1 MiB chunks: progress arrives on the response stream between them


async def drop_http_streams(base: str, n: int) -> None:
    """Open the session's GET stream and a streamed tools/call, and hang up on both mid-way."""
    async with httpx2.AsyncClient(base_url=base, timeout=30) as http:
        headers = await open_session(http)
        get_headers = {**headers, "accept": "text/event-stream"}
        async with http.stream("GET", "/mcp", headers=get_headers) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            # Leaving the block drops the standalone stream with nothing ever sent on it.
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {
                "name": "artifacts_upload",
                "arguments": {
                    "name": f"dropped-{n}.bin",
                    "content_base64": base64.b64encode(bytes([n]) * UPLOAD_BYTES).decode(),
                },
                "_meta": {"progressToken": f"p{n}"},
            },
        }
        progressed = False
        async with http.stream("POST", "/mcp", json=call, headers=headers) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            async for line in stream.aiter_lines():
                if line.startswith("data:") and "notifications/progress" in line:
                    progressed = True
                    break  # hang up after the first progress report, before the result
        assert progressed, "the call ended before the client could drop it mid-stream"


async def test_the_http_server_keeps_serving_a_working_client_while_others_drop_their_streams(tmp_path):
    db = tmp_path / "http.db"
    with serving(tmp_path, "http", db, agent="http-agent") as (url, proc, log):
        base = url.removesuffix("/mcp")
        stop = anyio.Event()
        done: dict[str, Any] = {}
        async with Client(url, mode="legacy") as client:

            async def steady() -> None:
                done["steady"] = await steady_client(client.call_tool, "steady", stop)

            async def droppers() -> None:
                for n in range(DROPS):
                    await drop_http_streams(base, n)
                stop.set()

            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(steady)
                    tg.start_soon(droppers)
            status = await ok(client.call_tool, "project_status")
            assert status["total"] == done["steady"]
            # The dropped uploads either finished or left nothing listed: every listed one is whole.
            listed = await ok(client.call_tool, "artifacts_list")
            for artifact in listed["artifacts"]:
                assert artifact["size"] == UPLOAD_BYTES, artifact
        assert proc.poll() is None, log.read_text()
    assert "Traceback" not in log.read_text(), log.read_text()
    assert integrity(db) == "ok"
