"""Escalation: the four triggers, what the task page shows, and who is told.

Each escalation writes a row on the task (task_get's `escalations`, newest first) and one
acknowledgeable message of kind 'escalation' to `role:orchestrator`, which the task's creator also
reads in its inbox (unless the creator is the acting agent: nobody reads their own messages).
Each reader acknowledges it separately. Lease expiry is driven by the resolver under the injected
clock (lease: 60 s in the test settings).
"""

from __future__ import annotations

from taskloom.clock import iso
from taskloom.resolver import Resolver
from taskloom.services import activity
from tests.conftest import call, call_error

LEASE = 60.0



async def create(client, creator: str, *tasks: dict) -> list[str]:
    created = await call(client, "task_create", tasks=list(tasks), agent=creator)
    return [t["code"] for t in created["tasks"]]


async def escalations(client, code: str) -> list[dict]:
    return (await call(client, "task_get", task=code))["escalations"]


async def escalation_messages(client, agent: str, task: str | None = None) -> list[dict]:
    args = {"agent": agent, "limit": 200}
    if task is not None:
        args["task"] = task
    inbox = await call(client, "message_inbox", **args)
    return [m for m in inbox["messages"] if m["kind"] == "escalation"]


async def brief_text(client) -> str:
    return (await client.get_prompt("orchestrator_brief", {})).messages[0].content.text


async def expire(app, clock, seconds: float = LEASE + 1) -> list[str]:
    clock.advance(seconds)
    return (await Resolver(app).run_once())["expired"]


async def feed(app, *, task: str | None = None, kind: str | None = None) -> list:
    """The whole feed, read through the service."""
    return (await app.read(activity.feed, 0, task, None, kind, 200)).events


async def escalated_events(app) -> list[tuple[str, str]]:
    return [(e.subject, e.payload["trigger"]) for e in await feed(app, kind="task.escalated")]


def check_message(msg: dict, *, to: str, task: str, trigger: str, title: str, reason_part: str) -> None:
    assert msg["kind"] == "escalation"
    assert msg["ack_required"] is True
    assert msg["to"] == to
    assert msg["task"] == task
    assert msg["subject"] == f"[{trigger}] {task}: {title}"
    assert reason_part in msg["body"]
    assert (msg["read"], msg["acked"]) == (False, False)


# ---------------------------------------------------------------- trigger 1: fail at max_attempts


async def test_failing_the_last_attempt_escalates_to_the_orchestrators_and_the_creator(team, clock, app):
    client = team
    [code] = await create(client, "carol", {"title": "migrate users", "max_attempts": 2})

    await call(client, "task_claim", task=code, agent="alice")
    first = await call(client, "task_fail", task=code, reason="flaky network", agent="alice")
    assert first["task"]["status"] == "ready"
    assert await escalations(client, code) == []  # an attempt is left: no escalation yet
    assert await escalation_messages(client, "boss") == []

    clock.advance(5)
    await call(client, "task_claim", task=code, agent="alice")
    last = await call(client, "task_fail", task=code, reason="schema mismatch in users table", agent="alice")
    assert last["task"]["status"] == "failed"

    [row] = await escalations(client, code)
    assert row["trigger"] == "max_attempts"
    assert row["reason"] == f"{code} failed after its last attempt: schema mismatch in users table"
    assert row["at"] == iso(clock.now())

    [to_role] = await escalation_messages(client, "boss")
    check_message(
        to_role, to="role:orchestrator", task=code, trigger="max_attempts", title="migrate users",
        reason_part="schema mismatch in users table",
    )
    assert to_role["sender"] == "alice"
    assert "task_update it back to ready" in to_role["body"]  # what to do next
    [to_creator] = await escalation_messages(client, "carol")
    # The creator reads the same message, not a copy.
    assert to_creator == to_role
    # Nobody else is told: not the failing agent, not a bystander.
    assert await escalation_messages(client, "alice") == []
    assert await escalation_messages(client, "dave") == []
    assert await escalated_events(app) == [(code, "max_attempts")]


