"""Task tools over MCP: create, get, list, update, notes and context."""

from __future__ import annotations

import pytest

from taskloom.clock import iso
from tests.conftest import call, call_error

KIB64 = 64 * 1024


async def statuses(client, *codes: str) -> dict[str, str]:
    return {c: (await call(client, "task_get", task=c))["task"]["status"] for c in codes}


async def total(client) -> int:
    return (await call(client, "task_list"))["total"]


# ---------------------------------------------------------------- task_create


async def test_task_create_makes_one_ready_task_with_every_field_stored(client):
    await call(client, "stream_create", code="api")
    await call(client, "sprint_create", code="S1")
    made = await call(
        client,
        "task_create",
        tasks=[
            {
                "title": "Add login",
                "description": "POST /login",
                "acceptance": "returns a token",
                "context": "see docs/auth.md",
                "priority": 1,
                "role": "dev",
                "labels": ["security", "backend"],
                "stream": "api",
                "sprint": "S1",
                "max_attempts": 5,
                "requires_review": True,
            }
        ],
    )
    assert (made["created"], made["existing"]) == (1, 0)
    [brief] = made["tasks"]
    assert brief["code"] == "T-1"
    assert brief["status"] == "ready"
    assert brief["version"] >= 1

    task = (await call(client, "task_get", task="T-1"))["task"]
    assert task["title"] == "Add login"
    assert task["description"] == "POST /login"
    assert task["acceptance"] == "returns a token"
    assert task["context"] == "see docs/auth.md"
    assert (task["priority"], task["role"], task["stream"], task["sprint"]) == (1, "dev", "api", "S1")
    assert task["labels"] == ["backend", "security"]
    assert (task["max_attempts"], task["requires_review"], task["attempts"]) == (5, True, 0)
    assert task["created_by"] == "tester"
    assert task["claimed_by"] is None


async def test_task_create_makes_many_tasks_in_order_with_sequential_codes(client):
    made = await call(client, "task_create", tasks=[{"title": f"t{i}"} for i in range(3)])
    assert [t["code"] for t in made["tasks"]] == ["T-1", "T-2", "T-3"]
    assert made["created"] == 3
    more = await call(client, "task_create", tasks=[{"title": "next"}])
    assert more["tasks"][0]["code"] == "T-4"


async def test_task_create_resolves_dependencies_inside_the_batch_by_code_and_by_key(client):
    made = await call(
        client,
        "task_create",
        tasks=[
            {"title": "later", "depends_on": ["api", "k-schema"]},  # names tasks listed after it
            {"title": "schema", "key": "k-schema"},
            {"title": "endpoint", "code": "api", "depends_on": ["k-schema"]},
        ],
    )
    assert [(t["code"], t["status"]) for t in made["tasks"]] == [
        ("T-1", "waiting"),
        ("T-2", "ready"),
        ("api", "waiting"),
    ]
    assert (await call(client, "task_get", task="T-1"))["task"]["depends_on"] == ["T-2", "api"]
    assert (await call(client, "task_get", task="api"))["task"]["depends_on"] == ["T-2"]


async def test_task_create_may_depend_on_existing_tasks_by_code_or_key(client):
    await call(client, "task_create", tasks=[{"title": "a", "key": "alpha"}, {"title": "b"}])
    made = await call(client, "task_create", tasks=[{"title": "c", "depends_on": ["alpha", "T-2"]}])
    assert made["tasks"][0]["status"] == "waiting"
    assert (await call(client, "task_get", task="T-3"))["task"]["depends_on"] == ["T-1", "T-2"]


async def test_task_create_with_an_existing_key_returns_that_task_unchanged(client):
    first = await call(client, "task_create", tasks=[{"title": "original", "key": "job-1"}])
    again = await call(
        client, "task_create", tasks=[{"title": "retitled on retry", "key": "job-1"}, {"title": "new"}]
    )
    assert (again["created"], again["existing"]) == (1, 1)
    assert again["tasks"][0]["code"] == first["tasks"][0]["code"] == "T-1"
    assert again["tasks"][0]["title"] == "original"
    assert await total(client) == 2


