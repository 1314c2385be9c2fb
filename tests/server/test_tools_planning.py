"""Planning tools over MCP: project status, sprints, streams, plan import and the task graph."""

from __future__ import annotations

import pytest

from tests.conftest import call, call_error


async def finish(client, code: str, agent: str = "tester") -> dict:
    """Claim a ready task by code and finish it; return the task_done result."""
    await call(client, "task_claim", task=code, agent=agent)
    return await call(client, "task_done", task=code, summary=f"{code} finished", agent=agent)


async def nothing_stored(client) -> None:
    assert (await call(client, "sprint_list"))["sprints"] == []
    assert (await call(client, "stream_list"))["streams"] == []
    page = await call(client, "task_list")
    assert page["total"] == 0 and page["tasks"] == []


# ---------------------------------------------------------------- project_status


async def test_project_status_of_a_new_project_is_empty(client):
    status = await call(client, "project_status")
    assert status["project"] == "test"
    assert status["counts"] == {}
    assert status["total"] == 0
    assert status["streams"] == []
    assert status["ready_by_role"] == {}
    assert status["in_progress"] == []
    assert status["resolver_last_run"] is None


async def test_project_status_counts_tasks_per_status_ready_work_per_role_and_who_holds_what(client):
    await call(client, "stream_create", code="api")
    await call(
        client,
        "task_create",
        tasks=[
            {"title": "schema", "role": "dev", "stream": "api"},
            {"title": "endpoint", "role": "dev", "stream": "api", "depends_on": ["T-1"]},
            {"title": "docs"},
            {"title": "test plan", "role": "qa"},
            {"title": "someday", "backlog": True},
        ],
    )
    await call(client, "task_claim", task="T-1", agent="alice")

    status = await call(client, "project_status")

    assert status["counts"] == {"in_progress": 1, "waiting": 1, "ready": 2, "backlog": 1}
    assert status["total"] == 5
    assert status["ready_by_role"] == {"(any)": 1, "qa": 1}
    assert [(t["code"], t["claimed_by"]) for t in status["in_progress"]] == [("T-1", "alice")]
    [api] = status["streams"]
    assert (api["code"], api["status"], api["total"]) == ("api", "active", 2)
    assert api["counts"] == {"in_progress": 1, "waiting": 1}


# ---------------------------------------------------------------- sprints


async def test_sprint_create_makes_a_planned_sprint_titled_by_its_code_by_default(client):
    sprint = await call(client, "sprint_create", code="S1")
    assert sprint == {"code": "S1", "title": "S1", "goal": "", "status": "planned", "counts": {}}


async def test_sprint_create_with_an_existing_code_updates_that_sprint(client):
    await call(client, "sprint_create", code="S1", title="First", goal="ship the api")
    updated = await call(
        client, "sprint_create", code="S1", title="First sprint", goal="ship it all", status="active"
    )
    assert (updated["title"], updated["goal"], updated["status"]) == ("First sprint", "ship it all", "active")
    sprints = (await call(client, "sprint_list"))["sprints"]
    assert [(s["code"], s["title"], s["status"]) for s in sprints] == [("S1", "First sprint", "active")]


async def test_sprint_create_updating_only_the_title_keeps_the_sprint_status_and_goal(client):
    await call(client, "sprint_create", code="S1", title="First", goal="ship the api", status="active")
    renamed = await call(client, "sprint_create", code="S1", title="Renamed")
    assert renamed["title"] == "Renamed"
    assert renamed["goal"] == "ship the api"
    assert renamed["status"] == "active", "renaming an active sprint must not quietly set it back to planned"


async def test_sprint_create_refuses_an_unknown_status(client):
    err = await call_error(client, "sprint_create", code="S1", status="finished")
    assert err["code"] == "invalid_input"
    assert "status" in err["message"]
    assert (await call(client, "sprint_list"))["sprints"] == []


async def test_sprint_list_shows_every_sprint_in_creation_order_with_task_counts_per_status(client):
    await call(client, "sprint_create", code="S1")
    await call(client, "sprint_create", code="S2", status="active")
    await call(
        client,
        "task_create",
        tasks=[
            {"title": "a", "sprint": "S2"},
            {"title": "b", "sprint": "S2", "depends_on": ["T-1"]},
            {"title": "c"},
        ],
    )
    sprints = (await call(client, "sprint_list"))["sprints"]
    assert [s["code"] for s in sprints] == ["S1", "S2"]
    assert sprints[0]["counts"] == {}
    assert sprints[1]["counts"] == {"ready": 1, "waiting": 1}
    assert sprints[1]["status"] == "active"


