"""The runner's rows: which worker runs for which unit of work, and what became of it.

A unit is a task (the default) or a stream (`--per stream`). Starting a worker for a task claims
the task for the worker's agent name and takes the unit's slot in one transaction, so two
runners on one database can never start two workers for one unit. The scope's agent is the
worker's name throughout: the runner acts for its worker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from taskloom.domain import runs as rules
from taskloom.domain.events import EventKind
from taskloom.domain.statuses import WORKABLE
from taskloom.errors import Conflict, NotFound
from taskloom.services import messages, work
from taskloom.services.common import Scope, event
from taskloom.store.base import Row, Tx

CANDIDATES = 50  # ready units read per look: enough to skip those backing off


@dataclass(frozen=True)
class Unit:
    task: str | None  # task code (None for a stream unit)
    stream: str | None  # stream code
    task_id: int | None
    stream_id: int | None
    role: str | None
    labels: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.task or f"stream {self.stream}"


@dataclass(frozen=True)
class Runner:
    """A runner process: its name (its directory under runs/) and where and which process it is,
    so that another runner on its host can tell at once that it died."""

    name: str
    host: str
    pid: int
    started: float


@dataclass(frozen=True)
class Started:
    run_id: int
    unit: Unit


def ready_units(
    tx: Tx, scope: Scope, per: str, role: str | None, first_backoff: float = rules.BACKOFF_FIRST
) -> list[tuple[Unit, float]]:
    """Units with ready work, in claim order, each with the time before which its back-off
    forbids a new worker (0: none)."""
    params = {"project": scope.project_id, "role": role, "limit": CANDIDATES}
    out = []
    if per == "stream":
        for r in tx.all("runner_ready_streams", params):
            unit = Unit(None, r["code"], None, r["id"], role)
            out.append((unit, _not_before(tx, scope, unit, first_backoff)))
    else:
        for r in tx.all("runner_ready_tasks", params):
            labels = tuple(x["label"] for x in tx.all("task_label_names", {"task_id": r["id"]}))
            unit = Unit(r["code"], r["stream"], r["id"], r["stream_id"], r["role"], labels)
            out.append((unit, _not_before(tx, scope, unit, first_backoff)))
    return out


def _not_before(tx: Tx, scope: Scope, unit: Unit, first_backoff: float) -> float:
    n, last_ended = restarts(tx, scope, unit.task_id, unit.stream_id)
    return 0.0 if not n or last_ended is None else last_ended + rules.backoff(n, first_backoff)


def restarts(tx: Tx, scope: Scope, task_id: int | None, stream_id: int | None) -> tuple[int, float | None]:
    """A unit's earlier runs that ended without finishing it, and when the last one ended."""
    row = tx.one("run_restarts", {"project": scope.project_id, "task_id": task_id, "stream_id": stream_id})
    return (row["n"], row["last_ended"]) if row else (0, None)


def start(tx: Tx, scope: Scope, unit: Unit, *, runner: Runner, preset: str, held_until: float) -> Started | None:
    """Take `unit` for the worker `scope.agent`: claim its task (a task unit) and its slot.

    None when another runner or agent took it first. Registers the worker as an agent with the
    task's role, so that it shows in presence and its role's messages reach it.
    """
    agent = scope.require_agent()
    if unit.task is not None:
        row = tx.one("task_by_code", {"project": scope.project_id, "code": unit.task})
        if row is None or row["status"] != "ready":
            return None  # taken (or moved) since the runner read the list
    tx.one("agent_register", {"project": scope.project_id, "name": agent, "role": unit.role,
                              "capabilities": None, "now": scope.now})
    if unit.task is not None:
        got = work.claim(tx, scope, code=unit.task)
        if not got.claimed:
            return None
    opened = tx.one(
        "run_open",
        {"project": scope.project_id, "runner": runner.name, "runner_pid": runner.pid,
         "runner_started": runner.started, "agent": agent, "task_id": unit.task_id,
         "stream_id": None if unit.task_id else unit.stream_id, "preset": preset, "host": runner.host,
         "now": scope.now, "held_until": held_until},
    )
    if opened is None:
        # A live run of another runner holds the slot (its task was handed on behind its back):
        # raising undoes the claim with the rest of this transaction.
        raise Conflict(f"A live worker already runs {unit.name}.", hint="Leave it to that worker's runner.")
    event(tx, scope, EventKind.RUN_STARTED, agent, task=unit.task, stream=unit.stream, preset=preset)
    return Started(opened["id"], unit)


def spawned(tx: Tx, scope: Scope, run_id: int, pid: int, pid_started: float, argv: list[str], log_path: str) -> None:
    tx.run("run_spawned", {"id": run_id, "pid": pid, "pid_started": pid_started,
                           "argv": json.dumps(_shown_argv(argv)), "log_path": log_path})


def _shown_argv(argv: list[str]) -> list[str]:
    # The prompt rides in argv for most presets: kept whole in the prompt file, not in every row.
    return [a if len(a) <= 300 else f"{a[:120]}... ({len(a)} characters)" for a in argv]


def hold(tx: Tx, scope: Scope, runner: str, held_until: float) -> None:
    """The runner is alive: its live rows stay its own. Also keeps its workers' task leases:
    a lease is never lost while its worker runs, however long the agent thinks."""
    tx.run("runs_hold", {"runner": runner, "held_until": held_until})


