"""Graphs that go when dropped."""

from __future__ import annotations

import gc
import weakref

import pytest

from taskloom.domain import graph


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
