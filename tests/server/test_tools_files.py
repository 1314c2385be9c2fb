"""File reservations through the MCP tools: results and errors as agents read them, the worker
profile's one tool, release with the task, and two server processes racing for one glob."""

from __future__ import annotations

import sqlite3

import anyio
from mcp import Client

from taskloom.server import build_server
from tests.conftest import call, call_error
from tests.server.test_transports import stdio_params

ROUNDS = 8  # races between two processes; each must end with exactly one holder


async def test_a_conflict_is_a_result_naming_the_holder_its_glob_and_task_and_nothing_is_held(client):
    await call(client, "task_create", tasks=[{"title": "api", "code": "API"}])
    await call(client, "task_claim", task="API", agent="bob")
    await call(client, "files_reserve", paths=["src/api/"], task="API", agent="bob")
    got = await call(client, "files_reserve", paths=["README.md", "src/*.py"], agent="alice")
    assert got["granted"] is False and got["holds"] == []
    [conflict] = got["conflicts"]
    assert {k: conflict[k] for k in ("glob", "holder", "held_glob", "task", "exclusive")} == {
        "glob": "src/*.py",
        "holder": "bob",
        "held_glob": "src/api/**",
        "task": "API",
        "exclusive": True,
    }
    assert conflict["example"].startswith("src/api/") and conflict["example"].endswith(".py")
    assert got["message"].startswith("Nothing was reserved: bob holds 'src/api/**' for API")
    # README.md was free, and still is: all or nothing.
    assert (await call(client, "files_reserve", paths=["README.md"], agent="carol"))["granted"] is True


async def test_finishing_the_task_over_the_tools_frees_its_files(client):
    await call(client, "task_create", tasks=[{"title": "api", "code": "API"}])
    await call(client, "task_claim", task="API", agent="bob")
    await call(client, "files_reserve", paths=["src/**"], task="API", agent="bob")
    assert (await call(client, "files_reserve", paths=["src/a.py"], agent="alice"))["granted"] is False
    await call(client, "task_done", task="API", summary="shipped", agent="bob")
    assert (await call(client, "files_reserve", paths=["src/a.py"], agent="alice"))["granted"] is True


async def test_files_release_drops_what_was_named_or_everything_and_says_what_was_not_held(client):
    await call(client, "files_reserve", paths=["a/**", "b", "c"], agent="alice")
    out = await call(client, "files_release", paths=["a/", "zzz"], agent="alice")
    assert (out["released"], out["not_held"]) == (["a/**"], ["zzz"])
    out = await call(client, "files_release", agent="alice")
    assert (out["released"], out["not_held"]) == (["b", "c"], [])


async def test_bad_globs_and_ttls_are_errors_with_a_code_and_a_next_step(client):
    err = await call_error(client, "files_reserve", paths=["../outside"], agent="alice")
    assert err["code"] == "invalid_input" and "'..'" in err["message"]
    err = await call_error(client, "files_reserve", paths=["a"], ttl_seconds=5, agent="alice")
    assert err["code"] == "invalid_input" and "0 releases" in err["message"]
    err = await call_error(client, "files_reserve", paths=[], agent="alice")
    assert err["code"] == "invalid_input"


async def test_a_worker_reserves_and_releases_with_files_reserve_alone(app):
    async with Client(build_server(app, "worker"), mode="legacy") as worker:
        assert (await call(worker, "files_reserve", paths=["src/**"], agent="w1"))["granted"] is True
        assert (await call(worker, "files_reserve", paths=["src/x"], agent="w2"))["granted"] is False
        out = await call(worker, "files_reserve", paths=["src/**"], ttl_seconds=0, agent="w1")
        assert out["granted"] is True and out["message"].startswith("Released 1 glob")
        assert (await call(worker, "files_reserve", paths=["src/x"], agent="w2"))["granted"] is True
        assert (await call_error(worker, "files_release", agent="w1"))["code"] == "not_found"


async def test_two_server_processes_racing_for_one_exclusive_glob_get_exactly_one_grant(tmp_path):
    db = tmp_path / "shared.db"
    one = stdio_params(tmp_path, db, "w1", "--profile", "worker")
    two = stdio_params(tmp_path, db, "w2", "--profile", "worker")
    granted: dict[int, list[str]] = {n: [] for n in range(ROUNDS)}
    async with Client(one) as c1, Client(two) as c2:

        async def race(client: Client, agent: str, path: str, n: int) -> None:
            result = await client.call_tool("files_reserve", {"paths": [path]})
            assert not result.is_error, result.content[0].text
            if result.structured_content["granted"]:
                granted[n].append(agent)

        for n in range(ROUNDS):
            # Both calls in flight at once; overlapping globs, not equal ones, so the conflict is
            # the glob rule's and not the table's unique key.
            async with anyio.create_task_group() as tg:
                tg.start_soon(race, c1, "w1", f"r{n}/**", n)
                tg.start_soon(race, c2, "w2", f"r{n}/x.py", n)
    assert all(len(winners) == 1 for winners in granted.values()), granted
    with sqlite3.connect(db) as conn:
        held = conn.execute("SELECT glob, agent FROM file_reservations ORDER BY id").fetchall()
    assert len(held) == ROUNDS
    assert {glob.split("/")[0]: agent for glob, agent in held} == {
        f"r{n}": granted[n][0] for n in range(ROUNDS)
    }
