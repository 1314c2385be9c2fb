"""Advisory file reservations: agents sharing one checkout say which paths they are editing.

A reservation is all or nothing: every glob asked for is granted, or none is and each conflict
is named (holder, its glob, its task). Peers' versions granted the first globs and then failed
on a later one without saying so, leaving half a reservation nobody knew about.

Nothing enforces a reservation: it is a promise agents check before editing. It ends at its TTL
(a dead row conflicts with nothing and the next reservation purges it), with files_release, or,
when tied to a task, as soon as its holder stops holding that task (`after_move`), which every
work-cycle transition and the resolver's lease expiry call in their own transaction. A heartbeat
on the task renews it.

The check reads every live hold in the project and compares globs in Python: one write
transaction, so two agents (in any processes) racing for one path cannot both get it. A server
database will need the same serialisation (a table lock or an advisory lock per project).
"""

from __future__ import annotations

from taskloom.clock import iso
from taskloom.domain.events import EventKind
from taskloom.domain.limits import check_batch, check_text
from taskloom.domain.redact import redact
from taskloom.domain.reservations import HOLDING, conflicting, normalise, overlap
from taskloom.domain.statuses import TaskStatus
from taskloom.errors import InvalidInput, InvalidTransition
from taskloom.models import FileConflict, FileHold, FilesReleased, FilesReserved
from taskloom.services.common import Scope, event, task_row
from taskloom.store.base import Row, Tx

DEFAULT_TTL = 3600.0  # seconds
MIN_TTL = 60.0  # seconds: shorter would lapse between an agent's tool calls
MAX_TTL = 24 * 3600.0  # seconds: a hold nobody renews for a day is forgotten, not kept
MAX_GLOBS = 50  # per call


def reserve(
    tx: Tx,
    scope: Scope,
    paths: list[str],
    exclusive: bool = True,
    ttl_seconds: float = DEFAULT_TTL,
    task: str | None = None,
    reason: str | None = None,
) -> FilesReserved:
    agent = scope.require_agent()
    globs = _globs(paths)
    if ttl_seconds == 0:
        # The worker profile lists no files_release: reserving for no time is releasing.
        out = release(tx, scope, globs)
        return FilesReserved(granted=True, message=out.message, holds=[], conflicts=[])
    if not MIN_TTL <= ttl_seconds <= MAX_TTL:
        raise InvalidInput(
            f"ttl_seconds must be {int(MIN_TTL)} to {int(MAX_TTL)} (0 releases).",
            hint="Reserve for about as long as the edit takes; reserving again renews.",
        )
    check_text("reason", reason)
    reason = reason and redact(reason).text
    task_id = _held_task(tx, scope, task, agent) if task is not None else None
    tx.run("reservations_purge", {"project": scope.project_id, "now": scope.now})
    live = tx.all("reservations_live", {"project": scope.project_id, "now": scope.now})
    conflicts = [
        _conflict(glob, row, example)
        for glob in globs
        for row in live
        if row["agent"] != agent
        and conflicting(exclusive, bool(row["exclusive"]))
        and (example := overlap(glob, row["glob"])) is not None
    ]
    if conflicts:
        return FilesReserved(granted=False, message=_refusal(conflicts), holds=[], conflicts=conflicts)
    expires = scope.now + ttl_seconds
    for glob in globs:
        tx.run(
            "reservation_upsert",
            {
                "project": scope.project_id,
                "agent": agent,
                "glob": glob,
                "exclusive": exclusive,
                "task_id": task_id,
                "reason": reason,
                "ttl_seconds": ttl_seconds,
                "now": scope.now,
                "expires_at": expires,
            },
        )
    mine = {row["glob"] for row in live if row["agent"] == agent}
    renewed = [g for g in globs if g in mine]
    event(tx, scope, EventKind.FILES_RESERVED, task or f"agent:{agent}", globs=globs, exclusive=exclusive)
    holds = [FileHold(glob=g, exclusive=exclusive, task=task, expires_at=iso(expires)) for g in globs]
    ends = f"when {task} leaves your hands, " if task else ""
    again = f" ({len(renewed)} renewed)" if renewed else ""
    return FilesReserved(
        granted=True,
        message=f"Reserved {len(globs)} glob{'s' if len(globs) != 1 else ''}{again} until {iso(expires)}; "
        f"released {ends}at expiry or by files_release.",
        holds=holds,
        conflicts=[],
    )


