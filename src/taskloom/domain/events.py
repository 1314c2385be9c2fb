"""Event kinds, and what each kind of event changes.

Every change taskloom makes is one row in the events table, with a kind, a subject and the agent
that made it. The change feed (`taskloom.changes`) hands new rows to whoever listens: push maps
them to resource URIs, waiting calls and the resolver wake on the kinds they care about. Those
rules live here, next to the kinds, so no reader parses kinds back out of strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import NamedTuple

from taskloom.domain.statuses import StreamStatus, TaskStatus


class EventKind(StrEnum):
    TASK_CREATED = "task.created"
    TASK_UPDATED = "task.updated"
    TASK_CONTEXT = "task.context"
    TASK_CLAIMED = "task.claimed"
    TASK_RELEASED = "task.released"
    TASK_RETRY = "task.retry"
    TASK_ESCALATED = "task.escalated"
    # A task moved to a status (`task.<status>`), one kind per status.
    TASK_BACKLOG = "task.backlog"
    TASK_WAITING = "task.waiting"
    TASK_READY = "task.ready"
    TASK_IN_PROGRESS = "task.in_progress"
    TASK_REVIEW = "task.review"
    TASK_BLOCKED = "task.blocked"
    TASK_DONE = "task.done"
    TASK_FAILED = "task.failed"
    TASK_CANCELLED = "task.cancelled"
    LEASE_RENEWED = "lease.renewed"
    LEASE_EXPIRED = "lease.expired"
    NOTE_NOTE = "note.note"
    NOTE_PROGRESS = "note.progress"
    NOTE_DECISION = "note.decision"
    NOTE_BLOCKER = "note.blocker"
    STREAM_CREATED = "stream.created"
    # A stream moved to a status (`stream.<status>`).
    STREAM_WAITING = "stream.waiting"
    STREAM_READY = "stream.ready"
    STREAM_ACTIVE = "stream.active"
    STREAM_DONE = "stream.done"
    SPRINT_CREATED = "sprint.created"
    SPRINT_UPDATED = "sprint.updated"
    MESSAGE_SENT = "message.sent"
    ESCALATION_SENT = "escalation.sent"
    MESSAGE_READ = "message.read"
    MESSAGE_ACKED = "message.acked"
    AGENT_INIT = "agent.init"
    AGENT_LOG = "agent.log"
    ROLE_DEFINED = "role.defined"
    MEMORY_SET = "memory.set"
    MEMORY_DELETED = "memory.deleted"
    ARTIFACT_UPLOADED = "artifact.uploaded"
    ARTIFACT_LINKED = "artifact.linked"
    ARTIFACT_UNLINKED = "artifact.unlinked"
    ARTIFACT_GC = "artifact.gc"
    RUN_STARTED = "run.started"  # subject: the worker agent's name
    RUN_ENDED = "run.ended"
    # Subject: the task the reservation is for, else 'agent:<name>'.
    FILES_RESERVED = "files.reserved"
    FILES_RELEASED = "files.released"

    @classmethod
    def task_moved(cls, status: TaskStatus | str) -> EventKind:
        return cls(f"task.{status}")

    @classmethod
    def stream_moved(cls, status: StreamStatus | str) -> EventKind:
        return cls(f"stream.{status}")

    @classmethod
    def note_added(cls, kind: str) -> EventKind:
        return cls(f"note.{kind}")

    @classmethod
    def sent(cls, kind: str) -> EventKind:
        """A message (`message`) or an escalation (`escalation`) was sent."""
        return cls(f"{kind}.sent")

    @property
    def reach(self) -> Reach:
        return _REACH.get(self, Reach.NOTHING)


class Reach(Enum):
    """What an event's subject names, and so which resources it changes."""

    NOTHING = "nothing"  # the project's status only
    TASK = "task"  # subject: a task code; its page changes
    STREAM = "stream"  # subject: a stream code
    LINK = "link"  # subject: 'task:T-1', 'stream:x', 'sprint:x' or 'project'; a task's page lists its links
    AGENT = "agent"  # subject: an agent name; its inbox may now hold its role's messages
    RECEIPT = "receipt"  # subject: 'agent:<name>', whose inbox changed
    ADDRESS = "address"  # subject: where a message went: 'agent:x', 'role:x', 'all' or 'task:T-1'


