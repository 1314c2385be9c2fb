"""A task's thread for a person watching: its thread messages and the escalations about it,
oldest first, and never a direct or role message, even one that carries the task."""

from __future__ import annotations

import pytest

from taskloom.errors import InvalidInput, NotFound
from taskloom.services import messages
from tests.conftest import call


async def create(client, *tasks: dict) -> list[str]:
    created = await call(client, "task_create", tasks=list(tasks), agent="carol")
    return [t["code"] for t in created["tasks"]]


async def send(client, sender: str, to: str | None, body: str, **kw) -> int:
    return (await call(client, "message_send", to=to, body=body, agent=sender, **kw))["id"]


async def thread(app, code: str, **kw):
    return await app.read(messages.thread, code, **kw)


async def test_a_task_with_no_messages_has_an_empty_thread(team, app):
    await create(team, {"code": "A", "title": "a"})
    assert await thread(app, "A") == []


async def test_the_thread_holds_thread_messages_and_escalations_and_nothing_private(team, app, clock):
    client = team
    await create(client, {"code": "A", "title": "api"}, {"code": "B", "title": "other"})
    await call(client, "task_claim", task="A", agent="alice")
    first = await send(client, "carol", "task:A", "Use the v2 router.")
    clock.advance(1)
    await call(client, "task_block", task="A", reason="which key?", agent="alice")  # an escalation
    [esc] = [m for m in (await call(client, "message_inbox", agent="boss"))["messages"] if m["kind"] == "escalation"]
    # Private answers that carry the task: a direct reply to the escalation, a direct and a role message.
    await send(client, "boss", "agent:alice", "psst, it is in the vault", reply_to=esc["id"])
    await send(client, "boss", "alice", "private about A")
    await send(client, "boss", "role:dev", "everyone on A?")
    await send(client, "boss", "all", "stand-up at ten")
    # Another task's thread and escalation.
    await send(client, "carol", "task:B", "not about A")
    await call(client, "task_block", task="B", reason="nope", agent="boss")
    clock.advance(1)
    await call(client, "task_unblock", task="A", answer="the staging key", agent="boss")  # posted to the thread
    reply = await send(client, "alice", None, "thanks", reply_to=esc["id"])  # a reply to it goes to the thread

    got = await thread(app, "A")

    assert [(m.sender, m.to, m.kind, m.body.split("\n")[0]) for m in got] == [
        ("carol", "task:A", "message", "Use the v2 router."),
        ("alice", "role:orchestrator", "escalation", "alice reports A blocked: which key?"),
        ("boss", "task:A", "message", "the staging key"),
        ("alice", "task:A", "message", "thanks"),
    ]
    assert got[0].id == first and got[-1].id == reply
    assert all(m.task == "A" for m in got)


async def test_read_and_acked_say_whether_anyone_did_and_viewing_marks_nothing(team, app):
    client = team
    await create(client, {"code": "A", "title": "a"})
    await call(client, "task_claim", task="A", agent="alice")
    await send(client, "carol", "task:A", "hello")
    [m] = await thread(app, "A")
    assert (m.read, m.acked) == (False, False)
    assert (await call(client, "message_inbox", agent="alice"))["unread"] == 1  # the view marked nothing

    await call(client, "message_inbox", agent="alice", mark_read=True)
    [m] = await thread(app, "A")
    assert (m.read, m.acked) == (True, False)
    await call(client, "message_ack", ids=[m.id], agent="alice")
    [m] = await thread(app, "A")
    assert (m.read, m.acked) == (True, True)


async def test_the_limit_keeps_the_newest_oldest_first(team, app):
    client = team
    await create(client, {"code": "A", "title": "a"})
    for i in range(5):
        await send(client, "carol", "task:A", f"m{i}")
    assert [m.body for m in await thread(app, "A", limit=3)] == ["m2", "m3", "m4"]


async def test_bad_input_is_a_clear_error(team, app):
    await create(team, {"code": "A", "title": "a"})
    with pytest.raises(NotFound, match="Task Z does not exist"):
        await thread(app, "Z")
    with pytest.raises(InvalidInput, match="limit must be"):
        await thread(app, "A", limit=201)
