"""The overview: what is done and moving, what is stuck, who works on what, what needs a person."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from taskloom.domain.layout import TASK_PICTURE_LIMIT, Layout, Picture
from taskloom.errors import NotFound
from taskloom.services import activity, agents, decisions, graphs, planning, runs
from taskloom.services.common import Scope
from taskloom.store.base import Tx
from taskloom.web.app import View, Web, page
from taskloom.web.svg import picture_svg

TEMPLATE = "overview.html"
REGIONS = ("counts", "streams", "decisions", "agents", "activity", "graph")
DECISIONS_SHOWN = 50  # of each kind; the heading shows the full counts
ACTIVITY_SHOWN = 30  # newest events in the activity feed
NEED_STATUS = frozenset({"counts", "streams", "decisions"})


def overview_data(
    tx: Tx, scope: Scope, regions: frozenset[str], stream: str | None, online: float, offline: float
) -> dict[str, Any]:
    """What the asked-for regions show, read in one transaction so they agree. A region's partial
    reads only its own part: the graph's read is the heavy one at 10k tasks."""
    # The event id the page is drawn at: its stream starts there, so nothing between is missed.
    data: dict[str, Any] = {"stream": stream, "since": activity.last_event_id(tx, scope)}
    status = None
    if regions & NEED_STATUS:  # a count and two queries per stream: only for the regions that show it
        status = data["status"] = planning.project_status(tx, scope)
    if "streams" in regions:
        data["sprints"] = planning.list_sprints(tx, scope).sprints
    if "decisions" in regions:
        data["decisions"] = decisions.needing_decision(tx, scope, limit=DECISIONS_SHOWN, streams=status.streams if status else None)
    if "agents" in regions:
        data["agents"] = agents.list_agents(tx, scope, online, offline).agents
        data["workers"] = runs.live(tx, scope)
    if "activity" in regions:
        data["activity"] = activity.latest(tx, scope, ACTIVITY_SHOWN)
    if "graph" in regions:
        data["picture"] = graphs.graph_picture(tx, scope, stream)
    return data


async def _data(view: View, regions: frozenset[str]) -> dict[str, Any]:
    app = view.web.app
    stream = view.request.query_params.get("stream") or None
    data = await app.read(overview_data, regions, stream, app.settings.online_seconds, app.settings.offline_seconds)
    # ?view=streams draws the stream graph whatever the size; otherwise tasks up to the limit.
    data["view"] = "streams" if view.request.query_params.get("view") == "streams" and not stream else "tasks"
    if "picture" in data:
        limit = 0 if data["view"] == "streams" else TASK_PICTURE_LIMIT
        data["graph"] = await _draw(view.web, data.pop("picture"), limit)
    return data


async def _draw(web: Web, picture: Picture, limit: int) -> Drawing:
    def draw() -> Drawing:
        shape = web.layouts.layout(picture, limit)
        return Drawing(picture_svg(shape), shape) if shape.boxes else Drawing(None, shape)

    async with web.layout_lock:  # cold layouts of 10k tasks take ~150 ms: off the event loop
        return await anyio.to_thread.run_sync(draw)


@dataclass(frozen=True)
class Drawing:
    svg: Markup | None
    layout: Layout


@page
async def overview(request: Request, view: View) -> Response:
    return await view.web.pages.render(TEMPLATE, view.context(**await _data(view, frozenset(REGIONS))))


@page
async def region(request: Request, view: View) -> Response:
    name = request.path_params["region"]
    if name not in REGIONS:
        raise NotFound(f"The overview has no region {name!r}.", hint=f"Regions: {', '.join(REGIONS)}.")
    return await view.web.pages.block(TEMPLATE, name, view.context(**await _data(view, frozenset({name}))))


ROUTES = [
    Route("/", overview, methods=["GET"], name="overview"),
    Route("/p/{region}", region, methods=["GET"]),
]
