"""`tools/list` size per profile: what each agent pays in context before doing anything.

    .venv/bin/python -m tests.benchmarks.bench_tool_list

Sizes are bytes of compact JSON of the `tools` array as a client receives it (a count, not a
timing, so it does not drift with the machine). Beside each: the same listing with pydantic's
full schemas, which is what the SDK would serve unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from tests.benchmarks.common import PY, Figure, open_app, print_figures, result, script, workdir_or_temp

GOALS = {"worker": 10_000, "all": 40_000}


def _size(tools: list[Any]) -> int:
    listing = {"tools": [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools]}
    return len(json.dumps(listing, separators=(",", ":")).encode())


async def _measure(path: Path) -> dict[str, tuple[int, int, int]]:
    from taskloom.server import build_server

    async with open_app(path) as app:
        sizes = {}
        for profile in ("worker", "orchestrator", "all"):
            server = build_server(app, profile)
            async with Client(server, mode="legacy") as client:
                listed = (await client.list_tools()).tools
            sizes[profile] = (len(listed), _size(listed), _size(await server.full_tools()))
        return sizes


def run(workdir: Path | None = None) -> dict[str, Any]:
    sizes = anyio.run(_measure, workdir_or_temp(workdir) / "tool_list.db")
    command = f"{PY} -m tests.benchmarks.bench_tool_list"
    figures = []
    for profile, (count, size, full) in sizes.items():
        goal = GOALS.get(profile)
        figures.append(
            Figure(f"tools/list, {profile} profile ({count} tools)", size / 1000, "KB",
                   f"< {goal // 1000} KB" if goal else "", size < goal if goal else None, command)
        )
        figures.append(Figure(f"  uncompacted schemas / served ({profile})", full / size, "x", command=command))
    print_figures("tools/list size per profile", figures)
    return result("tool_list", {}, figures, {p: {"tools": c, "bytes": s, "full_bytes": f} for p, (c, s, f) in sizes.items()})


if __name__ == "__main__":
    script(run)
