#!/usr/bin/env python3
"""A scripted worker: a real MCP client, as Claude Code would be, that only waits and never polls.

    waiting_worker.py work --agent NAME --db FILE --project P --pidfile F [--wait-seconds N]
    waiting_worker.py wait --agent NAME (--db FILE --project P --pidfile F | --url URL --mode M)

`work`: start `taskloom serve --profile worker` over stdio, read the `worker_instructions`
prompt, call agent_init, then loop on task_claim(wait_seconds=N), finishing each task with
task_done, until a claim's outlook says stop. The loop has no sleep and no timer of its own:
every pause is the server's waiting claim. It exits 0 on outlook `finished`, 3 on any other stop.

`wait`: agent_init, then one task_claim(wait_seconds=N), over stdio or streamable HTTP (`--url`,
with `--mode auto` for the stateless 2026 protocol or `legacy` for the handshake with a session).
The fault tests kill it in the middle of that call.

Every step is one JSON line on stdout, for the test to read. The server's stdio process writes
its pid to `--pidfile` (the SDK starts it in its own session, so the pid is its process group):
the test kills that group in its teardown whatever happens here.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

TASKLOOM = str(Path(sys.executable).with_name("taskloom"))
STOP = {"finished", "stalled", "other_work"}


def emit(**event: Any) -> None:
    print(json.dumps(event), flush=True)


def server_params(args: argparse.Namespace) -> StdioServerParameters:
    serve = [TASKLOOM, "serve", "--transport", "stdio", "--db", args.db, "--project", args.project]
    if args.command == "work":
        serve += ["--profile", "worker"]
    # `exec` keeps the shell's pid, so the pid written is the server's.
    script = f"echo $$ > {shlex.quote(args.pidfile)}; exec {shlex.join(serve)}"
    return StdioServerParameters(command="/bin/sh", args=["-c", script], env={"TASKLOOM_AGENT": args.agent})


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    if result.is_error:
        raise SystemExit(f"{tool} failed: {result.content[0].text}")
    return result.structured_content


async def work(client: Client, args: argparse.Namespace) -> int:
    prompt = await client.get_prompt("worker_instructions", {"agent": args.agent})
    emit(event="briefed", words=len(prompt.messages[0].content.text.split()))
    await call(client, "agent_init", agent=args.agent)
    while True:
        claim = await call(client, "task_claim", wait_seconds=args.wait_seconds)
        if not claim["claimed"]:
            emit(event="empty", outlook=claim["outlook"], message=claim["message"])
            if claim["outlook"] in STOP:
                return 0 if claim["outlook"] == "finished" else 3
            continue  # wait or retry: the protocol says claim again, and the claim does the waiting
        task = claim["detail"]["task"]
        emit(event="claimed", task=task["code"], stream=task.get("stream"))
        done = await call(client, "task_done", task=task["code"], summary=f"{args.agent} did {task['code']}")
        emit(event="done", task=task["code"], status=done["task"]["status"])


async def wait_once(client: Client, args: argparse.Namespace) -> int:
    await call(client, "agent_init", agent=args.agent)
    emit(event="waiting")
    claim = await call(client, "task_claim", wait_seconds=args.wait_seconds, agent=args.agent)
    emit(event="answered", claimed=claim["claimed"])
    return 0


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["work", "wait"])
    parser.add_argument("--agent", required=True)
    parser.add_argument("--db")
    parser.add_argument("--project")
    parser.add_argument("--pidfile")
    parser.add_argument("--url")
    parser.add_argument("--mode", default="legacy", choices=["auto", "legacy"])
    parser.add_argument("--wait-seconds", type=float, default=50)
    args = parser.parse_args(argv)
    target = args.url if args.url else server_params(args)
    async with Client(target, mode=args.mode, read_timeout_seconds=args.wait_seconds + 30) as client:
        run = work if args.command == "work" else wait_once
        code = await run(client, args)
    emit(event="exit", code=code)
    return code


if __name__ == "__main__":
    sys.exit(anyio.run(main, sys.argv[1:]))
