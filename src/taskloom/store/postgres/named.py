"""The named queries as PostgreSQL runs them.

The .sql files keep SQLite's `:name` parameters so the two backends read alike; psycopg wants
`%(name)s` (and a literal `%` doubled), and a bare `PREPARE` wants `$1, $2, ...`. One tokenizer
does both, skipping string literals, quoted identifiers, comments and `::` casts, so that
`'task:'` or `:role::text` are never taken for parameters.
"""

from __future__ import annotations

import re
from pathlib import Path

from taskloom.store import queries

FOLDER = Path(__file__).parent / "queries"

_TOKEN = re.compile(
    r"""(?P<skip>'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|::)"""
    r"""|:(?P<name>[A-Za-z_][A-Za-z0-9_]*)"""
    r"""|(?P<percent>%)"""
)


def pyformat(sql: str) -> str:
    """`:name` -> `%(name)s`, and every literal `%` (in strings and comments too) -> `%%`."""

    def one(m: re.Match[str]) -> str:
        if m.group("name"):
            return f"%({m.group('name')})s"
        if m.group("percent"):
            return "%%"
        return m.group("skip").replace("%", "%%")

    return _TOKEN.sub(one, sql)


def numbered(sql: str) -> tuple[str, list[str]]:
    """`:name` -> `$n`, one number per distinct name; returns the SQL and the names in order."""
    names: list[str] = []

    def one(m: re.Match[str]) -> str:
        name = m.group("name")
        if not name:
            return m.group(0)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _TOKEN.sub(one, sql), names


def load(folder: Path = FOLDER) -> dict[str, str]:
    """Every named query of the backend, ready for psycopg's `execute(sql, {name: value})`."""
    return {name: pyformat(sql) for name, sql in queries.load_dir(folder).items()}
