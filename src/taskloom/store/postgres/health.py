"""`taskloom check` on PostgreSQL: can we reach it, and is its schema ours and current.

The server guarantees what `PRAGMA integrity_check` and `foreign_key_check` look for on a SQLite
file (pages are checksummed when the cluster has checksums on; foreign keys are always enforced),
so those rows report the server's guarantee rather than a scan.
"""

from __future__ import annotations

import psycopg

from taskloom.store.backends import shown
from taskloom.store.base import CheckReport
from taskloom.store.postgres import errors, migrate


def examine(url: str) -> CheckReport:
    report = CheckReport(file=shown(url), expected_schema_version=migrate.latest_version())
    try:
        conn = psycopg.connect(url, connect_timeout=5, autocommit=True)
    except psycopg.Error as exc:
        report.problems.append(f"cannot connect: {errors.unreachable(url, exc).message}")
        return report
    with conn:
        report.journal_mode = "postgresql " + str(conn.execute("SHOW server_version").fetchone()[0])
        report.size_bytes = int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])
        has_table = conn.execute("SELECT to_regclass('taskloom_schema') IS NOT NULL").fetchone()[0]
        if has_table:
            report.schema_version = conn.execute("SELECT max(version) FROM taskloom_schema").fetchone()[0]
        else:
            report.problems.append(
                "no taskloom schema in this database (a taskloom command that opens it creates one)"
            )
        report.integrity = ["ok"]
        report.foreign_keys = []
    return report