async def test_task_create_with_an_explicit_code_already_taken_is_a_conflict_and_stores_nothing(client):
    await call(client, "task_create", tasks=[{"title": "first", "code": "API-1"}])
    err = await call_error(
        client, "task_create", tasks=[{"title": "fine"}, {"title": "clash", "code": "API-1"}]
    )
    assert err["code"] == "conflict"
    assert "API-1" in err["message"]
    assert "key" in err["hint"]
    assert await total(client) == 1


async def test_task_create_with_an_unknown_dependency_is_not_found_naming_it_and_stores_nothing(client):
    err = await call_error(
        client, "task_create", tasks=[{"title": "a"}, {"title": "b", "depends_on": ["T-1", "T-99", "ghost"]}]
    )
    assert err["code"] == "not_found"
    assert "T-99" in err["message"] and "ghost" in err["message"]
    assert "depends_on" in err["hint"]
    assert await total(client) == 0


async def test_task_create_refuses_a_dependency_cycle_inside_the_batch(client):
    err = await call_error(
        client,
        "task_create",
        tasks=[
            {"title": "a", "code": "A", "depends_on": ["B"]},
            {"title": "b", "code": "B", "depends_on": ["A"]},
        ],
    )
    assert err["code"] == "cycle"
    assert "A -> B -> A" in err["message"] or "B -> A -> B" in err["message"]
    assert await total(client) == 0


@pytest.mark.parametrize(
    ("spec", "what"),
    [({"stream": "nope"}, "nope"), ({"sprint": "S9"}, "S9"), ({"parent": "T-77"}, "T-77")],
    ids=["stream", "sprint", "parent"],
)
async def test_task_create_naming_an_unknown_stream_sprint_or_parent_is_not_found(client, spec, what):
    err = await call_error(client, "task_create", tasks=[{"title": "x", **spec}])
    assert err["code"] == "not_found"
    assert what in err["message"]
    assert await total(client) == 0


async def test_a_parent_waits_for_its_subtasks_and_lists_them(client):
    await call(
        client,
        "task_create",
        tasks=[
            {"title": "epic", "key": "epic"},
            {"title": "part 1", "parent": "epic"},
            {"title": "part 2", "parent": "epic"},
        ],
    )
    parent = (await call(client, "task_get", task="T-1"))["task"]
    assert parent["subtasks"] == ["T-2", "T-3"]
    assert parent["status"] == "waiting"
    assert (await call(client, "task_get", task="T-2"))["task"]["parent"] == "T-1"


async def test_task_create_backlog_parks_the_task_out_of_play(client):
    made = await call(client, "task_create", tasks=[{"title": "someday", "backlog": True}])
    assert made["tasks"][0]["status"] == "backlog"
    assert (await call(client, "task_claim"))["claimed"] is False


# ---------------------------------------------------------------- task_get


async def test_task_get_returns_the_task_its_latest_notes_newest_first_and_its_dependencies(client, clock):
    await call(client, "task_create", tasks=[{"title": "base"}, {"title": "top", "depends_on": ["T-1"]}])
    await call(client, "task_note", task="T-2", body="first thought")
    clock.advance(5)
    await call(client, "task_note", task="T-2", body="we chose sqlite", kind="decision", agent="bob")

    detail = await call(client, "task_get", task="T-2")

    assert detail["task"]["code"] == "T-2"
    assert [(n["kind"], n["body"], n["agent"]) for n in detail["notes"]] == [
        ("decision", "we chose sqlite", "bob"),
        ("note", "first thought", "tester"),
    ]
    assert detail["notes"][0]["at"] == iso(clock.now())
    assert detail["dependencies"] == [
        {"code": "T-1", "title": "base", "status": "ready", "summary": None, "outcome": "pending"}
    ]


async def test_task_get_returns_only_the_ten_latest_notes(client):
    await call(client, "task_create", tasks=[{"title": "chatty"}])
    for i in range(12):
        await call(client, "task_note", task="T-1", body=f"note {i}")
    notes = (await call(client, "task_get", task="T-1"))["notes"]
    assert [n["body"] for n in notes] == [f"note {i}" for i in range(11, 1, -1)]


async def test_task_get_of_an_unknown_task_is_not_found_with_a_hint(client):
    err = await call_error(client, "task_get", task="T-9")
    assert err["code"] == "not_found"
    assert "T-9" in err["message"]
    assert "task_list" in err["hint"]


