"""Memory through the MCP tools: scopes, TTL on the injected clock, listing, limits, persistence."""

from __future__ import annotations

from mcp import Client

from taskloom.config import Settings
from taskloom.resolver import Resolver
from taskloom.server import build_server
from taskloom.services.app import Taskloom
from tests.conftest import call, call_error, stored_bytes, table_rows


async def test_a_value_set_is_read_back_with_who_set_it(client):
    entry = await call(client, "memory_set", key="decisions/db", value="SQLite, WAL", agent="alice")
    assert (entry["scope"], entry["updated_by"], entry["expires_at"], entry["version"]) == (
        "agent:alice", "alice", None, 1,
    )
    got = await call(client, "memory_get", key="decisions/db", agent="alice")
    assert got["value"] == "SQLite, WAL"


async def test_setting_again_replaces_the_value_and_bumps_the_version(client):
    await call(client, "memory_set", key="k", value="one")
    entry = await call(client, "memory_set", key="k", value="two")
    assert (entry["value"], entry["version"]) == ("two", 2)


async def test_agent_memory_is_private_and_project_memory_is_shared(client):
    await call(client, "memory_set", key="plan", value="mine", agent="alice")
    await call(client, "memory_set", key="plan", value="ours", scope="project", agent="alice")
    err = await call_error(client, "memory_get", key="plan", agent="bob")
    assert err["code"] == "not_found"
    shared = await call(client, "memory_get", key="plan", scope="project", agent="bob")
    assert shared["value"] == "ours"
    assert (await call(client, "memory_get", key="plan", agent="alice"))["value"] == "mine"


async def test_an_entry_with_a_ttl_is_gone_the_moment_it_expires(client, clock):
    await call(client, "memory_set", key="lock", value="held", ttl_seconds=30)
    clock.advance(29.9)
    assert (await call(client, "memory_get", key="lock"))["value"] == "held"
    clock.advance(0.1)
    assert (await call_error(client, "memory_get", key="lock"))["code"] == "not_found"
    assert (await call(client, "memory_list"))["entries"] == []
    assert (await call(client, "memory_delete", key="lock"))["deleted"] is False


async def test_setting_an_expired_key_starts_it_afresh(client, clock):
    await call(client, "memory_set", key="k", value="old", ttl_seconds=1)
    clock.advance(2)
    entry = await call(client, "memory_set", key="k", value="new")
    assert (entry["value"], entry["version"], entry["expires_at"]) == ("new", 1, None)


async def test_the_resolver_deletes_expired_entries_from_the_database(app, client, clock, settings):
    await call(client, "memory_set", key="short", value="x", ttl_seconds=5)
    await call(client, "memory_set", key="long", value="y")
    clock.advance(10)
    await Resolver(app).run_once(reconcile=True)
    assert table_rows(settings, "SELECT key FROM memory ORDER BY key") == [("long",)]


async def test_listing_filters_by_prefix_in_key_order_and_pages(client):
    for key in ["b/2", "a/1", "b/1", "b/3", "c"]:
        await call(client, "memory_set", key=key, value=key.upper())
    page = await call(client, "memory_list", prefix="b/", limit=2)
    assert [e["key"] for e in page["entries"]] == ["b/1", "b/2"]
    rest = await call(client, "memory_list", prefix="b/", limit=2, offset=page["next_offset"])
    assert [e["key"] for e in rest["entries"]] == ["b/3"] and rest["next_offset"] is None
    assert len((await call(client, "memory_list"))["entries"]) == 5


async def test_delete_forgets_and_is_safe_to_repeat(client):
    await call(client, "memory_set", key="k", value="v")
    assert (await call(client, "memory_delete", key="k"))["deleted"] is True
    assert (await call(client, "memory_delete", key="k"))["deleted"] is False
    assert (await call_error(client, "memory_get", key="k"))["code"] == "not_found"


async def test_bad_memory_input_gets_coded_errors(client):
    assert (await call_error(client, "memory_set", key="", value="v"))["code"] == "invalid_input"
    assert (await call_error(client, "memory_set", key="k" * 201, value="v"))["code"] == "too_large"
    assert (await call_error(client, "memory_set", key="k", value="v", ttl_seconds=0))["code"] == "invalid_input"
    assert (await call_error(client, "memory_set", key="k", value="x" * (64 * 1024 + 1)))["code"] == "too_large"
    assert (await call_error(client, "memory_set", key="k", value="v", scope="team"))["code"] == "invalid_input"
    assert (await call(client, "memory_list"))["entries"] == []


async def test_agent_scope_needs_an_agent_name(db_path, clock):
    app = await Taskloom.open(Settings(db_path=db_path, project="test", default_agent=None), clock)
    try:
        async with Client(build_server(app), mode="legacy") as client:
            err = await call_error(client, "memory_set", key="k", value="v")
            assert err["code"] == "invalid_input" and "agent" in err["message"]
            await call(client, "memory_set", key="k", value="v", scope="project")
    finally:
        await app.close()


async def test_durable_memory_survives_a_restart_of_the_server(db_path, clock, settings):
    for value in ("first life", None):
        app = await Taskloom.open(settings, clock)
        try:
            async with Client(build_server(app), mode="legacy") as client:
                if value:
                    await call(client, "memory_set", key="resume", value=value)
                else:
                    assert (await call(client, "memory_get", key="resume"))["value"] == "first life"
        finally:
            await app.close()


async def test_a_secret_in_a_memory_value_is_masked_before_it_is_stored(client, settings):
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    out = await call(client, "memory_set", key="creds/github", value=f"use token {token} for the API")
    assert out["redacted"] == 1
    assert token not in (await call(client, "memory_get", key="creds/github"))["value"]
    assert token.encode() not in stored_bytes(settings)
