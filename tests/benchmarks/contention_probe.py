"""Where claim CPU goes as agents are added: bench_claims' stdio runs, plus what each server does.

Runs `server_claims` (N agents over stdio, each its own server) for one or more trees in
interleaved rounds and, while they claim, samples every server's /proc (CPU by thread,
voluntary and involuntary context switches) and the size of the database's -wal file.
`--separate` gives each agent its own copy of the database: the same 2N processes on the cores,
but no shared file (no lock, no foreign commits, no checkpoints of others' frames): the control
that tells contention apart from merely running 2N processes on two cores.

Client CPU per claim is the machine's gauge: the client does the same work however many agents
share the file, so server/client is the figure to compare across runs on a busy machine.

    .venv/bin/python -m tests.benchmarks.contention_probe --procs 8 [--trees A,B --rounds 3] [--separate]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import anyio

from tests.benchmarks import bench_claims as bc
from tests.benchmarks.clients import child_pids
from tests.benchmarks.common import ROOT, build_bulk

GO = threading.Event()


class _Clock:
    """bench_claims' `time`, telling the sampler when GO goes out (right after the settle sleep)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
        if seconds == bc.SETTLE_S:
            GO.set()


def servers() -> list[int]:
    return [server for worker in child_pids() for server in child_pids(worker)]


def threads(pid: int) -> dict[str, float]:
    """CPU seconds of the main thread and the others, and context switches of all threads."""
    out: dict[str, float] = {}
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            key = "cpu_main" if task.name == str(pid) else "cpu_other"
            out[key] = out.get(key, 0.0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for line in (task / "status").read_text().splitlines():
                if "ctxt_switches" in line:
                    k, v = line.split(":")
                    out[k] = out.get(k, 0) + int(v)
    except OSError:
        pass
    return out


def sample(procs: int, seconds: float, wal: Path, out: dict[str, Any]) -> None:
    GO.wait()
    GO.clear()
    time.sleep(1.0)
    pids = servers()[:procs]
    before = {p: threads(p) for p in pids}
    sizes, t0 = [], time.time()
    while time.time() < t0 + seconds:
        if wal.exists():
            sizes.append(wal.stat().st_size >> 10)
        time.sleep(0.25)
    after = {p: threads(p) for p in pids}
    elapsed = time.time() - t0
    keys = set().union(*after.values())
    out["per_s"] = {k: sum(after[p].get(k, 0) - before[p].get(k, 0) for p in pids) / elapsed for k in keys}
    out["wal_kib"] = (min(sizes), max(sizes)) if sizes else None


def separate_databases(base: Path, workdir: Path) -> None:
    """Every worker gets its own copy of `base` instead of the shared file."""
    popen = subprocess.Popen

    class _Subprocess:
        def __getattr__(self, name: str) -> Any:
            return getattr(subprocess, name)

        def Popen(self, argv: list[str], **kw: Any) -> subprocess.Popen:
            argv = list(argv)
            own = workdir / f"own-{argv[argv.index('--agent') + 1]}.db"
            argv[argv.index("--db") + 1] = str(bc.copy_db(base, own))
            return popen(argv, **kw)

    bc.subprocess = _Subprocess()
    bc._db_check = lambda path, outs: {"mismatched": 0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--procs", type=int, default=8)
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument(
        "--trees", default=str(ROOT), help="comma-separated checkouts whose servers run, interleaved"
    )
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--ready", type=int, default=100_000)
    ap.add_argument("--client", choices=["sdk", "bare"], default="sdk")
    ap.add_argument("--separate", action="store_true", help="each agent its own database (the control)")
    ap.add_argument("--workdir", type=Path)
    a = ap.parse_args()
    workdir = a.workdir or Path(tempfile.mkdtemp(prefix="taskloom-probe-"))
    base = workdir / "base.db"
    if not base.exists():
        anyio.run(lambda: build_bulk(base, a.ready, 0, all_ready=True))
    if a.separate:
        separate_databases(base, workdir)
    bc.time = _Clock()
    trees = a.trees.split(",")
    for r in range(a.rounds):
        for tree in trees if r % 2 == 0 else trees[::-1]:
            db = bc.copy_db(base, workdir / "run.db")
            probe: dict[str, Any] = {}
            sampler = threading.Thread(
                target=sample, args=(a.procs, max(1.0, a.duration - 3), Path(f"{db}-wal"), probe)
            )
            sampler.start()
            res = bc.server_claims(db, a.procs, a.duration, None, a.client, None, tree=Path(tree))
            sampler.join()
            per_claim = {k: v / max(res["rate"], 1e-9) for k, v in probe.get("per_s", {}).items()}
            srv, cli = res["cpu_server_ms_per_claim"], res["cpu_client_ms_per_claim"]
            print(
                f"{Path(tree).name} n={a.procs}{' separate' if a.separate else ''}: {res['rate']:.0f}/s, "
                f"p99 {res['p99_ms']:.0f} ms, worst {res['worst_ms']:.0f} ms, doubles {res['double']}, "
                f"errors {res['errors']}; CPU/claim server {srv:.2f} + client {cli:.2f} ms (server/client "
                f"{srv / cli if cli else 0:.2f}); server main thread {per_claim.get('cpu_main', 0) * 1e3:.2f} ms, "
                f"other threads {per_claim.get('cpu_other', 0) * 1e3:.2f} ms; context switches per claim, all "
                f"servers: voluntary {per_claim.get('voluntary_ctxt_switches', 0):.1f}, involuntary "
                f"{per_claim.get('nonvoluntary_ctxt_switches', 0):.1f}; -wal KiB {probe.get('wal_kib')}; "
                f"load {os.getloadavg()[0]:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
