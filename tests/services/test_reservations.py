"""File reservations as use cases: all or nothing, conflict detail, TTL on the injected clock,
renewal, release, and release with the task through every way a holder lets go of it."""

from __future__ import annotations

import pytest

from taskloom.errors import InvalidInput, InvalidTransition
from taskloom.models import TaskSpec
from taskloom.resolver import Resolver
from taskloom.services import activity, creation, reservations, work
from tests.conftest import table_rows

LEASE = 60.0  # the app fixture's lease


async def reserve(app, agent: str, paths: list[str], **kw):
    return await app.write(reservations.reserve, paths, agent=agent, **kw)


async def claimed(app, code: str, agent: str) -> None:
    await app.write(creation.create_tasks, [TaskSpec(title=f"work {code}", code=code)])
    assert (await app.write(work.claim, code=code, agent=agent)).claimed


def rows(settings) -> list[tuple]:
    return table_rows(settings, "SELECT agent, glob, exclusive FROM file_reservations ORDER BY id")


async def test_a_free_glob_is_granted_and_held_until_its_ttl(app):
    got = await reserve(app, "alice", ["src/api/**", "./README.md"], ttl_seconds=600)
    assert got.granted and got.conflicts == []
    assert [(h.glob, h.exclusive, h.expires_at) for h in got.holds] == [
        ("src/api/**", True, "2027-01-15T08:10:00.000Z"),  # ManualClock starts at 1.8e9 s
        ("README.md", True, "2027-01-15T08:10:00.000Z"),
    ]
    assert rows(app.settings) == [("alice", "src/api/**", 1), ("alice", "README.md", 1)]


async def test_a_conflict_grants_nothing_and_names_each_holder_its_glob_and_task(app):
    await claimed(app, "T-9", "bob")
    await reserve(app, "bob", ["src/**"], task="T-9", reason="refactor")
    await reserve(app, "carol", ["docs/"], exclusive=False)
    got = await reserve(app, "alice", ["tests/a.py", "src/a.py", "docs/x.md"])
    assert not got.granted and got.holds == []
    assert [
        (c.glob, c.holder, c.held_glob, c.task, c.reason, c.exclusive, c.example) for c in got.conflicts
    ] == [
        ("src/a.py", "bob", "src/**", "T-9", "refactor", True, "src/a.py"),
        ("docs/x.md", "carol", "docs/**", None, None, False, "docs/x.md"),
    ]
    assert "Nothing was reserved: bob holds 'src/**' for T-9" in got.message
    # All or nothing: the free glob (tests/a.py) was not taken either.
    assert [r for r in rows(app.settings) if r[0] == "alice"] == []


async def test_shared_holds_coexist_and_an_exclusive_one_clashes_with_them(app):
    assert (await reserve(app, "bob", ["docs/**"], exclusive=False)).granted
    assert (await reserve(app, "carol", ["docs/guide.md"], exclusive=False)).granted
    got = await reserve(app, "alice", ["docs/guide.md"])
    assert {c.holder for c in got.conflicts} == {"bob", "carol"}
    assert (await reserve(app, "dave", ["docs/x"], exclusive=False)).granted


async def test_your_own_holds_never_block_you_and_reserving_again_renews(app, clock):
    await reserve(app, "alice", ["src/**"], ttl_seconds=100)
    clock.advance(90)
    again = await reserve(app, "alice", ["src/**", "src/a.py"], exclusive=False, ttl_seconds=100)
    assert again.granted and "(1 renewed)" in again.message
    clock.advance(50)  # past the first expiry, within the renewed one
    assert not (await reserve(app, "bob", ["src/b.py"])).granted
    assert rows(app.settings) == [("alice", "src/**", 0), ("alice", "src/a.py", 0)]


async def test_an_expired_hold_conflicts_with_nothing_and_is_purged(app, clock):
    await reserve(app, "bob", ["src/**"], ttl_seconds=60)
    clock.advance(59.9)
    assert not (await reserve(app, "alice", ["src/a.py"])).granted
    clock.advance(0.1)
    assert (await reserve(app, "alice", ["src/a.py"])).granted
    assert rows(app.settings) == [("alice", "src/a.py", 1)]


async def test_release_drops_named_globs_or_all_yours_and_is_safe_to_repeat(app):
    await reserve(app, "alice", ["a/**", "b/**", "c/"])
    await reserve(app, "bob", ["z/**"])
    out = await app.write(reservations.release, ["a/**", "./c/", "nope"], agent="alice")
    assert (out.released, out.not_held) == (["a/**", "c/**"], ["nope"])
    assert (await app.write(reservations.release, ["a/**"], agent="alice")).released == []
    assert (await app.write(reservations.release, None, agent="alice")).released == ["b/**"]
    assert rows(app.settings) == [("bob", "z/**", 1)]


