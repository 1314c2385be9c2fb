"""Every error an agent can meet is coded, explained and harmless; every limit is enforced."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from taskloom.clock import ManualClock
from taskloom.config import Settings
from taskloom.errors import ALL_ERRORS
from taskloom.server import build_server
from taskloom.server.errors import error_of
from taskloom.services.app import Taskloom
from tests.conftest import call, call_error
from tests.faults.damage import damage_table, touch
from tests.security.common import TOKENS, entry, serving_tokens, session, write_tokens

KIB64 = 64 * 1024


@dataclass
class Env:
    client: Client
    db_path: Path
    clock: ManualClock


async def coded_error(client: Client, tool: str, **args: Any) -> tuple[str, dict[str, Any]]:
    """The error text and object of a call that must fail, checked for the documented shape."""
    result = await client.call_tool(tool, args)
    assert result.is_error, f"{tool} unexpectedly succeeded: {result.structured_content}"
    [content] = result.content
    assert result.structured_content is None
    err = error_of(result)
    assert err is not None, "a failed call carries its error object in _meta"
    assert set(err) >= {"code", "message", "hint", "recoverable"}
    assert content.text == f"{err['code']}: {err['message']} Next: {err['hint']}"
    assert "Traceback" not in content.text and 'File "' not in content.text
    return content.text, err


def dump(db_path: Path) -> list[str]:
    """Everything in the database, from a separate connection, as SQL text."""
    conn = sqlite3.connect(db_path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


# ---------------------------------------------------------------- one realistic call per code


async def _not_found(env: Env) -> dict:
    return await call_error(env.client, "task_get", task="T-404")


async def _conflict(env: Env) -> dict:
    await call(env.client, "task_create", tasks=[{"title": "login", "code": "AUTH-1"}])
    return await call_error(env.client, "task_create", tasks=[{"title": "logout", "code": "AUTH-1"}])


async def _invalid_transition(env: Env) -> dict:
    await call(env.client, "task_create", tasks=[{"title": "a"}, {"title": "b", "depends_on": ["T-1"]}])
    return await call_error(env.client, "task_claim", task="T-2")


async def _cycle(env: Env) -> dict:
    await call(env.client, "task_create", tasks=[{"title": "a"}, {"title": "b", "depends_on": ["T-1"]}])
    return await call_error(env.client, "task_update", task="T-1", depends_on=["T-2"])


async def _lease_lost(env: Env) -> dict:
    # An orchestrator puts alice's task back in the queue and bob takes it: alice really lost it.
    await call(env.client, "task_create", tasks=[{"title": "a"}])
    await call(env.client, "task_claim", agent="alice")
    await call(env.client, "task_status_bulk", tasks=["T-1"], status="ready", agent="orchestrator")
    await call(env.client, "task_claim", agent="bob")
    return await call_error(env.client, "task_done", task="T-1", summary="mine now", agent="alice")


async def _invalid_input(env: Env) -> dict:
    return await call_error(env.client, "task_list", limit="all of them")


async def _too_large(env: Env) -> dict:
    return await call_error(env.client, "task_create", tasks=[{"title": "t" * 201}])


async def _busy(env: Env) -> dict:
    """Another process holds the write lock longer than this server will wait."""
    settings = Settings(
        db_path=env.db_path, project="test", lease_seconds=60.0, default_agent="tester", busy_timeout_ms=1
    )
    impatient = await Taskloom.open(settings, env.clock)
    other = sqlite3.connect(env.db_path, isolation_level=None)
    try:
        async with Client(build_server(impatient), mode="legacy") as c:
            other.execute("BEGIN IMMEDIATE")
            err = await call_error(c, "task_create", tasks=[{"title": "while locked"}])
            other.execute("ROLLBACK")
            # The hint says to retry: once the other writer is done, the same call succeeds.
            await call(c, "task_create", tasks=[{"title": "after the lock"}])
            return err
    finally:
        other.close()
        await impatient.close()


async def _internal(env: Env) -> dict:
    """The database was damaged by something outside taskloom: a table is gone."""
    await call(env.client, "task_create", tasks=[{"title": "a"}])
    other = sqlite3.connect(env.db_path)
    try:
        other.execute("DROP TABLE notes")
        other.commit()
    finally:
        other.close()
    return await call_error(env.client, "task_note", task="T-1", body="progress")


async def _storage(env: Env) -> dict:
    """A page of the tasks table was damaged on disk under a running server (a bad disk, a copy
    taken mid-write): task_list cannot read it, and says the file is at fault, not taskloom."""
    await call(env.client, "task_create", tasks=[{"title": f"t{i}"} for i in range(8)])
    damage_table(env.db_path, "tasks")
    touch(env.db_path)
    return await call_error(env.client, "task_list")


async def _read_only(env: Env) -> dict:
    """A person's read-only token (`taskloom token new --read-only`) asks a real server to create a task."""
    tokens = write_tokens(env.db_path.parent / "tokens", entry(TOKENS["alice"], "alice", access="read"))
    with serving_tokens(env.db_path.parent, "http", env.db_path, tokens) as (url, _, _):
        async with session(url, "http", TOKENS["alice"]) as alice:
            result = await alice("task_create", {"tasks": [{"title": "not by a reader"}]})
    assert result.is_error and result.content[0].text.startswith("read_only: ")
    return error_of(result)