# ---------------------------------------------------------------- task_list


async def _varied(client) -> None:
    await call(client, "stream_create", code="api")
    await call(client, "sprint_create", code="S1")
    await call(
        client,
        "task_create",
        tasks=[
            {"title": "epic", "key": "epic"},  # T-1, waiting on its subtasks
            {"title": "a", "role": "dev", "stream": "api", "labels": ["db"], "parent": "epic"},  # T-2 ready
            {"title": "b", "role": "qa", "sprint": "S1", "parent": "epic"},  # T-3 ready
            {
                "title": "c",
                "role": "dev",
                "labels": ["db", "ui"],
                "sprint": "S1",
                "depends_on": ["T-2"],
            },  # T-4
            {"title": "d", "backlog": True, "stream": "api"},  # T-5
        ],
    )
    await call(client, "task_claim", task="T-3", agent="alice")


@pytest.mark.parametrize(
    ("filters", "codes"),
    [
        ({}, ["T-1", "T-2", "T-3", "T-4", "T-5"]),
        ({"status": ["waiting"]}, ["T-1", "T-4"]),
        ({"status": ["ready", "backlog"]}, ["T-2", "T-5"]),
        ({"role": "dev"}, ["T-2", "T-4"]),
        ({"stream": "api"}, ["T-2", "T-5"]),
        ({"sprint": "S1"}, ["T-3", "T-4"]),
        ({"parent": "T-1"}, ["T-2", "T-3"]),
        ({"label": "db"}, ["T-2", "T-4"]),
        ({"label": "ui"}, ["T-4"]),
        ({"claimed_by": "alice"}, ["T-3"]),
        ({"role": "dev", "label": "db", "status": ["ready"]}, ["T-2"]),
        ({"role": "nobody"}, []),
    ],
)
async def test_task_list_filters_combine_and_keep_creation_order(client, filters, codes):
    await _varied(client)
    page = await call(client, "task_list", **filters)
    assert [t["code"] for t in page["tasks"]] == codes
    assert page["total"] == len(codes)
    assert page["next_offset"] is None


@pytest.mark.parametrize("filters", [{"stream": "nope"}, {"sprint": "nope"}, {"parent": "T-404"}])
async def test_task_list_filtering_by_something_unknown_is_not_found(client, filters):
    err = await call_error(client, "task_list", **filters)
    assert err["code"] == "not_found"


async def test_task_list_pages_with_next_offset_until_it_is_null(client):
    await call(client, "task_create", tasks=[{"title": f"t{i}"} for i in range(5)])
    seen, offset, pages = [], 0, 0
    while offset is not None:
        page = await call(client, "task_list", limit=2, offset=offset)
        assert page["total"] == 5
        seen += [t["code"] for t in page["tasks"]]
        offset = page["next_offset"]
        pages += 1
    assert seen == ["T-1", "T-2", "T-3", "T-4", "T-5"]
    assert pages == 3


async def test_task_list_next_offset_is_null_on_an_exactly_full_last_page(client):
    await call(client, "task_create", tasks=[{"title": f"t{i}"} for i in range(4)])
    first = await call(client, "task_list", limit=2)
    assert first["next_offset"] == 2
    second = await call(client, "task_list", limit=2, offset=2)
    assert second["next_offset"] is None
    past = await call(client, "task_list", limit=2, offset=10)
    assert (past["tasks"], past["total"], past["next_offset"]) == ([], 4, None)


@pytest.mark.parametrize("limit", [0, 201])
async def test_task_list_refuses_a_limit_outside_1_to_200(client, limit):
    err = await call_error(client, "task_list", limit=limit)
    assert err["code"] == "invalid_input"
    assert "limit" in err["message"]


# ---------------------------------------------------------------- task_update


async def test_task_update_changes_only_the_given_fields_and_bumps_the_version(client):
    await call(client, "stream_create", code="api")
    await call(
        client,
        "task_create",
        tasks=[{"title": "old", "description": "keep me", "role": "dev", "labels": ["a"], "priority": 3}],
    )
    before = (await call(client, "task_get", task="T-1"))["task"]

    after = (
        await call(
            client, "task_update", task="T-1", title="new", priority=0, labels=["b", "c"], stream="api"
        )
    )["task"]

    assert (after["title"], after["priority"], after["labels"], after["stream"]) == (
        "new",
        0,
        ["b", "c"],
        "api",
    )
    assert (after["description"], after["role"]) == ("keep me", "dev")
    assert after["version"] > before["version"]


