"""What the benchmarks share: data builders, percentiles, server processes, clients, result records.

Benchmarks are scripts, not tests (files are bench_*.py, so pytest does not collect them), and
importing one runs nothing. Each `run(..., workdir=None)` prints its figures and returns a dict:
    {"bench": name, "params": {...}, "figures": [Figure...], "details": {...}}
Run them from the repository root with the project's virtualenv, e.g.
    .venv/bin/python -m tests.benchmarks.bench_claims --procs 8
or all of them with `.venv/bin/python -m tests.benchmarks.run_all [--quick]`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import random
import shlex
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
TASKLOOM = str(Path(sys.executable).with_name("taskloom"))
PY = ".venv/bin/python"  # how commands are written in reports (run from the repository root)
PROJECT = "bench"  # every benchmark database holds one project of this name
STARTUP_DEADLINE = 30.0  # seconds for an HTTP server process to accept connections (a loaded machine)


@dataclass
class Figure:
    figure: str
    value: float | int | str
    unit: str = ""
    goal: str = ""
    met: bool | None = None
    command: str = ""


def result(
    bench: str, params: dict[str, Any], figures: list[Figure], details: dict[str, Any]
) -> dict[str, Any]:
    return {"bench": bench, "params": params, "figures": [asdict(f) for f in figures], "details": details}


def print_figures(title: str, figures: list[Figure]) -> None:
    print(f"\n== {title}")
    for f in figures:
        mark = "" if f.met is None else ("  [goal met]" if f.met else "  [GOAL MISSED]")
        goal = f"  (goal {f.goal})" if f.goal else ""
        print(f"  {f.figure}: {fmt(f.value)} {f.unit}{goal}{mark}")
    sys.stdout.flush()


def fmt(v: Any) -> str:
    if isinstance(v, float):
        if abs(v) >= 100:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        if abs(v) >= 1:
            return f"{v:.3f}".rstrip("0").rstrip(".")
        return f"{v:.3f}"
    return str(v)


def pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))
    return s[k]


def callgrind_total(dump: Path) -> int:
    """The instruction count a callgrind output file records for the whole run."""
    with dump.open() as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise ValueError(f"no total in {dump}")


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def machine() -> dict[str, Any]:
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "loadavg_at_start": os.getloadavg(),
        "git": _git(),
    }


def _git() -> dict[str, Any]:
    """The code measured: HEAD, and whether src/ differs from it (others may be editing)."""

    def out(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], check=False, cwd=ROOT, capture_output=True, text=True, timeout=10
            ).stdout.rstrip()
        except (OSError, subprocess.SubprocessError):
            return ""

    dirty = out("status", "--porcelain", "--", "src")
    return {
        "head": out("rev-parse", "--short", "HEAD").strip(),
        "src_dirty": [line[3:] for line in dirty.splitlines()],
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# ---------------------------------------------------------------- data


def dag_edges(n: int, m: int, seed: int = 7, window: int = 50, first: int = 0) -> list[tuple[int, int]]:
    """`m` distinct edges (task, dependency) among tasks first..first+n-1, each to one of the
    `window` tasks just before it (plans depend locally). About 22% of tasks get none at m = 1.5n."""
    if n < 2:
        return []
    m = min(m, sum(min(i, window) for i in range(n)))
    rng = random.Random(seed)
    edges: set[tuple[int, int]] = set()
    while len(edges) < m:
        i = rng.randrange(1, n)
        j = i - rng.randint(1, min(i, window))
        edges.add((first + i, first + j))
    return sorted(edges)


def plan_tasks(n: int, m: int, seed: int = 7, prefix: str = "T-") -> list[dict[str, Any]]:
    """A plan of `n` tasks and `m` dependencies, as plan_import's `tasks` argument (JSON-ready)."""
    deps: dict[int, list[int]] = {}
    for i, j in dag_edges(n, m, seed):
        deps.setdefault(i, []).append(j)
    rng = random.Random(seed + 1)
    roles = [None, "backend", "frontend", "docs"]
    out = []
    for i in range(n):
        spec: dict[str, Any] = {
            "code": f"{prefix}{i + 1}",
            "title": f"Task {i + 1}: do part {i + 1} of the work",
            "description": "Implement the piece described in the plan; keep the tests green.",
            "priority": rng.randint(0, 4),
        }
        role = roles[i % len(roles)]
        if role:
            spec["role"] = role
        if i in deps:
            spec["depends_on"] = [f"{prefix}{j + 1}" for j in deps[i]]
        out.append(spec)
    return out


