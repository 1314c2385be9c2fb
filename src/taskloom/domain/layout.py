"""The DAG picture's layout: layers, the order within each layer, coordinates, the critical path
of remaining work, and the collapse that keeps a 10k-task project readable. Pure: a `Picture` in,
boxes and arrows out, the same every time for the same picture.

Edges in a `Picture` point from a task to what it depends on, as in `domain.graph`. Arrows run
the other way, from a dependency (a lower layer, drawn above) to its dependent.

The layout has two halves. The frame (layers, order, coordinates, which arrows) depends on the
graph's structure only, so `LayoutCache` keeps the last few; colouring it (statuses, counts,
progress, the critical path) is cheap and is done on every call, so a task changing status
re-colours the picture without laying it out again.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Literal

from taskloom.domain import graph
from taskloom.domain.statuses import TERMINAL

if TYPE_CHECKING:  # imported where called, as in domain.graph: most processes never draw a picture
    import networkx as nx

TASK_PICTURE_LIMIT = 300  # tasks drawn one by one; past this, one node per stream (or per layer)
AGGREGATED_ARROWS = 60  # dashed arrows drawn between groups at most, the heaviest: more is a hairball
SWEEPS = 4  # barycenter sweeps, alternating down and up
CACHE_SIZE = 8  # frames a LayoutCache keeps

TASK_W, TASK_H = 220, 28  # px, a task's box
GROUP_W, GROUP_H = 200, 58  # px, a stream's or a layer's box (label, counts, progress bar)
X_GAP, Y_GAP = 24, 56  # px between boxes in a layer, and between layers
MARGIN = 16  # px around the picture

Mode = Literal["tasks", "streams", "layers"]


@dataclass(frozen=True)
class TaskNode:
    code: str
    title: str
    status: str
    stream: str | None  # its stream's code


@dataclass(frozen=True)
class StreamNode:
    code: str
    name: str
    status: str
    depends_on: tuple[str, ...]  # codes of the streams it declares it waits for
    counts: Mapping[str, int] = field(default_factory=dict)  # its tasks per status


@dataclass(frozen=True)
class Picture:
    """What the picture is drawn from: the tasks in view, their dependencies, every stream."""

    tasks: tuple[TaskNode, ...]
    edges: tuple[tuple[str, str], ...]  # (task, dependency) codes, both among `tasks`
    streams: tuple[StreamNode, ...]
    graph_version: int
    stream: str | None = None  # the stream the view is limited to, if any


@dataclass(frozen=True)
class Box:
    kind: Literal["task", "stream", "layer"]
    code: str | None  # a task's or a stream's code; None for a layer and for tasks with no stream
    label: str  # a task's title; a stream's code; "depth 7"
    detail: str  # "340 tasks, 120 done" for a group; "" for a task
    title: str  # the full text, for a tooltip
    status: str
    x: int
    y: int
    w: int
    h: int
    layer: int
    cp: bool  # on the critical path of remaining work
    progress: float | None = None  # a group's closed fraction
    counts: tuple[tuple[str, int], ...] = ()  # a group's tasks per status


@dataclass(frozen=True)
class Arrow:
    src: int  # index in Layout.boxes: the dependency
    dst: int  # the dependent
    kind: Literal["dep", "declared", "aggregated"]  # a task edge; a stream dependency; task edges summed
    count: int  # task edges it stands for (0 for a declared stream dependency no task edge follows)
    cp: bool


@dataclass(frozen=True)
class Layout:
    mode: Mode
    boxes: tuple[Box, ...]
    arrows: tuple[Arrow, ...]
    width: int
    height: int
    critical_path: tuple[str, ...]  # task codes of the longest chain of work left, first first
    tasks: int  # tasks in view
    hidden: int = 0  # task edges across groups whose aggregated arrows were too light to draw


@dataclass(frozen=True)
class _Frame:
    mode: Mode
    keys: tuple[str | None, ...]  # per box: task code, stream code (None: no stream), or None
    places: tuple[tuple[int, int, int, int, int], ...]  # per box: x, y, w, h, layer
    arrows: tuple[tuple[int, int, str, int], ...]  # src, dst, kind, count
    box_of: Mapping[str, int]  # task code -> the box that shows it
    bands: tuple[tuple[int, int], ...]  # per box in "layers" mode: first and last depth
    tasks: nx.DiGraph  # the view's task graph, for the critical path
    order: tuple[str, ...] | None  # topological, dependencies first; None if cyclic (the store
    # keeps task graphs acyclic, but a picture of a broken one still draws, without a path)
    width: int
    height: int


def layout(picture: Picture, limit: int = TASK_PICTURE_LIMIT) -> Layout:
    """Lay out and colour `picture`: tasks one by one up to `limit`, else collapsed: one node per
    stream, or per depth when the view is one stream. `limit=0` asks for the stream graph whatever
    the size; `limit=len(picture.tasks)` for every task, whatever the size."""
    return _colour(_frame(picture, limit), picture)


class LayoutCache:
    """The last few frames, keyed by structure. Owned by whoever draws pictures (one per web app)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._frames: OrderedDict[Hashable, _Frame] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def layout(self, picture: Picture, limit: int = TASK_PICTURE_LIMIT) -> Layout:
        key = _structure(picture, limit)
        frame = self._frames.get(key)
        if frame is None:
            self.misses += 1
            frame = self._frames[key] = _frame(picture, limit)
            while len(self._frames) > self._size:
                self._frames.popitem(last=False)
        else:
            self.hits += 1
            self._frames.move_to_end(key)
        return _colour(frame, picture)


