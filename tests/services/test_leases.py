"""Leases under an injected clock: expiry, heartbeats, attempts, fail, release, block.

The app's lease is 60 s. Expiry happens when the resolver runs a pass after the lease ran out.
"""

from __future__ import annotations

import pytest

from taskloom.domain.statuses import after_attempt
from taskloom.errors import InvalidTransition, LeaseLost
from taskloom.models import TaskSpec
from taskloom.resolver import Resolver
from taskloom.services import creation, tasks, work
from taskloom.services.common import attempt_params

LEASE = 60.0


async def create(app, *specs: TaskSpec) -> None:
    await app.write(creation.create_tasks, list(specs))


async def detail(app, code: str):
    return await app.read(tasks.get, code)


async def task(app, code: str):
    return (await detail(app, code)).task


async def claim(app, code: str, agent: str = "alice"):
    result = await app.write(work.claim, code=code, agent=agent)
    assert result.claimed
    return result


async def expire(app, clock, seconds: float = LEASE + 1) -> list[str]:
    clock.advance(seconds)
    return (await Resolver(app).run_once())["expired"]


async def one_task(app, max_attempts: int = 3) -> None:
    await create(app, TaskSpec(title="the work", code="W", max_attempts=max_attempts))


# ---------------------------------------------------------------- expiry


async def test_a_claim_holds_a_lease_for_the_configured_time(app, clock):
    await one_task(app)
    result = await claim(app, "W")
    assert result.lease_seconds == LEASE
    t = result.detail.task
    assert (t.status, t.claimed_by, t.attempts) == ("in_progress", "alice", 0)
    assert t.lease_expires_at == "2027-01-15T08:01:00.000Z"  # ManualClock starts at 1.8e9 s


async def test_a_lease_that_has_not_run_out_is_left_alone(app, clock):
    await one_task(app)
    await claim(app, "W")
    assert await expire(app, clock, LEASE - 1) == []
    t = await task(app, "W")
    assert (t.status, t.claimed_by, t.attempts) == ("in_progress", "alice", 0)


async def test_a_lease_is_not_expired_at_the_exact_moment_it_runs_out(app, clock):
    await one_task(app)
    await claim(app, "W")
    assert await expire(app, clock, LEASE) == []
    assert (await task(app, "W")).status == "in_progress"


async def test_an_expired_lease_returns_the_task_to_ready_with_one_more_attempt(app, clock):
    await one_task(app)
    await claim(app, "W")
    assert await expire(app, clock) == ["W"]
    t = await task(app, "W")
    assert (t.status, t.claimed_by, t.attempts, t.lease_expires_at) == ("ready", None, 1, None)
    assert t.reason == "lease expired while held by alice"


async def test_an_expired_lease_leaves_a_system_note_saying_so(app, clock):
    await one_task(app)
    await claim(app, "W")
    await expire(app, clock)
    latest = (await detail(app, "W")).notes[0]
    assert latest.kind == "system"
    assert latest.body == "Lease held by alice expired (attempt 1 of 3); it is back in the queue."


async def test_an_expired_task_can_be_claimed_by_another_agent(app, clock):
    await one_task(app)
    await claim(app, "W", "alice")
    await expire(app, clock)
    result = await app.write(work.claim, agent="bob")
    assert result.detail.task.code == "W"
    assert result.detail.task.claimed_by == "bob"
    assert result.detail.notes[0].kind == "system"


async def test_a_heartbeat_extends_the_lease_past_its_first_deadline(app, clock):
    await one_task(app)
    await claim(app, "W")
    clock.advance(50)
    beat = await app.write(work.heartbeat, "W", agent="alice")
    assert beat.lease_expires_at == "2027-01-15T08:01:50.000Z"
    assert await expire(app, clock, 50) == []  # 100 s after the claim, 50 s after the heartbeat
    assert (await task(app, "W")).status == "in_progress"
    assert await expire(app, clock, 11) == ["W"]  # 61 s after the heartbeat


async def test_only_the_holder_can_heartbeat(app, clock):
    await one_task(app)
    await claim(app, "W", "alice")
    with pytest.raises(InvalidTransition):  # mallory never held it: no lease to lose
        await app.write(work.heartbeat, "W", agent="mallory")


