"""The PostgreSQL behaviour the backend's readiness design rests on (docs/postgres-design.md, 3).

Task X waits on A and B. Two connections finish A and B at the same moment and each then asks
"are all of X's dependencies done?". SQLite serialises the two writers, so the second always sees
the first. PostgreSQL under READ COMMITTED does not: each sees the other's dependency still open
and X is never made ready. A lock on X, or a per-project lock taken first, restores it. A barrier
holds both transactions at the worst moment, so each outcome is certain, not a matter of timing.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import pytest

from tests.pg.cluster import Cluster

psycopg = pytest.importorskip("psycopg")

X, A, B = 1, 2, 3
SCHEMA = """
CREATE TABLE t (id bigint PRIMARY KEY, status text NOT NULL);
CREATE TABLE deps (task_id bigint NOT NULL, dep_id bigint NOT NULL, PRIMARY KEY (task_id, dep_id));
INSERT INTO t VALUES (1, 'waiting'), (2, 'in_progress'), (3, 'in_progress');
INSERT INTO deps VALUES (1, 2), (1, 3);
"""
UNMET = "SELECT count(*) FROM deps d JOIN t ON t.id = d.dep_id WHERE d.task_id = %s AND t.status <> 'done'"


def _finish(dsn: str, dep: int, barrier: threading.Barrier, lock: str) -> None:
    """One service's `task_done`: close the dependency, then settle the dependent."""
    with psycopg.connect(dsn) as conn:  # not autocommit: the first statement opens the transaction
        if lock == "project":
            barrier.wait(timeout=10)
            conn.execute("SELECT pg_advisory_xact_lock(7001, 1)")
        conn.execute("UPDATE t SET status = 'done' WHERE id = %s", (dep,))
        if lock != "project":
            barrier.wait(timeout=10)
        if lock == "row":
            conn.execute("SELECT id FROM t WHERE id = %s FOR UPDATE", (X,))
        unmet = conn.execute(UNMET, (X,)).fetchone()[0]
        if lock == "none":
            # Both have counted before either commits: otherwise one side may count and commit
            # before the other counts, and the outcome depends on the scheduler.
            barrier.wait(timeout=10)
        if unmet == 0:
            conn.execute("UPDATE t SET status = 'ready' WHERE id = %s AND status = 'waiting'", (X,))
        conn.commit()


def _race(pg_cluster: Cluster, lock: str) -> str:
    dsn = pg_cluster.create_database(f"race_{uuid.uuid4().hex[:12]}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(dep: int) -> Callable[[], None]:
        def body() -> None:
            try:
                _finish(dsn, dep, barrier, lock)
            except (psycopg.Error, threading.BrokenBarrierError) as exc:  # reported in the test thread
                errors.append(exc)
                barrier.abort()

        return body

    threads = [threading.Thread(target=run(dep)) for dep in (A, B)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    assert not errors, errors
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT status FROM t WHERE id = %s", (X,)).fetchone()[0]


def test_without_a_lock_two_last_dependencies_finishing_together_leave_the_dependent_waiting(
    pg_cluster: Cluster,
) -> None:
    assert _race(pg_cluster, lock="none") == "waiting"


def test_a_row_lock_on_the_dependent_before_the_check_makes_it_ready(pg_cluster: Cluster) -> None:
    assert _race(pg_cluster, lock="row") == "ready"


def test_a_per_project_advisory_lock_taken_first_makes_it_ready(pg_cluster: Cluster) -> None:
    assert _race(pg_cluster, lock="project") == "ready"
