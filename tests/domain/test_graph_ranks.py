"""`checked_ranks`, the one-pass check and ranking of a batch of new tasks, agrees with networkx:
the same ranks on any acyclic graph, and the same `cycle` error, path included, on any other."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskloom.domain import graph
from taskloom.errors import CycleDetected

EDGES = st.lists(st.tuples(st.integers(0, 14), st.integers(0, 14)), max_size=40)


@settings(max_examples=200, deadline=None)
@given(EDGES, st.booleans())
def test_checked_ranks_agree_with_the_networkx_check_and_ranks(edges, acyclic):
    if acyclic:  # pointing from the later node to the earlier one makes any edge list acyclic
        edges = [(max(a, b), min(a, b)) for a, b in edges if a != b]
    nodes = range(15)
    g = graph.build(nodes, edges)
    label = {n: f"T-{n}" for n in nodes}
    if graph.is_acyclic(g):
        assert graph.checked_ranks(nodes, edges, "task", label) == graph.downstream_ranks(g)
    else:
        with pytest.raises(CycleDetected) as expected:
            graph.check_acyclic(g, "task", label)
        with pytest.raises(CycleDetected) as caught:
            graph.checked_ranks(nodes, edges, "task", label)
        assert caught.value.details == expected.value.details
        assert str(caught.value) == str(expected.value)


def test_a_self_loop_is_a_cycle_for_checked_ranks_too():
    with pytest.raises(CycleDetected, match="A -> A"):
        graph.checked_ranks(["A"], [("A", "A")], "task")


def test_repeated_edges_and_nodes_named_only_by_edges_are_ranked_as_networkx_ranks_them():
    edges = [("B", "A"), ("B", "A"), ("C", "B")]
    assert graph.checked_ranks([], edges, "task") == graph.downstream_ranks(graph.build([], edges)) == {
        "A": 3, "B": 2, "C": 1,
    }
