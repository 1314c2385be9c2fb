"""Search: what it finds (tasks, notes, context, summaries, messages, artifacts and their text),
in which order, with which snippet; what each filter keeps; whose messages it shows; and that any
text at all is a query that answers, never an error. Runs on both backends."""

from __future__ import annotations

import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskloom.errors import InvalidInput, NotFound
from taskloom.services import search
from tests.conftest import call, table_rows

KEY = "ghp_" + "0123456789abcdefghijklmnopqrstuvwxyz"


async def find(app, query: str, agent: str | None = "boss", **kw):
    return await app.read(search.search, query, agent=agent, **kw)


def refs(results) -> list[tuple[str, object]]:
    return [(h.kind, h.id) for h in results.hits]


async def create(client, *tasks: dict, agent: str = "carol") -> None:
    await call(client, "task_create", tasks=list(tasks), agent=agent)


async def test_tasks_are_found_by_title_and_body_titles_first_with_the_hits_marked(team, app):
    await create(team, {"code": "A", "title": "Lease renewal", "description": "The index bug shows at night."},
                 {"code": "B", "title": "Fix the index bug", "description": "Rebuild it."},
                 {"code": "C", "title": "Unrelated", "description": "Nothing to see."})

    got = await find(app, "index bug")

    assert refs(got) == [("task", "B"), ("task", "A")]
    assert got.hits[0].score > got.hits[1].score
    assert "**index**" in got.hits[1].snippet.lower() and got.hits[0].title == "Fix the index bug"
    assert got.hits[0].task == "B" and got.hits[0].status == "ready" and got.hits[0].agent == "carol"


async def test_context_notes_and_summaries_are_found_and_an_edit_is_searchable_at_once(team, app):
    client = team
    await create(client, {"code": "A", "title": "Parser"})
    await call(client, "task_claim", task="A", agent="alice")
    await call(client, "task_context", task="A", text="Tokens split on hyphens.", agent="alice")
    await call(client, "task_note", task="A", body="Tried the lexer; flaky on Windows.", agent="alice")
    await call(client, "task_done", task="A", summary="Rewrote the tokenizer in Rust.", agent="alice")

    assert refs(await find(app, "hyphens")) == [("task", "A")]
    assert refs(await find(app, "tokenizer")) == [("task", "A")]  # the summary
    [note] = (await find(app, "flaky")).hits
    assert (note.kind, note.task, note.agent, note.status) == ("note", "A", "alice", "done")
    assert isinstance(note.id, int) and note.title == "note note on A"

    await call(client, "task_update", task="A", title="Lexer", agent="carol")
    assert refs(await find(app, "parser")) == []
    assert refs(await find(app, "lexer", kind="task")) == [("task", "A")]


async def test_a_message_is_found_only_by_those_who_may_read_it(team, app):
    client = team
    await create(client, {"code": "A", "title": "a"})

    async def send(sender: str, to: str, body: str) -> int:
        return (await call(client, "message_send", to=to, body=body, agent=sender))["id"]

    direct = await send("alice", "dave", "the zebra key is rotated")
    role = await send("boss", "role:dev", "zebra crossing for devs")
    thread = await send("carol", "task:A", "zebra in the thread")

    async def seen_by(agent: str) -> set[object]:
        return {h.id for h in (await find(app, "zebra", agent=agent)).hits}

    assert await seen_by("dave") == {direct, role}
    assert await seen_by("alice") == {direct, role}  # her own message, and her role's
    # carol: neither sender nor recipient of the direct message, not a dev; she wrote in A's thread.
    assert await seen_by("carol") == {thread}
    assert await seen_by("boss") == {role}
    # A person at the CLI sees what a task's page on the dashboard shows: its thread, not the mail.
    person = await app.read(search.search, "zebra", person=True, agent="")
    assert {h.id for h in person.hits} == {thread}
    anonymous = await find(app, "zebra", agent="")
    assert anonymous.hits == [] and "no agent name" in anonymous.message


