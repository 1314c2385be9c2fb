"""The Store contract (store/base.py), held by every backend: each test runs once on a SQLite
file and once on a PostgreSQL database (tests/conftest.py BOTH_BACKENDS), through
`backends.open_store`, the one place a backend is chosen.

Services rely on exactly these: a write commits whole or not at all, a read sees one state,
the redaction gate sees every write, errors arrive as taskloom's codes, and `wait_for_change`
reports commits from this process and from another.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from taskloom.config import Settings
from taskloom.errors import Conflict, InvalidInput
from taskloom.store.backends import open_store
from taskloom.store.base import Store


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    s = await open_store(settings)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def second(settings: Settings) -> AsyncIterator[Store]:
    """Another process's store on the same database (another replica, on PostgreSQL)."""
    s = await open_store(settings)
    try:
        yield s
    finally:
        await s.close()


def project(tx, name: str) -> int:
    tx.run("project_insert", {"name": name, "now": 1.0})
    return tx.one("project_get", {"name": name})["id"]


def remember(tx, project_id: int, key: str, value: str) -> None:
    tx.run("memory_set", {"project": project_id, "scope": "project", "key": key, "value": value,
                          "expires_at": None, "now": 1.0, "agent": "a"})


def recall(tx, project_id: int, key: str) -> str | None:
    row = tx.one("memory_get", {"project": project_id, "scope": "project", "key": key, "now": 2.0})
    return None if row is None else row["value"]


async def test_the_store_names_its_backend(store: Store, backend: str) -> None:
    assert store.backend == backend and store.schema_version >= 1


async def test_a_write_that_raises_commits_nothing(store: Store) -> None:
    pid = await store.write(lambda tx: project(tx, "p"))

    def half(tx) -> None:
        remember(tx, pid, "k", "v")
        raise RuntimeError("the use case changed its mind")

    with pytest.raises(RuntimeError):
        await store.write(half)
    assert await store.read(lambda tx: recall(tx, pid, "k")) is None


async def test_a_commit_is_seen_by_another_process_and_rows_read_by_name_and_position(
    store: Store, second: Store
) -> None:
    def setup(tx) -> int:
        pid = project(tx, "p")
        remember(tx, pid, "k", "v")
        return pid

    pid = await store.write(setup)
    assert await second.read(lambda tx: recall(tx, pid, "k")) == "v"
    row = await second.read_now(lambda tx: tx.one("project_get", {"name": "p"}))
    assert row["name"] == "p" and dict(row)["id"] == pid
    assert await second.read(lambda tx: tx.scalar("project_get", {"name": "p"})) == pid


async def test_each_streams_the_rows_all_would_return_by_name_and_position(store: Store) -> None:
    def setup(tx) -> int:
        pid = project(tx, "p")
        for key in ("a", "b", "c"):
            remember(tx, pid, key, key.upper())
        return pid

    pid = await store.write(setup)
    params = {"project": pid, "scope": "project", "prefix": "", "upper": None, "now": 2.0, "limit": 10, "offset": 0}

    def both(tx) -> tuple[list, list, bool]:
        rows = tx.each("memory_list", params)
        streamed = [(r["value"], r[3]) for r in rows]  # column 3 is the key
        return streamed, [(r["value"], r[3]) for r in tx.all("memory_list", params)], not isinstance(rows, list)

    streamed, listed, lazy = await store.read(both)
    assert streamed == listed == [("A", "a"), ("B", "b"), ("C", "c")] and lazy


async def test_many_writes_every_row_of_a_batch_larger_than_any_backend_chunk(store: Store) -> None:
    pid = await store.write(lambda tx: project(tx, "p"))
    rows = ({"project": pid, "scope": "project", "key": f"k{i:04}", "value": str(i), "expires_at": None,
             "now": 1.0, "agent": "a"} for i in range(2500))
    await store.write(lambda tx: tx.many("memory_set", rows))
    params = {"project": pid, "scope": "project", "prefix": "", "upper": None, "now": 2.0, "limit": 5000, "offset": 0}
    keys = await store.read(lambda tx: [r["key"] for r in tx.each("memory_list", params)])
    assert keys == [f"k{i:04}" for i in range(2500)]


async def test_every_write_passes_the_redaction_gate(store: Store) -> None:
    pid = await store.write(lambda tx: project(tx, "p"))
    secret = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    await store.write(lambda tx: remember(tx, pid, "k", f"token {secret}"))
    stored = await store.read(lambda tx: recall(tx, pid, "k"))
    assert secret not in stored and "[REDACTED]" in stored


async def test_write_now_commits_whole_or_not_at_all_through_the_same_gate(store: Store, second: Store) -> None:
    pid = await store.write_now(lambda tx: project(tx, "p"))
    secret = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    await store.write_now(lambda tx: remember(tx, pid, "k", f"token {secret}"))
    stored = await second.read(lambda tx: recall(tx, pid, "k"))
    assert secret not in stored and "[REDACTED]" in stored

    def half(tx) -> None:
        remember(tx, pid, "j", "v")
        raise RuntimeError("the use case changed its mind")

    with pytest.raises(RuntimeError):
        await store.write_now(half)
    with pytest.raises(Conflict):
        await store.write_now(lambda tx: remember(tx, pid + 1000, "k", "v"))
    with pytest.raises(InvalidInput):
        await store.write_now(lambda tx: remember(tx, pid, "j", "half a pair \ud800"))
    assert await second.read(lambda tx: recall(tx, pid, "j")) is None
    # and the store is usable afterwards: no transaction was left open
    await store.write_now(lambda tx: remember(tx, pid, "j", "w"))
    assert await second.read(lambda tx: recall(tx, pid, "j")) == "w"


async def test_a_broken_constraint_is_a_conflict_and_bad_text_invalid_input(store: Store) -> None:
    pid = await store.write(lambda tx: project(tx, "p"))
    with pytest.raises(Conflict):  # memory of a project that does not exist: a foreign key
        await store.write(lambda tx: remember(tx, pid + 1000, "k", "v"))
    with pytest.raises(InvalidInput):
        await store.write(lambda tx: remember(tx, pid, "k", "half a pair \ud800"))
    assert await store.read(lambda tx: recall(tx, pid, "k")) is None


async def test_wait_for_change_reports_this_process_and_another_once_each(store: Store, second: Store) -> None:
    await store.wait_for_change(0)  # whatever opening did is consumed
    assert await store.wait_for_change(0) is False
    pid = await store.write(lambda tx: project(tx, "p"))
    assert await store.wait_for_change(0) is True  # its own commit, at once
    assert await store.wait_for_change(0) is False  # and only once
    await second.write(lambda tx: remember(tx, pid, "k", "v"))
    assert await store.wait_for_change(5) is True  # another process's commit
