"""The DAG picture's SVG: hostile titles, codes and stream names add no element and no attribute,
every node links where it should, and nothing needs an inline style (the dashboard's CSP)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from taskloom.domain.layout import Picture, StreamNode, TaskNode, layout
from taskloom.web.svg import TEXT, picture_svg

NS = "{http://www.w3.org/2000/svg}"

# The attributes each element may carry; anything else (on*, style, xlink:href ...) is a defect.
ALLOWED = {
    "svg": {"class", "viewBox", "width", "height", "role", "aria-label"},
    "defs": set(),
    "marker": {"id", "viewBox", "refX", "refY", "markerWidth", "markerHeight", "orient"},
    "polygon": {"points"},
    "g": {"class"},
    "a": {"href"},
    "title": set(),
    "rect": {"class", "x", "y", "width", "height", "rx"},
    "text": {"class", "x", "y"},
    "path": {"class", "d", "marker-end"},
}

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(1)",
    "javascript:alert(1)",
    '<svg onload="alert(1)"><a xlink:href="javascript:alert(1)">x</a></svg>',
    "</text></g></a><script>alert(1)</script>",
    "</title><foreignObject><iframe src=//evil></iframe></foreignObject>",
    "<![CDATA[ ]]> <!-- --> <?xml-stylesheet href='x'?>",
    "&amp; &lt; &#x3C;script&#x3E;",
    "{{7*7}} ${7*7} [red]bold[/red]",
    "\u202eRTL override\u202c and a NUL \x00 and a bell \x07",
    "x" * 300,
]


def hostile_picture(n_per_stream: int = 3) -> Picture:
    streams = tuple(
        StreamNode(
            code=f"s{i}{h[:20]}", name=h, status="active", depends_on=(f"s0{HOSTILE[0][:20]}",) if i else ()
        )
        for i, h in enumerate(HOSTILE[:4])
    )
    tasks = []
    for i, title in enumerate(HOSTILE):
        stream = streams[i % len(streams)].code
        tasks.append(TaskNode(code=f"T-{i}{title[:30]}", title=title, status="ready", stream=stream))
    edges = tuple((tasks[i].code, tasks[i - 1].code) for i in range(1, len(tasks)))
    return Picture(tasks=tuple(tasks), edges=edges, streams=streams, graph_version=1)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on anything that is not well-formed XML


def elements(root: ET.Element) -> list[ET.Element]:
    return list(root.iter())


@pytest.mark.parametrize("limit", [300, 4, 1], ids=["tasks", "streams", "layers"])
def test_hostile_text_adds_no_element_and_no_attribute(limit):
    picture = hostile_picture()
    if limit == 1:
        # One stream over the limit collapses by layer.
        picture = Picture(
            tasks=tuple(TaskNode(t.code, t.title, t.status, picture.streams[0].code) for t in picture.tasks),
            edges=picture.edges,
            streams=picture.streams,
            graph_version=1,
            stream=picture.streams[0].code,
        )
    drawn = layout(picture, limit=limit)
    assert drawn.mode == {300: "tasks", 4: "streams", 1: "layers"}[limit]
    root = parse(str(picture_svg(drawn)))
    for el in elements(root):
        assert el.tag.startswith(NS), el.tag
        tag = el.tag[len(NS) :]
        assert tag in ALLOWED, f"unexpected element <{tag}>"
        assert set(el.attrib) <= ALLOWED[tag], f"<{tag}> has {set(el.attrib) - ALLOWED[tag]}"
        assert not any(name.lower().startswith("on") for name in el.attrib)
    for a in root.iter(f"{NS}a"):
        assert a.get("href").startswith(("/ui/task/", "/ui/?stream="))
        assert ":" not in a.get("href").split("/ui/", 1)[1], "a code made the link leave the dashboard"


def test_every_task_links_to_its_page_with_its_full_title_as_the_tooltip():
    picture = hostile_picture()
    root = parse(str(picture_svg(layout(picture))))
    links = list(root.iter(f"{NS}a"))
    assert len(links) == len(picture.tasks)
    titles = {a.find(f"{NS}g/{NS}title").text for a in links}
    # NUL and the bell cannot be in XML at all: they come out as U+FFFD, the rest as written.
    assert titles == {re.sub("[\x00-\x08]", "\ufffd", f"{t.code}: {t.title} (ready)") for t in picture.tasks}


def test_drawn_titles_are_cut_to_forty_characters():
    picture = Picture(
        tasks=(TaskNode("T-1", "a" * 300, "ready", None),), edges=(), streams=(), graph_version=1
    )
    root = parse(str(picture_svg(layout(picture))))
    (label,) = [t for t in root.iter(f"{NS}text") if t.get("class") == "label"]
    assert len(label.text) == TEXT
    assert label.text.endswith("\u2026")
    assert root.find(f".//{NS}title").text == "T-1: " + "a" * 300 + " (ready)"


def test_codes_are_quoted_in_links_so_they_stay_under_the_dashboard():
    picture = Picture(
        tasks=(TaskNode("../../x?y#z", "t", "ready", "a b/c"), TaskNode("T-2", "t", "done", "s2")),
        edges=(),
        streams=(StreamNode("a b/c", "n", "ready", ()), StreamNode("s2", "m", "done", ())),
        graph_version=1,
    )
    task_links = [a.get("href") for a in parse(str(picture_svg(layout(picture)))).iter(f"{NS}a")]
    assert task_links == ["/ui/task/..%2F..%2Fx%3Fy%23z", "/ui/task/T-2"]
    stream_links = [a.get("href") for a in parse(str(picture_svg(layout(picture, limit=1)))).iter(f"{NS}a")]
    assert stream_links == ["/ui/?stream=a%20b%2Fc", "/ui/?stream=s2"]


def test_status_and_critical_path_are_classes_and_nothing_is_styled_inline():
    picture = Picture(
        tasks=(
            TaskNode("T-1", "a", "done", None),
            TaskNode("T-2", "b", "ready", None),
            TaskNode("T-3", "c", "waiting", None),
        ),
        edges=(("T-2", "T-1"), ("T-3", "T-2")),
        streams=(),
        graph_version=1,
    )
    svg = str(picture_svg(layout(picture)))
    assert "style" not in svg
    root = parse(svg)
    classes = [g.get("class") for g in root.iter(f"{NS}g") if "node" in g.get("class").split()]
    assert classes == ["node k-task s-done", "node k-task s-ready cp", "node k-task s-waiting cp"]
    edges = [p.get("class") for p in root.iter(f"{NS}path") if p.get("class")]
    assert edges == ["edge e-dep", "edge e-dep cp"]
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"


def test_a_collapsed_stream_shows_its_counts_and_a_progress_bar_of_rect_widths():
    picture = Picture(
        tasks=(
            TaskNode("A-1", "a", "done", "api"),
            TaskNode("A-2", "b", "done", "api"),
            TaskNode("A-3", "c", "ready", "api"),
            TaskNode("A-4", "d", "ready", "api"),
            TaskNode("W-1", "e", "waiting", "web"),
        ),
        edges=(("W-1", "A-3"), ("W-1", "A-4")),
        streams=(StreamNode("api", "API", "active", ()), StreamNode("web", "Web", "waiting", ("api",))),
        graph_version=1,
    )
    root = parse(str(picture_svg(layout(picture, limit=2))))
    api = next(iter(root.iter(f"{NS}a")))
    assert api.get("href") == "/ui/?stream=api"
    texts = [t.text for t in api.iter(f"{NS}text")]
    assert texts == ["api", "4 tasks, 2 done"]
    bar = {r.get("class"): int(r.get("width")) for r in api.iter(f"{NS}rect") if r.get("class")}
    assert bar["bar-done"] * 2 == bar["bar"]
    # The declared dependency carries the two task edges it stands for as its label.
    assert [t.text for t in root.iter(f"{NS}text") if t.get("class") == "count"] == ["2"]


def test_an_edge_across_a_layer_bows_round_the_boxes_between_its_ends():
    # a -> b -> c, and a -> c: a straight a-c would run behind b, stacked between them.
    tasks = tuple(TaskNode(code=c, title=c, status="ready", stream=None) for c in "abc")
    picture = Picture(tasks=tasks, edges=(("b", "a"), ("c", "b"), ("c", "a")), streams=(), graph_version=1)
    shape = layout(picture)
    by_code = {b.code: b for b in shape.boxes}
    assert by_code["c"].layer - by_code["a"].layer == 2
    paths = re.findall(r'<path class="edge[^"]*" d="([^"]+)"', picture_svg(shape))
    assert sum(p.count("Q") for p in paths) == 1 and sum(p.count("L") for p in paths) == 2
