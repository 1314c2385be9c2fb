"""Fixtures the service suites share."""

from __future__ import annotations

import pytest

from tests.conftest import call


@pytest.fixture
async def team(client):
    """boss: orchestrator; carol: a planner who creates tasks; alice: a worker; dave: another
    worker, often the bystander."""
    await call(client, "agent_init", agent="boss", role="orchestrator")
    await call(client, "agent_init", agent="carol", role="planner")
    await call(client, "agent_init", agent="alice", role="dev")
    await call(client, "agent_init", agent="dave", role="dev")
    return client