async def test_task_update_with_empty_strings_clears_role_stream_and_sprint(client):
    await call(client, "stream_create", code="api")
    await call(client, "sprint_create", code="S1")
    await call(client, "task_create", tasks=[{"title": "t", "role": "dev", "stream": "api", "sprint": "S1"}])
    task = (await call(client, "task_update", task="T-1", role="", stream="", sprint=""))["task"]
    assert (task["role"], task["stream"], task["sprint"]) == (None, None, None)


async def test_task_update_with_a_stale_if_version_is_a_conflict_and_changes_nothing(client):
    await call(client, "task_create", tasks=[{"title": "t"}])
    version = (await call(client, "task_get", task="T-1"))["task"]["version"]
    await call(client, "task_update", task="T-1", title="someone else's edit", if_version=version)

    err = await call_error(client, "task_update", task="T-1", title="my edit", if_version=version)

    assert err["code"] == "conflict"
    assert "task_get" in err["hint"]
    assert err["details"]["version"] == version + 1
    assert (await call(client, "task_get", task="T-1"))["task"]["title"] == "someone else's edit"


async def test_task_update_depends_on_replaces_the_dependencies_and_readiness_follows(client):
    await call(
        client, "task_create", tasks=[{"title": "a"}, {"title": "b"}, {"title": "c", "depends_on": ["T-1"]}]
    )

    replaced = (await call(client, "task_update", task="T-3", depends_on=["T-2"]))["task"]
    assert replaced["depends_on"] == ["T-2"]
    assert replaced["status"] == "waiting"

    cleared = (await call(client, "task_update", task="T-3", depends_on=[]))["task"]
    assert cleared["depends_on"] == []
    assert cleared["status"] == "ready"

    again = (await call(client, "task_update", task="T-3", depends_on=["T-1"]))["task"]
    assert again["status"] == "waiting"


async def test_task_update_refuses_a_dependency_cycle_printing_the_path(client):
    await call(
        client,
        "task_create",
        tasks=[{"title": "a"}, {"title": "b", "depends_on": ["T-1"]}, {"title": "c", "depends_on": ["T-2"]}],
    )
    err = await call_error(client, "task_update", task="T-1", depends_on=["T-3"])
    assert err["code"] == "cycle"
    rotations = ["T-1 -> T-3 -> T-2 -> T-1", "T-3 -> T-2 -> T-1 -> T-3", "T-2 -> T-1 -> T-3 -> T-2"]
    assert any(r in err["message"] for r in rotations), err["message"]
    assert (await call(client, "task_get", task="T-1"))["task"]["depends_on"] == []


async def test_task_update_refuses_a_task_depending_on_itself(client):
    await call(client, "task_create", tasks=[{"title": "a"}])
    err = await call_error(client, "task_update", task="T-1", depends_on=["T-1"])
    assert err["code"] == "cycle"
    assert "T-1 -> T-1" in err["message"]


async def test_task_update_with_an_unknown_dependency_is_not_found_like_task_create(client):
    await call(client, "task_create", tasks=[{"title": "a"}])
    err = await call_error(client, "task_update", task="T-1", depends_on=["T-42"])
    assert "T-42" in err["message"]
    assert err["code"] == "not_found", (
        "task_create reports an unknown dependency as not_found; task_update should too"
    )


async def test_task_update_status_moves_a_task_to_backlog_and_back_into_play(client):
    await call(client, "task_create", tasks=[{"title": "a"}])
    parked = (await call(client, "task_update", task="T-1", status="backlog", reason="not now"))["task"]
    assert parked["status"] == "backlog"
    assert (await call(client, "task_claim"))["claimed"] is False
    back = (await call(client, "task_update", task="T-1", status="ready"))["task"]
    assert back["status"] == "ready"


