"""The overview and task pages show what the services say, empty or full."""

from __future__ import annotations

import json
import re

import anyio

from taskloom.services import agents, work
from tests.server.test_transports import TASKLOOM
from tests.web.conftest import import_example
from tests.web.test_artifacts_pages import put


async def test_an_empty_project_says_how_to_start(web):
    page = await web.get("/ui/")
    assert page.status_code == 200
    assert "taskloom import plan.yaml" in page.text and "No agent has joined yet" in page.text


async def test_the_overview_counts_are_taskloom_status_counts(app, web, settings, tmp_path):
    await import_example(app)
    await app.write(work.claim, code="EXP-1", agent="bob")
    await app.write(work.done, "EXP-1", "schema in docs/export-schema.md", agent="bob")
    await app.write(agents.touch, "carol")  # as the tool layer does on each call
    await app.write(work.claim, code="EXP-2", agent="carol")
    argv = [TASKLOOM, "status", "--json", "--db", str(settings.db_path), "--project", "test"]
    status = (await anyio.run_process(argv, check=True)).stdout.decode()
    counts = json.loads(status)["counts"]

    page = (await web.get("/ui/p/counts")).text

    tally = re.findall(r'<span class="n">(\d+)</span> ([a-z ]+)</li>', page)
    shown = {s.replace(" ", "_"): int(n) for n, s in tally}
    shown.pop("in_all")
    assert shown == counts and sum(counts.values()) == 4
    roster = (await web.get("/ui/p/agents")).text
    assert "carol" in roster and "/ui/task/EXP-2" in roster


async def test_a_task_page_links_its_artifacts_and_says_what_finishing_it_unblocks(app, web):
    await import_example(app)
    sha = await put(app, "# Export schema\n", "export-schema.md", "text/markdown", links=["task:EXP-1"])

    page = (await web.get("/ui/task/EXP-1")).text

    assert f"/ui/artifacts/{sha}" in page and "export-schema.md" in page
    assert "Finishing it unblocks" in page and "/ui/task/EXP-2" in page and "ready next" in page
    assert (await web.get(f"/ui/artifacts/{sha}")).status_code == 200


async def test_the_graph_region_draws_the_example_dag_with_the_critical_path_of_work_left(app, web):
    await import_example(app)
    await app.write(work.claim, code="EXP-1", agent="bob")
    await app.write(work.done, "EXP-1", "done", agent="bob")

    graph = (await web.get("/ui/p/graph")).text

    nodes = dict(re.findall(r'<a href="/ui/task/(EXP-\d)"><g class="node k-task (s-[a-z_]+)', graph))
    assert nodes == {"EXP-1": "s-done", "EXP-2": "s-ready", "EXP-3": "s-ready", "EXP-4": "s-waiting"}
    path = re.search(r"Critical path of the work left \((\d+)\)", graph)
    assert path and path.group(1) == "2"  # EXP-1 is done: the chain left is EXP-2 or EXP-3, then EXP-4
    assert "EXP-1" not in graph[path.end():]


async def test_the_stream_graph_can_be_asked_for_at_any_size(app, web):
    await import_example(app)
    tasks_view = (await web.get("/ui/p/graph")).text
    streams_view = (await web.get("/ui/p/graph?view=streams")).text
    assert "k-task" in tasks_view and "k-stream" not in tasks_view
    assert "k-stream" in streams_view and "k-task" not in streams_view
    assert 'href="/ui/?stream=export-release"' in streams_view
