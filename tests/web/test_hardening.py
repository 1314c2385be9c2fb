"""Bad input and session edge cases found in review: each is a clear 4xx and changes nothing."""

from __future__ import annotations

import json

import pytest

from taskloom.server.auth import Authenticator, TokensFile, new_token
from taskloom.services import tasks, work
from taskloom.web.sessions import MAX_SESSIONS, Sessions
from tests.web.conftest import blocked_task, csrf_of, import_example, sign_in, web_client
from tests.web.test_agents_runs import start_run


async def test_a_huge_body_is_refused_before_it_is_read(app, tmp_path):
    new_token(tmp_path / "tokens", None, None)
    async with web_client(app, Authenticator(None, TokensFile(tmp_path / "tokens"))) as web:
        r = await web.post("/ui/login", content=b"token=" + b"x" * (2 * 1024 * 1024),
                           headers={"content-type": "application/x-www-form-urlencoded"})
        assert r.status_code == 413


async def test_a_file_in_a_form_is_refused(app, web):
    await import_example(app)
    csrf = await sign_in(web, name="alice")
    r = await web.post("/ui/task/EXP-4/cancel", data={"reason": "x"}, files={"csrf": ("csrf", csrf.encode())})
    assert r.status_code == 400 and "file" in r.text
    assert (await app.read(tasks.get, "EXP-4")).task.status != "cancelled"


@pytest.mark.parametrize(("field", "value"), [("version", "²"), ("version", "9" * 5000), ("priority", "¹"),
                                              ("priority", "5"), ("version", "-1")])
async def test_numbers_that_are_not_whole_numbers_are_invalid_input(app, web, field, value):
    await import_example(app)
    csrf = await sign_in(web, name="alice")
    form = {"csrf": csrf, "priority": "1", field: value}
    r = await web.post("/ui/task/EXP-4/priority", data=form)
    assert r.status_code == 400 and "invalid_input" in r.text
    assert (await app.read(tasks.get, "EXP-4")).task.priority == 2


@pytest.mark.parametrize("path", ["/ui/artifacts?offset=%C2%B2", "/ui/runs/%C2%B2/log", "/ui/runs/%C2%B2/log/p/tail",
                                  "/ui/task/EXP-1/p/nothing", "/ui/p/nothing", "/ui/nothing"])
async def test_odd_urls_are_answered_not_crashed(app, web, path):
    await import_example(app)
    r = await web.get(path)
    assert r.status_code in (200, 404), (path, r.status_code)


async def test_an_answer_to_a_question_that_changed_since_the_page_loaded_is_a_conflict(app, web):
    await import_example(app)
    await blocked_task(app, reason="Which date format?")
    csrf = await sign_in(web, name="alice")
    page = (await web.get("/ui/task/EXP-1")).text
    version = page.split('name="version" value="')[1].split('"')[0]
    await app.write(work.unblock, "EXP-1", "ISO", agent="bob")
    await app.write(work.block, "EXP-1", "Which time zone?", agent="bob")

    r = await web.post("/ui/task/EXP-1/unblock", data={"csrf": csrf, "version": version, "answer": "UTC+1"})

    assert r.status_code == 409
    assert (await app.read(tasks.get, "EXP-1")).task.status == "blocked"


async def test_a_token_made_read_only_after_sign_in_can_no_longer_act_through_its_session(app, tmp_path):
    await import_example(app)
    path = tmp_path / "tokens"
    token, entry = new_token(path, None, None)
    async with web_client(app, Authenticator(None, TokensFile(path))) as web:
        csrf = await sign_in(web, token=token, name="alice")
        path.write_text(json.dumps({**entry, "access": "read"}) + "\n")  # the same token, now read-only

        r = await web.post("/ui/task/EXP-4/priority", data={"csrf": csrf, "priority": "0"})

        assert r.status_code == 403 and "read_only" in r.text
    assert (await app.read(tasks.get, "EXP-4")).task.priority == 2


async def test_a_token_bound_to_no_agent_needs_a_name_to_sign_in(app, tmp_path):
    token, _ = new_token(tmp_path / "tokens", None, None)
    async with web_client(app, Authenticator(None, TokensFile(tmp_path / "tokens"))) as web:
        r = await web.post("/ui/login", data={"token": token})
        assert r.status_code == 400 and "give your name" in r.text


async def test_a_named_session_outlives_a_flood_of_first_visits(app, clock):
    sessions = Sessions(clock)
    named = sessions.new(name="alice", token_digest=None, read_only=False)
    for _ in range(MAX_SESSIONS + 10):
        sessions.new(name=None, token_digest=None, read_only=False)
    assert sessions.get(named.sid) is not None and len(sessions) <= MAX_SESSIONS


async def test_an_open_dashboard_remembers_the_name_when_a_session_starts_afresh(app, web):
    await import_example(app)
    await sign_in(web, name="alice")
    web.cookies.delete("taskloom_ui")  # as a link from another site arrives: without the session cookie

    page = (await web.get("/ui/")).text

    assert '<span class="name">alice</span>' in page
    r = await web.post("/ui/task/EXP-4/priority", data={"csrf": csrf_of(page), "priority": "0"})
    assert r.status_code == 303


async def test_a_workers_log_is_shown_with_its_secrets_masked(app, web, tmp_path):
    log = tmp_path / "w.log"
    key = "sk-ant-api03-" + "a1B2c3D4" * 8
    log.write_text(f"reading config\nANTHROPIC_API_KEY={key}\ndone\n")
    await import_example(app)
    run_id = await start_run(app, "EXP-1", "w1", log)

    page = (await web.get(f"/ui/runs/{run_id}/log")).text

    assert "reading config" in page and key not in page and "sk-ant-api03-a1B2" not in page



async def test_an_unknown_page_is_a_page_with_the_way_back(web):
    r = await web.get("/ui/nothing/here")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    assert "no dashboard page at /ui/nothing/here" in r.text and 'href="/ui/"' in r.text


async def test_a_script_with_a_wrong_token_gets_401_not_the_sign_in_page(app, tmp_path):
    new_token(tmp_path / "tokens", None, None)
    async with web_client(app, Authenticator(None, TokensFile(tmp_path / "tokens"))) as web:
        r = await web.get("/ui/", headers={"authorization": "Bearer wrong"})
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"


async def test_a_person_with_no_name_is_sent_to_say_who_they_are_and_back_to_the_task(app, web):
    await import_example(app)
    await blocked_task(app)
    page = (await web.get("/ui/task/EXP-1")).text
    assert 'id="answer"' not in page and 'href="/ui/login?next=/ui/task/EXP-1"' in page

    form = (await web.get("/ui/login?next=/ui/task/EXP-1")).text
    assert 'name="next" value="/ui/task/EXP-1"' in form
    r = await web.post("/ui/login", data={"name": "alice", "next": "/ui/task/EXP-1"})
    assert r.status_code == 303 and r.headers["location"] == "/ui/task/EXP-1"
    assert 'id="answer"' in (await web.get("/ui/task/EXP-1")).text
    evil = await web.post("/ui/login", data={"name": "alice", "next": "//evil.example/ui/"})
    assert evil.headers["location"] == "/ui/"