# ---------------------------------------------------------------- streams


async def test_stream_create_makes_a_ready_stream_named_by_its_code_by_default(client):
    stream = await call(client, "stream_create", code="api", description="the HTTP API")
    assert stream == {
        "code": "api",
        "name": "api",
        "description": "the HTTP API",
        "status": "ready",
        "depends_on": [],
        "waits_on_empty": [],
        "counts": {},
        "total": 0,
    }


async def test_a_stream_waits_until_every_stream_it_depends_on_is_done(client):
    await call(client, "stream_create", code="db")
    await call(client, "stream_create", code="auth")
    api = await call(client, "stream_create", code="api", depends_on=["db", "auth"])
    assert api["status"] == "waiting"
    assert api["depends_on"] == ["db", "auth"]
    await call(
        client,
        "task_create",
        tasks=[
            {"title": "tables", "stream": "db"},
            {"title": "login", "stream": "auth"},
            {"title": "routes", "stream": "api"},
        ],
    )
    assert (await call(client, "task_get", task="T-3"))["task"]["status"] == "waiting"

    first = await finish(client, "T-1")
    assert first["unblocked"] == []
    assert (await call(client, "stream_get", stream="api"))["stream"]["status"] == "waiting"

    second = await finish(client, "T-2")
    assert second["unblocked"] == ["T-3"]
    streams = {s["code"]: s["status"] for s in (await call(client, "stream_list"))["streams"]}
    assert streams == {"db": "done", "auth": "done", "api": "ready"}


async def test_stream_create_with_an_unknown_dependency_is_not_found_and_creates_nothing(client):
    err = await call_error(client, "stream_create", code="api", depends_on=["db"])
    assert err["code"] == "not_found"
    assert "db" in err["message"]
    assert err["hint"]
    assert (await call(client, "stream_list"))["streams"] == []


async def test_stream_create_with_an_existing_code_updates_it_and_replaces_its_dependencies(client):
    await call(client, "stream_create", code="db")
    await call(client, "stream_create", code="auth")
    await call(client, "stream_create", code="api", name="API", depends_on=["db"])

    updated = await call(
        client, "stream_create", code="api", name="Public API", description="v2", depends_on=["auth"]
    )

    assert (updated["name"], updated["description"], updated["depends_on"]) == ("Public API", "v2", ["auth"])
    assert [s["code"] for s in (await call(client, "stream_list"))["streams"]] == ["db", "auth", "api"]


async def test_stream_create_refuses_a_dependency_cycle_printing_the_path_and_keeps_the_old_dependencies(
    client,
):
    await call(client, "stream_create", code="db")
    await call(client, "stream_create", code="api", depends_on=["db"])

    err = await call_error(client, "stream_create", code="db", depends_on=["api"])

    assert err["code"] == "cycle"
    assert "db -> api -> db" in err["message"] or "api -> db -> api" in err["message"]
    assert err["hint"]
    db = (await call(client, "stream_get", stream="db"))["stream"]
    assert db["depends_on"] == []


async def test_stream_create_refuses_a_stream_that_depends_on_itself(client):
    err = await call_error(client, "stream_create", code="api", depends_on=["api"])
    assert err["code"] == "cycle"
    assert "api -> api" in err["message"]
    assert (await call(client, "stream_list"))["streams"] == []


async def test_stream_list_shows_each_stream_with_state_dependencies_and_task_counts(client):
    await call(client, "stream_create", code="db")
    await call(client, "stream_create", code="api", depends_on=["db"])
    await call(client, "task_create", tasks=[{"title": "t", "stream": "db"}, {"title": "u", "stream": "api"}])
    streams = (await call(client, "stream_list"))["streams"]
    assert [(s["code"], s["status"], s["depends_on"], s["counts"], s["total"]) for s in streams] == [
        ("db", "ready", [], {"ready": 1}, 1),
        ("api", "waiting", ["db"], {"waiting": 1}, 1),
    ]


async def test_stream_get_returns_the_stream_with_its_tasks_only(client):
    await call(client, "stream_create", code="api")
    await call(
        client,
        "task_create",
        tasks=[
            {"title": "routes", "stream": "api"},
            {"title": "elsewhere"},
            {"title": "auth", "stream": "api"},
        ],
    )
    view = await call(client, "stream_get", stream="api")
    assert view["stream"]["code"] == "api"
    assert view["stream"]["total"] == 2
    assert [t["code"] for t in view["tasks"]] == ["T-1", "T-3"]
    assert all(t["stream"] == "api" for t in view["tasks"])


