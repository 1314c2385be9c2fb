"""Property tests on random DAGs: readiness always matches an independent model, and no edit
can close a dependency cycle.

Each example runs on its own fresh SQLite file. The model here is written from the rules, not
from the code:

- a task is `ready` exactly when it is open (not done, cancelled or failed), every dependency
  is done or cancelled, every dependency stream of its stream is done, and it has no open
  subtask (failed counts as open);
- a stream is done when every stream it depends on is done and it has tasks, all done or
  cancelled (an empty stream has delivered nothing, so it is not done);
- a parent whose subtasks are all done or cancelled, at least one done, is done itself;
- cancelling a task cancels its open subtasks, recursively;
- a failed task put back in play is open again.

Tasks are created over up to three task_create calls, with work going on in between: a later
call may add subtasks to a parent in play, or tasks to a stream that was already done.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from mcp import Client

from taskloom.clock import ManualClock
from taskloom.config import Settings
from taskloom.models import StreamSpec, TaskSpec
from taskloom.server import build_server
from taskloom.services import creation, planning, tasks, work
from taskloom.services.app import Taskloom
from tests.conftest import call, call_error

MAX_DEPTH = 5
CLOSED = frozenset({"done", "cancelled"})

PROPERTY = settings(
    max_examples=50,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@asynccontextmanager
async def fresh_app() -> AsyncIterator[Taskloom]:
    with tempfile.TemporaryDirectory(prefix="taskloom-prop-") as folder:
        app = await Taskloom.open(
            Settings(
                db_path=Path(folder) / "taskloom.db", project="prop", lease_seconds=60.0, default_agent="prop"
            ),
            ManualClock(),
        )
        try:
            yield app
        finally:
            await app.close()


# ---------------------------------------------------------------- random projects


@dataclass(frozen=True)
class Project:
    stream_deps: tuple[frozenset[int], ...]  # per stream: the streams it depends on (lower indexes)
    deps: tuple[frozenset[int], ...]  # per task: the tasks it depends on (lower indexes)
    parent: tuple[int | None, ...]
    stream: tuple[int | None, ...]
    batches: tuple[tuple[int, ...], ...]  # task indexes per task_create call, in order

    @property
    def n(self) -> int:
        return len(self.deps)


def tcode(i: int) -> str:
    return f"t{i}"


def scode(s: int) -> str:
    return f"s{s}"


@st.composite
def projects(
    draw,
    min_tasks: int = 1,
    max_tasks: int = 10,
    max_streams: int = 3,
    parents: bool = True,
    streams: bool = True,
) -> Project:
    n_streams = draw(st.integers(0, max_streams)) if streams else 0
    stream_deps = tuple(
        frozenset(draw(st.sets(st.integers(0, s - 1), max_size=2))) if s else frozenset()
        for s in range(n_streams)
    )
    n = draw(st.integers(min_tasks, max_tasks))
    deps: list[frozenset[int]] = []
    parent: list[int | None] = []
    stream: list[int | None] = []
    depth: list[int] = []
    for i in range(n):
        p = draw(st.none() | st.integers(0, i - 1)) if i and parents else None
        if p is not None and depth[p] >= MAX_DEPTH:
            p = None
        ancestors, up = set(), p
        while up is not None:
            ancestors.add(up)
            up = parent[up]
        # A subtask depending on an ancestor waits for it while it waits for the subtask.
        deps.append(frozenset(draw(st.sets(st.integers(0, i - 1), max_size=3)) - ancestors) if i else frozenset())
        parent.append(p)
        depth.append(1 if p is None else depth[p] + 1)
        stream.append(draw(st.none() | st.integers(0, n_streams - 1)) if n_streams else None)
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=2))) if n > 1 else []
    bounds = [0, *cuts, n]
    batches = tuple(tuple(range(a, b)) for a, b in zip(bounds, bounds[1:], strict=False))
    project = Project(stream_deps, tuple(deps), tuple(parent), tuple(stream), batches)
    assume(nx.is_directed_acyclic_graph(waits_for(project)))  # the server refuses these (services/waits.py)
    return project


def waits_for(p: Project) -> nx.DiGraph:
    """Who waits for whom: dependencies, a parent for its subtasks, a task for the streams its
    stream depends on (stream nodes are ('s', index))."""
    g = nx.DiGraph()
    for i, ds in enumerate(p.deps):
        g.add_node(i)
        g.add_edges_from((i, d) for d in ds)
        if p.parent[i] is not None:
            g.add_edge(p.parent[i], i)
        if p.stream[i] is not None:
            g.add_edge(("s", p.stream[i]), i)
            g.add_edges_from((i, ("s", s)) for s in p.stream_deps[p.stream[i]])
    return g


def task_specs(
    p: Project, indexes: tuple[int, ...], parent: dict[int, int | None] | None = None
) -> list[TaskSpec]:
    parent = parent if parent is not None else dict(enumerate(p.parent))
    return [
        TaskSpec(
            title=f"task {i}",
            code=tcode(i),
            depends_on=[tcode(d) for d in sorted(p.deps[i])],
            parent=None if parent[i] is None else tcode(parent[i]),
            stream=None if p.stream[i] is None else scode(p.stream[i]),
        )
        for i in indexes
    ]


def stream_specs(p: Project) -> list[StreamSpec]:
    return [
        StreamSpec(code=scode(s), depends_on=[scode(d) for d in sorted(deps)])
        for s, deps in enumerate(p.stream_deps)
    ]


# ---------------------------------------------------------------- the model


class Model:
    """What the rules say each created task's status is. `state` is open, failed, done or cancelled."""

    def __init__(self, p: Project) -> None:
        self.p = p
        self.parent: dict[int, int | None] = dict(enumerate(p.parent))
        self.state: dict[int, str] = {}

    def add(self, batch: tuple[int, ...]) -> None:
        for i in batch:
            # A closed parent takes no new subtasks: the test then creates the task without one.
            if self.parent[i] is not None and self.state[self.parent[i]] in CLOSED:
                self.parent[i] = None
            self.state[i] = "open"

    def children(self, i: int) -> list[int]:
        return [c for c in self.state if self.parent[c] == i]

    def closed(self, i: int) -> bool:
        return self.state[i] in CLOSED

    def roll_up(self) -> None:
        """Parents whose subtasks are all closed, at least one done, are done (to a fixpoint)."""
        moved = True
        while moved:
            moved = False
            for i in sorted(self.state):
                kids = self.children(i)
                if (
                    self.state[i] == "open"
                    and kids
                    and all(self.closed(c) for c in kids)
                    and any(self.state[c] == "done" for c in kids)
                ):
                    self.state[i] = "done"
                    moved = True

    def cancel(self, i: int) -> None:
        if self.closed(i):
            return
        self.state[i] = "cancelled"
        for c in self.children(i):
            self.cancel(c)

    def expected(self) -> dict[str, str]:
        p = self.p
        stream_done: dict[int, bool] = {}
        for s, deps in enumerate(p.stream_deps):  # dependencies have lower indexes: already computed
            members = [i for i in self.state if p.stream[i] == s]
            stream_done[s] = (
                all(stream_done[d] for d in deps) and bool(members) and all(self.closed(i) for i in members)
            )
        out: dict[str, str] = {}
        for i in sorted(self.state):
            if self.state[i] != "open":
                out[tcode(i)] = self.state[i]
                continue
            deps_met = all(self.closed(d) for d in p.deps[i])
            no_open_kids = all(self.closed(c) for c in self.children(i))
            s = p.stream[i]
            stream_open = s is None or all(stream_done[d] for d in p.stream_deps[s])
            out[tcode(i)] = "ready" if deps_met and no_open_kids and stream_open else "waiting"
        return out


