"""PostgreSQL search picks how to read a filtered crowded query's matches from the planner's
statistics of search_index.doc, once they exist: sorted from the GIN index when few match, walked
newest first otherwise. Either way the answer is the same newest-first page."""

from __future__ import annotations

import pytest

psycopg = pytest.importorskip("psycopg")

from taskloom.config import Settings
from taskloom.services import search
from tests.conftest import call


@pytest.fixture
def settings(db_path, pg_own_url: str) -> Settings:
    # A database of its own: ANALYZE leaves statistics behind that TRUNCATE does not clear.
    return Settings(db_path=db_path, db_url=pg_own_url, project="test", lease_seconds=60.0, default_agent="tester")


def _analyze(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE search_index")
        row = conn.execute("SELECT most_common_elems::text::text[] FROM pg_stats"
                           " WHERE tablename = 'search_index' AND attname = 'doc'").fetchone()
    return row[0] if row and row[0] else []


async def test_a_filtered_crowded_word_answers_the_same_whichever_way_the_statistics_send_it(
        client, app, settings, monkeypatch):
    monkeypatch.setattr(search, "RANK_WINDOW", 2)
    await call(client, "task_create", tasks=[{"code": "OLD", "title": "word by boss"}], agent="boss")
    await call(client, "task_create", tasks=[{"code": f"A{i}", "title": "word"} for i in range(4)], agent="carol")
    await call(client, "task_create", tasks=[{"code": f"B{i}", "title": "other"} for i in range(20)], agent="carol")
    await call(client, "task_claim", task="A1", agent="alice")
    assert "word" in _analyze(settings.db_url)  # the estimate, not a count, decides below

    for window in (2, 5, 6, 50):  # under, at and over the 5 matches "word" is estimated at
        monkeypatch.setattr(search, "SCAN_WINDOW", window)
        newest = ["A3", "A2", "A1", "A0", "OLD"][:window]
        by = {"carol": [c for c in newest if c != "OLD"], "boss": [c for c in newest if c == "OLD"]}
        for agent, codes in by.items():
            got = await app.read(search.search, "word", agent="boss", author=agent)
            assert [h.id for h in got.hits] == codes, (window, agent)
        got = await app.read(search.search, "word", agent="boss", status="in_progress")
        assert [h.id for h in got.hits] == [c for c in newest if c == "A1"], window
        got = await app.read(search.search, "word", agent="boss", status="ready", limit=2)
        assert [h.id for h in got.hits] == [c for c in newest if c not in ("A1",)][:2], window
