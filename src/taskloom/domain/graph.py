"""The dependency graph, with networkx as the engine.

Edges point from a node to what it depends on: `("B", "A")` means B waits for A. A cycle is
reported as the path an agent can read and break, e.g. `Stream-A -> Stream-B -> Stream-A`.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping

import networkx as nx

from taskloom.errors import CycleDetected

Edge = tuple[Hashable, Hashable]


def build(nodes: Iterable[Hashable], edges: Iterable[Edge]) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(edges)
    return graph


def is_acyclic(graph: nx.DiGraph) -> bool:
    # find_cycle alone re-walks upstream from every start node: quadratic on a large DAG.
    return nx.is_directed_acyclic_graph(graph)


def check_acyclic(graph: nx.DiGraph, kind: str, label: Mapping[Hashable, str] | None = None) -> None:
    """Raise `CycleDetected` with the cycle's path if `graph` has one (self-loops included)."""
    if is_acyclic(graph):
        return
    cycle = nx.find_cycle(graph)
    names = [(label or {}).get(u, str(u)) for u, _ in cycle]
    path = " -> ".join([*names, names[0]])
    raise CycleDetected(
        f"This would make a {kind} dependency cycle: {path}.",
        details={"cycle": [*names, names[0]]},
    )


def downstream_ranks(graph: nx.DiGraph) -> dict[Hashable, int]:
    """Length, in tasks, of the longest chain of work that waits on each node (itself included).

    A task with nothing waiting on it has rank 1; claiming higher ranks first shortens the
    critical path.
    """
    rank: dict[Hashable, int] = {}
    # Dependents are predecessors here (edges point at dependencies): visit them first.
    for node in nx.topological_sort(graph):
        rank[node] = 1 + max((rank[p] for p in graph.predecessors(node)), default=0)
    return rank


def depths(graph: nx.DiGraph) -> dict[Hashable, int]:
    """0 for nodes with no dependencies; otherwise 1 + the deepest dependency."""
    depth: dict[Hashable, int] = {}
    for node in reversed(list(nx.topological_sort(graph))):
        depth[node] = 1 + max((depth[s] for s in graph.successors(node)), default=-1)
    return depth


def critical_path(graph: nx.DiGraph) -> list[Hashable]:
    """The longest dependency chain, first dependency first."""
    if graph.number_of_nodes() == 0:
        return []
    # networkx walks edges forward; ours point at dependencies, so reverse for start-to-finish order.
    return list(nx.dag_longest_path(graph.reverse(copy=False)))


def remaining_critical_path(
    graph: nx.DiGraph, closed: Collection[Hashable], order: Iterable[Hashable] | None = None
) -> list[Hashable]:
    """The longest chain of work still to do, first dependency first: `closed` nodes (done,
    cancelled) are left out, so finished work never lengthens it.

    `order` is a topological order of `graph`, dependencies first, for a caller that keeps one:
    sorting is most of the cost, and statuses change far more often than the graph does.
    """
    if order is None:
        order = reversed(list(nx.topological_sort(graph)))
    length: dict[Hashable, int] = {}
    via: dict[Hashable, Hashable | None] = {}
    dependencies = graph.succ  # ours point at dependencies
    for node in order:
        if node in closed:
            continue
        best, prev = 0, None
        for dep in dependencies[node]:
            n = length.get(dep, 0)  # a closed dependency adds nothing
            if n > best:
                best, prev = n, dep
        length[node], via[node] = best + 1, prev
    if not length:
        return []
    node: Hashable | None = max(length, key=length.__getitem__)  # the first of the longest, in order
    path = []
    while node is not None:
        path.append(node)
        node = via[node]
    return path[::-1]


def mermaid(graph: nx.DiGraph, label: Mapping[Hashable, str], status: Mapping[Hashable, str]) -> str:
    """Mermaid `graph TD` text, one class per status so renderers can colour it."""
    ids = {node: f"n{i}" for i, node in enumerate(graph.nodes)}
    lines = ["graph TD"]
    for node, nid in ids.items():
        text = " ".join(label.get(node, str(node)).replace('"', "'").split())
        lines.append(f'  {nid}["{text}"]:::{status.get(node, "unknown")}')
    for node, dep in graph.edges:
        lines.append(f"  {ids[dep]} --> {ids[node]}")
    return "\n".join(lines)


def checked_ranks(
    nodes: Iterable[Hashable], edges: Iterable[Edge], kind: str, label: Mapping[Hashable, str] | None = None
) -> dict[Hashable, int]:
    """`downstream_ranks`, after `check_acyclic`, in one topological pass over plain dicts.

    For a whole plan's new tasks (10k nodes): building and walking a networkx graph twice cost
    more than the rest of the check. Only a graph with a cycle is handed to networkx, to name it.
    """
    edges = list(edges)
    deps: dict[Hashable, list[Hashable]] = {n: [] for n in nodes}
    for node, dep in edges:
        deps.setdefault(node, []).append(dep)
        deps.setdefault(dep, [])
    dependents = dict.fromkeys(deps, 0)  # not yet ranked; a node is final when none is left
    for _, dep in edges:
        dependents[dep] += 1
    rank = dict.fromkeys(deps, 1)
    todo = [n for n, k in dependents.items() if k == 0]
    ranked = 0
    while todo:
        node = todo.pop()
        ranked += 1
        up = rank[node] + 1
        for dep in deps[node]:
            rank[dep] = max(rank[dep], up)
            dependents[dep] -= 1
            if dependents[dep] == 0:
                todo.append(dep)
    if ranked < len(deps):  # what a cycle holds never runs out of unranked dependents
        check_acyclic(build(deps, edges), kind, label)
    return rank