def _structure(picture: Picture, limit: int) -> Hashable:
    # graph_version rises with tasks and dependencies, but not when a task moves between streams,
    # so the streams are in the key; the edges are too, which costs a few ms at 10k and makes the
    # key right even where a writer forgot to bump the version.
    return (
        picture.graph_version,
        picture.stream,
        limit,
        tuple((t.code, t.stream) for t in picture.tasks),
        picture.edges,
        tuple((s.code, s.depends_on) for s in picture.streams),
    )


# ------------------------------------------------------------------------------------ the frame


def _frame(picture: Picture, limit: int) -> _Frame:
    codes = [t.code for t in picture.tasks]
    tasks = graph.build(codes, picture.edges)
    if len(codes) <= limit:
        keys: list[str | None] = list(codes)
        box_of = {c: i for i, c in enumerate(codes)}
        links = Counter((box_of[dep], box_of[task]) for task, dep in picture.edges)
        arrows = [(src, dst, "dep", n) for (src, dst), n in links.items()]
        return _place("tasks", keys, box_of, arrows, tasks, (), TASK_W, TASK_H)
    groups = {t.stream for t in picture.tasks}
    if picture.stream is None and len(groups) > 1:
        return _by_stream(picture, tasks)
    return _by_layer(picture, tasks, limit)


def _by_stream(picture: Picture, tasks: nx.DiGraph) -> _Frame:
    keys: list[str | None] = [s.code for s in picture.streams]
    seen = set(keys)
    for t in picture.tasks:  # streams a task names but the list lacks, then the tasks with none
        if t.stream is not None and t.stream not in seen:
            seen.add(t.stream)
            keys.append(t.stream)
    if any(t.stream is None for t in picture.tasks):
        keys.append(None)
    index = {k: i for i, k in enumerate(keys)}
    box_of = {t.code: index[t.stream] for t in picture.tasks}
    crossing = Counter(
        (box_of[dep], box_of[task]) for task, dep in picture.edges if box_of[dep] != box_of[task]
    )
    declared = {(index[dep], index[s.code]) for s in picture.streams for dep in s.depends_on if dep in index}
    arrows = [(src, dst, "declared", crossing.get((src, dst), 0)) for src, dst in sorted(declared)]
    arrows += [
        (src, dst, "aggregated", n) for (src, dst), n in crossing.items() if (src, dst) not in declared
    ]
    return _place("streams", keys, box_of, arrows, tasks, (), GROUP_W, GROUP_H)


