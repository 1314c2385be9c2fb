"""What needs a decision: the dashboard's list and the orchestrator brief read the same service.

Scenarios are built through the tools on a real SQLite file; the service is read through the app,
as the dashboard will. Leases last 60 s in the test settings, and the clock is injected.
"""

from __future__ import annotations

import pytest

from taskloom.clock import iso
from taskloom.errors import InvalidInput
from taskloom.services import briefing, decisions
from tests.conftest import call


async def create(client, *tasks: dict) -> list[str]:
    created = await call(client, "task_create", tasks=list(tasks), agent="carol")
    return [t["code"] for t in created["tasks"]]


async def needing(app, **kwargs):
    return await app.read(decisions.needing_decision, **kwargs)


async def test_a_new_project_needs_no_decision(app):
    got = await needing(app)
    assert got.empty
    assert (got.blocked, got.failed, got.review, got.escalations) == ([], [], [], [])
    assert (got.stuck_streams, got.overdue_leases) == ([], [])
    assert got.counts == {"blocked": 0, "failed": 0, "review": 0, "escalations": 0}


async def test_blocked_failed_review_escalations_stuck_streams_and_overdue_leases_are_listed(team, app, clock):
    client = team
    await call(client, "stream_create", code="empty")
    await call(client, "stream_create", code="later", depends_on=["empty"])
    await create(
        client,
        {"code": "B", "title": "needs a key"},
        {"code": "F", "title": "one shot", "max_attempts": 1},
        {"code": "R", "title": "reviewed", "requires_review": True},
        {"code": "O", "title": "abandoned"},
        {"code": "P", "title": "parked"},
    )
    for code in ("B", "F", "R"):
        await call(client, "task_claim", task=code, agent="alice")
    await call(client, "task_block", task="B", reason="which API key?", agent="alice")
    await call(client, "task_fail", task="F", reason="disk full", agent="alice")
    await call(client, "task_done", task="R", summary="see PR 7", agent="alice")
    await call(client, "task_block", task="P", reason="wait for legal", agent="boss")  # never claimed
    await call(client, "task_claim", task="O", agent="dave")
    clock.advance(61)  # no resolver runs here: O's lease is overdue, not expired

    got = await needing(app)

    assert [(t.code, t.claimed_by, t.reason) for t in got.blocked] == [
        ("B", "alice", "which API key?"), ("P", None, "wait for legal")
    ]
    [failed] = got.failed
    assert (failed.code, failed.attempts, failed.max_attempts, failed.reason) == ("F", 1, 1, "disk full")
    assert [(t.code, t.status, t.claimed_by) for t in got.review] == [("R", "review", "alice")]
    # Newest first: P's blocker, F's failure, B's blocker.
    assert [(e.task, e.subject) for e in got.escalations] == [
        ("P", "[blocker] P: parked"), ("F", "[max_attempts] F: one shot"), ("B", "[blocker] B: needs a key")
    ]
    assert got.stuck_streams == [
        "Stream later waits on empty, which has no tasks: add tasks there or drop the dependency."
    ]
    [lease] = got.overdue_leases
    assert (lease.code, lease.claimed_by, lease.seconds_ago) == ("O", "dave", 1.0)
    assert got.counts == {"blocked": 2, "failed": 1, "review": 1, "escalations": 3}
    assert not got.empty


async def test_the_brief_says_what_the_service_lists(team, app):
    client = team
    await create(client, {"code": "B", "title": "b"}, {"code": "F", "title": "f", "max_attempts": 1})
    await call(client, "task_claim", task="B", agent="alice")
    await call(client, "task_block", task="B", reason="which key?", agent="alice")
    await call(client, "task_claim", task="F", agent="dave")
    await call(client, "task_fail", task="F", reason="disk full", agent="dave")

    got = await needing(app)
    text = await app.read(briefing.orchestrator_brief, 120.0, 900.0)

    section = text.split("## Needs a decision\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    esc = {e.task: e.id for e in got.escalations}
    assert section == [
        "- B is blocked (alice): which key?. Answer with task_unblock.",
        "- F failed after 1 attempt: disk full. Fix and task_update status=ready, or cancel.",
        f"- Escalation #{esc['F']} (F): [max_attempts] F: f. message_ack when handled.",
        f"- Escalation #{esc['B']} (B): [blocker] B: b. message_ack when handled.",
    ]


async def test_the_limit_caps_each_list_while_counts_stay_whole(team, app):
    client = team
    codes = await create(client, *({"title": f"t{i}"} for i in range(3)))
    for code in codes:
        await call(client, "task_block", task=code, reason="why", agent="boss")

    got = await needing(app, limit=2)

    assert [t.code for t in got.blocked] == codes[:2]
    assert len(got.escalations) == 2
    assert got.counts["blocked"] == 3 and got.counts["escalations"] == 3


async def test_many_blocked_tasks_never_hide_the_failed_and_review_ones(team, app):
    client = team
    blocked = await create(client, *({"title": f"b{i}"} for i in range(3)))
    [review] = await create(client, {"title": "r", "requires_review": True})
    for code in blocked:
        await call(client, "task_block", task=code, reason="why", agent="boss")
    await call(client, "task_claim", task=review, agent="alice")
    await call(client, "task_done", task=review, summary="ready for review", agent="alice")

    got = await needing(app, limit=2)

    assert len(got.blocked) == 2 and [t.code for t in got.review] == [review]


async def test_settled_escalations_and_answered_blockers_leave_the_list(team, app, clock):
    client = team
    await create(client, {"code": "B", "title": "b"}, {"code": "F", "title": "f", "max_attempts": 1})
    await call(client, "task_block", task="B", reason="which key?", agent="boss")
    await call(client, "task_claim", task="F", agent="alice")
    await call(client, "task_fail", task="F", reason="broken", agent="alice")
    [f_esc] = [e for e in (await needing(app)).escalations if e.task == "F"]
    assert f_esc.at == iso(clock.now())

    await call(client, "task_unblock", task="B", answer="the staging key", agent="boss")
    await call(client, "message_ack", ids=[f_esc.id], agent="boss")

    got = await needing(app)
    assert got.blocked == [] and got.escalations == []
    assert [t.code for t in got.failed] == ["F"]  # acknowledging is not deciding: F is still failed
    # Cancelling the failed task settles it for good.
    await call(client, "task_update", task="F", status="cancelled", reason="dropped", agent="boss")
    assert (await needing(app)).empty


@pytest.mark.parametrize("limit", [0, -1, 201])
async def test_a_limit_out_of_range_is_a_clear_error(app, limit):
    with pytest.raises(InvalidInput, match="limit must be 1..200"):
        await needing(app, limit=limit)