async def test_a_task_fails_for_good_after_max_attempts_expiries(app, clock):
    await one_task(app, max_attempts=2)
    await create(app, TaskSpec(title="after", code="AFTER", depends_on=["W"]))
    await claim(app, "W", "alice")
    await expire(app, clock)
    assert (await task(app, "W")).status == "ready"
    await claim(app, "W", "bob")
    assert await expire(app, clock) == ["W"]
    t = await task(app, "W")
    assert (t.status, t.attempts) == ("failed", 2)
    assert (await detail(app, "W")).notes[0].body == (
        "Lease held by bob expired (attempt 2 of 2); it failed for good."
    )
    assert (await task(app, "AFTER")).status == "waiting"


async def test_a_stale_agent_gets_lease_lost_on_done_once_its_task_has_failed(app, clock):
    await one_task(app, max_attempts=1)
    await claim(app, "W", "alice")
    await expire(app, clock)
    assert (await task(app, "W")).status == "failed"
    with pytest.raises(LeaseLost) as caught:
        await app.write(work.done, "W", "I finished it anyway", agent="alice")
    assert caught.value.code == "lease_lost"
    assert caught.value.details["status"] == "failed"
    t = await task(app, "W")
    assert (t.status, t.summary) == ("failed", None)


async def test_a_stale_agent_gets_lease_lost_once_another_agent_holds_the_task(app, clock):
    await one_task(app)
    await claim(app, "W", "alice")
    await expire(app, clock)
    await claim(app, "W", "bob")
    with pytest.raises(LeaseLost) as caught:
        await app.write(work.done, "W", "stale result", agent="alice")
    assert "held by bob" in caught.value.message
    with pytest.raises(LeaseLost):
        await app.write(work.heartbeat, "W", agent="alice")
    t = await task(app, "W")
    assert (t.status, t.claimed_by, t.summary) == ("in_progress", "bob", None)


async def test_the_resolver_expires_every_overdue_lease_in_one_pass(app, clock):
    await create(app, *[TaskSpec(title=f"work {n}", code=f"W{n}") for n in (1, 2, 3)])
    await claim(app, "W1", "a")
    clock.advance(30)
    await claim(app, "W2", "b")
    clock.advance(31)
    await claim(app, "W3", "c")
    # Now 61 s: only W1 (due at 60) is overdue; W2 is due at 90 and W3 at 121.
    assert await expire(app, clock, 0) == ["W1"]
    assert sorted(await expire(app, clock, 61)) == ["W2", "W3"]


async def test_a_heartbeat_after_the_task_was_expired_is_lease_lost(app, clock):
    await one_task(app)
    await claim(app, "W", "alice")
    await expire(app, clock)
    with pytest.raises(LeaseLost) as caught:
        await app.write(work.heartbeat, "W", agent="alice")
    assert caught.value.details == {"task": "W", "status": "ready", "claimed_by": None}


# ---------------------------------------------------------------- fail


async def test_failing_with_retry_puts_the_task_back_in_the_queue_using_an_attempt(app, clock):
    await one_task(app)
    await claim(app, "W")
    result = await app.write(work.fail, "W", "tests would not pass", True, agent="alice")
    t = await task(app, "W")
    assert (t.status, t.claimed_by, t.attempts, t.reason) == ("ready", None, 1, "tests would not pass")
    assert "back in the queue" in result.message
    latest = (await detail(app, "W")).notes[0]
    assert (latest.kind, latest.body) == ("system", "Attempt 1 of 3 failed: tests would not pass")


async def test_failing_with_retry_on_the_last_attempt_fails_for_good(app, clock):
    await one_task(app, max_attempts=2)
    await claim(app, "W", "alice")
    await app.write(work.fail, "W", "first try", True, agent="alice")
    await claim(app, "W", "bob")
    result = await app.write(work.fail, "W", "second try", True, agent="bob")
    t = await task(app, "W")
    assert (t.status, t.attempts) == ("failed", 2)
    assert "failed for good after 2 attempts" in result.message


async def test_failing_without_retry_fails_at_once_and_dependents_keep_waiting(app, clock):
    await one_task(app)
    await create(app, TaskSpec(title="after", code="AFTER", depends_on=["W"]))
    await claim(app, "W")
    result = await app.write(work.fail, "W", "the approach is wrong", False, agent="alice")
    t = await task(app, "W")
    assert (t.status, t.attempts, t.lease_expires_at) == ("failed", 1, None)
    assert result.unblocked == []
    assert (await task(app, "AFTER")).status == "waiting"


