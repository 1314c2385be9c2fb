"""The tails of bench_search on PostgreSQL: per shape p50 / p95 and the slowest 10 queries of
the shapes asked for, in server CPU (the database backends' run time, from /proc/PID/schedstat,
steadier than wall time on a busy machine) and wall time, each the median of --repeat runs.

    .venv/bin/python -m tests.benchmarks.search_tails --db-url URL [--base DIR] [--rounds 2]
        [--repeat 3] [--shapes phrase,filtered]

URL is a database bench_search built (`bench_search --db-url URL`). With `--base DIR` (a checkout
of an earlier commit, e.g. `git worktree add --detach DIR 00e9427`) each round runs that checkout
and this one in turn against the same database, in separate processes, each importing its own
taskloom; the queries are bench_search's own (the same seed).
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _cpu_ms(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
        except OSError:  # a backend that ended
            pass
    return total / 1e6


def _pct(values: list[float], p: float) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * p / 100))]


async def _measure(url: str, repeat: int, shapes: list[str] | None, show: list[str]) -> None:
    import psycopg

    from taskloom.config import Settings
    from taskloom.services import search
    from taskloom.services.app import Taskloom
    from tests.benchmarks import bench_search as bench

    corpus = bench.Corpus()
    _, tasks, notes = bench._rows(corpus, 1, 100_000, 300_000)
    queries = bench._queries(corpus, [r[4] for r in tasks[:5000]] + [r[3] for r in notes[:5000]])
    if shapes:
        queries = [q for q in queries if q[0] in shapes]
    base, db = url.rsplit("/", 1)
    app = await Taskloom.open(Settings(db_url=url, project="bench", default_agent="bench"), create_project=False)
    try:
        await app.read(search.search, "warm")
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            pids = [r[0] for r in admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [db])]
        runs: dict[int, list[tuple[float, float]]] = collections.defaultdict(list)
        for timed in [False] + [True] * repeat:
            for i, (_, text, filters) in enumerate(queries):
                cpu, started = _cpu_ms(pids), time.perf_counter()
                await app.read(search.search, text, **filters)
                if timed:
                    runs[i].append((_cpu_ms(pids) - cpu, (time.perf_counter() - started) * 1000))
    finally:
        await app.close()
    shape: dict[str, list[tuple[float, float, int]]] = collections.defaultdict(list)
    for i, values in runs.items():
        shape[queries[i][0]].append((statistics.median(v[0] for v in values), statistics.median(v[1] for v in values), i))
    every = [x for rows in shape.values() for x in rows]
    print(f"  all {len(every)}: server CPU p50 / p95 {_pct([x[0] for x in every], 50):.2f} / "
          f"{_pct([x[0] for x in every], 95):.2f} ms; wall {_pct([x[1] for x in every], 50):.2f} / "
          f"{_pct([x[1] for x in every], 95):.2f} ms")
    for name, rows in shape.items():
        print(f"  {name:12} ({len(rows)}): CPU {_pct([x[0] for x in rows], 50):6.2f} / {_pct([x[0] for x in rows], 95):6.2f}"
              f"  wall {_pct([x[1] for x in rows], 50):6.2f} / {_pct([x[1] for x in rows], 95):6.2f} ms")
    for name in show:
        print(f"  slowest 10 {name}, by server CPU (CPU / wall ms):")
        for cpu, wall, i in sorted(shape.get(name, []), key=lambda x: -x[0])[:10]:
            print(f"    {cpu:6.2f} / {wall:6.2f}  {queries[i][1]} {queries[i][2] or ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--base", type=Path, help="an earlier checkout to run in turn with this one")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shapes", help="only these shapes (comma-separated), e.g. phrase,filtered")
    parser.add_argument("--show", default="phrase,filtered", help="shapes whose slowest 10 are listed")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    shapes = args.shapes.split(",") if args.shapes else None
    if args.one:
        import anyio

        anyio.run(_measure, args.db_url, args.repeat, shapes, args.show.split(","))
        return
    trees = [("base", args.base.resolve()), ("this", ROOT)] if args.base else [("this", ROOT)]
    here = [a for a in sys.argv[1:] if not a.startswith("--base") and a != str(args.base)]
    for round_ in range(1, args.rounds + 1):
        for name, tree in trees:
            commit = subprocess.run(["git", "-C", str(tree), "log", "-1", "--format=%h"], check=False, capture_output=True,
                                    text=True).stdout.strip()
            load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
            print(f"== {name} ({commit}) round {round_}, {time.strftime('%H:%M:%S', time.gmtime())} UTC, load {load}",
                  flush=True)
            env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{tree}"}
            subprocess.run([sys.executable, str(Path(__file__).resolve()), *here, "--one"], cwd=tree, env=env,
                           check=True)


if __name__ == "__main__":
    main()
