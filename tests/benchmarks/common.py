"""What the benchmarks share: data builders, percentiles, spawning servers, result records.

Benchmarks are scripts, not tests (files are bench_*.py, so pytest does not collect them).
Each `run(...)` prints its figures and returns a dict:
    {"bench": name, "params": {...}, "figures": [Figure...], "details": {...}}
Run them from the repository root with the project's virtualenv, e.g.
    .venv/bin/python -m tests.benchmarks.bench_claims --procs 8
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import random
import sqlite3
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
TASKLOOM = str(Path(sys.executable).with_name("taskloom"))
PY = ".venv/bin/python"  # how commands are written in reports (run from the repository root)


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
    import subprocess

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
    """Environment for spawned processes: importable `tests` package, no stray bytecode writes."""
    env = {"PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    env.update(extra)
    return env


# ---------------------------------------------------------------- CPU accounting (Linux /proc)
# On a shared, noisy machine wall-clock rates swing with other load; CPU seconds per call do not.


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process `pid` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int | None = None) -> list[int]:
    pid = os.getpid() if pid is None else pid
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


class BareClient:
    """A minimal MCP client over stdio: one JSON-RPC line out, one line back, `json.loads`.

    No SDK client and no client-side output-schema validation, so what it times is almost all
    the server's (and the pipes'). Blocking; one request in flight.
    """

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        import subprocess

        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=str(ROOT),
            env={**os.environ, **(env or {})},
        )
        self.pid = self.proc.pid
        self._id = 0
        self.request(
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "taskloom-bench", "version": "0"},
            },
        )
        self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def _send(self, msg: dict[str, Any]) -> None:
        self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
        self.proc.stdin.flush()

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._id += 1
        self._send({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the server closed its output during {method}")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"{method} failed: {reply['error']}")
        return reply["result"]

    def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The tool result: `isError`, `structuredContent`, `content`."""
        return self.request("tools/call", {"name": tool, "arguments": arguments})

    def close(self) -> None:
        import subprocess

        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a stuck server must not hang the benchmark
            self.proc.kill()
