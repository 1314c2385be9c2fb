"""`taskloom dashboard`: the web dashboard alone over a database, as a process of its own."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from taskloom.changes import ChangeFeed
from taskloom.clock import Clock
from taskloom.config import HTTP_TIMEOUT, Settings
from taskloom.resolver import Resolver
from taskloom.server.dispatch import PathDispatch, nothing_here
from taskloom.server.http import origin_of, security_for
from taskloom.server.run import authenticator, check_exposure, freeze_startup, listen, run_uvicorn
from taskloom.services.app import Taskloom
from taskloom.web.app import build_web
from taskloom.web.broadcast import Broadcaster
from taskloom.web.guard import WebGuard
from taskloom.web.sessions import Sessions


async def serve_dashboard(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8766,
    token: str | None = None,
    clock: Clock | None = None,
    allow_hosts: list[str] | None = None,
    tokens_file: Path | None = None,
    http_timeout: float = HTTP_TIMEOUT,
    allow_origins: list[str] | None = None,
    person: str | None = None,
) -> None:
    """`taskloom dashboard`: the web dashboard alone over a database, beside stdio servers or none.

    It runs a resolver too, so a database whose agents all went away still has its leases expired
    and its failures escalated while a person watches (resolvers racing on one database are safe)."""
    check_exposure(host, token, tokens_file)
    origins = [origin_of(o) for o in allow_origins or []]
    auth = authenticator(token, tokens_file)
    sock = listen(host, port)
    try:
        app = await Taskloom.open(settings, clock, create_project=False)
    except BaseException:
        sock.close()
        raise
    try:
        feed = ChangeFeed(app)
        resolver = Resolver(app, feed)
        bound = sock.getsockname()[1]
        security = security_for(host, bound, allow_hosts, origins)
        broadcaster = Broadcaster(feed)
        web = build_web(app, WebGuard(security, auth, Sessions(app.clock), name=person), broadcaster)
        freeze_startup()
        shown = f"[{host}]" if ":" in host else host
        print(f"taskloom dashboard on http://{shown}:{bound}/ui/", file=sys.stderr, flush=True)
        async with anyio.create_task_group() as tg:
            tg.start_soon(feed.run, name="taskloom-changes")
            tg.start_soon(resolver.run, name="taskloom-resolver")
            tg.start_soon(broadcaster.run, name="taskloom-dashboard")
            await run_uvicorn(PathDispatch(web, nothing_here), sock, http_timeout, lifespan="off", on_exit=broadcaster.closing.set)
            tg.cancel_scope.cancel()
    finally:
        sock.close()
        with anyio.CancelScope(shield=True):
            await app.close()
