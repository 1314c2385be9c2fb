"""Messages between agents: to one agent, a role, everyone, or a task's thread.

A message is stored once, whatever its audience; each reader's read and acknowledged state is a
receipt row. So a role or broadcast message also reaches agents who join later, and an inbox is
one indexed query, not a fan-out table to keep in step.
"""

from __future__ import annotations

import json

from taskloom.clock import iso
from taskloom.domain.events import EventKind
from taskloom.domain.limits import MAX_PAGE, MAX_TEXT, check_text, check_title
from taskloom.domain.redact import Redacted, redact
from taskloom.errors import InvalidInput, NotFound
from taskloom.models import Acked, Inbox, Message, MessageSent
from taskloom.services.common import SYSTEM_AGENT, Scope, event, task_row
from taskloom.store.base import Row, Tx

MAX_BODY = MAX_TEXT


def _address(tx: Tx, scope: Scope, to: str) -> tuple[str, int | None, int]:
    """Normalise `to`, check it exists, and count who can read it now: (recipient, task_id, reached)."""
    to = to.strip()
    kind, _, name = to.partition(":")
    if kind in ("agent", "role", "task") and not name.strip():
        raise InvalidInput(f"{to!r} names no {kind}.", hint=f"Write it as '{kind}:<name>', e.g. 'role:backend'.")
    if to == "all":
        return "all", None, tx.scalar("agent_count_others", {"project": scope.project_id, "name": scope.agent})
    if kind == "role" and name:
        members = [r["name"] for r in tx.all("agents_with_role", {"project": scope.project_id, "role": name})]
        if not members and tx.one("role_by_slug", {"project": scope.project_id, "slug": name}) is None:
            raise NotFound(
                f"No role {name!r}: it is not defined and no agent has it.",
                hint="role_list shows the roles; agent_list shows who has which role.",
            )
        return f"role:{name}", None, len([m for m in members if m != scope.agent])
    if kind == "task" and name:
        task = task_row(tx, scope, name)
        recipient = f"task:{task['code']}"
        members = tx.all("thread_members", {"task_id": task["id"]})
        return recipient, task["id"], len({r["name"] for r in members} - {scope.agent})
    agent = name if kind == "agent" and name else to
    if agent == scope.agent:
        raise InvalidInput(
            "That is you: an inbox never shows its own agent's messages.",
            hint="Keep notes to yourself with memory_set, or address someone else.",
        )
    if tx.one("agent_by_name", {"project": scope.project_id, "name": agent}) is None:
        raise NotFound(
            f"No agent named {agent!r} has joined project {scope.project}.",
            hint="agent_list shows the agents. Address a role as 'role:<slug>', everyone as 'all', "
            "or a task's thread as 'task:<code>'.",
        )
    return f"agent:{agent}", None, 1


def send(
    tx: Tx,
    scope: Scope,
    to: str | None,
    body: str,
    subject: str | None = None,
    ack_required: bool = False,
    reply_to: int | None = None,
) -> MessageSent:
    scope.require_agent()
    if not body.strip():
        raise InvalidInput("The message body is empty.", hint="Say what you need or what happened.")
    check_text("body", body, MAX_BODY)
    if subject is not None:
        check_title("subject", subject)
    task_id = None
    if reply_to is not None:
        original = tx.one("message_by_id", {"project": scope.project_id, "id": reply_to})
        if original is None:
            raise NotFound(f"No message {reply_to} to reply to.", hint="message_inbox shows message ids.")
        if to is None:
            to = _reply_address(original)
        subject = subject or _re(original["subject"])
        task_id = original["task_id"]
    if not to:
        raise InvalidInput(
            "No recipient.", hint="Set `to`: an agent name, 'role:<slug>', 'all' or 'task:<code>'."
        )
    recipient, thread_task, reached = _address(tx, scope, to)
    # Redact before cutting a default subject: a key cut in half no longer matches its pattern.
    clean_body = redact(body)
    clean_subject = redact(subject) if subject else Redacted(_first_line(clean_body.text), 0)
    message_id = post(
        tx,
        scope,
        recipient,
        clean_subject.text,
        clean_body.text,
        task_id=thread_task or task_id,
        ack_required=ack_required,
        reply_to=reply_to,
    )
    redacted = clean_body.count + clean_subject.count
    note = f" {redacted} secret(s) were masked before storing." if redacted else ""
    if reached == 0:
        note += " Nobody can read it yet; it waits for whoever joins that audience."
    return MessageSent(id=message_id, to=recipient, reached=reached, redacted=redacted, message=f"Sent.{note}")


def post(
    tx: Tx,
    scope: Scope,
    recipient: str,
    subject: str,
    body: str,
    *,
    task_id: int | None = None,
    kind: str = "message",
    ack_required: bool = False,
    reply_to: int | None = None,
) -> int:
    """Store a message whose text is already checked and redacted (escalations come here directly)."""
    message_id = tx.scalar(
        "message_insert",
        {
            "project": scope.project_id,
            "sender": scope.agent or SYSTEM_AGENT,
            "recipient": recipient,
            "task_id": task_id,
            "kind": kind,
            "subject": subject,
            "body": body,
            "ack_required": ack_required,
            "reply_to": reply_to,
            "now": scope.now,
        },
    )
    thread = recipient.startswith("task:")
    if task_id is not None and (thread or kind == "escalation"):
        sender = scope.agent if thread else None  # an escalation's sender is not in the thread
        tx.run("thread_readers_add", {"task_id": task_id, "sender": sender})
    # No text in the event: the feed is open to every agent, a message only to its audience.
    event(tx, scope, EventKind.sent(kind), recipient, id=message_id)
    return message_id