async def test_filters_keep_kind_stream_status_and_author(team, app):
    client = team
    await call(client, "plan_import", streams=[{"code": "api"}, {"code": "web"}], agent="boss")
    await create(client, {"code": "A", "title": "cache api", "stream": "api"},
                 {"code": "W", "title": "cache web", "stream": "web"}, agent="boss")
    await call(client, "task_claim", task="A", agent="alice")
    await call(client, "task_note", task="A", body="cache warmed", agent="alice")
    await call(client, "artifacts_upload", name="cache.md", content="# cache plan", links=["task:A"], agent="alice")

    assert {h.id for h in (await find(app, "cache", stream="web")).hits} == {"W"}
    assert {h.kind for h in (await find(app, "cache", stream="api")).hits} == {"task", "note", "artifact"}
    assert {h.kind for h in (await find(app, "cache", status="in_progress")).hits} == {"task", "note", "artifact"}
    assert {h.kind for h in (await find(app, "cache", author="alice")).hits} == {"note", "artifact"}
    assert refs(await find(app, "cache", kind="artifact"))[0][0] == "artifact"
    assert len((await find(app, "cache", limit=1)).hits) == 1


async def test_the_text_of_a_text_artifact_is_found_and_binary_bytes_are_not(team, app, settings):
    client = team
    up = await call(client, "artifacts_upload", name="design.md", description="the plan",
                    content=f"## Storage\nWe shard by tenant.\ntoken {KEY}", agent="alice")
    await call(client, "artifacts_upload", name="blob.bin", content_base64=base64.b64encode(b"\x00tenant\xff").decode(),
               agent="alice")

    [hit] = (await find(app, "tenant")).hits
    assert (hit.kind, hit.id, hit.title, hit.agent) == ("artifact", up["artifact"]["sha256"], "design.md", "alice")
    assert "**tenant**" in hit.snippet
    # What search keeps of it is masked like any stored text (the bytes themselves stay as given).
    [(body,)] = table_rows(settings, "SELECT body FROM artifact_texts")
    assert KEY not in body and "tenant" in body


async def test_exact_phrases_exclusions_and_or_are_understood(team, app):
    await create(team, {"code": "A", "title": "lease expiry race"}, {"code": "B", "title": "race of the lease"},
                 {"code": "C", "title": "lease flaky"})

    assert {h.id for h in (await find(app, '"lease expiry"')).hits} == {"A"}
    assert {h.id for h in (await find(app, "lease -race")).hits} == {"C"}
    assert {h.id for h in (await find(app, "expiry OR flaky")).hits} == {"A", "C"}
    assert (await find(app, "-lease")).hits == []


@pytest.mark.parametrize(
    ("args", "error"),
    [({"kind": "bug"}, InvalidInput), ({"status": "open"}, InvalidInput), ({"limit": 0}, InvalidInput),
     ({"limit": 101}, InvalidInput), ({"stream": "nope"}, NotFound)],
)
async def test_bad_filters_are_refused_with_what_to_use(app, args, error):
    with pytest.raises(error) as got:
        await find(app, "anything", **args)
    assert got.value.hint


ANY_TEXT = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(['"', "-", ".", "*", "^", "NEAR(", "title:", ")", "(", "OR", "AND", "NOT", "\x00",
                              "🙂", "index", "bug", ":", "'", "\\", "{", "+", "~"]), max_size=12).map(" ".join),
    st.just("x" * 10_000),
)


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(texts=st.lists(ANY_TEXT, min_size=5, max_size=5))
async def test_any_text_is_a_query_that_answers_never_an_error(app, texts):
    # The index holds a document for the queries to run against; writes happen once per example.
    if not (await find(app, "index", agent="tester")).hits:
        from taskloom.models import TaskSpec
        from taskloom.services import creation

        await app.write(creation.create_tasks, [TaskSpec(title="index bug", description="index-bug. \"quoted\"")])
    for text in texts:
        got = await find(app, text, agent="tester")
        assert isinstance(got.hits, list)


