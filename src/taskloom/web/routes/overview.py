"""The overview: what is done and moving, what is stuck, who works on what, what needs a person."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from taskloom.errors import NotFound
from taskloom.services import agents, decisions, planning, runs
from taskloom.services.common import Scope
from taskloom.store.base import Tx
from taskloom.web.app import View, page

TEMPLATE = "overview.html"
REGIONS = ("counts", "streams", "decisions", "agents", "activity", "graph")
DECISIONS_SHOWN = 50  # of each kind; the heading shows the full counts


def overview_data(tx: Tx, scope: Scope, online: float, offline: float) -> dict[str, Any]:
    """Everything the overview shows, read in one transaction so the regions agree."""
    status = planning.project_status(tx, scope)
    return {
        "status": status,
        "sprints": planning.list_sprints(tx, scope).sprints,
        "agents": agents.list_agents(tx, scope, online, offline).agents,
        "workers": runs.live(tx, scope),
        "decisions": decisions.needing_decision(tx, scope, limit=DECISIONS_SHOWN, streams=status.streams),
        "activity": [],
        "graph": None,
        "stream": None,
    }


async def _data(view: View) -> dict[str, Any]:
    settings = view.web.app.settings
    return await view.web.app.read(overview_data, settings.online_seconds, settings.offline_seconds)


@page
async def overview(request: Request, view: View) -> Response:
    return view.web.pages.render(TEMPLATE, view.context(**await _data(view)))


@page
async def region(request: Request, view: View) -> Response:
    name = request.path_params["region"]
    if name not in REGIONS:
        raise NotFound(f"The overview has no region {name!r}.", hint=f"Regions: {', '.join(REGIONS)}.")
    return view.web.pages.block(TEMPLATE, name, view.context(**await _data(view)))


ROUTES = [
    Route("/", overview, methods=["GET"], name="overview"),
    Route("/p/{region}", region, methods=["GET"]),
]
