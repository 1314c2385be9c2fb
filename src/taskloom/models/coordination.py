"""Pydantic models for coordination: agents and roles, messages, activity."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from taskloom.models.work import MemoryEntry, TaskBrief

Presence = Literal["online", "busy", "idle", "offline"]


class Role(BaseModel):
    slug: str
    name: str
    definition: str
    when_to_use: str
    instructions: str


class RoleList(BaseModel):
    roles: list[Role]


class Agent(BaseModel):
    name: str
    role: str | None
    capabilities: list[str]
    status: Presence = Field(description="busy: holds a task; online: seen lately; idle: quiet; offline: gone")
    current_task: str | None
    held: int = Field(description="tasks it holds (in progress or blocked)")
    last_seen_at: str
    registered_at: str


class AgentList(BaseModel):
    agents: list[Agent]


class Health(BaseModel):
    store: str
    schema_version: int
    server_version: str
    resolver_last_run: str | None = Field(description="null: no resolver has run on this database yet")


class Message(BaseModel):
    id: int
    sender: str
    to: str = Field(description="agent:<name>, role:<slug>, all or task:<code>")
    kind: Literal["message", "escalation"]
    subject: str
    body: str
    task: str | None
    ack_required: bool
    reply_to: int | None
    at: str
    read: bool
    acked: bool


class Inbox(BaseModel):
    messages: list[Message] = Field(description="unread first (oldest first), then read (newest first)")
    unread: int = Field(description="unread messages matching the filters")


class MessageSent(BaseModel):
    id: int
    to: str
    reached: int = Field(description="agents who can read it now; role and task inboxes also reach later joiners")
    redacted: int = Field(description="secrets masked before storing")
    message: str


class Acked(BaseModel):
    acked: list[int]
    unread: int


class AgentInit(BaseModel):
    """Everything an agent needs on its first call: who it is, what it holds, what to do next."""

    agent: Agent
    role: Role | None = Field(description="its role's definition and instructions")
    health: Health
    memory: list[MemoryEntry] = Field(description="its own memory (values may be truncated)")
    held: list[TaskBrief] = Field(description="tasks it already holds: resume these first")
    claimable: list[TaskBrief] = Field(description="the next ready tasks for its role")
    ready: int = Field(description="ready tasks for its role in all")
    inbox: Inbox
    next_step: str


class Event(BaseModel):
    id: int
    at: str
    kind: str
    subject: str | None
    agent: str | None
    payload: dict[str, Any] | None


class Feed(BaseModel):
    events: list[Event]
    next_since: int = Field(description="pass as `since` to get what happens next")


class Logged(BaseModel):
    id: int
    redacted: int
