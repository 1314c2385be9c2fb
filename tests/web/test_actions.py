"""A person's actions from the dashboard: each calls the tool's own service, attributed to them."""

from __future__ import annotations

import pytest

from taskloom.services import activity, tasks, work
from tests.web.conftest import blocked_task, import_example, sign_in


async def _events(app, kind: str) -> list:
    return [e for e in (await app.read(activity.feed, kind=kind, limit=200)).events]


async def test_answering_a_blocker_unblocks_the_task_and_the_answer_is_the_persons(app, web):
    await import_example(app)
    await blocked_task(app)
    csrf = await sign_in(web, name="alice")
    page = await web.get("/ui/task/EXP-1")
    assert 'id="answer"' in page.text and "Which date format?" in page.text

    r = await web.post("/ui/task/EXP-1/unblock", data={"csrf": csrf, "answer": "ISO 8601, UTC."})

    assert r.status_code == 303 and r.headers["location"] == "/ui/task/EXP-1"
    task = (await app.read(tasks.get, "EXP-1")).task
    assert task.status == "in_progress" and task.claimed_by == "bob"  # the lease resumes for the holder
    *_, resumed = await _events(app, "task.in_progress")
    assert resumed.agent == "alice"


async def test_review_approve_and_send_back(app, web):
    await import_example(app)
    await app.write(tasks.update, "EXP-1", {"requires_review": True})
    await app.write(work.claim, code="EXP-1", agent="bob")
    await app.write(work.done, "EXP-1", "schema written", agent="bob")
    assert (await app.read(tasks.get, "EXP-1")).task.status == "review"
    csrf = await sign_in(web, name="alice")

    refused = await web.post("/ui/task/EXP-1/review", data={"csrf": csrf, "approve": "0"})
    assert refused.status_code == 400 and "reason" in refused.text  # sending back needs a reason
    r = await web.post("/ui/task/EXP-1/review", data={"csrf": csrf, "approve": "1"})

    assert r.status_code == 303
    assert (await app.read(tasks.get, "EXP-1")).task.status == "done"


async def test_retry_a_failed_task_and_a_stale_page_is_a_conflict(app, web):
    await import_example(app)
    await app.write(tasks.update, "EXP-1", {"max_attempts": 1})
    await app.write(work.claim, code="EXP-1", agent="bob")
    await app.write(work.fail, "EXP-1", "disk full", False, agent="bob")
    detail = await app.read(tasks.get, "EXP-1")
    assert detail.task.status == "failed"
    csrf = await sign_in(web, name="alice")

    stale = await web.post("/ui/task/EXP-1/retry", data={"csrf": csrf, "version": str(detail.task.version - 1)})
    assert stale.status_code == 409 and "someone changed it" in stale.text
    r = await web.post("/ui/task/EXP-1/retry", data={"csrf": csrf, "version": str(detail.task.version),
                                                      "reason": "disk cleaned"})

    assert r.status_code == 303
    assert (await app.read(tasks.get, "EXP-1")).task.status == "ready"


async def test_cancel_and_reprioritise(app, web):
    await import_example(app)
    csrf = await sign_in(web, name="alice")
    version = (await app.read(tasks.get, "EXP-4")).task.version

    r = await web.post("/ui/task/EXP-4/priority", data={"csrf": csrf, "priority": "0", "version": str(version)})
    assert r.status_code == 303
    task = (await app.read(tasks.get, "EXP-4")).task
    assert task.priority == 0
    r = await web.post("/ui/task/EXP-4/cancel", data={"csrf": csrf, "reason": "out of scope",
                                                      "version": str(task.version)})
    assert r.status_code == 303
    assert (await app.read(tasks.get, "EXP-4")).task.status == "cancelled"


@pytest.mark.parametrize("priority", ["9", "-1", "high", ""])
async def test_a_bad_priority_is_a_clear_error_and_changes_nothing(app, web, priority):
    await import_example(app)
    csrf = await sign_in(web, name="alice")
    before = (await app.read(tasks.get, "EXP-4")).task

    r = await web.post("/ui/task/EXP-4/priority", data={"csrf": csrf, "priority": priority})

    assert r.status_code == 400 and "invalid_input" in r.text
    assert (await app.read(tasks.get, "EXP-4")).task == before


async def test_send_a_message_to_a_task_thread(app, web):
    await import_example(app)
    csrf = await sign_in(web, name="alice")

    r = await web.post("/ui/messages", data={"csrf": csrf, "to": "task:EXP-2", "body": "Use the new writer.",
                                             "back": "/ui/task/EXP-2"})

    assert r.status_code == 303 and r.headers["location"] == "/ui/task/EXP-2"
    [sent] = await _events(app, "message.sent")
    assert sent.agent == "alice"


@pytest.mark.parametrize("back", ["https://evil.example/", "//evil.example/ui/", "/ui\\..\\x", "javascript:alert(1)"])
async def test_sending_never_redirects_off_the_dashboard(app, web, back):
    await import_example(app)
    csrf = await sign_in(web, name="alice")
    r = await web.post("/ui/messages", data={"csrf": csrf, "to": "all", "body": "hi", "back": back})
    assert r.status_code == 303 and r.headers["location"] == "/ui/"


async def test_an_unknown_task_or_action_is_not_found(app, web):
    await import_example(app)
    csrf = await sign_in(web, name="alice")
    assert (await web.post("/ui/task/NOPE-1/cancel", data={"csrf": csrf, "reason": "x"})).status_code == 404
    assert (await web.post("/ui/task/EXP-1/explode", data={"csrf": csrf})).status_code == 404
    assert (await web.get("/ui/task/NOPE-1")).status_code == 404


async def test_acting_needs_a_name_on_an_open_dashboard(app, web):
    await import_example(app)
    page = await web.get("/ui/")
    from tests.web.conftest import csrf_of

    r = await web.post("/ui/task/EXP-4/cancel", data={"csrf": csrf_of(page.text), "reason": "x"})

    assert r.status_code == 400 and "name" in r.text
    assert (await app.read(tasks.get, "EXP-4")).task.status != "cancelled"
