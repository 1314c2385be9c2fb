"""activity.latest: the newest events of one project, newest first, for a board's activity tail."""

from __future__ import annotations

import pytest

from taskloom.config import Settings
from taskloom.errors import InvalidInput
from taskloom.services import activity
from taskloom.services.app import Taskloom


async def log(app, *texts: str) -> None:
    for text in texts:
        await app.write(activity.log, text)


async def test_latest_gives_the_newest_events_newest_first_and_no_more_than_asked(app):
    await log(app, *(f"step {i}" for i in range(30)))
    tail = await app.read(activity.latest, 5)
    assert [e.payload["text"] for e in tail] == [f"step {i}" for i in (29, 28, 27, 26, 25)]
    assert [e.id for e in tail] == sorted((e.id for e in tail), reverse=True)
    assert tail[0].id == await app.read(activity.last_event_id)
    assert len(await app.read(activity.latest)) == 20  # the default


async def test_latest_shows_only_its_own_projects_events(app, settings, clock):
    other = await Taskloom.open(Settings(db_path=settings.db_path, project="other", default_agent="x"), clock)
    try:
        await log(app, "mine")
        await log(other, "theirs 1", "theirs 2")
        assert [e.payload["text"] for e in await app.read(activity.latest, 10)] == ["mine"]
        assert [e.payload["text"] for e in await other.read(activity.latest, 10)] == ["theirs 2", "theirs 1"]
    finally:
        await other.close()


async def test_latest_of_a_project_without_events_is_empty(app):
    assert await app.read(activity.latest) == []


@pytest.mark.parametrize("limit", [0, -1, 201])
async def test_latest_refuses_a_limit_outside_a_page(app, limit):
    with pytest.raises(InvalidInput, match="limit must be 1..200"):
        await app.read(activity.latest, limit)
