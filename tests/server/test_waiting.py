"""Waiting calls in one process: task_claim and message_inbox with wait_seconds.

The waits hear of changes through the change feed; "another process" is a second connection on
the same database file, whose commits reach this one only through the file. Cross-process and
disconnect cases with real server processes are in tests/faults/test_waiting_processes.py.
"""

from __future__ import annotations

import anyio
import pytest
from mcp import Client

from taskloom.clock import SystemClock
from taskloom.config import Settings
from taskloom.models import TaskSpec
from taskloom.server import build_server
from taskloom.services import creation, messages, work
from taskloom.services import waiting as waiting_services
from taskloom.services.app import Taskloom
from tests.conftest import call

BOUND = 20  # seconds: only a bound on a broken test; every wait below ends on an event


async def create(app: Taskloom, *specs: TaskSpec, agent: str = "boss") -> None:
    await app.write(creation.create_tasks, list(specs), agent=agent)


async def test_a_waiting_claim_is_handed_a_task_another_connection_makes_ready(here):
    app, other = here
    await create(other, TaskSpec(title="first", code="A"))
    await call_until_done(app, other)


async def call_until_done(app, other):
    async with Client(build_server(app), mode="legacy") as c:
        claimed = await call(c, "task_claim", agent="w1")
        assert claimed["claimed"] and claimed["detail"]["task"]["code"] == "A"
        result: dict = {}

        async def wait() -> None:
            result.update(await call(c, "task_claim", wait_seconds=BOUND, agent="w2"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await waiting_in_line(app, 1)
            await create(other, TaskSpec(title="second", code="B"))
        assert result["claimed"] and result["detail"]["task"]["code"] == "B"
        assert await line(app) == 0


async def line(app: Taskloom) -> int:
    return await app.read(lambda tx, scope: tx.scalar("claim_waiters_count", {"project": scope.project_id}))


async def waiting_in_line(app: Taskloom, n: int) -> None:
    """Until n waits have joined the line (each joins in a write, then waits on the feed)."""
    with anyio.fail_after(BOUND):
        while await line(app) < n:
            await anyio.sleep(0.01)


async def test_the_longest_waiter_gets_the_next_task_and_the_others_keep_waiting(here):
    app, other = here
    got: dict[str, str] = {}
    async with Client(build_server(app), mode="legacy") as c:

        async def wait(agent: str) -> None:
            out = await call(c, "task_claim", wait_seconds=BOUND, agent=agent)
            got[agent] = out["detail"]["task"]["code"]

        async with anyio.create_task_group() as tg:
            for n, agent in enumerate(["first", "second", "third"], 1):
                tg.start_soon(wait, agent)
                await waiting_in_line(app, n)  # each joins the line after the one before
            await create(other, TaskSpec(title="one", code="T1"))
            with anyio.fail_after(BOUND):
                while "first" not in got:
                    await anyio.sleep(0.01)
            assert got == {"first": "T1"}  # exactly one claim; the others still wait
            assert await line(app) == 2
            await create(other, TaskSpec(title="two", code="T2"))
            await create(other, TaskSpec(title="three", code="T3"))
    assert got == {"first": "T1", "second": "T2", "third": "T3"}


@pytest.mark.parametrize(
    ("setup", "outlook", "words"),
    [
        ("nothing", "finished", "project is finished"),
        ("waiting", "wait", "1 task is waiting on work in progress (1 in progress, 0 blocked)"),
        ("other_role", "other_work", "other roles"),
        ("stalled", "stalled", "Nothing can move"),
    ],
)
async def test_a_wait_that_ends_empty_says_whether_to_keep_waiting_or_stop(here, setup, outlook, words):
    app, other = here
    if setup == "waiting":
        await create(other, TaskSpec(title="a", code="A"), TaskSpec(title="b", code="B", depends_on=["A"]))
        await app.write(work.claim, code="A", agent="holder")
    elif setup == "other_role":
        await create(other, TaskSpec(title="for backend", code="A", role="backend"))
    elif setup == "stalled":
        await create(other, TaskSpec(title="a", code="A"), TaskSpec(title="b", code="B", depends_on=["A"]))
        await app.write(work.claim, code="A", agent="holder")
        await app.write(work.fail, "A", "gave up", False, agent="holder")
    async with Client(build_server(app), mode="legacy") as c:
        await call(c, "agent_init", agent="w", role="frontend")
        out = await call(c, "task_claim", wait_seconds=0.2, agent="w")
    assert out["claimed"] is False
    assert out["outlook"] == outlook, out
    assert words in out["message"]
    assert await line(app) == 0  # the wait left the line


@pytest.mark.parametrize(("ending", "outlook"), [("done", "finished"), ("failed", "stalled")])
async def test_a_waiting_claim_stops_at_once_when_a_change_leaves_no_work_to_wait_for(here, ending, outlook):
    app, other = here
    # The idle waiter could take B only once A is done, and A is the last task when it ends done.
    after = [TaskSpec(title="after", code="B", depends_on=["A"])] if ending == "failed" else []
    await create(other, TaskSpec(title="last", code="A"), *after)
    await other.write(work.claim, code="A", agent="holder")
    async with Client(build_server(app), mode="legacy") as c:
        result: dict = {}

        async def wait() -> None:
            result.update(await call(c, "task_claim", wait_seconds=BOUND, agent="idle"))

        with anyio.fail_after(BOUND / 2):  # not its deadline: the change that ends the hope ends the wait
            async with anyio.create_task_group() as tg:
                tg.start_soon(wait)
                await waiting_in_line(app, 1)
                if ending == "done":
                    await other.write(work.done, "A", "did it", [], agent="holder")
                else:
                    await other.write(work.fail, "A", "gave up", False, agent="holder")
    assert result["claimed"] is False and result["outlook"] == outlook, result
    assert await line(app) == 0


@pytest.mark.parametrize(("setup", "outlook"), [("all_done", "finished"), ("other_role", "other_work")])
async def test_a_waiting_claim_with_nothing_to_wait_for_answers_at_once(here, setup, outlook):
    app, other = here
    if setup == "other_role":
        await create(other, TaskSpec(title="for backend", code="A", role="backend"))
    else:  # the last task was just done, as by the worker now asking for its next one
        await create(other, TaskSpec(title="last", code="A"))
        await other.write(work.claim, code="A", agent="w")
        await other.write(work.done, "A", "did it", [], agent="w")
    async with Client(build_server(app), mode="legacy") as c:
        await call(c, "agent_init", agent="w", role="frontend")
        with anyio.fail_after(BOUND / 2):  # a stop is said at once, not at the deadline
            out = await call(c, "task_claim", wait_seconds=BOUND, agent="w")
    assert out["claimed"] is False and out["outlook"] == outlook, out
    assert await line(app) == 0


async def test_a_cancelled_waiting_claim_claims_nothing_and_leaves_the_line(here):
    app, other = here
    async with Client(build_server(app), mode="legacy") as c:
        with anyio.move_on_after(0.5):  # the client cancels its request (notifications/cancelled)
            await c.call_tool("task_claim", {"wait_seconds": BOUND, "agent": "quitter"})
        with anyio.fail_after(BOUND):  # the server hears the cancellation, and the wait leaves the line
            while await line(app):
                await anyio.sleep(0.01)
        await create(other, TaskSpec(title="later", code="L"))
        row = await app.read(lambda tx, scope: tx.one("task_by_code", {"project": scope.project_id, "code": "L"}))
        assert row["status"] == "ready" and row["claimed_by"] is None


async def test_a_waiting_inbox_hears_a_message_sent_through_another_connection(here):
    app, other = here
    async with Client(build_server(app), mode="legacy") as c:
        await call(c, "agent_init", agent="bob")
        result: dict = {}

        async def wait() -> None:
            result.update(await call(c, "message_inbox", wait_seconds=BOUND, mark_read=True, agent="bob"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await anyio.wait_all_tasks_blocked()
            await other.write(messages.send, "bob", "schema is ready", None, False, None, agent="alice")
    assert [m["body"] for m in result["messages"]] == ["schema is ready"]
    assert result["unread"] == 0  # marked read, as asked


async def test_a_waiting_inbox_returns_at_its_deadline_with_nothing_new(here):
    app, _ = here
    async with Client(build_server(app), mode="legacy") as c:
        out = await call(c, "message_inbox", wait_seconds=0.2, agent="bob")
    assert out["messages"] == [] and out["unread"] == 0


async def test_wait_seconds_is_capped_by_the_servers_max_wait(tmp_path):
    settings = Settings(db_path=tmp_path / "t.db", project="t", max_wait=0.2)
    app = await Taskloom.open(settings, SystemClock())
    try:
        # Work in progress that B waits on: a wait, not a stop, so only the cap ends the call.
        await create(app, TaskSpec(title="a", code="A"), TaskSpec(title="b", code="B", depends_on=["A"]))
        await app.write(work.claim, code="A", agent="holder")
        async with Client(build_server(app), mode="legacy") as c:
            with anyio.fail_after(BOUND / 2):
                out = await call(c, "task_claim", wait_seconds=3600, agent="w")
        assert out["claimed"] is False and out["outlook"] == "wait"
    finally:
        await app.close()


async def test_a_claim_that_commits_as_its_caller_goes_away_is_handed_straight_back(here):
    from taskloom.waiting import _attempt

    app, other = here
    await create(other, TaskSpec(title="contested", code="C"))
    with anyio.CancelScope() as gone:
        gone.cancel()  # the caller is gone before the claim's write returns
        await _attempt(app, waiting_services.Wanted(), None, app.clock.now() + 60, "ghost")
    assert gone.cancelled_caught
    row = await app.read(lambda tx, scope: tx.one("task_by_code", {"project": scope.project_id, "code": "C"}))
    assert (row["status"], row["claimed_by"], row["attempts"]) == ("ready", None, 0)
    kinds = await app.read(
        lambda tx, scope: [r["kind"] for r in tx.all("events_since", {"project": scope.project_id, "since": 0, "limit": 50})]
    )
    assert kinds[-2:] == ["task.claimed", "task.released"]


async def test_a_wait_reports_progress_to_a_client_that_asked_for_it(here, monkeypatch):
    import taskloom.waiting

    monkeypatch.setattr(taskloom.waiting, "PROGRESS_EVERY", 0.05)  # seconds, not the real 10
    app, _ = here
    heard: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        heard.append((done, total, message))

    async with Client(build_server(app), mode="legacy") as c:
        result = await c.call_tool("task_claim", {"wait_seconds": 0.3, "agent": "w"}, progress_callback=on_progress)
    assert not result.is_error
    assert len(heard) >= 2
    assert all(total == 0.3 and 0 < done <= 0.3 for done, total, _ in heard)
    assert [d for d, _, _ in heard] == sorted(d for d, _, _ in heard)
    assert heard[0][2].startswith("waiting")


async def test_a_waiting_inbox_refused_for_a_bad_task_filter_acknowledges_nothing(here):
    # Found by the fuzz suite: the acknowledgement committed before the filter was refused.
    from tests.conftest import call_error

    app, other = here
    async with Client(build_server(app), mode="legacy") as c:
        await call(c, "agent_init", agent="bob")
        sent = await other.write(messages.send, "bob", "please ack", None, True, None, agent="alice")
        err = await call_error(c, "message_inbox", wait_seconds=BOUND, ack=[sent.id], task="NOPE", agent="bob")
        assert err["code"] == "not_found"
        inbox = await call(c, "message_inbox", agent="bob")
    assert [(m["id"], m["acked"]) for m in inbox["messages"]] == [(sent.id, False)]
