"""Time tracking (services/timesheet.py) over real tool calls, with the injected clock (leases:
60 s). One day of work is played once per test and read back whole, cut to a window and a
sprint, and with the runner's cost and turns."""

from __future__ import annotations

import pytest

from taskloom.domain import runs as rules
from taskloom.errors import InvalidInput, NotFound
from taskloom.resolver import Resolver
from taskloom.services import runs, timesheet
from tests.conftest import call

T0 = 1_800_000_000.0  # the ManualClock's start


async def play(client, app, clock) -> None:
    """A (sprint S1, reviewed): alice claims it, blocks 40 s, finishes; boss approves. B (S1, after A):
    dave's lease runs out, alice finishes it. C (no sprint): dave, 30 s. Times are seconds after T0."""
    await call(client, "sprint_create", code="S1", title="one")
    await call(client, "task_create", agent="carol", tasks=[
        {"code": "A", "title": "a", "role": "dev", "sprint": "S1", "requires_review": True},
        {"code": "B", "title": "b", "role": "dev", "sprint": "S1", "depends_on": ["A"]},
        {"code": "C", "title": "c", "role": "qa"},
    ])
    steps = [
        (10, "task_claim", {"task": "A", "agent": "alice"}),
        (10, "task_claim", {"task": "C", "agent": "dave"}),  # 20
        (10, "task_block", {"task": "A", "reason": "which key?", "agent": "alice"}),  # 30
        (20, "task_done", {"task": "C", "summary": "ok", "agent": "dave"}),  # 50
        (20, "task_unblock", {"task": "A", "answer": "staging", "agent": "boss"}),  # 70
        (15, "task_done", {"task": "A", "summary": "ok", "agent": "alice"}),  # 85: review
        (5, "task_review", {"task": "A", "approve": True, "agent": "boss"}),  # 90: B ready
        (10, "task_claim", {"task": "B", "agent": "dave"}),  # 100
        (61, None, {}),  # 161: the lease (60 s) ran out
        (4, "task_claim", {"task": "B", "agent": "alice"}),  # 165
        (30, "task_done", {"task": "B", "summary": "ok", "agent": "alice"}),  # 195
    ]
    for wait, tool, args in steps:
        clock.advance(wait)
        if tool is None:
            assert (await Resolver(app).run_once())["expired"] == ["B"]
        else:
            await call(client, tool, **args)


def rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in values.items() if v}


async def test_each_task_has_its_time_per_status_claims_and_holders_and_open_spans_run_to_now(team, app, clock):
    await play(team, app, clock)
    clock.advance(1805)  # 2000
    sheet = await app.read(timesheet.timesheet)
    tasks = {t.code: t for t in sheet.tasks}
    assert list(tasks) == ["A", "B", "C"]
    a, b, c = tasks["A"], tasks["B"], tasks["C"]
    assert rounded(a.seconds) == {"ready": 10, "in_progress": 35, "blocked": 40, "review": 5, "done": 1910}
    assert (a.waiting_for_claim, a.elapsed, a.claims, a.attempts) == (10, 90, 1, 0)
    assert [(h.agent, h.in_progress, h.blocked) for h in a.holders] == [("alice", 35, 40)]
    assert rounded(b.seconds) == {"waiting": 90, "ready": 14, "in_progress": 91, "done": 1805}
    assert (b.waiting_for_claim, b.elapsed, b.claims, b.attempts) == (14, 195, 2, 1)  # the expiry used one
    assert [(h.agent, h.in_progress) for h in b.holders] == [("dave", 61), ("alice", 30)]
    assert rounded(c.seconds) == {"ready": 20, "in_progress": 30, "done": 1950}
    assert (a.role, a.sprint, c.sprint, c.status) == ("dev", "S1", None, "done")
    assert (a.runs, a.cost_usd, a.turns) == (0, None, None)

    opened = [(s.task, s.status, s.seconds, s.end) for s in sheet.spans if s.open]
    assert opened == [("C", "done", 1950, None), ("A", "done", 1910, None), ("B", "done", 1805, None)]
    assert sheet.spans[-1].open and sheet.until == sheet.made_at == "2027-01-15T08:33:20.000Z"
    b_spans = [(s.status, s.seconds, s.holder, s.moved_by) for s in sheet.spans if s.task == "B"]
    assert b_spans == [
        ("waiting", 90, None, "carol"), ("ready", 10, None, "boss"), ("in_progress", 61, "dave", "dave"),
        ("ready", 4, None, "taskloom"), ("in_progress", 30, "alice", "alice"), ("done", 1805, None, "alice"),
    ]
    ends = [s.end for s in sheet.spans if not s.open]
    assert ends == sorted(ends)  # in the order they ended, as a log is written


