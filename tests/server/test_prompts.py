"""The MCP prompts: a fresh worker's bootstrap, the orchestrator's brief and the completion report,
through a real client."""

from __future__ import annotations

import pytest
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS

from tests.conftest import call


async def prompt(client, name: str, **args: str) -> str:
    result = await client.get_prompt(name, args)
    [message] = result.messages
    assert message.role == "user"
    return message.content.text


async def test_both_prompts_are_listed_with_described_arguments(client):
    prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    assert set(prompts) == {"worker_instructions", "orchestrator_brief", "completion_report"}
    args = {a.name: a for a in prompts["worker_instructions"].arguments}
    assert set(args) == {"agent", "task", "stream"}
    assert all(a.description and not a.required for a in args.values())
    assert prompts["orchestrator_brief"].arguments == []
    report = {a.name: a for a in prompts["completion_report"].arguments}
    assert set(report) == {"sprint", "stream", "save"}
    assert all(a.description and not a.required for a in report.values())


async def test_worker_instructions_carry_identity_role_protocol_and_the_tasks_context(client):
    await call(
        client,
        "role_define",
        role={"slug": "backend", "definition": "Server code.", "instructions": "Run the tests before task_done."},
    )
    await call(client, "agent_init", agent="ada", role="backend")
    await call(
        client,
        "task_create",
        tasks=[
            {"code": "DB", "title": "Schema"},
            {"title": "Routes", "depends_on": ["DB"], "context": "Use the v2 router.", "acceptance": "200 on /health"},
        ],
    )
    await call(client, "task_claim", task="DB", agent="ada")
    await call(client, "task_done", task="DB", summary="tables in migrations/0001.sql", agent="ada")

    text = await prompt(client, "worker_instructions", agent="ada", task="T-1")

    assert text.startswith("# You are ada, a worker on project test")
    assert "Run the tests before task_done." in text
    for step in ("agent_init", "task_heartbeat", "task_note", "task_done", "task_fail", "task_block"):
        assert f"`{step}`" in text
    # One loop, taught once: a waiting claim until its outlook says stop, never a polling loop.
    assert "`task_claim(wait_seconds=50)`" in text and "`outlook`" in text
    assert "## Your task: T-1 Routes" in text
    assert "Use the v2 router." in text and "200 on /health" in text
    assert "- DB (done): tables in migrations/0001.sql" in text
    assert 'task_claim(task="T-1")' in text


async def test_worker_instructions_for_a_stream_say_how_much_is_ready_there(client):
    await call(client, "stream_create", code="api", name="Public API")
    await call(client, "task_create", tasks=[{"title": "a", "stream": "api"}, {"title": "b", "stream": "api"}])
    text = await prompt(client, "worker_instructions", stream="api")
    assert "## Stream api: Public API" in text
    assert "2 ready now" in text
    assert 'task_claim(stream="api")' in text


async def test_worker_instructions_for_an_unknown_task_are_a_not_found_error(client):
    with pytest.raises(MCPError) as err:
        await prompt(client, "worker_instructions", task="T-404")
    assert err.value.message.startswith("not_found: Task T-404 does not exist")


async def test_the_orchestrator_brief_lists_what_needs_a_decision_and_who_is_idle(client, clock):
    await call(client, "agent_init", agent="boss", role="orchestrator")
    await call(client, "agent_init", agent="ada", role="backend")
    await call(client, "agent_init", agent="bo", role="backend")
    await call(
        client,
        "task_create",
        tasks=[{"title": "Blocked one"}, {"title": "Failing one", "max_attempts": 1}, {"title": "Spare", "role": "backend"}],
    )
    await call(client, "task_claim", task="T-1", agent="ada")
    await call(client, "task_block", task="T-1", reason="Which port?", agent="ada")
    await call(client, "task_claim", task="T-2", agent="bo")
    await call(client, "task_fail", task="T-2", reason="disk full", agent="bo")

    text = await prompt(client, "orchestrator_brief")

    assert "Tasks: blocked 1, failed 1, ready 1 (3 in all)." in text
    assert "- T-1 is blocked (ada): Which port?. Answer with task_unblock." in text
    assert "- T-2 failed after 1 attempt: disk full." in text
    assert "Escalation #" in text and "[blocker] T-1: Blocked one" in text and "[max_attempts] T-2" in text
    assert "- ada (backend): busy" in text
    assert "Idle agents: boss, bo." in text or "Idle agents: bo, boss." in text
    assert "backend: 1" in text

    # Acknowledged escalations drop out of the brief.
    inbox = await call(client, "message_inbox", agent="boss")
    await call(client, "message_ack", ids=[m["id"] for m in inbox["messages"]], agent="boss")
    assert "Escalation #" not in await prompt(client, "orchestrator_brief")


