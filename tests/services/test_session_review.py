"""Review of the coordination fixes (thread readers, acks, unblock answers, push, redaction,
escalation of stranded work): one test per defect the review found, each named for the behaviour
it expects. Cost tests count SQLite virtual-machine steps, so they are deterministic."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from mcp.server.subscriptions import ResourceUpdated

from taskloom.domain.redact import redact
from taskloom.server import build_server
from taskloom.services import activity
from tests.conftest import call, vm_steps


def _fill_events(db_path: Path, n: int) -> None:
    """`n` events about other subjects (another agent's log lines)."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO events (project_id, at, kind, subject, agent) VALUES (1, 0, 'agent.log', 'agent:other', 'other')",
        [()] * n,
    )
    conn.execute("COMMIT")
    conn.close()


# ---------------------------------------------------------------- thread readers


@pytest.mark.parametrize("named", [True, False], ids=["claim_code", "claim_next"])
async def test_a_worker_who_finished_a_task_still_reads_the_thread_message_written_before_its_claim(client, named):
    await call(client, "agent_init", agent="boss", role="orchestrator")
    await call(client, "agent_init", agent="ada", role="dev")
    await call(client, "task_create", agent="boss", tasks=[{"title": "migrate", "role": "dev"}])
    sent = await call(client, "message_send", agent="boss", to="task:T-1", body="Use the v2 schema, not v1.")
    claimed = await call(client, "task_claim", agent="ada", **({"task": "T-1"} if named else {}))
    assert claimed["detail"]["task"]["code"] == "T-1"
    held = await call(client, "message_inbox", agent="ada")
    assert sent["id"] in [m["id"] for m in held["messages"]]

    await call(client, "task_done", agent="ada", task="T-1", summary="done")

    after = await call(client, "message_inbox", agent="ada")
    assert sent["id"] in [m["id"] for m in after["messages"]]


# ---------------------------------------------------------------- escalation volume


async def test_a_stranded_task_is_escalated_once_however_many_tasks_of_its_upstream_stream_fail(client):
    await call(client, "agent_init", agent="boss", role="orchestrator")
    await call(client, "agent_init", agent="ada", role="dev")
    await call(client, "stream_create", code="A")
    await call(client, "stream_create", code="B", depends_on=["A"])
    await call(client, "task_create", agent="boss", tasks=[{"code": f"A{i}", "title": "a", "stream": "A"} for i in range(3)])
    await call(client, "task_create", agent="boss", tasks=[{"code": f"B{i}", "title": "b", "stream": "B"} for i in range(5)])
    for i in range(3):
        await call(client, "task_claim", agent="ada", task=f"A{i}")
        await call(client, "task_fail", agent="ada", task=f"A{i}", reason="broken", retry=False)

    inbox = await call(client, "message_inbox", agent="boss", limit=200)
    per_task: dict[str, int] = {}
    for m in inbox["messages"]:
        if m["kind"] == "escalation" and m["task"].startswith("B"):
            per_task[m["task"]] = per_task.get(m["task"], 0) + 1
    assert per_task and max(per_task.values()) == 1, per_task


# ---------------------------------------------------------------- SQL cost


@pytest.mark.sqlite_only  # counts SQLite VM steps
async def test_a_tasks_activity_feed_does_not_cost_more_as_other_events_grow(client, app, db_path):
    await call(client, "task_create", tasks=[{"title": "watched"}])
    scope = app.scope("reader")

    def read(tx):
        activity.feed(tx, scope, since=0, task="T-1", limit=50)

    _fill_events(db_path, 2_000)
    small = vm_steps(db_path, read)
    _fill_events(db_path, 8_000)  # 5x the unrelated events
    large = vm_steps(db_path, read)
    assert large < small * 1.5 + 50, (small, large)


# ---------------------------------------------------------------- push


async def test_claiming_a_dependency_notifies_listeners_of_the_dependents_page(app):
    from mcp import Client

    server = build_server(app)
    heard: list[str] = []
    server.push.bus.subscribe(lambda e: heard.append(str(e.uri)) if isinstance(e, ResourceUpdated) else None)
    async with Client(server, mode="legacy") as client:
        await call(client, "task_create", tasks=[{"title": "schema"}, {"title": "api", "depends_on": ["T-1"]}])
        before = (await call(client, "task_get", task="T-2"))["dependencies"]
        await server.push.check()  # starting point
        await call(client, "task_claim", task="T-1", agent="ada")
        await server.push.check()
        after = (await call(client, "task_get", task="T-2"))["dependencies"]
    assert before[0]["status"] == "ready" and after[0]["status"] == "in_progress"  # the page changed
    assert "taskloom://tasks/T-2" in heard


# ---------------------------------------------------------------- redaction false positives


@pytest.mark.parametrize(
    "text",
    [
        # 'authorization: basic' + any 8+ alphanumerics, no check that it is base64 of user:pass
        "Authorization: Basic authentication is disabled on staging, use OAuth.",
        # token_assignment: special-token settings every tokenizer config has
        "Set tokenizer.pad_token = tokenizer.eos_token before batching.",
        "unk_token: <unk>, cls_token: [CLS]",
        # token_assignment: identifiers and null values in code
        "The pager returns next_token=None when the stream ends.",
        "Loop with page_token = response.next_page_token until it is empty.",
    ],
)
def test_ordinary_developer_text_about_tokens_and_basic_auth_is_not_masked(text):
    assert redact(text).count == 0, redact(text).text
