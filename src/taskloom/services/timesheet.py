"""Time tracking: every task's time in each status and every agent's busy and idle time over a
window, from four whole reads (tasks, events in one pass, agents, runs) and domain/timesheet.py.

The events of every task are read, not only the sprint's or stream's: an agent's busy and idle
time is its own, whatever it worked on, and a span the window cuts began before it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable

from taskloom.clock import iso
from taskloom.config import OFFLINE_SECONDS
from taskloom.domain import timesheet as ts
from taskloom.domain.events import EventKind
from taskloom.domain.history import Move, entered, spans
from taskloom.domain.statuses import TaskStatus
from taskloom.errors import InvalidInput
from taskloom.models.timesheet import AgentTime, Holding, TaskTime, Timesheet, TimeSpan
from taskloom.services.common import SYSTEM_AGENT, Scope, sprint_id, stream_id
from taskloom.store.base import Row, Tx

S = TaskStatus
_STATUS_PAYLOADS = frozenset({EventKind.TASK_CREATED, EventKind.LEASE_EXPIRED})


def timesheet(
    tx: Tx,
    scope: Scope,
    *,
    sprint: str | None = None,
    stream: str | None = None,
    since: float | None = None,
    until: float | None = None,
    away_after: float = OFFLINE_SECONDS,
) -> Timesheet:
    """The report from `since` (default: the first event) to `until` (default, and at most:
    scope.now), for the tasks of `sprint` and `stream` (default: all). `away_after`: seconds of
    silence after which an agent counts as away (the server's offline threshold)."""
    window = ts.Window(0.0 if since is None else since, scope.now if until is None else min(until, scope.now))
    if window.start > window.end:
        raise InvalidInput(
            f"The report would start at {iso(window.start)}, after its end at {iso(window.end)}.",
            hint="Give --since before --until, and not in the future.",
        )
    scoped = {"sprint_id": sprint_id(tx, scope, sprint), "stream_id": stream_id(tx, scope, stream)}
    tasks = tx.all("timesheet_tasks", {"project": scope.project_id, **scoped, "until": window.end})
    moves, signs = _read_events(tx, scope, window, away_after)
    pieces = {t["code"]: ts.cut(spans(moves.get(t["code"], []), t["status"]), window) for t in tasks}
    runs = _Runs(tx.all("timesheet_runs", {"project": scope.project_id, "since": window.start, "until": window.end}),
                 window, scope.now)
    shown = [t for t in tasks if t["in_scope"] and pieces[t["code"]]]
    return Timesheet(
        project=scope.project,
        sprint=sprint,
        stream=stream,
        since=iso(since),
        until=iso(window.end),
        made_at=iso(scope.now),
        tasks=[_task(t, pieces[t["code"]], moves.get(t["code"], []), window, runs.of_task[t["code"]]) for t in shown],
        agents=_agents(tx, scope, pieces, signs, runs, window, away_after),
        spans=_spans(shown, pieces),
    )


def _read_events(tx: Tx, scope: Scope, window: ts.Window, away_after: float):
    """Each task's moves, and each agent's signs of life near the window, from one pass."""
    moves: dict[str, list[Move]] = defaultdict(list)
    signs: dict[str, list[float]] = defaultdict(list)
    near = (window.start - away_after, window.end + away_after)
    rows = tx.all("timesheet_events", {"project": scope.project_id, "signs_from": near[0], "signs_to": near[1]})
    for r in rows:
        # Only a creation's and an expiry's payload say where the task went.
        payload = json.loads(r["payload"]) if r["payload"] and r["kind"] in _STATUS_PAYLOADS else {}
        move = Move(r["at"], r["kind"], r["agent"], payload)
        if r["kind"] == EventKind.TASK_CREATED or entered(move) is not None:
            moves[r["subject"]].append(move)
        if r["agent"] and r["agent"] != SYSTEM_AGENT and near[0] <= r["at"] <= near[1]:
            signs[r["agent"]].append(r["at"])
    return moves, signs


class _Runs:
    """The runs that overlap the window, by agent (each as an interval, an unfinished one ending
    now); and those that started in it, whose cost and turns the report counts, by task and agent."""

    def __init__(self, rows: list[Row], window: ts.Window, now: float) -> None:
        self.spans: dict[str, list[ts.Interval]] = defaultdict(list)
        self.of_task: dict[str | None, list[Row]] = defaultdict(list)
        self.of_agent: dict[str, list[Row]] = defaultdict(list)
        for r in rows:
            self.spans[r["agent"]].append((r["started_at"], now if r["ended_at"] is None else r["ended_at"]))
            if r["started_at"] >= window.start:
                self.of_task[r["task"]].append(r)
                self.of_agent[r["agent"]].append(r)


def _task(row: Row, pieces: list[ts.Piece], moves: list[Move], window: ts.Window, mine: list[Row]) -> TaskTime:
    per_status = ts.totals(pieces)
    return TaskTime(
        code=row["code"],
        title=row["title"],
        role=row["role"],
        stream=row["stream"],
        sprint=row["sprint"],
        status=row["status"],
        seconds={str(k): v for k, v in per_status.items()},
        waiting_for_claim=per_status[S.READY],
        elapsed=ts.elapsed(per_status),
        claims=sum(1 for m in moves if m.kind == EventKind.TASK_CLAIMED and window.start <= m.at <= window.end),
        attempts=row["attempts"],
        holders=[Holding(agent=a, in_progress=h[S.IN_PROGRESS], blocked=h[S.BLOCKED])
                 for a, h in ts.holders(pieces).items()],
        runs=len(mine),
        **_spent(mine),
    )


def _agents(tx, scope, pieces, signs, runs: _Runs, window, away_after) -> list[AgentTime]:
    holds: dict[str, dict[S, list[ts.Interval]]] = defaultdict(lambda: {S.IN_PROGRESS: [], S.BLOCKED: []})
    held: dict[str, dict[str, None]] = defaultdict(dict)  # an ordered set of codes
    for code, cut in pieces.items():
        for p in cut:
            if p.holder is not None:
                holds[p.holder][p.status].append((p.start, p.end))
                held[p.holder][code] = None
    rows = {r["name"]: r for r in tx.all("timesheet_agents", {"project": scope.project_id})}
    out = []
    for name in sorted(set(rows) | set(holds) | set(runs.spans)):
        row = rows.get(name)
        seen = [*signs.get(name, []), *((row["registered_at"], row["last_seen_at"]) if row else ())]
        got = ts.agent_time(seen, holds[name][S.IN_PROGRESS], holds[name][S.BLOCKED], runs.spans[name], window,
                            scope.now, away_after)
        mine = runs.of_agent[name]
        if got.present == 0 and not mine and not got.present_at_end:
            continue
        out.append(AgentTime(
            name=name, role=row["role"] if row else None, present=got.present, busy=got.busy,
            blocked=got.blocked, idle=got.idle, present_at_end=got.present_at_end, tasks=list(held[name]),
            runs=len(mine), **_spent(mine),
        ))
    return out


def _spent(runs: Iterable[Row]) -> dict:
    costs = [r["cost_usd"] for r in runs if r["cost_usd"] is not None]
    turns = [r["turns"] for r in runs if r["turns"] is not None]
    return {"cost_usd": sum(costs) if costs else None, "turns": sum(turns) if turns else None}


def _spans(tasks: list[Row], pieces: dict[str, list[ts.Piece]]) -> list[TimeSpan]:
    order = []
    for i, t in enumerate(tasks):
        for j, p in enumerate(pieces[t["code"]]):
            order.append(((p.end, p.open, p.start, i, j), t, p))
    order.sort(key=lambda x: x[0])
    return [
        TimeSpan(
            task=t["code"], role=t["role"], status=str(p.status), start=iso(p.start),
            end=None if p.open else iso(p.end), seconds=p.seconds, open=p.open, holder=p.holder,
            moved_by=p.agent,
        )
        for _, t, p in order
    ]
