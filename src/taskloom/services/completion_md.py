"""A completion report as Markdown: a pure function of the report, so one report is one text.

Agents wrote the titles, summaries and reasons: in a table cell a pipe or a newline would break the
row, and in a heading or list item a newline would end it, so such text is escaped or folded onto
one line (`cell`, `inline`). Summaries keep their own Markdown, indented under their changelog item.
"""

from __future__ import annotations

import re

from taskloom.domain.completion import duration_text
from taskloom.models.completion import CompletionReport, PathStep

_SPECIAL = re.compile(r"([\\`*\[\]<>|])")
_SPACE = re.compile(r"\s+")


def inline(text: str | None) -> str:
    """Agent text on one line, with the characters that make links, code, emphasis, HTML or
    table cells escaped."""
    return _SPECIAL.sub(r"\\\1", _SPACE.sub(" ", text or "").strip())


def cell(text: str | None) -> str:
    return inline(text) or " "


def when(iso_time: str | None) -> str:
    """`2027-01-15 08:00:05Z` from the ISO time the report holds."""
    return "-" if iso_time is None else iso_time[:19].replace("T", " ") + "Z"


def render(r: CompletionReport) -> str:
    parts = [_head(r), _summary(r), _who(r), _durations(r), _paths(r), _troubles(r), _artifacts(r), _changelog(r)]
    if r.not_done:
        parts.insert(-1, _not_done(r))
    return "\n\n".join(parts) + "\n"


def _head(r: CompletionReport) -> str:
    what = {"project": "project", "sprint": f"sprint {inline(r.code)}", "stream": f"stream {inline(r.code)}"}[r.scope]
    lines = [f"# Completion report: {what}: {inline(r.title)}",
             f"Project {inline(r.project)}, generated {when(r.generated_at)}."]
    if r.goal.strip():
        lines.append(f"{'Goal' if r.scope == 'sprint' else 'About'}: {inline(r.goal)}")
    return "\n\n".join(lines)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _summary(r: CompletionReport) -> str:
    total = sum(r.counts.values())
    counts = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in r.counts.items()) or "none"
    settled = sum(1 for t in r.troubles for e in t.escalations if e.settled != "open")
    escalations = sum(len(t.escalations) for t in r.troubles)
    rows = [
        ["Tasks", f"{total} ({counts})"],
        ["Started", f"{when(r.started_at)} (first claim)"],
        ["Finished", f"{when(r.finished_at)} (last task done)"],
        ["Elapsed", duration_text(r.elapsed)],
        ["Time in progress", f"{duration_text(r.in_progress_total)} (all tasks, all attempts)"],
        ["Failed attempts", str(r.failed_attempts)],
        ["Expired leases", str(r.lease_expiries)],
        ["Escalations", f"{escalations} ({settled} settled, {escalations - settled} open)"],
        ["Artifacts", str(len(r.artifacts))],
    ]
    return "## Summary\n\n" + _table(["What", "Value"], rows)


def _who(r: CompletionReport) -> str:
    if not r.agents:
        return "## Who did what\n\nNobody has worked on these tasks yet."
    rows = [[cell(a.agent), str(len(a.tasks_done)), duration_text(a.in_progress), cell(", ".join(a.tasks_done))]
            for a in r.agents]
    return "## Who did what\n\n" + _table(["Agent", "Tasks done", "Time in progress", "Done"], rows)


def _durations(r: CompletionReport) -> str:
    if not r.done:
        return "## Durations\n\nNo task is done yet."
    rows = [[cell(t.code), cell(t.title), cell(t.done_by or "(its subtasks)"), duration_text(t.created_to_done),
             duration_text(t.claimed_to_done), duration_text(t.in_progress), str(t.attempts)] for t in r.done]
    rows.append(["**Total**", f"{len(r.done)} done", " ", " ", " ",
                 duration_text(sum(t.in_progress for t in r.done)), str(sum(t.attempts for t in r.done))])
    return "## Durations\n\n" + _table(
        ["Task", "Title", "Done by", "Created to done", "Claimed to done", "In progress", "Attempts"], rows
    )


def _step(s: PathStep | None) -> list[str]:
    if s is None:
        return [" ", " "]
    done = f"+{duration_text(s.after_start)}" if s.after_start is not None else s.status.replace("_", " ")
    return [f"{cell(s.code)} {cell(s.title)}", done]


def _paths(r: CompletionReport) -> str:
    n = max(len(r.planned_path), len(r.actual_path))
    text = (
        "## Critical path: planned and actual\n\n"
        f"Planned: the longest dependency chain, counted in {r.path_basis}: {len(r.planned_path)} long. "
        f"Actual: from the last task to finish, back through the dependency that finished last each time: "
        f"{len(r.actual_path)} long."
    )
    if not n:
        return text + "\n\nNo tasks to chain."
    rows = []
    for i in range(n):
        planned = r.planned_path[i] if i < len(r.planned_path) else None
        actual = r.actual_path[i] if i < len(r.actual_path) else None
        rows.append([str(i + 1), *_step(planned), *_step(actual)])
    return text + "\n\n" + _table(["#", "Planned", "Done", "Actual", "Done"], rows)


_WHAT = {"retried": "attempt failed, retried", "failed": "failed for good", "lease_expired": "lease expired"}


def _troubles(r: CompletionReport) -> str:
    if not r.troubles:
        return "## Failures, retries and escalations\n\nNone: no failed attempts, expired leases or escalations."
    blocks = ["## Failures, retries and escalations"]
    for t in r.troubles:
        lines = [f"### {inline(t.code)} {inline(t.title)}", ""]
        for i in t.incidents:
            who = f" ({inline(i.agent)})" if i.agent else ""
            lines.append(f"- {when(i.at)} {_WHAT[i.what]}{who}: {inline(i.reason) or 'no reason given'}")
        for e in t.escalations:
            lines.append(f"- {when(e.at)} escalated ({e.trigger}): {inline(e.reason).rstrip('.')}. Settled: {inline(e.settled)}.")
        lines.append(f"- Outcome: {inline(t.outcome)}.")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _artifacts(r: CompletionReport) -> str:
    if not r.artifacts:
        return "## Artifacts\n\nNone linked to these tasks or to the " + ("project." if r.scope == "project" else f"{r.scope}.")
    rows = [[cell(a.name), cell(a.media_type), f"{a.size:,} B", cell(a.uploaded_by or "-"), cell(", ".join(a.linked_to)),
             f"`{a.uri}`"] for a in r.artifacts]
    return "## Artifacts\n\n" + _table(["Name", "Type", "Size", "Uploaded by", "Linked to", "URI"], rows)


def _not_done(r: CompletionReport) -> str:
    rows = [[cell(t.code), cell(t.title), t.status.replace("_", " "), cell(t.reason or "-")] for t in r.not_done]
    return "## Not done\n\n" + _table(["Task", "Title", "Status", "Reason"], rows)


def _changelog(r: CompletionReport) -> str:
    if not r.done:
        return "## Changelog\n\nNothing done yet."
    items = []
    for i, t in enumerate(r.done, 1):
        by = f", {inline(t.done_by)}" if t.done_by else ""
        marker = f"{i}. "
        item = f"{marker}**{inline(t.code)}** {inline(t.title)} ({when(t.done_at)}{by})"
        summary = (t.summary or "").strip()
        if summary:
            # Indented under the item, so its own Markdown (lists, code) stays inside it.
            pad = " " * len(marker)
            item += "\n" + "\n".join(pad + line if line.strip() else "" for line in summary.splitlines())
        items.append(item)
    return "## Changelog\n\n" + "\n".join(items)
