"""Agents and roles over MCP: agent_init, the connection's agent, presence, roles, bad input, and
resuming held work after the server process is killed.

Everything but the last section runs in-process on the injected clock (no sleeping); the crash
test starts real `taskloom serve` stdio processes and SIGKILLs one.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from taskloom import __version__
from taskloom.clock import ManualClock, iso
from taskloom.config import Settings
from taskloom.models import Plan
from taskloom.resolver import Resolver
from taskloom.server import build_server
from taskloom.services import planning
from taskloom.services.app import Taskloom
from taskloom.store.postgres import migrate as pg_migrate
from taskloom.store.sqlite import migrate
from tests.conftest import call, call_error

ONLINE = 120.0  # Settings.online_seconds default
OFFLINE = 900.0  # Settings.offline_seconds default
PRESENCE_EVERY = 5.0  # taskloom.server.build.PRESENCE_EVERY


@asynccontextmanager
async def own_app(settings: Settings, clock: ManualClock, **overrides: Any) -> AsyncIterator[Taskloom]:
    """A Taskloom on the test's database with settings other than the conftest ones (a long lease
    unless told otherwise)."""
    app = await Taskloom.open(dataclasses.replace(settings, **{"lease_seconds": 3600.0, **overrides}), clock)
    try:
        yield app
    finally:
        await app.close()


@pytest.fixture
async def observer(app: Taskloom) -> AsyncIterator[Client]:
    """A second connection that never calls agent_init: it watches as the default agent, tester.

    The `client` connection cannot watch an agent's presence once agent_init has bound it: its
    agent_list calls would then be sightings of that very agent.
    """
    async with Client(build_server(app), mode="legacy") as c:
        yield c


async def agents_by_name(client: Client, **filters: Any) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in (await call(client, "agent_list", **filters))["agents"]}


async def agent(client: Client, name: str) -> dict[str, Any]:
    return (await agents_by_name(client))[name]


def role(slug: str, name: str | None = None, **fields: str) -> dict[str, str]:
    """A role as role_define and role_list return it: name defaults to the slug, texts to empty."""
    texts = {"definition": "", "when_to_use": "", "instructions": ""}
    return {"slug": slug, "name": name or slug, **texts, **fields}


def codes(briefs: list[dict[str, Any]]) -> list[str]:
    return [b["code"] for b in briefs]


# ---------------------------------------------------------------- agent_init: what it returns


async def test_agent_init_registers_the_agent_and_reports_health(client, clock, backend):
    out = await call(client, "agent_init", agent="w1", role="backend", capabilities=["sql", "python", "sql"])
    now = iso(clock.now())
    assert out["agent"] == {
        "name": "w1",
        "role": "backend",
        "capabilities": ["python", "sql"],  # sorted, duplicates dropped
        "status": "online",
        "current_task": None,
        "held": 0,
        "last_seen_at": now,
        "registered_at": now,
    }
    assert out["health"] == {
        "store": backend,
        "schema_version": {"sqlite": migrate.latest_version(), "postgresql": pg_migrate.latest_version()}[backend],
        "server_version": __version__,
        "resolver_last_run": None,  # no resolver has run on this database yet
    }
    assert out["role"] is None  # backend is named but not defined
    assert (out["held"], out["claimable"], out["ready"], out["memory"]) == ([], [], 0, [])
    assert out["inbox"] == {"messages": [], "unread": 0}
    assert out["next_step"] == "Nothing is ready for your role now; task_claim later, or check message_inbox."

    listed = await agent(client, "w1")
    assert (listed["role"], listed["capabilities"]) == ("backend", ["python", "sql"])
    assert listed["registered_at"] == now


async def test_health_shows_the_last_resolver_pass_of_this_process_or_of_another_on_the_database(
    app, client, clock, settings
):
    await Resolver(app).run_once()
    ran = clock.now()
    clock.advance(30)
    out = await call(client, "agent_init", agent="w1")
    assert out["health"]["resolver_last_run"] == iso(ran)

    # Another process's resolver records its pass in the database; the later of the two shows.
    clock.advance(30)
    async with own_app(settings, clock) as other:
        await Resolver(other).run_once(reconcile=True)
    other_ran = clock.now()
    clock.advance(5)
    out = await call(client, "agent_init", agent="w1")
    assert out["health"]["resolver_last_run"] == iso(other_ran)


async def test_agent_init_returns_the_definition_and_instructions_of_its_role(client):
    spec = {
        "slug": "backend",
        "name": "Backend engineer",
        "definition": "Owns the API and the database.",
        "when_to_use": "Server-side tasks.",
        "instructions": "Run the tests before task_done.",
    }
    await call(client, "role_define", role=spec)
    await call(client, "role_define", role={"slug": "frontend", "instructions": "Not for backend agents."})
    out = await call(client, "agent_init", agent="w1", role="backend")
    assert out["role"] == spec

    # A redefined role reaches the agent on its next init.
    await call(client, "role_define", role={**spec, "instructions": "Run the tests and the linter."})
    again = await call(client, "agent_init", agent="w1")
    assert again["role"]["instructions"] == "Run the tests and the linter."


async def test_claimable_are_the_ready_tasks_of_its_role_or_of_no_role_in_claim_order(client):
    await call(
        client,
        "task_create",
        tasks=[
            {"title": "backend, normal", "role": "backend"},  # T-1, something waits on it
            {"title": "frontend work", "role": "frontend", "priority": 0},  # T-2: another role
            {"title": "anyone, high", "priority": 1},  # T-3
            {"title": "backend, urgent", "role": "backend", "priority": 0},  # T-4
            {"title": "backend, waits on T-1", "role": "backend", "depends_on": ["T-1"]},  # T-5: not ready
            {"title": "backend, parked", "role": "backend", "backlog": True},  # T-6: not ready
            {"title": "backend, plain", "role": "backend"},  # T-7
        ],
    )
    out = await call(client, "agent_init", agent="w1", role="backend")
    assert codes(out["claimable"]) == ["T-4", "T-3", "T-1", "T-7"]
    assert out["ready"] == 4
    assert [(b["title"], b["status"], b["role"]) for b in out["claimable"][:2]] == [
        ("backend, urgent", "ready", "backend"),
        ("anyone, high", "ready", None),
    ]
    assert out["next_step"] == "Call task_claim to take the next ready task."

    # The same order task_claim hands them out in for that role.
    claimed = []
    for _ in range(4):
        got = await call(client, "task_claim", role="backend", agent="w1")
        claimed.append(got["detail"]["task"]["code"])
    assert claimed == codes(out["claimable"])


async def test_claimable_shows_the_first_five_and_ready_counts_them_all(client):
    await call(client, "task_create", tasks=[{"title": f"t{i}", "priority": i % 5} for i in range(8)])
    out = await call(client, "agent_init", agent="w1")
    assert out["ready"] == 8
    # Priorities 0,1,2,3,4,0,1,2 for T-1..T-8; equal priority and rank: oldest first.
    assert codes(out["claimable"]) == ["T-1", "T-6", "T-2", "T-7", "T-3"]


async def test_an_agent_without_a_role_is_offered_ready_tasks_of_every_role(client):
    tasks = [{"title": "a", "role": "backend"}, {"title": "b", "role": "docs"}]
    await call(client, "task_create", tasks=tasks)
    out = await call(client, "agent_init", agent="generalist")
    assert out["agent"]["role"] is None
    assert (codes(out["claimable"]), out["ready"]) == (["T-1", "T-2"], 2)


async def test_agent_init_brings_unread_messages_and_does_not_mark_them_read(client):
    await call(client, "agent_init", agent="w1", role="backend")
    await call(client, "role_define", role={"slug": "frontend"})
    await call(client, "message_send", to="w1", body="Please look at the flaky test.", agent="lead")
    await call(client, "message_send", to="role:backend", body="Schema freeze on Friday.", agent="lead")
    await call(client, "message_send", to="role:frontend", body="Not for you.", agent="lead")

    out = await call(client, "agent_init", agent="w1")
    inbox = out["inbox"]
    assert inbox["unread"] == 2
    assert [(m["sender"], m["to"], m["body"], m["read"]) for m in inbox["messages"]] == [
        ("lead", "agent:w1", "Please look at the flaky test.", False),
        ("lead", "role:backend", "Schema freeze on Friday.", False),
    ]
    assert "You have 2 unread message(s) below; acknowledge them once handled (message_inbox(ack=[ids]))." in out["next_step"]

    # Reading them in init leaves them unread; acknowledging one does not.
    assert (await call(client, "agent_init", agent="w1"))["inbox"]["unread"] == 2
    await call(client, "message_ack", ids=[inbox["messages"][0]["id"]], agent="w1")
    after = await call(client, "agent_init", agent="w1")
    assert after["inbox"]["unread"] == 1
    assert [(m["body"], m["read"]) for m in after["inbox"]["messages"]] == [
        ("Schema freeze on Friday.", False),
        ("Please look at the flaky test.", True),
    ]
    assert "1 unread message(s)" in after["next_step"]


async def test_agent_init_returns_its_own_memory_with_long_values_truncated(client):
    long_value = "x" * 999 + "é" + "y" * 1500  # 2500 characters
    await call(client, "memory_set", key="notes/long", value=long_value, agent="w1")
    await call(client, "memory_set", key="notes/short", value="keep going", agent="w1")
    await call(client, "memory_set", key="exactly", value="z" * 1000, agent="w1")
    await call(client, "memory_set", key="shared", value="project-wide", scope="project", agent="w1")
    await call(client, "memory_set", key="theirs", value="another agent's", agent="w2")

    out = await call(client, "agent_init", agent="w1")
    memory = {e["key"]: e for e in out["memory"]}
    assert set(memory) == {"exactly", "notes/long", "notes/short"}  # no project or other agents' memory
    assert all(e["scope"] == "agent:w1" for e in memory.values())
    assert (memory["notes/long"]["value"], memory["notes/long"]["truncated"]) == (long_value[:1000], True)
    assert len(memory["notes/long"]["value"]) == 1000
    assert (memory["notes/short"]["value"], memory["notes/short"]["truncated"]) == ("keep going", False)
    assert (memory["exactly"]["value"], memory["exactly"]["truncated"]) == ("z" * 1000, False)

    # memory_get still has the whole value.
    whole = await call(client, "memory_get", key="notes/long", agent="w1")
    assert (whole["value"], whole["truncated"]) == (long_value, False)


async def test_agent_init_leaves_out_memory_that_has_expired(client, clock):
    await call(client, "memory_set", key="lock", value="mine for now", ttl_seconds=10, agent="w1")
    await call(client, "memory_set", key="durable", value="stays", agent="w1")
    assert [e["key"] for e in (await call(client, "agent_init", agent="w1"))["memory"]] == ["durable", "lock"]
    clock.advance(10)
    assert [e["key"] for e in (await call(client, "agent_init", agent="w1"))["memory"]] == ["durable"]


async def test_reinit_without_role_or_capabilities_keeps_them_and_given_ones_replace_them(client, clock):
    first = await call(client, "agent_init", agent="w1", role="backend", capabilities=["python"])
    clock.advance(60)
    again = await call(client, "agent_init", agent="w1")
    assert (again["agent"]["role"], again["agent"]["capabilities"]) == ("backend", ["python"])
    assert again["agent"]["registered_at"] == first["agent"]["registered_at"]
    assert again["agent"]["last_seen_at"] == iso(clock.now())

    changed = await call(client, "agent_init", agent="w1", role="docs", capabilities=["writing", "diagrams"])
    assert (changed["agent"]["role"], changed["agent"]["capabilities"]) == ("docs", ["diagrams", "writing"])
    cleared = await call(client, "agent_init", agent="w1", capabilities=[])
    assert (cleared["agent"]["role"], cleared["agent"]["capabilities"]) == ("docs", [])
    assert [a["name"] for a in (await call(client, "agent_list"))["agents"]] == ["w1"]  # one agent, updated


async def test_agent_init_lists_the_tasks_it_holds_and_says_to_resume_them(client, clock):
    await call(client, "task_create", tasks=[{"title": "one"}, {"title": "two"}, {"title": "three"}])
    await call(client, "task_claim", task="T-2", agent="w1")
    clock.advance(1)  # held tasks are listed in the order they were started
    await call(client, "task_claim", task="T-3", agent="w1")
    await call(client, "task_block", task="T-3", reason="Which database?", agent="w1")
    await call(client, "task_claim", task="T-1", agent="someone-else")

    out = await call(client, "agent_init", agent="w1")
    assert [(b["code"], b["status"], b["claimed_by"]) for b in out["held"]] == [
        ("T-2", "in_progress", "w1"),
        ("T-3", "blocked", "w1"),
    ]
    assert out["next_step"].startswith(
        "You still hold T-2, T-3: task_get it and carry on (task_heartbeat renews the lease)."
    )
    assert (out["agent"]["status"], out["agent"]["held"], out["agent"]["current_task"]) == ("busy", 2, "T-2")
    assert (out["claimable"], out["ready"]) == ([], 0)


# ---------------------------------------------------------------- the connection's agent


async def test_a_call_without_agent_on_the_same_connection_acts_as_the_agent_of_agent_init(settings, clock):
    async with own_app(settings, clock, default_agent=None) as app:
        server = build_server(app)
        async with Client(server, mode="legacy") as w1, Client(server, mode="legacy") as other:
            await call(w1, "task_create", tasks=[{"title": "a"}, {"title": "b"}], agent="lead")
            # Before agent_init the connection has no agent.
            err = await call_error(w1, "task_claim")
            assert err["code"] == "invalid_input" and "No agent name was given" in err["message"]

            assert (await call(w1, "agent_init", agent="w1"))["agent"]["name"] == "w1"
            claim = await call(w1, "task_claim")
            assert claim["detail"]["task"]["code"] == "T-1"
            assert claim["detail"]["task"]["claimed_by"] == "w1"
            await call(w1, "task_note", task="T-1", body="started")
            done = await call(w1, "task_done", task="T-1", summary="finished by the bound agent")
            assert done["task"]["status"] == "done"
            assert (await call(w1, "memory_set", key="k", value="v"))["scope"] == "agent:w1"

            # The other connection to the same server is not w1, and still has no agent.
            err = await call_error(other, "task_claim")
            assert err["code"] == "invalid_input"
            assert (await call_error(other, "memory_get", key="k"))["code"] == "invalid_input"
            got = await call(other, "task_get", task="T-1")
            assert (got["task"]["claimed_by"], got["task"]["status"]) == ("w1", "done")

            # It can bind its own agent, without disturbing the first connection's.
            await call(other, "agent_init", agent="w2")
            assert (await call(other, "task_claim"))["detail"]["task"]["claimed_by"] == "w2"
            assert (await call(w1, "memory_get", key="k"))["value"] == "v"
            assert (await call_error(other, "memory_get", key="k"))["code"] == "not_found"  # w2 has none


async def test_an_explicit_agent_wins_over_the_bound_one_and_a_new_init_rebinds(client):
    await call(client, "task_create", tasks=[{"title": "a"}, {"title": "b"}, {"title": "c"}])
    await call(client, "agent_init", agent="w1")
    assert (await call(client, "task_claim", agent="w9"))["detail"]["task"]["claimed_by"] == "w9"
    assert (await call(client, "task_claim"))["detail"]["task"]["claimed_by"] == "w1"  # not tester
    await call(client, "agent_init", agent="w2")
    assert (await call(client, "task_claim"))["detail"]["task"]["claimed_by"] == "w2"
    # Each call was a sighting of the agent it acted as: tester (task_create, before any
    # agent_init), w9 (explicit), w1 and w2 (bound).
    assert set(await agents_by_name(client)) == {"tester", "w1", "w2", "w9"}


async def test_without_agent_init_a_connection_acts_as_the_default_agent(app, settings, clock):
    server = build_server(app)
    async with Client(server, mode="legacy") as bound, Client(server, mode="legacy") as plain:
        await call(bound, "agent_init", agent="w1")
        await call(plain, "task_create", tasks=[{"title": "a"}])
        got = await call(plain, "task_claim")
        assert got["detail"]["task"]["claimed_by"] == "tester"  # the conftest default_agent
        assert got["detail"]["task"]["created_by"] == "tester"


# ---------------------------------------------------------------- presence


async def test_an_agent_is_online_then_idle_after_online_seconds_then_offline_after_offline_seconds(
    client, observer, clock
):
    await call(client, "agent_init", agent="w1")
    seen = iso(clock.now())
    statuses = []
    for quiet in (0, ONLINE - 1, ONLINE, OFFLINE - 1, OFFLINE, OFFLINE * 10):
        clock.advance(quiet - (statuses[-1][0] if statuses else 0))
        w1 = await agent(observer, "w1")
        assert w1["last_seen_at"] == seen
        statuses.append((quiet, w1["status"]))
    assert statuses == [
        (0, "online"),
        (ONLINE - 1, "online"),
        (ONLINE, "idle"),
        (OFFLINE - 1, "idle"),
        (OFFLINE, "offline"),
        (OFFLINE * 10, "offline"),
    ]

    # Any call of its own brings it back.
    await call(client, "message_inbox")
    w1 = await agent(observer, "w1")
    assert (w1["status"], w1["last_seen_at"]) == ("online", iso(clock.now()))


async def test_an_agent_holding_an_in_progress_or_blocked_task_is_busy_however_quiet_until_offline(
    settings, clock
):
    async with (
        own_app(settings, clock, default_agent="lead") as app,
        Client(build_server(app), mode="legacy") as c,
    ):
        await call(c, "task_create", tasks=[{"title": "a"}, {"title": "b"}])
        await call(c, "agent_init", agent="w1")
        await call(c, "task_claim", task="T-1", agent="w1")
        w1 = await agent(c, "w1")
        assert (w1["status"], w1["current_task"], w1["held"]) == ("busy", "T-1", 1)

        clock.advance(ONLINE + 60)  # quiet, but holding: busy, not idle
        w1 = await agent(c, "w1")
        assert (w1["status"], w1["current_task"]) == ("busy", "T-1")

        await call(c, "task_block", task="T-1", reason="Need the API key.", agent="w1")
        clock.advance(ONLINE + 60)
        w1 = await agent(c, "w1")
        assert (w1["status"], w1["held"], w1["current_task"]) == ("busy", 1, None)  # nothing in progress

        unblocked = await call(c, "task_unblock", task="T-1", answer="Key is in the vault.")
        assert (unblocked["task"]["status"], unblocked["task"]["claimed_by"]) == ("in_progress", "w1")
        clock.advance(1)
        await call(c, "task_claim", task="T-2", agent="w1")
        w1 = await agent(c, "w1")
        assert (w1["status"], w1["held"], w1["current_task"]) == ("busy", 2, "T-2")  # the latest started

        clock.advance(OFFLINE)  # unseen this long: offline even while holding tasks
        w1 = await agent(c, "w1")
        assert (w1["status"], w1["held"]) == ("offline", 2)

        # Back, and finishing what it held: online, not busy.
        await call(c, "task_done", task="T-1", summary="done", agent="w1")
        await call(c, "task_done", task="T-2", summary="done", agent="w1")
        w1 = await agent(c, "w1")
        assert (w1["status"], w1["held"], w1["current_task"]) == ("online", 0, None)


async def test_any_successful_call_refreshes_last_seen_at_most_once_per_five_seconds(client, observer, clock):
    await call(client, "agent_init", agent="w1")
    t0 = clock.now()

    clock.advance(PRESENCE_EVERY - 1)
    await call(client, "message_inbox", agent="w1")  # within the throttle window: not written
    assert (await agent(observer, "w1"))["last_seen_at"] == iso(t0)

    clock.advance(1)  # exactly PRESENCE_EVERY since the last write
    await call(client, "memory_list", agent="w1")
    t1 = clock.now()
    assert (await agent(observer, "w1"))["last_seen_at"] == iso(t1)

    clock.advance(PRESENCE_EVERY / 2)
    await call(client, "message_inbox", agent="w1")
    assert (await agent(observer, "w1"))["last_seen_at"] == iso(t1)

    # Tools without an `agent` argument, reads included, count for the connection's agent.
    for tool in ("role_list", "agent_list", "project_status"):
        clock.advance(ONLINE * 2)
        assert (await agent(observer, "w1"))["status"] == "idle"
        await call(client, tool)
        w1 = await agent(observer, "w1")
        assert (w1["status"], w1["last_seen_at"]) == ("online", iso(clock.now())), tool


async def test_a_failed_call_is_not_a_sighting(client, observer, clock):
    # A refused call commits nothing, presence included (and registers no mistyped name).
    await call(client, "agent_init", agent="w1")
    seen = iso(clock.now())
    clock.advance(ONLINE)
    assert (await call_error(client, "task_heartbeat", task="T-404", agent="w1"))["code"] == "not_found"
    w1 = await agent(observer, "w1")
    assert (w1["status"], w1["last_seen_at"]) == ("idle", seen)
    assert (await call_error(client, "task_heartbeat", task="T-404", agent="typo"))["code"] == "not_found"
    assert "typo" not in await agents_by_name(observer)


async def test_a_first_call_of_any_tool_registers_an_agent_that_never_called_agent_init(client, clock):
    await call(client, "message_inbox", agent="drifter")
    drifter = await agent(client, "drifter")  # as tester: this connection has no agent_init
    now = iso(clock.now())
    assert drifter == {
        "name": "drifter",
        "role": None,
        "capabilities": [],
        "status": "online",
        "current_task": None,
        "held": 0,
        "last_seen_at": now,
        "registered_at": now,
    }


async def test_agent_list_filters_by_status_and_lists_the_most_recently_seen_first(client, clock):
    await call(client, "task_create", tasks=[{"title": "a"}], agent="lead")
    await call(client, "agent_init", agent="gone")
    clock.advance(OFFLINE)
    await call(client, "agent_init", agent="quiet")
    clock.advance(ONLINE)
    await call(client, "agent_init", agent="worker")
    await call(client, "task_claim", task="T-1", agent="worker")
    clock.advance(PRESENCE_EVERY)
    await call(client, "agent_init", agent="fresh")
    await call(client, "agent_init", agent="tester")  # the default agent; every agent_list call refreshes it

    everyone = (await call(client, "agent_list"))["agents"]
    assert [(a["name"], a["status"]) for a in everyone] == [
        ("fresh", "online"),
        ("tester", "online"),
        ("worker", "busy"),
        ("quiet", "idle"),
        ("gone", "offline"),
        ("lead", "offline"),
    ]
    by_status = {
        status: [a["name"] for a in (await call(client, "agent_list", status=status))["agents"]]
        for status in ("online", "busy", "idle", "offline")
    }
    assert by_status == {
        "online": ["fresh", "tester"],
        "busy": ["worker"],
        "idle": ["quiet"],
        "offline": ["gone", "lead"],
    }
    assert (await agents_by_name(client, status="busy"))["worker"]["current_task"] == "T-1"
    assert (await call_error(client, "agent_list", status="asleep"))["code"] == "invalid_input"


async def test_presence_windows_follow_the_settings(settings, clock):
    windows = {"online_seconds": 10.0, "offline_seconds": 30.0}
    async with own_app(settings, clock, default_agent="lead", **windows) as app:
        server = build_server(app)
        async with Client(server, mode="legacy") as w1, Client(server, mode="legacy") as watcher:
            await call(w1, "agent_init", agent="w1")
            seen = []
            for step in (9, 1, 19, 1):
                clock.advance(step)
                seen.append((await agent(watcher, "w1"))["status"])
            assert seen == ["online", "idle", "idle", "offline"]


# ---------------------------------------------------------------- roles


async def test_role_define_creates_and_replaces_and_role_list_lists_by_slug(client):
    made = await call(client, "role_define", role={"slug": "qa", "definition": "Tests things."})
    assert made == role("qa", definition="Tests things.")
    await call(client, "role_define", role={"slug": "backend", "name": "Backend", "instructions": "Use SQL."})

    replaced = await call(
        client,
        "role_define",
        role={"slug": "qa", "name": "Quality", "when_to_use": "Before review.", "instructions": "Break it."},
    )
    # Upsert replaces the whole definition: the omitted definition is now empty.
    assert replaced == {
        "slug": "qa",
        "name": "Quality",
        "definition": "",
        "when_to_use": "Before review.",
        "instructions": "Break it.",
    }
    roles = (await call(client, "role_list"))["roles"]
    assert roles == [
        role("backend", "Backend", instructions="Use SQL."),
        replaced,
    ]


async def test_role_list_of_a_new_project_is_empty(client):
    assert await call(client, "role_list") == {"roles": []}


async def test_bad_role_definitions_are_refused_and_change_nothing(client):
    await call(client, "role_define", role={"slug": "qa", "instructions": "Break it."})
    err = await call_error(client, "role_define", role={"slug": "quality assurance"})
    assert err["code"] == "invalid_input" and "role.slug" in err["message"] and err["hint"]
    err = await call_error(client, "role_define", role={"slug": "qa", "instructions": "x" * (64 * 1024 + 1)})
    assert err["code"] == "too_large" and "instructions" in err["message"] and err["hint"]
    err = await call_error(client, "role_define", role={"slug": "qa", "instructionz": "typo"})
    assert err["code"] == "invalid_input" and "instructionz" in err["message"]
    assert (await call(client, "role_list"))["roles"] == [role("qa", instructions="Break it.")]


PLAN_ROLES = [
    {
        "slug": "backend",
        "name": "Backend",
        "definition": "APIs and storage.",
        "when_to_use": "Anything behind the API.",
        "instructions": "Migrations go in store/sqlite/migrations.",
    },
    {"slug": "docs", "instructions": "Keep the README short."},
]


async def test_roles_of_an_imported_plan_are_listed_and_reach_agent_init(app, client):
    plan = Plan.model_validate(
        {
            "roles": PLAN_ROLES,
            "tasks": [
                {"key": "api", "title": "API", "role": "backend"},
                {"key": "readme", "title": "README", "role": "docs"},
            ],
        }
    )
    result = await app.write(planning.import_plan, plan)
    assert (result.roles, result.tasks_created) == (2, 2)

    roles = (await call(client, "role_list"))["roles"]
    assert roles == [
        PLAN_ROLES[0],
        role("docs", instructions="Keep the README short."),
    ]
    out = await call(client, "agent_init", agent="w1", role="backend")
    assert out["role"] == PLAN_ROLES[0]
    assert (codes(out["claimable"]), out["ready"]) == (["T-1"], 1)


async def test_plan_import_over_mcp_imports_the_plans_roles(client):
    result = await call(
        client,
        "plan_import",
        roles=PLAN_ROLES,
        tasks=[{"key": "api", "title": "API", "role": "backend"}],
    )
    assert result["roles"] == 2
    assert [r["slug"] for r in (await call(client, "role_list"))["roles"]] == ["backend", "docs"]
    assert (await call(client, "agent_init", agent="w1", role="backend"))["role"] == PLAN_ROLES[0]


# ---------------------------------------------------------------- bad input


UNUSABLE = [
    ({"agent": "   "}, "agent name"),
    ({"agent": "alice\nbob"}, "agent name"),
    ({"agent": "alice\r"}, "agent name"),
    ({"agent": "tab\there"}, "agent name"),
    ({"agent": "w1", "role": "back\nend"}, "role"),
    ({"agent": "w1", "role": " "}, "role"),
    ({"agent": "w1", "role": ""}, "role"),
    ({"agent": "w1", "capabilities": ["python", "two\nlines"]}, "capability"),
    ({"agent": "w1", "capabilities": ["python", ""]}, "capabilities.1"),
]


async def test_agent_init_with_an_unusable_name_role_or_capability_is_invalid_input_with_a_hint(client):
    for args, needle in UNUSABLE:
        err = await call_error(client, "agent_init", **args)
        assert err["code"] == "invalid_input", args
        assert needle in err["message"], (args, err)
        assert err["hint"], args
    # Nobody was registered (agent_list's own caller, tester, is recorded after it answers).
    assert await agents_by_name(client) == {}


async def test_the_hint_for_an_unusable_agent_name_suggests_a_usable_one(client):
    err = await call_error(client, "agent_init", agent="first line\nsecond line")
    assert err["message"] == (
        "The agent name 'first line\\nsecond line' is not usable: it must be 1..100 characters on one line."
    )
    assert err["hint"] == "Pick a short agent name such as 'backend-1'."


async def test_agent_init_with_an_empty_name_and_no_default_agent_is_invalid_input(settings, clock):
    async with (
        own_app(settings, clock, default_agent=None) as app,
        Client(build_server(app), mode="legacy") as c,
    ):
        for args in ({"agent": ""}, {}):
            err = await call_error(c, "agent_init", **args)
            assert err["code"] == "invalid_input"
            assert err["message"] == "No agent name was given."
            assert "agent" in err["hint"] and "TASKLOOM_AGENT" in err["hint"]
        assert (await call(c, "agent_list"))["agents"] == []


async def test_agent_init_with_an_explicitly_empty_name_is_invalid_input_even_with_a_default_agent(client):
    err = await call_error(client, "agent_init", agent="", role="backend")
    assert err["code"] == "invalid_input"


async def test_agent_init_with_more_than_twenty_capabilities_is_refused_with_a_hint(client):
    err = await call_error(client, "agent_init", agent="w1", capabilities=[f"cap-{i}" for i in range(21)])
    # Like task labels, a list over its length limit is too_large (not invalid_input).
    assert err["code"] == "too_large"
    assert "capabilities" in err["message"] and err["hint"]
    assert "w1" not in await agents_by_name(client)

    ok = await call(client, "agent_init", agent="w1", capabilities=[f"cap-{i:02}" for i in range(20)])
    assert len(ok["agent"]["capabilities"]) == 20


async def test_an_agent_name_over_100_characters_is_refused_and_100_is_accepted(client):
    err = await call_error(client, "agent_init", agent="a" * 101)
    assert err["code"] == "too_large" and "agent" in err["message"] and err["hint"]
    assert (await call(client, "agent_init", agent="a" * 100))["agent"]["name"] == "a" * 100


# ---------------------------------------------------------------- crash and restart (real processes)

TASKLOOM = str(Path(sys.executable).with_name("taskloom"))
PROJECT = "crash"
# `sh -c` writes its own pid, then execs the server in place: the pid is the server's.
WRITE_PID_THEN_EXEC = 'echo $$ > "$0" && exec "$@"'


def serve_params(tmp_path: Path, db: Path, pid_file: Path, agent: str | None) -> StdioServerParameters:
    env = {k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ}
    if agent:
        env["TASKLOOM_AGENT"] = agent
    return StdioServerParameters(
        command="/bin/sh",
        args=[
            "-c", WRITE_PID_THEN_EXEC, str(pid_file),
            TASKLOOM, "serve", "--transport", "stdio", "--db", str(db), "--project", PROJECT,
            "--lease-seconds", "3600",
        ],
        env=env,
        cwd=str(tmp_path),
    )


def wait_gone(pid: int, deadline: float = 10.0) -> None:
    """Until the process no longer exists, or is a zombie (dead, not yet reaped by its parent)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return
        except FileNotFoundError:
            return
        time.sleep(0.01)
    pytest.fail(f"server process {pid} still alive {deadline}s after SIGKILL")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGKILL and /proc")
