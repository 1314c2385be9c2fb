"""What every use case shares: its scope, events, references and task rendering."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic_core import from_json

from taskloom.clock import iso
from taskloom.domain.artifacts import uri_of
from taskloom.domain.events import EventKind
from taskloom.domain.limits import LATEST_NOTES, TASK_ARTIFACTS
from taskloom.domain.redact import Masked, redact
from taskloom.domain.statuses import Attempt
from taskloom.errors import InvalidInput, NotFound
from taskloom.models import TaskBrief, TaskDetail
from taskloom.store.base import Row, Tx

# Who acts when taskloom itself does (the resolver's expiries and escalations).
SYSTEM_AGENT = "taskloom"


@dataclass(frozen=True)
class Scope:
    """Who is acting, in which project, at what time."""

    project_id: int
    project: str
    now: float
    agent: str | None = None
    lease_seconds: float = 900.0
    escalation_role: str = "orchestrator"

    def require_agent(self) -> str:
        if not self.agent:
            raise missing_agent()
        return self.agent


class MissingAgent(InvalidInput):
    """invalid_input for a call that names no agent: the server words its hint by connection."""


def missing_agent() -> InvalidInput:
    return MissingAgent(
        "No agent name was given.",
        hint="Call agent_init(agent=<your name>) once on this connection, pass `agent`, or start "
        "the server with TASKLOOM_AGENT set.",
    )


EVENT_TEXT = 200  # characters of any one text in an event's payload; the full text is on the task
# json.dumps(payload, separators=(",", ":")), without building an encoder per call.
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def event(tx: Tx, scope: Scope, kind: EventKind, subject: str | None, **payload: Any) -> None:
    # The feed is read page by page by every agent: payloads stay short, whatever they quote.
    # Masked here, not by the store's guard, which sees only the encoded JSON. Text the services
    # masked already is only cut; other text is masked before the final cut, so a secret cut in
    # half cannot slip past the patterns, but after a first cut with room for any secret that
    # starts before it, so a 60 KB reason is not scanned whole for the 200 characters kept.
    for key, value in payload.items():
        if isinstance(value, str):
            value = redact(value if isinstance(value, Masked) else value[: EVENT_TEXT + 512]).text
            payload[key] = value[: EVENT_TEXT - 3] + "..." if len(value) > EVENT_TEXT else value
    tx.run(
        "event_insert",
        {
            "project": scope.project_id,
            "now": scope.now,
            "kind": kind.value,
            "subject": subject,
            "agent": scope.agent,
            "payload": _COMPACT.encode(payload) if payload else None,
        },
    )


def events(tx: Tx, scope: Scope, kind: EventKind, subjects: list[str]) -> None:
    """One event of `kind`, without payload, per subject: a whole batch's in one statement."""
    tx.many(
        "event_insert",
        (
            {"project": scope.project_id, "now": scope.now, "kind": kind.value, "subject": s, "agent": scope.agent,
             "payload": None}
            for s in subjects
        ),
    )


def note(tx: Tx, scope: Scope, task_id: int, kind: str, body: str) -> None:
    tx.run(
        "note_insert",
        {"task_id": task_id, "kind": kind, "body": body, "agent": scope.agent, "now": scope.now},
    )


def attempt_params(scope: Scope, row: Row, outcome: Attempt) -> dict[str, Any]:
    """What task_fail and lease_expire write for `outcome`, decided by after_attempt from `row`.

    Guarded by the counts the decision was taken from: a row changed since it was read is left
    as it is (0 rows), and the caller treats that as a lost race.
    """
    return {
        "id": row["id"],
        "attempts": row["attempts"],
        "max_attempts": row["max_attempts"],
        "status": outcome.status,
        "new_attempts": outcome.attempts,
        "clear_claim": outcome.clear_claim,
        "completed_at": scope.now if outcome.stamp == "completed_at" else None,
        "ready_at": scope.now if outcome.stamp == "ready_at" else None,
        "now": scope.now,
    }


def task_row(tx: Tx, scope: Scope, code: str) -> Row:
    row = tx.one("task_by_code", {"project": scope.project_id, "code": code})
    if row is None:
        raise NotFound(
            f"Task {code} does not exist in project {scope.project}.",
            hint="Check the code; task_list shows the project's tasks.",
        )
    return row


def _id_of(row: Row | None, scope: Scope, kind: str, code: str) -> int:
    if row is None:
        raise NotFound(
            f"{kind.capitalize()} {code} does not exist in project {scope.project}.",
            hint=f"{kind}_list shows the {kind}s; {kind}_create makes one.",
        )
    return row["id"]


def registered_role(tx: Tx, scope: Scope) -> str | None:
    """An agent that registered a role gets that role's work (and unassigned work) by default."""
    me = tx.one("agent_by_name", {"project": scope.project_id, "name": scope.agent}) if scope.agent else None
    return me["role"] if me else None