_TASK_FAMILIES = ("task.", "note.", "lease.")
_REACH: dict[EventKind, Reach] = {
    **{k: Reach.TASK for k in EventKind if k.value.startswith(_TASK_FAMILIES)},
    **{k: Reach.STREAM for k in EventKind if k.value.startswith("stream.")},
    EventKind.ARTIFACT_LINKED: Reach.LINK,
    EventKind.ARTIFACT_UNLINKED: Reach.LINK,
    EventKind.AGENT_INIT: Reach.AGENT,
    EventKind.MESSAGE_READ: Reach.RECEIPT,
    EventKind.MESSAGE_ACKED: Reach.RECEIPT,
    EventKind.MESSAGE_SENT: Reach.ADDRESS,
    EventKind.ESCALATION_SENT: Reach.ADDRESS,
}

# What can make a task claimable, or end the hope of one (the project finishing): a waiting
# claim looks again after any of these.
CLAIM_WAKE: frozenset[EventKind] = frozenset(
    {
        EventKind.TASK_CREATED,
        EventKind.TASK_UPDATED,
        EventKind.TASK_READY,
        EventKind.TASK_CLAIMED,  # an older waiter took its task: a younger one may take the next now
        EventKind.TASK_RELEASED,
        EventKind.TASK_RETRY,
        EventKind.LEASE_EXPIRED,
        EventKind.TASK_DONE,
        EventKind.TASK_FAILED,
        EventKind.TASK_CANCELLED,
        EventKind.TASK_BLOCKED,
        EventKind.TASK_BACKLOG,
        EventKind.STREAM_READY,
    }
)
# A message may have reached a waiting inbox (a new role brings its role's messages too).
INBOX_WAKE: frozenset[EventKind] = frozenset(
    {EventKind.MESSAGE_SENT, EventKind.ESCALATION_SENT, EventKind.AGENT_INIT}
)
# The graph changed shape, so the critical-path ranks are stale: the resolver re-ranks now
# rather than at its next pass.
RESOLVER_WAKE: frozenset[EventKind] = frozenset(
    {EventKind.TASK_CREATED, EventKind.TASK_UPDATED, EventKind.STREAM_CREATED}
)


class Change(NamedTuple):
    """One event as the change feed hands it on: no payload, which push and waits never need."""

    id: int
    kind: EventKind
    subject: str
    agent: str | None


@dataclass
class Touched:
    """The resources a batch of changes altered, as far as the events say by themselves.

    Who reads a role's or everyone's inbox, and which pages show a task, take the database to
    answer; `roles` and `every_inbox` say when that is needed.
    """

    tasks: set[str] = field(default_factory=set)
    streams: set[str] = field(default_factory=set)
    inboxes: set[str] = field(default_factory=set)  # agent names
    roles: set[str] = field(default_factory=set)  # role inboxes written to
    every_inbox: bool = False  # a broadcast, thread or escalation: cheaper to over-notify than resolve


def touched(changes: list[Change]) -> Touched:
    out = Touched()
    for change in changes:
        reach, subject = change.kind.reach, change.subject or ""
        target, _, name = subject.partition(":")
        if reach is Reach.TASK:
            out.tasks.add(subject)
            if change.kind is EventKind.TASK_CLAIMED and change.agent:
                out.inboxes.add(change.agent)  # the holder now reads the task's thread
        elif reach is Reach.STREAM:
            out.streams.add(subject)
        elif reach is Reach.LINK and target == "task":
            out.tasks.add(name)
        elif reach is Reach.AGENT:
            out.inboxes.add(subject)
        elif reach is Reach.RECEIPT:
            out.inboxes.add(name)
        elif reach is Reach.ADDRESS:
            # Escalations also reach the task's creator; 'all' and threads reach many.
            if change.kind is EventKind.ESCALATION_SENT or target not in ("agent", "role"):
                out.every_inbox = True
            elif target == "agent":
                out.inboxes.add(name)
            else:
                out.roles.add(name)
    return out


def kind_of(value: str) -> EventKind | None:
    """The kind of a stored event; None for a kind this version does not know (a newer writer)."""
    try:
        return EventKind(value)
    except ValueError:
        return None
