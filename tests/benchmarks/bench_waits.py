"""What the waits-for (deadlock) check costs a plan import, as the plan grows.

    .venv/bin/python -m tests.benchmarks.bench_waits [--sizes 1000,10000,100000]

Imports a plan of n tasks with 1.5 n dependencies in two streams (the second depends on the
first, so stream edges are in play) and reports the CPU the whole import used beside the CPU
spent inside `services.waits.check_tasks`, in the same run. CPU time, not wall time: the import
runs on the database thread, and CPU is what the shared machine's load moves least.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from tests.benchmarks.common import fmt, open_app, plan_tasks


async def _one(n: int, workdir: Path) -> dict[str, float]:
    from taskloom.models import Plan
    from taskloom.services import creation, planning, waits

    spent: list[float] = []
    original = waits.check_tasks

    def timed(*args: Any, **kwargs: Any) -> None:
        start = time.process_time()
        try:
            original(*args, **kwargs)
        finally:
            spent.append(time.process_time() - start)

    tasks = [dict(t, stream="a" if i < n // 2 else "b") for i, t in enumerate(plan_tasks(n, int(n * 1.5)))]
    plan = Plan.model_validate({"streams": [{"code": "a"}, {"code": "b", "depends_on": ["a"]}], "tasks": tasks})
    creation.waits.check_tasks = timed  # the module creation calls through
    try:
        async with open_app(workdir / f"waits-{n}.db") as app:
            start = time.process_time()
            await app.write(planning.import_plan, plan)
            total = time.process_time() - start
    finally:
        creation.waits.check_tasks = original
    return {"import_cpu_s": total, "waits_cpu_s": sum(spent), "waits_share": sum(spent) / total}


def run(sizes: tuple[int, ...] = (1_000, 10_000, 100_000), workdir: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        return {str(n): anyio.run(_one, n, Path(tmp)) for n in sizes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    args = parser.parse_args()
    for n, got in run(tuple(int(s) for s in args.sizes.split(","))).items():
        print(f"{int(n):>7,} tasks: import {fmt(got['import_cpu_s'])} s CPU, of which the waits-for check "
              f"{fmt(got['waits_cpu_s'])} s ({got['waits_share']:.0%})")


if __name__ == "__main__":
    main()
