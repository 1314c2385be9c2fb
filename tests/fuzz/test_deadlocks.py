"""Cycles the per-graph checks miss: waits that run through a parent or a stream.

The fuzzer checks task_deps, stream_deps and parents separately, and each stays acyclic. But a
task also waits for its open subtasks and for the streams its stream depends on, so a cycle can
close through those edges: both tasks then wait forever and nothing reports it. Found while
fuzzing the graph (test_fuzz_tools.py); services/waits.py now refuses each of them.
"""

from __future__ import annotations

from tests.fuzz.rig import Rig


async def test_a_subtask_that_depends_on_its_parent_is_refused_as_a_cycle(rig: Rig):
    async with rig.session() as c:
        created = await rig.call(
            c,
            "task_create",
            {"tasks": [{"title": "p", "code": "P"}, {"title": "c", "code": "C", "parent": "P", "depends_on": ["P"]}]},
        )
        assert created.code == "cycle", created.text


async def test_a_task_that_depends_on_work_waiting_for_its_own_stream_is_refused_as_a_cycle(rig: Rig):
    # Seeded: stream api depends on db, and T-2 is in api.
    async with rig.session() as c:
        created = await rig.call(c, "task_create", {"tasks": [{"title": "d", "stream": "db", "depends_on": ["T-2"]}]})
        assert created.code == "cycle", created.text


async def test_a_dependency_added_later_that_closes_a_loop_through_a_stream_is_refused(rig: Rig):
    async with rig.session() as c:
        made = await rig.call(c, "task_create", {"tasks": [{"title": "late", "stream": "db"}]})
        assert made.ok, made.text
        code = made.structured["tasks"][0]["code"]
        updated = await rig.call(c, "task_update", {"task": code, "depends_on": ["T-2"]})
        assert updated.code == "cycle", updated.text
        assert "stream" in updated.text  # the path names the stream it runs through


async def test_moving_a_task_into_a_stream_its_dependency_waits_for_is_refused(rig: Rig):
    async with rig.session() as c:
        made = await rig.call(c, "task_create", {"tasks": [{"title": "floating", "depends_on": ["T-2"]}]})
        assert made.ok, made.text
        code = made.structured["tasks"][0]["code"]
        moved = await rig.call(c, "task_update", {"task": code, "stream": "db"})
        assert moved.code == "cycle", moved.text


async def test_a_stream_dependency_that_makes_a_stream_wait_for_its_own_dependents_is_refused(rig: Rig):
    async with rig.session() as c:
        assert (await rig.call(c, "stream_create", {"code": "docs"})).ok
        assert (await rig.call(c, "stream_create", {"code": "site", "depends_on": ["docs"]})).ok
        tasks = await rig.call(
            c,
            "task_create",
            {"tasks": [{"title": "write", "code": "W", "stream": "docs"}, {"title": "build", "code": "B", "stream": "site"}]},
        )
        assert tasks.ok, tasks.text
        # W (docs) depending on B (site) is refused already: site waits for all of docs.
        assert (await rig.call(c, "task_update", {"task": "W", "depends_on": ["B"]})).code == "cycle"
        # And the other way round: with W depending on a task of a new stream, that stream may
        # not come to depend on docs.
        extra = await rig.call(
            c, "task_create", {"tasks": [{"title": "ref", "code": "R", "stream": "api"}]}
        )
        assert extra.ok, extra.text
        assert (await rig.call(c, "task_update", {"task": "W", "depends_on": ["R"]})).ok
        looped = await rig.call(c, "stream_create", {"code": "api", "depends_on": ["db", "docs"]})
        assert looped.code == "cycle", looped.text


async def test_a_diamond_through_streams_and_subtasks_without_a_loop_is_accepted(rig: Rig):
    async with rig.session() as c:
        made = await rig.call(
            c,
            "task_create",
            {"tasks": [
                {"title": "parent", "code": "DP", "stream": "ui"},
                {"title": "child", "code": "DC", "parent": "DP", "stream": "ui", "depends_on": ["T-2"]},
            ]},
        )
        assert made.ok, made.text
