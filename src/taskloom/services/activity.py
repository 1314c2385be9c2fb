"""The activity feed: every change is an event with a monotonic id, read with a `since` cursor."""

from __future__ import annotations

import json

from taskloom.clock import iso
from taskloom.domain.events import EventKind
from taskloom.domain.limits import MAX_PAGE, check_text
from taskloom.domain.redact import redact
from taskloom.errors import InvalidInput
from taskloom.models import Event, Feed, Logged
from taskloom.services.common import Scope, event, task_row
from taskloom.store.base import Row, Tx

MAX_LOG = 4096  # bytes in one agent_log entry: the feed carries short payloads


def feed(
    tx: Tx,
    scope: Scope,
    since: int = 0,
    task: str | None = None,
    agent: str | None = None,
    kind: str | None = None,
    limit: int = 50,
) -> Feed:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE}.")
    if since < 0:
        raise InvalidInput("since must be 0 or more.", hint="Pass 0 for the start, then each answer's next_since.")
    params = {"project": scope.project_id, "since": since, "agent": agent, "kind": kind or None, "limit": limit}
    if task is not None:
        task_row(tx, scope, task)  # not_found for an unknown code
        rows = tx.all("events_feed_subject", {**params, "subject": task})
    else:
        rows = tx.all("events_feed", params)
    events = [_event(r) for r in rows]
    return Feed(events=events, next_since=events[-1].id if events else since)


def latest(tx: Tx, scope: Scope, limit: int = 20) -> list[Event]:
    """The project's newest `limit` events, newest first: a board's activity tail, which (unlike
    `feed`) needs no cursor and never reads the whole history to find its end."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE}.", hint="Ask for fewer events.")
    return [_event(r) for r in tx.all("events_latest", {"project": scope.project_id, "limit": limit})]


def _event(r: Row) -> Event:
    return Event(
        id=r["id"],
        at=iso(r["at"]),
        kind=r["kind"],
        subject=r["subject"],
        agent=r["agent"],
        payload=json.loads(r["payload"]) if r["payload"] else None,
    )


def log(tx: Tx, scope: Scope, text: str, task: str | None = None) -> Logged:
    agent = scope.require_agent()
    if not text.strip():
        raise InvalidInput("The log entry is empty.", hint="Say in a line what you did or decided.")
    check_text("text", text, MAX_LOG)
    if task is not None:
        task_row(tx, scope, task)
    clean = redact(text)
    event(tx, scope, EventKind.AGENT_LOG, task or f"agent:{agent}", text=clean.text)
    return Logged(id=tx.scalar("events_last_id", {"project": scope.project_id}), redacted=clean.count)


# ---------------------------------------------------------------- for push notifications

PUSH_BATCH = 5000  # events read per query; a bigger burst takes several queries in one check


def last_event_id(tx: Tx, scope: Scope) -> int:
    return tx.scalar("events_last_id", {"project": scope.project_id})


def events_after(tx: Tx, scope: Scope, since: int) -> list[dict]:
    rows = tx.all("events_since", {"project": scope.project_id, "since": since, "limit": PUSH_BATCH})
    return [{"id": r["id"], "kind": r["kind"], "subject": r["subject"], "agent": r["agent"]} for r in rows]


def agent_names(tx: Tx, scope: Scope) -> list[str]:
    return [r["name"] for r in tx.all("agent_names", {"project": scope.project_id})]


def agents_in_roles(tx: Tx, scope: Scope, roles: list[str]) -> list[str]:
    rows = tx.all("agents_in_roles", {"project": scope.project_id, "roles": json.dumps(roles)})
    return [r["name"] for r in rows]


def pages_showing(tx: Tx, scope: Scope, codes: list[str]) -> set[str]:
    """The tasks whose pages show any of `codes`: their dependents and parents."""
    rows = tx.all("task_pages_showing", {"project": scope.project_id, "codes": json.dumps(codes)})
    return {r["code"] for r in rows}


def streams_of_tasks(tx: Tx, scope: Scope, codes: list[str]) -> set[str]:
    rows = tx.all("task_streams_by_codes", {"project": scope.project_id, "codes": json.dumps(codes)})
    return {r["stream_code"] for r in rows}