async def test_reserving_for_zero_seconds_releases(app):
    await reserve(app, "alice", ["a/**", "b/**"])
    out = await reserve(app, "alice", ["a/**"], ttl_seconds=0)
    assert out.granted and out.holds == [] and out.message.startswith("Released 1 glob")
    assert rows(app.settings) == [("alice", "b/**", 1)]


@pytest.mark.parametrize("ttl", [1, 59, 86401])
async def test_a_ttl_out_of_range_is_refused(app, ttl):
    with pytest.raises(InvalidInput, match="ttl_seconds"):
        await reserve(app, "alice", ["a"], ttl_seconds=ttl)


async def test_bad_globs_and_empty_lists_are_refused_before_anything_is_held(app):
    with pytest.raises(InvalidInput, match="absolute"):
        await reserve(app, "alice", ["ok.py", "/etc/passwd"])
    with pytest.raises(InvalidInput, match="No paths"):
        await reserve(app, "alice", [])
    assert rows(app.settings) == []


async def test_a_hold_can_only_be_tied_to_a_task_you_hold(app):
    await claimed(app, "T-1", "bob")
    with pytest.raises(InvalidTransition, match="You do not hold T-1"):
        await reserve(app, "alice", ["a"], task="T-1")


# ---------------------------------------------------------------- released with the task


async def _tied(app, code: str = "T-1", agent: str = "alice") -> None:
    await claimed(app, code, agent)
    assert (await reserve(app, agent, ["src/**"], task=code)).granted
    assert (await reserve(app, agent, ["notes.md"])).granted  # untied: outlives the task


async def _bob_can_take_src(app) -> bool:
    return (await reserve(app, "bob", ["src/a.py"])).granted


@pytest.mark.parametrize(
    "let_go",
    [
        lambda app: app.write(work.done, "T-1", "did it", agent="alice"),
        lambda app: app.write(work.fail, "T-1", "broke", True, agent="alice"),
        lambda app: app.write(work.fail, "T-1", "broke", False, agent="alice"),
        lambda app: app.write(work.release, "T-1", None, agent="alice"),
        lambda app: app.write(work.move, "T-1", "cancelled", "dropped", agent="boss"),
        lambda app: app.write(work.move, "T-1", "ready", "reassign", agent="boss"),
        lambda app: app.write(work.move, "T-1", "done", "merged by hand", agent="boss"),
    ],
    ids=["done", "fail-retry", "fail-for-good", "release", "cancelled", "set-ready", "set-done"],
)
async def test_a_tasks_holds_go_when_its_holder_lets_go_of_it(app, let_go):
    await _tied(app)
    assert not await _bob_can_take_src(app)
    await let_go(app)
    assert [r[1] for r in rows(app.settings) if r[0] == "alice"] == ["notes.md"]
    assert await _bob_can_take_src(app)
    feed = await app.read(activity.feed, kind="files.released")
    assert [(e.subject, e.payload["globs"], e.payload["holder"]) for e in feed.events] == [
        ("T-1", ["src/**"], "alice")
    ]


async def test_a_blocked_task_keeps_its_holds(app):
    await _tied(app)
    await app.write(work.block, "T-1", "need the schema", agent="alice")
    assert not await _bob_can_take_src(app)
    await app.write(work.unblock, "T-1", "here it is", agent="boss")
    assert not await _bob_can_take_src(app)


async def test_an_expired_lease_releases_its_tasks_holds(app, clock):
    await _tied(app)
    clock.advance(LEASE + 1)
    assert (await Resolver(app).run_once())["expired"] == ["T-1"]
    assert await _bob_can_take_src(app)


async def test_a_heartbeat_renews_the_tasks_holds_for_their_own_ttl(app, clock):
    await claimed(app, "T-1", "alice")
    await reserve(app, "alice", ["src/**"], task="T-1", ttl_seconds=100)
    for _ in range(3):  # 150 s in all: past the first TTL, never past a renewed one
        clock.advance(50)
        await app.write(work.heartbeat, "T-1", agent="alice")
    assert not await _bob_can_take_src(app)
    clock.advance(101)
    assert await _bob_can_take_src(app)


async def test_reserving_and_releasing_are_in_the_activity_feed(app):
    await claimed(app, "T-1", "alice")
    await reserve(app, "alice", ["src/**"], task="T-1")
    await reserve(app, "alice", ["b"])
    await app.write(reservations.release, None, agent="alice")
    feed = await app.read(activity.feed, kind="files")
    assert [(e.kind, e.subject, e.payload["globs"]) for e in feed.events] == [
        ("files.reserved", "T-1", ["src/**"]),
        ("files.reserved", "agent:alice", ["b"]),
        ("files.released", "agent:alice", ["src/**", "b"]),
    ]