def release(tx: Tx, scope: Scope, paths: list[str] | None = None) -> FilesReleased:
    """Drop the named globs you hold, or all of yours when `paths` is None. Safe to repeat."""
    agent = scope.require_agent()
    key = {"project": scope.project_id, "agent": agent}
    if paths is None:
        gone = tx.all("reservations_release_agent", key)
        named: list[str] = []
    else:
        named = _globs(paths)
        gone = [row for glob in named if (row := tx.one("reservation_release", {**key, "glob": glob}))]
    released = [row["glob"] for row in gone if row["expires_at"] > scope.now]
    not_held = [g for g in named if g not in released]
    if released:
        event(tx, scope, EventKind.FILES_RELEASED, f"agent:{agent}", globs=released)
    message = f"Released {len(released)} glob{'s' if len(released) != 1 else ''}."
    if not_held:
        message += f" You held none of: {', '.join(not_held)}."
    return FilesReleased(released=released, not_held=not_held, message=message)


def after_move(tx: Tx, scope: Scope, task_id: int, code: str, status: TaskStatus | str) -> None:
    """Release a task's holds once it is in a status where its holder no longer holds it."""
    if TaskStatus(status) in HOLDING:
        return
    gone = tx.all("reservations_release_task", {"task_id": task_id})
    live = [row["glob"] for row in gone if row["expires_at"] > scope.now]
    if live:
        event(
            tx, scope, EventKind.FILES_RELEASED, code, globs=live, holder=gone[0]["agent"], status=str(status)
        )


def renew_for_task(tx: Tx, scope: Scope, task_id: int) -> None:
    tx.run("reservations_renew_task", {"task_id": task_id, "now": scope.now})


def _globs(paths: list[str]) -> list[str]:
    if not paths:
        raise InvalidInput("No paths were named.", hint="Name path globs, e.g. ['src/api/**'].")
    check_batch("paths", len(paths), MAX_GLOBS)
    return list(dict.fromkeys(normalise(p) for p in paths))


def _held_task(tx: Tx, scope: Scope, code: str, agent: str) -> int:
    """A hold tied to a task is released with it, so the task must be the caller's to hold."""
    row = task_row(tx, scope, code)
    if TaskStatus(row["status"]) in HOLDING and row["claimed_by"] == agent:
        return row["id"]
    raise InvalidTransition(
        f"You do not hold {code} (it is {row['status']}, claimed by {row['claimed_by'] or 'nobody'}).",
        hint=f"Claim {code} first, or reserve without `task` (the hold then lasts its ttl_seconds).",
        details={"task": code, "status": row["status"], "claimed_by": row["claimed_by"]},
    )


def _conflict(glob: str, row: Row, example: str) -> FileConflict:
    return FileConflict(
        glob=glob,
        holder=row["agent"],
        held_glob=row["glob"],
        exclusive=bool(row["exclusive"]),
        task=row["task_code"],
        reason=row["reason"],
        expires_at=iso(row["expires_at"]),
        example=example,
    )


def _refusal(conflicts: list[FileConflict]) -> str:
    first = conflicts[0]
    task = f" for {first.task}" if first.task else ""
    more = (
        f" (and {len(conflicts) - 1} more conflict{'s' if len(conflicts) > 2 else ''})"
        if len(conflicts) > 1
        else ""
    )
    return (
        f"Nothing was reserved: {first.holder} holds {first.held_glob!r}{task} until {first.expires_at}, "
        f"which overlaps {first.glob!r} (e.g. {first.example}){more}. Work on other files, message the "
        "holder, or try again later."
    )
