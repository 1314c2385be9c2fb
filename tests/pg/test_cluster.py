"""The throwaway cluster itself: reachable both ways, never root, and nothing left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.pg.cluster import DB_USER, OWNER_FILE, Cluster, _alive, reap_leftovers, start, stop


def _uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


def test_the_cluster_answers_over_tcp_and_over_its_own_unix_socket(pg_cluster: Cluster) -> None:
    assert pg_cluster.psql("SELECT 6 * 7") == "42"  # psql() goes through the socket directory
    over_tcp = pg_cluster.pg("psql", "-X", "-A", "-t", "-d", pg_cluster.dsn(), "-c", "SELECT current_user")
    assert over_tcp.stdout.strip() == DB_USER
    assert pg_cluster.psql("SHOW unix_socket_directories") == str(pg_cluster.socket_dir)


def test_postgres_never_runs_as_root(pg_cluster: Cluster) -> None:
    pid = pg_cluster.postmaster_pid()
    assert pid is not None and _alive(pid)
    assert _uid_of(pid) != 0


def test_each_database_is_fresh_and_separate(pg_cluster: Cluster) -> None:
    dsn = pg_cluster.create_database("fresh_one")
    assert dsn.endswith("/fresh_one")
    pg_cluster.psql("CREATE TABLE t (x int)", dbname="fresh_one")
    assert pg_cluster.psql("SELECT count(*) FROM pg_tables WHERE tablename = 't'") == "0"


def test_stop_ends_the_server_and_removes_its_directory() -> None:
    c = start()
    pid = c.postmaster_pid()
    stop(c)
    assert pid is not None and not _alive(pid)
    assert not c.root.exists()


def test_a_cluster_left_by_a_dead_run_is_stopped_and_removed_and_a_live_ones_is_kept(
    pg_cluster: Cluster,
) -> None:
    leftover = start()
    try:
        # As if its maker had been killed -9: the pid file names a process that has exited.
        gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
        (leftover.root / OWNER_FILE).write_text(gone.stdout.strip())
        pid = leftover.postmaster_pid()
        assert pid is not None and _alive(pid)

        removed = reap_leftovers()

        assert leftover.root in removed and not leftover.root.exists()
        assert not _alive(pid)
        assert pg_cluster.root.exists() and pg_cluster.root not in removed
        assert pg_cluster.psql("SELECT 1") == "1"
        assert (pg_cluster.root / OWNER_FILE).read_text() == str(os.getpid())
    finally:
        stop(leftover)
