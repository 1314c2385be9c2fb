"""Inbox cost as other agents' threads grow: `message_inbox` should cost the reader's own share.

    .venv/bin/python -m tests.benchmarks.bench_inbox [--tasks 10000] [--threads 2000] [--per-thread 10]

One project of `--tasks` tasks created by `boss`, where `w7` has written in 5 threads of its own.
Then `--threads` more task threads of `--per-thread` messages each, written by 49 other workers.
Three readers, timed before and after those threads exist:
- `newcomer`, in no thread: its inbox should not notice them at all;
- `w7`: neither, since its own threads did not change;
- `boss`, the creator of every task, who reads every thread: its audience grows by design.
Side by side, the 0.1 inbox query (before thread_readers) on the same database.
Figures are ratios within one run (after / before), so they do not drift with the machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import sqlite3
import statistics
import time
from pathlib import Path
from typing import Any

import anyio

from tests.benchmarks.common import PY, Figure, open_app, print_figures, result, script, workdir_or_temp

WORKERS = 50
REPEAT = 15

# The 0.1 query, whole: every task-thread message of the project, with a correlated EXISTS each.
OLD_INBOX = """
WITH audience AS (
    SELECT id FROM messages
    WHERE project_id = :project AND recipient IN ('agent:' || :me, 'all', 'role:' || :role)
    UNION
    SELECT m.id FROM messages m JOIN tasks t ON t.id = m.task_id
    WHERE m.project_id = :project AND m.kind = 'escalation' AND t.created_by = :me
    UNION
    SELECT m.id FROM messages m JOIN tasks t ON t.id = m.task_id
    WHERE m.project_id = :project AND m.recipient >= 'task:' AND m.recipient < 'task;'
      AND (t.claimed_by = :me OR t.created_by = :me
           OR EXISTS (SELECT 1 FROM messages p WHERE p.task_id = m.task_id AND p.sender = :me
                      AND p.recipient = m.recipient))
)
SELECT m.*, t.code AS task_code, r.read_at, r.acked_at,
    count(*) FILTER (WHERE r.read_at IS NULL) OVER () AS unread_total
FROM audience a JOIN messages m ON m.id = a.id
LEFT JOIN tasks t ON t.id = m.task_id
LEFT JOIN message_receipts r ON r.message_id = m.id AND r.agent = :me
WHERE m.sender != :me
ORDER BY r.read_at IS NULL DESC, CASE WHEN r.read_at IS NULL THEN m.id ELSE -m.id END
LIMIT 20
"""


def _median_ms(fn: Any) -> float:
    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def _inbox_ms(app: Any, agent: str) -> float:
    from taskloom.services import messages

    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        await app.read(messages.inbox, False, None, 20, False, agent=agent)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _raw_ms(db: Path, project_id: int, agent: str) -> tuple[float, float]:
    """The 0.1 query and today's `inbox` query, bare on one connection: (old ms, new ms)."""
    from taskloom.store.sqlite.store import QUERIES

    conn = sqlite3.connect(db)
    try:
        params = {"project": project_id, "me": agent, "role": None, "task_id": None, "unread_only": False,
                  "ids": None, "limit": 20}
        old = _median_ms(lambda: conn.execute(OLD_INBOX, params).fetchall())
        new = _median_ms(lambda: conn.execute(QUERIES["inbox"], params).fetchall())
        return old, new
    finally:
        conn.close()


def _plan(tx: Any, scope: Any, n_tasks: int) -> None:
    from taskloom.models import TaskSpec
    from taskloom.services import creation

    creation.create_tasks(tx, scope, [TaskSpec(title=f"task {i}", code=f"T-{i}") for i in range(n_tasks)])


def _threads(tx: Any, scope: Any, codes: list[str], writers: list[str], per_thread: int) -> None:
    from taskloom.services import messages

    for t, code in enumerate(codes):
        for k in range(per_thread):
            writer = dataclasses.replace(scope, agent=writers[(t + k) % len(writers)])
            messages.send(tx, writer, f"task:{code}", f"progress {k} on {code}")


async def _measure(db: Path, n_tasks: int, threads: int, per_thread: int) -> dict[str, dict[str, float]]:
    from taskloom.services import agents

    readers = ("newcomer", "w7", "boss")
    out: dict[str, dict[str, float]] = {}
    async with open_app(db, agent="boss") as app:
        for name in (*readers, *(f"w{i}" for i in range(WORKERS))):
            await app.write(agents.touch, name, agent=name)
        await app.write(_plan, n_tasks)
        await app.write(_threads, [f"T-{n_tasks - 1 - i}" for i in range(5)], ["w7"], per_thread)
        step = max(1, (n_tasks - 5) // threads)
        others = [f"w{i}" for i in range(WORKERS) if i != 7]
        for stage in ("before", "after"):
            if stage == "after":
                await app.write(_threads, [f"T-{t * step}" for t in range(threads)], others, per_thread)
            out[stage] = {r: await _inbox_ms(app, r) for r in readers}
            for r in readers:
                out[stage][f"0.1 query {r}"], out[stage][f"query {r}"] = _raw_ms(db, app.project_id, r)
    return out


def run(
    workdir: Path | None = None, tasks: int = 10_000, threads: int = 2_000, per_thread: int = 10
) -> dict[str, Any]:
    db = workdir_or_temp(workdir) / "inbox.db"
    ms = anyio.run(_measure, db, tasks, threads, per_thread)
    command = f"{PY} -m tests.benchmarks.bench_inbox --tasks {tasks} --threads {threads} --per-thread {per_thread}"
    messages = threads * per_thread
    figures = [
        Figure(f"message_inbox, {who}: with {messages:,} thread messages / with none",
               ms["after"][who] / ms["before"][who], "x", goal, met, command)
        for who, goal, met in (
            ("newcomer", "~1", ms["after"]["newcomer"] / ms["before"]["newcomer"] < 2),
            ("w7", "~1", ms["after"]["w7"] / ms["before"]["w7"] < 2),
            ("boss", "", None),
        )
    ]
    figures += [
        Figure(f"  with them, the 0.1 inbox query / today's, for {who} (bare SQL)",
               ms["after"][f"0.1 query {who}"] / ms["after"][f"query {who}"], "x", command=command)
        for who in ("newcomer", "w7", "boss")
    ]
    print_figures(f"Inbox cost, {tasks:,} tasks", figures)
    return result("inbox", {"tasks": tasks, "threads": threads, "per_thread": per_thread}, figures, ms)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2_000)
    parser.add_argument("--per-thread", type=int, default=10)
    args = parser.parse_args()
    script(run, tasks=args.tasks, threads=args.threads, per_thread=args.per_thread)