def renew_leases(tx: Tx, scope: Scope) -> list[str]:
    """Renew every lease `scope.agent` holds (its worker process is alive)."""
    held = _working(tx, scope)
    for code in held:
        work.heartbeat(tx, scope, code)
    return held


def hand_back(tx: Tx, scope: Scope, note: str) -> list[str]:
    """Give back every task the (exited) worker `scope.agent` still holds, using an attempt:
    back to ready, or failed and escalated after its last attempt."""
    codes = _working(tx, scope)
    for code in codes:
        work.fail(tx, scope, code, note, True)
    return codes


def release_all(tx: Tx, scope: Scope, note: str) -> list[str]:
    """Give back the worker's tasks without using an attempt: the runner stopped it, or it never
    started, so the task did not fail."""
    codes = _working(tx, scope)
    for code in codes:
        work.release(tx, scope, code, note)
    return codes


def _working(tx: Tx, scope: Scope) -> list[str]:
    """The tasks `scope.agent` holds in progress (not those it blocked: they wait on a person)."""
    rows = tx.all("tasks_held", {"project": scope.project_id, "agent": scope.require_agent()})
    return [r["code"] for r in rows if r["status"] == "in_progress"]


def end(
    tx: Tx,
    scope: Scope,
    run_id: int,
    outcome: rules.Outcome,
    *,
    exit_code: int | None = None,
    reason: str | None = None,
    cost_usd: float | None = None,
    turns: int | None = None,
) -> bool:
    ended = tx.run("run_end", {"id": run_id, "now": scope.now, "exit_code": exit_code, "outcome": outcome.value,
                               "reason": reason, "cost_usd": cost_usd, "turns": turns})
    if ended:
        event(tx, scope, EventKind.RUN_ENDED, scope.agent, outcome=outcome.value, exit_code=exit_code,
              reason=reason or "")
    return bool(ended)


def unit_finished(tx: Tx, scope: Scope, unit: Unit) -> bool:
    """Whether the unit needs no more workers: its task is no longer the worker's to do, or its
    stream has nothing ready or in progress."""
    if unit.task is not None:
        row = tx.one("task_by_code", {"project": scope.project_id, "code": unit.task})
        return row is None or row["status"] not in WORKABLE
    # Not runner_ready_streams: it leaves out the stream of a live run, which this unit's is.
    return not tx.scalar("stream_open_work", {"stream_id": unit.stream_id, "role": unit.role})


def orphan_candidates(tx: Tx, scope: Scope, runner: Runner) -> list[Row]:
    """Other runners' live rows whose runner may be dead: the hold lapsed, or it ran on this host
    (the caller checks that runner's pid and start time)."""
    return tx.all("runs_orphan_candidates",
                  {"project": scope.project_id, "runner": runner.name, "host": runner.host, "now": scope.now})


def take_over(tx: Tx, scope: Scope, run_id: int, was: str, runner: Runner, held_until: float) -> bool:
    """Make `runner` the row's runner, unless another runner took it over first."""
    return bool(tx.run("run_take_over", {"id": run_id, "was": was, "runner": runner.name, "runner_pid": runner.pid,
                                          "runner_started": runner.started, "held_until": held_until}))


def live(tx: Tx, scope: Scope) -> list[dict[str, Any]]:
    return [dict(r) for r in tx.all("runs_live", {"project": scope.project_id})]


def recent(tx: Tx, scope: Scope, limit: int = 20) -> list[dict[str, Any]]:
    return [dict(r) for r in tx.all("runs_recent", {"project": scope.project_id, "limit": limit})]


def get(tx: Tx, scope: Scope, run_id: int) -> dict[str, Any]:
    row = tx.one("run_by_id", {"project": scope.project_id, "id": run_id})
    if row is None:
        raise NotFound(f"No run #{run_id} in project {scope.project}.", hint="The runs page lists the runs.")
    return dict(row)


def latest_of(tx: Tx, scope: Scope, agent: str) -> dict[str, Any] | None:
    row = tx.one("run_latest_of_agent", {"project": scope.project_id, "agent": agent})
    return None if row is None else dict(row)


def preset_paused(tx: Tx, scope: Scope, preset: str, error: str, task: str | None) -> None:
    """Tell the escalation role that the runner stopped starting `preset`: its workers fail at
    once with one error (expired credentials, a missing program), so respawning only burns
    attempts. One acknowledgeable message, like an escalation; no task is at fault."""
    row = tx.one("task_by_code", {"project": scope.project_id, "code": task}) if task else None
    messages.post(
        tx, scope, f"role:{scope.escalation_role}", f"[runner] agent cannot start: {error}"[:200],
        f"The runner paused the {preset!r} agent preset: its workers fail with: {error}\n\nFix the cause (for Claude Code: log in, or set its API key), then restart "
        "`taskloom run`. Other presets keep running.",
        task_id=row["id"] if row else None, kind="escalation", ack_required=True,
    )


def worker_acted(tx: Tx, scope: Scope, run_id: int) -> bool:
    """Whether the run's agent made any tool call (so it may have touched its task)."""
    return bool(tx.scalar("run_worker_acted", {"id": run_id}))


def open_counts(tx: Tx, scope: Scope) -> dict[str, int]:
    """Open tasks per status (done and cancelled left out): empty when the project is finished."""
    return {r["status"]: r["n"] for r in tx.all("task_counts_all", {"project": scope.project_id})}