async def test_giving_up_without_retry_escalates_as_max_attempts_at_once(team):
    client = team
    [code] = await create(client, "carol", {"title": "one shot", "max_attempts": 3})
    await call(client, "task_claim", task=code, agent="alice")
    out = await call(client, "task_fail", task=code, reason="cannot be done", retry=False, agent="alice")
    assert out["task"]["status"] == "failed"
    assert [e["trigger"] for e in await escalations(client, code)] == ["max_attempts"]
    assert len(await escalation_messages(client, "boss")) == 1


async def test_an_orchestrator_creator_gets_one_copy_not_two(team, app):
    client = team
    [code] = await create(client, "boss", {"title": "boss's own task", "max_attempts": 1})
    await call(client, "task_claim", task=code, agent="alice")
    await call(client, "task_fail", task=code, reason="nope", agent="alice")
    msgs = await escalation_messages(client, "boss")
    assert [m["to"] for m in msgs] == ["role:orchestrator"]
    # Only one escalation message was stored at all.
    assert [e.subject for e in await feed(app, kind="escalation.sent")] == ["role:orchestrator"]


async def test_every_orchestrator_sees_the_escalation_and_acks_it_separately(team):
    client = team
    await call(client, "agent_init", agent="boss-2", role="orchestrator")
    [code] = await create(client, "carol", {"title": "shared", "max_attempts": 1})
    await call(client, "task_claim", task=code, agent="alice")
    await call(client, "task_fail", task=code, reason="broken", agent="alice")
    [m1] = await escalation_messages(client, "boss")
    [m2] = await escalation_messages(client, "boss-2")
    assert m1["id"] == m2["id"]
    acked = await call(client, "message_ack", ids=[m1["id"]], agent="boss")
    assert acked["unread"] == 0
    assert (await escalation_messages(client, "boss"))[0]["acked"] is True
    assert (await escalation_messages(client, "boss-2"))[0]["acked"] is False


# ---------------------------------------------------------------- trigger 2: a dependency fails


async def test_a_failed_dependency_escalates_each_open_dependent(team, clock, app):
    client = team
    [root] = await create(client, "carol", {"title": "root", "code": "ROOT", "max_attempts": 1})
    await create(
        client,
        "carol",
        {"title": "first dependent", "code": "DEP-A", "depends_on": ["ROOT"]},
        {"title": "cancelled dependent", "code": "DEP-C", "depends_on": ["ROOT"]},
    )
    await create(client, "dave", {"title": "dave's dependent", "code": "DEP-D", "depends_on": ["ROOT"]})
    await create(client, "carol", {"title": "unrelated", "code": "OTHER"})
    await call(client, "task_update", task="DEP-C", status="cancelled", reason="not needed", agent="carol")

    await call(client, "task_claim", task=root, agent="alice")
    await call(client, "task_fail", task=root, reason="disk full", agent="alice")

    assert [e["trigger"] for e in await escalations(client, "ROOT")] == ["max_attempts"]
    for dep in ("DEP-A", "DEP-D"):
        [row] = await escalations(client, dep)
        assert row["trigger"] == "dependency_failed"
        assert row["reason"] == f"{dep} depends on ROOT, which failed: disk full"
        assert (await call(client, "task_get", task=dep))["task"]["status"] == "waiting"
    assert await escalations(client, "DEP-C") == []  # closed already
    assert await escalations(client, "OTHER") == []

    boss = await escalation_messages(client, "boss")
    assert sorted((m["task"], m["subject"].split("]")[0]) for m in boss) == [
        ("DEP-A", "[dependency_failed"),
        ("DEP-D", "[dependency_failed"),
        ("ROOT", "[max_attempts"),
    ]
    dep_a = next(m for m in boss if m["task"] == "DEP-A")
    check_message(
        dep_a, to="role:orchestrator", task="DEP-A", trigger="dependency_failed", title="first dependent",
        reason_part="DEP-A depends on ROOT, which failed: disk full",
    )
    # Each creator hears about its own tasks only.
    carol = await escalation_messages(client, "carol")
    assert sorted(m["task"] for m in carol) == ["DEP-A", "ROOT"]
    assert {m["id"] for m in carol} < {m["id"] for m in boss}  # the role's messages, not copies
    dave = await escalation_messages(client, "dave")
    assert [(m["task"], m["to"]) for m in dave] == [("DEP-D", "role:orchestrator")]
    assert sorted(await escalated_events(app)) == [
        ("DEP-A", "dependency_failed"),
        ("DEP-D", "dependency_failed"),
        ("ROOT", "max_attempts"),
    ]


