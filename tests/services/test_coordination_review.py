"""Review of the agent-coordination code: each test pins down one defect the review found (all fixed).

Cost tests count SQLite virtual-machine steps (a progress handler) instead of timing, so they are
deterministic: a query whose work grows with rows the caller has nothing to do with fails them.
"""

from __future__ import annotations

import gc
import sqlite3
from pathlib import Path

import pytest
from mcp import Client
from mcp.server.subscriptions import ResourceUpdated

from taskloom.domain.events import EventKind
from taskloom.domain.redact import redact
from taskloom.resolver import Resolver
from taskloom.server import build_server
from taskloom.server.build import PRESENCE_EVERY
from taskloom.services import activity, messages
from taskloom.services.common import Scope, event
from tests.conftest import call, call_error, vm_steps
from tests.server.test_push import subscribe

LEASE = 60.0  # the test settings' lease



async def escalation_ids(client, agent: str) -> list[int]:
    inbox = await call(client, "message_inbox", agent=agent, limit=200)
    return [m["id"] for m in inbox["messages"] if m["kind"] == "escalation"]


# ---------------------------------------------------------------- helpers for cost tests


def _fill_threads(db_path: Path, tasks: int, per_task: int, first: int) -> None:
    """Task threads between other agents: `tasks` tasks with `per_task` messages each."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    for t in range(first, first + tasks):
        task_id = conn.execute(
            "INSERT INTO tasks (project_id, code, title, status, created_at, created_by, claimed_by) "
            "VALUES (1, ?, 't', 'in_progress', 0, 'planner', 'worker') RETURNING id",
            (f"X-{t}",),
        ).fetchone()[0]
        conn.executemany(
            "INSERT INTO messages (project_id, sender, recipient, task_id, subject, body, created_at) "
            "VALUES (1, 'worker', ?, ?, 's', 'b', 0)",
            [(f"task:X-{t}", task_id)] * per_task,
        )
    conn.execute("COMMIT")
    conn.close()



# ---------------------------------------------------------------- 1. inbox cost


@pytest.mark.sqlite_only  # counts SQLite VM steps
async def test_the_inbox_of_an_agent_in_no_thread_does_not_cost_more_as_other_threads_grow(app, db_path):
    scope = app.scope("newcomer")

    def read(tx):
        messages.inbox(tx, scope, unread_only=False, task=None, limit=20, mark_read=False)

    _fill_threads(db_path, tasks=20, per_task=25, first=0)
    small = vm_steps(db_path, read)
    _fill_threads(db_path, tasks=60, per_task=25, first=20)  # 4x the unrelated thread messages
    large = vm_steps(db_path, read)
    assert large < small * 1.5 + 50, (small, large)


@pytest.mark.sqlite_only  # counts SQLite VM steps
async def test_acknowledging_one_message_does_not_scan_every_message_of_the_project(app, db_path):
    params = {"project": app.project_id, "ids": "[1]", "me": "newcomer", "ack": True, "now": 1.0}

    def ack(tx):
        tx.run("receipts_mark", params)
        tx.run("messages_acked", params)

    _fill_threads(db_path, tasks=10, per_task=50, first=0)
    small = vm_steps(db_path, ack)
    _fill_threads(db_path, tasks=40, per_task=50, first=10)
    large = vm_steps(db_path, ack)
    assert large < small * 1.5 + 20, (small, large)


# ---------------------------------------------------------------- 2. acting on others' messages


async def test_an_agent_outside_an_escalations_audience_cannot_settle_it(team):
    client = team
    created = await call(client, "task_create", tasks=[{"title": "needs input"}], agent="carol")
    code = created["tasks"][0]["code"]
    await call(client, "task_claim", task=code, agent="alice")
    await call(client, "task_block", task=code, reason="which region?", agent="alice")
    [esc] = await escalation_ids(client, "boss")
    assert await escalation_ids(client, "dave") == []  # dave cannot even see it...

    await client.call_tool("message_ack", {"ids": [esc], "agent": "dave"})  # ...but may ack it

    brief = (await client.get_prompt("orchestrator_brief", {})).messages[0].content.text
    assert f"Escalation #{esc}" in brief


async def test_a_direct_message_is_not_readable_by_a_third_agent_through_the_activity_feed(team):
    client = team
    await call(client, "message_send", to="dave", body="the staging vault phrase is tangerine-42", agent="alice")
    feed = await call(client, "activity_feed", limit=200)  # read by anyone; no `agent` needed
    assert "tangerine-42" not in str(feed)


# ---------------------------------------------------------------- 3. redaction misses


async def test_a_secret_in_a_role_definition_is_masked_before_it_is_stored(client):
    token = "ghp_" + "RoleInstr0123456789abcdefghijklmn"
    await call(client, "role_define", role={"slug": "ops", "instructions": f"deploy with {token}"})
    listed = await call(client, "role_list")
    assert token not in str(listed)


@pytest.mark.parametrize(
    "text,secret",
    [
        ("export GITHUB_TOKEN=0a1b2c3d4e5f6a7b8c9d", "0a1b2c3d4e5f6a7b8c9d"),
        ("access_token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcDEF123", "eyJhbGciOiJIUzI1NiJ9"),
        ('"refresh_token": "1//0gAbCdEfGhIjKlMnOp"', "1//0gAbCdEfGhIjKlMnOp"),
        ("redis://:s3cretPassw0rd@cache:6379/0", "s3cretPassw0rd"),
        ("Authorization: Basic dXNlcjpodW50ZXIyMjIy", "dXNlcjpodW50ZXIyMjIy"),
    ],
)
def test_common_credential_forms_are_masked(text, secret):
    assert secret not in redact(text).text


# ---------------------------------------------------------------- 4. escalation


async def test_every_open_dependent_of_a_failed_task_is_escalated(team, app):
    client = team
    specs = [{"title": "root", "code": "ROOT", "max_attempts": 1}]
    specs += [{"title": f"dep {i}", "code": f"D{i}", "depends_on": ["ROOT"]} for i in range(51)]
    await call(client, "task_create", tasks=specs, agent="carol")
    await call(client, "task_claim", task="ROOT", agent="alice")
    await call(client, "task_fail", task="ROOT", reason="broken", agent="alice")

    events = (await app.read(activity.feed, 0, None, None, "task.escalated", 200)).events
    escalated = {e.subject for e in events if e.payload["trigger"] == "dependency_failed"}
    assert escalated == {f"D{i}" for i in range(51)}


async def test_an_orchestrator_can_reply_to_a_lease_expiry_escalation(team, app, clock):
    client = team
    created = await call(client, "task_create", tasks=[{"title": "slow"}], agent="carol")
    code = created["tasks"][0]["code"]
    await call(client, "task_claim", task=code, agent="alice")
    clock.advance(LEASE + 1)
    await Resolver(app).run_once()
    [esc] = await escalation_ids(client, "boss")
    await call(client, "message_send", reply_to=esc, body="looking into it", agent="boss")


# ---------------------------------------------------------------- 5. push


async def test_changes_past_one_push_batch_are_notified_without_another_commit(app):
    push = build_server(app).push
    await push.check()  # marks the starting point

    def burst(tx, scope: Scope) -> None:
        for _ in range(activity.PUSH_BATCH):
            event(tx, scope, EventKind.AGENT_LOG, "agent:x")
        event(tx, scope, EventKind.TASK_CLAIMED, "T-1")

    await app.write(burst)
    seen = await push.check()
    seen |= await push.check()
    assert "taskloom://tasks/T-1" in seen


async def test_a_bus_listener_on_an_inbox_hears_role_and_broadcast_messages(app):
    server = build_server(app)
    heard: list[str] = []
    server.push.bus.subscribe(lambda e: heard.append(str(e.uri)) if isinstance(e, ResourceUpdated) else None)
    async with Client(server, mode="legacy") as client:
        await call(client, "agent_init", agent="bob", role="backend")
        await server.push.check()  # starting point
        await call(client, "message_send", to="role:backend", body="schema ready", agent="alice")
        await call(client, "message_send", to="all", body="standup", agent="alice")
        await server.push.check()
    assert "taskloom://agents/bob/inbox" in heard


async def test_a_disconnected_subscriber_is_forgotten_even_if_its_resource_never_changes(app):
    server = build_server(app)
    async with Client(server, mode="legacy") as leaving:
        await call(leaving, "task_create", tasks=[{"title": "finished long ago"}])
        await subscribe(leaving, "taskloom://tasks/T-1")
    gc.collect()
    assert list(server.push.subscribed()) == []
    assert not server.push.wanted


# ---------------------------------------------------------------- 6. presence


async def test_the_presence_throttle_forgets_agents_it_no_longer_throttles(app, clock):
    server = build_server(app)
    async with Client(server, mode="legacy") as client:
        for i in range(60):
            await call(client, "memory_list", agent=f"drifter-{i}")
        clock.advance(PRESENCE_EVERY * 10)
        await call(client, "memory_list", agent="last")
    assert len(server._last_seen) < 10


async def test_a_name_agent_init_refuses_cannot_join_through_another_tool(client):
    assert (await call_error(client, "agent_init", agent="bad\tname"))["code"] == "invalid_input"
    assert (await call_error(client, "message_inbox", agent="bad\tname"))["code"] == "invalid_input"


# ---------------------------------------------------------------- 7. error handling


async def test_an_agent_log_entry_cannot_make_the_feed_fail(client):
    await client.call_tool("agent_log", {"text": "half a pair \ud800 here"})
    await call(client, "activity_feed", limit=200)
