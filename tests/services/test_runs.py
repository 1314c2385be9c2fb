"""The runner's rows (services/runs.py): a unit's slot, hand-backs, back-off and adoption, on a
real SQLite file under an injected clock."""

from __future__ import annotations

import pytest

from taskloom.domain import runs as rules
from taskloom.errors import Conflict
from taskloom.models import StreamSpec, TaskSpec
from taskloom.services import creation, planning, runs, tasks, work

HOLD = 30.0


async def ready(app, per: str = "task"):
    return await app.read(runs.ready_units, per, None)


def runner(name: str = "r1", host: str = "h") -> runs.Runner:
    return runs.Runner(name, host, 4242, 1.0)


async def start(app, unit, agent: str, runner_name: str = "r1"):
    return await app.write(
        runs.start, unit, runner=runner(runner_name), preset="command",
        held_until=app.clock.now() + HOLD, agent=agent,
    )


@pytest.fixture
async def two_tasks(app):
    await app.write(creation.create_tasks, [TaskSpec(title="a", code="A", role="dev"), TaskSpec(title="b", code="B")])
    return app


async def test_starting_a_unit_claims_its_task_for_the_worker_and_takes_its_slot(two_tasks):
    app = two_tasks
    units = await ready(app)
    assert [u.task for u, _ in units] == ["A", "B"]
    got = await start(app, units[0][0], "w1")
    assert got is not None
    a = (await app.read(tasks.get, "A")).task
    assert (a.status, a.claimed_by) == ("in_progress", "w1")
    assert [u.task for u, _ in await ready(app)] == ["B"]
    # A second runner that read the same list a moment before does not get the task.
    assert await start(app, units[0][0], "w2", runner_name="r2") is None
    live = await app.read(runs.live)
    assert [(r["agent"], r["task"], r["holding"]) for r in live] == [("w1", "A", "A")]


async def test_a_live_run_holds_its_slot_even_when_its_task_was_handed_on(two_tasks):
    app = two_tasks
    unit = (await ready(app))[0][0]
    await start(app, unit, "w1")
    # The task goes back to the queue behind the live run's back (its lease expired, say).
    await app.write(runs.release_all, "test", agent="w1")
    with pytest.raises(Conflict):
        await start(app, unit, "w2", runner_name="r2")
    a = (await app.read(tasks.get, "A")).task
    assert a.status == "ready", "the refused start's claim was undone with it"


async def test_hand_back_uses_an_attempt_and_notes_why_release_all_does_not(two_tasks):
    app = two_tasks
    units = await ready(app)
    await start(app, units[0][0], "w1")
    await start(app, units[1][0], "w2")
    note = rules.handback_note(3, "Traceback: boom", None)
    assert await app.write(runs.hand_back, note, agent="w1") == ["A"]
    assert await app.write(runs.release_all, "runner stopped", agent="w2") == ["B"]
    a, b = (await app.read(tasks.get, "A")), (await app.read(tasks.get, "B"))
    assert (a.task.status, a.task.attempts) == ("ready", 1)
    assert (b.task.status, b.task.attempts) == ("ready", 0)
    assert any("exited with code 3" in n.body and "boom" in n.body for n in a.notes)


async def test_a_unit_backs_off_after_a_run_that_did_not_finish_it(two_tasks, clock):
    app = two_tasks
    unit = (await ready(app))[0][0]
    got = await start(app, unit, "w1")
    await app.write(runs.hand_back, "crashed", agent="w1")
    await app.write(runs.end, got.run_id, rules.Outcome.HANDED_BACK, exit_code=3, agent="w1")
    not_before = {u.task: nb for u, nb in await ready(app)}["A"]
    assert not_before == pytest.approx(clock.now() + rules.BACKOFF_FIRST)
    got = await start(app, unit, "w2")
    await app.write(runs.hand_back, "crashed again", agent="w2")
    await app.write(runs.end, got.run_id, rules.Outcome.HANDED_BACK, exit_code=3, agent="w2")
    not_before = {u.task: nb for u, nb in await ready(app)}["A"]
    assert not_before == pytest.approx(clock.now() + 2 * rules.BACKOFF_FIRST)


