"""`taskloom export` and `taskloom import` of a large project (issue 16).

A SQLite project of `--tasks` tasks with 1.5 dependencies, one note and two events per task
(bulk-inserted, as bench_done_dependents builds its graphs) is exported to a .tar.gz, then that
archive is imported into a new SQLite file, and with `--pg` also into a throwaway PostgreSQL
cluster and exported from it. Each step is timed end to end through the services (what the CLI
calls), the archive read and verified in full each time.

    .venv/bin/python -m tests.benchmarks.bench_archive [--tasks 100000] [--pg]
Goal: export and import each under 10 s at 100k tasks.
"""

from __future__ import annotations

import argparse
import sqlite3
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


def run(tasks: int = 100_000, pg: bool = False, workdir: Path | None = None) -> dict[str, Any]:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--pg", action="store_true", help="also import into and export from PostgreSQL")
    args = parser.parse_args()
    script(run, tasks=args.tasks, pg=args.pg)


if __name__ == "__main__":
    main()
