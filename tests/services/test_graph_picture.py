"""graph_picture: what the dashboard's DAG picture is drawn from, read from a real database, and
the layout cache over it (a status change re-colours; a structural change lays out again)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from taskloom.domain.layout import LayoutCache
from taskloom.errors import NotFound
from taskloom.models import StreamSpec, TaskSpec
from taskloom.services import creation, planning, tasks, work
from taskloom.services.graphs import graph_picture
from taskloom.web.svg import picture_svg

SVG = "{http://www.w3.org/2000/svg}"


async def plan(app) -> None:
    # api <- web (declared); W-1 also waits on A-2 (a cross-stream task edge); L-1 has no stream.
    await app.write(
        planning.upsert_streams, [StreamSpec(code="api"), StreamSpec(code="web", depends_on=["api"])]
    )
    await app.write(
        creation.create_tasks,
        [
            TaskSpec(code="A-1", title="Schema", stream="api"),
            TaskSpec(code="A-2", title="Endpoints", stream="api", depends_on=["A-1"]),
            TaskSpec(code="W-1", title="Pages", stream="web", depends_on=["A-2"]),
            TaskSpec(code="L-1", title="Loose end", depends_on=["A-1"]),
        ],
    )


async def finish(app, code: str) -> None:
    assert (await app.write(work.claim, code=code, agent="w")).claimed
    await app.write(work.done, code, "finished", agent="w")


async def test_the_picture_has_every_task_with_its_stream_every_edge_and_every_stream(app):
    await plan(app)
    p = await app.read(graph_picture, None)
    assert [(t.code, t.title, t.status, t.stream) for t in p.tasks] == [
        ("A-1", "Schema", "ready", "api"),
        ("A-2", "Endpoints", "waiting", "api"),
        ("W-1", "Pages", "waiting", "web"),
        ("L-1", "Loose end", "waiting", None),
    ]
    assert sorted(p.edges) == [("A-2", "A-1"), ("L-1", "A-1"), ("W-1", "A-2")]
    assert [(s.code, s.depends_on, dict(s.counts)) for s in p.streams] == [
        ("api", (), {"ready": 1, "waiting": 1}),
        ("web", ("api",), {"waiting": 1}),
    ]
    assert p.graph_version > 0 and p.stream is None


async def test_a_stream_picture_holds_only_its_tasks_and_the_edges_among_them(app):
    await plan(app)
    p = await app.read(graph_picture, "api")
    assert [t.code for t in p.tasks] == ["A-1", "A-2"]
    assert p.edges == (("A-2", "A-1"),)
    assert [s.code for s in p.streams] == ["api", "web"]  # the stream list stays whole
    assert p.stream == "api"


async def test_an_unknown_stream_is_not_found_with_a_next_step(app):
    with pytest.raises(NotFound) as caught:
        await app.read(graph_picture, "nope")
    assert "stream_list" in caught.value.hint


async def test_a_picture_past_the_page_limit_is_not_refused(app):
    # graph_get refuses more than MAX_PAGE (200) tasks; the picture reads them all and collapses.
    await app.write(creation.create_tasks, [TaskSpec(code=f"T-{i}", title=f"t{i}") for i in range(1, 201)])
    await app.write(creation.create_tasks, [TaskSpec(code=f"U-{i}", title=f"u{i}") for i in range(1, 101)])
    p = await app.read(graph_picture, None)
    assert len(p.tasks) == 300


async def test_a_status_change_recolours_the_cached_layout_without_laying_it_out_again(app):
    await plan(app)
    cache = LayoutCache()
    before = cache.layout(await app.read(graph_picture, None))
    await finish(app, "A-1")
    after = cache.layout(await app.read(graph_picture, None))
    assert (cache.misses, cache.hits) == (1, 1)
    assert [(b.x, b.y) for b in after.boxes] == [(b.x, b.y) for b in before.boxes]
    assert {b.code: b.status for b in after.boxes}["A-1"] == "done"
    # The critical path of remaining work was, W-1; with A-1 done it is A-2, W-1.
    assert before.critical_path == ("A-1", "A-2", "W-1")
    assert after.critical_path == ("A-2", "W-1")


async def test_moving_a_task_to_another_stream_lays_the_picture_out_again(app):
    await plan(app)
    cache = LayoutCache()
    cache.layout(await app.read(graph_picture, None), limit=2)
    await app.write(tasks.update, "L-1", {"stream": "web"})
    moved = cache.layout(await app.read(graph_picture, None), limit=2)
    assert cache.misses == 2
    assert [b.code for b in moved.boxes] == ["api", "web"]  # no "(no stream)" node any more


async def test_a_new_dependency_lays_the_picture_out_again(app):
    await plan(app)
    cache = LayoutCache()
    cache.layout(await app.read(graph_picture, None))
    await app.write(
        creation.create_tasks, [TaskSpec(code="W-2", title="More pages", stream="web", depends_on=["W-1"])]
    )
    grown = cache.layout(await app.read(graph_picture, None))
    assert cache.misses == 2
    assert "W-2" in {b.code for b in grown.boxes}


async def test_a_project_past_the_limit_is_drawn_as_its_streams_in_svg_that_parses(app):
    await app.write(
        planning.upsert_streams, [StreamSpec(code="api"), StreamSpec(code="web", depends_on=["api"])]
    )
    for stream, other in (("api", None), ("web", "api")):
        await app.write(
            creation.create_tasks,
            [
                TaskSpec(
                    code=f"{stream}-{i}",
                    title=f"<b>{stream}</b> step {i}",
                    stream=stream,
                    depends_on=[f"{stream}-{i - 1}"] if i else ([f"{other}-{i + 10}"] if other else []),
                )
                for i in range(160)
            ],
        )
    drawn = LayoutCache().layout(await app.read(graph_picture, None))
    assert drawn.mode == "streams" and drawn.tasks == 320
    assert [(b.code, b.detail) for b in drawn.boxes] == [
        ("api", "160 tasks, 0 done"),
        ("web", "160 tasks, 0 done"),
    ]
    # The longest chain left: api-0 .. api-10, then web-0 .. web-159.
    assert drawn.critical_path[:2] == ("api-0", "api-1") and drawn.critical_path[-1] == "web-159"
    assert len(drawn.critical_path) == 11 + 160
    root = ET.fromstring(str(picture_svg(drawn)))
    assert [a.get("href") for a in root.iter(f"{SVG}a")] == ["/ui/?stream=api", "/ui/?stream=web"]
    assert [g.get("class") for g in root.iter(f"{SVG}g") if "node" in g.get("class").split()] == [
        "node k-stream s-ready cp",
        "node k-stream s-waiting cp",
    ]
    one = LayoutCache().layout(await app.read(graph_picture, "web"))
    assert one.mode == "tasks" and len(one.boxes) == 160
