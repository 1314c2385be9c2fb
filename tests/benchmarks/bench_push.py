"""Notification latency across processes: a completion in one server process, the
`notifications/resources/updated` at a subscriber connected to another.

Two `taskloom serve` stdio processes share one database. The watcher's client subscribes to
`taskloom://tasks/T-<i>`; the worker's client claims and finishes T-<i>. The latency runs from
the moment task_done returns to the worker (its commit is done by then) to the notification's
arrival at the watcher. Beside it, in the same run: the worker's task_done round trip.

    .venv/bin/python -m tests.benchmarks.bench_push --rounds 100
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.types import ResourceUpdatedNotification

from tests.benchmarks.common import (
    PY,
    Figure,
    fresh,
    median,
    pct,
    print_figures,
    result,
    script,
    stdio_params,
    workdir_or_temp,
)

GOAL_MS = 250.0


async def _measure(db: Path, rounds: int) -> tuple[list[float], list[float]]:
    arrived: dict[str, float] = {}
    got = anyio.Event()

    async def on_message(message: Any) -> None:
        nonlocal got
        if isinstance(message, ResourceUpdatedNotification):
            arrived.setdefault(str(message.params.uri), time.perf_counter())
            got.set()

    latencies, round_trips = [], []
    async with (
        Client(stdio_params(db, "watcher"), mode="legacy", message_handler=on_message) as watcher,
        Client(stdio_params(db, "worker"), mode="legacy") as worker,
    ):
        await worker.call_tool("task_create", {"tasks": [{"title": f"t{i}"} for i in range(rounds)]})
        for i in range(1, rounds + 1):
            uri = f"taskloom://tasks/T-{i}"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # resources/subscribe: deprecated only in the 2026 era
                await watcher.subscribe_resource(uri)
            await worker.call_tool("task_claim", {"task": f"T-{i}"})
            with anyio.fail_after(5):  # the claim's own notification, then start clean
                while uri not in arrived:
                    await got.wait()
                    got = anyio.Event()
            arrived.pop(uri)
            started = time.perf_counter()
            await worker.call_tool("task_done", {"task": f"T-{i}", "summary": "ok"})
            returned = time.perf_counter()
            with anyio.fail_after(5):
                while uri not in arrived:
                    await got.wait()
                    got = anyio.Event()
            round_trips.append(returned - started)
            latencies.append(arrived.pop(uri) - returned)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                await watcher.unsubscribe_resource(uri)
    return latencies, round_trips


def run(rounds: int = 100, workdir: Path | None = None) -> dict[str, Any]:
    latencies, trips = anyio.run(_measure, fresh(workdir_or_temp(workdir) / "push.db"), rounds)
    ms = [x * 1000 for x in latencies]
    command = f"{PY} -m tests.benchmarks.bench_push --rounds {rounds}"
    figures = [
        Figure("notification latency p50, completion in one process to subscriber of another", median(ms), "ms",
               command=command),
        Figure("notification latency p95", pct(ms, 95), "ms", f"< {GOAL_MS:.0f}", pct(ms, 95) < GOAL_MS, command),
        Figure("notification latency max", max(ms), "ms", command=command),
        Figure("p50 latency / p50 task_done round trip (same run)", median(latencies) / median(trips), "x",
               command=command),
    ]
    print_figures("push notifications across processes", figures)
    return result("push", {"rounds": rounds}, figures, {"latency_ms": ms, "task_done_ms": [t * 1000 for t in trips]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    script(run, rounds=parser.parse_args().rounds)


if __name__ == "__main__":
    main()