async def test_stream_get_of_an_unknown_stream_is_not_found_with_a_hint(client):
    err = await call_error(client, "stream_get", stream="nope")
    assert err["code"] == "not_found"
    assert "nope" in err["message"]
    assert "stream_list" in err["hint"]


# ---------------------------------------------------------------- plan_import

PLAN = {
    "sprints": [{"code": "S1", "title": "Sprint one", "status": "active"}],
    "streams": [
        {"code": "api", "depends_on": ["db"]},  # depends on a stream listed later in the same plan
        {"code": "db"},
    ],
    "tasks": [
        {"key": "schema", "title": "Design the schema", "stream": "db", "sprint": "S1"},
        {"code": "MIG", "title": "Write migrations", "stream": "db", "depends_on": ["schema"]},
        {"key": "routes", "title": "Routes", "stream": "api", "depends_on": ["MIG"]},
        {"key": "readme", "title": "README", "role": "writer"},
    ],
}


async def test_plan_import_lays_out_sprints_streams_tasks_and_dependencies(client):
    result = await call(client, "plan_import", **PLAN)

    assert result == {
        "warnings": [],
        "roles": 0,
        "sprints": 1,
        "streams": 2,
        "tasks_created": 4,
        "tasks_existing": 0,
        "dependencies": 2,
        "ready": 2,
    }
    sprints = (await call(client, "sprint_list"))["sprints"]
    assert [(s["code"], s["status"], s["counts"]) for s in sprints] == [("S1", "active", {"ready": 1})]
    streams = {
        s["code"]: (s["status"], s["depends_on"]) for s in (await call(client, "stream_list"))["streams"]
    }
    assert streams == {"api": ("waiting", ["db"]), "db": ("ready", [])}
    tasks = {t["code"]: t for t in (await call(client, "task_list"))["tasks"]}
    assert set(tasks) == {"T-1", "MIG", "T-2", "T-3"}
    assert {c: t["status"] for c, t in tasks.items()} == {
        "T-1": "ready",
        "MIG": "waiting",
        "T-2": "waiting",
        "T-3": "ready",
    }
    routes = (await call(client, "task_get", task="T-2"))["task"]
    assert routes["key"] == "routes"
    assert routes["depends_on"] == ["MIG"]
    assert (await call(client, "task_get", task="MIG"))["task"]["depends_on"] == ["T-1"]


async def test_importing_the_same_plan_again_creates_nothing_new(client):
    await call(client, "plan_import", **PLAN)
    before = await call(client, "project_status")

    again = await call(client, "plan_import", **PLAN)

    assert again["tasks_created"] == 0
    assert again["tasks_existing"] == 4
    assert again["dependencies"] == 0
    after = await call(client, "project_status")
    assert after["counts"] == before["counts"]
    assert after["total"] == 4
    assert len((await call(client, "sprint_list"))["sprints"]) == 1
    assert len((await call(client, "stream_list"))["streams"]) == 2


async def test_a_reimport_after_work_started_leaves_the_work_alone(client):
    await call(client, "plan_import", **PLAN)
    await finish(client, "T-1")

    again = await call(client, "plan_import", **PLAN)

    assert again["tasks_created"] == 0
    schema = (await call(client, "task_get", task="T-1"))["task"]
    assert schema["status"] == "done"
    assert (await call(client, "task_get", task="MIG"))["task"]["status"] == "ready"


async def test_plan_import_of_an_empty_plan_is_a_harmless_no_op(client):
    result = await call(client, "plan_import")
    assert result == {
        "warnings": [],
        "roles": 0,
        "sprints": 0,
        "streams": 0,
        "tasks_created": 0,
        "tasks_existing": 0,
        "dependencies": 0,
        "ready": 0,
    }
    await nothing_stored(client)


def _broken(**changes):
    plan = {k: [dict(x) for x in v] for k, v in PLAN.items()}
    for path, value in changes.items():
        part, index, field = path.split(".")
        plan[part][int(index)][field] = value
    return plan


