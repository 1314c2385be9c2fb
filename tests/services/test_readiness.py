"""Readiness: which tasks are offered, as dependencies, streams and subtasks move.

The story throughout: A -> (B, C) -> Z. B and C depend on A; Z depends on both.
"""

from __future__ import annotations

import pytest

from taskloom.errors import Conflict, InvalidInput, InvalidTransition, TaskloomError
from taskloom.models import StreamSpec, TaskSpec
from taskloom.resolver import Resolver
from taskloom.services import creation, planning, tasks, work
from tests.conftest import call, call_error

# ---------------------------------------------------------------- helpers


async def create(app, *specs: TaskSpec, agent: str | None = None) -> creation.Created:
    return await app.write(creation.create_tasks, list(specs), agent=agent)


def spec(code: str, *depends_on: str, **fields) -> TaskSpec:
    return TaskSpec(title=f"task {code}", code=code, depends_on=list(depends_on), **fields)


def sub(code: str, parent: str, **fields) -> TaskSpec:
    return TaskSpec(title=f"subtask {code}", code=code, parent=parent, **fields)


def nested(levels: int) -> list[TaskSpec]:
    """L1, with L2 under it, L3 under L2 ... down to L<levels>."""
    return [spec("L1"), *[sub(f"L{d}", f"L{d - 1}") for d in range(2, levels + 1)]]


async def statuses(app) -> dict[str, str]:
    page = await app.read(tasks.list_tasks, limit=200)
    return {t.code: str(t.status) for t in page.tasks}


async def ready(app) -> set[str]:
    return {code for code, status in (await statuses(app)).items() if status == "ready"}


async def task(app, code: str):
    return (await app.read(tasks.get, code)).task


async def stream_status(app, code: str) -> str:
    def run(tx, scope):
        return tx.one("stream_by_code", {"project": scope.project_id, "code": code})["status"]

    return await app.read(run)


async def streams(app, *specs: StreamSpec) -> None:
    await app.write(planning.upsert_streams, list(specs))


async def claim(app, code: str, agent: str = "worker"):
    result = await app.write(work.claim, code=code, agent=agent)
    assert result.claimed
    return result


async def finish(app, code: str, agent: str = "worker"):
    await claim(app, code, agent)
    return await app.write(work.done, code, f"finished {code}", agent=agent)


async def story(app) -> None:
    await create(app, spec("A"), spec("B", "A"), spec("C", "A"), spec("Z", "B", "C"))


# ---------------------------------------------------------------- dependencies


async def test_only_the_task_without_dependencies_is_ready_at_first(app):
    await story(app)
    assert await statuses(app) == {"A": "ready", "B": "waiting", "C": "waiting", "Z": "waiting"}


async def test_creation_reports_which_new_tasks_are_ready(app):
    made = await create(app, spec("A"), spec("B", "A"), spec("C"))
    assert sorted(made.became_ready) == ["A", "C"]
    assert made.edges == 1


async def test_finishing_a_readies_b_and_c_but_not_z(app):
    await story(app)
    result = await finish(app, "A")
    assert sorted(result.unblocked) == ["B", "C"]
    assert await statuses(app) == {"A": "done", "B": "ready", "C": "ready", "Z": "waiting"}


async def test_z_stays_waiting_while_only_one_of_its_dependencies_is_done(app):
    await story(app)
    await finish(app, "A")
    result = await finish(app, "B")
    assert result.unblocked == []
    assert (await statuses(app))["Z"] == "waiting"


async def test_z_is_ready_once_both_of_its_dependencies_are_done(app):
    await story(app)
    await finish(app, "A")
    await finish(app, "C")
    result = await finish(app, "B")
    assert result.unblocked == ["Z"]
    assert await ready(app) == {"Z"}


async def test_a_waiting_task_cannot_be_claimed_by_code(app):
    await story(app)
    with pytest.raises(InvalidTransition) as caught:
        await app.write(work.claim, code="Z", agent="worker")
    assert caught.value.details == {"task": "Z", "status": "waiting"}


