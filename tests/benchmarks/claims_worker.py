"""One agent process of bench_claims: an MCP client looping `task_claim`, spawned by the coordinator.

Over stdio it spawns its own server (`taskloom serve`, or `--server CMD`); with `--url` it joins a
shared streamable-HTTP server and names itself in each call (one server, many agents). It prints
READY once initialized and warmed up, waits for GO on stdin (so that spawn time is excluded and
all agents start together), claims for `--duration` seconds or `--count` claims, and prints
`RESULT {json}` (see common.ClaimRecorder).

    .venv/bin/python -m tests.benchmarks.claims_worker --db FILE --agent NAME [--client sdk|bare] [--url URL] [--tree DIR]

`--tree DIR` runs the stdio server from DIR/src (e.g. a checkout of the previous release); without
it, from this checkout's src/, not from wherever the venv's editable install points.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import anyio

from tests.benchmarks.clients import BareClient, child_pids, cpu_seconds
from tests.benchmarks.common import ROOT, ClaimRecorder, child_env, serve_argv

WARMUP_CALLS = 20  # reads before READY, so that the first claims do not pay for cold code paths


def server_env(agent: str, tree: Path) -> dict[str, str]:
    return child_env(TASKLOOM_AGENT=agent, PYTHONPATH=f"{tree / 'src'}:{ROOT}")


async def sdk_worker(
    db: str, agent: str, rec: ClaimRecorder, server: str | None, url: str | None, tree: Path
) -> None:
    from mcp import Client, StdioServerParameters

    # Over HTTP the server is shared, so the agent names itself; over stdio its server knows it.
    argv = serve_argv(db, server=server)
    target = url or StdioServerParameters(command=argv[0], args=argv[1:], env=server_env(agent, tree), cwd=str(ROOT))
    claim_args = {"agent": agent} if url else {}
    async with Client(target, mode="legacy") as client:
        for _ in range(WARMUP_CALLS):
            await client.call_tool("task_list", {"limit": 1})
        server_pid = None if url else child_pids()[0]
        print("READY", flush=True)
        if (await anyio.to_thread.run_sync(sys.stdin.readline)).strip() != "GO":
            return
        cpu0 = (time.process_time(), cpu_seconds(server_pid) if server_pid else 0.0)
        rec.start()
        while rec.more():
            t0 = time.perf_counter()
            res = await client.call_tool("task_claim", claim_args)
            dt = time.perf_counter() - t0
            text = res.content[0].text if res.is_error else ""
            rec.record(dt, res.is_error, res.structured_content, text)
        cpu_server = cpu_seconds(server_pid) - cpu0[1] if server_pid else 0.0
        rec.report(time.process_time() - cpu0[0], cpu_server)


def bare_worker(db: str, agent: str, rec: ClaimRecorder, server: str | None, tree: Path) -> None:
    """The same loop from a bare JSON-RPC client: no SDK client CPU, so the servers get the cores."""
    client = BareClient(serve_argv(db, server=server), server_env(agent, tree))
    try:
        for _ in range(WARMUP_CALLS):
            client.call("task_list", {"limit": 1})
        print("READY", flush=True)
        if sys.stdin.readline().strip() != "GO":
            return
        cpu0 = (time.process_time(), cpu_seconds(client.pid))
        rec.start()
        while rec.more():
            t0 = time.perf_counter()
            res = client.call("task_claim", {})
            text = res["content"][0]["text"] if res.get("isError") else ""
            rec.record(time.perf_counter() - t0, bool(res.get("isError")), res.get("structuredContent"), text)
        cpu = (time.process_time() - cpu0[0], cpu_seconds(client.pid) - cpu0[1])
    finally:
        client.close()
    rec.report(*cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True)
    ap.add_argument("--agent", required=True)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--count", type=int)
    ap.add_argument("--client", choices=["sdk", "bare"], default="sdk")
    ap.add_argument("--server", help="command instead of `taskloom serve` (stdio)")
    ap.add_argument("--url", help="a shared streamable-HTTP server instead of an own stdio one (sdk client)")
    ap.add_argument("--tree", type=Path, default=ROOT, help="checkout whose src/ the stdio server runs")
    a = ap.parse_args()
    rec = ClaimRecorder(a.agent, a.duration, a.count)
    if a.client == "bare":
        bare_worker(a.db, a.agent, rec, a.server, a.tree)
    else:
        anyio.run(sdk_worker, a.db, a.agent, rec, a.server, a.url, a.tree)


if __name__ == "__main__":
    main()
