"""Markdown that agents wrote (task context, descriptions, notes), as HTML a page can show.

Two layers, because either alone has let hostile text through somewhere: markdown-it-py renders
with raw HTML off (so `<script>` stays text) and refuses `javascript:`-like links, then nh3 (the
ammonia sanitiser) keeps only an allow-list of tags, attributes and URL schemes. What comes out
is marked safe, so the templates' autoescape leaves it as it is and escapes everything else.
"""

from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

MAX_MD = 256 * 1024  # characters rendered; past that the rest is cut and said to be cut
CUT_NOTE = "\n\n*(cut: the text goes on past 256 KiB)*\n"

TAGS = {
    *("p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "del", "code", "pre"),
    *("blockquote", "ul", "ol", "li", "a", "img", "table", "thead", "tbody", "tr", "th", "td"),
}
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
}
# Left out on purpose: `style` (markdown-it's table alignment), which the page's CSP
# (style-src 'self') would refuse with a console error, and `class` (a fenced block's language),
# which would let an agent borrow the page's own classes.
SCHEMES = {"http", "https", "mailto"}
SURROGATE = re.compile("[\ud800-\udfff]")


# Built once: neither is changed after this (markdown-it keeps a render's state in that render's
# own `env`, nh3's Cleaner is immutable), and building them cost three times a short render.
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)
_CLEANER = nh3.Cleaner(
    tags=TAGS, attributes=ATTRIBUTES, url_schemes=SCHEMES, link_rel="noopener noreferrer nofollow"
)


def md(text: str) -> Markup:
    """`text` as sanitised HTML. Never raises on what an agent may write."""
    if len(text) > MAX_MD:
        text = text[:MAX_MD] + CUT_NOTE
    # A lone surrogate (which JSON can carry) is no character nh3 can encode: show U+FFFD.
    text = SURROGATE.sub("\ufffd", text)
    return Markup(_CLEANER.clean(_MARKDOWN.render(text)))
