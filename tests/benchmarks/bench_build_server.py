"""What building an MCP server costs, with the tool descriptions made afresh and reused.

build_server() runs once per process in production, but once per test in the suites and once per
`taskloom` command that serves: the SDK's description of each tool (an argument model and JSON
schemas, built by pydantic) was made on every build. server/tools `sdk_tools` makes them once per
process and profile. Both are measured in one run, alternating.

    .venv/bin/python -m tests.benchmarks.bench_build_server [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from taskloom.clock import ManualClock
from taskloom.config import Settings
from taskloom.server import build_server
from taskloom.server.tools import sdk_tools
from taskloom.services.app import Taskloom


async def measure(rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        app = await Taskloom.open(Settings(db_path=Path(d) / "t.db", project="bench"), ManualClock())
        try:
            build_server(app)  # imports and first-use costs out of the way
            fresh: list[float] = []
            reused: list[float] = []
            for _ in range(rounds):
                sdk_tools.cache_clear()
                t0 = time.perf_counter()
                build_server(app)
                fresh.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                build_server(app)
                reused.append(time.perf_counter() - t0)
        finally:
            await app.close()
    out = {"fresh_ms_p50": statistics.median(fresh) * 1000, "reused_ms_p50": statistics.median(reused) * 1000}
    out["ratio"] = out["fresh_ms_p50"] / out["reused_ms_p50"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    got = asyncio.run(measure(parser.parse_args().rounds))
    print(f"build_server, all tools: descriptions made afresh {got['fresh_ms_p50']:.1f} ms, "
          f"reused {got['reused_ms_p50']:.1f} ms (p50): {got['ratio']:.1f}x")


if __name__ == "__main__":
    main()