async def test_a_refused_status_move_names_the_allowed_moves_and_changes_nothing(client):
    await call(client, "task_create", tasks=[{"title": "a", "backlog": True}])
    err = await call_error(client, "task_update", task="T-1", title="renamed", status="done")
    assert err["code"] == "invalid_transition"
    assert "backlog" in err["message"] and "done" in err["message"]
    assert "You can set: cancelled, ready" in err["message"]
    assert err["details"]["allowed"] == ["cancelled", "ready"]
    task = (await call(client, "task_get", task="T-1"))["task"]
    assert (task["title"], task["status"]) == ("a", "backlog")


async def test_a_finished_task_cannot_be_moved_and_the_message_says_it_is_final(client):
    await call(client, "task_create", tasks=[{"title": "a"}])
    await call(client, "task_update", task="T-1", status="cancelled")
    err = await call_error(client, "task_update", task="T-1", status="backlog")
    assert err["code"] == "invalid_transition"
    assert "final" in err["message"]


async def test_blocking_through_task_update_needs_a_reason(client):
    await call(client, "task_create", tasks=[{"title": "a"}])
    err = await call_error(client, "task_update", task="T-1", status="blocked")
    assert err["code"] == "invalid_input"
    assert "reason" in err["message"]
    blocked = (await call(client, "task_update", task="T-1", status="blocked", reason="need a key"))["task"]
    assert (blocked["status"], blocked["reason"]) == ("blocked", "need a key")


async def test_cancelling_a_task_cancels_its_open_subtasks_and_frees_its_dependents(client):
    await call(
        client,
        "task_create",
        tasks=[
            {"title": "epic", "key": "epic"},  # T-1
            {"title": "part 1", "parent": "epic"},  # T-2
            {"title": "part 2", "parent": "epic"},  # T-3
            {"title": "part 2a", "parent": "T-3"},  # T-4: nested two levels down
            {"title": "after the epic", "depends_on": ["epic"]},  # T-5
        ],
    )
    await call(client, "task_claim", task="T-2")
    await call(client, "task_done", task="T-2", summary="part 1 shipped")
    assert (await statuses(client, "T-5"))["T-5"] == "waiting"

    await call(client, "task_update", task="T-1", status="cancelled", reason="descoped")

    assert await statuses(client, "T-1", "T-2", "T-3", "T-4", "T-5") == {
        "T-1": "cancelled",
        "T-2": "done",
        "T-3": "cancelled",
        "T-4": "cancelled",
        "T-5": "ready",
    }
    dep = (await call(client, "task_get", task="T-5"))["dependencies"][0]
    assert (dep["code"], dep["outcome"]) == ("T-1", "cancelled")


async def test_moving_a_ready_task_into_a_waiting_stream_makes_it_wait_and_moving_it_out_frees_it(client):
    await call(client, "stream_create", code="db")
    await call(client, "stream_create", code="api", depends_on=["db"])
    await call(client, "task_create", tasks=[{"title": "db work", "stream": "db"}, {"title": "floating"}])
    moved = (await call(client, "task_update", task="T-2", stream="api"))["task"]
    assert (moved["stream"], moved["status"]) == ("api", "waiting")
    freed = (await call(client, "task_update", task="T-2", stream=""))["task"]
    assert (freed["stream"], freed["status"]) == (None, "ready")


async def test_putting_a_failed_task_back_in_play_gives_it_fresh_attempts(client):
    await call(client, "task_create", tasks=[{"title": "flaky", "max_attempts": 1}])
    await call(client, "task_claim", task="T-1")
    await call(client, "task_fail", task="T-1", reason="network down")
    assert (await statuses(client, "T-1"))["T-1"] == "failed"

    back = (await call(client, "task_update", task="T-1", status="ready", reason="network is back"))["task"]

    assert (back["status"], back["attempts"], back["claimed_by"]) == ("ready", 0, None)


async def test_marking_a_task_done_by_hand_frees_its_dependents(client):
    await call(
        client, "task_create", tasks=[{"title": "done elsewhere"}, {"title": "next", "depends_on": ["T-1"]}]
    )
    await call(client, "task_update", task="T-1", status="done", reason="shipped in another repo")
    assert await statuses(client, "T-1", "T-2") == {"T-1": "done", "T-2": "ready"}


async def test_task_update_of_an_unknown_task_is_not_found(client):
    err = await call_error(client, "task_update", task="T-404", title="x")
    assert err["code"] == "not_found"


