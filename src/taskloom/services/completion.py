"""Completion reports: what a sprint, a stream or the whole project got done, by whom, how long it
took, its critical path planned and actual, what went wrong and how it was settled, the artifacts
it produced, and the changelog of its done tasks.

One read, five statements whatever the size (reports.sql); the rules are in domain/completion.py.
Durations come from each task's status spans (domain/history.py); the timesheet service can take
over `_timings` once it reads the same spans.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping

from taskloom.clock import iso
from taskloom.domain import completion as rules
from taskloom.domain.artifacts import uri_of
from taskloom.domain.events import EventKind
from taskloom.domain.history import Move, spans
from taskloom.domain.statuses import TaskStatus as S
from taskloom.errors import InvalidInput, TooLarge
from taskloom.models import Uploaded
from taskloom.models.completion import (
    AgentWork,
    CompletionReport,
    DoneTask,
    EscalationRecord,
    Incident,
    OpenTask,
    PathStep,
    ReportArtifact,
    Trouble,
)
from taskloom.services import uploads
from taskloom.services.app import Taskloom
from taskloom.services.common import Scope, sprint_id, stream_id
from taskloom.store.base import Row, Tx

MAX_TASKS = 20_000  # tasks one report takes on; past that, report a sprint or a stream
PATH_BASIS = "tasks (no task has an estimate, so each counts 1)"


def target(tx: Tx, scope: Scope, sprint: str | None, stream: str | None) -> dict[str, object]:
    """The scope's parameters and what the report calls it; not_found for an unknown code."""
    if sprint and stream:
        raise InvalidInput(
            "A report covers a sprint or a stream, not both.",
            hint="Ask for one sprint or one stream, or for neither to report the whole project.",
        )
    # An unknown code: sprint_id and stream_id raise the not_found every other use of it gets.
    if sprint:
        row = tx.one("sprint_by_code", {"project": scope.project_id, "code": sprint}) or sprint_id(tx, scope, sprint)
        return {"scope": "sprint", "code": sprint, "title": row["title"], "goal": row["goal"],
                "stream_id": None, "sprint_id": row["id"]}
    if stream:
        row = tx.one("stream_by_code", {"project": scope.project_id, "code": stream}) or stream_id(tx, scope, stream)
        return {"scope": "stream", "code": stream, "title": row["name"], "goal": row["description"],
                "stream_id": row["id"], "sprint_id": None}
    return {"scope": "project", "code": None, "title": scope.project, "goal": "", "stream_id": None, "sprint_id": None}


