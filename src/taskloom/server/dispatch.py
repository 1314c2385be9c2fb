"""One HTTP server, two faces: the dashboard under /ui and MCP everywhere else."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from taskloom.web.app import PREFIX


class PathDispatch:
    """Sends /ui requests to the dashboard, which does its own auth (a session cookie or a bearer
    token) and its own Host/Origin checks; everything else, lifespan included (the MCP session
    manager needs it), goes to the MCP app behind BearerAuth. A bare `/` is sent to the dashboard,
    for people who type the address."""

    def __init__(self, web: ASGIApp, mcp: ASGIApp) -> None:
        self.web = web
        self.mcp = mcp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path == PREFIX or path.startswith(PREFIX + "/"):
                await self.web(scope, receive, send)
                return
            if path == "/" and scope["method"] in ("GET", "HEAD"):
                await send({"type": "http.response.start", "status": 307,
                            "headers": [(b"location", f"{PREFIX}/".encode()), (b"content-length", b"0")]})
                await send({"type": "http.response.body", "body": b""})
                return
        await self.mcp(scope, receive, send)


async def nothing_here(scope: Scope, receive: Receive, send: Send) -> None:
    """`taskloom dashboard` has no MCP endpoint: anything outside /ui says where the dashboard is."""
    if scope["type"] != "http":
        return
    body = f"Not found: this is taskloom's dashboard alone; it is at {PREFIX}/.\n".encode()
    await send({"type": "http.response.start", "status": 404,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
