"""Named-query files: `-- name: <name>` starts a query, the next `--` lines describe it."""

from __future__ import annotations

import re
from pathlib import Path

_HEADER = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


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
        queries[name] = sql.rstrip(";")
    return queries
