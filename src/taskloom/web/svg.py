"""The DAG picture as inline SVG, built as strings from a `Layout`.

Every text an agent wrote (titles, codes, stream names) passes through `markupsafe.escape`, and
every element and attribute written here is from a short list, so a hostile title can add
neither. There is no `style=` attribute: the dashboard's CSP allows styles from its stylesheet
only, so statuses and the critical path are classes (`s-done`, `cp`) that taskloom.css colours.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from markupsafe import Markup, escape

from taskloom.domain.layout import Arrow, Box, Layout

TEXT = 34  # characters drawn in a 220 px box at 11 px (code and title); the full title is the tooltip
PAD = 8  # px from a box's left edge to its text
BAR_H = 6  # px, a group's progress bar
ARROW_ID = "tl-arrow"  # the arrowhead marker, referenced by every edge


# Characters XML 1.0 cannot hold even escaped (NUL and most C0 controls): a title may have them,
# and the SVG must still parse as XML (inline in the page, or saved from it).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def cut(text: str, limit: int = TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _esc(text: str) -> Markup:
    return escape(_NOT_XML.sub("\ufffd", text))


def picture_svg(layout: Layout) -> Markup:
    """The whole picture: one `<svg>` with its viewBox, arrows under the boxes."""
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dag dag-{_esc(layout.mode)}" '
        f'viewBox="0 0 {layout.width} {layout.height}" width="{layout.width}" height="{layout.height}" '
        f'role="img" aria-label="{_esc(_summary(layout))}">'
        f'<defs><marker id="{ARROW_ID}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><polygon points="0,0 10,5 0,10"/></marker></defs>'
    )
    parts = [
        head,
        '<g class="edges">',
        *(_arrow(a, layout.boxes[a.src], layout.boxes[a.dst]) for a in layout.arrows),
        '</g><g class="nodes">',
        *(_box(b) for b in layout.boxes),
        "</g></svg>",
    ]
    return Markup("".join(parts))


def _summary(layout: Layout) -> str:
    text = f"Task graph: {layout.tasks} tasks, drawn as {len(layout.boxes)} {layout.mode}"
    return text + (
        f"; {layout.hidden} dependencies across them in arrows too light to draw" if layout.hidden else ""
    )


def _href(box: Box) -> str | None:
    if box.code is None:
        return None
    if box.kind == "task":
        return "/ui/task/" + quote(box.code, safe="")
    return "/ui/?stream=" + quote(box.code, safe="")


def _box(box: Box) -> str:
    cls = f"node k-{box.kind} s-{box.status}" + (" cp" if box.cp else "")
    inner = [
        f"<title>{_esc(box.title)}</title>",
        f'<rect x="{box.x}" y="{box.y}" width="{box.w}" height="{box.h}" rx="4"/>',
    ]
    if box.kind == "task":
        inner.append(_text(box.x + PAD, box.y + box.h // 2 + 4, f"{box.code} {box.label}", "label"))
    else:
        inner.append(_text(box.x + PAD, box.y + 18, box.label, "label"))
        inner.append(_text(box.x + PAD, box.y + 34, box.detail, "detail"))
        bar_w = box.w - 2 * PAD
        done_w = round(bar_w * (box.progress or 0.0))
        bar_y = box.y + box.h - PAD - BAR_H
        inner.append(f'<rect class="bar" x="{box.x + PAD}" y="{bar_y}" width="{bar_w}" height="{BAR_H}"/>')
        inner.append(
            f'<rect class="bar-done" x="{box.x + PAD}" y="{bar_y}" width="{done_w}" height="{BAR_H}"/>'
        )
    group = f'<g class="{_esc(cls)}">{"".join(inner)}</g>'
    href = _href(box)
    return f'<a href="{_esc(href)}">{group}</a>' if href else group


def _text(x: int, y: int, text: str, cls: str) -> str:
    return f'<text class="{cls}" x="{x}" y="{y}">{_esc(cut(text))}</text>'


def _arrow(arrow: Arrow, src: Box, dst: Box) -> str:
    cls = f"edge e-{arrow.kind}" + (" cp" if arrow.cp else "")
    x1, y1 = src.x + src.w // 2, src.y + src.h
    if src.layer == dst.layer:
        # Streams in a cycle share a layer: bow under the row from one bottom edge to the other.
        x2, y2 = dst.x + dst.w // 2, dst.y + dst.h
        mx, my = (x1 + x2) // 2, y1 + 40
        d = f"M{x1},{y1} Q{mx},{my} {x2},{y2}"
        lx, ly = mx, y1 + 24
    elif dst.layer - src.layer > 1:
        # Across layers in between: bow to the side, so the edge does not run straight behind
        # the boxes stacked between its ends (there are no dummy nodes to route it around them).
        x2, y2 = dst.x + dst.w // 2, dst.y
        mx, my = max(x1, x2) + src.w * 3 // 4, (y1 + y2) // 2
        d = f"M{x1},{y1} Q{mx},{my} {x2},{y2}"
        lx, ly = (x1 + x2) // 2 + src.w * 3 // 8, my
    else:
        x2, y2 = dst.x + dst.w // 2, dst.y
        d = f"M{x1},{y1} L{x2},{y2}"
        lx, ly = (x1 + x2) // 2, (y1 + y2) // 2
    path = f'<path class="{cls}" d="{d}" marker-end="url(#{ARROW_ID})"/>'
    if arrow.kind == "dep" or arrow.count == 0:
        return path
    return path + f'<text class="count" x="{lx}" y="{ly}">{arrow.count}</text>'
