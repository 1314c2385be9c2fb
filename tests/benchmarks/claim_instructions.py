"""Server instructions per call of `task_claim` and `noop`, counted by callgrind: a figure that
does not move with the machine's other load, where CPU seconds on a busy 2-core host swing by
a factor of two between identical builds.

One noop_server of TREE (its src/) runs under valgrind --tool=callgrind over stdio, driven by a
bare JSON-RPC client on a copy of DB (ready tasks, e.g. from build_bulk(..., all_ready=True)).
After a warm-up, callgrind_control dumps between a block of N claims and a block of N noops;
each block's total is divided by N. Background work (resolver, change feed) runs by the clock,
and under valgrind a block lasts minutes: run both trees on the same DB at the same time.
Takes 5-15 minutes.

    .venv/bin/python -m tests.benchmarks.claim_instructions TREE DB [--calls 200]
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
from tests.benchmarks.common import PROJECT

WARMUP = 40  # calls of each tool before counting
SETTLE_S = 0.5  # for the dump to be written


def count(tree: Path, db: Path, calls: int) -> dict[str, float]:
    out = Path(tempfile.mkdtemp(prefix="claim-instr-"))
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
            client.call("noop", {})
            client.call("task_claim", {})
        dump()
        for _ in range(calls):
            client.call("task_claim", {})
        dump()
        for _ in range(calls):
            client.call("noop", {})
        dump()
    finally:
        client.close()
    dumps = sorted(out.glob("cg.*.out.*"), key=lambda f: int(f.name.rsplit(".", 1)[1]))
    totals = [_total(f) for f in dumps]
    shutil.rmtree(out, ignore_errors=True)
    claim, noop = totals[1] / calls, totals[2] / calls
    return {"task_claim": claim, "noop": noop, "added": claim - noop}


def _total(dump: Path) -> int:
    with dump.open() as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise ValueError(f"no total in {dump}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tree", type=Path)
    ap.add_argument("db", type=Path)
    ap.add_argument("--calls", type=int, default=200)
    a = ap.parse_args()
    got = count(a.tree, a.db, a.calls)
    print(f"{a.tree}: task_claim {got['task_claim'] / 1e6:.3f} M instructions per call, noop "
          f"{got['noop'] / 1e6:.3f} M, added {got['added'] / 1e6:.3f} M")


if __name__ == "__main__":
    main()