@pytest.mark.parametrize(
    ("plan", "code"),
    [
        pytest.param(
            _broken(**{"tasks.3.depends_on": ["no-such-task"]}), "not_found", id="unknown-dependency"
        ),
        pytest.param(_broken(**{"tasks.0.depends_on": ["routes"]}), "cycle", id="task-cycle"),
        pytest.param(_broken(**{"streams.1.depends_on": ["api"]}), "cycle", id="stream-cycle"),
        pytest.param(_broken(**{"tasks.3.stream": "ui"}), "not_found", id="unknown-stream"),
        pytest.param(_broken(**{"tasks.3.sprint": "S9"}), "not_found", id="unknown-sprint"),
        pytest.param(_broken(**{"tasks.3.key": None}), "invalid_input", id="task-without-key-or-code"),
        pytest.param(
            _broken(**{"tasks.3.description": "x" * (64 * 1024 + 1)}), "too_large", id="huge-description"
        ),
    ],
)
async def test_an_error_in_any_part_of_a_plan_leaves_nothing_behind(client, plan, code):
    err = await call_error(client, "plan_import", **plan)
    assert err["code"] == code
    assert err["hint"]
    await nothing_stored(client)


async def test_a_plan_task_without_key_or_code_is_invalid_input_naming_it(client):
    err = await call_error(
        client, "plan_import", tasks=[{"key": "a", "title": "fine"}, {"title": "Anonymous"}]
    )
    assert err["code"] == "invalid_input"
    assert "tasks[1]" in err["message"]
    assert "Anonymous" in err["message"]
    assert "key" in err["hint"]
    await nothing_stored(client)


async def test_a_failed_reimport_keeps_the_earlier_import_intact(client):
    await call(client, "plan_import", **PLAN)
    extended = _broken()
    extended["sprints"].append({"code": "S2"})
    extended["streams"].append({"code": "ui"})
    extended["tasks"].append({"key": "extra", "title": "Would be new", "depends_on": ["missing"]})

    err = await call_error(client, "plan_import", **extended)

    assert err["code"] == "not_found"
    assert (await call(client, "task_list"))["total"] == 4
    assert [s["code"] for s in (await call(client, "sprint_list"))["sprints"]] == ["S1"]
    assert [s["code"] for s in (await call(client, "stream_list"))["streams"]] == ["api", "db"]


# ---------------------------------------------------------------- graph_get


async def _diamond(client) -> None:
    await call(
        client,
        "task_create",
        tasks=[
            {"title": "base"},  # T-1
            {"title": "left", "depends_on": ["T-1"]},  # T-2
            {"title": "right", "depends_on": ["T-1"]},  # T-3
            {"title": "top", "depends_on": ["T-2", "T-3"]},  # T-4
            {"title": "alone"},  # T-5
        ],
    )


async def test_graph_get_gives_each_task_its_depth_and_rank(client):
    await _diamond(client)
    graph = await call(client, "graph_get")
    nodes = {n["code"]: (n["depth"], n["rank"], n["status"]) for n in graph["nodes"]}
    assert nodes == {
        "T-1": (0, 3, "ready"),
        "T-2": (1, 2, "waiting"),
        "T-3": (1, 2, "waiting"),
        "T-4": (2, 1, "waiting"),
        "T-5": (0, 1, "ready"),
    }
    assert sorted(map(tuple, graph["edges"])) == [
        ("T-2", "T-1"),
        ("T-3", "T-1"),
        ("T-4", "T-2"),
        ("T-4", "T-3"),
    ]


async def test_graph_get_gives_the_critical_path_first_dependency_first(client):
    await _diamond(client)
    path = (await call(client, "graph_get"))["critical_path"]
    assert path in (["T-1", "T-2", "T-4"], ["T-1", "T-3", "T-4"])


async def test_graph_get_ranks_count_work_added_later_on_existing_tasks(client):
    await _diamond(client)
    await call(client, "task_create", tasks=[{"title": "roof", "depends_on": ["T-4"]}])
    graph = await call(client, "graph_get")
    assert {n["code"]: n["rank"] for n in graph["nodes"]}["T-1"] == 4
    assert graph["critical_path"][0] == "T-1" and graph["critical_path"][-1] == "T-6"
    assert len(graph["critical_path"]) == 4


async def test_graph_get_renders_mermaid_with_every_task_and_edge(client):
    await _diamond(client)
    mermaid = (await call(client, "graph_get"))["mermaid"]
    lines = mermaid.splitlines()
    assert lines[0] == "graph TD"
    for code, title in [("T-1", "base"), ("T-2", "left"), ("T-3", "right"), ("T-4", "top"), ("T-5", "alone")]:
        assert f"{code}: {title}" in mermaid
    assert sum("-->" in line for line in lines) == 4
    assert ":::ready" in mermaid and ":::waiting" in mermaid


