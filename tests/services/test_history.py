"""A task's history: time in each status, rebuilt from its events on a real SQLite file.

Each test walks a task through moves with the injected clock (leases: 60 s), then reads the
service as the task page will. Every path that moves a task is covered: claim, done, review,
fail with and without a retry, release, block and unblock, cancel, manual moves, a parent done by
its subtasks, and lease expiry by the resolver.
"""

from __future__ import annotations

import pytest

from taskloom.errors import NotFound
from taskloom.resolver import Resolver
from taskloom.services import history
from tests.conftest import call


async def create(client, *tasks: dict) -> list[str]:
    created = await call(client, "task_create", tasks=list(tasks), agent="carol")
    return [t["code"] for t in created["tasks"]]


async def spans(app, code: str) -> list[tuple[str, float, str | None, bool]]:
    """(status, seconds, agent, still open) per span; and the last span is the task's status."""
    got = await app.read(history.status_history, code)
    current = (await app.read(lambda tx, scope: tx.one("task_by_code", {"project": scope.project_id, "code": code})))
    assert got.spans[-1].status == current["status"]
    assert [s.left_at for s in got.spans[:-1]] == [s.entered_at for s in got.spans[1:]]
    return [(s.status, s.seconds, s.agent, s.left_at is None) for s in got.spans]


async def test_a_full_work_cycle_shows_each_status_with_who_moved_it_and_for_how_long(team, app, clock):
    client = team
    [code] = await create(client, {"title": "cycle", "requires_review": True, "max_attempts": 5})
    step = clock.advance
    step(10)
    await call(client, "task_claim", task=code, agent="alice")
    step(20)
    await call(client, "task_fail", task=code, reason="flaky", agent="alice")  # a retry: back to ready
    step(5)
    await call(client, "task_claim", task=code, agent="dave")
    step(30)
    await call(client, "task_release", task=code, agent="dave")
    step(5)
    await call(client, "task_claim", task=code, agent="alice")
    step(10)
    await call(client, "task_block", task=code, reason="which key?", agent="alice")
    step(40)
    await call(client, "task_unblock", task=code, answer="staging", agent="boss")
    step(15)
    await call(client, "task_done", task=code, summary="done", agent="alice")
    step(25)
    await call(client, "task_review", task=code, approve=False, reason="tests?", agent="boss")
    step(5)
    await call(client, "task_claim", task=code, agent="alice")
    step(61)
    assert (await Resolver(app).run_once())["expired"] == [code]
    step(4)
    await call(client, "task_claim", task=code, agent="dave")
    step(6)
    await call(client, "task_done", task=code, summary="done", agent="dave")
    step(7)
    await call(client, "task_review", task=code, approve=True, agent="boss")
    step(100)

    assert await spans(app, code) == [
        ("waiting", 0.0, "carol", False),  # created, and ready at once: nothing to wait for
        ("ready", 10.0, "carol", False),
        ("in_progress", 20.0, "alice", False),
        ("ready", 5.0, "alice", False),  # task.retry
        ("in_progress", 30.0, "dave", False),
        ("ready", 5.0, "dave", False),  # task.released
        ("in_progress", 10.0, "alice", False),
        ("blocked", 40.0, "alice", False),
        ("in_progress", 15.0, "boss", False),  # unblocked: back with its holder
        ("review", 25.0, "alice", False),
        ("waiting", 0.0, "boss", False),  # sent back: via waiting, then ready
        ("ready", 5.0, "boss", False),
        ("in_progress", 61.0, "alice", False),
        ("ready", 4.0, "taskloom", False),  # lease.expired, by the resolver
        ("in_progress", 6.0, "dave", False),
        ("review", 7.0, "dave", False),
        ("done", 100.0, "boss", True),  # the current span runs to now
    ]
    got = await app.read(history.status_history, code)
    assert got.totals == {
        "waiting": 0.0, "ready": 29.0, "in_progress": 142.0, "blocked": 40.0, "review": 32.0, "done": 100.0
    }


async def test_a_task_that_never_moved_has_one_open_span(team, app, clock):
    client = team
    await create(client, {"code": "A", "title": "a"}, {"code": "B", "title": "b", "depends_on": ["A"]})
    clock.advance(42)
    assert await spans(app, "B") == [("waiting", 42.0, "carol", True)]


async def test_a_backlog_task_starts_in_backlog_and_moves_into_play(team, app, clock):
    client = team
    [code] = await create(client, {"title": "later", "backlog": True})
    clock.advance(30)
    assert await spans(app, code) == [("backlog", 30.0, "carol", True)]
    await call(client, "task_update", task=code, status="ready", agent="boss")
    clock.advance(3)
    assert await spans(app, code) == [
        ("backlog", 30.0, "carol", False), ("waiting", 0.0, "boss", False), ("ready", 3.0, "boss", True)
    ]


async def test_an_expiry_at_the_last_attempt_is_one_failed_span_then_retried_and_cancelled(team, app, clock):
    client = team
    [code] = await create(client, {"title": "one shot", "max_attempts": 1})
    await call(client, "task_claim", task=code, agent="alice")
    clock.advance(61)
    await Resolver(app).run_once()  # lease.expired (failed), then task.failed: one span
    clock.advance(9)
    await call(client, "task_update", task=code, status="ready", reason="fixed the disk", agent="boss")
    clock.advance(2)
    await call(client, "task_update", task=code, status="cancelled", reason="dropped", agent="boss")
    assert await spans(app, code) == [
        ("waiting", 0.0, "carol", False),
        ("ready", 0.0, "carol", False),
        ("in_progress", 61.0, "alice", False),
        ("failed", 9.0, "taskloom", False),
        ("waiting", 0.0, "boss", False),
        ("ready", 2.0, "boss", False),
        ("cancelled", 0.0, "boss", True),
    ]


async def test_a_failure_without_retry_and_a_parent_finished_by_its_subtasks(team, app, clock):
    client = team
    await create(client, {"code": "P", "title": "parent"}, {"code": "C", "title": "child", "parent": "P"})
    await call(client, "task_claim", task="C", agent="alice")
    clock.advance(3)
    await call(client, "task_fail", task="C", reason="no", retry=False, agent="alice")
    assert (await spans(app, "C"))[-1] == ("failed", 0.0, "alice", True)
    await call(client, "task_update", task="C", status="ready", agent="boss")
    await call(client, "task_claim", task="C", agent="dave")
    clock.advance(4)
    await call(client, "task_done", task="C", summary="ok", agent="dave")
    assert await spans(app, "P") == [("waiting", 7.0, "carol", False), ("done", 0.0, "dave", True)]


async def test_an_unknown_task_is_not_found(app):
    with pytest.raises(NotFound, match="Task T-404 does not exist"):
        await app.read(history.status_history, "T-404")
