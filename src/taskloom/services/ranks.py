"""Critical-path ranks: how much work waits on each task.

Creating tasks keeps ranks exact incrementally (new tasks have nothing waiting on them yet, so
only their dependencies' ranks can grow). Removing dependencies can shrink ranks anywhere
upstream; that marks the graph for the resolver, which recomputes from a snapshot outside any
write transaction and writes back only what changed.

A snapshot is flat int arrays (ids in order, ranks, edges as positions), streamed from the
store: at 100k tasks it is a few MiB, where lists of rows and a networkx graph held ~100.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from dataclasses import dataclass

from taskloom.domain import graph
from taskloom.store.base import Tx


@dataclass(frozen=True)
class Snapshot:
    version: int  # the project's graph_version when read
    ids: array[int]  # task ids, ascending
    ranks: array[int]  # ranks[i] is the stored rank of ids[i] (graph.INDEX: a rank is at most the task count)
    dependents: array[int]  # edge k: the task at position dependents[k] waits for
    dependencies: array[int]  # ...the task at position dependencies[k]


@dataclass(frozen=True)
class Changes:
    """New ranks, as arrays: a re-rank can move every task's rank."""

    ids: array[int]
    ranks: array[int]


def raise_upstream(tx: Tx, start: dict[int, int]) -> None:
    """Given tasks and their ranks, lift each dependency to at least rank + 1, transitively."""
    stack = list(start.items())
    while stack:
        task_id, rank = stack.pop()
        for dep in tx.all("task_dependency_ids", {"id": task_id}):
            dep_id = dep["depends_on_id"]
            if tx.scalar("task_rank", {"id": dep_id}) < rank + 1:
                tx.run("task_set_rank", {"id": dep_id, "rank": rank + 1})
                stack.append((dep_id, rank + 1))


def snapshot(tx: Tx, project_id: int) -> Snapshot:
    version = tx.one("project_by_id", {"project": project_id})["graph_version"]
    ids, ranks = array("q"), array(graph.INDEX)
    for r in tx.each("task_ranks", {"project": project_id}):
        ids.append(r["id"])
        ranks.append(r["rank"])
    dependents, dependencies = array(graph.INDEX), array(graph.INDEX)
    for r in tx.each("task_edges", {"project": project_id}):
        u, v = _position(ids, r["task_id"]), _position(ids, r["depends_on_id"])
        # Both ends are the project's own tasks (dependencies are made by code within a project);
        # an edge to anything else has no rank here to write, so it is left out.
        if u >= 0 and v >= 0:
            dependents.append(u)
            dependencies.append(v)
    return Snapshot(version, ids, ranks, dependents, dependencies)


def _position(ids: array[int], task_id: int) -> int:
    i = bisect_left(ids, task_id)
    return i if i < len(ids) and ids[i] == task_id else -1


def compute_changes(snap: Snapshot) -> Changes:
    """The tasks whose rank differs from the snapshot's, with their new rank."""
    fresh = graph.chain_ranks(len(snap.ids), snap.dependents, snap.dependencies)
    moved = array(graph.INDEX, (i for i in range(len(fresh)) if snap.ranks[i] != fresh[i]))
    return Changes(array("q", (snap.ids[i] for i in moved)), array(graph.INDEX, (fresh[i] for i in moved)))


def apply_changes(tx: Tx, project_id: int, version: int, changes: Changes) -> bool:
    """Write ranks computed from the snapshot at `version`; skipped if the graph moved since."""
    project = tx.one("project_by_id", {"project": project_id})
    if project["graph_version"] != version:
        return False
    tx.many("task_set_rank", ({"id": tid, "rank": r} for tid, r in zip(changes.ids, changes.ranks, strict=True)))
    tx.run("project_mark_ranked", {"project": project_id, "version": version})
    return True
