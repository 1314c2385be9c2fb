"""`taskloom export` and `taskloom import` of a large project (issue 16).

A SQLite project of `--tasks` tasks with 1.5 dependencies, one note and two events per task
(bulk-inserted, as bench_done_dependents builds its graphs) is exported to a .tar.gz, then that
archive is imported into a new SQLite file, and with `--pg` also into a throwaway PostgreSQL
cluster and exported from it. Each step is timed end to end through the services (what the CLI
calls), the archive read and verified in full each time.

    .venv/bin/python -m tests.benchmarks.bench_archive [--tasks 100000] [--pg] [--base DIR [--rounds 3]]
Goal: export and import each under 10 s at 100k tasks.

`--base DIR` compares another checkout (e.g. the previous release, made with `git worktree add
--detach DIR COMMIT`) in the same run: the one archive is imported into a new SQLite file and a
new PostgreSQL database, and exported from that database, by each side's code in a process of
its own (`PYTHONPATH=DIR/src`), base and this interleaved for `--rounds` rounds. Each step
reports wall time, the taskloom process's CPU and, for PostgreSQL, the server's CPU (every
process of the cluster, the ended backends included): on a shared machine the CPU is the figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio

from tests.benchmarks.common import (
    PROJECT,
    PY,
    Figure,
    bulk_build,
    checkpoint,
    open_app,
    print_figures,
    result,
    script,
    workdir_or_temp,
)

GOAL_S = 10.0
NOW = 1_800_000_000.0


def _notes_and_events(conn: sqlite3.Connection, project_id: int, ids: list[int]) -> None:
    conn.executemany(
        "INSERT INTO notes (task_id, kind, body, agent, created_at) VALUES (?, 'progress', ?, 'bench-agent', ?)",
        [(i, f"Progress on task {i}: the tests pass, the docs are next.", NOW + i) for i in ids],
    )
    conn.executemany(
        "INSERT INTO events (project_id, at, kind, subject, agent, payload) VALUES (?, ?, ?, ?, 'bench-agent', ?)",
        [row for i in ids for row in (
            (project_id, NOW + i, "task.created", f"task:T-{i}", f'{{"code": "T-{i}"}}'),
            (project_id, NOW + i + 0.5, "task.note", f"task:T-{i}", f'{{"code": "T-{i}", "kind": "progress"}}'),
        )],
    )


async def build(path: Path, tasks: int) -> None:
    async with open_app(path) as app:
        pid = app.project_id

        def fill(conn: sqlite3.Connection) -> None:
            ids = bulk_build(conn, pid, tasks, tasks * 3 // 2)
            _notes_and_events(conn, pid, ids)

        await app.store.write_raw(fill)
    checkpoint(path)


async def timed_export(settings: Any, target: Path) -> tuple[float, float, Any]:
    from taskloom.services import archive

    t0, c0 = time.perf_counter(), time.process_time()
    report = await archive.export(settings, PROJECT, target)
    return time.perf_counter() - t0, time.process_time() - c0, report


async def timed_import(settings: Any, source: Path) -> tuple[float, float, Any]:
    from taskloom.services import importing

    t0, c0 = time.perf_counter(), time.process_time()
    report = await importing.import_archive(settings, source)
    assert report.verified, report
    return time.perf_counter() - t0, time.process_time() - c0, report


def run(tasks: int = 100_000, pg: bool = False, workdir: Path | None = None, base: Path | None = None,
        rounds: int = 3, pg_only: bool = False) -> dict[str, Any]:
    from taskloom.config import Settings

    workdir = workdir_or_temp(workdir)
    db = workdir / "source.db"
    t0 = time.perf_counter()
    anyio.run(build, db, tasks)
    build_s = time.perf_counter() - t0
    source = Settings(db_path=db, project=PROJECT)
    export_s, export_cpu, exported = anyio.run(timed_export, source, workdir / "a.tar.gz")
    rows = sum(exported.tables.values())
    print(f"  built {tasks:,} tasks in {build_s:.1f} s; export {export_s:.2f} s ({export_cpu:.2f} s CPU): "
          f"{rows:,} rows, {exported.archive_bytes / 1e6:.1f} MB", flush=True)
    if base is not None:
        figures = compare(base, workdir / "a.tar.gz", workdir, rounds, tasks, pg_only)
        print_figures(f"export and import: base ({base}) beside this checkout, same run", figures)
        return result("archive", {"tasks": tasks, "base": str(base), "rounds": rounds}, figures,
                      {"build_s": build_s, "rows": exported.tables, "export_cpu_s": export_cpu})
    import_s, import_cpu, _ = anyio.run(timed_import, Settings(db_path=workdir / "copy.db"), workdir / "a.tar.gz")
    print(f"  import into a new SQLite file {import_s:.2f} s ({import_cpu:.2f} s CPU)", flush=True)
    cmd = f"{PY} -m tests.benchmarks.bench_archive --tasks {tasks}" + (" --pg" if pg else "")
    figures = [
        Figure(f"export, SQLite, {tasks:,} tasks ({rows:,} rows) to .tar.gz", round(export_s, 2), "s",
               f"< {GOAL_S}", export_s < GOAL_S, cmd),
        Figure(f"import into a new SQLite file, {tasks:,} tasks", round(import_s, 2), "s", f"< {GOAL_S}",
               import_s < GOAL_S, cmd),
        Figure("archive size", round(exported.archive_bytes / 1e6, 1), "MB", command=cmd),
        # On a shared machine the wall time follows the neighbours' load; the CPU time (every thread
        # of this process: SQLite runs in it) is what the work itself costs.
        Figure("export / import CPU time, SQLite", f"{export_cpu:.2f} / {import_cpu:.2f}", "s", command=cmd),
    ]
    details: dict[str, Any] = {"build_s": build_s, "rows": exported.tables, "archive_bytes": exported.archive_bytes,
                               "export_cpu_s": export_cpu, "import_cpu_s": import_cpu}
    if pg:
        from tests.pg.cluster import cluster

        with cluster() as server:
            url = server.create_database("bench_archive")
            target = Settings(db_url=url, project=PROJECT, db_patience=10.0)
            pg_import_s, pg_import_cpu, _ = anyio.run(timed_import, target, workdir / "a.tar.gz")
            pg_export_s, pg_export_cpu, _ = anyio.run(timed_export, target, workdir / "b.tar.gz")
        print(f"  PostgreSQL: import {pg_import_s:.2f} s ({pg_import_cpu:.2f} s CPU here), export {pg_export_s:.2f} s "
              f"({pg_export_cpu:.2f} s CPU here)", flush=True)
        figures += [
            Figure(f"import into PostgreSQL, {tasks:,} tasks", round(pg_import_s, 2), "s", f"< {GOAL_S}",
                   pg_import_s < GOAL_S, cmd),
            Figure(f"export from PostgreSQL, {tasks:,} tasks", round(pg_export_s, 2), "s", f"< {GOAL_S}",
                   pg_export_s < GOAL_S, cmd),
        ]
    print_figures("export and import", figures)
    return result("archive", {"tasks": tasks, "pg": pg}, figures, details)


# One step in a process of its own, run with the side's code: prints its wall and CPU seconds.
STEP = """
import json, sys, time
from pathlib import Path
import anyio
from taskloom.config import Settings
from taskloom.services import archive, importing
op, target, path = sys.argv[1:4]
settings = (Settings(db_url=target, project="bench", db_patience=10.0) if target.startswith("postgresql:")
            else Settings(db_path=Path(target), project="bench"))
