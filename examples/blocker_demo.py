#!/usr/bin/env python3
"""Two agents in separate processes get a blocked task finished through messages and push.

    python examples/blocker_demo.py              # a fresh temporary database
    python examples/blocker_demo.py --db demo.db

What happens (each agent is this script again, in its own process, with its own
`taskloom serve` over stdio, as Claude Code or OpenCode would start it):

1. boss (role orchestrator) defines the backend role and creates one task for it, then
   subscribes to its inbox resource and waits: no polling.
2. ada (role backend) calls agent_init, claims the task, and cannot go on without an answer:
   task_block. taskloom escalates the blocker to the orchestrator role.
3. boss is notified (notifications/resources/updated on its inbox, sent by boss's server
   process although ada's process made the change), reads the escalation and answers it with
   task_unblock: the answer goes to the task's thread and the escalation is settled. ada is
   notified on her inbox, reads the answer, notes the decision and finishes the task.
4. This process prints both transcripts and exits 0 only if both agents played their part and
   the board shows the task done.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from agents_demo import taskloom_command  # noqa: E402  (the example's own helper)

PROJECT = "blocker-demo"
DEADLINE = 60.0  # seconds for the whole exchange


async def _agent(name: str, db: Path, play: Any) -> None:
    from mcp import Client, StdioServerParameters
    from mcp.types import ResourceUpdatedNotification

    updated: dict[str, asyncio.Event] = {}

    async def on_message(message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            updated.setdefault(str(message.params.uri), asyncio.Event()).set()

    command = taskloom_command()
    params = StdioServerParameters(
        command=command[0],
        args=[*command[1:], "serve", "--db", str(db), "--project", PROJECT],
        env={**os.environ, "TASKLOOM_AGENT": name},
    )
    async with Client(params, mode="legacy", message_handler=on_message) as client:

        async def call(tool: str, **args: Any) -> dict[str, Any]:
            result = await client.call_tool(tool, args)
            if result.is_error:
                raise SystemExit(f"{name}: {tool} failed: {result.content[0].text}")
            return result.structured_content

        async def watch(uri: str) -> asyncio.Event:
            updated[uri] = asyncio.Event()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # deprecated only in the 2026 protocol era
                await client.subscribe_resource(uri)
            return updated[uri]

        await asyncio.wait_for(play(name, call, watch), DEADLINE)


def say(name: str, text: str) -> None:
    print(f"{name:>4} | {text}", flush=True)


async def boss(name: str, call: Any, watch: Any) -> None:
    await call("agent_init", role="orchestrator")
    await call(
        "role_define",
        role={"slug": "backend", "definition": "Server code and the database.",
              "instructions": "Ask before choosing infrastructure versions."},
    )
    inbox = await watch(f"taskloom://agents/{name}/inbox")
    made = await call("task_create", tasks=[{"title": "Write the first migration", "role": "backend"}])
    code = made["tasks"][0]["code"]
    say(name, f"created {code} for the backend role; waiting on my inbox (subscribed, not polling)")
    while True:
        await inbox.wait()
        inbox.clear()
        unread = (await call("message_inbox", unread_only=True))["messages"]
        escalation = next((m for m in unread if m["kind"] == "escalation"), None)
        if escalation:
            break
    say(name, f"notified: {escalation['subject']!r} from {escalation['sender']}")
    answer = "Use PostgreSQL 16; the migration tool is alembic."
    # One call: the answer goes to the task's thread (ada's inbox), the lease resumes, and the
    # blocker's escalation is settled.
    await call("task_unblock", task=code, answer=answer)
    say(name, f"unblocked {code} with the answer")
    task = await watch(f"taskloom://tasks/{code}")
    while (await call("task_get", task=code))["task"]["status"] != "done":
        await task.wait()
        task.clear()
    say(name, f"{code} is done")


async def ada(name: str, call: Any, watch: Any) -> None:
    status = await watch("taskloom://status")
    while True:
        init = await call("agent_init", role="backend")
        if init["claimable"]:
            break
        await status.wait()  # the orchestrator has not created the task yet
        status.clear()
    say(name, f"agent_init: role instructions say {init['role']['instructions']!r}")
    claim = await call("task_claim")
    code = claim["detail"]["task"]["code"]
    say(name, f"claimed {code}")
    inbox = await watch(f"taskloom://agents/{name}/inbox")
    await call("task_block", task=code, reason="Which PostgreSQL version should the migration target?")
    say(name, f"blocked {code} with a question; waiting on my inbox")
    while True:
        await inbox.wait()
        inbox.clear()
        unread = (await call("message_inbox", unread_only=True))["messages"]
        if unread:
            break
    reply = unread[0]
    say(name, f"notified: {reply['sender']} says {reply['body']!r}")
    held = await call("task_get", task=code)
    assert held["task"]["status"] == "in_progress" and held["task"]["claimed_by"] == name, held["task"]
    await call("message_inbox", ack=[m["id"] for m in unread])
    await call("task_note", task=code, kind="decision", body=f"Targeting: {reply['body']}")
    done = await call("task_done", task=code, summary="Migration 0001 written for PostgreSQL 16 with alembic.")
    say(name, f"{code} {done['task']['status']}")


def orchestrate(db: Path) -> int:
    procs = [
        subprocess.Popen([sys.executable, __file__, "--role", role, "--db", str(db)], stdout=subprocess.PIPE, text=True)
        for role in ("boss", "ada")
    ]
    outputs = [p.communicate(timeout=DEADLINE + 30)[0] for p in procs]
    for out in outputs:
        print(out, end="")
    if any(p.returncode for p in procs):
        print("an agent failed", file=sys.stderr)
        return 1
    check = subprocess.run(
        [*taskloom_command(), "status", "--db", str(db), "--project", PROJECT, "--json"],
        capture_output=True, text=True, check=True,
    )
    counts = json.loads(check.stdout)["counts"]
    print(f"board: {counts}")
    return 0 if counts == {"done": 1} else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path)
    parser.add_argument("--role", choices=["boss", "ada"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        play = {"boss": boss, "ada": ada}[args.role]
        asyncio.run(_agent(args.role, args.db, play))
        return 0
    if args.db:
        return orchestrate(args.db)
    with tempfile.TemporaryDirectory() as tmp:
        return orchestrate(Path(tmp) / "taskloom.db")


if __name__ == "__main__":
    sys.exit(main())
