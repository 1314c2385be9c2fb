"""Prefix ranges on text mean the same on a database whose default collation is not byte order.

SQLite compares text by bytes, and three reads rely on it: the inbox's `recipient >= 'task:' AND
recipient < 'task;'`, memory_list's key range and artifact_by_prefix's hash range. Managed
databases are usually created with a language collation (ICU or glibc en_US), under which ':'
sorts after ';' and 'B' between 'a' and 'b'. Those columns are COLLATE "C" in schema.sql; these
tests build the schema on an ICU database, where the ranges would otherwise go wrong.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.pg.cluster import Cluster

psycopg = pytest.importorskip("psycopg")
from taskloom.store.postgres import migrate, named  # needs psycopg: skipped above without it

NOW = 1000.0


@pytest.fixture
def icu(pg_cluster: Cluster) -> Iterator[psycopg.Connection]:
    name = f"icu_{uuid.uuid4().hex[:12]}"
    pg_cluster.psql(f"CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'und' LOCALE 'C'")
    with psycopg.connect(pg_cluster.dsn(name), autocommit=True) as conn:
        assert conn.execute("SELECT 'task:' < 'task;'").fetchone()[0] is False, "the premise: not byte order"
        migrate.apply(conn)
        conn.execute("INSERT INTO projects (name, created_at) VALUES ('p', 0)")
        yield conn


def test_the_task_thread_range_holds_only_task_recipients(icu: psycopg.Connection) -> None:
    for recipient in ("task:T-1", "agent:ann", "all", "role:dev", "taskZ", "task;x"):
        icu.execute("INSERT INTO messages (project_id, sender, recipient, subject, body, created_at) "
                    "VALUES (1, 'x', %s, 's', 'b', 0)", (recipient,))
    rows = icu.execute("SELECT recipient FROM messages WHERE project_id = 1 "
                       "AND recipient >= 'task:' AND recipient < 'task;' ORDER BY id").fetchall()
    assert rows == [("task:T-1",)]


def test_a_memory_prefix_page_holds_only_keys_with_the_prefix(icu: psycopg.Connection) -> None:
    queries = named.load()
    for key in ("ab", "A1", "áx", "a/1", "b"):
        icu.execute(queries["memory_set"], {"project": 1, "scope": "project", "key": key, "value": "v",
                                            "expires_at": None, "now": NOW, "agent": None})
    rows = icu.execute(queries["memory_list"], {"project": 1, "scope": "project", "prefix": "a", "upper": "b",
                                                "now": NOW, "limit": 10, "offset": 0}).fetchall()
    assert [r[3] for r in rows] == ["a/1", "ab"]


def test_a_hash_prefix_range_holds_only_hashes_with_the_prefix(icu: psycopg.Connection) -> None:
    for sha in ("ab01", "AB02", "ac03", "ab-x"):
        icu.execute("INSERT INTO artifacts (project_id, sha256, name, media_type, size, uploaded_at) "
                    "VALUES (1, %s, 'n', 't', 1, 0)", (sha,))
    rows = icu.execute("SELECT sha256 FROM artifacts WHERE project_id = 1 AND sha256 >= 'ab' "
                       "AND sha256 < 'ab' || 'g' ORDER BY sha256").fetchall()
    assert rows == [("ab-x",), ("ab01",)]