async def test_failures_and_expiries_share_one_attempt_budget(app, clock):
    await one_task(app, max_attempts=3)
    await claim(app, "W", "alice")
    await app.write(work.fail, "W", "first try", True, agent="alice")
    await claim(app, "W", "bob")
    await expire(app, clock)
    assert ((await task(app, "W")).status, (await task(app, "W")).attempts) == ("ready", 2)
    await claim(app, "W", "carol")
    await expire(app, clock)
    t = await task(app, "W")
    assert (t.status, t.attempts) == ("failed", 3)


async def test_only_the_holder_can_fail_a_task(app, clock):
    await one_task(app)
    await claim(app, "W", "alice")
    with pytest.raises(InvalidTransition):  # mallory never held it: no lease to lose
        await app.write(work.fail, "W", "not mine", True, agent="mallory")
    assert (await task(app, "W")).attempts == 0


async def test_a_failed_task_is_not_expired_again_by_the_resolver(app, clock):
    await one_task(app)
    await claim(app, "W")
    await app.write(work.fail, "W", "gave up", False, agent="alice")
    assert await expire(app, clock, 10 * LEASE) == []
    assert (await task(app, "W")).attempts == 1


# ---------------------------------------------------------------- release


async def test_releasing_returns_the_task_without_using_an_attempt(app, clock):
    await one_task(app)
    await claim(app, "W")
    result = await app.write(work.release, "W", "wrong role for me", agent="alice")
    t = await task(app, "W")
    assert (t.status, t.claimed_by, t.attempts, t.lease_expires_at) == ("ready", None, 0, None)
    assert "no attempt was used" in result.message
    latest = (await detail(app, "W")).notes[0]
    assert (latest.kind, latest.body) == ("note", "Released: wrong role for me")


async def test_a_released_task_is_not_expired_later(app, clock):
    await one_task(app)
    await claim(app, "W")
    await app.write(work.release, "W", None, agent="alice")
    assert await expire(app, clock) == []
    assert (await task(app, "W")).attempts == 0


async def test_only_the_holder_can_release(app, clock):
    await one_task(app)
    await claim(app, "W", "alice")
    with pytest.raises(InvalidTransition):  # mallory never held it: no lease to lose
        await app.write(work.release, "W", None, agent="mallory")
    assert (await task(app, "W")).claimed_by == "alice"


# ---------------------------------------------------------------- block and unblock


async def test_blocking_keeps_the_claim_and_pauses_the_lease(app, clock):
    await one_task(app)
    await claim(app, "W")
    await app.write(work.block, "W", "need the API key from ops", agent="alice")
    t = await task(app, "W")
    assert (t.status, t.claimed_by, t.lease_expires_at) == ("blocked", "alice", None)
    assert await expire(app, clock, 10 * LEASE) == []
    t = await task(app, "W")
    assert (t.status, t.claimed_by, t.attempts) == ("blocked", "alice", 0)
    latest = (await detail(app, "W")).notes[0]
    assert (latest.kind, latest.body) == ("blocker", "need the API key from ops")


async def test_only_the_holder_can_block_a_claimed_task(app, clock):
    await one_task(app)
    await claim(app, "W", "alice")
    with pytest.raises(InvalidTransition):  # mallory never held it: no lease to lose
        await app.write(work.block, "W", "mine now", agent="mallory")
    assert (await task(app, "W")).status == "in_progress"


async def test_unblocking_returns_the_task_to_its_holder_with_a_fresh_lease(app, clock):
    await one_task(app)
    await claim(app, "W")
    await app.write(work.block, "W", "need the API key", agent="alice")
    clock.advance(10 * LEASE)
    result = await app.write(work.unblock, "W", "the key is in the vault", agent="ops")
    t = await task(app, "W")
    assert (t.status, t.claimed_by, t.attempts) == ("in_progress", "alice", 0)
    assert "back with alice" in result.message
    assert t.lease_expires_at == "2027-01-15T08:11:00.000Z"  # 600 s later, plus a fresh 60 s lease
    latest = (await detail(app, "W")).notes[0]
    assert (latest.kind, latest.body) == ("decision", "the key is in the vault")
    # The holder carries on and finishes; the fresh lease is a real one that expires too.
    assert await expire(app, clock, LEASE - 1) == []
    done = await app.write(work.done, "W", "shipped", agent="alice")
    assert done.task.status == "done"