@pytest.mark.parametrize("restart", ["same TASKLOOM_AGENT", "agent named in agent_init"])
async def test_agent_init_resumes_held_tasks_after_the_server_process_is_killed(tmp_path, restart):
    db = tmp_path / "crash.db"
    first_pid = tmp_path / "first.pid"

    async with Client(serve_params(tmp_path, db, first_pid, "w1"), mode="legacy") as first:
        init = await call(first, "agent_init", role="backend")
        assert (init["agent"]["name"], init["held"]) == ("w1", [])
        tasks = [{"title": "resume me", "role": "backend"}, {"title": "later"}]
        made = await call(first, "task_create", tasks=tasks)
        assert [t["code"] for t in made["tasks"]] == ["T-1", "T-2"]
        claim = await call(first, "task_claim", task="T-1")
        held = claim["detail"]["task"]
        assert (held["claimed_by"], held["status"]) == ("w1", "in_progress")
        await call(first, "task_note", task="T-1", body="halfway: schema written")

        pid = int(first_pid.read_text())
        os.kill(pid, signal.SIGKILL)  # no shutdown, no release: a crash
        wait_gone(pid)

    second_pid = tmp_path / "second.pid"
    env_agent = "w1" if restart == "same TASKLOOM_AGENT" else None
    async with Client(serve_params(tmp_path, db, second_pid, env_agent), mode="legacy") as second:
        assert int(second_pid.read_text()) != pid
        args = {} if env_agent else {"agent": "w1"}
        resumed = await call(second, "agent_init", **args)
        assert resumed["agent"]["name"] == "w1"
        assert resumed["agent"]["role"] == "backend"  # kept from before the crash
        assert (resumed["agent"]["status"], resumed["agent"]["current_task"]) == ("busy", "T-1")
        assert [(b["code"], b["title"], b["status"], b["claimed_by"]) for b in resumed["held"]] == [
            ("T-1", "resume me", "in_progress", "w1")
        ]
        assert resumed["next_step"].startswith("You still hold T-1: task_get it and carry on")
        assert codes(resumed["claimable"]) == ["T-2"]

        # The new process carries on for w1; with no agent argument, as the connection's agent.
        detail = await call(second, "task_get", task="T-1")
        assert "halfway: schema written" in [n["body"] for n in detail["notes"]]
        assert (await call(second, "task_heartbeat", task="T-1"))["task"]["claimed_by"] == "w1"
        done = await call(second, "task_done", task="T-1", summary="finished after the crash")
        assert (done["task"]["status"], done["task"]["claimed_by"]) == ("done", "w1")
        got = (await call(second, "task_get", task="T-1"))["task"]
        assert (got["status"], got["summary"]) == ("done", "finished after the crash")
        after = await call(second, "agent_init")
        assert (after["held"], after["agent"]["status"]) == ([], "online")


