"""Server instructions per call of `task_get` and `task_claim` over `noop`, counted by callgrind:
a figure that the machine's other load does not move, where CPU seconds on a busy 2-core host
swing by a factor of two between identical builds: for comparing checkouts.

TREE's noop_server runs under valgrind --tool=callgrind over stdio on a copy of DB, a database
made by bench_call_overhead.build_db with TREE's own code (it holds GET-TARGET and ready tasks to
claim). After a warm-up, blocks of N calls (task_get, noop, task_claim, noop) are dumped apart;
the figures are each tool's block over the mean of the two noop blocks. Background work (the
resolver, the change feed) runs by the clock and lands in whichever block is running: expect
+-60k instructions of noise. Run the trees to compare at the same time. Takes 5-15 minutes.

    .venv/bin/python -m tests.benchmarks.call_instructions TREE DB [--calls 150]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.benchmarks.call_cpu import NOOP_SERVER, tree_env
from tests.benchmarks.clients import BareClient
from tests.benchmarks.common import PROJECT, callgrind_total

WARMUP = 30  # calls of each tool before counting
SETTLE_S = 0.5  # for the dump to be written
ARGS = {"noop": {}, "task_get": {"task": "GET-TARGET"}, "task_claim": {}}
BLOCKS = ["task_get", "noop", "task_claim", "noop"]


def count(tree: Path, db: Path, calls: int) -> dict[str, float]:
    out = Path(tempfile.mkdtemp(prefix="call-instr-"))
    copy = out / "db.db"
    shutil.copyfile(db, copy)
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/cg.%p.out", sys.executable, "-m",
            NOOP_SERVER, "--transport", "stdio", "--db", str(copy), "--project", PROJECT]
    client = BareClient(argv, tree_env(tree), cwd=tree)

    def dump() -> None:
        subprocess.run(["callgrind_control", "-d", str(client.pid)], check=True, capture_output=True)
        time.sleep(SETTLE_S)

    try:
        for _ in range(WARMUP):
            for tool, args in ARGS.items():
                check(client.call(tool, args), tool)
        dump()
        for tool in BLOCKS:
            for _ in range(calls):
                res = client.call(tool, ARGS[tool])
            check(res, tool)
            dump()
    finally:
        client.close()
    dumps = sorted(out.glob("cg.*.out.*"), key=lambda f: int(f.name.rsplit(".", 1)[1]))
    per = [callgrind_total(f) / calls for f in dumps[1 : 1 + len(BLOCKS)]]
    shutil.rmtree(out, ignore_errors=True)
    noop = (per[1] + per[3]) / 2
    return {"task_get": per[0] - noop, "task_claim": per[2] - noop, "noop": noop}


def check(res: dict, tool: str) -> None:
    if res.get("isError") or (tool == "task_claim" and not res["structuredContent"]["claimed"]):
        raise RuntimeError(f"{tool} failed: {res}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tree", type=Path)
    ap.add_argument("db", type=Path)
    ap.add_argument("--calls", type=int, default=150)
    a = ap.parse_args()
    got = count(a.tree, a.db, a.calls)
    print(f"{a.tree}: added instructions per call over noop: task_get {got['task_get'] / 1e3:.0f}k, "
          f"task_claim {got['task_claim'] / 1e3:.0f}k (noop {got['noop'] / 1e6:.3f} M)")


if __name__ == "__main__":
    main()
