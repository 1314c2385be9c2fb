"""`taskloom search`: find tasks, notes, messages and artifacts by their words, from a shell."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from taskloom.domain.search import DEFAULT_LIMIT, KIND_CODES, MAX_LIMIT
from taskloom.domain.statuses import TaskStatus

# The service and the terminal drawing load when the command runs, not for every command's flags.
if TYPE_CHECKING:
    from taskloom.models.search import SearchResults
    from taskloom.services.app import Taskloom

STATUSES = tuple(s.value for s in TaskStatus)


def add_parser(sub: argparse._SubParsersAction, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "search", help="search tasks, notes, messages and artifacts",
        description='Search the project, best first. QUERY: words (all must match), "exact phrase", '
        "-excluded, a OR b. Messages: task threads and escalations, as the dashboard shows them; "
        "--as NAME searches an agent's mail as that agent reads it.",
    )
    common(p)
    p.add_argument("query", metavar="QUERY")
    p.add_argument("--kind", choices=list(KIND_CODES))
    p.add_argument("--stream", metavar="CODE")
    p.add_argument("--status", choices=STATUSES, help="of the task a hit belongs to")
    p.add_argument("--agent", metavar="NAME", help="only what this agent wrote")
    p.add_argument("--as", dest="reader", metavar="NAME", help="read messages as this agent")
    p.add_argument("--limit", type=_limit, default=DEFAULT_LIMIT, help=f"1..{MAX_LIMIT} (default {DEFAULT_LIMIT})")
    p.add_argument("--json", action="store_true", help="print JSON")


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"{value} is not in 1..{MAX_LIMIT}")
    return value


async def run(app: Taskloom, args: argparse.Namespace) -> int:
    from taskloom.services import search

    found = await app.read(
        search.search, args.query, kind=args.kind, stream=args.stream, status=args.status, author=args.agent,
        limit=args.limit, person=True, agent=args.reader or "",
    )
    print(found.model_dump_json(indent=2) if args.json else render(found))
    return 0


def render(found: SearchResults) -> str:
    """One hit a line: where it is, its title, its snippet; agent text never reaches the
    terminal raw (an escape sequence is shown, not obeyed)."""
    if not found.hits:
        return found.message or "No matches."
    from taskloom.cli.watch_board import clean  # rich loads only when there is something to draw

    lines = []
    for hit in found.hits:
        where = hit.task if hit.kind == "task" else f"{hit.kind} {str(hit.id)[:12]}"
        if hit.kind != "task" and hit.task:
            where += f" on {hit.task}"
        lines.append(f"{clean(where, 24):<24} {clean(hit.title, 40):<40}  {clean(hit.snippet, 240)}")
    return "\n".join(lines)