CASES: dict[str, Callable[[Env], Awaitable[dict]]] = {
    "not_found": _not_found,
    "conflict": _conflict,
    "invalid_transition": _invalid_transition,
    "cycle": _cycle,
    "lease_lost": _lease_lost,
    "invalid_input": _invalid_input,
    "too_large": _too_large,
    "read_only": _read_only,
    "busy": _busy,
    "storage": _storage,
    "internal": _internal,
}


def test_every_documented_error_code_has_a_realistic_call_below():
    assert set(CASES) == {cls.code for cls in ALL_ERRORS}


@pytest.mark.parametrize("code", list(CASES))
async def test_each_error_code_is_produced_by_a_realistic_call_and_carries_a_hint(
    code, client, db_path, clock
):
    err = await CASES[code](Env(client, db_path, clock))
    assert err["code"] == code
    assert err["message"].strip()
    assert err["hint"].strip()
    assert err["recoverable"] is (code not in ("internal", "storage"))


async def test_a_damaged_database_file_is_a_storage_error_naming_the_file_and_taskloom_check(client, db_path, clock):
    err = await _storage(Env(client, db_path, clock))
    assert str(db_path) in err["message"] and "damaged" in err["message"]
    assert f"taskloom check --db {db_path}" in err["hint"] and "backup" in err["hint"]


async def test_the_error_text_is_the_code_the_message_and_what_to_do_next(client):
    text, err = await coded_error(client, "task_get", task="T-7")
    assert text.startswith("not_found: Task T-7 does not exist")
    assert text.endswith("Next: " + err["hint"])


async def test_an_internal_error_says_nothing_was_changed_and_hides_the_database_error(
    client, db_path, clock
):
    err = await _internal(Env(client, db_path, clock))
    assert "nothing was changed" in err["message"]
    assert "notes" not in err["message"], "internal details (table names) should not leak to agents"


# ---------------------------------------------------------------- limits


async def test_a_201_character_title_is_too_large_and_nothing_is_stored(client):
    err = await call_error(client, "task_create", tasks=[{"title": "fine"}, {"title": "x" * 201}])
    assert err["code"] == "too_large"
    assert "title" in err["message"]
    assert "nothing was stored" in err["hint"].lower()
    assert (await call(client, "task_list"))["total"] == 0


async def test_a_200_character_title_is_accepted(client):
    made = await call(client, "task_create", tasks=[{"title": "x" * 200}])
    assert made["tasks"][0]["title"] == "x" * 200


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("task_update", {"task": "T-1", "title": "x" * 201}),
        ("sprint_create", {"code": "S1", "title": "x" * 201}),
        ("stream_create", {"code": "api", "name": "x" * 201}),
        ("plan_import", {"tasks": [{"key": "k", "title": "x" * 201}]}),
    ],
)
async def test_every_title_is_limited_to_200_characters(client, tool, args):
    await call(client, "task_create", tasks=[{"title": "original"}])
    err = await call_error(client, tool, **args)
    assert err["code"] == "too_large"
    assert (await call(client, "task_get", task="T-1"))["task"]["title"] == "original"


