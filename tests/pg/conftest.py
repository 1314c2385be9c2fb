"""PostgreSQL fixtures: one throwaway cluster per test session (tests/pg/cluster.py).

Without PostgreSQL on the machine these tests skip; with TASKLOOM_REQUIRE_PG=1 (CI) they fail
instead, so a missing install cannot pass as green.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.pg.cluster import Cluster, PostgresMissing, os_user, pg_bin_dir, start, stop


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    try:
        pg_bin_dir()
        os_user()
    except PostgresMissing as exc:
        if os.environ.get("TASKLOOM_REQUIRE_PG") == "1":
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    c = start()
    try:
        yield c
    finally:
        stop(c)


@pytest.fixture
def pg_dsn(pg_cluster: Cluster) -> str:
    """A new empty database of its own for one test: its URL."""
    return pg_cluster.create_database(f"t_{uuid.uuid4().hex[:12]}")
