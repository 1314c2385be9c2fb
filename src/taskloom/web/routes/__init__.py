"""The dashboard's routes, one module per page noun."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    from taskloom.web.routes import agents, artifacts, messages, overview, report, runs, session, tasks

    return [*overview.ROUTES, *tasks.ROUTES, *messages.ROUTES, *session.ROUTES, *agents.ROUTES, *runs.ROUTES,
            *artifacts.ROUTES, *report.ROUTES]