# ---------------------------------------------------------------- trigger 3: a lease expires


async def test_an_expired_lease_escalates_as_lease_expired_before_the_last_attempt(team, app, clock):
    client = team
    [code] = await create(client, "carol", {"title": "long job", "max_attempts": 3})
    await call(client, "task_claim", task=code, agent="alice")
    assert await expire(app, clock, LEASE) == []  # not yet
    assert await escalations(client, code) == []
    assert await expire(app, clock, 1) == [code]

    task = (await call(client, "task_get", task=code))["task"]
    assert (task["status"], task["attempts"], task["claimed_by"]) == ("ready", 1, None)
    [row] = await escalations(client, code)
    assert row["trigger"] == "lease_expired"
    assert row["reason"] == "The lease held by alice expired (attempt 1 of 3); it is back in the queue."
    assert row["at"] == iso(clock.now())

    [to_role] = await escalation_messages(client, "boss")
    check_message(
        to_role, to="role:orchestrator", task=code, trigger="lease_expired", title="long job",
        reason_part="The lease held by alice expired",
    )
    [to_creator] = await escalation_messages(client, "carol")
    assert to_creator == to_role
    assert await escalation_messages(client, "dave") == []
    assert await escalated_events(app) == [(code, "lease_expired")]


async def test_an_expired_lease_at_the_last_attempt_escalates_as_max_attempts(team, app, clock):
    client = team
    [code, after] = await create(
        client, "carol", {"title": "fragile", "max_attempts": 2}, {"title": "next", "depends_on": ["T-1"]}
    )
    await call(client, "task_claim", task=code, agent="alice")
    assert await expire(app, clock) == [code]
    await call(client, "task_claim", task=code, agent="dave")
    assert await expire(app, clock) == [code]

    task = (await call(client, "task_get", task=code))["task"]
    assert (task["status"], task["attempts"]) == ("failed", 2)
    rows = await escalations(client, code)
    assert [r["trigger"] for r in rows] == ["max_attempts", "lease_expired"]  # newest first
    assert rows[0]["reason"] == (
        f"{code} failed after its last attempt: The lease held by dave expired (attempt 2 of 2)."
    )
    # The failure also reaches the dependent.
    assert [r["trigger"] for r in await escalations(client, after)] == ["dependency_failed"]

    boss = await escalation_messages(client, "boss")
    assert sorted((m["task"], m["subject"].split("]")[0][1:]) for m in boss) == [
        (code, "lease_expired"),
        (code, "max_attempts"),
        (after, "dependency_failed"),
    ]
    assert len(await escalation_messages(client, "carol")) == 3
    assert await escalated_events(app) == [
        (code, "lease_expired"),
        (code, "max_attempts"),
        (after, "dependency_failed"),
    ]


async def test_a_heartbeat_keeps_the_lease_and_nothing_is_escalated(team, app, clock):
    client = team
    [code] = await create(client, "carol", {"title": "steady"})
    await call(client, "task_claim", task=code, agent="alice")
    clock.advance(LEASE - 10)
    await call(client, "task_heartbeat", task=code, agent="alice")
    assert await expire(app, clock, LEASE - 10) == []
    assert await escalations(client, code) == []
    assert await escalation_messages(client, "boss") == []


