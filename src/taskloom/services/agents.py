"""Agents and roles: identity, presence, and the one-call start (`init`).

Presence needs no heartbeat protocol of its own: every tool call an agent makes refreshes its
`last_seen_at` (the server throttles this to one write every few seconds per agent), so an
agent's status follows from when it was last seen and whether it holds a task.
"""

from __future__ import annotations

import json

from taskloom import __version__
from taskloom.clock import iso
from taskloom.domain.events import EventKind
from taskloom.domain.limits import MAX_LABELS, MAX_NAME, MAX_PAGE, check_text
from taskloom.domain.redact import redact
from taskloom.errors import InvalidInput, NotFound, TooLarge
from taskloom.models import (
    Agent,
    AgentInit,
    AgentList,
    Health,
    MemoryEntry,
    Presence,
    Role,
    RoleList,
    RoleSpec,
)
from taskloom.services import memory, messages
from taskloom.services.common import SYSTEM_AGENT, Scope, brief, event
from taskloom.store.base import Row, Tx

INIT_MEMORY = 50  # entries returned by init
INIT_VALUE_CHARS = 1000  # longer values are cut in init; memory_get returns them whole
INIT_CLAIMABLE = 5
INIT_MESSAGES = 10


def check_name(what: str, value: str) -> None:
    if not value.strip():
        raise InvalidInput(f"The {what} {value!r} is blank.", hint=f"Pick a short {what} such as 'backend-1'.")
    if len(value) > MAX_NAME:
        raise TooLarge(
            f"The {what} is {len(value)} characters; the limit is {MAX_NAME}.",
            hint=f"Pick a short {what} such as 'backend-1'.",
            details={"field": what, "size": len(value), "limit": MAX_NAME},
        )
    if any(c in value for c in "\n\r\t\0"):
        raise InvalidInput(
            f"The {what} {value!r} is not usable: it must be 1..{MAX_NAME} characters on one line.",
            hint=f"Pick a short {what} such as 'backend-1'.",
        )


def check_agent_name(name: str) -> None:
    """A name any agent may take: usable, and not one that message addresses or the resolver use."""
    check_name("agent name", name)
    if name != name.strip():
        raise InvalidInput(
            f"The agent name {name!r} starts or ends with whitespace.", hint=f"Use {name.strip()!r}."
        )
    if name.lower() in ("all", SYSTEM_AGENT) or name.lower().startswith(("agent:", "role:", "task:")):
        raise InvalidInput(
            f"The agent name {name!r} is reserved: messages address 'all', 'role:', 'task:' and "
            f"'agent:', and {SYSTEM_AGENT!r} is the resolver.",
            hint="Pick a short agent name such as 'backend-1'.",
        )


def touch(tx: Tx, scope: Scope, name: str) -> None:
    tx.run("agent_touch", {"project": scope.project_id, "name": name, "now": scope.now})


def presence(row: Row, now: float, online_seconds: float, offline_seconds: float) -> Presence:
    quiet = now - row["last_seen_at"]
    if quiet >= offline_seconds:
        return "offline"
    if row["held"]:
        return "busy"
    return "online" if quiet < online_seconds else "idle"


def _agent(row: Row, now: float, online_seconds: float, offline_seconds: float) -> Agent:
    return Agent(
        name=row["name"],
        role=row["role"],
        capabilities=json.loads(row["capabilities"]),
        status=presence(row, now, online_seconds, offline_seconds),
        current_task=row["current_task"],
        held=row["held"],
        last_seen_at=iso(row["last_seen_at"]),
        registered_at=iso(row["registered_at"]),
    )


def list_agents(
    tx: Tx, scope: Scope, online_seconds: float, offline_seconds: float, status: Presence | None = None
) -> AgentList:
    rows = tx.all("agent_list", {"project": scope.project_id, "name": None, "limit": 1000})
    agents = [_agent(r, scope.now, online_seconds, offline_seconds) for r in rows]
    return AgentList(agents=[a for a in agents if status is None or a.status == status])


def require_agent_row(tx: Tx, scope: Scope, name: str) -> Row:
    row = tx.one("agent_by_name", {"project": scope.project_id, "name": name})
    if row is None:
        raise NotFound(
            f"No agent named {name!r} has joined project {scope.project}.",
            hint="agent_list shows the agents; an agent joins with agent_init or any tool call.",
        )
    return row