def _by_layer(picture: Picture, tasks: nx.DiGraph, limit: int) -> _Frame:
    depth = _layers(tasks)
    deepest = max(depth.values(), default=0)
    band = -(-(deepest + 1) // limit)  # depths per box, so that even a very long chain fits the limit
    count = deepest // band + 1
    box_of = {code: depth[code] // band for code in depth}
    links = Counter((box_of[dep], box_of[task]) for task, dep in picture.edges if box_of[dep] != box_of[task])
    arrows = [(src, dst, "aggregated", n) for (src, dst), n in sorted(links.items())]
    bands = tuple((b * band, min(deepest, b * band + band - 1)) for b in range(count))
    return _place("layers", [None] * count, box_of, arrows, tasks, bands, GROUP_W, GROUP_H)


def _layers(g: nx.DiGraph) -> dict[Hashable, int]:
    """Depths, or on a cyclic graph the depths of its condensation: a cycle shares one layer."""
    import networkx as nx

    if graph.is_acyclic(g):
        return graph.depths(g)
    condensed = nx.condensation(g)
    depth = graph.depths(condensed)
    return {node: depth[scc] for node, scc in condensed.graph["mapping"].items()}


def _place(
    mode: Mode,
    keys: list[str | None],
    box_of: dict[str, int],
    arrows: list[tuple[int, int, str, int]],
    tasks: nx.DiGraph,
    bands: tuple[tuple[int, int], ...],
    w: int,
    h: int,
) -> _Frame:
    n = len(keys)
    if mode == "layers":
        layer_of = list(range(n))
    else:
        g = graph.build(range(n), ((dst, src) for src, dst, _, _ in arrows))
        depth = _layers(g)
        layer_of = [depth[i] for i in range(n)]
    rows = _order(layer_of, arrows)
    widest = max((len(r) for r in rows), default=0)
    span = widest * (w + X_GAP) - X_GAP
    places: list[tuple[int, int, int, int, int]] = [(0, 0, 0, 0, 0)] * n
    for li, row in enumerate(rows):
        x0 = MARGIN + (span - (len(row) * (w + X_GAP) - X_GAP)) // 2
        for i, node in enumerate(row):
            places[node] = (x0 + i * (w + X_GAP), MARGIN + li * (h + Y_GAP), w, h, li)
    return _Frame(
        mode=mode,
        keys=tuple(keys),
        places=tuple(places),
        arrows=tuple(sorted(arrows)),
        box_of=box_of,
        bands=bands,
        tasks=tasks,
        order=_order_of(tasks),
        width=max(span, 0) + 2 * MARGIN,
        height=max(len(rows) * (h + Y_GAP) - Y_GAP, 0) + 2 * MARGIN,
    )


def _order_of(tasks: nx.DiGraph) -> tuple[str, ...] | None:
    import networkx as nx

    try:  # one sort, where a check for cycles first would walk the graph twice
        return tuple(reversed(list(nx.topological_sort(tasks))))
    except nx.NetworkXUnfeasible:
        return None


def _order(layer_of: list[int], arrows: Iterable[tuple[int, int, str, int]]) -> list[list[int]]:
    """Barycenter ordering: each node moves to the mean position of its neighbours in the layers
    already placed, sweeping down then up. Long edges count as they are (no dummy nodes)."""
    n = len(layer_of)
    rows: list[list[int]] = [[] for _ in range(max(layer_of, default=-1) + 1)]
    for node in range(n):
        rows[layer_of[node]].append(node)
    above: list[list[int]] = [[] for _ in range(n)]
    below: list[list[int]] = [[] for _ in range(n)]
    for src, dst, _, _ in arrows:
        if layer_of[src] < layer_of[dst]:
            above[dst].append(src)
            below[src].append(dst)
    pos = [0.0] * n

    def place(row: list[int]) -> None:
        # Centred, so rows of different widths compare on one axis.
        middle = (len(row) - 1) / 2
        for i, node in enumerate(row):
            pos[node] = i - middle

    for row in rows:
        place(row)
    for sweep in range(SWEEPS):
        down = sweep % 2 == 0
        near = above if down else below
        for li in range(1, len(rows)) if down else range(len(rows) - 2, -1, -1):
            row = rows[li]
            key = {
                node: sum(pos[m] for m in near[node]) / len(near[node]) if near[node] else pos[node]
                for node in row
            }
            row.sort(key=key.__getitem__)  # stable: ties keep their order, so the result is deterministic
            place(row)
    return rows


# ----------------------------------------------------------------------------------- colouring


def _colour(frame: _Frame, picture: Picture) -> Layout:
    status = {t.code: t.status for t in picture.tasks}
    closed = {code for code, s in status.items() if s in TERMINAL}
    order = frame.order
    path = (
        [str(c) for c in graph.remaining_critical_path(frame.tasks, closed, order)]
        if order is not None
        else []
    )
    on_path = {frame.box_of[c] for c in path}
    hops = {(frame.box_of[a], frame.box_of[b]) for a, b in pairwise(path)}
    if frame.mode == "tasks":
        title = {t.code: t.title for t in picture.tasks}
        boxes = [
            Box(
                "task",
                code,
                title[code],
                "",
                f"{code}: {title[code]} ({status[code]})",
                status[code],
                *frame.places[i],
                cp=i in on_path,
            )
            for i, code in enumerate(frame.keys)
            if code is not None
        ]
    else:
        boxes = _groups(frame, picture, status, on_path)
    arrows, hidden = _arrows(frame, hops)
    return Layout(
        frame.mode, tuple(boxes), arrows, frame.width, frame.height, tuple(path), len(picture.tasks), hidden
    )


def _arrows(frame: _Frame, hops: set[tuple[int, int]]) -> tuple[tuple[Arrow, ...], int]:
    """Every arrow but the lightest aggregated ones past AGGREGATED_ARROWS (those on the critical
    path are always drawn), and how many task edges the dropped ones stood for."""
    light = sorted(
        (a for a in frame.arrows if a[2] == "aggregated" and (a[0], a[1]) not in hops), key=lambda a: -a[3]
    )[AGGREGATED_ARROWS:]
    dropped = set(light)
    kept = tuple(
        Arrow(s, d, kind, n, (s, d) in hops)
        for s, d, kind, n in frame.arrows
        if (s, d, kind, n) not in dropped
    )
    return kept, sum(a[3] for a in light)


def _groups(frame: _Frame, picture: Picture, status: Mapping[str, str], on_path: set[int]) -> list[Box]:
    counts: list[Counter[str]] = [Counter() for _ in frame.keys]
    for code, s in status.items():
        counts[frame.box_of[code]][s] += 1
    streams = {s.code: s for s in picture.streams}
    boxes = []
    for i, key in enumerate(frame.keys):
        c = counts[i]
        total = sum(c.values())
        done = c["done"] + c["cancelled"]
        detail = f"{total} task{'' if total == 1 else 's'}, {done} done"
        every = ", ".join(f"{n} {s}" for s, n in sorted(c.items()))
        if frame.mode == "layers":
            lo, hi = frame.bands[i]
            kind, label, name, state = "layer", f"depth {lo}" if lo == hi else f"depths {lo}-{hi}", "", None
        else:
            stream = streams.get(key) if key is not None else None
            kind, label = "stream", key if key is not None else "(no stream)"
            name, state = (stream.name, stream.status) if stream else ("", None)
        title = f"{label}{': ' + name if name else ''} ({detail}{': ' + every if every else ''})"
        boxes.append(
            Box(
                kind,
                key,
                label,
                detail,
                title,
                state or summary_status(c),
                *frame.places[i],
                cp=i in on_path,
                progress=done / total if total else 0.0,
                counts=tuple(sorted(c.items())),
            )
        )
    return boxes


def summary_status(counts: Mapping[str, int]) -> str:
    """One status for a group of tasks: what most needs a look first, else how far it got."""
    for s in ("failed", "blocked", "review", "in_progress", "ready", "waiting", "backlog"):
        if counts.get(s):
            return s
    return "done" if counts.get("done") else ("cancelled" if counts.get("cancelled") else "waiting")