async def test_claiming_without_a_code_only_ever_hands_out_ready_tasks(app):
    await story(app)
    first = await app.write(work.claim, agent="w1")
    assert first.detail.task.code == "A"
    second = await app.write(work.claim, agent="w2")
    assert not second.claimed


async def test_a_cancelled_dependency_satisfies_its_dependents(app):
    await story(app)
    result = await app.write(work.move, "A", "cancelled", reason="not needed")
    assert sorted(result.unblocked) == ["B", "C"]
    assert await statuses(app) == {"A": "cancelled", "B": "ready", "C": "ready", "Z": "waiting"}


async def test_z_is_ready_when_one_dependency_is_done_and_the_other_cancelled(app):
    await story(app)
    await finish(app, "A")
    await finish(app, "B")
    await app.write(work.move, "C", "cancelled")
    assert await ready(app) == {"Z"}


async def test_a_failed_dependency_keeps_its_dependents_waiting(app):
    await story(app)
    await claim(app, "A")
    result = await app.write(work.fail, "A", "broken beyond repair", False, agent="worker")
    assert result.unblocked == []
    assert await statuses(app) == {"A": "failed", "B": "waiting", "C": "waiting", "Z": "waiting"}
    detail = await app.read(tasks.get, "B")
    assert [(d.code, d.outcome) for d in detail.dependencies] == [("A", "failed")]


async def test_a_failed_dependency_put_back_in_play_and_finished_releases_its_dependents(app):
    await story(app)
    await claim(app, "A")
    await app.write(work.fail, "A", "flaky", False, agent="worker")
    await app.write(work.move, "A", "ready")
    assert await ready(app) == {"A"}
    assert (await task(app, "A")).attempts == 0
    await finish(app, "A")
    assert await ready(app) == {"B", "C"}


async def test_adding_an_unfinished_dependency_sends_a_ready_task_back_to_waiting(app):
    await story(app)
    await create(app, spec("X"))
    assert "X" in await ready(app)
    await app.write(tasks.update, "X", {"depends_on": ["Z"]})
    assert (await statuses(app))["X"] == "waiting"
    await app.write(tasks.update, "X", {"depends_on": []})
    assert (await statuses(app))["X"] == "ready"


async def test_dependencies_may_be_named_by_idempotency_key(app):
    await create(app, TaskSpec(title="base", key="base-key"))
    made = await create(app, TaskSpec(title="on top", code="TOP", depends_on=["base-key"]))
    assert made.became_ready == []
    assert (await task(app, "TOP")).depends_on == ("T-1",)


# ---------------------------------------------------------------- streams


async def test_a_stream_waits_until_the_streams_it_depends_on_are_done(app):
    await streams(app, StreamSpec(code="S1"), StreamSpec(code="S2", depends_on=["S1"]))
    await create(app, spec("a1", stream="S1"), spec("b1", stream="S2"))
    assert await stream_status(app, "S1") == "ready"
    assert await stream_status(app, "S2") == "waiting"
    assert await statuses(app) == {"a1": "ready", "b1": "waiting"}


async def test_a_stream_with_ready_tasks_and_nothing_started_is_ready(app):
    await streams(app, StreamSpec(code="S1"))
    await create(app, spec("a1", stream="S1"), spec("a2", stream="S1"))
    assert await stream_status(app, "S1") == "ready"


async def test_a_stream_becomes_active_once_one_of_its_tasks_is_claimed(app):
    await streams(app, StreamSpec(code="S1"))
    await create(app, spec("a1", stream="S1"), spec("a2", stream="S1"))
    await claim(app, "a1")
    assert await stream_status(app, "S1") == "active"


