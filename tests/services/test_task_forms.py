"""A task read or claimed keeps the JSON form it was validated from (models.forms), and the server
sends that form as the answer: it must be exactly the model's dump, and it must not go stale."""

from __future__ import annotations

import copy
import enum
import json
import types
from typing import Any, Literal, Union, get_args, get_origin

import pydantic
import pytest
from pydantic import BaseModel

from taskloom.models import ClaimResult, TaskDetail
from taskloom.models.forms import Formed, Part
from taskloom.services import tasks, work
from tests.conftest import call

pytestmark = pytest.mark.anyio


def as_json(value: Any) -> str:
    # Text, so that key order, 1 against 1.0 and True against 1 all count.
    return json.dumps(value)


def form_and_dump(model: Formed) -> tuple[str, str]:
    dump = model.model_dump(mode="json", by_alias=True)
    form = model.take_form()
    assert form is not None, type(model).__name__
    return as_json(form), as_json(dump)


async def busy_project(client: Any) -> None:
    """Tasks with every part of a detail filled somewhere: labels, keys, parents, subtasks,
    dependencies done, failed and pending, notes, escalations, artifacts, reasons and nulls."""
    await call(client, "agent_init", agent="ann", role="backend")
    await call(client, "stream_create", code="API", name="The API")
    await call(client, "plan_import", tasks=[
        {"code": "T-1", "title": "Schema", "labels": ["db", "api"], "key": "k1", "context": "## ctx", "stream": "API"},
        {"code": "T-2", "title": "Endpoints", "depends_on": ["T-1"], "acceptance": "tests pass", "priority": 0},
        {"code": "T-5", "title": "Flaky", "max_attempts": 1},
        {"code": "T-4", "title": "Both", "depends_on": ["T-1", "T-5"], "description": "needs both"},
        {"code": "T-3", "title": "Sub", "parent": "T-4", "requires_review": True},
    ])
    await call(client, "task_claim", task="T-1", agent="ann")
    await call(client, "task_note", task="T-1", body="Chose SQLite", kind="decision", agent="ann")
    up = (await call(client, "artifacts_upload", name="s.sql", content="x", links=["task:T-1"], agent="ann"))
    await call(client, "task_done", task="T-1", summary="Schema in src/db", artifacts=[up["artifact"]["uri"]], agent="ann")
    await call(client, "task_claim", task="T-5", agent="ann")
    await call(client, "task_fail", task="T-5", reason="flaky", agent="ann")
    await call(client, "task_claim", task="T-2", agent="ann")
    await call(client, "task_block", task="T-2", reason="Which auth?", agent="ann")
    await call(client, "task_unblock", task="T-2", answer="Tokens", agent="ann")


async def test_a_read_tasks_form_is_its_dump_as_json_text(app, client):
    await busy_project(client)
    seen = set()
    for code in ("T-1", "T-2", "T-3", "T-4", "T-5"):
        got = await app.read(tasks.get, code)
        assert type(got) is TaskDetail
        form, dump = form_and_dump(got)
        assert form == dump, code
        seen |= {part for part in ("notes", "dependencies", "escalations", "artifacts") if getattr(got, part)}
    assert seen == {"notes", "dependencies", "escalations", "artifacts"}  # the project filled each part


async def test_a_claims_form_is_its_dump_as_json_text_on_each_way_to_claim(app, client):
    await busy_project(client)
    claims = [
        await app.write(work.claim, agent="bob"),  # the next ready task
        await app.write(work.claim, code="T-2", agent="ann"),  # a task named, already held: renewed
    ]
    await call(client, "task_release", task="T-2", agent="ann")
    claims.append(await app.write(work.claim, code="T-2", agent="ann"))  # a task named, ready
    for got in claims:
        assert type(got) is ClaimResult and got.claimed
        form, dump = form_and_dump(got)
        assert form == dump, got.message


async def test_a_form_is_handed_over_once_and_a_copy_keeps_none(app, client):
    await busy_project(client)
    got = await app.read(tasks.get, "T-1")
    assert copy.copy(got).take_form() is None
    assert copy.deepcopy(got).take_form() is None
    assert got.model_copy().take_form() is None
    assert got.model_copy(update={"notes": ()}).take_form() is None
    assert got.take_form() is not None
    assert got.take_form() is None  # taken: a second answer dumps the model


async def test_a_read_task_cannot_be_changed_after_it_is_built(app, client):
    await busy_project(client)
    got = await app.read(tasks.get, "T-1")
    with pytest.raises(pydantic.ValidationError):
        got.task.status = "done"
    with pytest.raises(pydantic.ValidationError):
        got.notes = ()
    with pytest.raises(AttributeError):
        got.task.labels.append("x")  # a tuple


def test_a_formed_answer_holds_nothing_that_could_change_under_its_form():
    """Every model in a formed answer is frozen and every sequence in it a tuple, so nothing can
    make a kept form differ from the dump (the form would be sent stale)."""

    def changeable(annotation: Any, path: str) -> list[str]:
        origin = get_origin(annotation)
        if origin is Literal:
            return []
        if origin in (Union, types.UnionType):
            return [bad for arg in get_args(annotation) for bad in changeable(arg, path)]
        if origin is tuple:
            return [bad for arg in get_args(annotation) if arg is not Ellipsis for bad in changeable(arg, path)]
        if origin is not None:  # list, dict, set...
            return [f"{path}: {annotation}"]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if not issubclass(annotation, Part) or not annotation.model_config.get("frozen"):
                return [f"{path}: {annotation.__name__} is not frozen"]
            return [bad for name, field in annotation.model_fields.items()
                    for bad in changeable(field.annotation, f"{path}.{name}")]
        if annotation in (str, int, float, bool, type(None)) or (isinstance(annotation, type) and issubclass(annotation, enum.Enum)):
            return []
        return [f"{path}: {annotation}"]

    formed = [TaskDetail, ClaimResult]
    assert {m for m in formed if issubclass(m, Formed)} == set(formed)
    assert [bad for model in formed for bad in changeable(model, model.__name__)] == []
