"""Versioned migrations tracked in `PRAGMA user_version`.

A new database gets `schema.sql` whole; an existing one gets each numbered migration above its
version. Both run inside the caller's BEGIN IMMEDIATE, so two processes starting together on a
new file cannot both migrate it.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

HERE = Path(__file__).parent
MIGRATIONS = HERE / "migrations"
_NUMBERED = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, Path]]:
    found = []
    for path in MIGRATIONS.iterdir():
        if m := _NUMBERED.match(path.name):
            found.append((int(m.group(1)), path))
    return sorted(found)


def latest_version() -> int:
    return migrations()[-1][0]


def statements(script: str) -> list[str]:
    """Split a script into statements without executescript(), which would commit our transaction."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--") and not buf.strip():
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        raise ValueError(f"incomplete SQL statement at end of script: {buf.strip()[:80]!r}")
    return out


def apply(conn: sqlite3.Connection, *, fresh_from_schema: bool = True) -> int:
    """Bring the database to the latest version; returns the version it was at before."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    target = latest_version()
    if current == 0 and fresh_from_schema:
        for stmt in statements((HERE / "schema.sql").read_text(encoding="utf-8")):
            conn.execute(stmt)
    else:
        for version, path in migrations():
            if version > current:
                for stmt in statements(path.read_text(encoding="utf-8")):
                    conn.execute(stmt)
    if current != target:
        conn.execute(f"PRAGMA user_version = {int(target)}")
    return current
