#!/usr/bin/env python3
"""A scripted headless agent for the runner's tests: it stands in for `claude -p`.

    agent.py --mcp CONFIG --prompt FILE [--misbehave MODE] [--once-dir DIR] [--stamps]

Like Claude Code with `--mcp-config`, it reads the MCP config the runner wrote (`mcpServers.
taskloom`: a stdio command, or an HTTP url with headers), connects with the SDK's client, and
does its work: for a task run (TASKLOOM_TASK set) it reads the task, notes progress, uploads an
artifact and calls task_done; for a stream run it claims in the stream until nothing is left.
It prints stream-json-like lines, ending with a `result` event, as Claude Code does.

MODE makes it misbehave (with --once-dir: only on the first run for a task, so a retry works):
  crash       note, then exit 3 while holding the task
  hang        hold the task and never return
  exit0       exit 0 without finishing
  ignore-term ignore SIGTERM, then hang
  fork        leave a grandchild that sleeps (its pid in DIR/<task>.grandchild), finish, exit
  linger      finish, print the result, then hang (Claude Code's hang after its result)
  wait-go     hold the task until DIR/go exists, then finish (a worker that outlives its runner)

--stamps adds one line once its first tool call has returned, for bench_runner: wall-clock times
(time.time()) of its fork, of main() starting (imports done), of the MCP session being up and of
the first call's answer: {"type": "system", "subtype": "stamps", "forked": ..., ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def emit(**event: Any) -> None:
    print(json.dumps(event), flush=True)


@asynccontextmanager
async def connect(config: dict[str, Any]):
    server = config["mcpServers"]["taskloom"]
    if "url" in server:
        # The run's token rides in the config's headers, as Claude Code's --mcp-config carries it.
        async with (
            create_mcp_http_client(headers=server.get("headers") or {}) as http,
            Client(streamable_http_client(server["url"], http_client=http)) as client,
        ):
            yield client
        return
    params = StdioServerParameters(command=server["command"], args=server.get("args", []),
                                   env={**os.environ, **server.get("env", {})})
    async with Client(params) as client:
        yield client


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    if result.is_error:
        emit(type="result", is_error=True, result=f"{tool} failed: {result.content[0].text}")
        raise SystemExit(4)
    return result.structured_content


def misbehaving(args: argparse.Namespace, unit: str) -> str | None:
    if not args.misbehave:
        return None
    if args.once_dir:
        marker = Path(args.once_dir) / f"{unit}.{args.misbehave}"
        if marker.exists():
            return None
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(os.getpid()))
    return args.misbehave


def forked_at() -> float | None:
    """When this process was forked, on the wall clock: /proc's start time is in clock ticks since
    boot (10 ms), which psutil turns into wall time with a boot time rounded to the second."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    since_boot = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime
    return time.time() - (time.clock_gettime(time.CLOCK_BOOTTIME) - since_boot)


async def do_task(client: Client, code: str, mode: str | None, args: argparse.Namespace) -> None:
    detail = await call(client, "task_get", task=code)
    if args.stamps is not None:
        emit(type="system", subtype="stamps", **args.stamps, first_call=time.time())
        args.stamps = None
    emit(type="assistant", task=code, status=detail["task"]["status"])
    await call(client, "task_note", task=code, body=f"working on {code}", kind="progress")
    if mode in ("crash", "exit0"):
        sys.stdout.flush()
        os._exit(3 if mode == "crash" else 0)  # at once, as a crash does: no clean-up, no result line
    if mode in ("hang", "ignore-term"):
        emit(type="assistant", hanging=True)
        await anyio.sleep_forever()
    if mode == "wait-go":
        go = Path(args.once_dir, "go")
        while not go.exists():  # a test's go-ahead: the agent has no other event to wait on
            await anyio.sleep(0.05)
    if mode == "fork":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])  # noqa: ASYNC220
        Path(args.once_dir or ".", f"{code}.grandchild").write_text(str(child.pid))
    if args.commit:
        Path(f"{code}.txt").write_text(f"{code} was here\n")
        for git in (["git", "add", f"{code}.txt"], ["git", "commit", "-q", "-m", f"{code}"]):
            await anyio.run_process(git)
    await call(client, "artifacts_upload", name=f"{code}.txt", content=f"report for {code}\n",
               media_type="text/plain", links=[f"task:{code}"])
    await call(client, "task_done", task=code, summary=f"{os.environ.get('TASKLOOM_AGENT')} did {code}")


async def main() -> int:
    main_at = time.time()
    parser = argparse.ArgumentParser()
    parser.add_argument("--mcp", required=True)
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--misbehave")
    parser.add_argument("--once-dir")
    parser.add_argument("--commit", action="store_true", help="write <task>.txt in the working directory and commit it")
    parser.add_argument("--stamps", action="store_const", const={}, help="print when the first tool call returned")
    args = parser.parse_args()
    if args.stamps is not None:
        args.stamps.update(forked=forked_at(), main=main_at)
    config = json.loads(Path(args.mcp).read_text())
    prompt = Path(args.prompt).read_text()
    emit(type="system", subtype="init", prompt_words=len(prompt.split()))
    task, stream = os.environ.get("TASKLOOM_TASK"), os.environ.get("TASKLOOM_STREAM")
    mode = misbehaving(args, task or stream or "run")
    if mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    turns = 0
    async with connect(config) as client:
        if args.stamps is not None:
            args.stamps["connected"] = time.time()
        if task:
            await do_task(client, task, mode, args)
            turns += 1
        else:
            while True:
                claim = await call(client, "task_claim", stream=stream, wait_seconds=5)
                if not claim["claimed"]:
                    break
                await do_task(client, claim["detail"]["task"]["code"], mode, args)
                mode, turns = None, turns + 1
    emit(type="result", subtype="success", is_error=False, num_turns=turns, total_cost_usd=0.0, result="done")
    if mode == "linger":
        await anyio.sleep_forever()
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
