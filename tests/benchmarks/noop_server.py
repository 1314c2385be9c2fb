"""`taskloom serve`, exactly, plus `noop` (the floor a tool call cannot go below) and
`echo_detail` (task_get's result served from memory: the SDK's cost of a result that size).

The CLI's own entry point runs (same argument parsing, settings, store, resolver and
`build_server`); the only change is that the server object gets `noop` registered before it
runs. So `noop` and `task_get` are measured against one server process in one run.

    .venv/bin/python -m tests.benchmarks.noop_server --db FILE --project NAME
(accepts every `taskloom serve` option; the transport defaults to stdio).
"""

from __future__ import annotations

import sys

from mcp.server.mcpserver import Context
from pydantic import BaseModel

from taskloom.cli.main import main as taskloom_main
from taskloom.models import TaskDetail
from taskloom.server import run as run_module
from taskloom.server.tools.common import READ
from taskloom.services import tasks


class Pong(BaseModel):
    ok: bool = True


async def noop(ctx: Context) -> Pong:
    """Does nothing; for measuring the cost of a tool call itself."""
    return Pong()


_build_server = run_module.build_server


def build_with_noop(app, *args, **kwargs):
    server = _build_server(app, *args, **kwargs)  # the profile and the change feed, as serve() passes them
    server.add_tool(noop, title="No-op", annotations=READ, structured_output=True)
    cache: dict[str, TaskDetail] = {}

    async def echo_detail(ctx: Context, task: str) -> TaskDetail:
        """Returns task_get's result for `task`, read once and then served from memory: the SDK's
        cost of a result of that size and shape, with none of taskloom's work."""
        if task not in cache:
            cache[task] = await app.read(tasks.get, task)
        return cache[task]

    server.add_tool(echo_detail, title="Echo a task", annotations=READ, structured_output=True)
    return server


def main(argv: list[str] | None = None) -> int:
    run_module.build_server = build_with_noop  # serve() looks it up in its module when it runs
    return taskloom_main(["serve", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