async def actual_statuses(app: Taskloom) -> dict[str, str]:
    page = await app.read(tasks.list_tasks, limit=200)
    return {t.code: str(t.status) for t in page.tasks}


def ready_of(statuses: dict[str, str]) -> set[str]:
    return {c for c, s in statuses.items() if s == "ready"}


def assert_matches(actual: dict[str, str], expected: dict[str, str], after: str) -> None:
    assert ready_of(actual) == ready_of(expected), (
        f"after {after}: ready is {sorted(ready_of(actual))}, the model says {sorted(ready_of(expected))}; "
        f"statuses {actual}"
    )
    assert actual == expected, f"after {after}"


# ---------------------------------------------------------------- readiness


# Operations are drawn up front as plain numbers and read against the current candidates
# (modulo their count): hypothesis never draws inside the event loop, and shrinks towards the
# first candidate. `pauses` is how many operations run after each task_create call but the last.
OPS = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 255)), min_size=8, max_size=30)
PAUSES = st.lists(st.integers(0, 6), min_size=2, max_size=2)


async def apply_op(app: Taskloom, model: Model, pick_kind: int, pick_task: int) -> str | None:
    """Finish, cancel, fail or retry one task, in the app and in the model; None if nothing can move."""
    expected = model.expected()
    created = sorted(model.state)
    finishable = [i for i in created if model.state[i] == "open"]
    cancellable = [i for i in created if not model.closed(i)]
    failable = [i for i in finishable if expected[tcode(i)] == "ready"]
    retriable = [i for i in created if model.state[i] == "failed"]
    # Finishing is drawn twice as often as cancelling, failing or retrying.
    kinds = (
        ("finish", finishable),
        ("finish", finishable),
        ("cancel", cancellable),
        ("fail", failable),
        ("retry", retriable),
    )
    candidates = [(kind, c) for kind, c in kinds if c]
    if not candidates:
        return None
    kind, targets = candidates[pick_kind % len(candidates)]
    i = targets[pick_task % len(targets)]
    code = tcode(i)
    if kind == "finish":
        if expected[code] == "ready":
            got = await app.write(work.claim, code=code, agent="worker")
            assert got.claimed
            await app.write(work.done, code, "done", agent="worker")
        else:
            await app.write(work.move, code, "done", reason="done by hand")
        model.state[i] = "done"
    elif kind == "cancel":
        await app.write(work.move, code, "cancelled", reason="dropped")
        model.cancel(i)
    elif kind == "fail":
        got = await app.write(work.claim, code=code, agent="worker")
        assert got.claimed
        await app.write(work.fail, code, "gave up", False, agent="worker")
        model.state[i] = "failed"
    else:  # retry: a failed task is put back in play
        await app.write(work.move, code, "ready", reason="try again")
        model.state[i] = "open"
    model.roll_up()
    return f"{kind} {code}"


