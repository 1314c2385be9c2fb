"""A task's page: what it is, what it knows, what it waits on and unblocks, and a person's actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from taskloom.errors import InvalidInput, NotFound
from taskloom.services import activity, history, impact, messages, tasks, work
from taskloom.services.common import Scope
from taskloom.store.base import Tx
from taskloom.web.app import PREFIX, View, form_of, page, text_field, whole

TEMPLATE = "task.html"
REGIONS = ("live", "head", "body", "relations", "history", "thread", "actions")


def task_data(tx: Tx, scope: Scope, code: str) -> dict[str, Any]:
    """The task page in one snapshot: the task, its history, what it unblocks and its thread."""
    detail = tasks.get(tx, scope, code)
    return {
        "detail": detail,
        "t": detail.task,
        "history": history.status_history(tx, scope, code),
        "impact": impact.dependents(tx, scope, code),
        "thread": messages.thread(tx, scope, code),
        "since": activity.last_event_id(tx, scope),
    }


@page
async def task_page(request: Request, view: View) -> Response:
    data = await view.web.app.read(task_data, request.path_params["code"])
    return await view.web.pages.render(TEMPLATE, view.context(**data))


@page
async def task_region(request: Request, view: View) -> Response:
    name = request.path_params["region"]
    if name not in REGIONS:
        raise NotFound(f"A task page has no region {name!r}.", hint=f"Regions: {', '.join(REGIONS)}.")
    data = await view.web.app.read(task_data, request.path_params["code"])
    return await view.web.pages.block(TEMPLATE, name, view.context(**data))


def _version(form: dict[str, str]) -> int | None:
    return whole(form.get("version"), "version")


def _at(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` refused with a conflict if the task changed since the page was loaded at `version`,
    checked in the same transaction (the tool calls take no version; the page has one)."""

    def checked(tx: Tx, scope: Scope, code: str, version: int | None, *args: Any) -> Any:
        tasks.check_version(tx, scope, code, version)
        return fn(tx, scope, code, *args)

    return checked


async def _act(view: View, form: dict[str, str], action: str, code: str, name: str) -> None:
    app = view.web.app
    version = _version(form)
    if action == "unblock":
        await app.write(_at(work.unblock), code, version, text_field(form, "answer", required=True), agent=name)
    elif action == "review":
        approve = form.get("approve") == "1"
        reason = text_field(form, "reason", required=not approve)
        await app.write(_at(work.review), code, version, approve, reason, agent=name)
    elif action in ("retry", "cancel"):
        # What task_update(status=...) does: a checked move.
        target, reason = ("ready", text_field(form, "reason")) if action == "retry" else (
            "cancelled", text_field(form, "reason", required=True))
        await app.write(tasks.update, code, {"status": target, "reason": reason}, if_version=version, agent=name)
    elif action == "priority":
        priority = whole(form.get("priority"), "priority", low=0, high=4)
        if priority is None:
            raise InvalidInput("Pick a priority from 0 (highest) to 4.", hint="Use the list on the task page.")
        await app.write(tasks.update, code, {"priority": priority}, if_version=version, agent=name)
    else:
        raise NotFound(f"A task has no action {action!r}.", hint="Use the task page's buttons.")


@page
async def task_action(request: Request, view: View) -> Response:
    form = await form_of(request)
    name = view.web.guard.check_action(request, view.person, form.get("csrf") or request.headers.get("x-csrf-token"))
    code = request.path_params["code"]
    await _act(view, form, request.path_params["action"], code, name)
    return RedirectResponse(f"{PREFIX}/task/{code}", status_code=303)


ROUTES = [
    Route("/task/{code}", task_page, methods=["GET"], name="task"),
    Route("/task/{code}/p/{region}", task_region, methods=["GET"]),
    Route("/task/{code}/{action}", task_action, methods=["POST"]),
]
