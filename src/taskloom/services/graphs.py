"""The task DAG as agents and people read it: depths, ranks, the critical path, Mermaid."""

from __future__ import annotations

from taskloom.domain import graph
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
