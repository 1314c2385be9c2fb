"""Signing in and out: a token (or, on an open loopback dashboard, just a name) becomes a session."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from taskloom.errors import TaskloomError
from taskloom.web.app import NOBODY, PREFIX, Web, form_of, local_target, set_cookie
from taskloom.web.sessions import COOKIE, NAME_COOKIE

MAX_FIELD = 1024  # a token or a name longer than this is not one
NAME_LIFETIME = 365 * 86400  # seconds an open dashboard remembers who this browser's person is


async def login_form(request: Request) -> Response:
    web: Web = request.app.state.web
    return await _form(web, request)


async def _form(web: Web, request: Request, error: TaskloomError | None = None, status: int = 200) -> Response:
    context = web.context(NOBODY, error=error, next=local_target(request.query_params.get("next", "")))
    return await web.pages.render("login.html", context, status=status)


async def login(request: Request) -> Response:
    web: Web = request.app.state.web
    try:
        web.guard.check_same_origin(request)  # login CSRF: another site must not sign a browser in
        form = await form_of(request)
        token, name = (form.get(k, "")[:MAX_FIELD] for k in ("token", "name"))
        session = web.guard.sign_in(token, name)
    except TaskloomError as exc:
        return await _form(web, request, exc, status=403 if exc.code == "forbidden" else 400)
    web.guard.sessions.end(request.cookies.get(COOKIE))
    response = RedirectResponse(local_target(form.get("next", "")), status_code=303)
    set_cookie(response, session, request)
    if web.guard.open and session.name:
        response.set_cookie(NAME_COOKIE, session.name, max_age=NAME_LIFETIME, path=PREFIX, httponly=True,
                            samesite="strict", secure=request.url.scheme == "https")
    return response


async def logout(request: Request) -> Response:
    web: Web = request.app.state.web
    try:
        web.guard.check_same_origin(request)
    except TaskloomError as exc:
        return await _form(web, request, exc, status=403)
    web.guard.sessions.end(request.cookies.get(COOKIE))
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    response.delete_cookie(NAME_COOKIE, path=PREFIX)
    return response


ROUTES = [
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