def claim_filters(
    tx: Tx,
    scope: Scope,
    role: str | None,
    stream: str | None,
    labels: list[str] | tuple[str, ...] | None,
    *,
    registered: bool = True,
) -> dict[str, Any]:
    """The parameters of the one claim filter every claim query shares (claim_next, claim_candidate,
    the counts behind an empty claim's outlook): a role, the agent's registered one when none is
    given, which also admits tasks with no role; a stream; labels, all of which a task must have.

    `registered=False` leaves a role not given as None, for claim_next: it looks the agent's
    registered role up itself, in the claim's own statement."""
    wanted = sorted(set(labels)) if labels else []
    return {
        "project": scope.project_id,
        "role": role if role is not None or not registered else registered_role(tx, scope),
        "stream_id": stream_id(tx, scope, stream),
        "labels": json.dumps(wanted) if wanted else "[]",
        "label_count": len(wanted),
    }


# Query names stay literal at each call, so a test can list every name a backend must define.
def stream_id(tx: Tx, scope: Scope, code: str | None) -> int | None:
    if code is None:
        return None
    return _id_of(tx.one("stream_by_code", {"project": scope.project_id, "code": code}), scope, "stream", code)


def sprint_id(tx: Tx, scope: Scope, code: str | None) -> int | None:
    if code is None:
        return None
    return _id_of(tx.one("sprint_by_code", {"project": scope.project_id, "code": code}), scope, "sprint", code)


def brief(row: Row) -> TaskBrief:
    return TaskBrief(
        code=row["code"],
        title=row["title"],
        status=row["status"],
        priority=row["priority"],
        role=row["role"],
        stream=row["stream_code"],
        claimed_by=row["claimed_by"],
        version=row["version"],
    )


def brief_by_id(tx: Tx, task_id: int) -> TaskBrief:
    return brief(tx.one("task_by_id", {"id": task_id}))


def _task_fields(row: dict[str, Any], dependencies: list[dict]) -> dict:
    return {
        "code": row["code"],
        "key": row["key"],
        "title": row["title"],
        "description": row["description"],
        "acceptance": row["acceptance"],
        "context": row["context"],
        "status": row["status"],
        "priority": row["priority"],
        "role": row["role"],
        "labels": from_json(row["labels_json"]),
        "stream": row["stream_code"],
        "sprint": row["sprint_code"],
        "parent": row["parent_code"],
        "depends_on": [d["code"] for d in dependencies],
        "subtasks": from_json(row["subtasks_json"]),
        "requires_review": bool(row["requires_review"]),
        "rank": row["rank"],
        "version": row["version"],
        "created_by": row["created_by"],
        "created_at": iso(row["created_at"]),
        "ready_at": iso(row["ready_at"]),
        "started_at": iso(row["started_at"]),
        "completed_at": iso(row["completed_at"]),
        "claimed_by": row["claimed_by"],
        "lease_expires_at": iso(row["lease_expires_at"]),
        "attempts": row["attempts"],
        "max_attempts": row["max_attempts"],
        "summary": row["summary"],
        "reason": row["reason"],
    }


_OUTCOMES = frozenset({"done", "cancelled", "failed"})


def _fields_of(row: Row) -> dict[str, Any]:
    """A row as a dict: sqlite3.Row finds a column by name with a scan of every column's name
    (task_full_by_code has 39), and the task's rendering looks up 35 of them."""
    return row if isinstance(row, dict) else dict(zip(row.keys(), row))


def detail(tx: Tx, scope: Scope, code: str) -> TaskDetail:
    """The task plus its latest notes and each dependency's outcome: all an agent needs to start."""
    return TaskDetail.of_form(detail_form(tx, scope, code))


def detail_form(tx: Tx, scope: Scope, code: str) -> dict[str, Any]:
    """A TaskDetail's JSON form, as its dump gives it (models.forms): every field in field order.

    The hot path of task_get and task_claim: one statement, plain dicts, and one validation of
    the whole result in pydantic-core (building each nested model separately costs ten times more);
    the server then sends these dicts as they are.
    """
    full = tx.one(
        "task_full_by_code",
        {"project": scope.project_id, "code": code, "notes": LATEST_NOTES, "artifacts": TASK_ARTIFACTS},
    )
    if full is None:
        task_row(tx, scope, code)  # raises not_found
    full = _fields_of(full)
    deps = [
        {
            "code": d["code"],
            "title": d["title"],
            "status": d["status"],
            "summary": d["summary"] if d["status"] == "done" else d["reason"],
            "outcome": d["status"] if d["status"] in _OUTCOMES else "pending",
        }
        for d in from_json(full["deps_json"])
    ]
    latest = [
        {"kind": n["kind"], "body": n["body"], "agent": n["agent"], "at": iso(n["at"])}
        for n in from_json(full["notes_json"])
    ]
    escalations = [
        {"trigger": e["trigger"], "reason": e["reason"], "at": iso(e["at"])} for e in from_json(full["escalations_json"])
    ]
    artifacts = [
        {"uri": uri_of(a["sha"]), "name": a["name"], "media_type": a["media_type"], "size": a["size"], "task": a["task"]}
        for a in from_json(full["artifacts_json"])
    ]
    return {
        "task": _task_fields(full, deps),
        "notes": latest,
        "dependencies": deps,
        "escalations": escalations,
        "artifacts": artifacts,
    }
