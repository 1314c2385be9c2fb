"""The completion report's rules on hand-built DAGs and event lists: the critical path as planned
against as it happened, a task's times and holders, and what went wrong with it."""

from __future__ import annotations

import gc

from taskloom.clock import ManualClock
from taskloom.domain.completion import actual_path, duration_text, incidents, planned_path, timing
from taskloom.domain.history import Move, spans

# design -> (api, ui) -> release; docs hangs off design alone; lint stands apart.
DEPS = {"api": ["design"], "ui": ["design"], "release": ["api", "ui"], "docs": ["design"]}
ORDER = ["design", "api", "ui", "docs", "release", "lint"]


def test_the_planned_path_is_the_longest_chain_counted_in_tasks_the_first_of_equal_ones():
    assert planned_path(ORDER, DEPS) == ["design", "api", "release"]
    assert planned_path(["design", "ui", "api", "docs", "release", "lint"], DEPS) == ["design", "ui", "release"]


def test_the_planned_path_follows_estimates_when_tasks_have_them():
    weight = {"design": 1, "api": 1, "ui": 5, "docs": 10, "release": 1, "lint": 1}
    assert planned_path(ORDER, DEPS, weight) == ["design", "docs"]  # 11 beats design, ui, release (7)


def test_the_planned_path_ignores_dependencies_outside_the_scope_and_is_empty_without_tasks():
    assert planned_path(["api", "release"], DEPS) == ["api", "release"]
    assert planned_path([], DEPS) == []


def test_the_actual_path_walks_back_from_the_last_done_through_the_dependency_that_finished_last():
    clock = ManualClock()
    finished = {}
    for task, after in (("design", 60), ("api", 600), ("docs", 30), ("ui", 300), ("lint", 2000)):
        clock.advance(after)
        finished[task] = clock.now()
    # ui was done at 990 s, api at 690 s: ui held the release up.
    clock.advance(100)
    finished["release"] = clock.now()
    done_order = sorted(finished, key=finished.__getitem__)
    assert done_order[-1] == "release" and planned_path(ORDER, DEPS) == ["design", "api", "release"]
    assert actual_path(done_order, DEPS) == ["design", "ui", "release"]
    # Not done yet (lint finished last, alone): the chain is where the finish time came from.
    assert actual_path(["design", "api", "release", "lint"], DEPS) == ["lint"]
    assert actual_path([], DEPS) == []


def test_timing_counts_each_holders_time_in_progress_and_who_finished_it():
    t0 = ManualClock().now()
    moves = [
        Move(t0, "task.created", "carol", {"status": "ready"}),
        Move(t0 + 10, "task.claimed", "alice", {}),
        Move(t0 + 30, "task.retry", "alice", {"reason": "flaky"}),
        Move(t0 + 40, "task.claimed", "dave", {}),
        Move(t0 + 50, "task.blocked", "dave", {"reason": "which key?"}),
        Move(t0 + 80, "task.in_progress", "boss", {}),  # unblocked by boss: still dave's time
        Move(t0 + 95, "task.done", "dave", {}),
    ]
    got = timing(moves, spans(moves, "done"), now=t0 + 500)
    assert (got.first_claimed, got.done_at, got.done_by, got.claims) == (t0 + 10, t0 + 95, "dave", 2)
    assert got.by_holder == {"alice": 20.0, "dave": 25.0} and got.in_progress == 45.0
    still = timing(moves[:4], spans(moves[:4], "in_progress"), now=t0 + 100)
    assert (still.done_at, still.done_by, still.by_holder["dave"]) == (None, None, 60.0)


def test_incidents_are_failed_attempts_and_expiries_with_an_expiry_at_the_last_attempt_once():
    moves = [
        Move(1.0, "task.claimed", "alice", {}),
        Move(2.0, "task.retry", "alice", {"reason": "flaky"}),
        Move(3.0, "task.claimed", "bob", {}),
        Move(9.0, "lease.expired", "taskloom", {"agent": "bob", "status": "failed"}),
        Move(9.0, "task.failed", "taskloom", {"reason": "lease expired at max_attempts"}),
        Move(12.0, "task.failed", "boss", {"reason": "dropped"}),
    ]
    assert [(i.at, i.what, i.agent) for i in incidents(moves)] == [
        (2.0, "retried", "alice"), (9.0, "lease_expired", "bob"), (12.0, "failed", "boss")
    ]
    assert "failed for good" in incidents(moves)[1].reason


def test_durations_read_as_people_write_them():
    assert [duration_text(s) for s in (None, 0, 42, 200, 3900, 2 * 86400 + 3 * 3600)] == [
        "-", "0s", "42s", "3m20s", "1h05m", "2d03h"
    ]


def test_the_planned_path_leaves_no_graph_for_the_cycle_collector():
    # A report over a whole project walks a graph of every task: it must go when the walk ends.
    order = [f"T-{i}" for i in range(200)]
    deps = {order[i]: [order[i - 1]] for i in range(1, 200)}
    planned_path(order, deps)  # the first call may set up networkx's own caches
    gc.collect()
    gc.disable()
    try:
        assert planned_path(order, deps) == order
        assert gc.collect() == 0
    finally:
        gc.enable()