# ---------------------------------------------------------------- trigger 4: a blocker


async def test_a_blocker_escalates_to_the_orchestrators_and_the_creator(team, clock, app):
    client = team
    [code] = await create(client, "carol", {"title": "needs creds"})
    await call(client, "task_claim", task=code, agent="alice")
    blocked = await call(
        client, "task_block", task=code, reason="need the staging DB password from ops", agent="alice"
    )
    assert blocked["task"]["status"] == "blocked"
    assert "escalated to the orchestrator role" in blocked["message"]

    [row] = await escalations(client, code)
    assert row["trigger"] == "blocker"
    assert row["reason"] == f"alice reports {code} blocked: need the staging DB password from ops"
    assert row["at"] == iso(clock.now())

    [to_role] = await escalation_messages(client, "boss", task=code)
    check_message(
        to_role, to="role:orchestrator", task=code, trigger="blocker", title="needs creds",
        reason_part="need the staging DB password from ops",
    )
    assert "task_unblock" in to_role["body"]
    [to_creator] = await escalation_messages(client, "carol")
    assert to_creator == to_role
    assert await escalation_messages(client, "alice") == []
    assert await escalation_messages(client, "dave") == []
    assert await escalated_events(app) == [(code, "blocker")]


async def test_a_creator_who_blocks_its_own_task_is_not_told_about_it(team, app):
    client = team
    [code] = await create(client, "alice", {"title": "my own"})
    await call(client, "task_claim", task=code, agent="alice")
    await call(client, "task_block", task=code, reason="waiting on design", agent="alice")
    assert await escalation_messages(client, "alice") == []
    assert [m["task"] for m in await escalation_messages(client, "boss")] == [code]
    assert [e.subject for e in await feed(app, kind="escalation.sent")] == ["role:orchestrator"]


async def test_a_secret_in_a_blocker_is_masked_in_the_escalation(team):
    client = team
    [code] = await create(client, "carol", {"title": "leaky"})
    await call(client, "task_claim", task=code, agent="alice")
    key = "AKIA" + "ESCALATION012345"
    await call(client, "task_block", task=code, reason=f"login fails with {key}", agent="alice")
    [row] = await escalations(client, code)
    assert row["reason"] == f"alice reports {code} blocked: login fails with [REDACTED]"
    [msg] = await escalation_messages(client, "boss")
    assert key not in msg["body"]
    assert "[REDACTED]" in msg["body"]


async def test_escalations_reach_an_orchestrator_who_joins_later(team, client):
    [code] = await create(client, "carol", {"title": "early"})
    await call(client, "task_claim", task=code, agent="alice")
    await call(client, "task_block", task=code, reason="help", agent="alice")
    await call(client, "agent_init", agent="night-shift", role="orchestrator")
    [msg] = await escalation_messages(client, "night-shift")
    assert (msg["task"], msg["to"]) == (code, "role:orchestrator")


async def test_escalation_events_are_in_the_task_feed(team, app):
    client = team
    [code] = await create(client, "carol", {"title": "watched"})
    await call(client, "task_claim", task=code, agent="alice")
    await call(client, "task_block", task=code, reason="stuck", agent="alice")
    events = await feed(app, task=code)
    kinds = [e.kind for e in events]
    assert "task.escalated" in kinds
    assert kinds.index("task.blocked") < kinds.index("task.escalated")
    escalated = next(e for e in events if e.kind == "task.escalated")
    assert (escalated.agent, escalated.payload) == ("alice", {"trigger": "blocker"})
    # The tool shows it too when asked for the acting agent's events.
    shown = await call(client, "activity_feed", task=code, kind="task.escalated", by_agent="alice")
    assert [(e["subject"], e["payload"]) for e in shown["events"]] == [(code, {"trigger": "blocker"})]