async def test_after_any_claim_the_full_rule_finds_no_stream_to_move(app):
    # A claim settles its stream by a shortcut (Settle.after_claim); the full rule must agree.
    from taskloom.services.readiness import Settle

    def full_rule(tx, scope):
        ids = [r["id"] for r in tx.all("stream_list", {"project": scope.project_id})]
        before = {i: tx.one("stream_by_id", {"id": i})["status"] for i in ids}
        Settle(tx, scope).streams(ids).run()
        return before, {i: tx.one("stream_by_id", {"id": i})["status"] for i in ids}

    await streams(app, StreamSpec(code="S1"), StreamSpec(code="S2", depends_on=["S1"]), StreamSpec(code="S3"))
    await create(app, spec("a1", stream="S1"), spec("a2", stream="S1"), spec("b1", stream="S2"),
                 spec("c1", stream="S3"), spec("c2", stream="S3"), spec("n1"))
    for code in ("a1", "c1", "a2", "c2", "n1"):
        await claim(app, code)
        before, after = await app.write(full_rule)
        assert before == after, f"after claiming {code}"
    await app.write(work.done, "a1", "done", agent="worker")
    await app.write(work.done, "a2", "done", agent="worker")
    await claim(app, "b1")
    before, after = await app.write(full_rule)
    assert before == after
    assert {c: await stream_status(app, c) for c in ("S1", "S2", "S3")} == {"S1": "done", "S2": "active", "S3": "active"}


async def test_a_stream_stays_active_with_one_task_done_and_another_open(app):
    await streams(app, StreamSpec(code="S1"))
    await create(app, spec("a1", stream="S1"), spec("a2", stream="S1"))
    await app.write(work.move, "a1", "done", reason="done by hand")
    assert await stream_status(app, "S1") == "active"


async def test_a_released_task_returns_an_otherwise_untouched_stream_to_ready(app):
    await streams(app, StreamSpec(code="S1"))
    await create(app, spec("a1", stream="S1"))
    await claim(app, "a1")
    await app.write(work.release, "a1", None, agent="worker")
    assert await stream_status(app, "S1") == "ready"


async def test_a_stream_is_done_when_all_its_tasks_are_done_or_cancelled_and_its_dependents_open(app):
    await streams(app, StreamSpec(code="S1"), StreamSpec(code="S2", depends_on=["S1"]))
    await create(app, spec("a1", stream="S1"), spec("a2", stream="S1"), spec("b1", stream="S2"))
    await finish(app, "a1")
    assert await stream_status(app, "S1") == "active"
    assert (await statuses(app))["b1"] == "waiting"
    result = await app.write(work.move, "a2", "cancelled")
    assert await stream_status(app, "S1") == "done"
    assert await stream_status(app, "S2") == "ready"
    assert result.unblocked == ["b1"]
    assert (await statuses(app))["b1"] == "ready"


async def test_a_stream_whose_tasks_were_all_cancelled_is_done_and_never_holds_later_streams_open(app):
    await streams(
        app,
        StreamSpec(code="S1"),
        StreamSpec(code="S2", depends_on=["S1"]),
        StreamSpec(code="S3", depends_on=["S2"]),
    )
    await create(app, spec("a1", stream="S1"), spec("b1", stream="S2"), spec("c1", stream="S3"))
    await app.write(work.move, "a1", "cancelled")
    assert await stream_status(app, "S1") == "done"
    await app.write(work.move, "b1", "cancelled")
    assert await stream_status(app, "S2") == "done"
    assert await stream_status(app, "S3") == "ready"
    assert await ready(app) == {"c1"}


async def test_a_stream_whose_tasks_are_closed_still_waits_for_its_own_dependencies_and_holds_later_ones(app):
    await streams(
        app,
        StreamSpec(code="S1"),
        StreamSpec(code="S2", depends_on=["S1"]),
        StreamSpec(code="S3", depends_on=["S2"]),
    )
    await create(app, spec("a1", stream="S1"), spec("b1", stream="S2"), spec("c1", stream="S3"))
    await app.write(work.move, "b1", "cancelled")
    assert await stream_status(app, "S2") == "waiting"
    assert (await statuses(app))["c1"] == "waiting"
    await finish(app, "a1")
    assert [await stream_status(app, s) for s in ("S1", "S2", "S3")] == ["done", "done", "ready"]
    assert await ready(app) == {"c1"}