# ---------------------------------------------------------------- task_note


async def test_task_note_adds_a_timestamped_note_and_bumps_the_version(client, clock):
    made = await call(client, "task_create", tasks=[{"title": "a"}])
    clock.advance(30)
    brief = (await call(client, "task_note", task="T-1", body="halfway there", kind="progress"))["task"]
    assert brief["code"] == "T-1"
    assert brief["version"] > made["tasks"][0]["version"]
    [note] = (await call(client, "task_get", task="T-1"))["notes"]
    assert note == {"kind": "progress", "body": "halfway there", "agent": "tester", "at": iso(clock.now())}


async def test_task_note_refuses_a_blank_body(client):
    await call(client, "task_create", tasks=[{"title": "a"}])
    err = await call_error(client, "task_note", task="T-1", body="   ")
    assert err["code"] == "invalid_input"
    assert (await call(client, "task_get", task="T-1"))["notes"] == []


async def test_task_note_refuses_an_unknown_kind(client):
    await call(client, "task_create", tasks=[{"title": "a"}])
    err = await call_error(client, "task_note", task="T-1", body="x", kind="rant")
    assert err["code"] == "invalid_input"
    assert "kind" in err["message"]


async def test_task_note_on_an_unknown_task_is_not_found(client):
    err = await call_error(client, "task_note", task="T-3", body="hello")
    assert err["code"] == "not_found"


# ---------------------------------------------------------------- task_context


async def test_task_context_appends_after_a_blank_line(client):
    await call(client, "task_create", tasks=[{"title": "a", "context": "## Brief\nuse postgres"}])
    await call(client, "task_context", task="T-1", text="## Decision\nswitched to sqlite")
    task = (await call(client, "task_get", task="T-1"))["task"]
    assert task["context"] == "## Brief\nuse postgres\n\n## Decision\nswitched to sqlite"


async def test_task_context_append_to_an_empty_context_is_just_the_text(client):
    await call(client, "task_create", tasks=[{"title": "a"}])
    await call(client, "task_context", task="T-1", text="first words")
    assert (await call(client, "task_get", task="T-1"))["task"]["context"] == "first words"


async def test_task_context_replace_overwrites_the_context(client):
    await call(client, "task_create", tasks=[{"title": "a", "context": "old"}])
    version = (await call(client, "task_get", task="T-1"))["task"]["version"]
    brief = (await call(client, "task_context", task="T-1", text="new", mode="replace", if_version=version))["task"]
    assert brief["version"] == version + 1
    assert (await call(client, "task_get", task="T-1"))["task"]["context"] == "new"


async def test_task_context_with_a_stale_version_is_a_conflict(client):
    await call(client, "task_create", tasks=[{"title": "a", "context": "old"}])
    version = (await call(client, "task_get", task="T-1"))["task"]["version"]
    await call(client, "task_note", task="T-1", body="someone touched it")
    err = await call_error(client, "task_context", task="T-1", text="new", mode="replace", if_version=version)
    assert err["code"] == "conflict"
    assert (await call(client, "task_get", task="T-1"))["task"]["context"] == "old"


async def test_task_context_is_too_large_past_64_kib_in_total_and_keeps_the_old_context(client):
    await call(client, "task_create", tasks=[{"title": "a", "context": "x" * 40_000}])
    err = await call_error(client, "task_context", task="T-1", text="y" * 30_000)
    assert err["code"] == "too_large"
    assert "context" in err["message"]
    assert err["details"]["limit"] == KIB64
    assert err["hint"]
    assert (await call(client, "task_get", task="T-1"))["task"]["context"] == "x" * 40_000


async def test_task_context_of_exactly_64_kib_is_accepted(client):
    await call(client, "task_create", tasks=[{"title": "a"}])
    await call(client, "task_context", task="T-1", text="x" * KIB64, mode="replace")
    assert len((await call(client, "task_get", task="T-1"))["task"]["context"]) == KIB64


async def test_task_context_limit_counts_utf8_bytes_not_characters(client):
    await call(client, "task_create", tasks=[{"title": "a"}])
    err = await call_error(client, "task_context", task="T-1", text="é" * (KIB64 // 2 + 1), mode="replace")
    assert err["code"] == "too_large"
