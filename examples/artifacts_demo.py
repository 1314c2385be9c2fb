#!/usr/bin/env python3
"""One agent hands a report to the next through an artifact, each in its own process.

    python examples/artifacts_demo.py              # a fresh temporary database
    python examples/artifacts_demo.py --db demo.db

What happens (each agent runs its own `taskloom serve --profile worker` over stdio, as Claude
Code or OpenCode would start it):

1. The plan has two tasks: T-1 "Write the design note" for the writer role and T-2 "Build the
   parser" for the builder role, which depends on T-1.
2. ada claims T-1, writes design.md in the project directory, uploads it by path and finishes T-1
   with the artifact attached (task_done's `artifacts`).
3. bob, waiting on the status resource (subscribed, not polling), claims T-2 as soon as it is
   ready. The claim lists the artifacts of T-2's finished dependencies; bob reads design.md
   through its resource URI (resources/read, with the artifact's own mimeType) and finishes.
4. This process prints both transcripts and exits 0 only if bob read exactly what ada wrote.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from agents_demo import taskloom_command

PROJECT = "artifacts-demo"
DEADLINE = 60.0  # seconds for the whole hand-over
DESIGN = "# Parser design\n\nTokenise first, then a recursive-descent parser over the tokens.\n"
PLAN = """
streams:
  - code: core
    name: Core
tasks:
  - {key: design, title: Write the design note, stream: core, role: writer}
  - {key: parser, title: Build the parser, stream: core, role: builder, depends_on: [design]}
"""


def say(name: str, text: str) -> None:
    print(f"{name:>4} | {text}", flush=True)


async def _agent(name: str, db: Path, workdir: Path, play: Any) -> None:
    from mcp import Client, StdioServerParameters
    from mcp.types import ResourceUpdatedNotification

    changed = asyncio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            changed.set()

    command = taskloom_command()
    params = StdioServerParameters(
        command=command[0],
        args=[*command[1:], "serve", "--db", str(db), "--project", PROJECT, "--profile", "worker"],
        env={**os.environ, "TASKLOOM_AGENT": name},
        cwd=str(workdir),  # the project directory: path uploads may read files under it
    )
    async with Client(params, mode="legacy", message_handler=on_message) as client:

        async def call(tool: str, **args: Any) -> dict[str, Any]:
            result = await client.call_tool(tool, args)
            if result.is_error:
                raise SystemExit(f"{name}: {tool} failed: {result.content[0].text}")
            return result.structured_content

        await asyncio.wait_for(play(name, client, call, changed, workdir), DEADLINE)


async def ada(name: str, client: Any, call: Any, changed: asyncio.Event, workdir: Path) -> None:
    await call("agent_init", role="writer")  # claims take the agent's role's tasks
    claim = await call("task_claim")
    code = claim["detail"]["task"]["code"]
    say(name, f"claimed {code}: {claim['detail']['task']['title']}")
    (workdir / "design.md").write_text(DESIGN, encoding="utf-8")
    up = await call("artifacts_upload", name="design.md", path="design.md", description="How the parser works")
    uri = up["artifact"]["uri"]
    say(name, f"uploaded design.md ({up['artifact']['size']} bytes, {up['artifact']['media_type']})")
    await call("task_done", task=code, summary="Design note written: design.md.", artifacts=[uri])
    say(name, f"finished {code} with the artifact attached")


async def bob(name: str, client: Any, call: Any, changed: asyncio.Event, workdir: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated only in the 2026 protocol era
        await client.subscribe_resource("taskloom://status")
    await call("agent_init", role="builder")
    while True:
        changed.clear()
        claim = await call("task_claim")
        if claim["claimed"]:
            break
        await changed.wait()  # pushed when anything changes; no polling
    detail = claim["detail"]
    say(name, f"claimed {detail['task']['code']}: {detail['task']['title']}")
    for a in detail["artifacts"]:
        say(name, f"sees {a['name']} from {a['task']}: {a['uri'][:34]}...")
    artifact = detail["artifacts"][0]
    read = await client.read_resource(artifact["uri"])
    content = read.contents[0]
    say(name, f"read it as {content.mime_type}: {content.text.splitlines()[0]!r}")
    if content.text != DESIGN:
        raise SystemExit(f"{name}: the design note came back different")
    await call("task_done", task=detail["task"]["code"], summary="Parser built following design.md.")
    say(name, f"finished {detail['task']['code']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="SQLite file (default: a fresh temporary one)")
    parser.add_argument("--play", choices=["ada", "bob"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.play:
        play = {"ada": ada, "bob": bob}[args.play]
        asyncio.run(_agent(args.play, args.db, args.workdir, play))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "demo.db"
        plan = Path(tmp) / "plan.yaml"
        plan.write_text(PLAN, encoding="utf-8")
        command = taskloom_command()
        subprocess.run([*command, "import", "--db", str(db), "--project", PROJECT, str(plan)], check=True,
                       stdout=subprocess.DEVNULL)
        # bob starts first and waits; ada's work wakes him.
        agents = {
            who: subprocess.Popen(
                [sys.executable, __file__, "--play", who, "--db", str(db), "--workdir", tmp],
                stdout=subprocess.PIPE, text=True,
            )
            for who in ("bob", "ada")
        }
        outputs = {who: proc.communicate(timeout=DEADLINE + 30)[0] for who, proc in agents.items()}
        for who in ("ada", "bob"):
            sys.stdout.write(outputs[who])
        failed = [who for who, proc in agents.items() if proc.returncode != 0]
        if failed:
            print(f"failed: {', '.join(failed)}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