async def test_stream_units_have_one_live_worker_each(app):
    await app.write(planning.upsert_streams, [StreamSpec(code="S1"), StreamSpec(code="S2")])
    await app.write(creation.create_tasks, [TaskSpec(title="a", code="A", stream="S1"),
                                            TaskSpec(title="b", code="B", stream="S1"),
                                            TaskSpec(title="c", code="C", stream="S2")])
    units = await ready(app, "stream")
    assert [u.stream for u, _ in units] == ["S1", "S2"]
    assert await start(app, units[0][0], "w1") is not None
    assert [u.stream for u, _ in await ready(app, "stream")] == ["S2"]
    with pytest.raises(Conflict):
        await start(app, units[0][0], "w2", runner_name="r2")


async def test_other_runners_rows_are_candidates_when_lapsed_or_on_this_host(two_tasks, clock):
    app = two_tasks
    got = await start(app, (await ready(app))[0][0], "w1")  # by r1 on host h
    mine = await app.read(runs.orphan_candidates, runner("r1", "h"))
    elsewhere = await app.read(runs.orphan_candidates, runner("r2", "other-host"))
    same_host = await app.read(runs.orphan_candidates, runner("r2", "h"))
    assert (mine, elsewhere, [r["id"] for r in same_host]) == ([], [], [got.run_id])
    clock.advance(HOLD + 1)
    assert [r["id"] for r in await app.read(runs.orphan_candidates, runner("r2", "other-host"))] == [got.run_id]


async def test_one_runner_takes_a_row_over_and_the_next_one_finds_it_taken(two_tasks, clock):
    app = two_tasks
    got = await start(app, (await ready(app))[0][0], "w1")
    assert await app.write(runs.take_over, got.run_id, "r1", runner("r2"), clock.now() + HOLD)
    assert not await app.write(runs.take_over, got.run_id, "r1", runner("r3"), clock.now() + HOLD)
    (row,) = await app.read(runs.live)
    assert (row["runner"], row["runner_pid"]) == ("r2", 4242)


def test_backoff_doubles_up_to_its_cap():
    assert [rules.backoff(n) for n in range(5)] == [0.0, 5.0, 10.0, 20.0, 40.0]
    assert rules.backoff(30) == rules.BACKOFF_MAX


def test_a_preset_pauses_after_the_same_error_in_a_row_only():
    health = rules.PresetHealth()
    assert not health.record("Not logged in")
    assert not health.record("exited with code 1")
    assert not health.record("Not logged in")
    assert not health.record("Not logged in")
    assert health.record("Not logged in")
    assert health.paused == "Not logged in"
    fresh = rules.PresetHealth()
    fresh.record("x")
    fresh.record(None)  # a success in between starts the count again
    fresh.record("x")
    assert not fresh.record("x") and fresh.paused is None


def test_a_certain_error_pauses_a_preset_at_once():
    health = rules.PresetHealth()
    assert health.record("Cannot start the worker command 'claude'", certain=True)
    assert health.paused.startswith("Cannot start")


async def test_a_stream_unit_is_finished_only_when_its_stream_has_nothing_ready_or_in_progress(app):
    await app.write(planning.upsert_streams, [StreamSpec(code="S1"), StreamSpec(code="S2")])
    await app.write(creation.create_tasks, [TaskSpec(title="a", code="A", stream="S1"),
                                            TaskSpec(title="b", code="B", stream="S2")])
    units = {u.stream: u for u, _ in await ready(app, "stream")}
    await start(app, units["S2"], "w1")  # the second stream in claim order, its run still live
    assert not await app.read(runs.unit_finished, units["S2"])
    await app.write(work.claim, code="B", agent="w1")
    assert not await app.read(runs.unit_finished, units["S2"]), "B is in progress"
    await app.write(work.done, "B", "did it", agent="w1")
    assert await app.read(runs.unit_finished, units["S2"])
