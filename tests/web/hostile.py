"""Hostile text for every agent-writable field, and a parser that finds what must never render."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "javascript:alert(3)",
    "[click](javascript:alert(4)) [x](JaVaScRiPt:alert(5)) ![i](data:text/html,<script>alert(6)</script>)",
    "<svg onload=alert(7)><circle/></svg>",
    "</textarea><script>alert(8)</script>",
    "{{7*7}} {% raw %} ${7*7}",
    "[bold red]rich markup[/]",
    "\u202eRTL override\u202c and a NUL \x00 here",
    "<a href=\"javascript:alert(9)\">link</a> <iframe src=//evil.example></iframe>",
    "<style>body{display:none}</style><link rel=stylesheet href=//evil.example/x.css>",
]


# Elements no page may hold; a caller adds more (an artifact page must not inline an <svg>, say).
FORBIDDEN = frozenset({"iframe", "object", "embed", "style", "base", "foreignobject"})


class Findings(HTMLParser):
    """Elements and attributes a page must not have, given that only the vendored scripts run."""

    def __init__(self, forbidden: frozenset[str] = frozenset()) -> None:
        super().__init__(convert_charrefs=True)
        self.bad: list[str] = []
        self.forbidden = FORBIDDEN | forbidden

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and not (values.get("src") or "").startswith("/ui/static/"):
            self.bad.append(f"script {values}")
        if tag in self.forbidden:
            self.bad.append(f"<{tag}>")
        if tag == "link" and values.get("rel") == "stylesheet" and not (values.get("href") or "").startswith("/ui/static/"):
            self.bad.append(f"stylesheet {values}")
        for name, value in attrs:
            if name.startswith("on"):
                self.bad.append(f"{tag} {name}={value!r}")
            if name in ("href", "src", "action", "xlink:href") and value:
                scheme = urlsplit(value.strip()).scheme.lower()
                if scheme not in ("", "http", "https", "mailto") and not (name == "href" and value == "data:,"):
                    self.bad.append(f"{tag} {name}={value!r}")
            if name == "style":
                self.bad.append(f"{tag} style=")


def findings(html: str, also: frozenset[str] = frozenset()) -> list[str]:
    parser = Findings(also)
    parser.feed(html)
    parser.close()
    return parser.bad
