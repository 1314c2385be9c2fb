"""Ranks in one flat topological pass (`graph.chain_ranks`), and graphs that go when dropped.

The resolver re-ranks a whole project with `chain_ranks`; `downstream_ranks` over a networkx
graph is the reference it must agree with, on every DAG.
"""

from __future__ import annotations

import gc
import weakref

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskloom.domain import graph
from taskloom.errors import Internal


@st.composite
def dags(draw: st.DrawFn) -> tuple[int, list[tuple[int, int]]]:
    """n nodes under shuffled labels (so node order says nothing of the topological order) and
    edges that each point from a later node to an earlier one in a hidden order: a DAG, with
    duplicate edges, isolated nodes and wide fan-in/out left to chance."""
    n = draw(st.integers(min_value=0, max_value=40))
    order = draw(st.permutations(range(n)))
    pairs = st.tuples(st.integers(0, max(n - 1, 0)), st.integers(0, max(n - 1, 0)))
    raw = draw(st.lists(pairs, max_size=3 * n)) if n > 1 else []
    edges = [(order[max(a, b)], order[min(a, b)]) for a, b in raw if a != b]
    return n, edges


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(dag=dags())
def test_the_flat_pass_ranks_every_dag_as_the_networkx_one_does(dag):
    n, edges = dag
    expected = graph.downstream_ranks(graph.build(range(n), edges))
    got = graph.chain_ranks(n, [u for u, _ in edges], [v for _, v in edges])
    assert dict(enumerate(got)) == expected


def test_the_flat_pass_counts_the_longest_chain_waiting_on_each_node():
    # 0 <- 1 <- 2 <- 3, and 4 waits for 0 directly: 0 has a chain of four waiting on it.
    got = graph.chain_ranks(5, [1, 2, 3, 4], [0, 1, 2, 0])
    assert list(got) == [4, 3, 2, 1, 1]


@pytest.mark.parametrize(
    "edges",
    [[(0, 0)], [(0, 1), (1, 0)], [(1, 0), (2, 1), (0, 2), (3, 0)]],
    ids=["self-loop", "two-cycle", "three-cycle-with-a-tail"],
)
def test_the_flat_pass_refuses_a_cycle_instead_of_ranking_part_of_it(edges):
    with pytest.raises(Internal, match="cycle"):
        graph.chain_ranks(4, [u for u, _ in edges], [v for _, v in edges])


@pytest.mark.parametrize(
    "use",
    [
        graph.downstream_ranks,
        graph.depths,
        graph.critical_path,
        graph.is_acyclic,
        lambda g: graph.check_acyclic(g, "task"),
        lambda g: graph.remaining_critical_path(g, closed=()),
        lambda g: graph.mermaid(g, {}, {}),
    ],
    ids=["downstream_ranks", "depths", "critical_path", "is_acyclic", "check_acyclic", "remaining", "mermaid"],
)
def test_a_graph_is_freed_when_dropped_without_waiting_for_the_cycle_collector(use):
    g = graph.build(range(50), [(i + 1, i) for i in range(49)])
    use(g)
    gone = weakref.ref(g)
    gc.disable()  # only reference counting now: a graph caught in a cycle would stay
    try:
        del g
        assert gone() is None
    finally:
        gc.enable()