async def test_a_description_of_64_kib_plus_one_byte_is_too_large_and_nothing_is_stored(client):
    err = await call_error(client, "task_create", tasks=[{"title": "big", "description": "d" * (KIB64 + 1)}])
    assert err["code"] == "too_large"
    assert "description" in err["message"]
    assert err["details"] == {"field": "tasks[0].description", "size": KIB64 + 1, "limit": KIB64}
    assert (await call(client, "task_list"))["total"] == 0


async def test_a_description_of_exactly_64_kib_is_accepted(client):
    await call(client, "task_create", tasks=[{"title": "big", "description": "d" * KIB64}])
    assert len((await call(client, "task_get", task="T-1"))["task"]["description"]) == KIB64


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("task_update", {"task": "T-1", "description": "d" * (KIB64 + 1)}),
        ("task_update", {"task": "T-1", "acceptance": "d" * (KIB64 + 1)}),
        ("task_note", {"task": "T-1", "body": "d" * (KIB64 + 1)}),
        ("task_context", {"task": "T-1", "text": "d" * (KIB64 + 1), "mode": "replace"}),
        ("sprint_create", {"code": "S1", "goal": "d" * (KIB64 + 1)}),
        ("stream_create", {"code": "api", "description": "d" * (KIB64 + 1)}),
    ],
)
async def test_every_long_text_is_limited_to_64_kib(client, db_path, tool, args):
    await call(client, "task_create", tasks=[{"title": "original"}])
    before = dump(db_path)
    err = await call_error(client, tool, **args)
    assert err["code"] == "too_large"
    assert dump(db_path) == before


async def test_201_tasks_in_one_task_create_are_too_large_and_nothing_is_stored(client):
    err = await call_error(client, "task_create", tasks=[{"title": f"t{i}"} for i in range(201)])
    assert err["code"] == "too_large"
    assert "tasks" in err["message"]
    assert (await call(client, "task_list"))["total"] == 0


async def test_200_tasks_in_one_task_create_are_accepted(client):
    made = await call(client, "task_create", tasks=[{"title": f"t{i}"} for i in range(200)])
    assert made["created"] == 200


async def test_task_update_limits_labels_like_task_create(client):
    await call(client, "task_create", tasks=[{"title": "a", "labels": ["one"]}])
    labels = [f"label-{i}" for i in range(21)]
    created = await call_error(client, "task_create", tasks=[{"title": "b", "labels": labels}])
    assert created["code"] == "too_large"
    updated = await call_error(client, "task_update", task="T-1", labels=labels)
    assert updated["code"] == "too_large"
    assert (await call(client, "task_get", task="T-1"))["task"]["labels"] == ["one"]


# ---------------------------------------------------------------- malformed calls


@pytest.mark.parametrize(
    ("tool", "args", "field"),
    [
        ("task_get", {"task": 5}, "task"),
        ("task_get", {}, "task"),
        ("task_list", {"limit": "ten"}, "limit"),
        ("task_list", {"status": ["finished"]}, "status.0"),
        ("task_create", {"tasks": "write the docs"}, "tasks"),
        ("task_create", {"tasks": [{"title": "x", "priority": "high"}]}, "tasks.0.priority"),
        ("task_create", {"tasks": [{"title": "x", "priority": 7}]}, "tasks.0.priority"),
        ("task_create", {"tasks": []}, "tasks"),
        ("task_update", {"task": "T-1", "depends_on": "T-2"}, "depends_on"),
        ("task_claim", {"labels": "db"}, "labels"),
        ("task_review", {"task": "T-1", "approve": "maybe"}, "approve"),
        ("sprint_create", {"code": "sprint one"}, "code"),
    ],
)
async def test_wrong_or_missing_arguments_are_invalid_input_naming_the_field(
    client, db_path, tool, args, field
):
    await call(client, "task_create", tasks=[{"title": "a"}])
    before = dump(db_path)
    _, err = await coded_error(client, tool, **args)
    assert err["code"] == "invalid_input"
    assert f"{field}:" in err["message"]
    assert dump(db_path) == before


async def test_an_unknown_field_inside_a_task_spec_is_invalid_input(client):
    _, err = await coded_error(client, "task_create", tasks=[{"title": "x", "dependson": ["T-1"]}])
    assert err["code"] == "invalid_input"
    assert "dependson" in err["message"]
    assert (await call(client, "task_list"))["total"] == 0


