"""The work cycle over MCP: claim, heartbeat, done, fail, release, block, unblock, review, bulk moves."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from mcp import Client

from taskloom.clock import ManualClock, iso
from taskloom.config import Settings
from taskloom.resolver import Resolver
from taskloom.server import build_server
from taskloom.services import outlook
from taskloom.services.app import Taskloom
from tests.conftest import call, call_error

LEASE = 60.0  # the conftest settings' lease_seconds


async def claim_code(client, **filters) -> str | None:
    result = await call(client, "task_claim", **filters)
    return result["detail"]["task"]["code"] if result["claimed"] else None


async def task(client, code: str) -> dict:
    return (await call(client, "task_get", task=code))["task"]


async def held(client, code: str, agent: str = "tester") -> None:
    result = await call(client, "task_claim", task=code, agent=agent)
    assert result["claimed"]


# ---------------------------------------------------------------- task_claim: order


async def test_task_claim_takes_the_highest_priority_ready_task_first(client):
    await call(
        client,
        "task_create",
        tasks=[{"title": "low", "priority": 3}, {"title": "urgent", "priority": 0}, {"title": "normal"}],
    )
    assert [await claim_code(client) for _ in range(3)] == ["T-2", "T-3", "T-1"]


async def test_among_equal_priorities_the_task_with_the_longest_chain_waiting_on_it_goes_first(client):
    await call(
        client,
        "task_create",
        tasks=[
            {"title": "nothing waits on me"},  # T-1, rank 1
            {"title": "long chain root"},  # T-2, rank 3
            {"title": "middle", "depends_on": ["T-2"]},
            {"title": "end", "depends_on": ["T-3"]},
            {"title": "short chain root"},  # T-5, rank 2
            {"title": "short end", "depends_on": ["T-5"]},
        ],
    )
    assert [await claim_code(client) for _ in range(3)] == ["T-2", "T-5", "T-1"]


async def test_rank_counts_work_that_was_made_to_wait_on_a_task_later(client):
    await call(client, "task_create", tasks=[{"title": "older"}, {"title": "newer"}])
    await call(client, "task_create", tasks=[{"title": "waits on newer", "depends_on": ["T-2"]}])
    assert await claim_code(client) == "T-2"


async def test_priority_outranks_the_length_of_the_chain_waiting(client):
    await call(
        client,
        "task_create",
        tasks=[
            {"title": "root", "priority": 2},
            {"title": "dependent", "depends_on": ["T-1"], "priority": 2},
            {"title": "urgent leaf", "priority": 1},
        ],
    )
    assert await claim_code(client) == "T-3"


async def test_among_equal_priority_and_rank_the_oldest_task_goes_first(client):
    await call(client, "task_create", tasks=[{"title": "first"}])
    await call(client, "task_create", tasks=[{"title": "second"}, {"title": "third"}])
    assert [await claim_code(client) for _ in range(3)] == ["T-1", "T-2", "T-3"]


# ---------------------------------------------------------------- task_claim: filters


async def test_the_role_filter_matches_tasks_for_that_role_or_for_no_role(client):
    await call(
        client,
        "task_create",
        tasks=[
            {"title": "qa work", "role": "qa"},
            {"title": "dev work", "role": "dev"},
            {"title": "anyone's work"},
        ],
    )
    assert await claim_code(client, role="dev", agent="dev-1") == "T-2"
    assert await claim_code(client, role="dev", agent="dev-2") == "T-3"
    assert await claim_code(client, role="dev", agent="dev-3") is None
    assert await claim_code(client, agent="generalist") == "T-1"


async def test_the_stream_filter_only_offers_that_streams_tasks(client):
    await call(client, "stream_create", code="api")
    await call(
        client,
        "task_create",
        tasks=[{"title": "elsewhere", "priority": 0}, {"title": "api work", "stream": "api"}],
    )
    assert await claim_code(client, stream="api") == "T-2"
    assert await claim_code(client, stream="api") is None


async def test_the_labels_filter_needs_every_label(client):
    await call(
        client,
        "task_create",
        tasks=[
            {"title": "db only", "labels": ["db"]},
            {"title": "db and ui", "labels": ["ui", "db", "extra"]},
        ],
    )
    assert await claim_code(client, labels=["db", "ui"]) == "T-2"
    assert await claim_code(client, labels=["db", "ui"]) is None
    assert await claim_code(client, labels=["db"]) == "T-1"


async def test_claiming_with_an_unknown_stream_is_not_found(client):
    err = await call_error(client, "task_claim", stream="nope")
    assert err["code"] == "not_found"


async def test_task_claim_says_claimed_false_when_nothing_is_ready(client):
    await call(client, "task_create", tasks=[{"title": "a"}, {"title": "b", "depends_on": ["T-1"]}])
    await held(client, "T-1")
    result = await call(client, "task_claim", agent="other")
    assert result["claimed"] is False
    assert result["detail"] is None
    assert result["open_tasks"] == 2
    assert result["outlook"] == "wait"
    assert result["message"] == (
        "Nothing ready now, but 1 task is waiting on work in progress (1 in progress, 0 blocked). "
        "Call task_claim(wait_seconds=50) to wait for one."
    )


async def test_a_successful_claim_reports_no_open_task_count_rather_than_a_false_zero(client):
    await call(client, "task_create", tasks=[{"title": "a"}, {"title": "b"}])
    result = await call(client, "task_claim")
    assert result["claimed"] is True
    assert result["open_tasks"] is None


async def test_a_claim_that_filters_out_the_ready_tasks_names_its_filters(client):
    await call(client, "task_create", tasks=[{"title": "ui", "role": "frontend", "labels": ["ui"]}])
    result = await call(client, "task_claim", role="backend", labels=["db", "api"], agent="bob")
    assert result["claimed"] is False
    assert result["outlook"] == "other_work"
    assert result["message"] == (
        "Nothing for role backend (or no role) and labels api, db: the 1 task left is for other roles "
        "or filters. Stop, or claim with other filters."
    )
    # A registered role filters as well when no role is passed.
    await call(client, "agent_init", agent="carol", role="backend")
    result = await call(client, "task_claim", agent="carol")
    assert "Nothing for role backend (or no role):" in result["message"]


async def test_with_no_filter_ready_tasks_left_after_a_failed_claim_were_taken_by_others(client, app):
    # The count is read after the claim's write: with no filter, ready tasks then mean others won them.
    await call(client, "task_create", tasks=[{"title": "a"}])
    result = await app.read(outlook.nothing_ready, agent="bob")
    assert result.outlook == "retry"
    assert result.message == "Others claimed the ready tasks first; 1 more is ready: call task_claim again."
    assert "filters" not in result.message


async def test_a_claim_without_a_role_keeps_to_the_agents_registered_role_or_unassigned_work(client):
    # claim_next looks the registered role up in its own statement: the same choices as before.
    await call(
        client,
        "task_create",
        tasks=[
            {"title": "ui", "role": "frontend", "priority": 0},
            {"title": "api", "role": "backend", "priority": 1},
            {"title": "docs", "priority": 2},
            {"title": "css", "role": "frontend", "priority": 3},
            {"title": "ops", "role": "ops", "priority": 4},
        ],
    )
    await call(client, "agent_init", agent="carol", role="backend")
    assert await claim_code(client, agent="carol") == "T-2"  # her role's work, not the urgent frontend task
    assert await claim_code(client, agent="carol") == "T-3"  # then unassigned work
    assert await claim_code(client, agent="carol") is None  # the frontend and ops tasks are not for her
    assert await claim_code(client, agent="carol", role="frontend") == "T-1"  # a role given wins
    assert await claim_code(client, agent="carol", role="nobody") is None  # an unknown role: unassigned work only
    assert await claim_code(client, agent="dave") == "T-4"  # no registered role: any role
    await call(client, "agent_init", agent="erin")  # registered without a role: any role too
    assert await claim_code(client, agent="erin") == "T-5"
    error = await call_error(client, "task_claim", agent="erin", stream="NOPE")
    assert error["code"] == "not_found"


async def test_a_claimed_task_is_offered_to_no_one_else(client):
    await call(client, "task_create", tasks=[{"title": f"t{i}"} for i in range(3)])
    got: dict[str, str | None] = {}

    async def worker(name: str) -> None:
        got[name] = await claim_code(client, agent=name)

    async with anyio.create_task_group() as tg:
        for i in range(5):
            tg.start_soon(worker, f"agent-{i}")

    claimed = [c for c in got.values() if c is not None]
    assert sorted(claimed) == ["T-1", "T-2", "T-3"]
    holders = {(await task(client, c))["claimed_by"] for c in claimed}
    assert len(holders) == 3


# ---------------------------------------------------------------- task_claim: a named task


async def test_task_claim_can_take_a_named_ready_task_over_a_better_one(client):
    await call(
        client, "task_create", tasks=[{"title": "urgent", "priority": 0}, {"title": "mine", "priority": 4}]
    )
    assert await claim_code(client, task="T-2") == "T-2"


async def test_claiming_a_named_task_that_is_not_ready_is_an_invalid_transition(client):
    await call(client, "task_create", tasks=[{"title": "a"}, {"title": "b", "depends_on": ["T-1"]}])
    err = await call_error(client, "task_claim", task="T-2")
    assert err["code"] == "invalid_transition"
    assert "waiting" in err["message"]
    assert "task_claim" in err["hint"]


async def test_claiming_a_named_task_someone_else_holds_names_the_holder(client):
    await call(client, "task_create", tasks=[{"title": "a"}])
    await held(client, "T-1", agent="alice")
    err = await call_error(client, "task_claim", task="T-1", agent="bob")
    assert err["code"] == "invalid_transition"
    assert "alice" in err["message"]
    assert (await task(client, "T-1"))["claimed_by"] == "alice"


async def test_claiming_a_named_task_you_already_hold_renews_the_lease(client, clock):
    await call(client, "task_create", tasks=[{"title": "a"}])
    await held(client, "T-1")
    clock.advance(40)
    again = await call(client, "task_claim", task="T-1")
    assert again["claimed"] is True
    assert again["detail"]["task"]["lease_expires_at"] == iso(clock.now() + LEASE)


async def test_claiming_an_unknown_named_task_is_not_found(client):
    err = await call_error(client, "task_claim", task="T-404")
    assert err["code"] == "not_found"


# ---------------------------------------------------------------- task_claim: what it returns


async def test_a_claim_returns_the_context_latest_notes_and_what_each_dependency_produced(client, clock):
    await call(
        client,
        "task_create",
        tasks=[
            {"title": "Design schema"},  # T-1
            {"title": "Drop legacy tables"},  # T-2
            {"title": "Build API", "context": "## Brief\nREST, JSON", "depends_on": ["T-1", "T-2"]},  # T-3
        ],
    )
    await held(client, "T-1")
    await call(client, "task_done", task="T-1", summary="tables in db/schema.sql")
    await call(client, "task_update", task="T-2", status="cancelled", reason="legacy tables are already gone")
    await call(client, "task_note", task="T-3", body="use cursor pagination", kind="decision", agent="lead")

    result = await call(client, "task_claim", agent="worker")

    assert result["claimed"] is True
    assert result["lease_seconds"] == LEASE
    assert "task_heartbeat" in result["message"]
    detail = result["detail"]
    t = detail["task"]
    assert (t["code"], t["status"], t["claimed_by"]) == ("T-3", "in_progress", "worker")
    assert t["context"] == "## Brief\nREST, JSON"
    assert t["lease_expires_at"] == iso(clock.now() + LEASE)
    assert [(n["kind"], n["body"], n["agent"]) for n in detail["notes"]] == [
        ("decision", "use cursor pagination", "lead")
    ]
    assert detail["dependencies"] == [
        {
            "code": "T-1",
            "title": "Design schema",
            "status": "done",
            "summary": "tables in db/schema.sql",
            "outcome": "done",
        },
        {
            "code": "T-2",
            "title": "Drop legacy tables",
            "status": "cancelled",
            "summary": "legacy tables are already gone",
            "outcome": "cancelled",
        },
    ]


# ---------------------------------------------------------------- task_heartbeat and leases


async def test_task_heartbeat_renews_the_lease_from_now(client, clock):
    await call(client, "task_create", tasks=[{"title": "a"}])
    await held(client, "T-1")
    clock.advance(50)
    beat = await call(client, "task_heartbeat", task="T-1")
    assert beat["lease_expires_at"] == iso(clock.now() + LEASE)
    assert (await task(client, "T-1"))["lease_expires_at"] == iso(clock.now() + LEASE)


async def test_a_heartbeat_keeps_the_task_through_a_resolver_pass_after_the_old_lease_ran_out(
    client, app, clock
):
    await call(client, "task_create", tasks=[{"title": "a"}])
    await held(client, "T-1")
    clock.advance(50)
    await call(client, "task_heartbeat", task="T-1")
    clock.advance(50)  # past the first lease, inside the renewed one

    out = await Resolver(app).run_once()

    assert out["expired"] == []
    t = await task(client, "T-1")
    assert (t["status"], t["claimed_by"]) == ("in_progress", "tester")


async def test_after_the_lease_expires_the_task_returns_to_the_queue_and_the_old_holder_gets_lease_lost(
    client, app, clock
):
    await call(client, "task_create", tasks=[{"title": "a"}])
    await held(client, "T-1")
    clock.advance(LEASE + 1)
    out = await Resolver(app).run_once()
    assert out["expired"] == ["T-1"]
    t = await task(client, "T-1")
    assert (t["status"], t["claimed_by"], t["attempts"]) == ("ready", None, 1)
    note = (await call(client, "task_get", task="T-1"))["notes"][0]
    assert note["kind"] == "system" and "expired" in note["body"]

    err = await call_error(client, "task_heartbeat", task="T-1")

    assert err["code"] == "lease_lost"
    assert "task_claim" in err["hint"]


HOLDER_TOOLS = [
    ("task_heartbeat", {}),
    ("task_done", {"summary": "not mine"}),
    ("task_fail", {"reason": "not mine"}),
    ("task_release", {}),
    ("task_block", {"reason": "not mine"}),
]


@pytest.mark.parametrize(("tool", "args"), HOLDER_TOOLS)
async def test_an_agent_that_never_held_the_task_hears_who_holds_it_and_the_holders_task_is_untouched(
    client, tool, args
):
    await call(client, "task_create", tasks=[{"title": "a"}])
    await held(client, "T-1", agent="alice")
    before = await task(client, "T-1")

    err = await call_error(client, tool, task="T-1", agent="bob", **args)

    # Not lease_lost: bob had no lease to lose, and "stop working on it" would be a false alarm.
    assert err["code"] == "invalid_transition"
    assert err["message"] == "You never held T-1: T-1 is held by alice."
    assert "expired" not in err["message"] + err["hint"]
    assert "message alice" in err["hint"]
    assert err["details"] == {"task": "T-1", "status": "in_progress", "claimed_by": "alice"}
    assert await task(client, "T-1") == before


@pytest.mark.parametrize(("tool", "args"), [t for t in HOLDER_TOOLS if t[0] != "task_block"])
async def test_acting_on_a_ready_task_nobody_claimed_says_to_claim_it_first(client, tool, args):
    await call(client, "task_create", tasks=[{"title": "a"}])
    err = await call_error(client, tool, task="T-1", **args)
    assert err["code"] == "invalid_transition"
    assert err["message"] == "You never held T-1: T-1 is ready: nobody holds it."
    assert "task_claim(task='T-1') first" in err["hint"]
    assert (await task(client, "T-1"))["status"] == "ready"


async def test_finishing_a_task_someone_else_finished_says_it_is_done_and_by_whom(client):
    await call(client, "task_create", tasks=[{"title": "a"}, {"title": "b", "depends_on": ["T-1"]}])
    await held(client, "T-1", agent="alice")
    await call(client, "task_done", task="T-1", summary="finished", agent="alice")
    await call(client, "task_create", tasks=[{"title": "c", "depends_on": ["T-2"]}])
    err = await call_error(client, "task_done", task="T-1", summary="me too", agent="bob")
    assert err["code"] == "invalid_transition"
    assert err["message"] == "You never held T-1: T-1 is done (by alice)."
    err = await call_error(client, "task_heartbeat", task="T-3", agent="bob")
    assert err["message"] == "You never held T-3: T-3 is waiting for its dependencies: nobody can hold it yet."


async def test_a_holder_whose_lease_expired_and_went_to_another_gets_lease_lost_naming_the_new_holder(
    client, app, clock
):
    await call(client, "task_create", tasks=[{"title": "a"}])
    await held(client, "T-1", agent="alice")
    clock.advance(LEASE + 1)
    assert (await Resolver(app).run_once())["expired"] == ["T-1"]
    await held(client, "T-1", agent="bob")

    err = await call_error(client, "task_done", task="T-1", summary="late", agent="alice")

    assert err["code"] == "lease_lost"
    assert err["message"] == "You no longer hold T-1: T-1 is held by bob."
    assert "Stop working" in err["hint"]


async def test_the_holder_of_a_blocked_task_hears_its_lease_is_paused_not_lost(client):
    await call(client, "task_create", tasks=[{"title": "a"}])
    await held(client, "T-1", agent="alice")
    await call(client, "task_block", task="T-1", reason="need the schema", agent="alice")
    err = await call_error(client, "task_heartbeat", task="T-1", agent="alice")
    assert err["code"] == "invalid_transition"
    assert "you hold it, and its lease is paused until task_unblock" in err["message"]


# ---------------------------------------------------------------- task_done


async def test_task_done_finishes_the_task_and_returns_the_dependents_it_made_ready(client):
    await call(
        client,
        "task_create",
        tasks=[
            {"title": "a"},
            {"title": "b", "depends_on": ["T-1"]},
            {"title": "c", "depends_on": ["T-1"]},
            {"title": "d", "depends_on": ["T-1", "T-2"]},
        ],
    )
    await held(client, "T-1")
    done = await call(client, "task_done", task="T-1", summary="all set")
    assert done["task"]["status"] == "done"
    assert sorted(done["unblocked"]) == ["T-2", "T-3"]
    t = await task(client, "T-1")
    assert (t["summary"], t["completed_at"] is not None) == ("all set", True)
    assert (await task(client, "T-4"))["status"] == "waiting"


async def test_finishing_the_last_subtask_finishes_the_parent_and_frees_what_waits_on_it(client):
    await call(
        client,
        "task_create",
        tasks=[
            {"title": "epic", "key": "epic"},
            {"title": "part 1", "parent": "epic"},
            {"title": "part 2", "parent": "epic"},
            {"title": "after the epic", "depends_on": ["epic"]},
        ],
    )
    await held(client, "T-2")
    first = await call(client, "task_done", task="T-2", summary="one")
    assert first["unblocked"] == []
    assert (await task(client, "T-1"))["status"] == "waiting"

    await held(client, "T-3")
    last = await call(client, "task_done", task="T-3", summary="two")

    assert (await task(client, "T-1"))["status"] == "done"
    assert last["unblocked"] == ["T-4"]


async def test_task_done_of_a_task_requiring_review_goes_to_review_and_keeps_dependents_waiting(client):
    await call(
        client,
        "task_create",
        tasks=[{"title": "a", "requires_review": True}, {"title": "b", "depends_on": ["T-1"]}],
    )
    await held(client, "T-1")
    done = await call(client, "task_done", task="T-1", summary="please review")
    assert done["task"]["status"] == "review"
    assert done["unblocked"] == []
    assert "review" in done["message"].lower()
    assert (await task(client, "T-2"))["status"] == "waiting"


@pytest.mark.parametrize("requires_review", [False, True])
async def test_retrying_task_done_is_safe_and_changes_nothing(client, requires_review):
    await call(
        client,
        "task_create",
        tasks=[{"title": "a", "requires_review": requires_review}, {"title": "b", "depends_on": ["T-1"]}],
    )
    await held(client, "T-1")
    first = await call(client, "task_done", task="T-1", summary="first report")
    before = await call(client, "task_get", task="T-1")

    retry = await call(client, "task_done", task="T-1", summary="second report")

    assert retry["task"]["status"] == first["task"]["status"]
    assert retry["unblocked"] == []
    assert "already" in retry["message"]
    assert await call(client, "task_get", task="T-1") == before


async def test_task_done_needs_a_summary(client):
    await call(client, "task_create", tasks=[{"title": "a"}])
    await held(client, "T-1")
    err = await call_error(client, "task_done", task="T-1", summary="  ")
    assert err["code"] == "invalid_input"
    assert (await task(client, "T-1"))["status"] == "in_progress"


# ---------------------------------------------------------------- task_fail


async def test_task_fail_puts_the_task_back_in_the_queue_while_attempts_remain(client):
    await call(client, "task_create", tasks=[{"title": "a", "max_attempts": 3}])
    await held(client, "T-1", agent="alice")
    failed = await call(client, "task_fail", task="T-1", reason="tests did not build", agent="alice")
    assert failed["task"]["status"] == "ready"
    assert "attempt 1 of 3" in failed["message"]
    t = await task(client, "T-1")
    assert (t["attempts"], t["claimed_by"], t["reason"]) == (1, None, "tests did not build")

    retry = await call(client, "task_claim", agent="bob")
    assert retry["detail"]["task"]["code"] == "T-1"
    assert any("tests did not build" in n["body"] for n in retry["detail"]["notes"])


async def test_task_fail_on_the_last_attempt_fails_for_good_and_dependents_keep_waiting(client):
    await call(
        client,
        "task_create",
        tasks=[{"title": "a", "max_attempts": 1}, {"title": "b", "depends_on": ["T-1"]}],
    )
    await held(client, "T-1")
    failed = await call(client, "task_fail", task="T-1", reason="impossible")
    assert failed["task"]["status"] == "failed"
    assert "for good" in failed["message"]
    assert (await task(client, "T-2"))["status"] == "waiting"
    dep = (await call(client, "task_get", task="T-2"))["dependencies"][0]
    assert (dep["outcome"], dep["summary"]) == ("failed", "impossible")


async def test_task_fail_with_retry_false_gives_up_at_once(client):
    await call(client, "task_create", tasks=[{"title": "a", "max_attempts": 5}])
    await held(client, "T-1")
    failed = await call(client, "task_fail", task="T-1", reason="wrong approach", retry=False)
    assert failed["task"]["status"] == "failed"
    assert (await call(client, "task_claim"))["claimed"] is False


# ---------------------------------------------------------------- task_release


async def test_task_release_returns_the_task_without_using_an_attempt(client):
    await call(client, "task_create", tasks=[{"title": "a"}])
    await held(client, "T-1", agent="alice")
    released = await call(client, "task_release", task="T-1", reason="needs a frontend person", agent="alice")
    assert released["task"]["status"] == "ready"
    t = await task(client, "T-1")
    assert (t["attempts"], t["claimed_by"], t["lease_expires_at"]) == (0, None, None)
    notes = (await call(client, "task_get", task="T-1"))["notes"]
    assert notes[0]["body"] == "Released: needs a frontend person"
    assert await claim_code(client, agent="bob") == "T-1"


# ---------------------------------------------------------------- task_block / task_unblock


async def test_a_holder_who_blocks_keeps_the_task_with_its_lease_paused_until_unblocked(client, app, clock):
    await call(client, "task_create", tasks=[{"title": "a"}])
    await held(client, "T-1", agent="alice")
    blocked = await call(client, "task_block", task="T-1", reason="need the API key from ops", agent="alice")
    assert blocked["task"]["status"] == "blocked"
    assert "alice" in blocked["message"]
    t = await task(client, "T-1")
    assert (t["claimed_by"], t["lease_expires_at"], t["reason"]) == (
        "alice",
        None,
        "need the API key from ops",
    )
    assert (await call(client, "task_get", task="T-1"))["notes"][0]["kind"] == "blocker"

    clock.advance(10 * LEASE)
    assert (await Resolver(app).run_once())["expired"] == []
    assert (await call(client, "task_claim", agent="bob"))["claimed"] is False

    unblocked = await call(client, "task_unblock", task="T-1", answer="key is in the vault", agent="ops")
    assert (unblocked["task"]["status"], unblocked["task"]["claimed_by"]) == ("in_progress", "alice")
    t = await task(client, "T-1")
    assert t["lease_expires_at"] == iso(clock.now() + LEASE)
    note = (await call(client, "task_get", task="T-1"))["notes"][0]
    assert (note["kind"], note["body"], note["agent"]) == ("decision", "key is in the vault", "ops")
    await call(client, "task_heartbeat", task="T-1", agent="alice")


async def test_an_orchestrator_can_block_an_unclaimed_task_and_unblocking_puts_it_back_in_play(client):
    await call(client, "task_create", tasks=[{"title": "a"}])
    await call(client, "task_block", task="T-1", reason="waiting for the design review", agent="lead")
    assert (await call(client, "task_claim"))["claimed"] is False

    unblocked = await call(client, "task_unblock", task="T-1", agent="lead")

    assert unblocked["task"]["status"] == "ready"
    assert unblocked["unblocked"] == ["T-1"]
    assert await claim_code(client) == "T-1"


async def test_task_block_needs_a_reason(client):
    await call(client, "task_create", tasks=[{"title": "a"}])
    await held(client, "T-1")
    err = await call_error(client, "task_block", task="T-1", reason=" ")
    assert err["code"] == "invalid_input"
    assert (await task(client, "T-1"))["status"] == "in_progress"


async def test_blocking_a_finished_task_is_an_invalid_transition(client):
    await call(client, "task_create", tasks=[{"title": "a"}])
    await held(client, "T-1")
    await call(client, "task_done", task="T-1", summary="done")
    err = await call_error(client, "task_block", task="T-1", reason="too late")
    assert err["code"] == "invalid_transition"


async def test_unblocking_a_task_that_is_not_blocked_is_an_invalid_transition(client):
    await call(client, "task_create", tasks=[{"title": "a"}])
    before = await task(client, "T-1")
    err = await call_error(client, "task_unblock", task="T-1", answer="nothing to answer")
    assert err["code"] == "invalid_transition"
    assert await task(client, "T-1") == before


# ---------------------------------------------------------------- task_review


async def _in_review(client) -> None:
    await call(
        client,
        "task_create",
        tasks=[{"title": "a", "requires_review": True}, {"title": "b", "depends_on": ["T-1"]}],
    )
    await held(client, "T-1", agent="alice")
    await call(client, "task_done", task="T-1", summary="ready for eyes", agent="alice")


async def test_approving_a_review_finishes_the_task_and_frees_its_dependents(client):
    await _in_review(client)
    approved = await call(client, "task_review", task="T-1", approve=True, agent="lead")
    assert approved["task"]["status"] == "done"
    assert approved["unblocked"] == ["T-2"]
    assert (await task(client, "T-1"))["summary"] == "ready for eyes"


async def test_sending_a_review_back_returns_the_task_to_the_queue_with_the_reason(client):
    await _in_review(client)
    sent = await call(client, "task_review", task="T-1", approve=False, reason="missing tests", agent="lead")
    assert sent["task"]["status"] == "ready"
    t = await task(client, "T-1")
    assert (t["claimed_by"], t["reason"]) == (None, "missing tests")
    assert (await task(client, "T-2"))["status"] == "waiting"
    claim = await call(client, "task_claim", agent="alice")
    assert claim["detail"]["task"]["code"] == "T-1"
    assert claim["detail"]["notes"][0]["body"] == "Changes requested: missing tests"


async def test_sending_a_review_back_needs_a_reason(client):
    await _in_review(client)
    err = await call_error(client, "task_review", task="T-1", approve=False)
    assert err["code"] == "invalid_input"
    assert (await task(client, "T-1"))["status"] == "review"


async def test_reviewing_a_task_that_is_not_in_review_is_an_invalid_transition(client):
    await call(client, "task_create", tasks=[{"title": "a"}])
    err = await call_error(client, "task_review", task="T-1", approve=True)
    assert err["code"] == "invalid_transition"
    assert "review" in err["message"]
    assert (await task(client, "T-1"))["status"] == "ready"


# ---------------------------------------------------------------- task_status_bulk


async def test_task_status_bulk_moves_what_it_can_and_lists_the_rest_as_errors(client):
    await call(
        client, "task_create", tasks=[{"title": "a"}, {"title": "b"}, {"title": "c", "depends_on": ["T-1"]}]
    )
    await held(client, "T-2")
    await call(client, "task_done", task="T-2", summary="done")

    result = await call(
        client, "task_status_bulk", tasks=["T-1", "T-404", "T-2", "T-3", "T-1"], status="backlog"
    )

    assert [t["code"] for t in result["changed"]] == ["T-1", "T-3"]
    assert all(t["status"] == "backlog" for t in result["changed"])
    errors = {e["task"]: e["code"] for e in result["errors"]}
    assert errors == {"T-404": "not_found", "T-2": "invalid_transition"}
    assert all(e["message"] for e in result["errors"])
    assert (await task(client, "T-2"))["status"] == "done"


async def test_bulk_cancelling_frees_the_dependents(client):
    await call(
        client,
        "task_create",
        tasks=[{"title": "a"}, {"title": "b"}, {"title": "c", "depends_on": ["T-1", "T-2"]}],
    )
    result = await call(
        client, "task_status_bulk", tasks=["T-1", "T-2"], status="cancelled", reason="descoped"
    )
    assert [t["status"] for t in result["changed"]] == ["cancelled", "cancelled"]
    assert result["errors"] == []
    assert (await task(client, "T-3"))["status"] == "ready"


async def test_bulk_blocking_without_a_reason_reports_each_task_and_moves_none(client):
    await call(client, "task_create", tasks=[{"title": "a"}, {"title": "b"}])
    result = await call(client, "task_status_bulk", tasks=["T-1", "T-2"], status="blocked")
    assert result["changed"] == []
    assert [e["code"] for e in result["errors"]] == ["invalid_input", "invalid_input"]


async def test_task_status_bulk_refuses_more_than_200_tasks(client):
    err = await call_error(
        client, "task_status_bulk", tasks=[f"T-{i}" for i in range(201)], status="cancelled"
    )
    assert err["code"] == "too_large"


# ---------------------------------------------------------------- no agent name


@pytest.fixture
async def anonymous(tmp_path, clock: ManualClock) -> AsyncIterator[Client]:
    """A server started without TASKLOOM_AGENT: calls must name their agent."""
    settings = Settings(
        db_path=tmp_path / "anonymous.db", project="test", lease_seconds=LEASE, default_agent=None
    )
    app = await Taskloom.open(settings, clock)
    try:
        async with Client(build_server(app), mode="legacy") as c:
            yield c
    finally:
        await app.close()


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("task_claim", {}),
        ("task_claim", {"task": "T-1"}),
        ("task_heartbeat", {"task": "T-1"}),
        ("task_done", {"task": "T-1", "summary": "s"}),
        ("task_fail", {"task": "T-1", "reason": "r"}),
        ("task_release", {"task": "T-1"}),
        ("task_block", {"task": "T-1", "reason": "r"}),
        ("task_unblock", {"task": "T-1"}),
        ("task_review", {"task": "T-1", "approve": True}),
    ],
)
async def test_without_an_agent_name_work_calls_are_invalid_input_saying_how_to_fix_it(anonymous, tool, args):
    await call(anonymous, "task_create", tasks=[{"title": "a"}])
    err = await call_error(anonymous, tool, **args)
    assert err["code"] == "invalid_input"
    assert "agent" in err["message"].lower()
    assert "`agent`" in err["hint"] and "TASKLOOM_AGENT" in err["hint"]
    assert (await call(anonymous, "task_get", task="T-1"))["task"]["status"] == "ready"


async def test_without_a_default_agent_an_explicit_agent_name_works(anonymous):
    await call(anonymous, "task_create", tasks=[{"title": "a"}])
    claim = await call(anonymous, "task_claim", agent="carol")
    assert claim["detail"]["task"]["claimed_by"] == "carol"
    await call(anonymous, "task_done", task="T-1", summary="done", agent="carol")
