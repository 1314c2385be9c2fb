"""A plan goes in with a statement per kind of row, not per task (issue 17, goal 4), and the
result is what creating its tasks one call at a time gives: codes, ranks, statuses, parents,
events, and nothing new on a second import."""

from __future__ import annotations

import dataclasses
import gc
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from taskloom.domain.limits import MAX_LABELS, MAX_PAGE, MAX_TEXT, MAX_TITLE
from taskloom.errors import TaskloomError
from taskloom.models import Plan, TaskSpec
from taskloom.services import creation, planning
from taskloom.services.app import Taskloom
from taskloom.services.common import detail
from taskloom.services.tasks import list_tasks
from taskloom.store.sqlite.store import SqliteTx
from tests.conftest import call, call_error


def plan(n: int, prefix: str = "P") -> Plan:
    """`n` tasks in a stream, a third of them subtasks of the task before, each depending on
    tasks before it that are no subtasks, the first on a task that already exists."""
    tasks: list[dict[str, Any]] = []
    for i in range(n):
        spec: dict[str, Any] = {"code": f"{prefix}-{i}", "title": f"step {i}", "stream": "s", "labels": ["x"]}
        subtask = i % 3 == 2  # of the task before it, on which it cannot also depend
        before = (i - 2,) if subtask else (i - 2, i - 1)
        spec["depends_on"] = [f"{prefix}-{j}" for j in before if j >= 0 and j % 3 != 2] or ["OLD"]
        if subtask:
            spec["parent"] = f"{prefix}-{i - 1}"
        tasks.append(spec)
    return Plan.model_validate({"streams": [{"code": "s"}], "tasks": tasks})


async def _with_old_task(app) -> None:
    await app.write(creation.create_tasks, [TaskSpec(code="OLD", title="already there")], agent="boss")


@pytest.mark.sqlite_only  # counts the statements SQLite's Tx runs; the import itself runs on both backends
async def test_the_statements_a_plan_import_runs_do_not_grow_with_the_plan(app, monkeypatch):
    counted: list[str] = []
    for method in ("one", "all", "scalar", "run", "many"):
        real = getattr(SqliteTx, method)

        def spy(self, query, params=None, _real=real):
            counted.append(query)
            return _real(self, query, params)

        monkeypatch.setattr(SqliteTx, method, spy)
    await _with_old_task(app)
    runs = {}
    for n, prefix in ((30, "A"), (300, "B")):
        counted.clear()
        result = await app.write(planning.import_plan, plan(n, prefix), agent="boss")
        assert result.tasks_created == n
        runs[n] = len(counted)
    # Lifting the existing dependency's rank takes a statement more or less: not one per task.
    assert abs(runs[300] - runs[30]) <= 2, runs


async def test_a_batched_import_matches_creating_its_tasks_one_by_one(app, settings, clock):
    # The same plan, one task per call, in a second project of the same database.
    single = await Taskloom.open(dataclasses.replace(settings, project="single"), clock)
    try:
        for target in (app, single):
            await _with_old_task(target)
        await app.write(planning.import_plan, plan(12), agent="boss")
        await single.write(planning.upsert_streams, plan(0).streams, agent="boss")
        for spec in plan(12).tasks:
            await single.write(creation.create_tasks, [spec], agent="boss")
        batched, one_by_one = await app.read(_state), await single.read(_state)
    finally:
        await single.close()
    assert batched == one_by_one


def _state(tx, scope) -> tuple[list[tuple], list[tuple]]:
    codes = [t.code for t in list_tasks(tx, scope, limit=MAX_PAGE).tasks]
    tasks = [detail(tx, scope, code).task for code in codes]
    rows = [(t.code, t.status, t.rank, t.parent, t.depends_on, t.labels, t.stream) for t in tasks]
    events = tx.all("events_since", {"project": scope.project_id, "since": 0, "limit": 1000})
    return rows, sorted((e["kind"], e["subject"] or "") for e in events)


