"""No deadlocks: the checks that keep the whole waits-for graph acyclic.

Task dependencies are not the only way one task waits for another. A parent finishes with its
last subtask, and a task cannot start until every stream its stream depends on is done. A
subtask that depends on its parent, or a task depending on a task of a stream that depends on
its own stream, is a cycle no dependency list shows, and both sides would wait forever.

Each check runs inside the writing transaction, after the change: one recursive query walks
what the changed tasks wait for, and only if that comes back to them does networkx load the
region to name the cycle (the error rolls the change back).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from taskloom.domain import graph
from taskloom.services.common import Scope
from taskloom.store.base import Tx


def check_tasks(tx: Tx, scope: Scope, task_ids: Iterable[int]) -> None:
    """Raise `cycle` if any of these (new or changed) tasks now waits for itself."""
    anchors = sorted(set(task_ids))
    if not anchors:
        return
    reached = {r["n"] for r in tx.all("waits_closure", {"anchors": json.dumps(anchors)})}
    if reached & set(anchors):
        # An anchor reached from another anchor's waits is not yet a cycle: look at the region.
        _check_region(tx, reached | set(anchors))


def check_streams(tx: Tx, scope: Scope, stream_ids: Iterable[int]) -> None:
    """After streams gained dependencies: no task of theirs may wait, through them, for itself."""
    for sid in sorted(set(stream_ids)):
        check_tasks(tx, scope, (r["id"] for r in tx.all("stream_task_ids", {"stream_id": sid})))


def _check_region(tx: Tx, nodes: set[int]) -> None:
    edges = [(r["src"], r["dst"]) for r in tx.all("waits_edges", {"nodes": json.dumps(sorted(nodes))})]
    region = graph.build(nodes, edges)
    if graph.is_acyclic(region):
        return
    # Names only for the error: fetching them for a whole plan's region costs more than the check.
    labels = {r["n"]: r["label"] for r in tx.all("waits_labels", {"nodes": json.dumps(sorted(region.nodes))})}
    graph.check_acyclic(region, "task", labels)
