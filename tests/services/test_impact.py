"""What finishing a task unblocks, on a real SQLite file: direct dependents with their other open
dependencies, those that would become ready, everything downstream, and streams that would open."""

from __future__ import annotations

import pytest

from taskloom.errors import InvalidInput, NotFound
from taskloom.services import impact
from tests.conftest import call


async def create(client, *tasks: dict) -> list[str]:
    created = await call(client, "task_create", tasks=list(tasks), agent="carol")
    return [t["code"] for t in created["tasks"]]


async def finish(client, code: str) -> None:
    await call(client, "task_claim", task=code, agent="alice")
    await call(client, "task_done", task=code, summary="ok", agent="alice")


async def dependents(app, code: str, **kwargs):
    return await app.read(impact.dependents, code, **kwargs)


async def test_a_task_nothing_depends_on_unblocks_nothing(client, app):
    await create(client, {"code": "A", "title": "alone"})
    got = await dependents(app, "A")
    assert (got.task, got.dependents, got.direct, got.would_be_ready, got.transitive, got.streams_opening) == (
        "A", [], 0, [], 0, []
    )


async def test_dependents_with_their_other_open_dependencies_and_those_that_would_become_ready(client, app):
    await create(
        client,
        {"code": "A", "title": "a"},
        {"code": "X", "title": "still open"},
        {"code": "Y", "title": "to cancel"},
        {"code": "B", "title": "only A", "depends_on": ["A"]},
        {"code": "C", "title": "A and X", "depends_on": ["A", "X"]},
        {"code": "D", "title": "A and cancelled Y", "depends_on": ["A", "Y"]},
        {"code": "F", "title": "parked", "depends_on": ["A"], "backlog": True},
        {"code": "P", "title": "has a subtask", "depends_on": ["A"]},
        {"code": "P1", "title": "subtask", "parent": "P"},
        {"code": "E", "title": "after B and C", "depends_on": ["B", "C"]},
        {"code": "E2", "title": "after E", "depends_on": ["E"]},
    )
    await call(client, "task_update", task="Y", status="cancelled", reason="not needed")

    got = await dependents(app, "A")

    assert [(d.code, d.status, d.other_open) for d in got.dependents] == [
        ("B", "waiting", []),
        ("C", "waiting", ["X"]),
        ("D", "waiting", []),  # a cancelled dependency is satisfied
        ("F", "backlog", []),
        ("P", "waiting", []),
    ]
    # F is parked in the backlog, P waits for its subtask too.
    assert got.would_be_ready == ["B", "D"]
    assert got.direct == 5
    assert got.transitive == 7  # B, C, D, F, P, E (once, though it depends on two), E2

    # Finishing A really does it.
    await finish(client, "A")
    ready = {t["code"] for t in (await call(client, "task_list", status=["ready"]))["tasks"]}
    assert {"B", "D"} <= ready and not {"C", "F", "P"} & ready


async def test_a_finished_task_lists_its_dependents_but_unblocks_nothing_more(client, app):
    await create(client, {"code": "A", "title": "a"}, {"code": "B", "title": "b", "depends_on": ["A"]})
    await finish(client, "A")
    got = await dependents(app, "A")
    assert [(d.code, d.status) for d in got.dependents] == [("B", "ready")]
    assert (got.would_be_ready, got.streams_opening, got.transitive) == ([], [], 1)


async def test_the_last_open_task_of_a_stream_opens_the_streams_after_it_and_their_cross_stream_dependents(client, app):
    await call(client, "stream_create", code="build")
    await call(client, "stream_create", code="ship", name="Ship it", depends_on=["build"])
    await call(client, "stream_create", code="docs")
    await call(client, "stream_create", code="launch", depends_on=["build", "docs"])  # docs is not done
    await create(
        client,
        {"code": "A", "title": "a", "stream": "build"},
        {"code": "A2", "title": "a2", "stream": "build"},
        {"code": "Z", "title": "needs A", "stream": "ship", "depends_on": ["A"]},
        {"code": "W", "title": "docs", "stream": "docs"},
        {"code": "L", "title": "launch", "stream": "launch"},
    )
    before = await dependents(app, "A")
    assert before.streams_opening == []  # A2 is still open: build stays open
    assert before.would_be_ready == []  # Z's stream still waits on build

    await finish(client, "A2")
    got = await dependents(app, "A")
    assert [(s.code, s.name) for s in got.streams_opening] == [("ship", "Ship it")]
    assert got.would_be_ready == ["Z"]
    assert [(d.code, d.stream) for d in got.dependents] == [("Z", "ship")]

    await finish(client, "A")
    streams = {s["code"]: s["status"] for s in (await call(client, "stream_list"))["streams"]}
    assert (streams["ship"], streams["launch"]) == ("ready", "waiting")
    assert (await call(client, "task_get", task="Z"))["task"]["status"] == "ready"


async def test_a_task_in_a_stream_that_is_itself_waiting_opens_no_stream(client, app):
    await call(client, "stream_create", code="first")
    await call(client, "stream_create", code="second", depends_on=["first"])
    await call(client, "stream_create", code="third", depends_on=["second"])
    await create(client, {"code": "F", "title": "f", "stream": "first"}, {"code": "S", "title": "s", "stream": "second"})
    assert (await dependents(app, "S")).streams_opening == []
    assert [s.code for s in (await dependents(app, "F")).streams_opening] == ["second"]


async def test_the_list_is_capped_but_the_counts_are_whole(client, app):
    await create(client, {"code": "A", "title": "a"}, *({"title": f"d{i}", "depends_on": ["A"]} for i in range(4)))
    got = await dependents(app, "A", limit=2)
    assert len(got.dependents) == 2 and got.direct == 4 and got.transitive == 4
    assert got.would_be_ready == [d.code for d in got.dependents]


async def test_bad_input_is_a_clear_error(client, app):
    await create(client, {"code": "A", "title": "a"})
    with pytest.raises(NotFound, match="Task NOPE does not exist"):
        await dependents(app, "NOPE")
    with pytest.raises(InvalidInput, match="limit must be"):
        await dependents(app, "A", limit=0)
