"""Fixtures shared by the server suites."""

from __future__ import annotations

import pytest

from taskloom.clock import SystemClock
from taskloom.config import Settings
from taskloom.services.app import Taskloom


@pytest.fixture
async def here(tmp_path):
    """A server's app on a real clock (the turn hand-off is timed) and a second connection."""
    settings = Settings(db_path=tmp_path / "team.db", project="team", lease_seconds=60.0)
    app = await Taskloom.open(settings, SystemClock())
    other = await Taskloom.open(settings, SystemClock())
    try:
        yield app, other
    finally:
        await other.close()
        await app.close()