def build(tx: Tx, scope: Scope, sprint: str | None = None, stream: str | None = None) -> CompletionReport:
    where = target(tx, scope, sprint, stream)
    params = {"project": scope.project_id, "stream_id": where["stream_id"], "sprint_id": where["sprint_id"]}
    tasks = tx.all("report_tasks", {**params, "limit": MAX_TASKS + 1})
    if len(tasks) > MAX_TASKS:
        raise TooLarge(
            f"This report would cover more than {MAX_TASKS} tasks.",
            hint="Report one sprint or one stream at a time (--sprint, --stream).",
        )
    by_id = {r["id"]: r for r in tasks}
    deps: dict[int, list[int]] = defaultdict(list)
    for e in tx.all("report_edges", params):
        if e["depends_on_id"] in by_id:
            deps[e["task_id"]].append(e["depends_on_id"])
    moves: dict[str, list[Move]] = defaultdict(list)
    done_event: dict[str, int] = {}  # the event that finished each task: orders dones at one time
    for e in tx.all("report_task_events", params):
        moves[e["subject"]].append(Move(e["at"], e["kind"], e["agent"], json.loads(e["payload"]) if e["payload"] else {}))
        if e["kind"] == EventKind.TASK_DONE:
            done_event[e["subject"]] = e["id"]
    timings = _timings(tasks, moves, scope.now)
    done = sorted(
        (r for r in tasks if timings[r["id"]].done_at is not None),
        key=lambda r: (timings[r["id"]].done_at, done_event.get(r["code"], 0), r["id"]),
    )
    claimed = [t.first_claimed for t in timings.values() if t.first_claimed is not None]
    started = min(claimed) if claimed else None
    finished = timings[done[-1]["id"]].done_at if done else None

    def step(task_id: int) -> PathStep:
        r, at = by_id[task_id], timings[task_id].done_at
        after = at - started if at is not None and started is not None else None
        return PathStep(code=r["code"], title=r["title"], status=r["status"], done_at=iso(at), after_start=after)

    counts: dict[str, int] = {}
    for r in tasks:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    found = {code: rules.incidents(ms) for code, ms in moves.items()}
    planned = [r["id"] for r in tasks if r["status"] != S.CANCELLED]
    return CompletionReport(
        project=scope.project,
        scope=where["scope"],
        code=where["code"],
        title=where["title"],
        goal=where["goal"],
        generated_at=iso(scope.now),
        counts=dict(sorted(counts.items())),
        started_at=iso(started),
        finished_at=iso(finished),
        elapsed=finished - started if finished is not None and started is not None else None,
        in_progress_total=sum(t.in_progress for t in timings.values()),
        failed_attempts=sum(1 for i in found.values() for x in i if x.what != "lease_expired"),
        lease_expiries=sum(1 for i in found.values() for x in i if x.what == "lease_expired"),
        done=[_done(r, timings[r["id"]]) for r in done],
        not_done=[OpenTask(code=r["code"], title=r["title"], status=r["status"], reason=r["reason"])
                  for r in tasks if r["status"] != S.DONE],
        agents=_agents(done, timings),
        planned_path=[step(n) for n in rules.planned_path(planned, deps)],
        actual_path=[step(n) for n in rules.actual_path([r["id"] for r in done], deps)],
        path_basis=PATH_BASIS,
        troubles=_troubles(tx, params, tasks, timings, found),
        artifacts=_artifacts(tx, params),
    )


def _timings(tasks: list[Row], moves: Mapping[str, list[Move]], now: float) -> dict[int, rules.Timing]:
    out = {}
    for r in tasks:
        ms = moves.get(r["code"], [])
        out[r["id"]] = rules.timing(ms, spans(ms, r["status"]), now)
        if r["status"] == S.DONE and out[r["id"]].done_at is None:
            # Done with no events to show it (a copied project): the row's own time stands in.
            t = out[r["id"]]
            out[r["id"]] = rules.Timing(t.first_claimed, r["completed_at"] or r["created_at"], t.in_progress,
                                        t.by_holder, r["claimed_by"], t.claims)
    return out


def _done(r: Row, t: rules.Timing) -> DoneTask:
    assert t.done_at is not None
    return DoneTask(
        code=r["code"],
        title=r["title"],
        done_by=t.done_by,
        created_at=iso(r["created_at"]),
        first_claimed_at=iso(t.first_claimed),
        done_at=iso(t.done_at),
        created_to_done=max(0.0, t.done_at - r["created_at"]),
        claimed_to_done=None if t.first_claimed is None else max(0.0, t.done_at - t.first_claimed),
        in_progress=t.in_progress,
        attempts=t.claims,
        summary=r["summary"],
    )


def _agents(done: list[Row], timings: Mapping[int, rules.Timing]) -> list[AgentWork]:
    tasks: dict[str, list[str]] = defaultdict(list)
    seconds: dict[str, float] = defaultdict(float)
    for r in done:
        if timings[r["id"]].done_by:
            tasks[timings[r["id"]].done_by].append(r["code"])
    for t in timings.values():
        for agent, s in t.by_holder.items():
            seconds[agent] += s
    return [AgentWork(agent=a, tasks_done=tasks.get(a, []), in_progress=seconds.get(a, 0.0))
            for a in sorted(set(tasks) | set(seconds))]