async def test_a_stream_with_a_failed_task_is_not_done_and_its_dependents_keep_waiting(app):
    await streams(app, StreamSpec(code="S1"), StreamSpec(code="S2", depends_on=["S1"]))
    await create(app, spec("a1", stream="S1"), spec("b1", stream="S2"))
    await claim(app, "a1")
    await app.write(work.fail, "a1", "no luck", False, agent="worker")
    assert await stream_status(app, "S1") == "active"
    assert await stream_status(app, "S2") == "waiting"
    assert (await statuses(app))["b1"] == "waiting"


async def test_a_stream_waits_for_every_stream_it_depends_on(app):
    await streams(
        app, StreamSpec(code="S1"), StreamSpec(code="S2"), StreamSpec(code="S3", depends_on=["S1", "S2"])
    )
    await create(app, spec("a1", stream="S1"), spec("a2", stream="S2"), spec("c1", stream="S3"))
    await finish(app, "a1")
    assert await stream_status(app, "S3") == "waiting"
    await finish(app, "a2")
    assert await stream_status(app, "S3") == "ready"
    assert await ready(app) == {"c1"}


async def test_a_task_in_a_ready_stream_still_waits_for_its_own_dependencies(app):
    await streams(app, StreamSpec(code="S1"), StreamSpec(code="S2", depends_on=["S1"]))
    await create(app, spec("a1", stream="S1"), spec("b0"), spec("b1", "b0", stream="S2"))
    await finish(app, "a1")
    assert await stream_status(app, "S2") == "ready"
    assert (await statuses(app))["b1"] == "waiting"
    await finish(app, "b0")
    assert (await statuses(app))["b1"] == "ready"


async def test_moving_a_task_into_a_waiting_stream_makes_it_wait(app):
    await streams(app, StreamSpec(code="S1"), StreamSpec(code="S2", depends_on=["S1"]))
    await create(app, spec("a1", stream="S1"), spec("free"))
    assert (await statuses(app))["free"] == "ready"
    await app.write(tasks.update, "free", {"stream": "S2"})
    assert (await statuses(app))["free"] == "waiting"
    await app.write(tasks.update, "free", {"stream": ""})
    assert (await statuses(app))["free"] == "ready"


async def test_adding_a_task_to_a_done_stream_reopens_it_and_its_dependent_streams_wait_again(app):
    await streams(app, StreamSpec(code="S1"), StreamSpec(code="S2", depends_on=["S1"]))
    await create(app, spec("a1", stream="S1"), spec("b1", stream="S2"))
    await finish(app, "a1")
    assert (await stream_status(app, "S1"), await stream_status(app, "S2")) == ("done", "ready")
    await create(app, spec("a2", stream="S1"))
    assert (await stream_status(app, "S1"), await stream_status(app, "S2")) == ("active", "waiting")
    assert await statuses(app) == {"a1": "done", "b1": "waiting", "a2": "ready"}


# ---------------------------------------------------------------- subtasks


async def test_a_parent_with_open_subtasks_waits_and_only_its_subtasks_are_offered(app):
    await create(app, spec("P"), sub("P1", "P"), sub("P2", "P"))
    assert await statuses(app) == {"P": "waiting", "P1": "ready", "P2": "ready"}
    assert (await task(app, "P")).subtasks == ("P1", "P2")


async def test_a_ready_parent_goes_back_to_waiting_when_it_gains_a_subtask(app):
    await create(app, spec("P"))
    assert await ready(app) == {"P"}
    await create(app, sub("P1", "P"))
    assert await statuses(app) == {"P": "waiting", "P1": "ready"}


async def test_a_parent_with_open_subtasks_cannot_be_claimed_by_code(app):
    await create(app, spec("P"), sub("P1", "P"))
    with pytest.raises(InvalidTransition):
        await app.write(work.claim, code="P", agent="worker")


