"""The task DAG as agents and people read it: depths, ranks, the critical path, Mermaid, and the
picture the dashboard draws."""

from __future__ import annotations

from taskloom.domain import graph
from taskloom.domain.layout import Picture, StreamNode, TaskNode
from taskloom.domain.limits import MAX_PAGE
from taskloom.errors import TooLarge
from taskloom.models import Graph, GraphNode
from taskloom.services.common import Scope, stream_id
from taskloom.store.base import Tx


def graph_get(tx: Tx, scope: Scope, stream: str | None) -> Graph:
    rows = tx.all("task_graph_nodes", {"project": scope.project_id, "stream_id": stream_id(tx, scope, stream)})
    if len(rows) > MAX_PAGE:
        raise TooLarge(
            f"The graph has {len(rows)} tasks; graph_get returns at most {MAX_PAGE}.",
            hint="Pass a stream to see one stream's graph.",
        )
    ids = {r["id"] for r in rows}
    edges = [
        (r["task_id"], r["depends_on_id"])
        for r in tx.all("task_edges", {"project": scope.project_id})
        if r["task_id"] in ids and r["depends_on_id"] in ids
    ]
    g = graph.build(ids, edges)
    depth = graph.depths(g)
    code = {r["id"]: r["code"] for r in rows}
    label = {r["id"]: f"{r['code']}: {r['title'][:40]}" for r in rows}
    return Graph(
        nodes=[
            GraphNode(code=r["code"], title=r["title"], status=r["status"], depth=depth[r["id"]], rank=r["rank"])
            for r in rows
        ],
        edges=[(code[a], code[b]) for a, b in edges],
        critical_path=[code[n] for n in graph.critical_path(g)],
        mermaid=graph.mermaid(g, label, {r["id"]: r["status"] for r in rows}),
    )


def graph_picture(tx: Tx, scope: Scope, stream: str | None) -> Picture:
    """Everything the DAG picture is drawn from, in one read: the tasks in view (one stream's, or
    all), the dependencies among them, and every stream with its declared dependencies and counts.
    No size refusal: `domain.layout` collapses what is too big to draw task by task."""
    project = scope.project_id
    rows = tx.all("task_graph_nodes", {"project": project, "stream_id": stream_id(tx, scope, stream)})
    streams = tx.all("stream_list", {"project": project})
    code = {r["id"]: r["code"] for r in streams}
    deps: dict[int, list[str]] = {}
    for r in tx.all("stream_edges", {"project": project}):
        deps.setdefault(r["stream_id"], []).append(code[r["depends_on_id"]])
    ids = {r["id"]: r["code"] for r in rows}
    # Sorted: task_edges has no order, and its rows come back in another one as statuses change;
    # the layout is keyed by structure, so the same graph must read the same way.
    edges = sorted(
        (r["task_id"], r["depends_on_id"])
        for r in tx.all("task_edges", {"project": project})
        if r["task_id"] in ids and r["depends_on_id"] in ids
    )
    return Picture(
        tasks=tuple(TaskNode(r["code"], r["title"], r["status"], code.get(r["stream_id"])) for r in rows),
        edges=tuple((ids[a], ids[b]) for a, b in edges),
        streams=tuple(
            StreamNode(
                s["code"],
                s["name"],
                s["status"],
                tuple(sorted(deps.get(s["id"], ()))),
                {c["status"]: c["n"] for c in tx.all("stream_counts", {"id": s["id"]})},
            )
            for s in streams
        ),
        graph_version=tx.one("project_by_id", {"project": project})["graph_version"],
        stream=stream,
    )
