"""Who may see and act on the dashboard: sign-in, sessions, bearer tokens, CSRF and Host checks."""

from __future__ import annotations

import pytest

from taskloom.cli import tokens as token_cli
from taskloom.server.auth import Authenticator, TokensFile, new_token
from taskloom.services import tasks
from tests.web.conftest import ORIGIN, blocked_task, csrf_of, import_example, sign_in, web_client


@pytest.fixture
def tokens_path(tmp_path):
    return tmp_path / "tokens"


def _auth(path) -> Authenticator:
    return Authenticator(None, TokensFile(path))


async def test_without_a_session_a_browser_is_sent_to_sign_in(app, tokens_path):
    new_token(tokens_path, None, None)
    async with web_client(app, _auth(tokens_path)) as web:
        r = await web.get("/ui/")
        assert r.status_code == 303 and r.headers["location"] == "/ui/login"
        partial = await web.get("/ui/p/streams", headers={"hx-request": "true"})
        assert partial.status_code == 401 and partial.headers["hx-redirect"] == "/ui/login"
        assert (await web.get("/ui/login")).status_code == 200


@pytest.mark.parametrize("given", ["", "wrong", "x" * 5000])
async def test_a_wrong_token_is_refused_with_one_message(app, tokens_path, given):
    new_token(tokens_path, None, None)
    async with web_client(app, _auth(tokens_path)) as web:
        r = await web.post("/ui/login", data={"token": given, "name": "alice"})
        assert r.status_code == 403 and "not valid here" in r.text
        assert "taskloom_ui" not in r.headers.get("set-cookie", "")


async def test_sign_in_sets_a_strict_http_only_cookie_and_revoking_the_token_ends_the_session(app, tokens_path):
    token, entry = new_token(tokens_path, None, None)
    async with web_client(app, _auth(tokens_path)) as web:
        r = await web.post("/ui/login", data={"token": token, "name": "alice"})
        assert r.status_code == 303
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
        assert (await web.get("/ui/")).status_code == 200

        token_cli.revoke(tokens_path, entry["sha256"][:12])

        assert (await web.get("/ui/")).status_code == 303


async def test_an_expired_token_ends_the_session(app, tokens_path, clock):
    token, _ = new_token(tokens_path, None, 60.0, now=clock.now())
    auth = Authenticator(None, TokensFile(tokens_path), now=clock.now)
    async with web_client(app, auth) as web:
        await sign_in(web, token=token, name="alice")
        clock.advance(61)
        assert (await web.get("/ui/")).status_code == 303


async def test_a_bearer_token_needs_no_cookie_and_no_origin(app, tokens_path):
    await import_example(app)
    token, _ = new_token(tokens_path, "carol", None)
    async with web_client(app, _auth(tokens_path)) as web:
        bearer = {"authorization": f"Bearer {token}"}
        assert (await web.get("/ui/", headers=bearer)).status_code == 200
        del web.headers["origin"]
        r = await web.post("/ui/task/EXP-4/cancel", data={"reason": "scripted"}, headers=bearer)
        assert r.status_code == 303
    assert (await app.read(tasks.get, "EXP-4")).task.status == "cancelled"


async def test_an_agent_bound_token_acts_as_its_agent_whatever_name_is_typed(app, tokens_path):
    await import_example(app)
    await blocked_task(app)
    token, _ = new_token(tokens_path, "carol", None)
    async with web_client(app, _auth(tokens_path)) as web:
        csrf = await sign_in(web, token=token, name="mallory")
        r = await web.post("/ui/task/EXP-1/unblock", data={"csrf": csrf, "answer": "yes"})
        assert r.status_code == 303
    from taskloom.services import activity

    *_, resumed = (await app.read(activity.feed, kind="task.in_progress")).events
    assert resumed.agent == "carol"


CSRF_CASES = {
    "no token": ({}, {}),
    "wrong token": ({"csrf": "forged"}, {}),
    "another port": (None, {"origin": "http://127.0.0.1:9999"}),
    "null origin": (None, {"origin": "null"}),
    "another site": (None, {"sec-fetch-site": "cross-site"}),
}


