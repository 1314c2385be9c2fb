"""Damaging real database files on purpose, the ways disks, copies and typos do."""

from __future__ import annotations

import sqlite3
from pathlib import Path

GARBAGE = b"\xde\xad\xbe\xef" * 64


def damage_table(db: Path, table: str, *, tail: bool = False) -> None:
    """Overwrite the head of the root page of `table` (or of an index), or with `tail` the end of
    that page, where its cells are: subtler damage that leaves the page readable. The WAL is
    folded in first so the damage is what every reader sees. Any connection still open must be
    told the file changed (`touch`)."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    assert root > 1, "page 1 holds the schema; damage it with damage_header"
    with open(db, "r+b") as f:
        f.seek(root * page_size - 60 if tail else (root - 1) * page_size)
        f.write(b"\x07" * 60 if tail else GARBAGE)


def damage_header(db: Path) -> None:
    """Overwrite the 16-byte magic string "SQLite format 3\\0" at the start of the file."""
    with open(db, "r+b") as f:
        f.write(b"taskloom broke!!")


def touch(db: Path) -> None:
    """Commit a no-op change to page 1 through another connection: connections already open then
    drop their page caches and read the damaged pages from disk."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.execute(f"PRAGMA user_version = {int(version)}")
    finally:
        conn.close()