async def test_claiming_the_next_task_never_hands_out_a_parent_beside_its_subtasks(app):
    # The parent is the most urgent task, yet its subtasks are what gets handed out.
    await create(app, spec("P", priority=0), sub("P1", "P", priority=4), sub("P2", "P", priority=4))
    got = []
    for agent in ("w1", "w2", "w3"):
        result = await app.write(work.claim, agent=agent)
        if result.claimed:
            got.append(result.detail.task.code)
    assert sorted(got) == ["P1", "P2"]


async def test_a_parent_becomes_done_when_its_last_subtask_is_done(app):
    await create(app, spec("P"), sub("P1", "P"), sub("P2", "P"), spec("after", "P"))
    await finish(app, "P1")
    assert (await statuses(app))["P"] == "waiting"
    result = await finish(app, "P2")
    assert (await statuses(app))["P"] == "done"
    assert (await task(app, "P")).summary == "All subtasks are done."
    assert result.unblocked == ["after"]


async def test_a_parent_whose_subtasks_were_done_or_cancelled_is_done(app):
    await create(app, spec("P"), sub("P1", "P"), sub("P2", "P"))
    await finish(app, "P1")
    await app.write(work.move, "P2", "cancelled")
    assert (await statuses(app))["P"] == "done"


async def test_a_failed_subtask_keeps_its_parent_waiting(app):
    await create(app, spec("P"), sub("P1", "P"), sub("P2", "P"))
    await finish(app, "P1")
    await claim(app, "P2")
    await app.write(work.fail, "P2", "cannot be done", False, agent="worker")
    assert await statuses(app) == {"P": "waiting", "P1": "done", "P2": "failed"}


async def test_a_parent_whose_subtasks_were_all_cancelled_is_back_in_play_itself(app):
    await create(app, spec("P"), sub("P1", "P"))
    await app.write(work.move, "P1", "cancelled")
    # Nothing was delivered by subtasks, so the parent is not done: it is work to do again.
    assert await statuses(app) == {"P": "ready", "P1": "cancelled"}


async def test_completion_rolls_up_through_every_level_of_nesting(app):
    await create(app, *nested(3))
    assert await ready(app) == {"L3"}
    await finish(app, "L3")
    assert await statuses(app) == {"L1": "done", "L2": "done", "L3": "done"}


async def test_cancelling_a_parent_cancels_its_open_subtasks(app):
    await create(app, spec("P"), sub("P1", "P"), sub("P2", "P"), sub("P21", "P2"))
    await finish(app, "P1")
    await app.write(work.move, "P", "cancelled", reason="dropped")
    assert await statuses(app) == {"P": "cancelled", "P1": "done", "P2": "cancelled", "P21": "cancelled"}


async def test_a_parent_sent_back_from_review_waits_for_subtasks_added_meanwhile(app):
    await create(app, spec("P", requires_review=True))
    await finish(app, "P")
    assert (await statuses(app))["P"] == "review"
    await create(app, sub("P1", "P"))
    await app.write(work.review, "P", False, "split it into subtasks", agent="reviewer")
    # The parent has an open subtask, so it must not be offered beside it.
    assert await statuses(app) == {"P": "waiting", "P1": "ready"}


async def test_a_parent_whose_lease_expires_after_gaining_subtasks_waits_for_them(app, clock):
    await create(app, spec("P"))
    await claim(app, "P")
    await create(app, sub("P1", "P"))
    clock.advance(61)
    await Resolver(app).run_once()
    assert await statuses(app) == {"P": "waiting", "P1": "ready"}


async def test_subtasks_nest_five_levels_deep(app):
    await create(app, *nested(5))
    assert (await task(app, "L5")).parent == "L4"


