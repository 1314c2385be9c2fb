#!/usr/bin/env python3
"""A scripted stand-in for a headless coding agent, for `taskloom run --agent-cmd`.

    taskloom run --until-idle --agent-cmd \
        "python examples/scripted_agent.py --mcp {mcp_config} --prompt {prompt_file}"

It does what `claude -p --mcp-config FILE` does with taskloom's worker tools, minus the thinking:

1. Reads the MCP config the runner wrote for this run (`mcpServers.taskloom`: the command that
   starts `taskloom serve --profile worker` for this worker, or an HTTP URL with its token) and
   connects to it with the MCP Python SDK.
2. For a task run (the runner sets TASKLOOM_TASK): reads the task and what its dependencies left,
   notes progress, uploads a small report as an artifact linked to the task and calls task_done.
   For a stream run (`taskloom run --per stream`, TASKLOOM_STREAM): claims task after task in
   the stream until nothing is left.
3. Prints one JSON event per line, ending with a `result` event, like Claude Code's
   `--output-format stream-json`; the runner reads that line for the run's turns and cost.

`--crash-once CODE --state DIR` makes it exit with code 3 the first time it works on CODE, still
holding the task, to show the runner handing the task back and starting a new worker for it.

`--ask CODE QUESTION` makes it block on CODE with QUESTION (`task_block`) and wait, without
polling, for the answer (`message_inbox(wait_seconds=...)`): answer it from the dashboard's task
page, or with `task_unblock`. It records the answer as a decision note and finishes the task.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
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
    emit(type="assistant", tool=tool, arguments=arguments)
    result = await client.call_tool(tool, arguments)
    if result.is_error:
        emit(type="result", subtype="error", is_error=True, result=f"{tool} failed: {result.content[0].text}")
        raise SystemExit(4)
    return result.structured_content


def crash_now(args: argparse.Namespace, code: str) -> bool:
    """True the first time this agent works on --crash-once's task (a marker file remembers it)."""
    if code != args.crash_once:
        return False
    marker = Path(args.state) / f"{code}.crashed"
    if marker.exists():
        return False
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(os.environ.get("TASKLOOM_AGENT", ""))
    return True


async def do_task(client: Client, code: str, args: argparse.Namespace) -> None:
    detail = await call(client, "task_get", task=code)
    task = detail["task"]
    inputs = [f"{d['code']} ({d['summary']})" for d in detail.get("dependencies", []) if d.get("summary")]
    body = f"Working on {code}: {task['title']}."
    if inputs:
        body += " Building on " + "; ".join(inputs) + "."
    await call(client, "task_note", task=code, body=body, kind="progress")
    if crash_now(args, code):
        emit(type="assistant", text=f"crashing on purpose while holding {code}")
        sys.stdout.flush()
        os._exit(3)  # as a real crash does: no clean-up, no result event, the task still held
    if args.ask and args.ask[0] == code:
        await ask(client, code, args.ask[1])
    await anyio.sleep(args.work_seconds)  # the actual work would happen here
    report = f"# {code}: {task['title']}\n\nDone by {os.environ.get('TASKLOOM_AGENT')}.\n"
    await call(client, "artifacts_upload", name=f"{code}.md", content=report, media_type="text/markdown",
               links=[f"task:{code}"])
    await call(client, "task_done", task=code, summary=f"{task['title']}: done by {os.environ.get('TASKLOOM_AGENT')}")


async def ask(client: Client, code: str, question: str) -> None:
    """Block on a question and wait for the person's answer, as a worker stuck on a decision does."""
    await call(client, "task_block", task=code, reason=question)
    me = os.environ.get("TASKLOOM_AGENT")
    while True:  # each call waits until mail arrives (or 50 s pass): no polling loop of our own
        inbox = await call(client, "message_inbox", task=code, unread_only=True, mark_read=True, wait_seconds=50)
        answers = [m for m in inbox["messages"] if m["sender"] != me]
        if answers:
            break
    answer = answers[-1]
    await call(client, "task_note", task=code, body=f"Answer from {answer['sender']}: {answer['body']}",
               kind="decision")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mcp", required=True, help="the MCP config the runner wrote ({mcp_config})")
    parser.add_argument("--prompt", required=True, help="the worker instructions ({prompt_file})")
    parser.add_argument("--work-seconds", type=float, default=0.3, help="pretend work per task (default 0.3)")
    parser.add_argument("--crash-once", metavar="CODE", help="exit 3 the first time it works on this task")
    parser.add_argument("--state", default=".", help="where --crash-once remembers that it crashed")
    parser.add_argument("--ask", nargs=2, metavar=("CODE", "QUESTION"),
                        help="block on this task with this question and wait for the answer")
    args = parser.parse_args()
    config = json.loads(Path(args.mcp).read_text(encoding="utf-8"))
    prompt = Path(args.prompt).read_text(encoding="utf-8")
    emit(type="system", subtype="init", agent=os.environ.get("TASKLOOM_AGENT"), prompt_words=len(prompt.split()))
    task, stream = os.environ.get("TASKLOOM_TASK"), os.environ.get("TASKLOOM_STREAM")
    turns = 0
    async with connect(config) as client:
        if task:
            await do_task(client, task, args)
            turns = 1
        else:
            while True:
                claim = await call(client, "task_claim", stream=stream, wait_seconds=5)
                if not claim["claimed"]:
                    break
                await do_task(client, claim["detail"]["task"]["code"], args)
                turns += 1
    emit(type="result", subtype="success", is_error=False, num_turns=turns, total_cost_usd=0.0, result="done")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