async def test_graph_get_of_an_empty_project_is_empty(client):
    graph = await call(client, "graph_get")
    assert graph["nodes"] == [] and graph["edges"] == [] and graph["critical_path"] == []
    assert graph["mermaid"].startswith("graph TD")


async def test_graph_get_filtered_by_stream_shows_only_that_streams_tasks_and_edges(client):
    await call(client, "stream_create", code="api")
    await call(
        client,
        "task_create",
        tasks=[
            {"title": "outside"},
            {"title": "in one", "stream": "api", "depends_on": ["T-1"]},
            {"title": "in two", "stream": "api", "depends_on": ["T-2"]},
        ],
    )
    graph = await call(client, "graph_get", stream="api")
    assert [n["code"] for n in graph["nodes"]] == ["T-2", "T-3"]
    assert [tuple(e) for e in graph["edges"]] == [("T-3", "T-2")]
    assert graph["critical_path"] == ["T-2", "T-3"]


async def test_graph_get_of_an_unknown_stream_is_not_found(client):
    err = await call_error(client, "graph_get", stream="nope")
    assert err["code"] == "not_found"


async def test_graph_get_over_200_tasks_is_too_large_unless_filtered_by_stream(client):
    await call(
        client,
        "plan_import",
        streams=[{"code": "big"}, {"code": "small"}],
        tasks=[{"key": f"b{i}", "title": f"big {i}", "stream": "big"} for i in range(150)]
        + [{"key": f"s{i}", "title": f"small {i}", "stream": "small"} for i in range(51)],
    )

    err = await call_error(client, "graph_get")

    assert err["code"] == "too_large"
    assert "201" in err["message"]
    assert "stream" in err["hint"]
    assert len((await call(client, "graph_get", stream="big"))["nodes"]) == 150
    assert len((await call(client, "graph_get", stream="small"))["nodes"]) == 51


async def test_graph_get_of_exactly_200_tasks_is_allowed(client):
    await call(client, "task_create", tasks=[{"title": f"t{i}"} for i in range(200)])
    assert len((await call(client, "graph_get"))["nodes"]) == 200


# ---------------------------------------------------------------- streams waiting on empty streams


async def test_stream_create_flags_a_dependency_on_a_stream_with_no_tasks_until_it_gets_one(client):
    await call(client, "stream_create", code="design")
    api = await call(client, "stream_create", code="api", depends_on=["design"])
    assert (api["status"], api["waits_on_empty"]) == ("waiting", ["design"])

    await call(client, "task_create", tasks=[{"title": "sketch", "stream": "design"}])

    assert (await call(client, "stream_get", stream="api"))["stream"]["waits_on_empty"] == []


async def test_status_brief_and_board_say_which_stream_waits_forever_on_an_empty_one(client, app):
    from taskloom.cli.board import render
    from taskloom.models import ProjectStatus
    from taskloom.services import briefing

    await call(client, "stream_create", code="design")
    await call(client, "stream_create", code="api", depends_on=["design"])
    await call(client, "task_create", tasks=[{"title": "endpoint", "stream": "api"}])

    status = await call(client, "project_status")
    assert {s["code"]: s["waits_on_empty"] for s in status["streams"]} == {"design": [], "api": ["design"]}
    board = render(ProjectStatus.model_validate(status)).splitlines()
    [stuck] = [line for line in board if "STUCK" in line]
    assert stuck.strip().startswith("api") and stuck.endswith("STUCK: waits on design, which have no tasks")
    brief = await app.read(briefing.orchestrator_brief, 120.0, 900.0)
    assert "- Stream api waits on design, which has no tasks: add tasks there or drop the dependency." in brief


async def test_plan_import_warns_of_streams_left_waiting_on_streams_with_no_tasks(client):
    plan = {
        "streams": [{"code": "design"}, {"code": "api", "depends_on": ["design"]}, {"code": "ui", "depends_on": ["api"]}],
        "tasks": [{"code": "A1", "title": "endpoint", "stream": "api"}, {"code": "U1", "title": "page", "stream": "ui"}],
    }
    result = await call(client, "plan_import", **plan)
    assert result["warnings"] == [
        "Stream api waits on design, which has no tasks: add tasks there or drop the dependency."
    ]
    plan["tasks"].append({"code": "D1", "title": "sketch", "stream": "design"})
    assert (await call(client, "plan_import", **plan))["warnings"] == []
