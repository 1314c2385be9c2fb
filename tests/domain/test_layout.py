"""The DAG picture's layout, on random DAGs (hypothesis) and on the cases that matter by name:
layers follow the edges, boxes in a layer never overlap, the same picture always lays out the
same way, the collapse never fails (cyclic stream graphs included), and the critical path of
remaining work leaves finished work out.

Edges in a Picture point from a task to its dependency; arrows from the dependency's box to the
dependent's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from functools import cache
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskloom.domain.layout import (
    AGGREGATED_ARROWS,
    TASK_PICTURE_LIMIT,
    Layout,
    LayoutCache,
    Picture,
    StreamNode,
    TaskNode,
    layout,
)
from taskloom.domain.statuses import TaskStatus

STATUSES = [s.value for s in TaskStatus]
CLOSED = {"done", "cancelled"}

PROPERTY = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def pictures(draw, max_tasks: int = 40) -> Picture:
    """A random DAG: tasks in a shuffled order, each depending on up to 3 earlier ones, spread over
    up to 4 streams (and none) whose declared dependencies form a DAG of their own; task edges
    across streams go both ways, so the aggregated stream graph is often cyclic."""
    n = draw(st.integers(0, max_tasks))
    k = draw(st.integers(0, 4))
    codes = [f"s{i}" for i in range(k)]
    streams = tuple(
        StreamNode(
            code,
            f"stream {code}",
            draw(st.sampled_from(["waiting", "ready", "active", "done"])),
            tuple(sorted(draw(st.sets(st.sampled_from(codes[:i]), max_size=2))) if i else ()),
        )
        for i, code in enumerate(codes)
    )
    order = draw(st.permutations(range(n)))
    tasks = tuple(
        TaskNode(
            f"T-{i}", f"task {i}", draw(st.sampled_from(STATUSES)), draw(st.sampled_from([None, *codes]))
        )
        for i in order
    )
    edges = tuple(
        (f"T-{i}", f"T-{j}")
        for i in range(1, n)
        for j in sorted(draw(st.sets(st.integers(0, i - 1), max_size=3)))
    )
    return Picture(tasks=tasks, edges=edges, streams=streams, graph_version=draw(st.integers(0, 5)))


def box_of(drawn: Layout, picture: Picture) -> dict[str, int]:
    """Which box shows each task, worked out from the boxes alone (not the layout's own map)."""
    if drawn.mode == "tasks":
        return {b.code: i for i, b in enumerate(drawn.boxes)}
    if drawn.mode == "streams":
        index = {b.code: i for i, b in enumerate(drawn.boxes)}
        return {t.code: index[t.stream] for t in picture.tasks}
    depth = depths(picture)
    spans = [tuple(int(x) for x in b.label.split()[-1].split("-")) for b in drawn.boxes]
    return {c: next(i for i, s in enumerate(spans) if s[0] <= d <= s[-1]) for c, d in depth.items()}


def depths(picture: Picture) -> dict[str, int]:
    deps = defaultdict(list)
    for task, dep in picture.edges:
        deps[task].append(dep)

    @cache
    def depth(code: str) -> int:
        return 1 + max((depth(d) for d in deps[code]), default=-1)

    return {t.code: depth(t.code) for t in picture.tasks}


def longest_open_chain(picture: Picture) -> int:
    """The model for the critical path's length: the longest chain of open tasks, by hand."""
    status = {t.code: t.status for t in picture.tasks}
    deps = defaultdict(list)
    for task, dep in picture.edges:
        if status[task] not in CLOSED and status[dep] not in CLOSED:
            deps[task].append(dep)

    @cache
    def chain(code: str) -> int:
        return 1 + max((chain(d) for d in deps[code]), default=0)

    return max((chain(c) for c, s in status.items() if s not in CLOSED), default=0)


def assert_no_overlap(drawn: Layout) -> None:
    rows = defaultdict(list)
    for b in drawn.boxes:
        rows[b.layer].append(b)
        assert 0 <= b.x and b.x + b.w <= drawn.width and 0 <= b.y and b.y + b.h <= drawn.height
    tops = {}
    for layer, row in rows.items():
        assert len({b.y for b in row}) == 1, f"layer {layer} is not one row"
        tops[layer] = row[0].y
        row.sort(key=lambda b: b.x)
        for left, right in pairwise(row):
            assert left.x + left.w < right.x, f"{left.label} and {right.label} overlap"
    ordered = [tops[layer] for layer in sorted(tops)]
    assert ordered == sorted(set(ordered)), "layers are not drawn top to bottom"


# --------------------------------------------------------------------------- properties


@PROPERTY
@given(pictures())
def test_every_edge_runs_from_a_lower_layer_to_a_higher_one(picture):
    drawn = layout(picture)
    assert drawn.mode == "tasks" and len(drawn.boxes) == len(picture.tasks)
    where = box_of(drawn, picture)
    for task, dep in picture.edges:
        assert drawn.boxes[where[dep]].layer < drawn.boxes[where[task]].layer, (task, dep)
    for a in drawn.arrows:
        assert drawn.boxes[a.src].layer < drawn.boxes[a.dst].layer
    assert len(drawn.arrows) == len(set(picture.edges))


@PROPERTY
@given(pictures(), st.integers(1, 41))
def test_no_two_boxes_in_a_layer_overlap_in_any_mode(picture, limit):
    assert_no_overlap(layout(picture, limit=limit))


@PROPERTY
@given(pictures(), st.integers(1, 41))
def test_the_same_picture_always_lays_out_the_same_way(picture, limit):
    once = layout(picture, limit=limit)
    rebuilt = Picture(
        tasks=tuple(TaskNode(t.code, t.title, t.status, t.stream) for t in picture.tasks),
        edges=tuple(e for e in picture.edges),  # a new tuple, equal but not the same object
        streams=picture.streams,
        graph_version=picture.graph_version,
    )
    assert layout(rebuilt, limit=limit) == once
    assert LayoutCache().layout(picture, limit=limit) == once


@PROPERTY
@given(pictures(), st.integers(1, 40))
def test_the_collapse_never_fails_and_counts_every_task_and_every_crossing_edge_once(picture, limit):
    drawn = layout(picture, limit=limit)
    if len(picture.tasks) <= limit:
        assert drawn.mode == "tasks"
        return
    assert drawn.mode in ("streams", "layers")
    assert len(drawn.boxes) <= max(limit, len(picture.streams) + 1)
    assert sum(n for b in drawn.boxes for _, n in b.counts) == len(picture.tasks)
    where = box_of(drawn, picture)
    for i, b in enumerate(drawn.boxes):
        mine = [t.status for t in picture.tasks if where[t.code] == i]
        assert dict(b.counts) == {s: mine.count(s) for s in set(mine)}
        assert b.progress == (sum(s in CLOSED for s in mine) / len(mine) if mine else 0.0)
    crossing = sum(where[task] != where[dep] for task, dep in picture.edges)
    assert sum(a.count for a in drawn.arrows) + drawn.hidden == crossing
    for a in drawn.arrows:
        assert drawn.boxes[a.src].layer <= drawn.boxes[a.dst].layer
        if drawn.mode == "layers":
            assert drawn.boxes[a.src].layer < drawn.boxes[a.dst].layer


@PROPERTY
@given(pictures())
def test_the_critical_path_of_remaining_work_is_the_longest_open_chain(picture):
    drawn = layout(picture)
    status = {t.code: t.status for t in picture.tasks}
    path = drawn.critical_path
    assert not any(status[c] in CLOSED for c in path), "finished work on the remaining path"
    edges = set(picture.edges)
    assert all((later, first) in edges for first, later in pairwise(path)), "not a chain of dependencies"
    assert len(path) == longest_open_chain(picture)
    assert {b.code for b in drawn.boxes if b.cp} == set(path)
    marked = {(drawn.boxes[a.src].code, drawn.boxes[a.dst].code) for a in drawn.arrows if a.cp}
    assert marked == set(pairwise(path))


# --------------------------------------------------------------------------- by name


def chain_in(stream: str, n: int, prefix: str = "C-") -> list[TaskNode]:
    return [TaskNode(f"{prefix}{i}", f"step {i}", "waiting", stream) for i in range(n)]


def test_streams_whose_task_edges_make_a_cycle_share_a_layer_and_still_draw():
    # a (s0) <- b (s1) <- c (s0): s1 waits on s0 and s0 on s1, though neither declares it.
    picture = Picture(
        tasks=(
            TaskNode("a", "a", "done", "s0"),
            TaskNode("b", "b", "ready", "s1"),
            TaskNode("c", "c", "waiting", "s0"),
            TaskNode("d", "d", "waiting", "s2"),
        ),
        edges=(("b", "a"), ("c", "b"), ("d", "c")),
        streams=(
            StreamNode("s0", "zero", "active", ()),
            StreamNode("s1", "one", "active", ()),
            StreamNode("s2", "two", "waiting", ("s0",)),
        ),
        graph_version=1,
    )
    drawn = layout(picture, limit=2)
    assert drawn.mode == "streams"
    layer = {b.code: b.layer for b in drawn.boxes}
    assert layer["s0"] == layer["s1"] < layer["s2"]
    assert {(drawn.boxes[a.src].code, drawn.boxes[a.dst].code, a.kind, a.count) for a in drawn.arrows} == {
        ("s0", "s1", "aggregated", 1),
        ("s1", "s0", "aggregated", 1),
        ("s0", "s2", "declared", 1),
    }
    # The remaining path b -> c -> d runs s1 -> s0 -> s2: all three streams are marked.
    assert drawn.critical_path == ("b", "c", "d")
    assert all(b.cp for b in drawn.boxes)


def test_a_project_over_the_limit_collapses_to_one_node_per_stream_with_tasks_without_one_last():
    tasks = [*chain_in("api", 200, "A-"), *chain_in("web", 150, "W-"), *chain_in(None, 5, "L-")]
    picture = Picture(
        tasks=tuple(tasks),
        edges=(("W-0", "A-199"),),
        graph_version=1,
        streams=(StreamNode("api", "API", "active", ()), StreamNode("web", "Web", "waiting", ("api",))),
    )
    drawn = layout(picture)
    assert drawn.mode == "streams"
    assert [(b.code, b.label, b.detail, b.status) for b in drawn.boxes] == [
        ("api", "api", "200 tasks, 0 done", "active"),
        ("web", "web", "150 tasks, 0 done", "waiting"),
        (None, "(no stream)", "5 tasks, 0 done", "waiting"),
    ]
    assert "api: API" in drawn.boxes[0].title


def test_a_limit_of_zero_draws_the_stream_graph_of_even_a_small_project():
    picture = Picture(
        tasks=(TaskNode("A-1", "a", "ready", "api"), TaskNode("W-1", "w", "waiting", "web")),
        edges=(("W-1", "A-1"),),
        streams=(StreamNode("api", "API", "ready", ()), StreamNode("web", "Web", "waiting", ("api",))),
        graph_version=1,
    )
    drawn = layout(picture, limit=0)
    assert drawn.mode == "streams"
    assert [(a.kind, a.count) for a in drawn.arrows] == [("declared", 1)]


def test_one_stream_over_the_limit_collapses_by_layer():
    tasks = [TaskNode(f"T-{i}", "t", "done" if i < 340 else "ready", "big") for i in range(400)]
    # 340 tasks at depth 0; 60 more at depth 1, each waiting on one of them.
    edges = tuple((f"T-{340 + i}", f"T-{i}") for i in range(60))
    picture = Picture(tuple(tasks), edges, (StreamNode("big", "Big", "active", ()),), 1, stream="big")
    drawn = layout(picture)
    assert drawn.mode == "layers"
    assert [(b.label, b.detail) for b in drawn.boxes] == [
        ("depth 0", "340 tasks, 340 done"),
        ("depth 1", "60 tasks, 0 done"),
    ]
    assert [(a.src, a.dst, a.count) for a in drawn.arrows] == [(0, 1, 60)]


def test_a_chain_longer_than_the_limit_is_drawn_in_bands_of_depths():
    picture = Picture(
        tasks=tuple(chain_in("s", 650)),
        edges=tuple((f"C-{i + 1}", f"C-{i}") for i in range(649)),
        streams=(),
        graph_version=1,
    )
    drawn = layout(picture)
    assert len(drawn.boxes) <= TASK_PICTURE_LIMIT
    assert [b.label for b in drawn.boxes[:2]] == ["depths 0-2", "depths 3-5"]
    assert drawn.boxes[-1].label == "depths 648-649"


def test_a_cyclic_task_graph_still_draws_without_a_critical_path():
    # The store never lets one in; a picture of a damaged database must still draw, not fail.
    picture = Picture(
        tasks=(
            TaskNode("a", "a", "ready", "s"),
            TaskNode("b", "b", "ready", "s"),
            TaskNode("c", "c", "ready", "s"),
        ),
        edges=(("a", "b"), ("b", "a"), ("c", "a")),
        streams=(),
        graph_version=1,
    )
    for limit in (300, 1):
        drawn = layout(picture, limit=limit)
        assert drawn.critical_path == () and not any(b.cp for b in drawn.boxes)
        assert_no_overlap(drawn)
    assert [b.layer for b in layout(picture).boxes] == [0, 0, 1]


def test_an_empty_picture_lays_out_as_an_empty_frame():
    drawn = layout(Picture((), (), (), 0))
    assert drawn.boxes == () and drawn.arrows == () and drawn.critical_path == ()
    assert drawn.width > 0 and drawn.height > 0


def test_only_the_heaviest_aggregated_arrows_are_drawn_but_the_critical_path_always_is():
    # 16 streams of 4 tasks; task j of every stream waits on task j-1 of every other stream, so
    # each of the 240 stream pairs carries 3 task edges; tasks in s0 and s1 wait twice over (6).
    streams = tuple(StreamNode(f"s{i}", "n", "active", ()) for i in range(16))
    tasks = tuple(TaskNode(f"T{i}.{j}", "t", "waiting", f"s{i}") for i in range(16) for j in range(4))
    edges = [
        (f"T{i}.{j}", f"T{o}.{j - 1}") for i in range(16) for o in range(16) if o != i for j in range(1, 4)
    ]
    edges += [
        (f"T{i}.{j}", f"T{o}.{j - 1}") for i in (0, 1) for o in range(16) if o != i for j in range(1, 4)
    ]
    drawn = layout(Picture(tasks, tuple(edges), streams, 1), limit=10)
    assert drawn.mode == "streams"
    path_hops = {(drawn.boxes[a.src].code, drawn.boxes[a.dst].code) for a in drawn.arrows if a.cp}
    assert len(path_hops) == 3  # a chain of 4 open tasks, each in another stream than the last
    heavy = [a for a in drawn.arrows if not a.cp]
    assert len(heavy) == AGGREGATED_ARROWS
    # The 30 pairs into s0 and s1 carry 6 each: every one is drawn, the rest are pairs of 3.
    assert sum(a.count == 6 for a in drawn.arrows) == 30, "a lighter arrow was drawn before a heavier one"
    assert sum(a.count for a in drawn.arrows) + drawn.hidden == len(edges)


def test_the_cache_keeps_the_last_few_structures_and_forgets_the_oldest():
    cache = LayoutCache(size=2)
    a, b, c = (Picture((TaskNode("T-1", "t", "ready", None),), (), (), v) for v in (1, 2, 3))
    for p in (a, b, a, c, a, b):
        cache.layout(p)
    # a, b: misses; a: hit; c: miss (b is oldest, dropped); a: hit; b: miss again.
    assert (cache.misses, cache.hits) == (4, 2)


def test_a_cached_layout_is_recoloured_with_the_new_statuses_and_titles():
    cache = LayoutCache()
    before = Picture(
        (TaskNode("T-1", "old", "ready", None), TaskNode("T-2", "t", "waiting", None)),
        (("T-2", "T-1"),),
        (),
        1,
    )
    after = Picture(
        (TaskNode("T-1", "new", "done", None), TaskNode("T-2", "t", "ready", None)), (("T-2", "T-1"),), (), 1
    )
    cache.layout(before)
    drawn = cache.layout(after)
    assert cache.hits == 1
    assert drawn == layout(after)
    assert [(b.label, b.status, b.cp) for b in drawn.boxes] == [("new", "done", False), ("t", "ready", True)]


def test_the_layout_does_not_depend_on_the_process_hash_seed():
    # Sets and dicts of strings iterate in a per-process order; nothing in the layout may follow it.
    def digest(seed: str) -> str:
        out = subprocess.run(
            [sys.executable, "-c", _SEEDED],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        return out.stdout.strip()

    assert digest("1") == digest("2")


_SEEDED = """
import hashlib, random
from taskloom.domain.layout import Picture, StreamNode, TaskNode, layout
rng = random.Random(5)
streams = tuple(StreamNode(f"s{i}", "n", "active", (f"s{i - 1}",) if i else ()) for i in range(6))
statuses, homes = ["done", "ready", "waiting"], [None, "s0", "s3", "s5"]
tasks = tuple(TaskNode(f"T-{i}", "t", rng.choice(statuses), rng.choice(homes)) for i in range(400))
edges = tuple((f"T-{i}", f"T-{j}") for i in range(1, 400) for j in {rng.randrange(i) for _ in range(2)})
p = Picture(tasks, edges, streams, 1)
print(hashlib.sha256((repr(layout(p)) + repr(layout(p, limit=1000))).encode()).hexdigest())
"""
