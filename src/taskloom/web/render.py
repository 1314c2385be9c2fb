"""Jinja2 for the dashboard: every template autoescaped, undefined names an error, and the few
filters the pages share. Agent-written text reaches a page only through autoescape or `md`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import anyio
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from starlette.responses import HTMLResponse

from taskloom.domain.completion import duration_text
from taskloom.domain.statuses import StreamStatus, TaskStatus
from taskloom.web.markdown import md

# The order bars and tallies show statuses in: from not started to finished.
STATUSES = ("backlog", "waiting", "ready", "in_progress", "blocked", "review", "failed", "done", "cancelled")
KNOWN = frozenset(STATUSES) | {str(s) for s in TaskStatus} | {str(s) for s in StreamStatus}


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("taskloom.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
    )
    env.filters.update(pct=pct, status_class=status_class, ago=ago, plain_text=plain_text, md=md, duration=duration)
    env.globals.update(STATUSES=STATUSES)
    return env


def pct(part: int, whole: int) -> int:
    return round(100 * part / whole) if whole else 0


def status_class(status: str | None) -> str:
    """A CSS class from a status: only known statuses, so agent text never becomes a class name."""
    return f"s-{status}" if status in KNOWN else "s-unknown"


def ago(when: str | float | None, now: float) -> str:
    """`3m ago` from an ISO time or epoch seconds; `—` for never."""
    if when is None or when == "":
        return "—"
    ts = when if isinstance(when, (int, float)) else dt.datetime.fromisoformat(when).timestamp()
    seconds = now - ts
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        text = f"{int(seconds)}s"
    elif seconds < 3600:
        text = f"{int(seconds // 60)}m"
    elif seconds < 86400:
        text = f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
    else:
        text = f"{int(seconds // 86400)}d"
    return f"in {text}" if future else f"{text} ago"


def duration(seconds: float) -> str:
    """`1h05m`, `3m20s`, `42s`: how long something took, whole seconds cut (not rounded) as pages
    always showed them; the one formatter is the completion report's."""
    return duration_text(int(seconds))


def plain_text(text: str | None) -> Markup:
    """Multi-line agent text as escaped lines (markdown is only for context and descriptions)."""
    return Markup("<br>").join(escape(line) for line in (text or "").splitlines())


class Pages:
    """Renders templates into responses with the dashboard's security headers.

    Off the event loop: a page renders agents' markdown (markdown-it, then nh3), which takes
    tenths of a second for a hostile 64 KiB context, and a stalled loop would stall every tool
    call of the server too."""

    def __init__(self, env: Environment) -> None:
        self.env = env

    async def render(self, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        html = await anyio.to_thread.run_sync(lambda: self.env.get_template(name).render(context))
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    async def block(self, name: str, block: str, context: dict[str, Any]) -> HTMLResponse:
        """One region of a page, for htmx to morph in: the same template block the page renders."""

        def render() -> str:
            template = self.env.get_template(name)
            return "".join(template.blocks[block](template.new_context(context)))

        return HTMLResponse(await anyio.to_thread.run_sync(render), headers=HEADERS)


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
}
