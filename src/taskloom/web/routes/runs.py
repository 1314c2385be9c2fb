"""The runs page: the runner's live workers, how recent runs ended, and a worker's log tail.

The log is a file the worker writes, not an event: its tail is re-read when the page asks (every
2 s while the run is live), never watched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from taskloom.domain.redact import redact
from taskloom.errors import NotFound
from taskloom.runner.logs import rotated
from taskloom.services import runs
from taskloom.services.common import Scope
from taskloom.store.base import Tx
from taskloom.web.app import View, page

TEMPLATE = "runs.html"
LOG_TEMPLATE = "run_log.html"
RECENT = 30  # ended runs listed
TAIL_LINES = 200
TAIL_BYTES = 256 * 1024  # read at most this much of a log's end: a line longer than that is cut
STOP_POLLING = 286  # htmx cancels an `every` trigger on this status: the run ended, its log is final


@dataclass(frozen=True)
class Tail:
    lines: list[str]
    missing: str | None = None  # why there is nothing to show, said for a person


def runs_data(tx: Tx, scope: Scope) -> dict[str, Any]:
    ended = [r for r in runs.recent(tx, scope, RECENT) if r["ended_at"] is not None]
    return {"live": runs.live(tx, scope),
            "recent": [{**r, "seconds": max(0.0, r["ended_at"] - r["started_at"])} for r in ended]}


def read_tail(log_path: str, n: int = TAIL_LINES) -> Tail:
    """The last `n` lines of a worker's log. Just after a rotation the log is short: its start
    then comes from the end of `<log>.1`."""
    if not log_path:
        return Tail([], "This run has no log file (its worker never started).")
    path = Path(log_path)
    lines = _last_lines(path, n)
    if lines is not None and len(lines) >= n:
        return Tail(lines)
    older = _last_lines(rotated(path), n - len(lines or []))
    if lines is None and older is None:
        return Tail([], "The log file is gone: it was removed, or the run's directory was cleaned up.")
    return Tail((older or []) + (lines or []))


def _masked(lines: list[str]) -> list[str]:
    """A worker's log is its raw output, which may quote a key it read: masked as every other
    text taskloom shows or stores is (domain/redact.py), since any signed-in viewer reads it."""
    return redact("\n".join(lines)).text.split("\n") if lines else lines


def _last_lines(path: Path, n: int) -> list[str] | None:
    if n <= 0:
        return []
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(max(0, size - TAIL_BYTES))
            data = f.read(TAIL_BYTES)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    if size > TAIL_BYTES:
        data = data[data.find(b"\n") + 1 :]  # the first line read is only the end of one
    lines = data.decode("utf-8", "replace").splitlines()
    return _masked(lines[-n:])


def _run_id(request: Request) -> int:
    raw = request.path_params["run"]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise NotFound(f"No run {raw[:40]!r}.", hint="The runs page lists the runs by number.")
    return int(raw)


async def _log(request: Request, view: View) -> dict[str, Any]:
    run = await view.web.app.read(runs.get, _run_id(request))
    tail = await anyio.to_thread.run_sync(read_tail, run["log_path"])
    return {"run": run, "tail": tail, "live": run["ended_at"] is None}


@page
async def runs_page(request: Request, view: View) -> Response:
    return await view.web.pages.render(TEMPLATE, view.context(**await view.web.app.read(runs_data)))


@page
async def runs_region(request: Request, view: View) -> Response:
    return await view.web.pages.block(TEMPLATE, "runs", view.context(**await view.web.app.read(runs_data)))


@page
async def log_page(request: Request, view: View) -> Response:
    return await view.web.pages.render(LOG_TEMPLATE, view.context(**await _log(request, view)))


@page
async def log_region(request: Request, view: View) -> Response:
    data = await _log(request, view)
    response = await view.web.pages.block(LOG_TEMPLATE, "tail", view.context(**data))
    if not data["live"]:
        response.status_code = STOP_POLLING
    return response


ROUTES = [
    Route("/runs", runs_page, methods=["GET"], name="runs"),
    Route("/runs/p/runs", runs_region, methods=["GET"]),
    Route("/runs/{run}/log", log_page, methods=["GET"]),
    Route("/runs/{run}/log/p/tail", log_region, methods=["GET"]),
]