async def test_the_orchestrator_brief_of_a_quiet_project_says_nothing_needs_a_decision(client):
    text = await prompt(client, "orchestrator_brief")
    assert "Nothing: no blockers, failures, reviews or open escalations." in text
    assert "No agent has joined yet." in text


async def test_an_argument_a_prompt_does_not_take_is_invalid_params_naming_the_ones_it_does(client):
    with pytest.raises(MCPError) as caught:
        await client.get_prompt("worker_instructions", {"taks": "T-1"})
    assert caught.value.error.code == INVALID_PARAMS
    assert "taks" in caught.value.error.message and "agent, task, stream" in caught.value.error.message
    with pytest.raises(MCPError) as caught:
        await client.get_prompt("orchestrator_brief", {"task": "T-1"})
    assert "Arguments: none" in caught.value.error.message


async def test_the_completion_report_of_a_sprint_is_its_markdown_and_save_stores_it_linked_to_the_sprint(client):
    await call(client, "sprint_create", code="S1", title="First")
    await call(client, "task_create", tasks=[{"code": "A", "title": "Schema", "sprint": "S1"}, {"title": "Elsewhere"}])
    await call(client, "task_claim", task="A", agent="ada")
    await call(client, "task_done", task="A", summary="tables in 0001.sql", agent="ada")

    text = await prompt(client, "completion_report", sprint="S1")
    assert text.startswith("# Completion report: sprint S1: First\n")
    changelog = text.split("\n## Changelog\n", 1)[1]
    assert changelog.strip().splitlines()[0].startswith("1. **A** Schema (") and "Elsewhere" not in text
    assert (await call(client, "artifacts_list"))["total"] == 0  # reading it stores nothing

    saved = await prompt(client, "completion_report", sprint="S1", save="yes")
    [artifact] = (await call(client, "artifacts_list", sprint="S1"))["artifacts"]
    assert artifact["media_type"] == "text/markdown" and artifact["links"] == ["sprint:S1"]
    assert artifact["uploaded_by"] == "tester"  # the server's agent (TASKLOOM_AGENT in the test settings)
    assert saved.endswith(f"Saved as {artifact['name']} ({artifact['uri']}), linked to sprint:S1.\n")
    stored = (await call(client, "artifacts_get", artifact=artifact["sha256"]))["text"]
    assert saved.startswith(stored) and stored.startswith("# Completion report: sprint S1")


async def test_the_completion_report_refuses_an_unknown_sprint_both_scopes_and_a_save_that_is_not_yes_or_no(client):
    await call(client, "stream_create", code="api", name="API")
    for args, says in (
        ({"sprint": "S9"}, "not_found: Sprint S9 does not exist"),
        ({"sprint": "S9", "stream": "api"}, "invalid_input: A report covers a sprint or a stream, not both."),
        ({"stream": "api", "save": "please"}, "invalid_input: save is 'please'; it takes yes or no."),
    ):
        with pytest.raises(MCPError) as err:
            await prompt(client, "completion_report", **args)
        assert err.value.error.code == INVALID_PARAMS and err.value.message.startswith(says)
    assert (await call(client, "artifacts_list"))["total"] == 0
