"""Message tools: write to an agent, a role, everyone or a task's thread; read and acknowledge."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from pydantic import Field

from taskloom import waiting
from taskloom.models import Acked, Inbox, MessageSent
from taskloom.server.tools.common import (
    IDEMPOTENT,
    WRITE,
    AgentArg,
    ToolDef,
    WaitArg,
    app_of,
    wait_for,
    while_caller_listens,
)
from taskloom.services import messages


async def message_send(
    ctx: Context,
    body: str,
    to: Annotated[
        str | None,
        Field(max_length=120, description="agent name, role:<slug>, all, or task:<code>; omit when replying"),
    ] = None,
    subject: Annotated[str | None, Field(max_length=200)] = None,
    ack_required: bool = False,
    reply_to: Annotated[int | None, Field(description="id of the message you answer")] = None,
    agent: AgentArg = None,
) -> MessageSent:
    """Send a message; a reply goes back to the sender or thread. Role and `all` messages also
    reach later joiners; `task:<code>` reaches the task's holder, creator and thread. Secrets are
    masked. Errors: not_found for an unknown recipient or reply_to."""
    return await app_of(ctx).write(messages.send, to, body, subject, ack_required, reply_to, agent=agent)


async def message_inbox(
    ctx: Context,
    unread_only: bool = False,
    task: Annotated[str | None, Field(max_length=64, description="only this task's messages")] = None,
    limit: Annotated[int, Field(ge=1, le=200)] = 20,
    mark_read: bool = False,
    ack: Annotated[list[int] | None, Field(max_length=200)] = None,
    wait_seconds: WaitArg = None,
    agent: AgentArg = None,
) -> Inbox:
    """Your messages (direct, role, all, threads you are in), unread first. Marks nothing read
    unless `mark_read`; `ack` acknowledges ids first; wait_seconds waits for unread mail.
    not_found: an ack id not in your inbox."""
    app = app_of(ctx)
    if wait := wait_for(ctx, wait_seconds):
        if ack:
            # Acknowledged in one transaction with the task filter's check, so a bad filter
            # acknowledges nothing; the wait then looks for mail beyond what was just settled.
            await app.write(messages.inbox, True, task, 1, False, ack=ack, agent=agent)
            ack = None
        async with while_caller_listens(ctx):
            await waiting.mail(app, ctx.mcp_server.feed, task, wait, agent=agent, progress=ctx.report_progress)
    if mark_read or ack:
        return await app.write(messages.inbox, unread_only, task, limit, mark_read, ack=ack, agent=agent)
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
    ToolDef(message_inbox, "Read your inbox", IDEMPOTENT),  # not READ: mark_read and ack write
    ToolDef(message_ack, "Acknowledge messages", IDEMPOTENT),
]
