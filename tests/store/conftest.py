"""Fixtures the store suites share."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskloom.store.sqlite.store import SqliteStore


@pytest.fixture
async def store(tmp_path: Path):
    """A new SQLite store in a file (write_now and the writer queue need one)."""
    s = await SqliteStore.open(tmp_path / "t.db")
    try:
        yield s
    finally:
        await s.close()
