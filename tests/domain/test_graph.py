"""The dependency graph: cycles printed as a readable path, ranks, depths, critical path, Mermaid.

Edges point from a node to what it depends on: ("B", "A") means B waits for A.
"""

from __future__ import annotations

import pytest

from taskloom.domain import graph
from taskloom.errors import CycleDetected


def chain(*names: str):
    """a <- b <- c ...: each node depends on the one before it."""
    return graph.build(names, [(names[i + 1], names[i]) for i in range(len(names) - 1)])


def diamond():
    # A -> (B, C) -> Z, plus a longer branch: C depends on A; D depends on C; Z on B and D.
    return graph.build("ABCDZ", [("B", "A"), ("C", "A"), ("D", "C"), ("Z", "B"), ("Z", "D")])


def assert_is_cycle_of(g, names: list[str]) -> None:
    assert names[0] == names[-1]
    for u, v in zip(names, names[1:], strict=False):
        assert g.has_edge(u, v), f"{u} -> {v} is not an edge"


def test_an_acyclic_graph_passes_the_cycle_check():
    graph.check_acyclic(diamond(), "task")
    graph.check_acyclic(graph.build([], []), "task")


def test_a_two_node_cycle_is_printed_as_a_path_back_to_its_start():
    g = graph.build(["A", "B"], [("A", "B"), ("B", "A")])
    with pytest.raises(CycleDetected) as caught:
        graph.check_acyclic(g, "stream")
    err = caught.value
    assert err.code == "cycle"
    assert err.message == "This would make a stream dependency cycle: A -> B -> A."
    assert err.details == {"cycle": ["A", "B", "A"]}


def test_a_self_loop_is_a_cycle_printed_as_the_node_pointing_at_itself():
    g = graph.build(["A", "B"], [("B", "A"), ("A", "A")])
    with pytest.raises(CycleDetected) as caught:
        graph.check_acyclic(g, "task")
    assert "A -> A." in caught.value.message
    assert caught.value.details["cycle"] == ["A", "A"]


def test_a_longer_cycle_is_printed_with_every_hop_using_the_labels_given():
    g = graph.build([1, 2, 3, 4], [(1, 2), (2, 3), (3, 4), (4, 2)])
    labels = {1: "T-1", 2: "T-2", 3: "T-3", 4: "T-4"}
    with pytest.raises(CycleDetected) as caught:
        graph.check_acyclic(g, "task", labels)
    path = caught.value.details["cycle"]
    assert sorted(set(path)) == ["T-2", "T-3", "T-4"]
    assert len(path) == 4
    assert_is_cycle_of(graph.build([], [(labels[u], labels[v]) for u, v in g.edges]), path)
    assert " -> ".join(path) in caught.value.message
    assert caught.value.message.startswith("This would make a task dependency cycle: T-")


def test_a_node_without_a_label_is_printed_by_its_own_name():
    g = graph.build([1, 2], [(1, 2), (2, 1)])
    with pytest.raises(CycleDetected) as caught:
        graph.check_acyclic(g, "task", {1: "first"})
    assert caught.value.details["cycle"] == ["first", "2", "first"]


def test_a_task_with_nothing_waiting_on_it_has_rank_one_and_ranks_grow_towards_the_roots():
    assert graph.downstream_ranks(chain("A", "B", "C")) == {"A": 3, "B": 2, "C": 1}


def test_rank_counts_the_longest_chain_waiting_on_a_task_not_the_number_of_dependents():
    ranks = graph.downstream_ranks(diamond())
    # A <- C <- D <- Z is four long; B only has Z after it.
    assert ranks == {"A": 4, "B": 2, "C": 3, "D": 2, "Z": 1}


def test_isolated_tasks_have_rank_one_and_depth_zero():
    g = graph.build(["X", "Y"], [])
    assert graph.downstream_ranks(g) == {"X": 1, "Y": 1}
    assert graph.depths(g) == {"X": 0, "Y": 0}


def test_depth_is_zero_without_dependencies_and_one_more_than_the_deepest_dependency():
    assert graph.depths(chain("A", "B", "C")) == {"A": 0, "B": 1, "C": 2}
    assert graph.depths(diamond()) == {"A": 0, "B": 1, "C": 1, "D": 2, "Z": 3}


def test_the_critical_path_is_the_longest_chain_listed_first_dependency_first():
    assert graph.critical_path(chain("A", "B", "C")) == ["A", "B", "C"]
    assert graph.critical_path(diamond()) == ["A", "C", "D", "Z"]


def test_an_empty_graph_has_an_empty_critical_path():
    assert graph.critical_path(graph.build([], [])) == []


def test_a_single_task_is_its_own_critical_path():
    assert graph.critical_path(graph.build(["solo"], [])) == ["solo"]


def test_the_remaining_critical_path_leaves_finished_work_out():
    # The longest chain overall is A-C-D-Z; with A done, what is left of it is C-D-Z.
    assert graph.remaining_critical_path(diamond(), {"A"}) == ["C", "D", "Z"]
    assert graph.remaining_critical_path(diamond(), set()) == ["A", "C", "D", "Z"]


def test_the_remaining_critical_path_switches_to_the_branch_with_more_left_to_do():
    # A-C-D-Z is longest, but with C and D done the chain left through B (A-B-Z) is the longer one.
    assert graph.remaining_critical_path(diamond(), {"C", "D"}) == ["A", "B", "Z"]


def test_nothing_left_means_an_empty_remaining_critical_path():
    assert graph.remaining_critical_path(diamond(), set("ABCDZ")) == []


def test_mermaid_draws_each_node_with_its_status_class_and_arrows_from_dependency_to_dependent():
    g = graph.build(["A", "B"], [("B", "A")])
    text = graph.mermaid(g, {"A": "T-1: design", "B": "T-2: build"}, {"A": "done", "B": "ready"})
    assert text.splitlines() == [
        "graph TD",
        '  n0["T-1: design"]:::done',
        '  n1["T-2: build"]:::ready',
        "  n0 --> n1",
    ]


def test_mermaid_replaces_double_quotes_and_falls_back_for_missing_labels_and_statuses():
    g = graph.build(["A", "B"], [])
    text = graph.mermaid(g, {"A": 'say "hi"'}, {})
    lines = text.splitlines()
    assert lines[1] == "  n0[\"say 'hi'\"]:::unknown"
    assert lines[2] == '  n1["B"]:::unknown'
    assert '"hi"' not in text


def test_mermaid_has_one_arrow_per_dependency():
    text = graph.mermaid(diamond(), {}, {})
    arrows = [line for line in text.splitlines() if "-->" in line]
    assert len(arrows) == 5
    ids = {name: f"n{i}" for i, name in enumerate("ABCDZ")}
    assert f"  {ids['A']} --> {ids['B']}" in arrows
    assert f"  {ids['D']} --> {ids['Z']}" in arrows
