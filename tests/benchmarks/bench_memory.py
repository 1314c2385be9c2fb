"""Server resident memory: a real `taskloom serve` at 100k tasks beside an idle one on an empty database.

Two stdio server processes, started the same way in the same run, each driven by a bare JSON-RPC
client (so the figures are the server's alone). The big database has `--tasks` tasks and 1.5
dependencies per task, its ranks marked stale, so the server's first resolver pass re-ranks the
whole graph (what follows a plan import or a large edit); with `--reset-ranks` every rank is wrong
too, so that pass rewrites all of them. Measured with psutil: resident memory
after start-up and the first resolver pass, again after a working session (agent_init,
project_status, task lists, claims and completions), and the process's high-water mark (VmHWM).

    .venv/bin/python -m tests.benchmarks.bench_memory [--tasks 100000] [--cycles 50] [--base DIR]

`--base DIR` measures a second checkout (e.g. the previous release's commit, made with
`git worktree add --detach DIR COMMIT`) in the same run: its databases are built and its servers
run with PYTHONPATH at DIR/src, each side's figures printed, then the ratios.

`--idle-only --base DIR [--rounds N]` measures only idle servers (an empty database, the same
short session), base and this checkout alternately N times, and prints the medians beside the
floor no server built on the MCP SDK goes under: a bare interpreter that imports the SDK's
server (`mcp.server.mcpserver`), started the same way; and the same import with uvicorn kept
out, which a stdio server does (the floor over stdio without changing the SDK).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio

from tests.benchmarks.clients import BareClient, memory_mb
from tests.benchmarks.common import (
    PROJECT,
    PY,
    PYTHON,
    ROOT,
    Figure,
    build_bulk,
    child_env,
    print_figures,
    result,
    script,
    serve_argv,
    workdir_or_temp,
)

SETTLE_DEADLINE = 120.0  # seconds for the first resolver pass (a 100k-task re-rank on a loaded machine)


def _stale_ranks(path: Path, reset: bool = False) -> None:
    """Mark the ranks stale; `reset` also sets every rank to 1, so the re-rank rewrites them all."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("UPDATE projects SET ranked_version = graph_version - 1 WHERE name = ?", (PROJECT,))
    if reset:
        conn.execute("UPDATE tasks SET rank = 1")
    conn.close()


def _ranked(path: Path) -> bool:
    conn = sqlite3.connect(str(path))
    try:
        row = conn.execute("SELECT graph_version = ranked_version FROM projects WHERE name = ?", (PROJECT,)).fetchone()
    finally:
        conn.close()
    return bool(row and row[0])


def _settle(client: BareClient, path: Path) -> float:
    """Poll until this server's resolver has run once and the ranks are current; returns seconds."""
    t0 = time.perf_counter()
    deadline = t0 + SETTLE_DEADLINE
    while True:
        health = client.call("agent_init", {})["structuredContent"]["health"]
        if health["resolver_last_run"] and _ranked(path):
            return time.perf_counter() - t0
        if time.perf_counter() > deadline:
            raise RuntimeError(f"resolver not done after {SETTLE_DEADLINE} s: {health}")
        time.sleep(0.1)


def _session(client: BareClient, cycles: int) -> int:
    """A working session's calls; returns the tasks claimed and finished."""
    client.call("project_status", {})
    for status in ("ready", "waiting", "done"):
        client.call("task_list", {"status": status, "limit": 200})
    done = 0
    for _ in range(cycles):
        got = client.call("task_claim", {})["structuredContent"]
        if not got["claimed"]:
            break
        code = got["detail"]["task"]["code"]
        res = client.call("task_done", {"task": code, "summary": "Done; see the branch."})
        if res.get("isError"):
            raise RuntimeError(f"task_done failed: {res['content'][0]['text']}")
        done += 1
    client.call("project_status", {})
    return done


def measure(path: Path, cycles: int, src: Path | None = None) -> dict[str, Any]:
    """One server over `path`, running `src`'s code (`python -m taskloom` from it): by default
    this checkout's, not whichever the `taskloom` script was installed from (a git worktree's
    would otherwise run the main checkout's code)."""
    src = ROOT / "src" if src is None else src
    argv = serve_argv(path, server=f"{PYTHON} -m taskloom serve")
    client = BareClient(argv, child_env(TASKLOOM_AGENT="bench-memory", PYTHONPATH=f"{src}{os.pathsep}{ROOT}"))
    try:
        settle_s = _settle(client, path)
        started = memory_mb(client.pid)
        done = _session(client, cycles)
        worked = memory_mb(client.pid)
    finally:
        client.close()
    return {"settle_s": settle_s, "after_start": started, "after_session": worked, "tasks_done": done}