# ---------------------------------------------------------------- regression


async def test_the_default_agent_as_orchestrator_sees_lease_expiry_escalations(client, app, clock):
    # A server started with TASKLOOM_AGENT=tester for the orchestrator: its resolver expires leases.
    await call(client, "agent_init", agent="tester", role="orchestrator")
    [code] = await create(client, "carol", {"title": "abandoned"})
    await call(client, "task_claim", task=code, agent="alice")
    assert await expire(app, clock) == [code]
    assert [e["trigger"] for e in await escalations(client, code)] == ["lease_expired"]
    msgs = await escalation_messages(client, "tester")
    assert [(m["task"], m["to"]) for m in msgs] == [(code, "role:orchestrator")]


async def test_an_unblock_answer_reaches_the_holders_inbox_and_settles_the_blocker_escalation(team):
    client = team
    [code] = await create(client, "carol", {"title": "needs creds"})
    await call(client, "task_claim", task=code, agent="alice")
    await call(client, "task_block", task=code, reason="which staging DB?", agent="alice")
    assert "Escalation #" in await brief_text(client)

    await call(client, "task_unblock", task=code, answer="use staging-2", agent="boss")

    [answer] = [m for m in (await call(client, "message_inbox", agent="alice"))["messages"]]
    assert (answer["to"], answer["task"], answer["body"], answer["sender"]) == (
        f"task:{code}", code, "use staging-2", "boss"
    )
    assert "Escalation #" not in await brief_text(client), "an answered blocker needs no further decision"
    # The escalation stays on the task's page: it is history, not an open question.
    assert [e["trigger"] for e in await escalations(client, code)] == ["blocker"]


async def test_only_the_audience_of_an_escalation_can_acknowledge_it(team):
    client = team
    [code] = await create(client, "carol", {"title": "x"})
    await call(client, "task_claim", task=code, agent="alice")
    await call(client, "task_block", task=code, reason="stuck", agent="alice")
    [esc] = await escalation_messages(client, "boss")
    error = await call_error(client, "message_ack", ids=[esc["id"]], agent="dave")
    assert error["code"] == "not_found" and "your inbox" in error["message"]
    assert "Escalation #" in await brief_text(client)
    await call(client, "message_ack", ids=[esc["id"]], agent="carol")  # the creator is in its audience
    assert "Escalation #" not in await brief_text(client)


async def test_a_failed_subtask_escalates_its_parent_which_can_no_longer_finish(team):
    client = team
    await create(client, "carol", {"title": "feature", "code": "P"})
    await create(client, "dave", {"title": "piece", "code": "P-1", "parent": "P", "max_attempts": 1})
    await call(client, "task_claim", task="P-1", agent="alice")
    await call(client, "task_fail", task="P-1", reason="no access", agent="alice")
    [row] = await escalations(client, "P")
    assert (row["trigger"], row["reason"]) == ("dependency_failed", "P waits for its subtask P-1, which failed: no access")
    assert [m["task"] for m in await escalation_messages(client, "carol")] == ["P"]  # P's creator


async def test_a_reply_to_an_escalation_a_worker_raised_goes_to_the_tasks_thread(team):
    client = team
    [root] = await create(client, "carol", {"title": "root", "code": "R", "max_attempts": 1})
    await create(client, "carol", {"title": "after", "code": "A", "depends_on": ["R"]})
    await call(client, "task_claim", task=root, agent="alice")
    await call(client, "task_fail", task=root, reason="broken", agent="alice")  # alice raises them
    [esc] = [m for m in await escalation_messages(client, "boss") if m["task"] == "A"]
    reply = await call(client, "message_send", reply_to=esc["id"], body="I'll re-plan A", agent="boss")
    assert reply["to"] == "task:A"
    assert "I'll re-plan A" in [m["body"] for m in (await call(client, "message_inbox", agent="carol"))["messages"]]
