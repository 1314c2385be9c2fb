"""The dashboard's ASGI app: pages under /ui, each a thin adapter from a request to one read or
one write of the same services the tools call, rendered on the server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp.server.transport_security import RequestBodyLimitMiddleware
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from taskloom.domain.layout import LayoutCache
from taskloom.errors import (
    Busy,
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidTransition,
    LeaseLost,
    NotFound,
    ReadOnly,
    Storage,
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
    Busy: 503,
    Storage: 503,
}
MAX_TEXT = 20_000  # characters a person may type into one answer, reason or message
NOBODY = Person(None, False, None)  # pages drawn before anyone is known: sign-in, an unknown address
MAX_BODY = 256 * 1024  # bytes of a dashboard request: a form with a long answer, never an upload
MAX_FIELDS = 16


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

    def context(self, person: Person, **values: Any) -> dict[str, Any]:
        """What every template gets besides its own values."""
        return {
            "person": person,
            "csrf": person.session.csrf if person.session else "",
            "project": self.app.settings.project,
            "now": self.app.clock.now(),
            "open": self.guard.open,
            "prefix": PREFIX,
            **values,
        }


@dataclass(frozen=True)
class View:
    """One request's person and the shared context, handed to a page handler."""

    web: Web
    person: Person
    request: Request

    def context(self, **values: Any) -> dict[str, Any]:
        return self.web.context(self.person, **values)


Handler = Callable[[Request, View], Awaitable[Response]]


def page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Host/Origin checks, the person, and errors as pages, around one handler."""

    async def endpoint(request: Request) -> Response:
        web: Web = request.app.state.web
        try:
            person = web.guard.person(request)
        except SignIn:
            return sign_in_redirect(request)
        if person.session is None and not person.bearer:
            # An open dashboard's first visit: a session to carry the CSRF token and the person's name.
            fresh = web.guard.sessions.new(name=web.guard.name_of(request), token_digest=None, read_only=False)
            person = Person(fresh.name, False, fresh)
        view = View(web, person, request)
        try:
            response = await handler(request, view)
        except TaskloomError as exc:
            response = await error_page(view, exc)
        if person.session is not None:
            set_cookie(response, person.session, request)  # a new one, or the old one's expiry renewed
        return response

    return endpoint


def still_signed_in(request: Request) -> bool:
    """For the event stream, at its start and at every signal or keepalive: a revoked or expired
    token ends the stream too, not only the next page."""
    try:
        request.app.state.web.guard.person(request)
    except SignIn:
        return False
    return True


async def error_page(view: View, exc: TaskloomError) -> Response:
    status = next((code for cls, code in STATUS_OF.items() if isinstance(exc, cls)), 500)
    response = await view.web.pages.render("error.html", view.context(error=exc), status=status)
    if isinstance(exc, Busy):
        response.headers["retry-after"] = "1"
    return response


async def form_of(request: Request) -> dict[str, str]:
    """A POST's fields: url-encoded or multipart text only, small, at most MAX_FIELDS of them."""
    try:
        form = await request.form(max_files=0, max_fields=MAX_FIELDS, max_part_size=MAX_BODY)
    except (MultiPartException, HTTPException) as exc:
        raise InvalidInput(f"This form could not be read: {getattr(exc, 'message', None) or exc.detail}.",
                           hint="Send the dashboard's own form fields, url-encoded.") from None
    fields = {}
    for key, value in form.multi_items():
        if not isinstance(value, str):
            raise InvalidInput(f"The field {key!r} is a file; the dashboard's forms take text only.",
                               hint="Send the dashboard's own form fields, url-encoded.")
        fields[key] = value
    return fields


def text_field(form: dict[str, str], key: str, *, required: bool = False) -> str | None:
    """A typed text field, trimmed; None when empty. InvalidInput when too long, or empty and required."""
    value = form.get(key, "").strip()
    if len(value) > MAX_TEXT:
        raise InvalidInput(f"{key} is {len(value)} characters; at most {MAX_TEXT}.", hint="Shorten it.")
    if required and not value:
        raise InvalidInput(f"Write a {key} first.", hint=f"The {key} box cannot be empty.")
    return value or None


def whole(raw: str | None, what: str, *, default: int | None = None, low: int = 0, high: int = 2**62) -> int | None:
    """A whole number from a form field or query parameter; InvalidInput for anything else
    (`isdigit()` alone takes '²', and int() refuses 5,000 digits)."""
    raw = (raw or "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18 and low <= int(raw) <= high):
        raise InvalidInput(f"{what} must be a whole number from {low} to {high}, not {raw[:20]!r}.",
                           hint="Reload the page and use its own forms and links.")
    return int(raw)


def local_target(target: str) -> str:
    """A place to send the browser next: a dashboard page only, never another site."""
    ok = target.startswith(f"{PREFIX}/") and not target.startswith("//") and not any(c in target for c in "\\\r\n")
    return target if ok else f"{PREFIX}/"


def sign_in_redirect(request: Request) -> Response:
    target = f"{PREFIX}/login"
    if request.headers.get("authorization"):  # a script with a wrong token: an answer, not a page
        return Response('{"error": "unauthorized", "message": "Send Authorization: Bearer <token>."}', 401,
                        media_type="application/json", headers={"www-authenticate": 'Bearer realm="taskloom"'})
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"hx-redirect": target})
    return RedirectResponse(target, status_code=303)


def set_cookie(response: Response, session: Session, request: Request) -> None:
    response.set_cookie(
        COOKIE, session.sid, max_age=int(LIFETIME), path=PREFIX, httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )


def build_web(app: Taskloom, guard: WebGuard, broadcaster: Broadcaster | None = None) -> HostCheck:
    """The dashboard as an ASGI app whose routes all live under /ui (mounted beside /mcp or alone).
    Without a broadcaster the pages work but do not update live (the tests of single pages)."""
    from taskloom.web.routes import routes

    static = StaticFiles(packages=[("taskloom.web", "static")])
    inner: list[BaseRoute] = [*routes(), Mount("/static", app=static, name="static")]
    if broadcaster is not None:
        inner.append(Route("/events", events_endpoint(broadcaster, allowed=still_signed_in), methods=["GET"]))
    web = Starlette(routes=[Mount(PREFIX, routes=inner)],
                    exception_handlers={404: no_such_page, 405: no_such_page})
    web.state.web = Web(app, guard, Pages(environment()), broadcaster)
    # The MCP endpoint's own body limit sits behind the dispatcher: the dashboard needs its own.
    return HostCheck(RequestBodyLimitMiddleware(web, MAX_BODY), guard, web.state.web)


async def no_such_page(request: Request, exc: Exception) -> Response:
    """An unknown /ui address: a page saying so, with the way back, not a bare 'Not Found'."""
    web: Web = request.app.state.web
    error = NotFound(f"There is no dashboard page at {request.url.path[:200]}.", hint="Start again from the overview.")
    context = web.context(NOBODY, error=error)
    return await web.pages.render("error.html", context, status=getattr(exc, "status_code", 404))


class HostCheck:
    """Host and Origin on every request, static files and the event stream included."""

    def __init__(self, app: ASGIApp, guard: WebGuard, web: Web) -> None:
        self.app = app
        self.guard = guard
        self.web = web  # the dashboard's shared state (its layout cache), for benchmarks and tests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = await self.guard.refusal(Request(scope, receive))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)
