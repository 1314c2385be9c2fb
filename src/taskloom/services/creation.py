"""Creating tasks, one or a whole plan's worth, in one transaction.

References (`depends_on`, `parent`) may name tasks in the same batch, by code or key, or tasks
that already exist. Existing tasks can never depend on new ones, so a dependency cycle can only
form inside the batch, and the batch's own edges are checked before anything is written. Parents
and streams can still close a loop through existing tasks (services/waits.py checks that after
the insert, in the same transaction).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from operator import attrgetter

from taskloom.domain import graph
from taskloom.domain.events import EventKind
from taskloom.domain.limits import (
    MAX_LABELS,
    MAX_PAGE,
    MAX_SUBTASK_DEPTH,
    MAX_TEXT,
    MAX_TITLE,
    check_batch,
    check_text,
    check_title,
)
from taskloom.domain.redact import Masked, redacted_only
from taskloom.domain.statuses import TERMINAL
from taskloom.errors import Conflict, InvalidInput, NotFound, TooLarge
from taskloom.models import TaskCreated, TaskSpec
from taskloom.services import ranks, waits
from taskloom.services.common import Scope, brief_by_id, events, sprint_id, stream_id
from taskloom.services.readiness import Settle
from taskloom.store.base import Row, Tx


@dataclass
class Created:
    ids: list[int] = field(default_factory=list)  # one per spec, in order
    new: list[bool] = field(default_factory=list)
    edges: int = 0
    redacted: int = 0  # secrets masked in the new tasks
    became_ready: list[str] = field(default_factory=list)


def _validate(spec: TaskSpec, where: str) -> None:
    check_title(f"{where}.title", spec.title)
    for name in ("description", "acceptance", "context"):
        check_text(f"{where}.{name}", getattr(spec, name))
    if len(spec.labels) > MAX_LABELS:
        raise TooLarge(f"{where}.labels has {len(spec.labels)} labels; the limit is {MAX_LABELS}.")
    check_batch(f"{where}.depends_on", len(spec.depends_on))


def _surely_valid(specs: list[TaskSpec], key_from_code: bool) -> bool:
    """Whether every spec passes `_validate` (and has a key or code, if it must), judged a column
    at a time without building a field name per check (a plan's 100k tasks). When in doubt, False:
    the batch then goes through `_validate` spec by spec, which names the first problem."""
    titles = list(map(_TITLE, specs))
    if max(map(len, titles), default=0) > MAX_TITLE or not all(map(str.strip, titles)):
        return False
    for name in ("description", "acceptance", "context"):
        column = list(map(attrgetter(name), specs))
        if None in column:
            return False
        if "".join(column).isascii():  # ASCII: a character is a byte, and no surrogate is possible
            sizes = map(len, column)
        else:
            try:
                sizes = map(len, [t.encode("utf-8") for t in column])
            except UnicodeEncodeError:
                return False
        if max(sizes, default=0) > MAX_TEXT:
            return False
    if max(map(len, map(_LABELS, specs)), default=0) > MAX_LABELS:
        return False
    if max(map(len, map(_DEPENDS_ON, specs)), default=0) > MAX_PAGE:
        return False
    return not key_from_code or all(map(any, map(_KEY_OR_CODE, specs)))


# Read a field off every spec of a batch in C (a plan's 100k tasks), not a Python step each.
_TITLE, _LABELS, _DEPENDS_ON = attrgetter("title"), attrgetter("labels"), attrgetter("depends_on")
_KEY_OR_CODE = attrgetter("key", "code")


def create_batch(tx: Tx, scope: Scope, specs: list[TaskSpec]) -> TaskCreated:
    """task_create: the tasks in the order given, new or (by key) existing."""
    made = create_tasks(tx, scope, specs)
    n_new = sum(made.new)
    return TaskCreated(
        tasks=[brief_by_id(tx, i) for i in made.ids],
        created=n_new,
        existing=len(specs) - n_new,
        redacted=made.redacted,
    )


def create_tasks(tx: Tx, scope: Scope, specs: list[TaskSpec], *, key_from_code: bool = False) -> Created:
    """Create `specs`; a spec whose key (or, with `key_from_code`, code) exists returns that task.

    A statement per kind of row, not per task: a 10k-task plan costs a few dozen statements.
    """
    out = Created()
    for i, spec in enumerate([] if _surely_valid(specs, key_from_code) else specs):
        _validate(spec, f"tasks[{i}]")
        if key_from_code and not (spec.key or spec.code):
            raise InvalidInput(
                f"tasks[{i}] ({spec.title!r}) has neither key nor code.",
                hint="Give every plan task a key or a code, so that importing the plan again is idempotent.",
            )
    # A first plan goes into an empty project, where none of its references can exist yet.
    fresh = not tx.scalar("project_has_tasks", {"project": scope.project_id})
    known = _Known({}, {}) if fresh else _Known.of(tx, scope, _refs(specs))
    batch: dict[str, int] = {}  # code or key -> index of a new spec
    existing: dict[int, int] = {}  # index -> id of an already existing task
    for i, spec in enumerate(specs):
        found = None
        if spec.key:
            found = known.by_key.get(spec.key)
        elif key_from_code and spec.code:
            found = known.by_code.get(spec.code)
        if found:
            existing[i] = found["id"]
            continue
        for ref in (spec.code, spec.key):
            if ref is None:
                continue
            if ref in batch:
                raise InvalidInput(f"tasks[{i}] reuses {ref!r}, already used in this batch.")
            batch[ref] = i
    new_idx = [i for i in range(len(specs)) if i not in existing]

    codes = _assign_codes(tx, scope, specs, new_idx, known, fresh)
    for i in new_idx:
        batch.setdefault(codes[i], i)

    # Resolve every reference before writing anything.
    dep_refs: dict[int, list[tuple[str, int | None, int | None]]] = {}
    on_batch: set[int] = set()  # new tasks that depend on a task of this batch
    on_existing: dict[int, None] = {}  # new tasks that depend on a task that already exists, in order
    inner: list[tuple[int, int]] = []  # (new task, new task it depends on): the batch's own graph
    missing: list[str] = []
    for i in new_idx:
        resolved = []
        for ref in specs[i].depends_on:
            if ref in batch:
                j = batch[ref]
                resolved.append((ref, j, None))
                inner.append((i, j))
                on_batch.add(i)
            elif row := known.ref(ref):
                resolved.append((ref, None, row["id"]))
                on_existing[i] = None
            else:
                missing.append(ref)
        dep_refs[i] = resolved
    if missing:
        raise NotFound(
            f"Unknown dependencies: {', '.join(sorted(set(missing)))}.",
            hint="depends_on takes codes or keys of existing tasks or of tasks in the same call.",
        )

    rank = graph.checked_ranks(new_idx, inner, "task", codes)

    streams: dict[str | None, int | None] = {}
    sprints: dict[str | None, int | None] = {}
    parents: dict[int, tuple[int | None, int | None]] = {}  # index -> (parent id, or parent's index in the batch)
    depth: dict[int, int] = {}
    new_specs = [specs[i] for i in new_idx]
    texts = [_redacted(out, list(map(attrgetter(name), new_specs))) for name in _TEXTS]
    project, agent, now = scope.project_id, scope.agent, scope.now
    rows = []
    for i, spec, title, description, acceptance, context in zip(new_idx, new_specs, *texts, strict=True):
        if spec.stream not in streams:
            streams[spec.stream] = stream_id(tx, scope, spec.stream)
        if spec.sprint not in sprints:
            sprints[spec.sprint] = sprint_id(tx, scope, spec.sprint)
        if spec.parent is None:  # most tasks: no call for them
            parent_id = None
            depth[i] = 1
        else:
            parents[i], depth[i] = _parent(spec, i, batch, known, depth)
            parent_id = parents[i][0]
        rows.append(
            {
                "project": project,
                "code": codes[i],
                "key": spec.key,
                "title": title,
                "description": description,
                "acceptance": acceptance,
                "context": context,
                "status": "backlog" if spec.backlog else "waiting",
                "priority": spec.priority,
                "role": spec.role,
                "stream_id": streams[spec.stream],
                "sprint_id": sprints[spec.sprint],
                "parent_id": parent_id,
                "depth": depth[i],
                "requires_review": spec.requires_review,
                "max_attempts": spec.max_attempts,
                "rank": rank[i],
                "agent": agent,
                "now": now,
            }
        )
    last = tx.scalar("task_last_id")
    tx.many("task_insert", rows)
    new_codes = [codes[i] for i in new_idx]
    made = _inserted(tx, scope, last, new_codes)
    ids: dict[int, int] = {**existing, **dict(zip(new_idx, map(made.__getitem__, new_codes), strict=True))}
    tx.many("task_set_parent", ({"id": ids[i], "parent_id": ids[j]} for i, (_, j) in parents.items() if j is not None))
    events(tx, scope, EventKind.TASK_CREATED, new_codes)

    tx.many("task_label_insert", ({"task_id": ids[i], "label": lab} for i in new_idx for lab in specs[i].labels))
    edges = [
        {"task_id": ids[i], "depends_on_id": ids[j] if j is not None else dep_id}
        for i in new_idx
        for _, j, dep_id in dep_refs[i]
    ]
    tx.many("task_dep_insert", edges)
    # The batch's own check above saw its dependencies on each other. Any other cycle uses an
    # edge it did not see, and each of those has a new task at one end, on the cycle: a
    # dependency on an existing task, a parent waiting for its subtask, a stream and its tasks.
    waits.check_tasks(
        tx,
        scope,
        (ids[i] for i in new_idx if specs[i].parent or specs[i].stream or i in on_existing),
    )
    ranks.raise_upstream(tx, {ids[i]: rank[i] for i in on_existing})
    if new_idx:
        tx.run("project_graph_changed", {"project": scope.project_id, "exact": True})

    settle = Settle(tx, scope)
    # A new task that waits on another new task, or has a new subtask, cannot be ready now (a
    # new task is waiting or in backlog, so neither done nor closed): only the others are checked.
    held = on_batch | {j for _, j in parents.values() if j is not None}
    settle.fresh(ids[i] for i in new_idx if not specs[i].backlog and i not in held)
    # A new parent is decided with the new tasks; an existing one may have to wait for its new subtask.
    settle.tasks({pid for pid, _ in parents.values() if pid is not None})
    settle.streams(streams.values())  # each stream a new task is in, once
    out.became_ready = settle.run()
    out.ids = [ids[i] for i in range(len(specs))]
    out.new = [i not in existing for i in range(len(specs))]
    out.edges = len(edges)
    return out


_TEXTS = ("title", "description", "acceptance", "context")


def _redacted(out: Created, column: list[str]) -> list[str]:
    """One text column of the batch with its secrets masked, counted in `out`.

    One pass over the whole column (`redacted_only`: a few scans of one joined string, where a
    `redact` per text cost 4 us each). Every text comes back `Masked`, so the store's guard does
    not scan it again.
    """
    found = redacted_only(column)
    out.redacted += sum(m.count for m in found.values())
    # One Masked per distinct text, not per row: a plan's empty or repeated texts share theirs.
    masked = list(map({text: Masked(text) for text in dict.fromkeys(column)}.__getitem__, column))
    for k, m in found.items():
        masked[k] = m.text
    return masked


def _refs(specs: list[TaskSpec]) -> list[str]:
    """Every code and key the specs give or name: what may already exist."""
    refs = dict.fromkeys(r for s in specs for r in (s.code, s.key, s.parent) if r is not None)
    refs.update(dict.fromkeys(r for s in specs for r in s.depends_on))
    return list(refs)


@dataclass
class _Known:
    """Existing tasks by code and by key, read in one statement."""

    by_code: dict[str, Row]
    by_key: dict[str, Row]

    @classmethod
    def of(cls, tx: Tx, scope: Scope, refs: list[str]) -> _Known:
        rows = tx.all("tasks_by_refs", {"project": scope.project_id, "refs": json.dumps(refs)}) if refs else []
        return cls({r["code"]: r for r in rows}, {r["key"]: r for r in rows if r["key"] is not None})

    def ref(self, ref: str) -> Row | None:
        """As task_ref: the task with this code or, failing that, this key."""
        return self.by_code.get(ref) or self.by_key.get(ref)


def _inserted(tx: Tx, scope: Scope, last: int, codes: list[str]) -> dict[str, int]:
    """The ids of the tasks just inserted with `codes`, by code: the rows after `last`, read by
    primary key (a 100k-code lookup cost 6x as much), or by code if they are not exactly those."""
    after = {r["code"]: r["id"] for r in tx.all("tasks_after", {"project": scope.project_id, "after": last})}
    if len(after) == len(codes) and all(code in after for code in codes):
        return after
    return {code: row["id"] for code, row in _Known.of(tx, scope, codes).by_code.items()}


def _assign_codes(
    tx: Tx, scope: Scope, specs: list[TaskSpec], new_idx: list[int], known: _Known, fresh: bool
) -> dict[int, str]:
    codes: dict[int, str] = {}
    taken: set[str] = set()
    for i in new_idx:
        code = specs[i].code
        if code is None:
            continue
        if code in taken or code in known.by_code:
            raise Conflict(
                f"Task code {code} already exists in project {scope.project}.",
                hint="Pick another code, leave code out to get T-<n>, or pass a key to make creation idempotent.",
            )
        codes[i] = code
        taken.add(code)
    auto = [i for i in new_idx if i not in codes]
    if auto:
        seq = tx.scalar("project_next_seq", {"project": scope.project_id, "count": len(auto)})
        reserved = [f"T-{seq + k}" for k in range(len(auto))]
        clash = {} if fresh else _Known.of(tx, scope, reserved).by_code

        def used(code: str) -> bool:
            if code in taken or code in clash:
                return True
            return code not in reserved and bool(
                tx.scalar("task_code_taken", {"project": scope.project_id, "code": code})
            )

        for i in auto:
            code = f"T-{seq}"
            while used(code):
                seq = tx.scalar("project_next_seq", {"project": scope.project_id, "count": 1})
                code = f"T-{seq}"
            codes[i] = code
            taken.add(code)
            seq += 1
    return codes


def _parent(
    spec: TaskSpec, i: int, batch: dict[str, int], known: _Known, depth: dict[int, int]
) -> tuple[tuple[int | None, int | None], int]:
    """((the parent's id, or its index in the batch), the depth) of the new task `spec`."""
    if spec.parent is None:
        return (None, None), 1
    if spec.parent in batch:
        j = batch[spec.parent]
        if j not in depth:
            raise InvalidInput(
                f"tasks[{i}] names parent {spec.parent}, which comes later in the batch.",
                hint="List parent tasks before their subtasks.",
            )
        parent, code, status, parent_depth = (None, j), spec.parent, "waiting", depth[j]  # new: never closed
    else:
        row = known.ref(spec.parent)
        if row is None:
            raise NotFound(f"Parent task {spec.parent} does not exist.", hint="Check the parent's code.")
        parent, code, status, parent_depth = (row["id"], None), row["code"], row["status"], row["depth"]
    if status in TERMINAL:
        raise Conflict(f"Parent task {code} is {status}; it cannot take new subtasks.")
    if parent_depth + 1 > MAX_SUBTASK_DEPTH:
        raise InvalidInput(
            f"tasks[{i}] would be {parent_depth + 1} levels deep; subtasks nest at most {MAX_SUBTASK_DEPTH} levels.",
            hint="Attach it to a shallower parent.",
        )
    return parent, parent_depth + 1