@pytest.mark.parametrize("case", list(CSRF_CASES))
async def test_cross_site_requests_cannot_act(app, web, case):
    await import_example(app)
    csrf = await sign_in(web, name="alice")
    form, headers = CSRF_CASES[case]
    form = {"csrf": csrf} if form is None else form

    r = await web.post("/ui/task/EXP-4/cancel", data={**form, "reason": "csrf"}, headers=headers)

    assert r.status_code in (403, 421) and r.status_code != 303
    assert (await app.read(tasks.get, "EXP-4")).task.status != "cancelled"


async def test_a_cookie_post_without_origin_is_refused(app, web):
    await import_example(app)
    csrf = await sign_in(web, name="alice")
    del web.headers["origin"]
    r = await web.post("/ui/task/EXP-4/cancel", data={"csrf": csrf, "reason": "x"})
    assert r.status_code == 403
    assert (await app.read(tasks.get, "EXP-4")).task.status != "cancelled"


async def test_another_site_cannot_sign_a_browser_in(app, tokens_path):
    token, _ = new_token(tokens_path, None, None)
    async with web_client(app, _auth(tokens_path)) as web:
        r = await web.post("/ui/login", data={"token": token}, headers={"origin": "http://evil.example"})
        assert r.status_code == 403 and "set-cookie" not in r.headers


@pytest.mark.parametrize("path", ["/ui/", "/ui/login", "/ui/task/EXP-1", "/ui/static/taskloom.css",
                                  "/ui/static/vendor/htmx-2.0.11.min.js", "/ui/p/streams"])
async def test_dns_rebinding_is_refused_everywhere(app, web, path):
    await import_example(app)
    r = await web.get(path, headers={"host": "evil.example"})
    assert r.status_code == 421


async def test_every_page_carries_the_strict_csp(app, web):
    await import_example(app)
    for path in ("/ui/", "/ui/task/EXP-1", "/ui/login", "/ui/task/NOPE"):
        r = await web.get(path)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"


async def test_sign_out_ends_the_session(app, tokens_path):
    token, _ = new_token(tokens_path, None, None)
    async with web_client(app, _auth(tokens_path)) as web:
        await sign_in(web, token=token, name="alice")
        csrf = csrf_of((await web.get("/ui/")).text)
        r = await web.post("/ui/logout", data={"csrf": csrf})
        assert r.status_code == 303
        web.cookies.clear()
        assert (await web.get("/ui/")).status_code == 303
    assert ORIGIN


async def test_a_read_only_token_sees_everything_and_changes_nothing(app, tokens_path, db_path):
    import sqlite3

    await import_example(app)
    await blocked_task(app)
    token, _ = new_token(tokens_path, None, None, read_only=True)
    async with web_client(app, _auth(tokens_path)) as web:
        csrf = await sign_in(web, token=token, name="viewer")
        page = await web.get("/ui/task/EXP-1")
        assert page.status_code == 200 and "Which date format?" in page.text
        assert 'id="answer"' not in page.text and "read-only" in page.text  # no action is offered
        watcher = sqlite3.connect(db_path)
        version = watcher.execute("PRAGMA data_version").fetchone()
        for action, form in (("unblock", {"answer": "x"}), ("cancel", {"reason": "x"}), ("priority", {"priority": "0"})):
            r = await web.post(f"/ui/task/EXP-1/{action}", data={"csrf": csrf, **form})
            assert r.status_code == 403 and "read_only" in r.text
        r = await web.post("/ui/messages", data={"csrf": csrf, "to": "all", "body": "x"})
        assert r.status_code == 403
        bearer = await web.post("/ui/task/EXP-1/cancel", data={"reason": "x"},
                                headers={"authorization": f"Bearer {token}"})
        assert bearer.status_code == 403
        assert watcher.execute("PRAGMA data_version").fetchone() == version  # no other connection wrote
        watcher.close()