async def test_a_query_matching_more_than_the_rank_window_answers_newest_first_and_says_so(team, app, monkeypatch):
    monkeypatch.setattr(search, "RANK_WINDOW", 3)
    await create(team, *({"code": f"A{i}", "title": "common word" + " word" * (3 - i)} for i in range(4)),
                 {"code": "B", "title": "rare word"})

    got = await find(app, "word", limit=3)
    assert [h.id for h in got.hits] == ["B", "A3", "A2"] and "Too many documents match" in got.message
    assert {h.score for h in got.hits} == {0.0}
    assert [h.id for h in (await find(app, "common", kind="task", limit=2)).hits] == ["A3", "A2"]
    assert "Too many" in (await find(app, '"common word"', limit=1)).message  # a phrase is counted the same way
    ranked = await find(app, "rare")  # under the window: ranked, and nothing to say
    assert [h.id for h in ranked.hits] == ["B"] and ranked.message == "" and ranked.hits[0].score > 0
    assert (await find(app, "rare zzz")).hits == [] and not (await find(app, "rare zzz")).message


async def test_a_word_in_more_documents_than_bm25_may_count_is_unranked_on_fts5_only(team, app, monkeypatch):
    monkeypatch.setattr(search, "TERM_WINDOW", 4)
    await create(team, *({"code": f"A{i}", "title": "common word"} for i in range(4)), {"code": "B", "title": "rare word"})

    got = await find(app, "rare word")  # one match, but "word" is in more documents than the term window
    if app.store.backend == "sqlite":  # bm25 counts every document of "word" before it ranks any
        assert "Too many" in got.message and "a word in over 4" in got.message and got.hits[0].score == 0.0
    else:  # ts_rank_cd reads only the one match: ranked
        assert got.message == "" and got.hits[0].score > 0
    assert [h.id for h in got.hits] == ["B"]


async def test_a_crowded_query_looks_at_its_newest_matches_only_however_few_a_filter_keeps(team, app, monkeypatch):
    monkeypatch.setattr(search, "RANK_WINDOW", 2)
    monkeypatch.setattr(search, "SCAN_WINDOW", 4)
    await create(team, {"code": "OLD", "title": "word by boss"}, agent="boss")
    await create(team, *({"code": f"A{i}", "title": "word"} for i in range(4)))

    assert (await find(app, "word", author="boss")).hits == []  # the 5th newest match: past the scan
    monkeypatch.setattr(search, "SCAN_WINDOW", 5)
    assert [h.id for h in (await find(app, "word", author="boss")).hits] == ["OLD"]


async def test_a_filtered_crowded_query_answers_newest_first_whether_its_matches_are_walked_or_sorted(
        team, app, monkeypatch):
    # On PostgreSQL, fewer matches than the scan window come sorted from the index, more are
    # walked by id: both must give the same newest-first answer.
    monkeypatch.setattr(search, "RANK_WINDOW", 2)
    await create(team, {"code": "OLD", "title": "word by boss"}, agent="boss")
    await create(team, *({"code": f"A{i}", "title": "word"} for i in range(4)))

    for window in (5, 6, 50):
        monkeypatch.setattr(search, "SCAN_WINDOW", window)
        assert [h.id for h in (await find(app, "word", author="carol")).hits] == ["A3", "A2", "A1", "A0"]
        assert [h.id for h in (await find(app, "word", author="carol", limit=2)).hits] == ["A3", "A2"]
        assert [h.id for h in (await find(app, "word", author="boss")).hits] == ["OLD"]


async def test_the_rank_window_counts_to_its_very_edge_on_words_and_phrases(team, app, monkeypatch):
    await create(team, *({"code": f"A{i}", "title": "edge case"} for i in range(3)))

    monkeypatch.setattr(search, "RANK_WINDOW", 3)  # exactly as many matches as the window: too many
    assert "Too many" in (await find(app, "edge")).message
    assert "Too many" in (await find(app, '"edge case"')).message
    monkeypatch.setattr(search, "RANK_WINDOW", 4)  # one fewer: ranked
    assert (await find(app, "edge")).message == "" and len((await find(app, '"edge case"')).hits) == 3