def init(
    tx: Tx,
    scope: Scope,
    role: str | None,
    capabilities: list[str] | None,
    *,
    resolver_last_run: float | None,
    online_seconds: float,
    offline_seconds: float,
    backend: str,
    schema_version: int,
) -> AgentInit:
    name = scope.require_agent()
    check_agent_name(name)
    if role is not None:
        check_name("role", role)
    if capabilities is not None:
        if len(capabilities) > MAX_LABELS:
            raise InvalidInput(f"At most {MAX_LABELS} capabilities.", hint="List the main ones.")
        for cap in capabilities:
            check_name("capability", cap)
    tx.one(
        "agent_register",
        {
            "project": scope.project_id,
            "name": name,
            "role": role,
            "capabilities": None if capabilities is None else json.dumps(sorted(set(capabilities))),
            "now": scope.now,
        },
    )
    event(tx, scope, EventKind.AGENT_INIT, name, role=role)
    row = tx.one("agent_list", {"project": scope.project_id, "name": name, "limit": 1})
    agent = _agent(row, scope.now, online_seconds, offline_seconds)
    role_row = tx.one("role_by_slug", {"project": scope.project_id, "slug": agent.role}) if agent.role else None
    held = [brief(r) for r in tx.all("tasks_held", {"project": scope.project_id, "agent": name})]
    claimable_rows = tx.all(
        "tasks_claimable", {"project": scope.project_id, "role": agent.role, "limit": INIT_CLAIMABLE}
    )
    inbox = messages.inbox(tx, scope, unread_only=False, task=None, limit=INIT_MESSAGES, mark_read=False)
    project = tx.one("project_by_id", {"project": scope.project_id})
    last_run = max(filter(None, [resolver_last_run, project["resolver_run_at"]]), default=None)
    return AgentInit(
        agent=agent,
        role=_role(role_row) if role_row else None,
        health=Health(
            store=backend,
            schema_version=schema_version,
            server_version=__version__,
            resolver_last_run=iso(last_run),
        ),
        memory=_memory(tx, scope),
        held=held,
        claimable=[brief(r) for r in claimable_rows],
        ready=claimable_rows[0]["total"] if claimable_rows else 0,
        inbox=inbox,
        next_step=_next_step(held, bool(claimable_rows), inbox.unread),
    )


def _memory(tx: Tx, scope: Scope) -> list[MemoryEntry]:
    page = memory.list_values(tx, scope, "", "agent", limit=INIT_MEMORY)
    return [
        e.model_copy(update={"value": e.value[:INIT_VALUE_CHARS], "truncated": True})
        if len(e.value) > INIT_VALUE_CHARS
        else e
        for e in page.entries
    ]


def _next_step(held: list, claimable: bool, unread: int) -> str:
    steps = []
    if held:
        codes = ", ".join(t.code for t in held)
        steps.append(f"You still hold {codes}: task_get it and carry on (task_heartbeat renews the lease).")
    if unread:
        steps.append(f"You have {unread} unread message(s) below; acknowledge them once handled (message_inbox(ack=[ids])).")
    if not held:
        steps.append("Call task_claim to take the next ready task." if claimable else
                     "Nothing is ready for your role now; task_claim later, or check message_inbox.")
    return " ".join(steps)


# ---------------------------------------------------------------- roles


def _role(row: Row) -> Role:
    return Role(
        slug=row["slug"],
        name=row["name"],
        definition=row["definition"],
        when_to_use=row["when_to_use"],
        instructions=row["instructions"],
    )


def define_role(tx: Tx, scope: Scope, spec: RoleSpec) -> Role:
    texts = {}
    for field in ("definition", "when_to_use", "instructions"):
        check_text(field, getattr(spec, field))
        texts[field] = redact(getattr(spec, field)).text  # every agent of the role reads these
    row = tx.one(
        "role_upsert",
        {"project": scope.project_id, "slug": spec.slug, "name": spec.name or spec.slug, **texts, "now": scope.now},
    )
    event(tx, scope, EventKind.ROLE_DEFINED, spec.slug)
    return _role(row)


def list_roles(tx: Tx, scope: Scope) -> RoleList:
    return RoleList(roles=[_role(r) for r in tx.all("role_list", {"project": scope.project_id})][:MAX_PAGE])


def get_role(tx: Tx, scope: Scope, slug: str) -> Role | None:
    row = tx.one("role_by_slug", {"project": scope.project_id, "slug": slug})
    return _role(row) if row else None
