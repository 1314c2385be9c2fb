"""Briefings written for an LLM reader: a fresh worker's bootstrap, and the orchestrator's brief.

They are plain Markdown built from the same use cases the tools call, so a prompt never says
anything the tools would not.
"""

from __future__ import annotations

from taskloom.clock import iso
from taskloom.models import TaskDetail
from taskloom.services import agents, decisions, planning
from taskloom.services.common import Scope, detail
from taskloom.store.base import Tx

BRIEF_LIMIT = 20  # items per section of the orchestrator brief

PROTOCOL = """## Protocol
1. `agent_init` (once, and again after any restart): it lists tasks you still hold, work for your role and unread messages.
2. `task_claim(wait_seconds=50)` takes the next ready task atomically and leases it to you; with nothing ready it
   waits for one (the longest waiter is served first) instead of answering at once. Never poll in a loop of your own.
   When it returns `claimed: false`, read `outlook`: `wait` or `retry`: call it again; `finished` (no open tasks),
   `stalled` (nothing can move until an orchestrator acts) or `other_work` (nothing for your role): stop, and say so.
   `message_inbox(wait_seconds=50)` waits the same way for a message.
3. While working: `task_heartbeat` before the lease expires (every few minutes), `task_note` for progress and decisions,
   `task_context` for what every later agent must read first.
4. Finish with `task_done` (a summary of what you did and where it is), or `task_fail` (why; it is retried),
   or `task_release` (hand it back unharmed). Blocked on a question? `task_block` with the question as `reason`; it is
   escalated, and when someone answers with `task_unblock` the answer arrives in `message_inbox` and the lease resumes.
5. After each finished task, go back to step 2 until `outlook` says stop.
6. Errors start with a stable code and end with what to do next; `lease_lost` means stop work on that task and claim anew."""


def worker_instructions(tx: Tx, scope: Scope, task: str | None, stream: str | None) -> str:
    me = scope.agent or "(set TASKLOOM_AGENT or pass agent)"
    row = tx.one("agent_by_name", {"project": scope.project_id, "name": scope.agent}) if scope.agent else None
    task_detail = detail(tx, scope, task) if task else None
    # A fresh worker has no registered role yet: the task's role is the one it is briefed for.
    role = (row and row["role"]) or (task_detail and task_detail.task.role)
    parts = [f"# You are {me}, a worker on project {scope.project}", f"Role: {role or 'none yet (agent_init sets it)'}"]
    if role and (r := agents.get_role(tx, scope, role)):
        parts += [f"## Your role: {r.name}", r.definition, f"When to use: {r.when_to_use}" if r.when_to_use else "",
                  f"Instructions: {r.instructions}" if r.instructions else ""]
    parts.append(PROTOCOL)
    if task_detail:
        parts.append(_task_section(task_detail))
    elif stream:
        view = planning.stream_view(tx, scope, stream)
        ready = [t for t in view.tasks if t.status == "ready"]
        parts.append(
            f"## Stream {view.stream.code}: {view.stream.name}\n{view.stream.description}\n"
            f"Status {view.stream.status}; {len(ready)} ready now. Claim with `task_claim(stream=\"{stream}\")`."
        )
    return "\n\n".join(p for p in parts if p)


def _task_section(d: TaskDetail) -> str:
    t = d.task
    lines = [f"## Your task: {t.code} {t.title}", f"Status {t.status}, priority {t.priority}."]
    for label, text in (("Description", t.description), ("Acceptance", t.acceptance), ("Context", t.context)):
        if text:
            lines.append(f"### {label}\n{text}")
    if d.dependencies:
        lines.append("### What its dependencies produced")
        lines += [f"- {x.code} ({x.outcome}): {x.summary or ''}" for x in d.dependencies]
    if d.notes:
        lines.append("### Latest notes")
        lines += [f"- [{n.kind}] {n.agent or ''}: {n.body}" for n in d.notes]
    if t.status == "ready":
        lines.append(f'Claim it with `task_claim(task="{t.code}")`.')
    return "\n".join(lines)


def orchestrator_brief(tx: Tx, scope: Scope, online_seconds: float, offline_seconds: float) -> str:
    status = planning.project_status(tx, scope)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(status.counts.items())) or "no tasks yet"
    parts = [f"# Orchestrator brief: {scope.project} at {iso(scope.now)}", f"Tasks: {counts} ({status.total} in all)."]
    if status.streams:
        parts.append("## Streams\n" + "\n".join(f"- {s.code} {s.name}: {s.status}, {_n(s.total, 'task')}" for s in status.streams))
    needed = decisions.needing_decision(tx, scope, BRIEF_LIMIT, streams=status.streams)
    roster = agents.list_agents(tx, scope, online_seconds, offline_seconds).agents
    idle = [a for a in roster if a.status in ("idle", "online")]
    parts.append("## Needs a decision")
    items = (
        [f"- {t.code} is blocked ({t.claimed_by or 'unclaimed'}): {t.reason}. Answer with task_unblock." for t in needed.blocked]
        + [f"- {t.code} failed after {_n(t.attempts, 'attempt')}: {t.reason}. Fix and task_update status=ready, or cancel." for t in needed.failed]
        + [f"- {t.code} awaits review: task_review approve or send back." for t in needed.review]
        + [f"- Escalation #{e.id} ({e.task}): {e.subject}. message_ack when handled." for e in needed.escalations]
        + [f"- {line}" for line in needed.stuck_streams]
    )
    parts.append("\n".join(items) if items else "Nothing: no blockers, failures, reviews or open escalations.")
    parts.append("## Agents\n" + ("\n".join(
        f"- {a.name} ({a.role or 'no role'}): {a.status}" + (f", on {a.current_task}" if a.current_task else "")
        for a in roster) or "No agent has joined yet."))
    if idle and status.ready_by_role:
        ready = ", ".join(f"{role}: {n}" for role, n in status.ready_by_role.items())
        parts.append(f"Idle agents: {', '.join(a.name for a in idle)}. Ready work by role: {ready}.")
    elif idle:
        parts.append(f"Idle agents with nothing ready: {', '.join(a.name for a in idle)}. Plan more work or unblock some.")
    return "\n\n".join(parts)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