async def test_agents_are_busy_holding_work_and_idle_present_with_none_away_after_15_minutes(team, app, clock):
    await play(team, app, clock)
    clock.advance(1805)  # 2000: everyone has been silent for over 15 minutes
    sheet = await app.read(timesheet.timesheet)
    got = {a.name: (a.present, a.busy, a.blocked, a.idle, a.present_at_end, a.tasks) for a in sheet.agents}
    assert got == {
        # Seen at 0, 10, 30, 85, 165 and 195: never 15 minutes apart.
        "alice": (195, 65, 40, 90, False, ["A", "B"]),
        "boss": (90, 0, 0, 90, False, []),
        # Last seen claiming B at 100; held B until its lease ran out at 161.
        "dave": (161, 91, 0, 70, False, ["B", "C"]),
        # carol was seen only at 0 (registered, created the tasks): no time present.
    }


async def test_a_window_and_a_sprint_cut_the_spans_and_the_agents_time(team, app, clock):
    await play(team, app, clock)
    clock.advance(1805)
    sheet = await app.read(timesheet.timesheet, sprint="S1", since=T0 + 50, until=T0 + 170)
    assert [t.code for t in sheet.tasks] == ["A", "B"]  # C is in no sprint
    a, b = sheet.tasks
    assert rounded(a.seconds) == {"blocked": 20, "in_progress": 15, "review": 5, "done": 80}
    assert (a.claims, [(h.agent, h.in_progress, h.blocked) for h in a.holders]) == (0, [("alice", 15, 20)])
    assert rounded(b.seconds) == {"waiting": 40, "ready": 14, "in_progress": 66}
    assert b.claims == 2
    assert [(s.task, s.status, s.seconds) for s in sheet.spans if s.open] == [("A", "done", 80), ("B", "in_progress", 5)]
    assert (sheet.since, sheet.until) == ("2027-01-15T08:00:50.000Z", "2027-01-15T08:02:50.000Z")
    got = {a.name: (a.present, a.busy, a.blocked, a.idle) for a in sheet.agents}
    assert got == {"alice": (120, 20, 20, 80), "boss": (40, 0, 0, 40), "dave": (111, 61, 0, 50)}
    # An --until later than now stops at now.
    assert (await app.read(timesheet.timesheet, until=T0 + 10**6)).until == sheet.made_at


async def test_runner_runs_give_cost_and_turns_per_task_and_agent_and_count_as_presence(team, app, clock):
    await call(team, "task_create", agent="carol", tasks=[{"code": "X", "title": "x"}, {"code": "Y", "title": "y"}])
    worker = runs.Runner("r1", "h", 4242, 1.0)
    [(x, _), (y, _)] = await app.read(runs.ready_units, "task", None)
    first = await app.write(runs.start, x, runner=worker, preset="command", held_until=T0 + 30, agent="w1")
    clock.advance(100)
    await call(team, "task_done", task="X", summary="ok", agent="w1")
    clock.advance(1100)  # 1200: silent for 1100 s, but its worker process was alive
    await app.write(runs.end, first.run_id, rules.Outcome.DONE, cost_usd=0.25, turns=7, agent="w1")
    second = await app.write(runs.start, y, runner=worker, preset="command", held_until=T0 + 1230, agent="w1")
    clock.advance(100)  # 1300
    await app.write(runs.release_all, "stopped", agent="w1")
    await app.write(runs.end, second.run_id, rules.Outcome.STOPPED, cost_usd=0.5, agent="w1")
    clock.advance(5000)
    sheet = await app.read(timesheet.timesheet)
    tasks = {t.code: (t.runs, t.cost_usd, t.turns) for t in sheet.tasks}
    assert tasks == {"X": (1, 0.25, 7), "Y": (1, 0.5, None)}
    [w1] = [a for a in sheet.agents if a.name == "w1"]
    assert (w1.runs, w1.cost_usd, w1.turns) == (2, 0.75, 7)
    assert (w1.present, w1.busy, w1.idle) == (1300, 200, 1100)


async def test_bad_windows_and_unknown_sprints_are_refused_with_the_way_forward(app, clock):
    with pytest.raises(InvalidInput, match="after its end") as err:
        await app.read(timesheet.timesheet, since=T0 + 10, until=T0 + 5)
    assert "--since before --until" in err.value.hint
    with pytest.raises(InvalidInput, match="after its end"):
        await app.read(timesheet.timesheet, since=T0 + 60)  # in the future
    with pytest.raises(NotFound, match="Sprint S9 does not exist"):
        await app.read(timesheet.timesheet, sprint="S9")
    with pytest.raises(NotFound, match="Stream web does not exist"):
        await app.read(timesheet.timesheet, stream="web")
    empty = await app.read(timesheet.timesheet)
    assert (empty.tasks, empty.spans) == ([], [])
