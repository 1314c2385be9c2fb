"""`taskloom status`: the project as a team's status board."""

from __future__ import annotations

from taskloom.models import ProjectStatus
from taskloom.models.overview import OverdueLease

ORDER = ["backlog", "waiting", "ready", "in_progress", "review", "blocked", "done", "failed", "cancelled"]
BAR = 20


def bar(done: int, total: int) -> str:
    filled = round(BAR * done / total) if total else 0
    return "[" + "#" * filled + "-" * (BAR - filled) + "]"


def counts_line(counts: dict[str, int]) -> str:
    return "  ".join(f"{s} {counts[s]}" for s in ORDER if counts.get(s))


def ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"


def render(status: ProjectStatus, overdue: list[OverdueLease] = (), workers: list[dict] = ()) -> str:
    lines = [f"taskloom · project {status.project}", ""]
    if status.streams:
        width = max(len(s.code) for s in status.streams)
        lines.append("Streams")
        for s in status.streams:
            closed = s.counts.get("done", 0) + s.counts.get("cancelled", 0)
            pct = f"{100 * closed // s.total:3d}%" if s.total else "  -%"
            deps = f"  after {', '.join(s.depends_on)}" if s.depends_on else ""
            if s.waits_on_empty and s.status != "done":  # the one line: why this stream never starts
                deps += f"  STUCK: waits on {', '.join(s.waits_on_empty)}, which have no tasks"
            lines.append(
                f"  {s.code:<{width}}  {bar(closed, s.total)} {pct}  {s.status:<7}  "
                f"{counts_line(s.counts) or 'no tasks'}{deps}"
            )
        lines.append("")
    closed = status.counts.get("done", 0) + status.counts.get("cancelled", 0)
    lines.append(f"Total  {bar(closed, status.total)} {closed}/{status.total} closed   {counts_line(status.counts)}")
    if status.ready_by_role:
        ready = "  ".join(f"{role} {n}" for role, n in sorted(status.ready_by_role.items()))
        lines.append(f"Ready by role   {ready}")
    if status.in_progress:
        # An overdue lease is shown for what it is, though only a resolver pass may expire it.
        late = {o.code: o for o in overdue}
        lines.append("")
        lines.append("In progress")
        for t in status.in_progress:
            expired = f"  (lease expired {ago(late[t.code].seconds_ago)})" if t.code in late else ""
            lines.append(f"  {t.code:<8} {t.claimed_by or '?':<16} {t.title}{expired}")
        if overdue:
            lines.append(
                f"  {len(overdue)} lease(s) expired with no server running to return them to the queue; "
                "`taskloom serve`, or any command that writes, will."
            )
    if workers:
        lines += ["", f"Workers (taskloom run): {len(workers)} running"]
        for w in workers:
            work = w.get("holding") or w.get("task") or f"stream {w.get('stream')}"
            lines.append(f"  {w['agent']:<28} {work:<10} {w['preset']:<8} pid {w['pid'] or '-'}")
    lines.append("")
    lines.append(f"Resolver last ran: {status.resolver_last_run or 'never'}")
    return "\n".join(lines)
