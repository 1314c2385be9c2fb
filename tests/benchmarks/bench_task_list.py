"""task_list at 100k tasks: one page through the services, with and without filters.

Each side (this checkout, and `--base DIR` if given) runs in a process of its own on a database
its own code built (`bulk_build`, all tasks ready, a quarter claimed by one agent), so a base
that predates a migration is measured on its own schema. Rounds alternate base and this.

    .venv/bin/python -m tests.benchmarks.bench_task_list [--tasks 100000] [--base DIR] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

from tests.benchmarks.common import PY, ROOT, median

FILTERS: dict[str, dict] = {
    "none": {},
    "status ready": {"statuses": ["ready"]},
    "status in_progress": {"statuses": ["in_progress"]},
    "role": {"role": "dev"},
    "claimed_by": {"claimed_by": "bench-agent"},
}


async def child(db: Path, n: int, calls: int) -> dict[str, float]:
    from taskloom.services import tasks
    from tests.benchmarks.common import build_bulk, open_app

    await build_bulk(db, n, 0, all_ready=True)
    async with open_app(db, new=False) as app:
        pid = app.project_id
        await app.store.write_raw(lambda conn: conn.execute(
            "UPDATE tasks SET status = 'in_progress', claimed_by = 'bench-agent', role = 'dev'"
            " WHERE project_id = ? AND id % 4 = 0", (pid,)))
        out = {}
        for name, filters in FILTERS.items():
            times = []
            for _ in range(calls):
                t0 = time.perf_counter()
                await app.read(tasks.list_tasks, limit=50, **filters)
                times.append(time.perf_counter() - t0)
            out[name] = median(times) * 1000
    return out


def run_side(tree: Path, n: int, calls: int, workdir: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{ROOT}"}
    db = workdir / f"list-{tree.name}.db"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.bench_task_list", "--child", str(db), "--tasks", str(n),
         "--calls", str(calls)],
        env=env, cwd=ROOT, capture_output=True, text=True, check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--base", type=Path)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(anyio.run(child, a.child, a.tasks, a.calls)))
        return
    sides = ([("base", a.base.resolve())] if a.base else []) + [("this", ROOT)]
    got: dict[str, list[dict[str, float]]] = {label: [] for label, _ in sides}
    with tempfile.TemporaryDirectory(prefix="taskloom-bench-") as d:
        for r in range(a.rounds):
            for label, tree in sides if r % 2 == 0 else sides[::-1]:
                got[label].append(run_side(tree, a.tasks, a.calls, Path(d)))
    print(f"== task_list, one page of 50 at {a.tasks:,} tasks, median ms ({PY} -m tests.benchmarks.bench_task_list)")
    for name in FILTERS:
        cells = [f"{label} {median([g[name] for g in got[label]]):.2f}" for label, _ in sides]
        print(f"  {name:20s} " + "  ".join(cells))


if __name__ == "__main__":
    main()