async def test_an_unblocked_task_whose_holder_goes_silent_expires_again(app, clock):
    await one_task(app)
    await claim(app, "W")
    await app.write(work.block, "W", "question", agent="alice")
    await app.write(work.unblock, "W", "answer", agent="ops")
    assert await expire(app, clock) == ["W"]
    t = await task(app, "W")
    assert (t.status, t.attempts) == ("ready", 1)


async def test_a_task_nobody_holds_can_be_blocked_and_unblocks_back_into_the_queue(app, clock):
    await one_task(app)
    await app.write(work.block, "W", "waiting on legal", agent="lead")
    assert (await task(app, "W")).status == "blocked"
    result = await app.write(work.unblock, "W", None, agent="lead")
    t = await task(app, "W")
    assert (t.status, t.claimed_by) == ("ready", None)
    assert result.unblocked == ["W"]


async def test_unblocking_a_task_that_is_being_worked_on_is_an_invalid_transition(app, clock):
    await one_task(app)
    await claim(app, "W", "alice")
    with pytest.raises(InvalidTransition):
        await app.write(work.unblock, "W", None, agent="lead")
    t = await task(app, "W")
    assert (t.status, t.claimed_by) == ("in_progress", "alice")


# ---------------------------------------------------------------- a decision taken from a stale row


async def _row(app, code: str) -> dict:
    return await app.read(lambda tx, scope: dict(tx.one("task_by_code", {"project": scope.project_id, "code": code})))


async def _expire_as_decided_from(app, stale: dict) -> int:
    """What expire_leases writes for `stale`, as it would had it read the row before the others wrote."""
    out = after_attempt(stale["attempts"], stale["max_attempts"], retry=True)
    return await app.write(lambda tx, scope: tx.run("lease_expire", attempt_params(scope, stale, out)))


async def _fail_as_decided_from(app, stale: dict) -> int:
    out = after_attempt(stale["attempts"], stale["max_attempts"], retry=True)
    extra = {"agent": stale["claimed_by"], "reason": "stale"}
    return await app.write(lambda tx, scope: tx.run("task_fail", {**attempt_params(scope, stale, out), **extra}))


async def test_an_expiry_decided_from_a_stale_attempts_count_changes_nothing(app, clock):
    """The sweep read W at attempts 0; meanwhile alice failed it, bob claimed it and his lease ran
    out too. Writing the stale decision would count bob's lost attempt as the first: it must miss."""
    await one_task(app)
    await claim(app, "W", "alice")
    clock.advance(LEASE + 1)
    stale = await _row(app, "W")
    await app.write(work.fail, "W", "first try", True, agent="alice")
    await claim(app, "W", "bob")
    clock.advance(LEASE + 1)
    before = await _row(app, "W")
    assert (before["status"], before["attempts"], before["claimed_by"]) == ("in_progress", 1, "bob")
    assert await _expire_as_decided_from(app, stale) == 0
    assert await _row(app, "W") == before
    # The sweep, reading afresh, counts bob's attempt as the second.
    assert await expire(app, clock, 0) == ["W"]
    assert (await task(app, "W")).attempts == 2


async def test_a_failure_decided_from_a_stale_attempts_count_changes_nothing(app, clock):
    await one_task(app)
    await claim(app, "W", "alice")
    stale = await _row(app, "W")
    await app.write(work.fail, "W", "first try", True, agent="alice")
    await claim(app, "W", "alice")
    before = await _row(app, "W")
    assert await _fail_as_decided_from(app, stale) == 0
    assert await _row(app, "W") == before


async def test_a_failure_decided_before_max_attempts_was_raised_changes_nothing(app, clock):
    """Decided at max_attempts 1 (fail for good); an orchestrator has since allowed three."""
    await one_task(app, max_attempts=1)
    await claim(app, "W", "alice")
    stale = await _row(app, "W")
    await app.write(tasks.update, "W", {"max_attempts": 3})
    before = await _row(app, "W")
    assert before["max_attempts"] == 3
    assert await _fail_as_decided_from(app, stale) == 0
    assert await _row(app, "W") == before