async def test_a_sixth_level_of_subtasks_is_refused_and_nothing_is_created(app):
    await create(app, *nested(5))
    with pytest.raises(InvalidInput) as caught:
        await create(app, spec("ok"), sub("L6", "L5"))
    assert caught.value.code == "invalid_input"
    assert "6 levels deep" in caught.value.message
    assert set(await statuses(app)) == {"L1", "L2", "L3", "L4", "L5"}


async def test_a_sixth_level_within_one_batch_is_refused_too(app):
    with pytest.raises(InvalidInput):
        await create(app, *nested(6))
    assert await statuses(app) == {}


async def test_a_done_parent_cannot_take_new_subtasks(app):
    await create(app, spec("P"))
    await finish(app, "P")
    with pytest.raises(Conflict):
        await create(app, TaskSpec(title="late", parent="P"))


# ---------------------------------------------------------------- idempotency and versions


async def test_creating_with_an_existing_idempotency_key_returns_the_existing_task(app):
    first = await create(app, TaskSpec(title="write the parser", key="parser"))
    again = await create(app, TaskSpec(title="a different title", key="parser", priority=0))
    assert again.ids == first.ids
    assert again.new == [False]
    detail = await task(app, "T-1")
    assert detail.title == "write the parser"
    assert detail.priority == 2
    assert await statuses(app) == {"T-1": "ready"}


async def test_a_batch_mixing_existing_and_new_keys_creates_only_the_new_ones(app):
    first = await create(app, TaskSpec(title="one", key="k1"))
    again = await create(
        app, TaskSpec(title="one", key="k1"), TaskSpec(title="two", key="k2", depends_on=["k1"])
    )
    assert again.new == [False, True]
    assert again.ids[0] == first.ids[0]
    assert await statuses(app) == {"T-1": "ready", "T-2": "waiting"}


async def test_the_same_key_twice_in_one_batch_is_refused(app):
    with pytest.raises(InvalidInput):
        await create(app, TaskSpec(title="one", key="k1"), TaskSpec(title="two", key="k1"))


async def test_an_update_with_a_stale_version_is_a_conflict_and_changes_nothing(app):
    await create(app, spec("A"))
    v1 = (await task(app, "A")).version
    await app.write(tasks.update, "A", {"title": "renamed once"}, if_version=v1)
    v2 = (await task(app, "A")).version
    assert v2 > v1
    with pytest.raises(Conflict) as caught:
        await app.write(tasks.update, "A", {"title": "renamed twice"}, if_version=v1)
    assert caught.value.code == "conflict"
    assert caught.value.details == {"task": "A", "version": v2}
    current = await task(app, "A")
    assert (current.title, current.version) == ("renamed once", v2)


async def test_a_stale_version_on_context_is_a_conflict(app):
    await create(app, spec("A"))
    v1 = (await task(app, "A")).version
    await app.write(tasks.set_context, "A", "first", "append", v1)
    with pytest.raises(TaskloomError) as caught:
        await app.write(tasks.set_context, "A", "second", "append", v1)
    assert caught.value.code == "conflict"
    assert (await task(app, "A")).context == "first"


async def test_the_task_create_tool_reports_a_known_key_as_existing_and_returns_that_task(client):
    first = await call(client, "task_create", tasks=[{"title": "write the parser", "key": "parser"}])
    again = await call(client, "task_create", tasks=[{"title": "retry of the same call", "key": "parser"}])
    assert (first["created"], first["existing"]) == (1, 0)
    assert (again["created"], again["existing"]) == (0, 1)
    assert again["tasks"] == first["tasks"]


async def test_the_task_update_tool_refuses_a_stale_if_version_with_code_conflict(client):
    made = await call(client, "task_create", tasks=[{"title": "a"}])
    version = made["tasks"][0]["version"]
    await call(client, "task_update", task="T-1", if_version=version, priority=0)
    err = await call_error(client, "task_update", task="T-1", if_version=version, priority=4)
    assert err["code"] == "conflict"
    assert (await call(client, "task_get", task="T-1"))["task"]["priority"] == 0