def _troubles(
    tx: Tx, params: dict, tasks: list[Row], timings: Mapping[int, rules.Timing], found: Mapping[str, list[rules.Incident]]
) -> list[Trouble]:
    escalations: dict[int, list[EscalationRecord]] = defaultdict(list)
    first_at: dict[int, float] = {}
    for e in tx.all("report_escalations", params):
        escalations[e["task_id"]].append(
            EscalationRecord(at=iso(e["created_at"]), trigger=e["trigger"], reason=e["reason"], settled=_settled(e))
        )
        first_at.setdefault(e["task_id"], e["created_at"])
    out = []
    for r in tasks:
        happened = found.get(r["code"], [])
        if not happened and not escalations.get(r["id"]):
            continue
        when = min([i.at for i in happened[:1]] + [first_at.get(r["id"], float("inf"))])
        out.append((when, r["id"], Trouble(
            code=r["code"],
            title=r["title"],
            incidents=[Incident(at=iso(i.at), what=i.what, agent=i.agent, reason=i.reason) for i in happened],
            escalations=escalations.get(r["id"], []),
            outcome=_outcome(r, timings[r["id"]]),
        )))
    return [t for _, _, t in sorted(out, key=lambda x: x[:2])]


def _settled(e: Row) -> str:
    if e["acked_at"] is None:
        return "open"
    if e["acked_by"]:
        return f"acknowledged by {e['acked_by']} at {rules.short_time(e['acked_at'])}"
    return f"answered with task_unblock at {rules.short_time(e['acked_at'])}"


def _outcome(r: Row, t: rules.Timing) -> str:
    tries = f"{t.claims} claim{'' if t.claims == 1 else 's'}"
    if r["status"] == S.DONE:
        who = f" by {t.done_by}" if t.done_by else ""
        return f"done{who} at {rules.short_time(t.done_at)} ({tries})"
    if r["status"] in (S.FAILED, S.CANCELLED):
        return f"{r['status']}: {r['reason'] or 'no reason given'}"
    return f"still {r['status']} ({tries})"


def _artifacts(tx: Tx, params: dict) -> list[ReportArtifact]:
    found: dict[int, ReportArtifact] = {}
    for r in tx.all("report_artifact_links", params):
        link = r["kind"] if r["kind"] == "project" else f"{r['kind']}:{r['target']}"
        if r["id"] not in found:
            found[r["id"]] = ReportArtifact(
                uri=uri_of(r["sha256"]), name=r["name"], media_type=r["media_type"], size=r["size"],
                uploaded_by=r["uploaded_by"], uploaded_at=iso(r["uploaded_at"]), linked_to=[],
            )
        found[r["id"]].linked_to.append(link)
    return list(found.values())


def link_of(report: CompletionReport) -> str:
    """What a saved report is linked to: its sprint, its stream, or the project."""
    return "project" if report.code is None else f"{report.scope}:{report.code}"


def file_name(report: CompletionReport) -> str:
    """`report-sprint-S1-20270115-080640.md`: what it covers and when it was made, so saved reports
    of one sprint list apart."""
    stamp = report.generated_at[:19].replace("-", "").replace(":", "").replace("T", "-")
    what = report.scope if report.code is None else f"{report.scope}-{report.code}"
    return f"report-{what}-{stamp}.md"


async def save(app: Taskloom, report: CompletionReport, text: str, agent: str | None = None) -> Uploaded:
    """Store `text`, the report rendered, as a text/markdown artifact linked to what it covers."""
    covers = "the project" if report.code is None else f"{report.scope} {report.code}"
    return await uploads.upload(
        app,
        uploads.Source(content=text),
        name=file_name(report),
        media_type="text/markdown",
        description=f"Completion report of {covers}, generated {report.generated_at}.",
        links=[link_of(report)],
        agent=agent,
        local_paths=False,
    )
