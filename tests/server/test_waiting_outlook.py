"""A waiting claim's `outlook` in the cases a review found wrong: a wait that outlived the
project, failed or parked work called finished, a worker told to wait on failed work forever.

In-process server on a real SQLite file, a second connection as "another process", as
tests/server/test_waiting.py does.
"""

from __future__ import annotations

import anyio
import pytest
from mcp import Client

from taskloom.models import TaskSpec
from taskloom.server import build_server
from taskloom.services import work
from tests.conftest import call
from tests.server.test_waiting import BOUND, create, waiting_in_line


async def test_a_waiting_claim_returns_as_soon_as_the_last_open_task_is_done(here):
    app, other = here
    await create(other, TaskSpec(title="last", code="A"))
    await other.write(work.claim, code="A", agent="holder")
    result: dict = {}
    async with Client(build_server(app), mode="legacy") as c:

        async def wait() -> None:
            result.update(await call(c, "task_claim", wait_seconds=BOUND, agent="w"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await waiting_in_line(app, 1)
            await other.write(work.done, "A", "finished", agent="holder")
            started = anyio.current_time()
        took = anyio.current_time() - started  # the task group ends when the waiting call returns
    assert result["outlook"] == "finished"
    # The feed hears the change within a look (tens of ms); LOOK_AGAIN (15 s), a wait's look
    # without a change, and the deadline, BOUND (20 s), are both far beyond this bound.
    assert took < 5.0, f"the wait ended {took:.1f} s after the project finished"


@pytest.mark.parametrize("left", ["failed", "parked"])
async def test_a_project_with_a_failed_or_parked_task_is_not_called_finished(here, left):
    app, other = here
    await create(other, TaskSpec(title="a", code="A"))
    await other.write(work.claim, code="A", agent="holder")
    if left == "failed":
        await other.write(work.fail, "A", "gave up", False, agent="holder")
    else:
        await other.write(work.release, "A", None, agent="holder")
    async with Client(build_server(app), mode="legacy") as c:
        if left == "parked":
            await call(c, "task_update", task="A", status="backlog", agent="boss")
        out = await call(c, "task_claim", agent="w")
        status = await call(c, "project_status")
    assert status["counts"].get(left if left == "failed" else "backlog") == 1
    assert out["claimed"] is False
    assert out["outlook"] != "finished", out["message"]


async def test_a_worker_whose_only_work_waits_on_failed_work_is_told_it_is_stalled(here):
    app, other = here
    await create(
        other,
        TaskSpec(title="a", code="A"),
        TaskSpec(title="b", code="B", depends_on=["A"]),
        TaskSpec(title="for backend", code="C", role="backend"),
    )
    await other.write(work.claim, code="A", agent="holder")
    await other.write(work.fail, "A", "gave up", False, agent="holder")
    async with Client(build_server(app), mode="legacy") as c:
        await call(c, "agent_init", agent="w", role="frontend")
        out = await call(c, "task_claim", agent="w")
    assert out["claimed"] is False
    assert out["outlook"] == "stalled", out["message"]