@settings(PROPERTY, max_examples=200)
@given(p=projects(min_tasks=3, max_tasks=12, max_streams=4), ops=OPS, pauses=PAUSES)
async def test_a_task_is_ready_exactly_when_its_dependencies_stream_and_subtasks_allow(
    p: Project, ops: list[tuple[int, int]], pauses: list[int]
):
    model = Model(p)
    pending = list(ops)
    async with fresh_app() as app:
        if p.stream_deps:
            await app.write(planning.upsert_streams, stream_specs(p))
        for number, batch in enumerate(p.batches):
            model.add(batch)
            await app.write(creation.create_tasks, task_specs(p, batch, model.parent))
            assert_matches(await actual_statuses(app), model.expected(), f"task_create call {number}")
            last = number == len(p.batches) - 1
            for _ in range(len(pending) if last else pauses[number]):
                if not pending:
                    break
                done = await apply_op(app, model, *pending.pop(0))
                if done is None:
                    break
                assert_matches(await actual_statuses(app), model.expected(), done)


# ---------------------------------------------------------------- cycles


def reaches(deps: dict[int, set[int]], start: int) -> set[int]:
    """Everything `start` depends on, transitively (not itself unless on a cycle)."""
    seen: set[int] = set()
    stack = list(deps[start])
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(deps[node])
    return seen


def assert_cycle_path(path: list[str], deps: dict[str, set[str]], new_edge: tuple[str, str]) -> None:
    assert len(path) >= 2 and path[0] == path[-1], path
    hops = list(zip(path, path[1:], strict=False))
    for a, b in hops:
        assert b in deps[a] or (a, b) == new_edge, f"{a} -> {b} is not a dependency; path {path}"
    # The graph was acyclic before, so the printed cycle must go through the new edge.
    assert new_edge in hops, path


# An edit: (from, aim for a cycle, to), read modulo the candidates like OPS above.
EDITS = st.lists(st.tuples(st.integers(0, 255), st.booleans(), st.integers(0, 255)), min_size=1, max_size=4)


def pick_edge(edit: tuple[int, bool, int], deps: dict[int, set[int]]) -> tuple[int, int]:
    """With `aim`, an edge that certainly closes a cycle (a self-loop included); else any edge."""
    pick_from, aim, pick_to = edit
    nodes = sorted(deps)
    x = nodes[pick_from % len(nodes)]
    targets = [j for j in nodes if j == x or x in reaches(deps, j)] if aim else nodes
    return x, targets[pick_to % len(targets)]