async def test_an_unknown_argument_is_invalid_input_not_silently_ignored(client):
    await call(client, "task_create", tasks=[{"title": "a"}])
    _, err = await coded_error(client, "task_get", task="T-1", verbose=True)
    assert err["code"] == "invalid_input"
    assert "verbose" in err["message"]


async def test_a_misspelt_argument_to_a_write_tool_is_refused_and_changes_nothing(client, db_path):
    await call(client, "task_create", tasks=[{"title": "a"}])
    before = dump(db_path)
    _, err = await coded_error(client, "task_update", task="T-1", titel="renamed")
    assert err["code"] == "invalid_input"
    assert "titel" in err["message"]
    assert dump(db_path) == before


async def test_an_unknown_tool_is_not_found_pointing_at_the_tool_list(client):
    _, err = await coded_error(client, "task_delete", task="T-1")
    assert err["code"] == "not_found"
    assert "task_delete" in err["message"]
    assert "tools/list" in err["hint"]


async def test_a_huge_offset_is_invalid_input_not_an_internal_error(client):
    await call(client, "task_create", tasks=[{"title": "a"}])
    _, err = await coded_error(client, "task_list", offset=10**20)
    assert err["code"] == "invalid_input"


# ---------------------------------------------------------------- failed calls change nothing


async def _seed(client) -> None:
    await call(client, "sprint_create", code="S1")
    await call(client, "stream_create", code="db")
    await call(client, "stream_create", code="api", depends_on=["db"])
    await call(
        client,
        "task_create",
        tasks=[
            {"title": "schema", "stream": "db", "sprint": "S1"},
            {"title": "routes", "stream": "api", "depends_on": ["T-1"]},
            {"title": "review me", "requires_review": True},
        ],
    )
    await call(client, "task_claim", task="T-1", agent="alice")


FAILING_CALLS = [
    pytest.param(
        "task_update",
        {"task": "T-2", "title": "renamed", "priority": 0, "status": "review"},
        id="update-then-bad-status",
    ),
    pytest.param(
        "task_update", {"task": "T-2", "labels": ["x"], "depends_on": ["T-2"]}, id="update-with-cycle"
    ),
    pytest.param(
        "task_update", {"task": "T-2", "title": "renamed", "stream": "nope"}, id="update-unknown-stream"
    ),
    pytest.param(
        "task_create", {"tasks": [{"title": "new"}, {"title": "dup", "code": "T-1"}]}, id="create-conflict"
    ),
    pytest.param(
        "task_create",
        {"tasks": [{"title": "new"}, {"title": "x", "depends_on": ["nope"]}]},
        id="create-unknown-dep",
    ),
    pytest.param(
        "stream_create", {"code": "db", "name": "Database", "depends_on": ["api"]}, id="stream-cycle"
    ),
    pytest.param("stream_create", {"code": "ui", "depends_on": ["api", "nope"]}, id="stream-unknown-dep"),
    pytest.param(
        "plan_import",
        {
            "sprints": [{"code": "S2"}],
            "streams": [{"code": "ui"}],
            "tasks": [{"key": "k", "title": "t", "depends_on": ["zz"]}],
        },
        id="plan-unknown-dep",
    ),
    pytest.param("task_done", {"task": "T-1", "summary": "not mine", "agent": "bob"}, id="done-lease-lost"),
    pytest.param("task_claim", {"task": "T-2"}, id="claim-waiting"),
    pytest.param("task_context", {"task": "T-1", "text": "c" * (KIB64 + 1)}, id="context-too-large"),
    pytest.param("task_review", {"task": "T-3", "approve": True}, id="review-not-in-review"),
    pytest.param("task_get", {"task": "T-99"}, id="get-not-found"),
    pytest.param("no_such_tool", {}, id="unknown-tool"),
]


@pytest.mark.parametrize(("tool", "args"), FAILING_CALLS)
async def test_a_failed_call_leaves_the_database_unchanged(client, db_path, clock, tool, args):
    await _seed(client)
    clock.advance(5)
    before = dump(db_path)
    await coded_error(client, tool, **args)
    assert dump(db_path) == before
