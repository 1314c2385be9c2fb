"""The agents page: who has joined, whether they are around, what each holds and did lately."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from taskloom.domain.limits import MAX_PAGE
from taskloom.models import Event
from taskloom.services import activity, agents
from taskloom.services.common import Scope
from taskloom.store.base import Tx
from taskloom.web.app import View, page

TEMPLATE = "agents.html"
RECENT = 5  # events shown per agent


def agents_data(tx: Tx, scope: Scope, online: float, offline: float) -> dict[str, Any]:
    """The roster and each agent's newest events, in one transaction.

    One feed read of the project's newest events, shared out by agent, rather than one read per
    agent: an agent quiet for the last MAX_PAGE events shows none, which is what "recent" means.
    """
    roster = agents.list_agents(tx, scope, online, offline).agents
    since = max(0, activity.last_event_id(tx, scope) - MAX_PAGE)
    recent: dict[str, list[Event]] = {}
    for e in reversed(activity.feed(tx, scope, since=since, limit=MAX_PAGE).events):
        if e.agent is not None and len(mine := recent.setdefault(e.agent, [])) < RECENT:
            mine.append(e)
    return {"agents": roster, "recent": recent}


@page
async def agents_page(request: Request, view: View) -> Response:
    settings = view.web.app.settings
    data = await view.web.app.read(agents_data, settings.online_seconds, settings.offline_seconds)
    return await view.web.pages.render(TEMPLATE, view.context(**data))


@page
async def agents_region(request: Request, view: View) -> Response:
    settings = view.web.app.settings
    data = await view.web.app.read(agents_data, settings.online_seconds, settings.offline_seconds)
    return await view.web.pages.block(TEMPLATE, "roster", view.context(**data))


ROUTES = [
    Route("/agents", agents_page, methods=["GET"], name="agents"),
    Route("/agents/p/roster", agents_region, methods=["GET"]),
]
