"""The activity feed over MCP: every change is an event, paged with a `since` cursor, filtered by
task, agent and kind; agent_log adds an agent's own entries.

The agent filter is `by_agent`: `agent` on every tool names the caller, and the server fills it
in when omitted. The last section checks that a caller with a default agent or an agent_init
binding still sees everyone's events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from mcp import Client

from taskloom.clock import ManualClock, iso
from taskloom.config import Settings
from taskloom.server import build_server
from taskloom.services.app import Taskloom
from tests.conftest import call, call_error


@pytest.fixture
async def feed_app(db_path, clock: ManualClock) -> AsyncIterator[Taskloom]:
    app = await Taskloom.open(Settings(db_path=db_path, project="test", lease_seconds=60.0), clock)
    try:
        yield app
    finally:
        await app.close()


@pytest.fixture
async def c(feed_app) -> AsyncIterator[Client]:
    async with Client(build_server(feed_app), mode="legacy") as client:
        yield client


async def feed(c, **args) -> dict:
    return await call(c, "activity_feed", **args)


async def kinds(c, **args) -> list[str]:
    return [e["kind"] for e in (await feed(c, limit=200, **args))["events"]]


async def everything(c) -> list[dict]:
    return (await feed(c, limit=200))["events"]


async def work_cycle(c) -> None:
    """carol plans two tasks, alice does the first: a typical run of changes."""
    tasks = [{"title": "build"}, {"title": "ship", "depends_on": ["T-1"]}]
    await call(c, "task_create", tasks=tasks, agent="carol")
    await call(c, "task_claim", task="T-1", agent="alice")
    await call(c, "task_note", task="T-1", body="started", agent="alice")
    await call(c, "task_context", task="T-1", text="uses the v2 API", agent="alice")
    await call(c, "message_send", to="carol", body="on it", agent="alice")
    await call(c, "task_done", task="T-1", summary="built", agent="alice")
    await call(c, "agent_log", text="handing over to ship", agent="alice")


# ---------------------------------------------------------------- every change is an event


async def test_every_change_is_an_event_in_order_with_who_and_what(c):
    await work_cycle(c)
    events = await everything(c)
    assert [(e["kind"], e["subject"], e["agent"]) for e in events] == [
        ("task.created", "T-1", "carol"),
        ("task.created", "T-2", "carol"),
        ("task.ready", "T-1", "carol"),
        ("task.claimed", "T-1", "alice"),
        ("note.note", "T-1", "alice"),
        ("task.context", "T-1", "alice"),
        ("message.sent", "agent:carol", "alice"),
        ("task.done", "T-1", "alice"),
        ("task.ready", "T-2", "alice"),  # unblocked by the completion
        ("agent.log", "agent:alice", "alice"),
    ]
    ids = [e["id"] for e in events]
    assert ids == sorted(set(ids))
    assert ids[0] >= 1
    assert set(events[6]["payload"]) == {"id"}  # the feed is open to all: no message text in it
    assert events[9]["payload"] == {"text": "handing over to ship"}


async def test_event_times_come_from_the_injected_clock(c, clock):
    await call(c, "task_create", tasks=[{"title": "a"}], agent="carol")
    clock.advance(90)
    await call(c, "task_claim", task="T-1", agent="alice")
    events = await everything(c)
    assert events[0]["at"] == iso(clock.now() - 90)
    assert events[-1]["at"] == iso(clock.now())
    assert events[-1]["payload"] == {"lease_expires_at": iso(clock.now() + 60)}  # ISO, like every time


async def test_reads_add_no_events(c):
    await call(c, "task_create", tasks=[{"title": "a"}], agent="carol")
    before = await everything(c)
    await call(c, "task_get", task="T-1")
    await call(c, "task_list")
    await call(c, "message_inbox", agent="carol")
    await call(c, "agent_list")
    await feed(c)
    assert await everything(c) == before


async def test_ids_keep_increasing_across_a_reopen(feed_app, c, db_path, clock):
    await call(c, "task_create", tasks=[{"title": "a"}], agent="carol")
    last = (await everything(c))[-1]["id"]
    app2 = await Taskloom.open(Settings(db_path=db_path, project="test"), clock)
    try:
        async with Client(build_server(app2), mode="legacy") as c2:
            await call(c2, "agent_log", text="from another process", agent="bob")
            page = await feed(c2, since=last)
            assert [(e["kind"], e["agent"]) for e in page["events"]] == [("agent.log", "bob")]
            assert page["events"][0]["id"] > last
    finally:
        await app2.close()


# ---------------------------------------------------------------- paging with since


async def test_paging_with_next_since_returns_each_event_exactly_once(c):
    for i in range(23):
        await call(c, "agent_log", text=f"entry {i}", agent=f"agent-{i % 3}")
    full = [e["id"] for e in await everything(c)]
    assert len(full) == 23

    seen: list[int] = []
    since, pages = 0, 0
    while True:
        page = await feed(c, since=since, limit=5)
        if not page["events"]:
            assert page["next_since"] == since  # an empty page keeps the cursor
            break
        assert len(page["events"]) <= 5
        assert page["next_since"] == page["events"][-1]["id"]
        seen += [e["id"] for e in page["events"]]
        since = page["next_since"]
        pages += 1
    assert seen == full
    assert pages == 5  # 5 + 5 + 5 + 5 + 3

    # New events show up on the next poll, once.
    await call(c, "agent_log", text="late entry", agent="agent-0")
    page = await feed(c, since=since)
    assert [e["payload"]["text"] for e in page["events"]] == ["late entry"]
    assert (await feed(c, since=page["next_since"]))["events"] == []


async def test_since_is_exclusive_and_limit_caps_the_page(c):
    await work_cycle(c)
    events = await everything(c)
    third = events[2]["id"]
    page = await feed(c, since=third, limit=2)
    assert [e["id"] for e in page["events"]] == [events[3]["id"], events[4]["id"]]
    assert (await feed(c, since=events[-1]["id"]))["events"] == []
    assert (await feed(c, since=10**9)) == {"events": [], "next_since": 10**9}


async def test_paging_a_filtered_feed_returns_each_match_once(c):
    for i in range(12):
        await call(c, "agent_log", text=f"a{i}", agent="alice")
        await call(c, "agent_log", text=f"b{i}", agent="bob")
    texts, since = [], 0
    while page := (await feed(c, since=since, by_agent="bob", limit=5))["events"]:
        texts += [e["payload"]["text"] for e in page]
        since = page[-1]["id"]
    assert texts == [f"b{i}" for i in range(12)]


# ---------------------------------------------------------------- filters


async def test_the_task_filter_returns_only_that_tasks_events(c):
    await work_cycle(c)
    await call(c, "agent_log", text="about T-2", task="T-2", agent="alice")
    assert await kinds(c, task="T-1") == [
        "task.created", "task.ready", "task.claimed", "note.note", "task.context", "task.done",
    ]
    assert await kinds(c, task="T-2") == ["task.created", "task.ready", "agent.log"]
    assert all(e["subject"] == "T-2" for e in (await feed(c, task="T-2"))["events"])


async def test_the_agent_filter_returns_only_that_agents_events(c):
    await work_cycle(c)
    assert await kinds(c, by_agent="carol") == ["task.created", "task.created", "task.ready"]
    alice = (await feed(c, by_agent="alice", limit=200))["events"]
    assert {e["agent"] for e in alice} == {"alice"}
    assert len(alice) == 7
    assert await kinds(c, by_agent="nobody") == []


async def test_the_kind_filter_matches_exactly_or_as_a_dotted_prefix(c, feed_app):
    await work_cycle(c)

    def odd_kinds(tx, scope):
        # Kinds no service writes (a newer version's, say): the filter must still treat them right.
        for kind in ("taskx", "taskx.extra", "task"):
            row = {"project": scope.project_id, "now": scope.now, "subject": "T-1", "agent": scope.agent}
            tx.run("event_insert", {**row, "kind": kind, "payload": None})

    await feed_app.write(odd_kinds, agent="tester")
    assert await kinds(c, kind="task.done") == ["task.done"]
    assert await kinds(c, kind="task.ready") == ["task.ready", "task.ready"]
    assert await kinds(c, kind="task") == [
        "task.created", "task.created", "task.ready", "task.claimed", "task.context", "task.done",
        "task.ready", "task",
    ]
    assert await kinds(c, kind="taskx") == ["taskx", "taskx.extra"]
    assert await kinds(c, kind="message") == ["message.sent"]
    assert await kinds(c, kind="note") == ["note.note"]
    assert await kinds(c, kind="agent") == ["agent.log"]
    assert await kinds(c, kind="task.do") == []  # a prefix only ends at a dot
    assert await kinds(c, kind="tas") == []


async def test_filters_combine(c):
    await work_cycle(c)
    await call(c, "task_claim", task="T-2", agent="bob")
    got = (await feed(c, task="T-2", by_agent="bob", kind="task", limit=200))["events"]
    assert [(e["kind"], e["subject"], e["agent"]) for e in got] == [("task.claimed", "T-2", "bob")]
    assert await kinds(c, task="T-1", by_agent="carol") == ["task.created", "task.ready"]


# ---------------------------------------------------------------- agent_log


async def test_agent_log_adds_an_agent_log_event_with_its_text(c):
    logged = await call(c, "agent_log", text="chose SQLite over Postgres for the cache", agent="alice")
    assert logged["redacted"] == 0
    [ev] = await everything(c)
    assert ev["id"] == logged["id"]
    assert (ev["kind"], ev["subject"], ev["agent"], ev["payload"]) == (
        "agent.log", "agent:alice", "alice", {"text": "chose SQLite over Postgres for the cache"},
    )


async def test_agent_log_about_a_task_is_in_that_tasks_feed(c):
    await call(c, "task_create", tasks=[{"title": "a"}], agent="carol")
    logged = await call(c, "agent_log", text="looked into it", task="T-1", agent="alice")
    [ev] = (await feed(c, task="T-1", kind="agent.log"))["events"]
    assert (ev["id"], ev["subject"], ev["payload"]["text"]) == (logged["id"], "T-1", "looked into it")


async def test_agent_log_masks_secrets_and_counts_them(c):
    key = "ghp_" + "LogSecret0123456789abcdefghijklmno"
    logged = await call(c, "agent_log", text=f"pushed with {key} and api_key: zz99yy88xx", agent="alice")
    assert logged["redacted"] == 2
    [ev] = await everything(c)
    assert ev["payload"]["text"] == "pushed with [REDACTED] and api_key: [REDACTED]"


async def test_agent_log_bad_input(c):
    assert (await call_error(c, "agent_log", text="  ", agent="alice"))["code"] == "invalid_input"
    assert (await call_error(c, "agent_log", text="x" * 4097, agent="alice"))["code"] == "too_large"
    assert (await call_error(c, "agent_log", text="hi", task="T-404", agent="alice"))["code"] == "not_found"
    # No agent at all (this server has no default): the entry has no author.
    assert (await call_error(c, "agent_log", text="hi"))["code"] == "invalid_input"
    assert await everything(c) == []
    ok = await call(c, "agent_log", text="x" * 4096, agent="alice")
    assert ok["id"] >= 1


# ---------------------------------------------------------------- bad input


async def test_a_negative_since_is_invalid_input(c):
    err = await call_error(c, "activity_feed", since=-1)
    assert err["code"] == "invalid_input"


async def test_a_limit_out_of_range_is_invalid_input(c):
    for limit in (0, 201):
        err = await call_error(c, "activity_feed", limit=limit)
        assert err["code"] in ("invalid_input", "too_large")


async def test_an_unknown_task_is_not_found(c):
    await call(c, "task_create", tasks=[{"title": "a"}], agent="carol")
    err = await call_error(c, "activity_feed", task="T-404")
    assert err["code"] == "not_found"


# ---------------------------------------------------------------- regressions


async def test_the_feed_without_an_agent_filter_shows_every_agents_events_with_a_default_agent(client):
    # conftest's server runs with default_agent="tester", like TASKLOOM_AGENT in production.
    await call(client, "task_create", tasks=[{"title": "a"}], agent="carol")
    await call(client, "agent_log", text="hello", agent="alice")
    got = await call(client, "activity_feed")
    assert {e["agent"] for e in got["events"]} == {"carol", "alice"}


async def test_the_feed_without_an_agent_filter_shows_every_agents_events_after_agent_init(c):
    await call(c, "task_create", tasks=[{"title": "a"}], agent="carol")
    await call(c, "agent_init", agent="boss", role="orchestrator")  # binds this connection to boss
    got = await call(c, "activity_feed")
    assert [e["kind"] for e in got["events"]] == ["task.created", "task.ready", "agent.init"]


async def test_like_wildcards_in_the_kind_filter_are_taken_literally(c):
    await work_cycle(c)
    assert await kinds(c, kind="%") == []
    assert await kinds(c, kind="t_sk") == []