t0, c0 = time.perf_counter(), time.process_time()
if op == "import":
    assert anyio.run(importing.import_archive, settings, Path(path)).verified
else:
    anyio.run(archive.export, settings, "bench", Path(path))
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}))
"""


def _server_cpu(postmaster: int | None) -> float:
    """CPU seconds of the cluster so far: the postmaster, its live children, and the children it
    has reaped (ended backends' time is added to its own children's)."""
    import psutil

    if postmaster is None:
        return 0.0
    root = psutil.Process(postmaster)
    t = root.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    for child in root.children():
        try:
            c = child.cpu_times()
        except psutil.NoSuchProcess:
            continue  # ended between the listing and the read: now in the postmaster's reaped time
        total += c.user + c.system
    return total


def _step(src: Path, op: str, target: str, path: Path, postmaster: int | None) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    before = _server_cpu(postmaster)
    done = subprocess.run([sys.executable, "-c", STEP, op, target, str(path)], env=env, cwd=src.parent,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{op} with {src} failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return {**out, "server_cpu": _server_cpu(postmaster) - before}


def compare(base: Path, archive_path: Path, workdir: Path, rounds: int, tasks: int, pg_only: bool = False) -> list[Figure]:
    """Base and this checkout, interleaved: SQLite export and import, PostgreSQL import and export."""
    from tests.pg.cluster import cluster

    sides = {"base": base / "src", "this": Path(__file__).parents[2] / "src"}
    seen: dict[str, dict[str, list[dict[str, float]]]] = {s: {"lite_export": [], "lite_import": [], "pg_import": [], "pg_export": []}
                                                           for s in sides}
    with cluster() as server:
        postmaster = server.postmaster_pid()
        for r in range(rounds):
            for side, src in sides.items():
                name = f"{side}{r}"
                got = seen[side]
                if pg_only:  # a base older than the source file's SQLite schema cannot read it
                    got.pop("lite_export", None), got.pop("lite_import", None)
                else:
                    got["lite_export"].append(_step(src, "export", str(workdir / "source.db"), workdir / f"{name}-lite.tar.gz",
                                                None))
                    got["lite_import"].append(_step(src, "import", str(workdir / f"{name}.db"), archive_path, None))
                url = server.create_database(name)
                got["pg_import"].append(_step(src, "import", url, archive_path, postmaster))
                got["pg_export"].append(_step(src, "export", url, workdir / f"{name}.tar.gz", postmaster))
                print(f"  round {r + 1} {side}: " + "; ".join(
                    f"{k} {v[-1]['wall']:.2f} s wall, {v[-1]['cpu']:.2f} CPU, {v[-1]['server_cpu']:.2f} server CPU"
                    for k, v in got.items()), f"(load {os.getloadavg()[0]:.1f})", flush=True)

    def fig(step: str, label: str, goal: bool) -> list[Figure]:
        def span(side: str, key: str) -> str:
            values = sorted(x[key] for x in seen[side][step])
            return f"{values[0]:.2f}" if len(values) == 1 else f"{values[0]:.2f}-{values[-1]:.2f}"

        best = min(x["wall"] for x in seen["this"][step])
        out = [Figure(f"{label}, {tasks:,} tasks, wall: base -> this", f"{span('base', 'wall')} -> {span('this', 'wall')}",
                      "s", f"< {GOAL_S}" if goal else "", best < GOAL_S if goal else None, cmd)]
        out.append(Figure(f"{label}: taskloom CPU, base -> this", f"{span('base', 'cpu')} -> {span('this', 'cpu')}", "s",
                          command=cmd))
        if step.startswith("pg"):
            out.append(Figure(f"{label}: PostgreSQL server CPU, base -> this",
                              f"{span('base', 'server_cpu')} -> {span('this', 'server_cpu')}", "s", command=cmd))
        return out

    cmd = f"{PY} -m tests.benchmarks.bench_archive --tasks {tasks} --base {base} --rounds {rounds}"
    lite = [] if pg_only else [*fig("lite_export", "export from SQLite", True),
                               *fig("lite_import", "import into a new SQLite file", True)]
    return [*lite, *fig("pg_import", "import into PostgreSQL", True), *fig("pg_export", "export from PostgreSQL", True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--pg", action="store_true", help="also import into and export from PostgreSQL")
    parser.add_argument("--base", type=Path, help="another checkout to compare in the same run (its src/ is imported)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of base and this, with --base")
    parser.add_argument("--pg-only", action="store_true", help="with --base: only the PostgreSQL steps")
    args = parser.parse_args()
    script(run, tasks=args.tasks, pg=args.pg, base=args.base, rounds=args.rounds, pg_only=args.pg_only)


if __name__ == "__main__":
    main()