async def task_snapshot(app: Taskloom) -> dict[str, tuple]:
    def run(tx, scope):
        page = tasks.list_tasks(tx, scope, limit=200)
        out = {}
        for b in page.tasks:
            t = tasks.get(tx, scope, b.code).task
            out[t.code] = (t.status, t.version, tuple(t.depends_on), t.rank)
        return out

    return await app.read(run)


@PROPERTY
@given(p=projects(max_tasks=8, parents=False, streams=False), edits=EDITS)
async def test_a_task_dependency_that_closes_a_cycle_is_always_refused_and_changes_nothing(
    p: Project, edits: list[tuple[int, bool, int]]
):
    deps = {i: set(p.deps[i]) for i in range(p.n)}
    async with fresh_app() as app, Client(build_server(app), mode="legacy") as client:
        await app.write(creation.create_tasks, task_specs(p, tuple(range(p.n))))
        for edit in edits:
            x, y = pick_edge(edit, deps)
            closes = x == y or x in reaches(deps, y)
            new_deps = [tcode(d) for d in sorted(deps[x] | {y})]
            before = await task_snapshot(app)
            if closes:
                err = await call_error(client, "task_update", task=tcode(x), depends_on=new_deps)
                assert err["code"] == "cycle"
                path = err["details"]["cycle"]
                by_code = {tcode(i): {tcode(d) for d in ds} for i, ds in deps.items()}
                assert_cycle_path(path, by_code, (tcode(x), tcode(y)))
                assert " -> ".join(path) in err["message"]
                assert await task_snapshot(app) == before
            else:
                got = await call(client, "task_update", task=tcode(x), depends_on=new_deps)
                assert got["task"]["depends_on"] == new_deps
                deps[x] |= {y}


async def stream_snapshot(app: Taskloom) -> dict[str, tuple]:
    def run(tx, scope):
        rows = tx.all("stream_list", {"project": scope.project_id})
        return {
            s.code: (str(s.status), tuple(sorted(s.depends_on)), s.total)
            for s in (planning.render_stream(tx, r) for r in rows)
        }

    return await app.read(run)


@PROPERTY
@given(
    n_streams=st.integers(1, 6),
    raw_deps=st.lists(st.sets(st.integers(0, 5), max_size=3), min_size=6, max_size=6),
    with_tasks=st.sets(st.integers(0, 5)),
    edits=EDITS,
)
async def test_a_stream_dependency_that_closes_a_cycle_is_always_refused_and_changes_nothing(
    n_streams: int, raw_deps: list[set[int]], with_tasks: set[int], edits: list[tuple[int, bool, int]]
):
    deps = {s: {d for d in raw_deps[s] if d < s} for s in range(n_streams)}
    async with fresh_app() as app, Client(build_server(app), mode="legacy") as client:
        await app.write(
            planning.upsert_streams,
            [StreamSpec(code=scode(s), depends_on=[scode(d) for d in sorted(ds)]) for s, ds in deps.items()],
        )
        specs = [
            TaskSpec(title=f"work in {s}", code=f"w{s}", stream=scode(s))
            for s in sorted(with_tasks & deps.keys())
        ]
        if specs:
            await app.write(creation.create_tasks, specs)
        for edit in edits:
            x, y = pick_edge(edit, deps)
            closes = x == y or x in reaches(deps, y)
            new_deps = [scode(d) for d in sorted(deps[x] | {y})]
            before = await stream_snapshot(app)
            tasks_before = await task_snapshot(app)
            if closes:
                err = await call_error(client, "stream_create", code=scode(x), depends_on=new_deps)
                assert err["code"] == "cycle"
                path = err["details"]["cycle"]
                by_code = {scode(s): {scode(d) for d in ds} for s, ds in deps.items()}
                assert_cycle_path(path, by_code, (scode(x), scode(y)))
                assert " -> ".join(path) in err["message"]
                assert await stream_snapshot(app) == before
                assert await task_snapshot(app) == tasks_before
            else:
                got = await call(client, "stream_create", code=scode(x), depends_on=new_deps)
                assert got["depends_on"] == new_deps
                deps[x] |= {y}
