"""Critical-path ranks: how much work waits on each task.

Creating tasks keeps ranks exact incrementally (new tasks have nothing waiting on them yet, so
only their dependencies' ranks can grow). Removing dependencies can shrink ranks anywhere
upstream; that marks the graph for the resolver, which recomputes from a snapshot outside any
write transaction and writes back only what changed.
"""

from __future__ import annotations

from taskloom.domain import graph
from taskloom.store.base import Tx


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


def snapshot(tx: Tx, project_id: int) -> tuple[int, dict[int, int], list[tuple[int, int]]]:
    version = tx.one("project_by_id", {"project": project_id})["graph_version"]
    ranks = {r["id"]: r["rank"] for r in tx.all("task_graph_nodes", {"project": project_id, "stream_id": None})}
    edges = [(r["task_id"], r["depends_on_id"]) for r in tx.all("task_edges", {"project": project_id})]
    return version, ranks, edges


def compute_changes(ranks: dict[int, int], edges: list[tuple[int, int]]) -> dict[int, int]:
    fresh = graph.downstream_ranks(graph.build(ranks, edges))
    return {tid: r for tid, r in fresh.items() if ranks.get(tid) != r}


def apply_changes(tx: Tx, project_id: int, version: int, changes: dict[int, int]) -> bool:
    """Write ranks computed from the snapshot at `version`; skipped if the graph moved since."""
    project = tx.one("project_by_id", {"project": project_id})
    if project["graph_version"] != version:
        return False
    tx.many("task_set_rank", ({"id": tid, "rank": r} for tid, r in changes.items()))
    tx.run("project_mark_ranked", {"project": project_id, "version": version})
    return True