def build(empty: Path, big: Path, n_tasks: int) -> None:
    anyio.run(lambda: build_bulk(empty, 0, 0))
    anyio.run(lambda: build_bulk(big, n_tasks, n_tasks * 3 // 2))


def _build_with(src: Path, empty: Path, big: Path, n_tasks: int) -> None:
    """Build with `src`'s own code, so each side's database has that side's schema."""
    code = "import sys; from pathlib import Path; from tests.benchmarks.bench_memory import build; " \
        "build(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))"
    subprocess.run(
        [PYTHON, "-c", code, str(empty), str(big), str(n_tasks)],
        check=True, cwd=str(ROOT), env={**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{ROOT}"},
    )


def side(workdir: Path, n_tasks: int, cycles: int, src: Path | None, name: str, reset: bool) -> dict[str, Any]:
    empty, big = workdir / f"memory_empty_{name}.db", workdir / f"memory_big_{name}.db"
    t0 = time.perf_counter()
    if src is None:
        build(empty, big, n_tasks)
    else:
        _build_with(src, empty, big, n_tasks)
    _stale_ranks(big, reset)
    build_s = time.perf_counter() - t0
    idle = measure(empty, cycles, src)
    loaded = measure(big, cycles, src)
    if loaded["tasks_done"] != cycles:
        raise RuntimeError(f"only {loaded['tasks_done']} of {cycles} claim/done cycles ran")
    return {"build_s": round(build_s, 2), "idle": idle, "loaded": loaded,
            "db_bytes": big.stat().st_size, "empty_db_bytes": empty.stat().st_size}


def figures_of(d: dict[str, Any], n_tasks: int, cmd: str) -> list[Figure]:
    idle, loaded = d["idle"], d["loaded"]
    rss = lambda r, when: r[when]["rss_mb"]
    delta = rss(loaded, "after_session") - rss(idle, "after_session")
    big_label = f"{n_tasks:,} tasks / {n_tasks * 3 // 2:,} deps"
    return [
        Figure("server RSS, idle on an empty database", round(rss(idle, "after_session"), 1), "MiB", command=cmd),
        Figure(f"server RSS at {big_label}, after a working session", round(rss(loaded, "after_session"), 1),
               "MiB", command=cmd),
        Figure(f"RSS ratio, {n_tasks:,} tasks / idle", round(rss(loaded, "after_session") / rss(idle, "after_session"), 2),
               "x", command=cmd),
        Figure(f"RSS added by {n_tasks:,} tasks (per task)", f"{delta:.1f} MiB ({delta * 2**20 / n_tasks:.0f} B)", "",
               command=cmd),
        Figure(f"peak RSS (VmHWM) at {n_tasks:,} tasks / idle, incl. the full re-rank",
               f"{loaded['after_session']['peak_mb']:.0f} / {idle['after_session']['peak_mb']:.0f}", "MiB",
               command=cmd),
        Figure(f"first resolver pass with a full re-rank at {n_tasks:,} tasks (until ranks current)",
               round(loaded["settle_s"], 2), "s", command=cmd),
    ]


def run(
    n_tasks: int = 100_000, cycles: int = 50, workdir: Path | None = None, base: Path | None = None,
    reset_ranks: bool = False,
) -> dict[str, Any]:
    workdir = workdir_or_temp(workdir)
    cmd = f"{PY} -m tests.benchmarks.bench_memory --tasks {n_tasks} --cycles {cycles}"
    params = {"tasks": n_tasks, "deps": n_tasks * 3 // 2, "cycles": cycles, "reset_ranks": reset_ranks}
    cmd += " --reset-ranks" if reset_ranks else ""
    if base is None:
        details = side(workdir, n_tasks, cycles, None, "this", reset_ranks)
        figures = figures_of(details, n_tasks, cmd)
        print_figures("server memory: 100k tasks beside an idle server", figures)
        return result("memory", params, figures, details)
    cmd += f" --base {base}"
    old = side(workdir, n_tasks, cycles, base / "src", "base", reset_ranks)
    new = side(workdir, n_tasks, cycles, None, "this", reset_ranks)
    print_figures(f"server memory, base ({base})", figures_of(old, n_tasks, cmd))
    print_figures("server memory, this checkout", figures_of(new, n_tasks, cmd))
    after = lambda d, key: d["loaded"]["after_session"][key]
    figures = [
        Figure(f"server RSS at {n_tasks:,} tasks after a working session, base -> this",
               f"{after(old, 'rss_mb'):.1f} -> {after(new, 'rss_mb'):.1f} ({after(new, 'rss_mb') / after(old, 'rss_mb'):.2f}x)",
               "MiB", goal="<= 100 MiB", met=after(new, "rss_mb") <= 100, command=cmd),
        Figure(f"peak RSS (VmHWM) at {n_tasks:,} tasks, base -> this",
               f"{after(old, 'peak_mb'):.1f} -> {after(new, 'peak_mb'):.1f} ({after(new, 'peak_mb') / after(old, 'peak_mb'):.2f}x)",
               "MiB", goal="<= 130 MiB", met=after(new, "peak_mb") <= 130, command=cmd),
        Figure("idle RSS, base -> this",
               f"{old['idle']['after_session']['rss_mb']:.1f} -> {new['idle']['after_session']['rss_mb']:.1f}", "MiB",
               command=cmd),
        Figure(f"first resolver pass with a full re-rank at {n_tasks:,} tasks, base -> this",
               f"{old['loaded']['settle_s']:.2f} -> {new['loaded']['settle_s']:.2f}", "s", command=cmd),
    ]
    print_figures("server memory: base beside this checkout, same run", figures)
    return result("memory", {**params, "base": str(base)}, figures, {"base": old, "this": new})


SDK_FLOOR = "import mcp.server.mcpserver, sys; sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.readline()"
# The same, with what a stdio server keeps out of the SDK's import (uvicorn: see
# taskloom.server.unimportable): the floor a stdio server on this SDK reaches without changing it.
STDIO_FLOOR = "import sys; sys.modules['uvicorn'] = None; " + SDK_FLOOR


def sdk_floor_mb(code: str = SDK_FLOOR) -> float:
    """Resident memory of an interpreter that has imported the SDK's server and nothing else."""
    proc = subprocess.Popen(
        [PYTHON, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=str(ROOT), env={**os.environ, **child_env()}
    )
    try:
        proc.stdout.readline()
        return memory_mb(proc.pid)["rss_mb"]
    finally:
        proc.communicate(b"\n", timeout=30)


def idle_only(base: Path, rounds: int, workdir: Path | None = None) -> dict[str, Any]:
    """Idle servers only, base and this checkout alternately: on a busy machine each pair ran
    under the same load. Medians of `rounds` pairs, and the SDK floor measured between them."""
    workdir = workdir_or_temp(workdir)
    empty = {"base": workdir / "memory_empty_base.db", "this": workdir / "memory_empty_this.db"}
    _build_with(base / "src", empty["base"], workdir / "unused_base.db", 0)
    build(empty["this"], workdir / "unused_this.db", 0)
    rss: dict[str, list[float]] = {"base": [], "this": [], "sdk": [], "stdio_floor": []}
    for _ in range(rounds):
        rss["base"].append(measure(empty["base"], 5, base / "src")["after_session"]["rss_mb"])
        rss["this"].append(measure(empty["this"], 5)["after_session"]["rss_mb"])
        rss["sdk"].append(sdk_floor_mb())
        rss["stdio_floor"].append(sdk_floor_mb(STDIO_FLOOR))
    med = {k: statistics.median(v) for k, v in rss.items()}
    cmd = f"{PY} -m tests.benchmarks.bench_memory --idle-only --base {base} --rounds {rounds}"
    figures = [
        Figure("idle RSS over stdio, base -> this (medians)", f"{med['base']:.1f} -> {med['this']:.1f}", "MiB",
               goal="<= 60 MiB", met=med["this"] <= 60, command=cmd),
        Figure("floor: an interpreter that imported mcp.server.mcpserver only", round(med["sdk"], 1), "MiB", command=cmd),
        Figure("idle RSS above that floor, base -> this", f"{med['base'] - med['sdk']:.1f} -> {med['this'] - med['sdk']:.1f}",
               "MiB", command=cmd),
        Figure("floor over stdio: the same import with uvicorn kept out, as a stdio server does",
               round(med["stdio_floor"], 1), "MiB", command=cmd),
        Figure("idle RSS above the stdio floor (taskloom's own share), this checkout",
               round(med["this"] - med["stdio_floor"], 1), "MiB", command=cmd),
    ]
    print_figures("idle server memory: base and this checkout alternately, same run", figures)
    return result("memory-idle", {"base": str(base), "rounds": rounds}, figures, {"rss_mb": rss})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--cycles", type=int, default=50, help="claim + done pairs in the working session")
    ap.add_argument("--quick", action="store_true", help="10k tasks")
    ap.add_argument("--base", type=Path, help="another checkout to measure in the same run (its src/ is imported)")
    ap.add_argument("--reset-ranks", action="store_true",
                    help="every rank set to 1 first, so the first re-rank rewrites them all (the worst case)")
    ap.add_argument("--idle-only", action="store_true", help="idle servers only, alternating with --base (required)")
    ap.add_argument("--rounds", type=int, default=5, help="with --idle-only: base/this pairs measured")
    a = ap.parse_args()
    if a.idle_only:
        if a.base is None:
            ap.error("--idle-only compares with a base checkout: give --base DIR")
        script(idle_only, base=a.base, rounds=a.rounds)
        return
    script(run, n_tasks=10_000 if a.quick else a.tasks, cycles=a.cycles, base=a.base, reset_ranks=a.reset_ranks)


if __name__ == "__main__":
    main()
