"""Reading and editing tasks: get, list, update, notes and context."""

from __future__ import annotations

import json
from typing import Any, Literal

from taskloom.domain.events import EventKind
from taskloom.domain.limits import MAX_LABELS, MAX_PAGE, check_batch, check_text, check_title
from taskloom.domain.redact import Redacted, redact
from taskloom.errors import Conflict, InvalidInput, NotFound, TooLarge
from taskloom.models import TaskDetail, TaskPage, TaskStatus, WorkResult
from taskloom.services import waits, work
from taskloom.services.common import (
    Scope,
    brief,
    detail,
    event,
    note,
    sprint_id,
    stream_id,
    task_row,
)
from taskloom.services.readiness import Settle
from taskloom.store.base import Row, Tx


def get(tx: Tx, scope: Scope, code: str) -> TaskDetail:
    return detail(tx, scope, code)


_PAGING = frozenset({"project", "limit", "offset"})


def list_tasks(
    tx: Tx,
    scope: Scope,
    *,
    statuses: list[TaskStatus] | None = None,
    role: str | None = None,
    stream: str | None = None,
    sprint: str | None = None,
    parent: str | None = None,
    label: str | None = None,
    claimed_by: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> TaskPage:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE}.")
    params: dict[str, Any] = {
        "project": scope.project_id,
        "statuses": json.dumps([str(s) for s in statuses]) if statuses else None,
        "role": role,
        "stream_id": stream_id(tx, scope, stream),
        "sprint_id": sprint_id(tx, scope, sprint),
        "parent_id": task_row(tx, scope, parent)["id"] if parent else None,
        "label": label,
        "claimed_by": claimed_by,
        "limit": limit,
        "offset": offset,
    }
    rows = tx.all("task_list", params)
    if rows and len(rows) < limit or not rows and offset == 0:
        total = offset + len(rows)  # the last page: what it holds is the rest of the count
    elif all(params[k] is None for k in params if k not in _PAGING):
        total = tx.scalar("task_count", {"project": scope.project_id})  # no filter to test row by row
    else:
        total = tx.scalar("task_list_count", params)
    nxt = offset + len(rows)
    return TaskPage(tasks=[brief(r) for r in rows], total=total, next_offset=nxt if nxt < total else None)


def check_version(tx: Tx, scope: Scope, code: str, version: int | None) -> None:
    """Conflict unless the task is still at `version`: a page loaded before someone changed it."""
    _check_version(task_row(tx, scope, code), version)


def _check_version(row: Row, if_version: int | None) -> None:
    if if_version is not None and row["version"] != if_version:
        raise Conflict(
            f"Task {row['code']} is at version {row['version']}, not {if_version}: someone changed it.",
            hint="Call task_get to see the current task, then retry with its version.",
            details={"task": row["code"], "version": row["version"]},
        )


def update(
    tx: Tx,
    scope: Scope,
    code: str,
    changes: dict[str, Any],
    *,
    if_version: int | None = None,
) -> TaskDetail:
    """Edit fields. `depends_on` and `labels` replace the current lists; `status` is a checked move."""
    row = task_row(tx, scope, code)
    _check_version(row, if_version)
    if "title" in changes and changes["title"] is not None:
        check_title("title", changes["title"])
    for name in ("description", "acceptance"):
        check_text(name, changes.get(name))
    set_stream = "stream" in changes
    set_sprint = "sprint" in changes
    new_stream = stream_id(tx, scope, changes.get("stream") or None) if set_stream else None
    moved = tx.run(
        "task_update_fields",
        {
            "id": row["id"],
            "version": row["version"],
            "title": changes.get("title") and redact(changes["title"]).text,
            "description": changes.get("description") and redact(changes["description"]).text,
            "acceptance": changes.get("acceptance") and redact(changes["acceptance"]).text,
            "priority": changes.get("priority"),
            "role": changes.get("role"),
            "set_stream": set_stream,
            "stream_id": new_stream,
            "set_sprint": set_sprint,
            "sprint_id": sprint_id(tx, scope, changes.get("sprint") or None) if set_sprint else None,
            "max_attempts": changes.get("max_attempts"),
            "requires_review": changes.get("requires_review"),
        },
    )
    if not moved:
        _check_version(task_row(tx, scope, code), row["version"])
    if changes.get("labels") is not None:
        if len(changes["labels"]) > MAX_LABELS:
            raise TooLarge(f"labels has {len(changes['labels'])} labels; the limit is {MAX_LABELS}.")
        tx.run("task_labels_clear", {"id": row["id"]})
        tx.many("task_label_insert", ({"task_id": row["id"], "label": lab} for lab in changes["labels"]))
    settle = Settle(tx, scope)
    if changes.get("depends_on") is not None:
        _replace_deps(tx, scope, row, changes["depends_on"])
        settle.tasks([row["id"]])
    if set_stream:
        settle.streams([row["stream_id"], new_stream]).tasks([row["id"]])
    if changes.get("depends_on") is not None or set_stream:
        waits.check_tasks(tx, scope, [row["id"]])  # a cycle raises and rolls all of this back
    event(tx, scope, EventKind.TASK_UPDATED, code, fields=sorted(k for k in changes if k != "status"))
    settle.run()
    if changes.get("status") is not None:
        work.move(tx, scope, code, changes["status"], reason=changes.get("reason"))
    return detail(tx, scope, code)


def _replace_deps(tx: Tx, scope: Scope, row: Row, refs: list[str]) -> None:
    check_batch("depends_on", len(refs))
    found = {ref: tx.one("task_ref", {"project": scope.project_id, "ref": ref}) for ref in refs}
    missing = [ref for ref, row in found.items() if row is None]
    if missing:
        raise NotFound(
            f"Unknown dependencies: {', '.join(missing)}.", hint="depends_on takes existing task codes or keys."
        )
    dep_ids = [row["id"] for row in found.values()]
    tx.run("task_deps_clear", {"id": row["id"]})
    tx.many("task_dep_insert", ({"task_id": row["id"], "depends_on_id": d} for d in dep_ids))
    tx.run("project_graph_changed", {"project": scope.project_id, "exact": False})


def add_note(tx: Tx, scope: Scope, code: str, kind: str, body: str) -> WorkResult:
    if not body.strip():
        raise InvalidInput("The note body is empty.", hint="Write what happened, what you decided or what blocks you.")
    check_text("body", body)
    row = task_row(tx, scope, code)
    clean = redact(body)
    note(tx, scope, row["id"], kind, clean.text)
    tx.run("task_touch", {"id": row["id"]})
    event(tx, scope, EventKind.note_added(kind), code)
    return WorkResult(task=brief(tx.one("task_by_id", {"id": row["id"]})), redacted=clean.count, message=_masked(clean))


def set_context(
    tx: Tx, scope: Scope, code: str, text: str, mode: Literal["append", "replace"], if_version: int | None
) -> WorkResult:
    row = task_row(tx, scope, code)
    _check_version(row, if_version)
    clean = redact(text)
    text = clean.text
    if mode == "append":
        joined = f"{row['context'].rstrip()}\n\n{text}" if row["context"].strip() else text
    else:
        joined = text
    check_text("context", joined)
    tx.run("task_context_set", {"id": row["id"], "context": joined, "version": row["version"]})
    event(tx, scope, EventKind.TASK_CONTEXT, code, mode=mode)
    return WorkResult(task=brief(task_row(tx, scope, code)), redacted=clean.count, message=_masked(clean))


def _masked(clean: Redacted) -> str:
    return f"Stored; {clean.count} secret(s) were masked first." if clean.count else "Stored."
