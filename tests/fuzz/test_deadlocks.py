"""Cycles the per-graph checks miss: waits that run through a parent or a stream.

The fuzzer checks task_deps, stream_deps and parents separately, and each stays acyclic. But a
task also waits for its open subtasks and for the streams its stream depends on, so a cycle can
close through those edges: both tasks then wait forever and nothing reports it. Found while
fuzzing the graph (test_fuzz_tools.py); each case here is one the server accepts today.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fuzz.rig import Rig, seed_plan


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def rig() -> AsyncIterator[Rig]:
    async with Rig.open(seed_plan) as rig:
        yield rig


@pytest.mark.xfail(
    strict=True, reason="BUG: a subtask may depend on its own parent; each then waits for the other forever"
)
async def test_a_subtask_that_depends_on_its_parent_is_refused_as_a_cycle(rig: Rig):
    async with rig.session() as c:
        created = await rig.call(
            c,
            "task_create",
            {"tasks": [{"title": "p", "code": "P"}, {"title": "c", "code": "C", "parent": "P", "depends_on": ["P"]}]},
        )
        assert created.code == "cycle", created.text


@pytest.mark.xfail(
    strict=True,
    reason="BUG: a task in stream db may depend on a task in stream api, which waits for db to be done: a deadlock",
)
async def test_a_task_that_depends_on_work_waiting_for_its_own_stream_is_refused_as_a_cycle(rig: Rig):
    # Seeded: stream api depends on db, and T-2 is in api.
    async with rig.session() as c:
        created = await rig.call(c, "task_create", {"tasks": [{"title": "d", "stream": "db", "depends_on": ["T-2"]}]})
        assert created.code == "cycle", created.text
