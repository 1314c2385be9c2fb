"""Markdown an agent wrote comes out as HTML that can do nothing but show text, links and images.

The checks parse the output (html.parser) instead of searching it for strings, so an attribute
smuggled in any spelling is still an attribute.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import Markup, escape

from taskloom.web.markdown import MAX_MD, TAGS, md

SAFE_SCHEMES = ("http://", "https://", "mailto:")

HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    '<svg onload="alert(1)"><circle/></svg>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<a href="javascript:alert(1)">raw html link</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](java\tscript:alert(1))",
    "[click](java\nscript:alert(1))",
    "[click](  javascript:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](VBScript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](DATA:text/html,<script>alert(1)</script>)",
    "![pic](javascript:alert(1))",
    "![pic](data:image/svg+xml,<svg onload=alert(1)>)",
    '![pic](x "a\\" onerror=alert(1) b")',
    '[t](https://ok.example "t\\" onmouseover=alert(1) x=\\"")',
    "[t](https://ok.example 't\" onmouseover=alert(1)')",
    "[ref]\n\n[ref]: javascript:alert(1)",
    '<https://ok.example/"onmouseover=alert(1)>',
    "<javascript:alert(1)>",
    "<style>body{display:none}</style>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<form action=https://evil.example><input name=q></form>",
    "<!-- <script>alert(1)</script> -->",
    "```html\n<script>alert(1)</script>\n```",
    "| a | b |\n|---|---|\n| <img src=x onerror=alert(1)> | [x](javascript:alert(1)) |",
    "{{7*7}} ${7*7} [red]markup[/red] \u202etxet lrt\u202c \x00 nul",
    "lone \ud800 surrogate and a pair \U0001f600 [x](https://ok.example/\udfff)",
]


class Parsed(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(tag, name, value or "") for name, value in attrs]


def is_relative(url: str) -> bool:
    """No scheme: nothing before a ':' that comes ahead of any '/', '?' or '#'."""
    head = url.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return ":" not in head


def parsed(html: str) -> Parsed:
    p = Parsed()
    p.feed(html)
    p.close()
    return p


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_markdown_keeps_only_allowed_tags_and_no_script_urls_or_handlers(text):
    html = md(text)
    assert isinstance(html, Markup)
    found = parsed(str(html))
    assert set(found.tags) <= TAGS, found.tags
    for tag, name, value in found.attrs:
        assert not name.startswith("on"), (tag, name)
        assert name not in ("style", "class", "srcdoc", "formaction"), (tag, name)
        if name in ("href", "src"):
            assert value.startswith(SAFE_SCHEMES) or is_relative(value), (tag, name, value)


def test_raw_html_is_shown_as_text_not_dropped():
    # A person reading the task should see what the agent wrote, harmless.
    html = str(md("<script>alert(1)</script>"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_quote_in_a_link_title_stays_inside_the_attribute():
    found = parsed(str(md('[t](https://ok.example "t\\" onmouseover=alert(1) x=\\"")')))
    assert [n for _, n, _ in found.attrs] == ["href", "title", "rel"]
    assert ("a", "title", 't" onmouseover=alert(1) x="') in found.attrs


def test_links_get_rel_noopener_noreferrer_nofollow():
    found = parsed(str(md("[docs](https://example.org/a?b=1)")))
    assert ("a", "href", "https://example.org/a?b=1") in found.attrs
    assert ("a", "rel", "noopener noreferrer nofollow") in found.attrs


def test_ordinary_markdown_renders_tables_strikethrough_and_code():
    found = parsed(str(md("# H\n\n~~gone~~ **b** `c`\n\n| a | b |\n|:--|--:|\n| 1 | 2 |\n\n```py\nx\n```\n")))
    assert {"h1", "s", "strong", "code", "table", "th", "td", "pre"} <= set(found.tags)


def test_text_past_the_cap_is_cut_and_says_so():
    html = str(md("word " * (MAX_MD // 5 + 1000)))
    assert "cut" in html
    assert html.count("word") <= MAX_MD // 5 + 1


def test_the_result_is_markup_that_autoescape_leaves_alone_while_plain_text_is_escaped():
    assert str(escape(md("**b**"))) == str(md("**b**"))
    assert str(escape("<b>")) == "&lt;b&gt;"


PIECES = [*"<>[]()!\"'`*_~|#:/\\\t\n =-&;.\x00\ud800", "javascript", "on", "img", "a", "http", "data"]
MARKDOWNISH = st.lists(st.sampled_from(PIECES), max_size=80).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=300), MARKDOWNISH))
def test_no_text_makes_it_raise_or_emit_anything_outside_the_allow_list(text):
    found = parsed(str(md(text)))
    assert set(found.tags) <= TAGS
    for tag, name, value in found.attrs:
        assert not name.startswith("on"), (tag, name)
        if name in ("href", "src"):
            assert value.startswith(SAFE_SCHEMES) or is_relative(value), (tag, name, value)
