"""One racing worker for tests/store/test_race.py: an MCP client with its own `taskloom serve` stdio child.

Usage: python race_worker.py TASKLOOM_EXE DB PROJECT AGENT

Protocol on stdout, one JSON object per line:
  1. {"ready": true, "tools": [...]} once connected to its server;
  2. then it waits for one line on stdin (the start signal, so that all workers start together);
  3. it loops task_claim + task_done until task_claim says claimed:false (or anything goes wrong);
  4. {"agent": ..., "claimed": [...], "done": [...], "errors": [...], ...} as the last line.

Every tool error and every exception is reported in "errors", never swallowed; the exit code is 0
whenever the result line was printed.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

import anyio
from mcp import Client, StdioServerParameters


def _text(result) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


async def run(exe: str, db: str, project: str, agent: str) -> dict:
    out: dict = {"agent": agent, "claimed": [], "done": [], "errors": [], "claim_calls": 0, "done_calls": 0}
    params = StdioServerParameters(
        command=exe,
        args=["serve", "--transport", "stdio", "--db", db, "--project", project, "--profile", "worker"],
        # The SDK passes on only a safe subset of the environment; keep PYTHONPATH so that the
        # server runs the same code as the test.
        env={"TASKLOOM_AGENT": agent, **{k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ}},
    )
    try:
        async with Client(params, mode="legacy") as client:
            tools = sorted(t.name for t in (await client.list_tools()).tools)
            print(json.dumps({"ready": True, "tools": tools}), flush=True)
            await anyio.to_thread.run_sync(sys.stdin.readline)
            started = time.monotonic()
            while True:
                out["claim_calls"] += 1
                got = await client.call_tool("task_claim", {})
                if got.is_error:
                    out["errors"].append(
                        {"call": "task_claim", "text": _text(got), "error": got.structured_content}
                    )
                    break
                claim = got.structured_content
                if not claim["claimed"]:
                    break
                task = claim["detail"]["task"]
                out["claimed"].append(task["code"])
                if task["claimed_by"] != agent or task["status"] != "in_progress":
                    out["errors"].append({"call": "task_claim", "text": f"claimed task looks wrong: {task}"})
                out["done_calls"] += 1
                finished = await client.call_tool(
                    "task_done", {"task": task["code"], "summary": f"done by {agent}"}
                )
                if finished.is_error:
                    out["errors"].append(
                        {"call": "task_done", "text": _text(finished), "error": finished.structured_content}
                    )
                    break
                if finished.structured_content["task"]["status"] != "done":
                    out["errors"].append(
                        {"call": "task_done", "text": f"not done: {finished.structured_content}"}
                    )
                out["done"].append(task["code"])
            out["seconds"] = time.monotonic() - started
    except BaseException as exc:  # report everything, including cancellation and exception groups
        out["errors"].append({"call": "transport", "text": "".join(traceback.format_exception(exc))})
    return out


def main() -> int:
    exe, db, project, agent = sys.argv[1:5]
    result = anyio.run(run, exe, db, project, agent)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
