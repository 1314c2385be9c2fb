"""The runner (`taskloom run`, issue 13): how soon a ready task's worker makes its first tool call,
what the runner costs while nothing happens, and whether the cap on live workers holds under churn.

Every part drives a real `taskloom run` process with the test agent (tests/runner/agent.py, an SDK
MCP client that reaches the database through its own `taskloom serve --profile worker`), as
tests/runner/test_run.py does.

1. Ready to first tool call. One runner (`--role work`) on a database; the benchmark makes one task
   ready at a time, at a random moment, by `create` in even rounds and by `done` of its one
   dependency (a task of another role, which the runner leaves alone) in odd rounds, then waits
   for the run to end. The agent runs with --stamps and prints when it was forked, when its
   main() began (imports done), when its MCP session was up and when its first call (task_get)
   returned. The latency runs from the task's `ready_at` (stamped by the writer as its write
   began) to that answer, split into the runner's share (ready_at to the runs row, the slot
   taken; then to the agent's fork) and the agent's (fork to first answer). Beside it, in the
   same rounds: the same agent started bare (the argv, environment and files `presets.build`
   gives the runner, on a task already claimed for it in a second database), timed from Popen.
   The fork stamp comes from /proc's start time: 10 ms ticks.
2. Idle CPU. The runner's own CPU (psutil, user + system, not its children) over a window with
   one task in progress elsewhere and nothing ready, then over the same window with N workers
   (`agent.py --misbehave hang`) holding their tasks: shares of one core.
3. Cap under churn. Many short tasks, all ready, `--until-idle --max-workers CAP`. The benchmark
   samples, as often as it can, the runner's live worker processes (its children that lead their
   own session, zombies not counted) and its open runs rows (ended_at NULL): the peak of each
   must never exceed the cap. Also the wall time and the mean number of live workers.

    .venv/bin/python -m tests.benchmarks.bench_runner [--rounds 30] [--hang 4] [--window 10] [--tasks 60] [--cap 4]
Goals: peak live workers and open runs <= --max-workers (the issue); every task done exactly once.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shlex
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import psutil

from taskloom.models import TaskSpec
from taskloom.runner import presets
from taskloom.runner.settings import AgentSettings
from taskloom.services import briefing, creation, work
from tests.benchmarks.common import (
    PROJECT,
    PY,
    PYTHON,
    ROOT,
    TASKLOOM,
    Figure,
    child_env,
    median,
    open_app,
    pct,
    print_figures,
    result,
    script,
    stop,
    workdir_or_temp,
)

AGENT = ROOT / "tests" / "runner" / "agent.py"
BOUND = 120.0  # seconds: only a bound on a stuck run
POLL = 0.01  # seconds between looks at the database: the runner offers the benchmark no event
TRIGGER_JITTER = 1.0  # seconds: the runner looks at the store about once a second; commits come at any moment
SETTLE_S = 2.0  # after the runner starts or its workers settle, before a CPU window
SAMPLE_EVERY = 0.002  # seconds between churn samples (each costs a fraction of a millisecond)
WORK_ROLE = "work"  # the latency runner's role: the dependencies (role "maker") are not its to run


def agent_cmd(*extra: str) -> str:
    return shlex.join([PYTHON, str(AGENT), "--mcp", "{mcp_config}", "--prompt", "{prompt_file}", *extra])


def runner_env() -> dict[str, str]:
    """The benchmark's environment minus its TASKLOOM_* settings, as the tests give the runner."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKLOOM_")}
    return {**env, **child_env()}


def start_runner(db: Path, workdir: Path, *extra: str, cmd: str | None = None) -> subprocess.Popen:
    argv = [TASKLOOM, "run", "--db", str(db), "--project", PROJECT, "--agent-cmd", cmd or agent_cmd(),
            "--grace", "1", *extra]
    err = open(db.with_suffix(".runner.log"), "w")  # noqa: SIM115 - the child holds it; closed below
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err, cwd=workdir,
                                env=runner_env())
    finally:
        err.close()


def end_runner(proc: subprocess.Popen, db: Path) -> None:
    """SIGTERM (the runner stops its workers' groups), then check it exited cleanly."""
    stop(proc)
    if proc.returncode not in (0, -signal.SIGTERM):
        raise RuntimeError(f"runner exited {proc.returncode}:\n{db.with_suffix('.runner.log').read_text()[-2000:]}")


