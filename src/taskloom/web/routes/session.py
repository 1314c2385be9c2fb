"""Signing in and out: a token (or, on an open loopback dashboard, just a name) becomes a session."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from taskloom.errors import TaskloomError
from taskloom.web.app import PREFIX, Web, set_cookie
from taskloom.web.guard import Person
from taskloom.web.sessions import COOKIE

MAX_FIELD = 1024  # a token or a name longer than this is not one


async def login_form(request: Request) -> Response:
    web: Web = request.app.state.web
    return _form(web, request)


def _form(web: Web, request: Request, error: TaskloomError | None = None, status: int = 200) -> Response:
    context = {
        "person": Person(None, False, None), "csrf": "", "project": web.app.settings.project,
        "now": web.app.clock.now(), "open": web.guard.open, "prefix": PREFIX, "error": error,
    }
    return web.pages.render("login.html", context, status=status)


async def login(request: Request) -> Response:
    web: Web = request.app.state.web
    try:
        web.guard.check_same_origin(request)  # login CSRF: another site must not sign a browser in
        form = await request.form()
        token, name = (str(form.get(k) or "")[:MAX_FIELD] for k in ("token", "name"))
        session = web.guard.sign_in(token, name)
    except TaskloomError as exc:
        return _form(web, request, exc, status=403 if exc.code == "forbidden" else 400)
    web.guard.sessions.end(request.cookies.get(COOKIE))
    response = RedirectResponse(f"{PREFIX}/", status_code=303)
    set_cookie(response, session, request)
    return response


async def logout(request: Request) -> Response:
    web: Web = request.app.state.web
    try:
        web.guard.check_same_origin(request)
    except TaskloomError as exc:
        return _form(web, request, exc, status=403)
    web.guard.sessions.end(request.cookies.get(COOKIE))
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


ROUTES = [
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