@pytest.mark.parametrize("name", ["all", "ALL", "taskloom", "Taskloom", "role:x", "task:T-1", "agent:bob", " bob", "bob "])
async def test_reserved_and_padded_names_are_refused_by_every_tool_not_only_agent_init(client, name):
    for tool, args in (("agent_init", {}), ("task_create", {"tasks": [{"title": "t"}]}), ("message_inbox", {})):
        err = await call_error(client, tool, agent=name, **args)
        assert err["code"] == "invalid_input" and repr(name) in err["message"], (tool, err)
    assert name not in await agents_by_name(client)
    assert (await call(client, "task_list"))["total"] == 0


async def test_an_explicitly_empty_agent_is_refused_rather_than_stored_as_nameless(client):
    err = await call_error(client, "task_create", agent="", tasks=[{"title": "nameless"}])
    assert (err["code"], err["message"]) == ("invalid_input", "No agent name was given.")
    assert "agent_init" in err["hint"]
    assert (await call(client, "task_list"))["total"] == 0


async def test_the_worker_prompt_refuses_a_name_agent_init_would_refuse(client):
    from mcp.shared.exceptions import MCPError

    with pytest.raises(MCPError) as caught:
        await client.get_prompt("worker_instructions", {"agent": "all"})
    assert "reserved" in caught.value.error.message


async def test_an_agent_of_the_wrong_type_is_invalid_input(client):
    for value in (7, ["bob"], {"name": "bob"}):
        err = await call_error(client, "message_inbox", agent=value)
        assert err["code"] == "invalid_input" and "agent" in err["message"], err
