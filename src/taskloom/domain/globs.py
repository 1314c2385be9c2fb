"""Name filters written as globs, turned into the SQL LIKE patterns every backend runs.

SQLite's GLOB has no PostgreSQL twin, so the glob is translated here once and both backends run
`LIKE :pattern ESCAPE '\\'`. Only `*` (any run of characters) and `?` (one character) are
wildcards. Everything else matches itself, `[` included: names like `shot [2].png` are common,
and a character class would make such a name unsearchable.
"""

from __future__ import annotations

WILDCARDS = "*?"
LIKE_ESCAPE = "\\"  # the queries say ESCAPE '\'
_LIKE_SPECIAL = "%_\\"


def glob_to_like(pattern: str) -> str:
    """The LIKE pattern (escape character `\\`) matching exactly what the glob `pattern` matches."""
    out: list[str] = []
    for char in pattern:
        if char == "*":
            if out and out[-1] == "%":
                continue  # `**` is `*`; a run of `%` only costs the matcher time
            out.append("%")
        elif char == "?":
            out.append("_")
        elif char in _LIKE_SPECIAL:
            out.append(LIKE_ESCAPE + char)
        else:
            out.append(char)
    return "".join(out)


def name_filter(text: str) -> str:
    """A name filter as the tools take it: a glob when it has a wildcard, else a substring.

    Case-insensitive: the pattern is lower-cased, and the queries compare it to `lower(name)`.
    """
    text = text.lower()
    return glob_to_like(text if any(c in text for c in WILDCARDS) else f"*{text}*")
