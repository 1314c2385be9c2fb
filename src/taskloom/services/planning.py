"""Sprints, streams, whole-plan import, and the project's status board."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import ValidationError

from taskloom.clock import iso
from taskloom.domain import graph
from taskloom.domain.events import EventKind
from taskloom.domain.limits import MAX_PAGE, MAX_PLAN_TASKS, check_batch, check_text, check_title
from taskloom.errors import NotFound, TooLarge, from_validation
from taskloom.models import (
    ImportResult,
    Plan,
    ProjectStatus,
    Sprint,
    SprintList,
    SprintSpec,
    Stream,
    StreamList,
    StreamSpec,
    StreamView,
)
from taskloom.services import agents, waits
from taskloom.services.common import Scope, brief, event
from taskloom.services.creation import create_tasks
from taskloom.services.readiness import Settle
from taskloom.services.tasks import list_tasks
from taskloom.store.base import Row, Tx


def _counts(rows: list[Row]) -> dict[str, int]:
    return {r["status"]: r["n"] for r in rows}


def render_stream(tx: Tx, row: Row) -> Stream:
    counts = _counts(tx.all("stream_counts", {"id": row["id"]}))
    deps = tx.all("stream_dep_codes", {"id": row["id"]})
    return Stream(
        code=row["code"],
        name=row["name"],
        description=row["description"],
        status=row["status"],
        depends_on=[r["code"] for r in deps],
        waits_on_empty=[r["code"] for r in deps if not r["has_tasks"]],
        counts=counts,
        total=sum(counts.values()),
    )


def stuck_streams(streams: list[Stream]) -> list[str]:
    """A sentence per stream that waits on streams with no tasks, which are never done."""
    return [
        f"Stream {s.code} waits on {', '.join(s.waits_on_empty)}, which "
        f"{'has' if len(s.waits_on_empty) == 1 else 'have'} no tasks: add tasks there or drop the dependency."
        for s in streams
        if s.waits_on_empty and s.status != "done"
    ]


def render_sprint(tx: Tx, row: Row) -> Sprint:
    return Sprint(
        code=row["code"],
        title=row["title"],
        goal=row["goal"],
        status=row["status"],
        counts=_counts(tx.all("sprint_counts", {"id": row["id"]})),
    )


def upsert_sprint(tx: Tx, scope: Scope, spec: SprintSpec) -> tuple[Sprint, bool]:
    check_text("goal", spec.goal)
    row = tx.one("sprint_by_code", {"project": scope.project_id, "code": spec.code})
    if row is None:
        check_title("title", spec.title or spec.code)
        tx.scalar(
            "sprint_insert",
            {
                "project": scope.project_id,
                "code": spec.code,
                "title": spec.title or spec.code,
                "goal": spec.goal or "",
                "status": spec.status or "planned",
                "now": scope.now,
            },
        )
        event(tx, scope, EventKind.SPRINT_CREATED, spec.code)
    else:
        tx.run("sprint_update", {"id": row["id"], "title": spec.title, "goal": spec.goal, "status": spec.status})
        event(tx, scope, EventKind.SPRINT_UPDATED, spec.code)
    return render_sprint(tx, tx.one("sprint_by_code", {"project": scope.project_id, "code": spec.code})), row is None


def upsert_streams(tx: Tx, scope: Scope, specs: list[StreamSpec]) -> list[tuple[int, bool]]:
    """Create or update streams and replace their dependencies, checking the whole stream graph."""
    out: list[tuple[int, bool]] = []
    for spec in specs:
        check_title("name", spec.name or spec.code)
        check_text("description", spec.description)
        row = tx.one("stream_by_code", {"project": scope.project_id, "code": spec.code})
        if row is None and spec.depends_on is None:
            spec = spec.model_copy(update={"depends_on": []})
        if row is None:
            sid = tx.scalar(
                "stream_insert",
                {
                    "project": scope.project_id,
                    "code": spec.code,
                    "name": spec.name or spec.code,
                    "description": spec.description or "",
                    "now": scope.now,
                },
            )
            event(tx, scope, EventKind.STREAM_CREATED, spec.code)
            out.append((sid, True))
        else:
            tx.run("stream_update", {"id": row["id"], "name": spec.name, "description": spec.description})
            out.append((row["id"], False))
    # Dependencies after all inserts, so streams in one call may depend on each other in any order.
    for spec, (sid, _) in zip(specs, out, strict=True):
        if spec.depends_on is None:
            continue
        dep_ids = []
        for code in spec.depends_on:
            dep = tx.one("stream_by_code", {"project": scope.project_id, "code": code})
            if dep is None:
                raise NotFound(f"Stream {spec.code} depends on {code}, which does not exist.")
            dep_ids.append(dep["id"])
        tx.run("stream_deps_clear", {"id": sid})
        tx.many("stream_dep_insert", ({"stream_id": sid, "depends_on_id": d} for d in dep_ids))
    if not specs:  # no stream changed, so no cycle is new
        return out
    labels = {r["id"]: r["code"] for r in tx.all("stream_list", {"project": scope.project_id})}
    edges = [(r["stream_id"], r["depends_on_id"]) for r in tx.all("stream_edges", {"project": scope.project_id})]
    graph.check_acyclic(graph.build(labels, edges), "stream", labels)
    waits.check_streams(tx, scope, (sid for spec, (sid, _) in zip(specs, out, strict=True) if spec.depends_on))
    Settle(tx, scope).streams(sid for sid, _ in out).run()
    return out


def upsert_stream(tx: Tx, scope: Scope, spec: StreamSpec) -> Stream:
    [(sid, _)] = upsert_streams(tx, scope, [spec])
    return render_stream(tx, tx.one("stream_by_id", {"id": sid}))


def list_streams(tx: Tx, scope: Scope) -> StreamList:
    return StreamList(streams=[render_stream(tx, r) for r in tx.all("stream_list", {"project": scope.project_id})])


def list_sprints(tx: Tx, scope: Scope) -> SprintList:
    return SprintList(sprints=[render_sprint(tx, r) for r in tx.all("sprint_list", {"project": scope.project_id})])


def stream_view(tx: Tx, scope: Scope, code: str) -> StreamView:
    page = list_tasks(tx, scope, stream=code, limit=MAX_PAGE)  # raises not_found for an unknown code
    row = tx.one("stream_by_code", {"project": scope.project_id, "code": code})
    return StreamView(stream=render_stream(tx, row), tasks=page.tasks)


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a plan is read and goes in.

    Reading a plan makes a model per task and an import makes tens of thousands of objects that outlive it (rows, parameters), and each
    quarter the heap grows by sets off a full collection walking every object in the process,
    the request and the plan's models too: measured, 0.5 s of a 10k-task import's 1.2 s. None of
    it is cyclic garbage, so collection waits until the import ends. Threads share the switch,
    so one that finds it off leaves it alone.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def read_plan(fields: dict[str, Any]) -> Plan:
    """A plan from a caller's JSON fields, validated once, whole: the same model and errors as
    argument validation (`invalid_input` or `too_large`, naming each field), the collector paused."""
    with collector_paused():
        try:
            return Plan.model_validate(fields)
        except ValidationError as exc:
            raise from_validation(exc) from None


@contextmanager
def plan_of(fields: dict[str, Any]) -> Iterator[Plan]:
    """`read_plan` for one import, the collector paused until the plan's tasks are let go.

    The database thread keeps its last job, and with it the plan, until its next one, so the
    collection the pause put off would walk every task's model once more just before they are
    freed (10 ms at 10k tasks, 0.11 s at 100k). Emptying the list frees them first.
    """
    with collector_paused():
        plan = read_plan(fields)
        try:
            yield plan
        finally:
            plan.tasks.clear()


def import_plan(tx: Tx, scope: Scope, plan: Plan) -> ImportResult:
    with collector_paused():
        return _import_plan(tx, scope, plan)


def _import_plan(tx: Tx, scope: Scope, plan: Plan) -> ImportResult:
    check_batch("roles", len(plan.roles))
    check_batch("sprints", len(plan.sprints))
    check_batch("streams", len(plan.streams))
    if len(plan.tasks) > MAX_PLAN_TASKS:
        raise TooLarge(f"The plan has {len(plan.tasks)} tasks; the limit is {MAX_PLAN_TASKS} per import.")
    for role in plan.roles:
        agents.define_role(tx, scope, role)
    for sprint in plan.sprints:
        upsert_sprint(tx, scope, sprint)
    upsert_streams(tx, scope, plan.streams)
    created = create_tasks(tx, scope, plan.tasks, key_from_code=True)
    n_new = sum(created.new)
    # Checked once the plan's tasks are in: a stream gets its tasks after the streams are made.
    rows = [tx.one("stream_by_code", {"project": scope.project_id, "code": spec.code}) for spec in plan.streams]
    return ImportResult(
        warnings=stuck_streams([render_stream(tx, r) for r in rows]),
        roles=len(plan.roles),
        sprints=len(plan.sprints),
        streams=len(plan.streams),
        tasks_created=n_new,
        tasks_existing=len(plan.tasks) - n_new,
        dependencies=created.edges,
        ready=len(created.became_ready),
    )


def project_status(tx: Tx, scope: Scope) -> ProjectStatus:
    counts = _counts(tx.all("task_status_counts", {"project": scope.project_id}))
    project = tx.one("project_by_id", {"project": scope.project_id})
    return ProjectStatus(
        project=scope.project,
        counts=counts,
        total=sum(counts.values()),
        streams=[render_stream(tx, r) for r in tx.all("stream_list", {"project": scope.project_id})],
        ready_by_role={(r["role"] or "(any)"): r["n"] for r in tx.all("task_ready_by_role", {"project": scope.project_id})},
        in_progress=[brief(r) for r in tx.all("task_in_progress", {"project": scope.project_id, "limit": 50})],
        resolver_last_run=iso(project["resolver_run_at"]),
    )