def bulk_build(
    conn: sqlite3.Connection,
    project_id: int,
    n: int,
    m: int,
    *,
    seed: int = 7,
    all_ready: bool = False,
    first_id: int = 1,
    prefix: str = "T-",
    now: float = 1_800_000_000.0,
) -> list[int]:
    """Insert `n` tasks and `m` dependencies straight into a migrated database (no events).

    Statuses follow the rules (no dependency: ready, else waiting) unless `all_ready` (no edges
    then); ranks are exact (1 + the longest chain waiting on a task). Returns the task ids.
    Runs inside the caller's transaction. Much faster than import_plan, for large fixtures.
    """
    edges = [] if all_ready else dag_edges(n, m, seed)
    has_dep = {i for i, _ in edges}
    dependents: dict[int, list[int]] = {}
    for i, j in edges:
        dependents.setdefault(j, []).append(i)
    rank = [1] * n
    for j in range(n - 1, -1, -1):  # edges point backwards, so dependents come later
        for i in dependents.get(j, ()):
            rank[j] = max(rank[j], rank[i] + 1)
    rng = random.Random(seed + 1)
    roles = [None, "backend", "frontend", "docs"]
    rows = [
        (
            first_id + i,
            project_id,
            f"{prefix}{first_id + i}",
            f"Task {first_id + i}: do part of the work",
            "Implement the piece described in the plan; keep the tests green.",
            "waiting" if i in has_dep else "ready",
            rng.randint(0, 4),
            roles[i % len(roles)],
            rank[i],
            now,
            None if i in has_dep else now,
        )
        for i in range(n)
    ]
    conn.executemany(
        "INSERT INTO tasks (id, project_id, code, title, description, status, priority, role, rank,"
        " created_at, ready_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    conn.executemany(
        "INSERT INTO task_deps (task_id, depends_on_id) VALUES (?, ?)",
        [(first_id + i, first_id + j) for i, j in edges],
    )
    conn.execute(
        "UPDATE projects SET next_task_seq = max(next_task_seq, ?), graph_version = graph_version + 1,"
        " ranked_version = graph_version + 1 WHERE id = ?",
        (first_id + n, project_id),
    )
    return [first_id + i for i in range(n)]


def checkpoint(path: Path, analyze: bool = False) -> None:
    """Fold the WAL into the file. No ANALYZE by default: taskloom never runs it, and with its
    statistics (most tasks have no parent) SQLite plans the subtask lookup as a full table scan."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if analyze:
            conn.execute("ANALYZE")
    finally:
        conn.close()


def fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def child_env(**extra: str) -> dict[str, str]:
    """Environment for spawned processes: this checkout's taskloom (not the one the venv's editable
    install points at, which may be another worktree), importable `tests`, no stray bytecode writes."""
    env = {"PYTHONPATH": f"{ROOT / 'src'}:{ROOT}", "PYTHONDONTWRITEBYTECODE": "1"}
    env.update(extra)
    return env


# ---------------------------------------------------------------- the preamble every benchmark shares


def workdir_or_temp(workdir: Path | None) -> Path:
    return workdir or Path(tempfile.mkdtemp(prefix="taskloom-bench-"))


def script(run: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    """A benchmark's command line: run it in a temporary directory, then print the machine."""
    with tempfile.TemporaryDirectory(prefix="taskloom-bench-") as d:
        out = run(**kwargs, workdir=Path(d))
    print(machine())
    return out


@asynccontextmanager
async def open_app(path: Path, agent: str = "bench-agent", *, new: bool = True) -> AsyncIterator[Any]:
    """The services over `path` (a new database unless `new=False`), closed afterwards."""
    from taskloom.config import Settings
    from taskloom.services.app import Taskloom

    app = await Taskloom.open(Settings(db_path=fresh(path) if new else path, project=PROJECT, default_agent=agent))
    try:
        yield app
    finally:
        await app.close()


async def build_bulk(path: Path, n: int, m: int, **kwargs: Any) -> None:
    """A new migrated database with `n` tasks and `m` dependencies (see `bulk_build`), checkpointed."""
    async with open_app(path) as app:
        pid = app.project_id
        await app.store.write_raw(lambda conn: bulk_build(conn, pid, n, m, **kwargs))
    checkpoint(path)


def serve_argv(
    db: Path | str,
    transport: str = "stdio",
    *,
    module: str | None = None,
    server: str | None = None,
    port: int | None = None,
) -> list[str]:
    """`taskloom serve ...`; `module` runs `python -m module` instead (e.g. noop_server, which takes
    the same options); `server` is any other command taking them (e.g. a branch's build)."""
    if module:
        base = [PYTHON, "-m", module]
    elif server:
        base = shlex.split(server)
    else:
        base = [TASKLOOM, "serve"]
    argv = [*base, "--transport", transport, "--db", str(db), "--project", PROJECT]
    if port is not None:
        argv += ["--host", "127.0.0.1", "--port", str(port)]
    return argv


