"""Dashboard fixtures: the web app over a real SQLite file, driven in process through httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx2 as httpx
import pytest
import yaml

from taskloom.models import Plan
from taskloom.server.auth import Authenticator
from taskloom.server.http import security_for
from taskloom.services import planning
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