def reader(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def stamps(log: str) -> dict[str, float]:
    for line in log.splitlines():
        if line.startswith("{") and '"stamps"' in line:
            event = json.loads(line)
            if event.get("subtype") == "stamps":
                return event
    raise RuntimeError(f"no stamps line in the agent's output:\n{log[-2000:]}")


async def new_db(path: Path) -> Path:
    async with open_app(path):
        pass
    return path


# ---------------------------------------------------------------- 1. ready to first tool call


async def _runner_round(app: Any, conn: sqlite3.Connection, i: int, rng: random.Random) -> dict[str, float]:
    code = f"W-{i}"
    by_done = i % 2 == 1
    if by_done:
        pair = [TaskSpec(title=f"dependency {i}", code=f"A-{i}", role="maker"),
                TaskSpec(title=f"wake {i}", code=code, role=WORK_ROLE, depends_on=[f"A-{i}"])]
        await app.write(creation.create_tasks, pair)
        await app.write(work.claim, code=f"A-{i}", agent="maker")
    await anyio.sleep(rng.uniform(0, TRIGGER_JITTER))
    if by_done:
        await app.write(work.done, f"A-{i}", "ok", agent="maker")
    else:
        await app.write(creation.create_tasks, [TaskSpec(title=f"wake {i}", code=code, role=WORK_ROLE)])
    sql = ("SELECT r.started_at, r.ended_at, r.outcome, r.log_path, t.ready_at, t.created_at FROM runs r "
           "JOIN tasks t ON t.id = r.task_id WHERE t.code = ? ORDER BY r.id DESC LIMIT 1")
    with anyio.fail_after(BOUND):
        while (row := conn.execute(sql, (code,)).fetchone()) is None or row["ended_at"] is None:
            await anyio.sleep(POLL)
    if row["outcome"] != "done":
        raise RuntimeError(f"{code}: the run ended {row['outcome']}; log {row['log_path']}")
    s = stamps(Path(row["log_path"]).read_text())
    ready = row["ready_at"] if row["ready_at"] is not None else row["created_at"]
    return {"by_done": by_done, "ready": ready, "slot": row["started_at"], **{k: s[k] for k in
            ("forked", "main", "connected", "first_call")}}


async def _bare_round(app: Any, workdir: Path, i: int) -> dict[str, float]:
    """The agent without the runner: the process the runner would start (presets.build), on a
    task already claimed for it, timed from Popen to its first tool call's answer."""
    agent, code = f"bare-{i}", f"B-{i}"
    await app.write(creation.create_tasks, [TaskSpec(title=f"bare {i}", code=code)])
    await app.write(work.claim, code=code, agent=agent)
    prompt = await app.read(briefing.worker_instructions, code, None, agent=agent)
    connection = presets.Connection(db=str(app.settings.db_path), project=PROJECT, taskloom=presets.taskloom_command())
    job = presets.Job(agent=agent, task=code, stream=None, prompt=prompt, workdir=workdir,
                      run_dir=workdir / "bare" / agent)
    spawn = presets.build(AgentSettings(preset="command", command=agent_cmd("--stamps")), job, connection, runner_env())
    presets.write_files(spawn)
    t0 = time.time()
    proc = subprocess.Popen(spawn.argv, env=spawn.env, cwd=spawn.cwd, stdin=subprocess.DEVNULL,  # noqa: ASYNC220
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, text=True)
    out, _ = await anyio.to_thread.run_sync(lambda: proc.communicate(timeout=BOUND))
    if proc.returncode != 0:
        raise RuntimeError(f"the bare agent (pid {proc.pid}) exited {proc.returncode}:\n{out[-2000:]}")
    s = stamps(out)
    return {"popen": t0, **{k: s[k] for k in ("forked", "main", "connected", "first_call")}}


async def _latency(workdir: Path, rounds: int) -> dict[str, list[dict[str, float]]]:
    db, bare_db = workdir / "runner-latency.db", workdir / "runner-bare.db"
    out: dict[str, list[dict[str, float]]] = {"runner": [], "bare": []}
    rng = random.Random(13)
    async with open_app(db, agent="maker") as app, open_app(bare_db, agent="maker") as bare_app:
        runner = start_runner(db, workdir, "--role", WORK_ROLE, cmd=agent_cmd("--stamps"))
        conn = reader(db)
        try:
            for i in range(rounds + 1):  # round 0 warms up: the runner's start, the first imports
                got = await _runner_round(app, conn, i, rng)
                bare = await _bare_round(bare_app, workdir, i)
                if i:
                    out["runner"].append(got)
                    out["bare"].append(bare)
        finally:
            conn.close()
            end_runner(runner, db)
    return out


def latency(workdir: Path, rounds: int) -> tuple[list[Figure], dict[str, Any]]:
    got = anyio.run(_latency, workdir, rounds)
    ms = lambda xs: [x * 1e3 for x in xs]
    r, b = got["runner"], got["bare"]
    total = ms([x["first_call"] - x["ready"] for x in r])
    detect = ms([x["slot"] - x["ready"] for x in r])
    launch = ms([x["forked"] - x["slot"] for x in r])
    agent = ms([x["first_call"] - x["forked"] for x in r])
    bare = ms([x["first_call"] - x["popen"] for x in b])
    bare_connect = ms([x["connected"] - x["popen"] for x in b])
    runner_share = [t - a for t, a in zip(total, agent, strict=True)]
    by = {k: ms([x["first_call"] - x["ready"] for x in r if x["by_done"] == v]) for k, v in (("create", False),
                                                                                             ("done", True))}
    command = f"{PY} -m tests.benchmarks.bench_runner --only latency --rounds {rounds}"
    p = lambda xs: f"{median(xs):.0f} / {pct(xs, 95):.0f}"
    figures = [
        Figure(f"task ready (ready_at) to its worker's first tool call answered, p50 / p95 / max ({rounds} rounds)",
               f"{p(total)} / {max(total):.0f}", "ms", command=command),
        Figure("same, made ready by create / by done of its dependency, p50 / p95",
               f"{p(by['create'])}; {p(by['done'])}", "ms", command=command),
        Figure("runner's share (ready to the agent's fork), p50 / p95", p(runner_share), "ms", command=command),
        Figure("  of which: ready to the slot taken (the runner noticing it), p50 / p95", p(detect), "ms",
               command=command),
        Figure("  of which: slot taken to the agent forked (prompt, files, spawn; the fork stamp has 10 ms ticks), p50 / p95", p(launch), "ms",
               command=command),
        Figure("agent's share under the runner: fork to first answer, p50 / p95", p(agent), "ms", command=command),
        Figure("bare agent, same argv started directly: Popen to first answer (to session up), p50 / p95",
               f"{p(bare)} ({p(bare_connect)})", "ms", command=command),
        Figure("ready to first answer / bare start to first answer, p50 (same run)", median(total) / median(bare), "x",
               command=command),
    ]
    fork_vs_popen = ms([x["forked"] - x["popen"] for x in b])
    stages = {f"{name}: {a} to {z}, p50 ms": median(ms([x[z] - x[a] for x in rows]))
              for name, rows in (("runner", r), ("bare", b))
              for a, z in (("forked", "main"), ("main", "connected"), ("connected", "first_call"))}
    print("  " + "; ".join(f"{k} {v:.0f}" for k, v in stages.items()), flush=True)
    details = {"stages": stages, "total_ms": total, "runner_share_ms": runner_share, "detect_ms": detect, "launch_ms": launch,
               "agent_ms": agent, "bare_ms": bare, "bare_connect_ms": bare_connect,
               "bare_fork_minus_popen_ms": fork_vs_popen, "rounds": r, "bare_rounds": b}
    return figures, details


# ---------------------------------------------------------------- 2. idle CPU


def cpu_seconds(process: psutil.Process) -> float:
    t = process.cpu_times()
    return t.user + t.system


def tree_cpu(processes: list[psutil.Process]) -> float:
    total = 0.0
    for p in processes:
        try:
            total += cpu_seconds(p)
        except psutil.NoSuchProcess:
            continue
    return total


def window_cpu(runner: psutil.Process, window: float) -> dict[str, float]:
    """The runner's CPU and its workers' (agents and their servers) over `window`, in % of a core."""
    kids = runner.children(recursive=True)
    r0, k0, t0 = cpu_seconds(runner), tree_cpu(kids), time.perf_counter()
    time.sleep(window)  # the measured window itself: nothing to wait for
    r1, k1, t1 = cpu_seconds(runner), tree_cpu(kids), time.perf_counter()
    return {"runner_pct": (r1 - r0) / (t1 - t0) * 100, "workers_pct": (k1 - k0) / (t1 - t0) * 100,
            "worker_processes": len(kids)}


async def _idle_setup(db: Path) -> None:
    async with open_app(db, agent="boss") as app:
        await app.write(creation.create_tasks, [TaskSpec(title="in progress elsewhere", code="KEEP")])
        await app.write(work.claim, code="KEEP", agent="busy")


async def _add_tasks(db: Path, n: int, prefix: str) -> None:
    async with open_app(db, agent="boss", new=False) as app:
        await app.write(creation.create_tasks, [TaskSpec(title=f"task {i}", code=f"{prefix}{i}") for i in range(n)])


def wait_until(conn: sqlite3.Connection, sql: str, want: int) -> None:
    deadline = time.monotonic() + BOUND
    while conn.execute(sql).fetchone()[0] < want:
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {want}: {sql}")
        time.sleep(POLL)


def idle_cpu(workdir: Path, hang: int, window: float) -> tuple[list[Figure], dict[str, Any]]:
    db = workdir / "runner-idle.db"
    anyio.run(_idle_setup, db)
    runner = start_runner(db, workdir, "--max-workers", str(hang), cmd=agent_cmd("--misbehave", "hang"))
    conn = reader(db)
    try:
        time.sleep(SETTLE_S)
        idle = window_cpu(psutil.Process(runner.pid), window)
        anyio.run(_add_tasks, db, hang, "H-")
        wait_until(conn, "SELECT count(*) FROM notes WHERE body LIKE 'working on H-%'", hang)
        time.sleep(SETTLE_S)
        busy = window_cpu(psutil.Process(runner.pid), window)
        live = conn.execute("SELECT count(*) FROM runs WHERE ended_at IS NULL").fetchone()[0]
    finally:
        conn.close()
        end_runner(runner, db)
    if live != hang:
        raise RuntimeError(f"{live} of {hang} hanging workers lasted the window")
    command = f"{PY} -m tests.benchmarks.bench_runner --only idle --hang {hang} --window {window:g}"
    figures = [
        Figure(f"runner CPU, nothing ready (one task in progress elsewhere), {window:g} s window",
               idle["runner_pct"], "% of a core", command=command),
        Figure(f"runner CPU, {hang} hanging workers live, {window:g} s window", busy["runner_pct"], "% of a core",
               command=command),
        Figure(f"the {hang} hanging workers' {busy['worker_processes']} processes (agents + their stdio servers)",
               busy["workers_pct"], "% of a core", command=command),
    ]
    return figures, {"nothing_ready": idle, "hanging": busy}


# ---------------------------------------------------------------- 3. the cap under churn


def live_workers(runner_pid: int) -> tuple[int, int]:
    """(live, zombie) children of the runner that lead their own session: its workers."""
    live = zombies = 0
    try:
        threads = os.listdir(f"/proc/{runner_pid}/task")
    except OSError:
        return 0, 0
    for tid in threads:
        try:
            kids = Path(f"/proc/{runner_pid}/task/{tid}/children").read_text().split()
        except OSError:
            continue
        for kid in kids:
            try:
                fields = Path(f"/proc/{kid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            state, session = fields[0], int(fields[3])
            if session != int(kid):
                continue  # an orphan handed to the runner as subreaper, not a worker
            if state in ("Z", "X"):
                zombies += 1
            else:
                live += 1
    return live, zombies


def churn(workdir: Path, n_tasks: int, cap: int) -> tuple[list[Figure], dict[str, Any]]:
    db = workdir / "runner-churn.db"
    anyio.run(new_db, db)
    anyio.run(_add_tasks, db, n_tasks, "C-")
    conn = reader(db)
    samples: list[tuple[float, int, int]] = []  # (perf time, live processes, open rows)
    zombies_seen = 0
    t0 = time.perf_counter()
    runner = start_runner(db, workdir, "--until-idle", "--max-workers", str(cap))
    try:
        deadline = time.monotonic() + BOUND * 5
        while runner.poll() is None:
            live, zombies = live_workers(runner.pid)
            rows = conn.execute("SELECT count(*) FROM runs WHERE ended_at IS NULL").fetchone()[0]
            samples.append((time.perf_counter(), live, rows))
            zombies_seen = max(zombies_seen, zombies)
            if time.monotonic() > deadline:
                raise RuntimeError("the churn run did not finish")
            time.sleep(SAMPLE_EVERY)
        wall = time.perf_counter() - t0
        if runner.returncode != 0:
            raise RuntimeError(f"runner exited {runner.returncode}:\n{db.with_suffix('.runner.log').read_text()[-2000:]}")
        done = conn.execute("SELECT count(*) FROM tasks WHERE status = 'done'").fetchone()[0]
        once = conn.execute("SELECT count(*) FROM (SELECT task_id FROM runs WHERE outcome = 'done' "
                            "GROUP BY task_id HAVING count(*) = 1)").fetchone()[0]
        n_runs = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    finally:
        conn.close()
        stop(runner)
    peak_live, peak_rows = max(s[1] for s in samples), max(s[2] for s in samples)
    mean_live = time_weighted(samples, 1)
    command = f"{PY} -m tests.benchmarks.bench_runner --only churn --tasks {n_tasks} --cap {cap}"
    rate = len(samples) / wall
    figures = [
        Figure(f"peak live worker processes, {n_tasks} short tasks, --max-workers {cap} ({len(samples):,} samples, "
               f"{rate:.0f}/s)", peak_live, "", f"<= {cap}", peak_live <= cap, command),
        Figure("peak open runs rows (ended_at NULL)", peak_rows, "", f"<= {cap}", peak_rows <= cap, command),
        Figure(f"tasks done exactly once / runs started, of {n_tasks}", f"{once} / {n_runs}", "",
               f"{n_tasks} / {n_tasks}", once == done == n_runs == n_tasks, command),
        Figure(f"wall time, runner start to its --until-idle exit ({n_tasks} tasks)", wall, "s", command=command),
        Figure(f"mean live workers over the run / the cap of {cap}", f"{mean_live:.2f} / {cap}", command=command),
    ]
    details = {"wall_s": wall, "samples": len(samples), "samples_per_s": rate, "peak_live": peak_live,
               "peak_rows": peak_rows, "mean_live": mean_live, "most_zombies_seen": zombies_seen, "done": done,
               "done_once": once, "runs": n_runs,
               "live_histogram": {k: sum(1 for s in samples if s[1] == k) for k in range(cap + 2)}}
    return figures, details


def time_weighted(samples: list[tuple[float, int, int]], column: int) -> float:
    span = samples[-1][0] - samples[0][0]
    if span <= 0:
        return float(samples[0][column])
    return sum(a[column] * (b[0] - a[0]) for a, b in itertools.pairwise(samples)) / span


# ---------------------------------------------------------------- the benchmark

PARTS = ("latency", "idle", "churn")


def run(
    rounds: int = 30,
    hang: int = 4,
    window: float = 10.0,
    tasks: int = 60,
    cap: int = 4,
    only: tuple[str, ...] = PARTS,
    workdir: Path | None = None,
) -> dict[str, Any]:
    workdir = workdir_or_temp(workdir) / "runner"
    workdir.mkdir(parents=True, exist_ok=True)
    figures: list[Figure] = []
    details: dict[str, Any] = {"loadavg_at_start": os.getloadavg()}
    if "latency" in only:
        got, details["latency"] = latency(workdir, rounds)
        print_figures("ready to the worker's first tool call", got)
        figures += got
    if "idle" in only:
        got, details["idle"] = idle_cpu(workdir, hang, window)
        print_figures("the runner's CPU while idle", got)
        figures += got
    if "churn" in only:
        got, details["churn"] = churn(workdir, tasks, cap)
        print_figures("live workers against --max-workers under churn", got)
        figures += got
    details["loadavg_at_end"] = os.getloadavg()
    params = {"rounds": rounds, "hang": hang, "window_s": window, "tasks": tasks, "cap": cap, "only": list(only)}
    return result("runner", params, figures, details)


QUICK = {"rounds": 5, "hang": 2, "window": 3.0, "tasks": 12, "cap": 3}
FULL = {"rounds": 30, "hang": 4, "window": 10.0, "tasks": 60, "cap": 4}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=30, help="ready-to-first-call rounds (and as many bare starts)")
    ap.add_argument("--hang", type=int, default=4, help="hanging workers in the second idle window")
    ap.add_argument("--window", type=float, default=10.0, help="seconds of each idle CPU window")
    ap.add_argument("--tasks", type=int, default=60, help="short tasks in the churn run")
    ap.add_argument("--cap", type=int, default=4, help="--max-workers of the churn run")
    ap.add_argument("--only", default=",".join(PARTS), help="comma-separated: " + ",".join(PARTS))
    a = ap.parse_args()
    script(run, rounds=a.rounds, hang=a.hang, window=a.window, tasks=a.tasks, cap=a.cap,
           only=tuple(a.only.split(",")))


if __name__ == "__main__":
    main()
