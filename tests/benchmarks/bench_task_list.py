"""task_list at 100k tasks: one page through the services, with and without filters.

One project (`bulk_build`: all tasks ready, then a quarter claimed by one agent) is exported
once; each side (this checkout, and `--base DIR` if given) imports that archive with its own code
into a new SQLite file, or with `--pg` a new database of a throwaway PostgreSQL cluster, in a
process of its own, so a base that predates a migration is measured on its own schema. Rounds
alternate base and this.

    .venv/bin/python -m tests.benchmarks.bench_task_list [--tasks 100000] [--pg] [--base DIR] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import anyio

from tests.benchmarks.common import PROJECT, PY, ROOT, median
from tests.pg.cluster import cluster

FILTERS: dict[str, dict] = {
    "none": {},
    "status ready": {"statuses": ["ready"]},
    "status in_progress": {"statuses": ["in_progress"]},
    "role": {"role": "dev"},
    "claimed_by": {"claimed_by": "bench-agent"},
}


async def source(db: Path, n: int, archive_path: Path) -> None:
    from taskloom.config import Settings
    from taskloom.services import archive
    from tests.benchmarks.common import build_bulk, open_app

    await build_bulk(db, n, 0, all_ready=True)
    async with open_app(db, new=False) as app:
        pid = app.project_id
        await app.store.write_raw(lambda conn: conn.execute(
            "UPDATE tasks SET status = 'in_progress', claimed_by = 'bench-agent', role = 'dev'"
            " WHERE project_id = ? AND id % 4 = 0", (pid,)))
    await archive.export(Settings(db_path=db, project=PROJECT), PROJECT, archive_path)


async def child(target: str, archive_path: Path, calls: int) -> dict[str, float]:
    from taskloom.config import Settings
    from taskloom.services import importing, tasks
    from taskloom.services.app import Taskloom

    settings = (Settings(db_url=target, project=PROJECT, db_patience=10.0) if target.startswith("postgresql:")
                else Settings(db_path=Path(target), project=PROJECT))
    assert (await importing.import_archive(settings, archive_path)).verified
    app = await Taskloom.open(settings)
    try:
        out = {}
        for name, filters in FILTERS.items():
            times = []
            for _ in range(calls):
                t0 = time.perf_counter()
                await app.read(tasks.list_tasks, limit=50, **filters)
                times.append(time.perf_counter() - t0)
            out[name] = median(times) * 1000
    finally:
        await app.close()
    return out


def run_side(tree: Path, target: str, archive_path: Path, calls: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{ROOT}"}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.bench_task_list", "--child", target, "--archive", str(archive_path),
         "--calls", str(calls)],
        env=env, cwd=ROOT, capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{tree}: {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--base", type=Path)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--pg", action="store_true", help="on PostgreSQL (a throwaway cluster) instead of SQLite")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--archive", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(anyio.run(child, a.child, a.archive, a.calls)))
        return
    sides = ([("base", a.base.resolve())] if a.base else []) + [("this", ROOT)]
    got: dict[str, list[dict[str, float]]] = {label: [] for label, _ in sides}
    with tempfile.TemporaryDirectory(prefix="taskloom-bench-") as d, (cluster() if a.pg else nullcontext()) as pg:
        work = Path(d)
        anyio.run(source, work / "source.db", a.tasks, work / "a.tar")
        for r in range(a.rounds):
            for label, tree in sides if r % 2 == 0 else sides[::-1]:
                name = f"{label}{r}"
                target = pg.create_database(name) if pg else str(work / f"{name}.db")
                got[label].append(run_side(tree, target, work / "a.tar", a.calls))
    where = "PostgreSQL" if a.pg else "SQLite"
    print(f"== task_list on {where}, one page of 50 at {a.tasks:,} tasks, median ms"
          f" ({PY} -m tests.benchmarks.bench_task_list{' --pg' if a.pg else ''})")
    for name in FILTERS:
        cells = [f"{label} {median([g[name] for g in got[label]]):.2f}" for label, _ in sides]
        print(f"  {name:20s} " + "  ".join(cells))


if __name__ == "__main__":
    main()
