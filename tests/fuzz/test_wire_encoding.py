"""Values JSON cannot carry cleanly: lone surrogates, NaN and infinity, integers past 64 bits.

What reaches the server depends on the transport. The in-memory client hands Python objects
over as they are, so a lone surrogate or 2**64 reaches the tools unchanged. Over stdio the
SDK client cannot even encode a lone surrogate, but other clients can (JSON.stringify and
Python's json.dumps write it as a `\\ud800` escape), and the server must answer that frame with
an error rather than stay silent; NaN and 1e400 are parsed as floats. Both paths are checked here, the second with raw
frames written to a real `taskloom serve` process.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TASKLOOM = str(Path(sys.executable).with_name("taskloom"))
ANSWER_DEADLINE = 10.0  # seconds for one answer from a live server process

# ---------------------------------------------------------------- in memory



# Free-text fields with no length limit skip pydantic's string conversion, so a lone surrogate
# reaches the store. It used to reach sqlite3, whose UTF-8 encoding raised: an `internal` error.
SURROGATE_PATHS = [
    ("memory_set", {"key": "k", "value": "v\ud800"}),
    ("sprint_create", {"code": "S1", "goal": "g\ud800"}),
    ("stream_create", {"code": "db", "description": "d\udfff"}),
    ("task_update", {"task": "T-3", "description": "d\ud800"}),
    ("task_update", {"task": "T-3", "acceptance": "a\ud800"}),
    ("task_release", {"task": "T-1", "reason": "r\ud800"}),
]


@pytest.mark.parametrize(
    ("tool", "args"),
    SURROGATE_PATHS,
    ids=[f"{t}-{next(iter(a.keys() - {'task', 'code', 'key'}))}" for t, a in SURROGATE_PATHS],
)
async def test_a_lone_surrogate_in_free_text_is_invalid_input_not_internal(rig, tool: str, args: dict[str, Any]):
    async with rig.session() as client:
        refused = await rig.call(client, tool, args)  # which also checks that it commits nothing
        assert refused.code == "invalid_input", refused.text


# Regression: sqlite3 raises OverflowError (not an sqlite3.Error) for ints past 64 bits, which
# used to come back as `internal`.
BIG_INT_PATHS = [
    ("message_send", {"to": "bob", "body": "hi", "reply_to": 2**63}),
    ("message_send", {"to": "bob", "body": "hi", "reply_to": -(2**63) - 1}),
    ("activity_feed", {"since": 2**63}),
]


@pytest.mark.parametrize(("tool", "args"), BIG_INT_PATHS, ids=["reply_to-2**63", "reply_to--2**63-1", "since-2**63"])
async def test_an_integer_past_64_bits_is_invalid_input_not_internal(rig, tool: str, args: dict[str, Any]):
    async with rig.session() as client:
        refused = await rig.call(client, tool, args)  # which also checks that it commits nothing
        assert refused.code == "invalid_input", refused.text


# ---------------------------------------------------------------- raw frames over stdio


class RawStdio:
    """A `taskloom serve` process spoken to in raw JSON-RPC lines, so any bytes can be sent."""

    def __init__(self, db: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TASKLOOM_")}
        self.proc = subprocess.Popen(
            [TASKLOOM, "serve", "--db", str(db), "--project", "wire"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**env, "TASKLOOM_AGENT": "wire"},
        )
        self.next_id = 1

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def answer(self, deadline: float = ANSWER_DEADLINE) -> dict[str, Any] | None:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], deadline)
        return json.loads(self.proc.stdout.readline()) if ready else None

    def call_raw(self, name: str, arguments_json: str, deadline: float = ANSWER_DEADLINE) -> dict[str, Any] | None:
        """tools/call with the arguments spelt as raw JSON text; the answer, or None for silence."""
        self.next_id += 1
        self.send(
            f'{{"jsonrpc":"2.0","id":{self.next_id},"method":"tools/call",'
            f'"params":{{"name":"{name}","arguments":{arguments_json}}}}}'
        )
        return self.answer(deadline)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc.stdout:
            self.proc.stdout.close()


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawStdio]:
    """One server process for the module (a start costs ~1.5 s); tests run in file order."""
    server = RawStdio(tmp_path_factory.mktemp("wire") / "wire.db")
    try:
        server.send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-11-25",
                        "capabilities": {},
                        "clientInfo": {"name": "raw", "version": "0"},
                    },
                }
            )
        )
        assert server.answer() is not None, "no answer to initialize"
        server.send('{"jsonrpc":"2.0","method":"notifications/initialized"}')
        yield server
    finally:
        server.close()


def error_code(answer: dict[str, Any] | None) -> str:
    assert answer is not None, "no answer"
    result = answer["result"]
    return result["content"][0]["text"].split(":", 1)[0] if result.get("isError") else "ok"


def test_nan_infinity_surrogates_and_nul_over_stdio_are_all_answered_and_the_server_keeps_serving(raw):
    assert error_code(raw.call_raw("memory_set", '{"key":"k","value":"v","ttl_seconds":NaN}')) == "invalid_input"
    assert error_code(raw.call_raw("memory_set", '{"key":"k","value":"v","ttl_seconds":1e400}')) == "invalid_input"
    assert error_code(raw.call_raw("memory_set", '{"key":"k","value":"v","ttl_seconds":-Infinity}')) == "invalid_input"
    # An escaped surrogate *pair* is one character; NUL is an ordinary one. Both are kept.
    created = raw.call_raw("task_create", '{"tasks":[{"title":"pair \\ud83d\\ude00 nul \\u0000 end"}]}')
    assert error_code(created) == "ok"
    assert created["result"]["structuredContent"]["tasks"][0]["title"] == "pair \U0001f600 nul \x00 end"
    # A lone surrogate escape is not valid Unicode: the frame is refused with an answer (it used to
    # get silence, leaving the client waiting forever), nothing is stored, the server lives on.
    refused = raw.call_raw("task_create", '{"tasks":[{"title":"lone \\ud800 here"}]}')
    assert refused is not None and "error" in refused, refused
    assert refused["id"] == raw.next_id
    listed = raw.call_raw("task_list", "{}")
    assert [t["title"] for t in listed["result"]["structuredContent"]["tasks"]] == ["pair \U0001f600 nul \x00 end"]