def stdio_params(db: Path | str, agent: str, **kwargs: Any) -> Any:
    """SDK client parameters for a stdio server process (options as for `serve_argv`)."""
    from mcp import StdioServerParameters

    argv = serve_argv(db, **kwargs)
    return StdioServerParameters(
        command=argv[0], args=argv[1:], env=child_env(TASKLOOM_AGENT=agent), cwd=str(ROOT)
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def http_server(
    db: Path, agent: str = "bench-http", *, module: str | None = None, log_dir: Path | None = None,
    src: Path | None = None,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """A streamable-HTTP server process on a free loopback port; yields (url, process), stops it after.
    `src` runs that checkout's code (`python -m taskloom` from it), e.g. a base release's."""
    port = free_port()
    log = (log_dir or db.parent) / f"serve-http-{port}.log"
    env = child_env(TASKLOOM_AGENT=agent)
    if src is not None:
        env["PYTHONPATH"] = f"{src}{os.pathsep}{ROOT}"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            serve_argv(db, "http", port=port, **({"server": f"{PYTHON} -m taskloom serve"} if src else {"module": module})),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            cwd=str(ROOT),
            env={**_without_taskloom(os.environ), **env},
        )
    try:
        deadline = time.monotonic() + STARTUP_DEADLINE
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"HTTP server exited with {proc.returncode}:\n{log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"HTTP server not listening after {STARTUP_DEADLINE} s") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp", proc
    finally:
        stop(proc)


def _without_taskloom(env: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment minus its TASKLOOM_* settings (a token would lock the clients out)."""
    return {k: v for k, v in env.items() if not k.startswith("TASKLOOM_")}


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# ---------------------------------------------------------------- claim loops (bench_claims' workers)


class ClaimRecorder:
    """One agent's claim loop: when to stop (a duration or a count), each claim's latency and
    outcome, and the summary line the worker prints (`RESULT {json}`)."""

    def __init__(self, agent: str, duration: float, count: int | None) -> None:
        self.agent, self.duration, self.count = agent, duration, count
        self.codes: list[str] = []
        self.lat: list[float] = []
        self.empty = self.errors = 0
        self.error_texts: Counter[str] = Counter()

    def start(self) -> None:
        self.t_start = time.time()
        self.deadline = time.perf_counter() + self.duration

    def more(self) -> bool:
        if self.count is not None:
            return len(self.lat) < self.count
        return time.perf_counter() < self.deadline

    def record(self, seconds: float, is_error: bool, structured: dict[str, Any] | None, text: str) -> None:
        self.lat.append(seconds)
        if is_error:
            self.errors += 1
            self.error_texts[text[:80]] += 1
        elif structured["claimed"]:
            self.codes.append(structured["detail"]["task"]["code"])
        else:
            self.empty += 1

    def report(self, cpu_client_s: float, cpu_server_s: float) -> None:
        out = {
            "agent": self.agent,
            "codes": self.codes,
            "lat": self.lat,
            "empty": self.empty,
            "errors": self.errors,
            "cpu_client_s": cpu_client_s,
            "cpu_server_s": cpu_server_s,
            "error_texts": dict(self.error_texts),
            "t_start": self.t_start,
            "t_end": time.time(),
        }
        print("RESULT " + json.dumps(out), flush=True)


def claim_summary(outs: list[dict[str, Any]]) -> dict[str, Any]:
    """One run's figures from its workers' RESULT records."""
    codes = [c for o in outs for c in o["codes"]]
    lat = [x for o in outs for x in o["lat"]]
    wall = max(o["t_end"] for o in outs) - min(o["t_start"] for o in outs)
    total = len(codes)
    shares = {o["agent"]: len(o["codes"]) for o in outs}
    calls = max(1, len(lat))
    dup = [c for c, k in Counter(codes).items() if k > 1]
    return {
        "procs": len(outs),
        "claims": total,
        "wall_s": wall,
        "rate": total / wall,
        "p50_ms": median(lat) * 1e3,
        "p90_ms": pct(lat, 90) * 1e3,
        "p99_ms": pct(lat, 99) * 1e3,
        "worst_ms": max(lat) * 1e3,
        "double": len(dup),
        "double_codes": dup[:10],
        "empty": sum(o["empty"] for o in outs),
        "errors": sum(o["errors"] for o in outs),
        "error_texts": dict(sum((Counter(o["error_texts"]) for o in outs), Counter())),
        "shares": shares,
        "share_min": min(shares.values()) / total if total else 0.0,
        "share_max": max(shares.values()) / total if total else 0.0,
        "cpu_server_ms_per_claim": sum(o["cpu_server_s"] for o in outs) / calls * 1e3,
        "cpu_client_ms_per_claim": sum(o["cpu_client_s"] for o in outs) / calls * 1e3,
        "loadavg_after": os.getloadavg(),
    }


def claim_line(label: str, r: dict[str, Any]) -> None:
    print(
        f"  [{label}] {r['claims']} claims in {r['wall_s']:.2f} s = {r['rate']:.0f}/s, p50 {r['p50_ms']:.2f} ms, "
        f"p99 {r['p99_ms']:.1f} ms, worst {r['worst_ms']:.1f} ms, doubles {r['double']}, "
        f"errors {r['errors']}, empty {r['empty']}, shares {sorted(r['shares'].values())}, "
        f"CPU/claim server {r['cpu_server_ms_per_claim']:.2f} ms + client {r['cpu_client_ms_per_claim']:.2f} ms",
        flush=True,
    )
