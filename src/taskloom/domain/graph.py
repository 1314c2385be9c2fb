"""The dependency graph, with networkx as the engine.

Edges point from a node to what it depends on: `("B", "A")` means B waits for A. A cycle is
reported as the path an agent can read and break, e.g. `Stream-A -> Stream-B -> Stream-A`.
"""

from __future__ import annotations

import functools
from array import array
from collections import Counter
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING

from taskloom.errors import CycleDetected, Internal

# networkx is imported inside the functions that call it: it costs ~150 ms of start-up, and a
# command that prints the status board or makes a token never builds a graph.
if TYPE_CHECKING:
    import networkx as nx

Edge = tuple[Hashable, Hashable]
# Array type code for node positions, counts and ranks in `chain_ranks`: 4 bytes, half of "q";
# a project would need 2**31 tasks to overflow it (and array would raise, not wrap).
INDEX = "i"


@functools.cache  # one class per process, made on first use so importing this module stays cheap
def _graph_type() -> type[nx.DiGraph]:
    import networkx as nx

    class DiGraph(nx.DiGraph):
        """networkx caches its degree and edge views on the graph, and each view points back at the
        graph: a reference cycle, so a graph once sorted outlives its last use until a full collection
        (95 MiB at 100k tasks). Built per use here, the views leave no cycle and the graph goes when
        its caller drops it."""

        edges = out_edges = property(lambda self: nx.reportviews.OutEdgeView(self))
        in_edges = property(lambda self: nx.reportviews.InEdgeView(self))
        degree = property(lambda self: nx.reportviews.DiDegreeView(self))
        in_degree = property(lambda self: nx.reportviews.InDegreeView(self))
        out_degree = property(lambda self: nx.reportviews.OutDegreeView(self))

    return DiGraph


def build(nodes: Iterable[Hashable], edges: Iterable[Edge]) -> nx.DiGraph:
    graph = _graph_type()()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(edges)
    return graph


def is_acyclic(graph: nx.DiGraph) -> bool:
    import networkx as nx

    # find_cycle alone re-walks upstream from every start node: quadratic on a large DAG.
    return nx.is_directed_acyclic_graph(graph)


def check_acyclic(graph: nx.DiGraph, kind: str, label: Mapping[Hashable, str] | None = None) -> None:
    """Raise `CycleDetected` with the cycle's path if `graph` has one (self-loops included)."""
    import networkx as nx

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
    import networkx as nx

    rank: dict[Hashable, int] = {}
    # Dependents are predecessors here (edges point at dependencies): visit them first.
    for node in nx.topological_sort(graph):
        rank[node] = 1 + max((rank[p] for p in graph.predecessors(node)), default=0)
    return rank


def chain_ranks(n: int, dependents: Sequence[int], dependencies: Sequence[int]) -> array[int]:
    """`downstream_ranks` for nodes 0..n-1 given as two parallel edge columns (edge k: node
    `dependents[k]` waits for node `dependencies[k]`), in one topological pass over flat int
    arrays: no graph object, a few bytes per node and edge, for re-ranking a whole project.

    A cycle raises `Internal`: callers pass graphs whose cycles were refused when the edges were
    made, so one here is a bug, not bad input.
    """
    # Each node's dependencies, contiguous: deps[start[u]:start[u + 1]].
    start = array(INDEX, [0]) * (n + 1)
    for u in dependents:
        start[u + 1] += 1
    for u in range(n):
        start[u + 1] += start[u]
    deps = array(INDEX, [0]) * len(dependencies)
    fill = start[:-1]
    for u, v in zip(dependents, dependencies, strict=True):
        deps[fill[u]] = v
        fill[u] += 1
    del fill
    # Kahn's pass from the nodes nothing waits on: a node is ranked once all its dependents are.
    unranked = array(INDEX, [0]) * n
    for v in dependencies:
        unranked[v] += 1
    rank = array(INDEX, [1]) * n
    ready = array(INDEX, (u for u in range(n) if not unranked[u]))
    done = 0
    while ready:
        u = ready.pop()
        done += 1
        above = rank[u] + 1
        for k in range(start[u], start[u + 1]):
            v = deps[k]
            rank[v] = max(rank[v], above)
            unranked[v] -= 1
            if not unranked[v]:
                ready.append(v)
    if done != n:
        raise Internal(f"The dependency graph has a cycle through {n - done} tasks; ranks were left as they were.")
    return rank


def depths(graph: nx.DiGraph) -> dict[Hashable, int]:
    """0 for nodes with no dependencies; otherwise 1 + the deepest dependency."""
    import networkx as nx

    depth: dict[Hashable, int] = {}
    for node in reversed(list(nx.topological_sort(graph))):
        depth[node] = 1 + max((depth[s] for s in graph.successors(node)), default=-1)
    return depth


def critical_path(graph: nx.DiGraph) -> list[Hashable]:
    """The longest dependency chain, first dependency first."""
    import networkx as nx

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
        import networkx as nx

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
        if node in deps:
            deps[node].append(dep)
        else:
            deps[node] = [dep]
        if dep not in deps:
            deps[dep] = []
    dependents = dict.fromkeys(deps, 0)  # not yet ranked; a node is final when none is left
    dependents.update(Counter(map(itemgetter(1), edges)))
    rank = dict.fromkeys(deps, 1)
    todo = [n for n, k in dependents.items() if k == 0]
    ranked = 0
    while todo:
        node = todo.pop()
        ranked += 1
        up = rank[node] + 1
        for dep in deps[node]:
            rank[dep] = max(rank[dep], up)
            left = dependents[dep] - 1
            dependents[dep] = left
            if not left:
                todo.append(dep)
    if ranked < len(deps):  # what a cycle holds never runs out of unranked dependents
        check_acyclic(build(deps, edges), kind, label)
    return rank
