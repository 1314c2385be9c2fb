"""PostgreSQL fixtures beyond the session cluster (`pg_cluster`, in tests/conftest.py)."""

from __future__ import annotations

import uuid

import pytest

from tests.pg.cluster import Cluster


@pytest.fixture
def pg_dsn(pg_cluster: Cluster) -> str:
    """A new empty database of its own for one test: its URL."""
    return pg_cluster.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def backend() -> str:
    """`settings`, `app` and `client` in tests/pg are on PostgreSQL."""
    return "postgresql"
