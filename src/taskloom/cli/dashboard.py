"""`taskloom dashboard`: the web dashboard alone, over a database (`serve --transport http` also
serves it, at /ui beside /mcp)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from taskloom.config import Settings
from taskloom.errors import InvalidInput, NotFound
from taskloom.store import backends

DEFAULT_PORT = 8766  # one above serve's 8765, so both can run side by side with their defaults


def add_parser(sub: argparse._SubParsersAction, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "dashboard", help="serve the web dashboard (/ui) over a database, without an MCP endpoint",
        description="Serve the live web dashboard over a database: the overview, the task DAG, task pages, "
        "agents, runs and artifacts, with a person's actions (answer a blocker, review, retry, cancel, "
        "reprioritise, message). It runs a resolver too. Loopback needs no token; any other address does.",
    )
    common(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}; 0 picks a free port")
    p.add_argument("--token", default=os.environ.get("TASKLOOM_TOKEN"), help="a token people sign in with (TASKLOOM_TOKEN)")
    p.add_argument("--tokens", metavar="FILE", help="tokens file made with `taskloom token new` (TASKLOOM_TOKENS_FILE)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="another Host name browsers may use (DNS-rebinding protection); repeatable")
    p.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="another origin (scheme://host[:port]) whose pages may post here, e.g. behind a proxy; repeatable")
    p.add_argument("--as", dest="person", metavar="NAME",
                   help="your name: what your actions are recorded under on a dashboard without tokens "
                   "(default: the page asks)")
    p.add_argument("--http-timeout", type=float, metavar="SECONDS", help="see `taskloom serve --help`")


async def run(settings: Settings, args: argparse.Namespace) -> int:
    from taskloom.cli.main import resolve_allow_origins, resolve_http_timeout, resolve_tokens_file

    if not 0 <= args.port <= 65535:
        raise InvalidInput(f"--port {args.port} is not a TCP port.", hint="Give a port from 1 to 65535 (0: any free one).")
    if not backends.exists(settings):
        raise NotFound(f"No taskloom database at {settings.db_path}.",
                       hint="Check --db (or TASKLOOM_DB); `taskloom serve` or `taskloom import` creates one.")
    from taskloom.server.dashboard import serve_dashboard  # the HTTP stack, once the flags are known good

    await serve_dashboard(
        settings, args.host, args.port, args.token,
        allow_hosts=args.allow_host,
        allow_origins=resolve_allow_origins(args.allow_origin),
        tokens_file=resolve_tokens_file(args.tokens),
        http_timeout=resolve_http_timeout(args.http_timeout),
        person=_person(args.person),
    )
    return 0


def _person(name: str | None) -> str | None:
    from taskloom.services.agents import check_agent_name

    if name is not None:
        check_agent_name(name)
    return name