async def test_importing_the_plan_again_changes_nothing(app):
    await _with_old_task(app)
    first = await app.write(planning.import_plan, plan(20), agent="boss")
    before = await app.read(planning.project_status)
    again = await app.write(planning.import_plan, plan(20), agent="boss")
    assert (first.tasks_created, again.tasks_created, again.tasks_existing, again.dependencies) == (20, 0, 20, 0)
    assert await app.read(planning.project_status) == before


async def test_the_collector_is_paused_during_an_import_and_back_on_after_it_even_on_error(app, monkeypatch):
    seen = []
    real = planning.create_tasks

    def watching(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(planning, "create_tasks", watching)
    await app.write(planning.import_plan, Plan(tasks=[TaskSpec(code="A", title="a")]), agent="boss")
    assert seen == [False] and gc.isenabled()
    with pytest.raises(Exception, match="Unknown dependencies"):
        await app.write(planning.import_plan, Plan(tasks=[TaskSpec(code="B", title="b", depends_on=["nope"])]))
    assert gc.isenabled()


async def test_a_plan_read_for_an_import_lets_its_tasks_go_before_the_collector_is_back_on(app):
    with planning.plan_of({"tasks": [{"code": "A", "title": "a"}, {"code": "B", "title": "b"}]}) as read:
        assert not gc.isenabled() and [t.code for t in read.tasks] == ["A", "B"]
        made = await app.write(planning.import_plan, read, agent="boss")
    assert made.tasks_created == 2 and read.tasks == [] and gc.isenabled()
    with pytest.raises(TaskloomError) as err, planning.plan_of({"tasks": [{"title": "no code"}], "roles": 3}):
        pass
    assert err.value.code == "invalid_input" and gc.isenabled()


_TEXT = st.one_of(
    st.text(max_size=5),
    st.sampled_from(["", " ", "\t\n", "é", "\ud800", "x" * MAX_TITLE, "x" * (MAX_TITLE + 1)]),
    st.integers(MAX_TEXT - 2, MAX_TEXT + 2).map(lambda n: "a" * n),
    st.integers(MAX_TEXT // 2 - 2, MAX_TEXT // 2 + 2).map(lambda n: "é" * n),  # two bytes each
)


@st.composite
def _specs(draw: st.DrawFn) -> list[TaskSpec]:
    out = []
    for i in range(draw(st.integers(0, 4))):
        title, description, acceptance, context = (draw(_TEXT) for _ in range(4))
        labels = ["l"] * draw(st.sampled_from([0, MAX_LABELS, MAX_LABELS + 1]))
        deps = ["d"] * draw(st.sampled_from([0, MAX_PAGE, MAX_PAGE + 1]))
        code = draw(st.sampled_from([None, f"C-{i}"]))
        out.append(
            TaskSpec.model_construct(
                title=title, description=description, acceptance=acceptance, context=context,
                labels=labels, depends_on=deps, code=code, key=None,
            )
        )
    return out


@hypothesis_settings(max_examples=300, deadline=None)
@given(_specs(), st.booleans())
def test_the_column_check_passes_a_batch_only_when_every_spec_passes_its_own_checks(specs, key_from_code):
    try:
        for i, spec in enumerate(specs):
            creation._validate(spec, f"tasks[{i}]")
            assert not key_from_code or spec.key or spec.code
        valid = True
    except (TaskloomError, AssertionError):
        valid = False
    if creation._surely_valid(specs, key_from_code):
        assert valid


async def test_plan_import_names_each_invalid_field_as_argument_validation_did(client):
    err = await call_error(
        client, "plan_import",
        streams=[{"code": "bad code"}],
        tasks=[{"code": "A", "title": "a"}, {"code": "B", "title": "", "priority": 9, "extra": 1}],
    )
    assert err["code"] == "invalid_input"
    for where in ("streams.0.code", "tasks.1.title", "tasks.1.priority", "tasks.1.extra"):
        assert where in err["message"]
    err = await call_error(client, "plan_import", tasks="not a list")
    assert err["code"] == "invalid_input" and "tasks: Input should be a valid list" in err["message"]
    err = await call_error(client, "plan_import", tasks=[{"code": "A", "title": "x" * 201}])
    assert err["code"] == "too_large" and "tasks.0.title" in err["message"]
    assert (await call(client, "project_status"))["total"] == 0
