"""The board `taskloom watch` draws: read in one transaction (`watch_data`), drawn with rich.

Apart from the command itself (cli/watch.py), so that every other command starts without rich.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.measure import Measurement
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from taskloom.cli import board as plain
from taskloom.cli.watch import ACTIVITY
from taskloom.config import OFFLINE_SECONDS, ONLINE_SECONDS
from taskloom.models import Agent, Event, ProjectStatus
from taskloom.services import activity, agents, decisions, planning, runs
from taskloom.services.common import Scope
from taskloom.store.base import Tx

ROWS = 20  # rows shown per section; the rest are counted
TEXT_MAX = 160  # characters of agent-written text shown per cell
DECISION_LIMIT = 20  # tasks and escalations read for "Needs a decision"

STATUS_STYLE = {
    "done": "green", "in_progress": "cyan", "review": "magenta", "blocked": "red", "failed": "bold red",
    "ready": "yellow", "busy": "cyan", "online": "green", "idle": "yellow", "offline": "dim",
    "escalation": "red", "stuck": "red", "overdue": "yellow",
}


@dataclass(frozen=True)
class Decision:
    kind: str  # blocked, failed, review, escalation, stuck or overdue
    subject: str  # a task code, an escalation's #id, or a stream code
    text: str
    next: str  # what the person does about it


@dataclass(frozen=True)
class Board:
    now: float
    status: ProjectStatus
    workers: list[dict[str, Any]]
    agents: list[Agent]
    decisions: list[Decision]
    activity: list[Event] = field(default_factory=list)


def watch_data(
    tx: Tx,
    scope: Scope,
    activity_limit: int = ACTIVITY,
    online_seconds: float = ONLINE_SECONDS,
    offline_seconds: float = OFFLINE_SECONDS,
) -> Board:
    """Everything the board shows, in one snapshot so its parts agree."""
    status = planning.project_status(tx, scope)
    return Board(
        now=scope.now,
        status=status,
        workers=runs.live(tx, scope),
        agents=agents.list_agents(tx, scope, online_seconds, offline_seconds).agents,
        decisions=_decisions(tx, scope, status),
        activity=activity.latest(tx, scope, activity_limit),
    )


def _decisions(tx: Tx, scope: Scope, status: ProjectStatus) -> list[Decision]:
    # The same source as the dashboard and the orchestrator brief: services/decisions.py.
    found = decisions.needing_decision(tx, scope, limit=DECISION_LIMIT, streams=status.streams)
    out = [Decision("blocked", t.code, f"{t.title}: {t.reason or 'no reason given'} ({t.claimed_by or 'unclaimed'})",
                    "answer with task_unblock") for t in found.blocked]
    out += [Decision("failed", t.code, f"{t.title}: {t.reason or 'no reason given'} (after {t.attempts} attempts)",
                     "fix, then retry or cancel") for t in found.failed]
    out += [Decision("review", t.code, t.title, "approve or send back with task_review") for t in found.review]
    out += [Decision("escalation", f"#{e.id}", f"{e.task or '-'}: {e.subject}", "message_ack when handled")
            for e in found.escalations]
    out += [Decision("stuck", "stream", line, "add tasks there or drop the dependency") for line in found.stuck_streams]
    out += [Decision("overdue", o.code, f"lease of {o.claimed_by or '-'} ran out {int(o.seconds_ago)}s ago",
                     "start a server: its resolver requeues it") for o in found.overdue_leases]
    return out


# ---------------------------------------------------------------- drawing


def clean(text: object, limit: int = TEXT_MAX) -> str:
    """Agent text made safe to show on one line: control and format characters (escape
    sequences, bidi overrides, NUL) are shown as escapes instead of reaching the terminal."""
    s = "" if text is None else str(text)
    out = []
    for ch in s[: limit + 1]:
        if ch in "\n\t":
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co"):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    shown = "".join(out)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def lit(text: object, style: str = "", limit: int = TEXT_MAX) -> Text:
    """A literal cell: rich never parses it as markup."""
    return Text(clean(text, limit), style=style, no_wrap=False)


class Bar:
    """A progress bar; as `taskloom status` draws it where there is no colour to tell done from not."""

    def __init__(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if console.color_system:
            yield ProgressBar(total=max(self.total, 1), completed=self.done, width=plain.BAR)
        else:
            yield Text(plain.bar(self.done, self.total))

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(plain.BAR + 2, plain.BAR + 2)


def _closed(counts: dict[str, int]) -> int:
    return counts.get("done", 0) + counts.get("cancelled", 0)


def _counts(counts: dict[str, int]) -> Text:
    shown = [Text(f"{s} {counts[s]}", style=STATUS_STYLE.get(s, "")) for s in plain.ORDER if counts.get(s)]
    return Text("  ").join(shown)


def _age(now: float, at: float | str | None) -> str:
    if at is None:
        return "-"
    seconds = at if isinstance(at, float | int) else datetime.fromisoformat(str(at)).timestamp()
    return plain.ago(max(0.0, now - seconds))


def _grid(*widths: int | None) -> Table:
    table = Table.grid(padding=(0, 2))
    for w in widths:
        table.add_column(no_wrap=w is not None, max_width=w)
    return table


def _section(title: str, body: Any, more: int = 0) -> Group:
    parts: list[Any] = [Text(""), Text(title, style="bold underline"), body]
    if more > 0:
        parts.append(Text(f"  … and {more} more", style="dim"))
    return Group(*parts)


def render(board: Board) -> Group:
    status = board.status
    closed = _closed(status.counts)
    when = datetime.fromtimestamp(board.now).strftime("%H:%M:%S")
    header = Table.grid(padding=(0, 1))
    header.add_row(Text("taskloom · project ", style="bold") + lit(status.project, "bold"), Text(when, style="dim"))
    total = Table.grid(padding=(0, 1))
    total.add_row(Text("Total"), Bar(closed, status.total), Text(f"{closed}/{status.total} closed"), _counts(status.counts))
    parts: list[Any] = [header, total]
    if status.ready_by_role:
        parts.append(Text("Ready by role  ") + lit("  ".join(f"{r} {n}" for r, n in sorted(status.ready_by_role.items()))))
    parts += [_streams(board), _workers(board), _agents(board), _needs(board), _activity(board)]
    return Group(*[p for p in parts if p is not None])


def _streams(board: Board) -> Group | None:
    if not board.status.streams:
        return None
    table = _grid(None, None, 5, 8, None)
    for s in board.status.streams[:ROWS]:
        done = _closed(s.counts)
        pct = f"{100 * done // s.total:3d}%" if s.total else "  -%"
        counts = _counts(s.counts) if s.total else Text("no tasks", style="dim")
        if s.depends_on:
            counts.append(Text("  after ") + lit(", ".join(s.depends_on)))
        table.add_row(lit(s.code, "bold"), Bar(done, s.total), Text(pct), lit(s.status, STATUS_STYLE.get(s.status, "")), counts)
    return _section("Streams", table, len(board.status.streams) - ROWS)


def _workers(board: Board) -> Group | None:
    if not board.workers:
        return None
    table = _grid(None, None, None, None, None)
    for w in board.workers[:ROWS]:
        work = w.get("holding") or w.get("task") or f"stream {w.get('stream')}"
        table.add_row(lit(w["agent"], "cyan"), lit(work), lit(w["preset"]), Text(f"pid {w['pid'] or '-'}"),
                      Text(f"started {_age(board.now, w['started_at'])}", style="dim"))
    return _section(f"Workers (taskloom run): {len(board.workers)} running", table, len(board.workers) - ROWS)


def _agents(board: Board) -> Group | None:
    shown = [a for a in board.agents if a.status != "offline"]
    offline = len(board.agents) - len(shown)
    if not board.agents:
        return None
    table = _grid(None, None, 8, None, None)
    for a in shown[:ROWS]:
        table.add_row(lit(a.name, "bold"), lit(a.role or "no role", "dim"), lit(a.status, STATUS_STYLE.get(a.status, "")),
                      lit(a.current_task or "-"), Text(f"seen {_age(board.now, a.last_seen_at)}", style="dim"))
    if offline:
        table.add_row(Text(f"{offline} offline", style="dim"))
    return _section("Agents", table, len(shown) - ROWS)


def _needs(board: Board) -> Group:
    if not board.decisions:
        return _section("Needs a decision", Text("Nothing: no blockers, failures, reviews or open escalations.", style="green"))
    table = _grid(10, None, None, None)
    for d in board.decisions[:ROWS]:
        table.add_row(Text(d.kind, style=STATUS_STYLE.get(d.kind, "")), lit(d.subject, "bold"), lit(d.text),
                      Text(d.next, style="dim"))
    return _section("Needs a decision", table, len(board.decisions) - ROWS)


def _activity(board: Board) -> Group:
    if not board.activity:
        return _section("Activity", Text("No activity yet.", style="dim"))
    table = _grid(8, None, None, None, None)
    for e in board.activity:
        said = next((e.payload[k] for k in ("text", "title", "summary", "reason", "subject") if e.payload and e.payload.get(k)), "")
        table.add_row(Text(_age(board.now, e.at), style="dim"), lit(e.agent or "-", "cyan"), lit(e.kind),
                      lit(e.subject or ""), lit(said, limit=80))
    return _section("Activity", table)
