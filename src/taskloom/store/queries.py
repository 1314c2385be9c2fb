"""Named-query files: `-- name: <name>` starts a query, the next `--` lines describe it.

A status set is written by name, `status IN {HELD}`, and expanded here into the literal list
`('in_progress', 'blocked')` from domain.statuses, so each set is defined once for every backend.
Literals, not bound parameters: the planner needs them to use partial indexes and `IN` probes.
"""

from __future__ import annotations

import re
from pathlib import Path

from taskloom.domain.statuses import STATUS_SETS, TaskStatus

_HEADER = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)
_PLACEHOLDER = re.compile(r"\{([A-Z][A-Z0-9_]*)\}")  # not JSON or array literals such as '{}'


def load_dir(folder: Path) -> dict[str, str]:
    """Every `*.sql` file in `folder`; a name defined in two files is an error."""
    queries: dict[str, str] = {}
    for path in sorted(folder.glob("*.sql")):
        load(path, queries)
    return queries


def load(path: Path, queries: dict[str, str] | None = None) -> dict[str, str]:
    text = path.read_text(encoding="utf-8")
    parts = _HEADER.split(text)
    queries = {} if queries is None else queries
    # parts = [preamble, name1, body1, name2, body2, ...]
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"{path.name}: query {name!r} is defined twice")
        sql = "\n".join(line for line in body.splitlines() if not line.lstrip().startswith("--")).strip()
        queries[name] = expand(f"{path.name}: query {name!r}", sql.rstrip(";"))
    return queries


def expand(where: str, sql: str) -> str:
    """Replace each `{NAME}` with the literal list of the status set of that name."""

    def literal(match: re.Match[str]) -> str:
        members = STATUS_SETS.get(match.group(1))
        if members is None:
            known = ", ".join(f"{{{n}}}" for n in STATUS_SETS)
            raise ValueError(f"{where} uses {match.group(0)}, which is no status set. Known: {known}.")
        # In the enum's order, so a statement's text never changes between runs.
        return "(" + ", ".join(f"'{s}'" for s in TaskStatus if s in members) + ")"

    return _PLACEHOLDER.sub(literal, sql)
