"""The dashboard's ASGI app: pages under /ui, each a thin adapter from a request to one read or
one write of the same services the tools call, rendered on the server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from taskloom.domain.layout import LayoutCache
from taskloom.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidTransition,
    LeaseLost,
    NotFound,
    ReadOnly,
    TaskloomError,
    TooLarge,
)
from taskloom.services.app import Taskloom
from taskloom.web.broadcast import Broadcaster
from taskloom.web.guard import Person, SignIn, WebGuard
from taskloom.web.live import events_endpoint
from taskloom.web.render import Pages, environment
from taskloom.web.sessions import COOKIE, LIFETIME, Session

PREFIX = "/ui"
STATUS_OF: dict[type[TaskloomError], int] = {
    NotFound: 404,
    InvalidInput: 400,
    Conflict: 409,
    InvalidTransition: 409,
    LeaseLost: 409,
    Forbidden: 403,
    ReadOnly: 403,
    TooLarge: 413,
}


@dataclass
class Web:
    """What every handler needs; one per app, held in `app.state.web` (nothing module-level)."""

    app: Taskloom
    guard: WebGuard
    pages: Pages
    broadcaster: Broadcaster | None = None  # live updates; None in tests of single pages
    # DAG layouts by structure, so a status change only re-colours; laid out off the event loop,
    # one at a time (the cache is not shared between threads).
    layouts: LayoutCache = field(default_factory=LayoutCache)
    layout_lock: anyio.Lock = field(default_factory=anyio.Lock)


@dataclass(frozen=True)
class View:
    """One request's person and the shared context, handed to a page handler."""

    web: Web
    person: Person
    request: Request

    def context(self, **values: Any) -> dict[str, Any]:
        """What every template gets besides its own values."""
        session = self.person.session
        return {
            "person": self.person,
            "csrf": session.csrf if session else "",
            "project": self.web.app.settings.project,
            "now": self.web.app.clock.now(),
            "open": self.web.guard.open,
            "prefix": PREFIX,
            **values,
        }


Handler = Callable[[Request, View], Awaitable[Response]]


def page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Host/Origin checks, the person, and errors as pages, around one handler."""

    async def endpoint(request: Request) -> Response:
        web: Web = request.app.state.web
        try:
            person = web.guard.person(request)
        except SignIn:
            return sign_in_redirect(request)
        fresh: Session | None = None
        if person.session is None and not person.bearer:
            # An open dashboard's first visit: a session to carry the CSRF token and the person's name.
            fresh = web.guard.sessions.new(name=web.guard.name, token_digest=None, read_only=False)
            person = Person(fresh.name, False, fresh)
        view = View(web, person, request)
        try:
            response = await handler(request, view)
        except TaskloomError as exc:
            response = error_page(view, exc)
        if fresh is not None:
            set_cookie(response, fresh, request)
        return response

    return endpoint


def signed_in(endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """For the event stream: only a signed-in person (or anyone, on an open dashboard) may listen."""

    async def guarded(request: Request) -> Response:
        try:
            request.app.state.web.guard.person(request)
        except SignIn:
            return Response(status_code=401)
        return await endpoint(request)

    return guarded


def error_page(view: View, exc: TaskloomError) -> Response:
    status = next((code for cls, code in STATUS_OF.items() if isinstance(exc, cls)), 500)
    return view.web.pages.render("error.html", view.context(error=exc), status=status)


def sign_in_redirect(request: Request) -> Response:
    target = f"{PREFIX}/login"
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"hx-redirect": target})
    return RedirectResponse(target, status_code=303)


def set_cookie(response: Response, session: Session, request: Request) -> None:
    response.set_cookie(
        COOKIE, session.sid, max_age=int(LIFETIME), path=PREFIX, httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )


def build_web(app: Taskloom, guard: WebGuard, broadcaster: Broadcaster | None = None) -> ASGIApp:
    """The dashboard as an ASGI app whose routes all live under /ui (mounted beside /mcp or alone).
    Without a broadcaster the pages work but do not update live (the tests of single pages)."""
    from taskloom.web.routes import routes

    static = StaticFiles(packages=[("taskloom.web", "static")])
    inner: list[BaseRoute] = [*routes(), Mount("/static", app=static, name="static")]
    if broadcaster is not None:
        inner.append(Route("/events", signed_in(events_endpoint(broadcaster)), methods=["GET"]))
    web = Starlette(routes=[Mount(PREFIX, routes=inner)])
    web.state.web = Web(app, guard, Pages(environment()), broadcaster)
    return HostCheck(web, guard)


class HostCheck:
    """Host and Origin on every request, static files and the event stream included."""

    def __init__(self, app: ASGIApp, guard: WebGuard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = await self.guard.refusal(Request(scope, receive))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)
