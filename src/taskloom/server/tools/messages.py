"""Message tools: write to an agent, a role, everyone or a task's thread; read and acknowledge."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from pydantic import Field

from taskloom.models import Acked, Inbox, MessageSent
from taskloom.server.tools.common import IDEMPOTENT, READ, WRITE, AgentArg, ToolDef, app_of
from taskloom.services import messages


async def message_send(
    ctx: Context,
    body: Annotated[str, Field(description="up to 64 KiB")],
    to: Annotated[
        str | None,
        Field(max_length=120, description="agent name, role:<slug>, all, or task:<code>; omit when replying"),
    ] = None,
    subject: Annotated[str | None, Field(max_length=200, description="default: the body's first line")] = None,
    ack_required: bool = False,
    reply_to: Annotated[int | None, Field(description="message id; the reply goes to its sender or thread")] = None,
    agent: AgentArg = None,
) -> MessageSent:
    """Send a message. Role and `all` messages also reach agents who join later; `task:<code>`
    goes to that task's thread (its holder, creator and whoever wrote there). Secrets are masked
    before storing. Errors: not_found for an unknown agent, role, task or reply_to."""
    return await app_of(ctx).write(messages.send, to, body, subject, ack_required, reply_to, agent=agent)


async def message_inbox(
    ctx: Context,
    unread_only: bool = False,
    task: Annotated[str | None, Field(max_length=64, description="only this task's messages")] = None,
    limit: Annotated[int, Field(ge=1, le=200)] = 20,
    mark_read: Annotated[bool, Field(description="mark what is returned as read")] = False,
    agent: AgentArg = None,
) -> Inbox:
    """Your messages: direct, to your role, to all, and threads of tasks you hold or created.
    Unread first. Reading does not mark them read unless `mark_read`; message_ack does."""
    app = app_of(ctx)
    if mark_read:
        return await app.write(messages.inbox, unread_only, task, limit, True, agent=agent)
    return await app.read(messages.inbox, unread_only, task, limit, False, agent=agent)


async def message_ack(
    ctx: Context,
    ids: Annotated[list[int], Field(min_length=1, max_length=200)],
    agent: AgentArg = None,
) -> Acked:
    """Acknowledge messages (this also marks them read); returns how many stay unread. Safe to repeat."""
    return await app_of(ctx).write(messages.ack, ids, agent=agent)


TOOLS = [
    ToolDef(message_send, "Send a message", WRITE),
    ToolDef(message_inbox, "Read your inbox", READ),
    ToolDef(message_ack, "Acknowledge messages", IDEMPOTENT),
]
