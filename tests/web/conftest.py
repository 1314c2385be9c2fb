"""Dashboard fixtures: the web app over a real SQLite file, driven in process through httpx."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2 as httpx
import pytest
import yaml

from taskloom.models import Plan
from taskloom.server.auth import Authenticator
from taskloom.server.http import security_for
from taskloom.services import planning, work
from taskloom.services.app import Taskloom
from taskloom.web.app import build_web
from taskloom.web.guard import WebGuard
from taskloom.web.sessions import Sessions

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PORT = 8766
ORIGIN = f"http://127.0.0.1:{PORT}"


def web_client(app: Taskloom, auth: Authenticator | None = None, *, name: str | None = None) -> httpx.AsyncClient:
    guard = WebGuard(security_for("127.0.0.1", PORT), auth, Sessions(app.clock), name=name)
    transport = httpx.ASGITransport(app=build_web(app, guard))
    return httpx.AsyncClient(transport=transport, base_url=ORIGIN, headers={"origin": ORIGIN})


async def import_example(app: Taskloom, name: str = "plan.yaml") -> None:
    plan = Plan.model_validate(yaml.safe_load((EXAMPLES / name).read_text()))
    await app.write(planning.import_plan, plan)


@pytest.fixture
async def web(app: Taskloom) -> AsyncIterator[httpx.AsyncClient]:
    async with web_client(app) as client:
        yield client


CSRF = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, *, name: str | None = None, token: str | None = None) -> str:
    """Sign in through the form as a browser does; returns the session's CSRF token."""
    form = {k: v for k, v in (("name", name), ("token", token)) if v is not None}
    r = await client.post("/ui/login", data=form)
    assert r.status_code == 303, r.text
    page = await client.get("/ui/")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


async def blocked_task(app: Taskloom, code: str = "EXP-1", agent: str = "bob", reason: str = "Which date format?") -> None:
    """An imported example task claimed by `agent` and blocked on a question."""
    await app.write(work.claim, code=code, agent=agent)
    await app.write(work.block, code, reason, agent=agent)
