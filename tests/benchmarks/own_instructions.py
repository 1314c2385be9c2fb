"""Instructions taskloom's own code spends per `task_get` and per `task_claim`, counted by callgrind
in one process: the service through the app (`peek`, `write_now`), then `results.to_result` and
the result's wire form. No transport, no SDK and no resolver, so no background work lands in the
count (call_instructions, over stdio, moved by +-300k between identical runs on a busy host):
for comparing checkouts when the change is in taskloom's part of a call.

Each tree runs twice under valgrind on its own copy of DB (a database made by
bench_call_overhead.build_db): after a warm-up, 0 and then N calls; the figure is the difference
over N. Claims take the next ready task, in the same order in every tree. Takes 3-6 minutes.

    .venv/bin/python -m tests.benchmarks.own_instructions DB [--base DIR] [--calls 300]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.benchmarks.common import PROJECT, ROOT, callgrind_total

WARMUP = 30
TOOLS = ("task_get", "task_claim")


async def calls(db: Path, tool_name: str, n: int) -> None:
    """WARMUP + n calls of `tool_name`, as the server makes them without its transport."""
    from taskloom.config import Settings
    from taskloom.server import results
    from taskloom.server.tools import PROFILES, sdk_tools
    from taskloom.services import tasks, work
    from taskloom.services.app import Taskloom

    tool = next(t for t in sdk_tools(PROFILES["all"]) if t.name == tool_name)
    app = await Taskloom.open(Settings(db_path=db, project=PROJECT))
    try:
        for _ in range(WARMUP + n):
            if tool_name == "task_get":
                value = await app.peek(tasks.get, "GET-TARGET")
            else:
                value = await app.write_now(work.claim, agent="bench-own")
                if not value.claimed:
                    raise RuntimeError("the database ran out of ready tasks: build it bigger")
            results.to_result(tool, value).wire()
    finally:
        await app.close()


def count(tree: Path, db: Path, tool: str, n: int) -> float:
    """Instructions per call of `tool` in `tree`."""
    totals = []
    with tempfile.TemporaryDirectory(prefix="own-instr-") as d:
        for k in (0, n):
            copy = Path(d) / f"db-{k}.db"
            shutil.copyfile(db, copy)
            out = Path(d) / f"cg-{k}.out"
            env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}:{ROOT}", "PYTHONDONTWRITEBYTECODE": "1"}
            subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-m",
                 "tests.benchmarks.own_instructions", "--one", tool, str(k), str(copy)],
                env=env, cwd=ROOT, check=True, capture_output=True,
            )
            totals.append(callgrind_total(out))
    return (totals[1] - totals[0]) / n


def main() -> None:
    if sys.argv[1:2] == ["--one"]:  # the process valgrind runs
        import anyio

        tool, n, db = sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
        anyio.run(calls, db, tool, n)
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("db", type=Path)
    ap.add_argument("--base", type=Path, help="another checkout to count beside this one")
    ap.add_argument("--calls", type=int, default=300)
    a = ap.parse_args()
    trees = {"base": a.base, "now": ROOT} if a.base else {"now": ROOT}
    got = {label: {tool: count(tree, a.db, tool, a.calls) for tool in TOOLS} for label, tree in trees.items()}
    for tool in TOOLS:
        figures = " -> ".join(f"{got[label][tool] / 1e3:.0f}k" for label in trees)
        print(f"taskloom's own instructions per call, {tool} ({' -> '.join(trees)}): {figures}")


if __name__ == "__main__":
    main()