def inbox(
    tx: Tx,
    scope: Scope,
    unread_only: bool,
    task: str | None,
    limit: int,
    mark_read: bool,
    ack: list[int] | None = None,
) -> Inbox:
    scope.require_agent()
    if ack:
        _ack(tx, scope, ack)
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE}.")
    task_id = task_row(tx, scope, task)["id"] if task else None
    rows = _audience(tx, scope, task_id=task_id, unread_only=unread_only, limit=limit)
    unread = rows[0]["unread_total"] if rows else 0
    found = [_message(r) for r in rows]
    if mark_read and rows:
        _mark(tx, scope, [r["id"] for r in rows], ack=False)
        event(tx, scope, EventKind.MESSAGE_READ, f"agent:{scope.agent}", ids=[r["id"] for r in rows])
        # Answer with the state after this call, as an acknowledgement does.
        unread -= sum(not m.read for m in found)
        found = [m.model_copy(update={"read": True}) for m in found]
    return Inbox(messages=found, unread=unread)


def ack(tx: Tx, scope: Scope, ids: list[int]) -> Acked:
    """Mark messages read and acknowledged by the caller."""
    scope.require_agent()
    wanted = _ack(tx, scope, ids)
    left = inbox(tx, scope, unread_only=True, task=None, limit=1, mark_read=False)
    return Acked(acked=wanted, unread=left.unread)


def _ack(tx: Tx, scope: Scope, ids: list[int]) -> list[int]:
    if not ids:
        raise InvalidInput("No message ids.", hint="Pass the ids from message_inbox.")
    if len(ids) > MAX_PAGE:
        raise InvalidInput(f"At most {MAX_PAGE} ids per call.")
    wanted = sorted(set(ids))
    # Only what the caller can read: acknowledging someone else's escalation would settle it.
    mine = {r["id"] for r in _audience(tx, scope, ids=wanted, limit=len(wanted))}
    missing = [i for i in wanted if i not in mine]
    if missing:
        raise NotFound(
            f"No message(s) {', '.join(map(str, missing))} in your inbox.",
            hint="message_inbox shows your messages and their ids. Nothing was acknowledged.",
        )
    _mark(tx, scope, wanted, ack=True)
    tx.run("messages_acked", {"project": scope.project_id, "ids": json.dumps(wanted), "now": scope.now})
    event(tx, scope, EventKind.MESSAGE_ACKED, f"agent:{scope.agent}", ids=wanted)
    return wanted


def thread(tx: Tx, scope: Scope, code: str, limit: int = 100) -> list[Message]:
    """A task's thread and the escalations about it, for a person watching: the newest `limit`,
    oldest first. Direct and role messages never show here, even when they name the task. It reads
    as nobody, so `read` says whether anyone read it and `acked` whether anyone acknowledged it."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE}.")
    task = task_row(tx, scope, code)
    rows = tx.all("task_thread", {"task_id": task["id"], "recipient": f"task:{task['code']}", "limit": limit})
    return [_message(r) for r in reversed(rows)]


def _audience(
    tx: Tx,
    scope: Scope,
    *,
    limit: int,
    task_id: int | None = None,
    unread_only: bool = False,
    ids: list[int] | None = None,
) -> list[Row]:
    """The caller's inbox rows, unread first: everything it may read, narrowed by the filters."""
    agent = tx.one("agent_by_name", {"project": scope.project_id, "name": scope.agent})
    return tx.all(
        "inbox",
        {
            "project": scope.project_id,
            "me": scope.agent,
            "role": agent["role"] if agent else None,
            "task_id": task_id,
            "unread_only": unread_only,
            "ids": None if ids is None else json.dumps(ids),
            "limit": limit,
        },
    )


def _mark(tx: Tx, scope: Scope, ids: list[int], *, ack: bool) -> None:
    tx.run(
        "receipts_mark",
        {"project": scope.project_id, "me": scope.agent, "ids": json.dumps(ids), "ack": ack, "now": scope.now},
    )


def _message(row: Row) -> Message:
    return Message(
        id=row["id"],
        sender=row["sender"],
        to=row["recipient"],
        kind=row["kind"],
        subject=row["subject"],
        body=row["body"],
        task=row["task_code"],
        ack_required=bool(row["ack_required"]),
        reply_to=row["reply_to"],
        at=iso(row["created_at"]),
        read=row["read_at"] is not None,
        acked=row["my_ack"] is not None,
    )


def _reply_address(original: Row) -> str:
    """Where a reply goes by default: the thread it came from, else its sender. An escalation is
    about its task, whoever raised it (often the resolver, which is no agent to write to), so a
    reply to one goes to the task's thread."""
    if original["recipient"].startswith("task:"):
        return original["recipient"]
    if original["kind"] == "escalation":  # escalations always name their task
        return f"task:{original['task_code']}"
    return f"agent:{original['sender']}"


def _first_line(body: str) -> str:
    line = body.strip().splitlines()[0].strip()
    return line if len(line) <= 80 else line[:77] + "..."


def _re(subject: str) -> str:
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"[:200]
